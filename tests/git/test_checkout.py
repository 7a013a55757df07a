"""Task checkouts and the collection of an agent's work out of them, against real repositories:
the agent's side played by the git CLI inside the checkout."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pygit2
import pytest
from gitfixtures import crafted_tree, git, write_commit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtor_git import git as gitops
from mtor_git.errors import ChangeTooLarge, GitOpError
from mtor_git.git.checkout import LeaveOut
from mtor_git.git.collect import has_conflict_markers, read_head
from mtor_git.git.read import folders_of


def agent_git(checkout: Path, *args: str, check: bool = True) -> str:
    """The agent's own git in its checkout (the fixtures' environment gives it an identity)."""
    return git(*args, cwd=checkout, check=check)


@pytest.fixture
def clone(bare_remote: Path, user_repo: Path, tmp_path: Path) -> pygit2.Repository:
    write_commit(user_repo, {".gitignore": b"*.log\n", "old.txt": b"old\n",
                             "tasks/t1.md": b"---\ntitle: t\n---\nDo it.\n"})
    return gitops.open_or_clone(str(bare_remote), tmp_path / "ws" / "repo.git", bare=True)


def make(clone: pygit2.Repository, tmp_path: Path,
         excludes: tuple[str, ...] = ()) -> gitops.Checkout:
    base = gitops.resolve(clone, "main")
    assert base is not None
    return gitops.create_checkout(clone, tmp_path / "wt" / "t1.r1", "mtor/t1", base,
                                  excludes=excludes)


def take(clone: pygit2.Repository, checkout: gitops.Checkout,
         limits: gitops.Limits | None = None) -> gitops.Collected:
    return gitops.collect(clone, checkout, results_dir="results", message="agent changes",
                          author_name="w", author_email="w@h", limits=limits or gitops.Limits())


def files(clone: pygit2.Repository, rev: str) -> dict[str, bytes | None]:
    return {p: gitops.read_blob(clone, rev, p) for p in gitops.list_tree(clone, rev, "")}


# -- the checkout ---------------------------------------------------------------------------------
def test_a_checkout_has_its_files_its_branch_and_no_remote(clone: pygit2.Repository,
                                                           tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    assert (co.path / "old.txt").read_text() == "old\n"
    assert git("symbolic-ref", "HEAD", cwd=co.path) == "refs/heads/mtor/t1"
    assert git("rev-parse", "HEAD", cwd=co.path) == co.base
    assert git("remote", cwd=co.path) == ""
    assert git("status", "--porcelain", cwd=co.path) == ""
    assert git("log", "--format=%H", cwd=co.path).splitlines()[-1]  # history readable
    assert clone.list_worktrees() == []


def test_the_agents_config_and_pushes_touch_nothing_of_the_clone(clone: pygit2.Repository,
                                                                  tmp_path: Path) -> None:
    before = (Path(clone.path) / "config").read_text()
    refs_before = sorted(clone.references)
    co = make(clone, tmp_path)
    agent_git(co.path, "config", "remote.origin.url", "git://127.0.0.1:9/nowhere.git")
    agent_git(co.path, "push", "origin", "HEAD:main", check=False)
    assert (Path(clone.path) / "config").read_text() == before
    assert sorted(clone.references) == refs_before


def test_excludes_go_to_the_checkouts_info_exclude(clone: pygit2.Repository,
                                                   tmp_path: Path) -> None:
    co = make(clone, tmp_path, excludes=(".aider*",))
    (co.path / ".aider.chat.history.md").write_text("tool dropping\n")
    (co.path / "kept.txt").write_text("kept\n")
    got = take(clone, co)
    assert set(files(clone, got.head)) - set(files(clone, co.base)) == {"kept.txt"}


def test_a_leftover_checkout_is_replaced_even_with_unreadable_folders(
        clone: pygit2.Repository, tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    (co.path / "locked").mkdir()
    (co.path / "locked" / "f").write_text("x")
    (co.path / "locked").chmod(0)
    again = make(clone, tmp_path)
    assert not (again.path / "locked").exists()
    gitops.drop_checkout(clone, again.path)
    assert not again.path.exists()


def test_a_symlink_in_place_of_the_checkout_is_removed_not_followed(
        clone: pygit2.Repository, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("not the worker's to delete\n")
    (tmp_path / "wt").mkdir()
    (tmp_path / "wt" / "t1.r1").symlink_to(elsewhere)
    co = make(clone, tmp_path)
    assert not co.path.is_symlink() and (co.path / "old.txt").exists()
    assert (elsewhere / "keep.txt").exists()


# -- collecting the agent's work ------------------------------------------------------------------
def test_nothing_changed_gives_the_base(clone: pygit2.Repository, tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    got = take(clone, co)
    assert (got.head, got.agent_head, got.changes_commit) == (co.base, co.base, None)
    assert (got.notes, got.unfinished) == ((), None)


def test_uncommitted_adds_edits_and_deletions_are_collected(clone: pygit2.Repository,
                                                            tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    (co.path / "old.txt").unlink()
    (co.path / "src").mkdir()
    (co.path / "src" / "new.py").write_text("print()\n")
    (co.path / "run.sh").write_text("#!/bin/sh\n")
    (co.path / "run.sh").chmod(0o755)
    (co.path / "debug.log").write_text("ignored\n")
    got = take(clone, co)
    assert got.changes_commit == got.head
    assert gitops.first_parent(clone, got.head) == co.base
    expected = {**files(clone, co.base), "src/new.py": b"print()\n", "run.sh": b"#!/bin/sh\n"}
    del expected["old.txt"]
    assert files(clone, got.head) == expected
    assert gitops.file_mode(clone, got.head, "run.sh") == 0o100755
    assert clone[got.head].peel(pygit2.Commit).author.name == "w"


def test_files_left_out_of_the_work_tree_are_kept_unless_the_agent_writes_them(
        bare_remote: Path, user_repo: Path, tmp_path: Path) -> None:
    """Uncommitted work over a sparse checkout: a left-out file the agent writes (even one its
    .gitignore names, even in a left-out folder it makes again) is its change; the same bytes
    again are no change; every other left-out file stays, unwritten and not deleted."""
    write_commit(user_repo, {"tasks/t1.md": b"mine\n", "tasks/t2.md": b"two\n",
                             "tasks/t3.md": b"three\n", "tasks/ignored.md": b"i\n",
                             "tasks/deep/x.md": b"x\n", "tasks/deep/y.md": b"y\n",
                             "results/r.json": b"{}\n", "results/README": b"r\n"})
    write_commit(user_repo, {".gitignore": b"tasks/ignored.md\ntasks/deep/\n"})
    clone = gitops.open_or_clone(str(bare_remote), tmp_path / "ws" / "repo.git", bare=True)
    base = gitops.resolve(clone, "main")
    assert base is not None
    co = gitops.create_checkout(clone, tmp_path / "wt" / "t1.r1", "mtor/t1", base,
                                only=("tasks", "tasks/t1.md"),
                                leave_out=[LeaveOut("results", (".json", ".md"))])
    assert sorted(p.name for p in (co.path / "tasks").iterdir()) == ["t1.md"]
    (co.path / "tasks" / "t2.md").write_text("two, by the agent\n")
    (co.path / "tasks" / "t3.md").write_text("three\n")
    (co.path / "tasks" / "ignored.md").write_text("i, by the agent\n")
    (co.path / "tasks" / "deep").mkdir()
    (co.path / "tasks" / "deep" / "x.md").write_text("x, by the agent\n")
    (co.path / "tasks" / "deep" / "new.md").write_text("ignored: new\n")
    (co.path / "tasks" / "t1.md").unlink()
    got = take(clone, co)
    expected = {**files(clone, base), "tasks/t2.md": b"two, by the agent\n",
                "tasks/ignored.md": b"i, by the agent\n", "tasks/deep/x.md": b"x, by the agent\n"}
    del expected["tasks/t1.md"]
    assert files(clone, got.head) == expected
    assert got.notes == ()


@pytest.mark.parametrize("commits", [False, True])
def test_a_base_tree_out_of_gits_order_loses_no_file(clone: pygit2.Repository, tmp_path: Path,
                                                     commits: bool) -> None:
    """A base whose root tree lists its entries out of git's order (an earlier agent's crafted
    commit, continued by a follow-up): every file of it is found, the tracked file .gitignore
    names too; an agent adding a file, with or without a commit, deletes none of them."""
    ids = {name: str(clone.create_blob(data)) for name, data in
           (("ignore", b"a.txt\n"), ("a", b"A\n"), ("z", b"Z\n"), ("f", b"f\n"))}
    src = git("mktree", cwd=Path(clone.path), input=f"100644 blob {ids['f']}\tf.py\n".encode())
    tree = crafted_tree(Path(clone.path), [(0o100644, ".gitignore", ids["ignore"]),
                                           (0o40000, "src", src), (0o100644, "z.txt", ids["z"]),
                                           (0o100644, "a.txt", ids["a"])])
    base = git("commit-tree", "-m", "crafted", tree, cwd=Path(clone.path))
    co = gitops.create_checkout(clone, tmp_path / "wt" / "t1.r1", "mtor/t1", base)
    assert co.entries["a.txt"] == (0o100644, ids["a"]) and "src/f.py" in co.entries
    (co.path / "new.txt").write_text("new\n")
    if commits:
        agent_git(co.path, "add", "new.txt")
        agent_git(co.path, "commit", "-q", "-m", "new")
    got = take(clone, co)
    assert files(clone, got.head) == {".gitignore": b"a.txt\n", "src/f.py": b"f\n",
                                      "z.txt": b"Z\n", "a.txt": b"A\n", "new.txt": b"new\n"}


@pytest.mark.parametrize("commits", [False, True])
def test_a_file_whose_name_is_not_utf8_is_kept_not_deleted(clone: pygit2.Repository,
                                                           tmp_path: Path, commits: bool) -> None:
    """A base file named in Latin-1 (never read back from the work tree, whose names the
    collector takes as UTF-8) stays in the agent's result as it was."""
    base = gitops.resolve(clone, "main")
    assert base is not None
    root = clone[base].peel(pygit2.Commit).tree
    latin1 = clone.create_blob(b"caf\xe9\n")
    named = [(int(e.filemode), (e.name or "").encode(), str(e.id)) for e in root]
    tree = crafted_tree(Path(clone.path), sorted(  # in git's order: only the name is odd
        [*named, (0o100644, b"caf\xe9.txt", str(latin1))], key=lambda e: e[1]))
    start = git("commit-tree", "-p", base, "-m", "latin-1", tree, cwd=Path(clone.path))
    co = gitops.create_checkout(clone, tmp_path / "wt" / "t1.r1", "mtor/t1", start)
    (co.path / "old.txt").write_text("new\n")
    if commits:
        agent_git(co.path, "commit", "-q", "-am", "edit")
    got = take(clone, co)
    entries = {e.name: e.id for e in clone[got.head].peel(pygit2.Commit).tree}
    assert entries.get("caf\udce9.txt") == latin1 and gitops.read_blob(clone, got.head,
                                                                      "old.txt") == b"new\n"


def test_a_name_holding_a_slash_is_left_out_by_its_whole_path(clone: pygit2.Repository,
                                                              tmp_path: Path) -> None:
    """A base whose root lists a file named `tasks/t2.md` beside the folder tasks/ (an earlier
    agent's crafted tree): it is left out as its path says, like tasks/t2.md itself, and an
    agent that changes nothing deletes neither."""
    def blob(data: bytes) -> str:
        return str(clone.create_blob(data))

    where = Path(clone.path)
    tasks = crafted_tree(where, [(0o100644, "t1.md", blob(b"a\n")),
                                 (0o100644, "t2.md", blob(b"b\n"))])
    results = crafted_tree(where, [(0o100644, "t2.json", blob(b"{}\n"))])
    root = crafted_tree(where, [(0o100644, "README.md", blob(b"r\n")),
                                (0o40000, "results", results), (0o40000, "tasks", tasks),
                                (0o100644, "tasks/t2.md", blob(b"X\n"))])
    base = git("commit-tree", "-m", "crafted", root, cwd=where)
    co = gitops.create_checkout(clone, tmp_path / "wt" / "t1.r1", "mtor/t1", base,
                                only=("tasks", "tasks/t1.md"),
                                leave_out=[LeaveOut("results", (".json", ".md"))])
    assert set(co.seen) == {"README.md", "tasks/t1.md"}
    assert co.skipped == {"tasks/t2.md", "results/t2.json"}
    got = take(clone, co)
    assert (got.head, got.changes_commit) == (base, None)


def test_the_agents_own_commits_are_kept_under_the_rest(clone: pygit2.Repository,
                                                        tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    (co.path / "a.txt").write_text("a\n")
    agent_git(co.path, "add", "a.txt")
    agent_git(co.path, "commit", "-q", "-m", "agent: a")
    own = agent_git(co.path, "rev-parse", "HEAD")
    (co.path / "b.txt").write_text("b\n")
    got = take(clone, co)
    assert got.agent_head == own
    assert gitops.first_parent(clone, got.head) == own
    assert clone[own].peel(pygit2.Commit).message == "agent: a\n"
    assert files(clone, got.head)["b.txt"] == b"b\n"


def test_committed_and_clean_is_the_agents_head(clone: pygit2.Repository,
                                                tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    (co.path / "a.txt").write_text("a\n")
    agent_git(co.path, "add", "a.txt")
    agent_git(co.path, "commit", "-q", "-m", "agent: a")
    agent_git(co.path, "gc", "-q")  # its objects packed, refs packed
    got = take(clone, co)
    assert got.head == got.agent_head == agent_git(co.path, "rev-parse", "HEAD")
    assert got.changes_commit is None


def test_a_head_not_descending_from_the_base_drops_the_commits_keeps_the_files(
        clone: pygit2.Repository, tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    agent_git(co.path, "checkout", "-q", "--orphan", "other")
    agent_git(co.path, "commit", "-q", "-m", "unrelated")
    got = take(clone, co)
    assert got.agent_head == co.base
    assert "does not descend" in " ".join(got.notes)
    assert set(files(clone, got.head)) == set(files(clone, co.base))


def test_symlinks_are_stored_as_symlinks_never_followed(clone: pygit2.Repository,
                                                        tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("not for the agent\n")
    co = make(clone, tmp_path)
    (co.path / "link").symlink_to(outside)
    got = take(clone, co)
    assert gitops.is_symlink(clone, got.head, "link")
    assert gitops.read_blob(clone, got.head, "link") == str(outside).encode()


def test_whatever_the_agent_left_at_the_result_paths_is_discarded_and_noted(
        clone: pygit2.Repository, tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    (co.path / "results" / "t1.json").mkdir(parents=True)
    (co.path / "results" / "t1.json" / "x").write_text("a folder\n")
    (co.path / "results" / "t1.md").symlink_to("/etc/passwd")
    (co.path / "results" / "t9.json").write_text('{"status": "succeeded"}\n')  # forged
    (co.path / "results" / "plots").mkdir()
    (co.path / "results" / "plots" / "p.csv").write_text("1,2\n")  # the project's own file
    got = take(clone, co)
    assert set(files(clone, got.head)) - set(files(clone, co.base)) == {"results/plots/p.csv"}
    notes = " ".join(got.notes)
    assert "a folder at results/t1.json" in notes and "a symlink at results/t1.md" in notes
    assert "a file at results/t9.json" in notes


def test_results_as_a_file_is_discarded(clone: pygit2.Repository, tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    (co.path / "results").write_text("not a folder\n")
    got = take(clone, co)
    assert "results" not in files(clone, got.head)
    assert "a file at results" in " ".join(got.notes)


def test_a_result_folder_in_the_agents_commits_gives_way_to_the_result(
        clone: pygit2.Repository, tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    (co.path / "results" / "t1.json").mkdir(parents=True)
    (co.path / "results" / "t1.json" / "x").write_text("a folder\n")
    agent_git(co.path, "add", "results")
    agent_git(co.path, "commit", "-q", "-m", "agent: results")
    got = take(clone, co)
    assert "the agent's commits changed results/t1.json/x" in " ".join(got.notes)
    result = gitops.commit_files(clone, ref="refs/heads/mtor/t1", parent=got.head,
                                 files={"results/t1.json": b"{}\n"}, message="result")
    assert gitops.read_blob(clone, result, "results/t1.json") == b"{}\n"
    assert "results/t1.json/x" not in files(clone, result)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file of mode 000")
def test_unreadable_files_and_folders_are_kept_not_deleted(clone: pygit2.Repository,
                                                           tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    (co.path / "old.txt").chmod(0)
    (co.path / "tasks").chmod(0)
    (co.path / "new.txt").write_text("new\n")
    try:
        got = take(clone, co)
    finally:
        (co.path / "tasks").chmod(0o755)
    assert files(clone, got.head) == {**files(clone, co.base), "new.txt": b"new\n"}
    assert "could not be read" in " ".join(got.notes)


def test_results_as_a_file_in_the_agents_commits_gives_way_to_the_result(
        clone: pygit2.Repository, tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    (co.path / "results").write_text("a file where the folder goes\n")
    agent_git(co.path, "add", "results")
    agent_git(co.path, "commit", "-q", "-m", "agent: results as a file")
    got = take(clone, co)
    result = gitops.commit_files(clone, ref="refs/heads/mtor/t1", parent=got.head,
                                 files={"results/t1.json": b"{}\n", "results/t1.md": b"#\n"},
                                 message="result")
    assert gitops.read_blob(clone, result, "results/t1.json") == b"{}\n"
    assert gitops.list_tree(clone, result, "results").keys() == {"results/t1.json", "results/t1.md"}


def test_results_made_a_file_in_a_commit_only_is_put_back_without_a_crash(
        clone: pygit2.Repository, user_repo: Path, tmp_path: Path) -> None:
    """Found by a review: the agent's commit has a file `results` while its work tree still
    holds the folder; collecting raised "index does not contain results"."""
    write_commit(user_repo, {"results/t0.json": b'{"status": "failed"}\n',
                             "results/notes.txt": b"the agent's\n"})
    gitops.fetch(clone)
    co = make(clone, tmp_path)
    agent_git(co.path, "rm", "-rq", "--cached", "results")
    blob = git("hash-object", "-w", "--stdin", cwd=co.path, input=b"a file\n")
    agent_git(co.path, "update-index", "--add", "--cacheinfo", f"100644,{blob},results")
    agent_git(co.path, "commit", "-q", "-m", "agent: results as a file, in the commit only")
    got = take(clone, co)
    assert files(clone, got.head) == files(clone, co.base)
    assert "results" in " ".join(got.notes)


def test_result_files_the_agents_commits_forge_or_delete_are_put_back(
        clone: pygit2.Repository, user_repo: Path, tmp_path: Path) -> None:
    write_commit(user_repo, {"results/t0.json": b'{"status": "failed"}\n'})
    gitops.fetch(clone)
    co = make(clone, tmp_path)
    (co.path / "results" / "t9.json").write_text('{"status": "succeeded"}\n')
    (co.path / "results" / "t0.json").unlink()
    (co.path / "work.txt").write_text("work\n")
    agent_git(co.path, "add", "-A")
    agent_git(co.path, "commit", "-q", "-m", "agent: forged t9, deleted t0")
    got = take(clone, co)
    assert gitops.first_parent(clone, got.head) == got.agent_head  # its commit kept, undone above
    assert files(clone, got.head) == {**files(clone, co.base), "work.txt": b"work\n"}
    notes = " ".join(got.notes)
    assert "results/t9.json" in notes and "results/t0.json" in notes


def test_a_sparse_1gb_file_is_refused_without_being_read(clone: pygit2.Repository,
                                                        tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    with (co.path / "huge.bin").open("wb") as out:
        out.truncate(1 << 30)
    (co.path / "huge.bin").chmod(0)  # reading it would fail: refusing must not need to
    with pytest.raises(ChangeTooLarge, match="huge.bin"):
        take(clone, co)


def test_the_total_change_cap_counts_every_new_file(clone: pygit2.Repository,
                                                    tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    for i in range(4):
        (co.path / f"f{i}.bin").write_bytes(os.urandom(3000))
    limits = gitops.Limits(max_file_bytes=4000, max_change_bytes=10_000)
    with pytest.raises(ChangeTooLarge, match="max_change_bytes"):
        take(clone, co, limits)


def test_a_big_blob_in_the_agents_own_commit_is_refused(clone: pygit2.Repository,
                                                        tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    (co.path / "big.bin").write_bytes(os.urandom(5000))
    agent_git(co.path, "add", "big.bin")
    agent_git(co.path, "commit", "-q", "-m", "agent: big")
    agent_git(co.path, "rm", "-q", "big.bin")  # gone from its files, still in its commit
    with pytest.raises(ChangeTooLarge, match="big.bin"):
        take(clone, co, gitops.Limits(max_file_bytes=4000))


def test_a_commit_object_over_the_cap_is_refused_by_its_header(clone: pygit2.Repository,
                                                                tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    agent_git(co.path, "commit", "-q", "--allow-empty", "-m", "x" * 5000)
    with pytest.raises(ChangeTooLarge, match="commit"):
        take(clone, co, gitops.Limits(max_file_bytes=4000))


def test_an_unchanged_big_file_of_the_base_is_no_change(clone: pygit2.Repository,
                                                        user_repo: Path, tmp_path: Path) -> None:
    write_commit(user_repo, {"data.bin": os.urandom(6000)})
    gitops.fetch(clone)
    co = make(clone, tmp_path)
    assert take(clone, co, gitops.Limits(max_file_bytes=4000)).changes_commit is None


@pytest.mark.parametrize("state", ["MERGE_HEAD", "rebase-merge", "rebase-apply"])
def test_a_merge_or_rebase_left_open_is_unfinished(clone: pygit2.Repository, tmp_path: Path,
                                                   state: str) -> None:
    co = make(clone, tmp_path)
    target = co.git_dir / state
    if state == "MERGE_HEAD":
        target.write_text(co.base + "\n")
    else:
        target.mkdir()
    got = take(clone, co)
    assert got.unfinished is not None and state in got.unfinished


def test_a_real_conflicted_merge_is_unfinished(clone: pygit2.Repository, tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    agent_git(co.path, "checkout", "-q", "-b", "side")
    (co.path / "old.txt").write_text("side\n")
    agent_git(co.path, "commit", "-q", "-am", "side")
    agent_git(co.path, "checkout", "-q", "mtor/t1")
    (co.path / "old.txt").write_text("mine\n")
    agent_git(co.path, "commit", "-q", "-am", "mine")
    agent_git(co.path, "merge", "side", check=False)
    got = take(clone, co)
    assert got.unfinished is not None
    assert "MERGE_HEAD" in got.unfinished and "old.txt" in got.unfinished


def test_conflict_markers_in_a_changed_file_are_unfinished(clone: pygit2.Repository,
                                                           tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    (co.path / "old.txt").write_text("<<<<<<< HEAD\nmine\n=======\ntheirs\n>>>>>>> side\n")
    got = take(clone, co)
    assert got.unfinished == "conflict markers left in old.txt"


def test_a_deleted_checkout_fails_clearly(clone: pygit2.Repository, tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    gitops.drop_checkout(clone, co.path)
    with pytest.raises(GitOpError, match="worktree"):
        take(clone, co)


def test_a_git_file_pointing_at_the_clone_is_not_followed(clone: pygit2.Repository,
                                                          tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    shutil.rmtree(co.git_dir)
    (co.path / ".git").write_text(f"gitdir: {clone.path}\n")
    with pytest.raises(GitOpError, match="worktree"):
        take(clone, co)


def test_head_is_read_from_loose_packed_and_detached_refs(clone: pygit2.Repository,
                                                          tmp_path: Path) -> None:
    co = make(clone, tmp_path)
    assert read_head(co.git_dir) == co.base
    git("pack-refs", "--all", cwd=co.path)
    assert read_head(co.git_dir) == co.base
    git("checkout", "-q", "--detach", cwd=co.path)
    assert read_head(co.git_dir) == co.base
    (co.git_dir / "HEAD").write_text("ref: refs/../../../etc/passwd\n")
    assert read_head(co.git_dir) is None


# -- conflict markers ------------------------------------------------------------------------------
def test_markers_out_of_order_or_alone_are_not_a_conflict() -> None:
    assert not has_conflict_markers(b"Title\n=======\n\ntext\n")
    assert not has_conflict_markers(b">>>>>>> x\n=======\n<<<<<<< y\n")
    assert has_conflict_markers(b"<<<<<<<\r\na\r\n=======\r\nb\r\n>>>>>>>\r\n")


_LINE = st.text(st.characters(blacklist_characters="<=>\r\n\x00", blacklist_categories=["Cs"]),
               max_size=20)


@given(st.lists(_LINE, max_size=8), st.lists(_LINE, max_size=8))
def test_markers_are_found_around_any_text_and_only_there(ours: list[str],
                                                          theirs: list[str]) -> None:
    a, b = "".join(f"{x}\n" for x in ours), "".join(f"{x}\n" for x in theirs)
    assert not has_conflict_markers((a + b).encode())
    assert has_conflict_markers(f"{a}<<<<<<< HEAD\n{a}=======\n{b}>>>>>>> side\n{b}".encode())


def _left_out_by_definition(rule: LeaveOut, path: str) -> bool:
    """LeaveOut's contract said plainly: in the folder, not kept, its first name below the folder
    ending in one of the suffixes (git's `!/<folder>/*<suffix>` patterns)."""
    prefix = f"{rule.folder}/"
    if not path.startswith(prefix) or path in rule.keep:
        return False
    first = path[len(prefix):].split("/", 1)[0]
    return any(first.endswith(suffix) for suffix in rule.suffixes)


_SEGMENT = st.sampled_from(["a.md", "b.json", "c", "d.md.txt", "e.json"])
_FILES = st.sets(st.tuples(st.sampled_from(["tasks", "results", "src"]),
                           st.lists(_SEGMENT, min_size=1, max_size=3))
                 .map(lambda t: "/".join([t[0], *t[1]])), max_size=14)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(paths=_FILES, keep=st.lists(st.integers(0, 13), max_size=4), data=st.data())
def test_a_sparse_checkout_writes_what_git_writes_and_knows_the_rest(
        tmp_path: Path, paths: set[str], keep: list[int], data: st.DataObject) -> None:
    """Whatever the base holds in the folders left out (nested, kept, or named like a result):
    the files the checkout records as written are the files git wrote, the rest are its
    skipped ones, and every file of the base is found in its entries, with mode and id."""
    paths = {p for p in paths if not any(o.startswith(f"{p}/") for o in paths)} | {"tasks/t.md"}
    ordered = sorted(paths)
    kept = tuple(ordered[i] for i in keep if i < len(ordered) and ordered[i].startswith("r"))
    root = tmp_path / str(len(list(tmp_path.iterdir())))
    repo = pygit2.init_repository(str(root / "clone.git"), bare=True)
    base = gitops.commit_files(repo, ref="refs/heads/main", parent=None, message="base",
                               files={p: p.encode() for p in paths})
    rules = [LeaveOut("results", (".json", ".md"), keep=kept)]
    only = ("tasks", data.draw(st.sampled_from([p for p in ordered if p.startswith("t")])))
    co = gitops.create_checkout(repo, root / "wt", "mtor/t", base, only=only, leave_out=rules)
    on_disk = {str(f.relative_to(co.path)) for f in co.path.rglob("*")
               if f.is_file() and ".git" not in f.relative_to(co.path).parts}
    everything = [*rules, LeaveOut("tasks", keep=(only[1],))]
    left = {p for p in paths if any(_left_out_by_definition(rule, p) for rule in everything)}
    assert set(co.seen) == on_disk == paths - left
    assert co.skipped == (left if co.leave_out else frozenset())
    listed = gitops.list_tree(repo, base, "")
    assert dict(co.entries) == {p: (0o100644, oid) for p, oid in listed.items()}
    for path in paths:
        assert co.entries[path] == (0o100644, listed[path]) and path in co.entries
    assert "tasks" not in co.entries and "nothing" not in co.entries
    assert co.entries.holds_files_in("tasks") and not co.entries.holds_files_in("tasks/t.md")


_LAYOUT = st.recursive(st.sampled_from([b"x", b"y"]),
                       lambda inner: st.lists(st.tuples(st.sampled_from(["a", "b", "c.md", "a/b"]),
                                                        inner), max_size=4), max_leaves=12)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=st.lists(st.tuples(st.sampled_from(["a", "b", "c.md", "src", "a/b"]), _LAYOUT),
                       min_size=1, max_size=5))
def test_base_files_are_found_as_they_are_listed_in_any_tree(
        tmp_path: Path, layout: list[tuple[str, object]]) -> None:
    """Trees in any order, a name twice in a folder, a name holding "/": each file the base
    lists is found by its path, with the same mode and id, and each folder holding one is known
    as such."""
    repo = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)

    def build(entries: list[tuple[str, object]]) -> str:
        return crafted_tree(Path(repo.path), [
            (0o100644, name, str(repo.create_blob(sub))) if isinstance(sub, bytes)
            else (0o40000, name, build(sub))  # type: ignore[arg-type]
            for name, sub in entries])

    tree = repo[build(layout)].peel(pygit2.Tree)
    listed = dict(gitops.BaseFiles(tree, {}))
    for written in ({}, listed):
        base = gitops.BaseFiles(tree, written)
        assert all(base.get(path) == entry for path, entry in listed.items())
        assert all(base.holds_files_in(folder) for folder in folders_of(listed))
        assert not any(path in base or base.holds_files_in(path) for path in ("nothing", "a/z"))


_PART = st.text(alphabet="ab.jsonmd-_\n/", max_size=10)


@given(folder=st.sampled_from(["results", "tasks", "a.b", "x+y"]),
       suffixes=st.lists(st.sampled_from(["", ".json", ".md", ".j", "n"]),
                         max_size=3).map(tuple),
       rests=st.lists(_PART, max_size=12), strangers=st.lists(_PART, max_size=4),
       kept=st.lists(st.integers(0, 11), max_size=3))
def test_leave_out_matches_its_definition(folder: str, suffixes: tuple[str, ...],
                                          rests: list[str], strangers: list[str],
                                          kept: list[int]) -> None:
    paths = [f"{folder}/{rest}" for rest in rests] + [f"{folder}{s}" for s in strangers]
    rule = LeaveOut(folder, suffixes, keep=tuple(paths[i] for i in kept if i < len(paths)))
    expected = {p for p in paths if _left_out_by_definition(rule, p)}
    assert rule.left_out(paths) == expected
    assert {p for p in paths if rule.covers(p)} == expected
