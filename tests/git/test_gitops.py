"""gitops against real repositories: bare remotes on disk and served by `git daemon`, the user's
side played by the git CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pygit2
import pytest
from gitfixtures import (
    GitDaemon,
    crafted_tree,
    fast_import,
    free_port,
    git,
    import_commit,
    install_hook,
    make_bare_remote,
    user_clone,
    write_commit,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pygit2.enums import CredentialType

from mtor_git import git as gitops
from mtor_git.errors import GitOpError, PushRejected

CLAIM = "refs/mtor/claims/t1"


def _clone(url: str | Path, tmp_path: Path, name: str = "work.git") -> pygit2.Repository:
    return gitops.open_or_clone(str(url), tmp_path / "ws" / name, bare=True)


def _claim(repo: pygit2.Repository, worker: str, expected: str | None = None) -> str:
    return gitops.compare_and_swap(repo, CLAIM, expected=expected,
                                   files={"claim.json": f'{{"worker": "{worker}"}}'.encode()},
                                   message=f"claim by {worker}")


# -- clone / open --------------------------------------------------------------------------------
def test_clone_when_missing_then_reopen(bare_remote: Path, tmp_path: Path) -> None:
    repo = _clone(bare_remote, tmp_path)
    head = git("rev-parse", "main", cwd=bare_remote)
    assert str(repo.references["refs/remotes/origin/main"].target) == head
    assert repo.is_bare
    again = _clone(bare_remote, tmp_path)
    assert again.path == repo.path


def test_non_bare_clone_has_a_checkout(bare_remote: Path, tmp_path: Path) -> None:
    gitops.open_or_clone(str(bare_remote), tmp_path / "checkout")
    assert (tmp_path / "checkout" / "README.md").read_text() == "# demo\n"


def test_reopen_refuses_a_clone_of_another_remote(bare_remote: Path, tmp_path: Path) -> None:
    _clone(bare_remote, tmp_path)
    other = make_bare_remote(tmp_path / "other.git")
    with pytest.raises(GitOpError, match="is a clone of"):
        _clone(other, tmp_path)


def test_file_url_and_path_name_the_same_remote(bare_remote: Path, tmp_path: Path) -> None:
    _clone(bare_remote, tmp_path)
    assert _clone(f"file://{bare_remote}", tmp_path).path  # no origin mismatch


@pytest.mark.parametrize("leftover", ["empty-dir", "init-only", "garbage"])
def test_half_finished_clone_is_redone(bare_remote: Path, tmp_path: Path, leftover: str) -> None:
    path = tmp_path / "ws" / "work.git"
    path.mkdir(parents=True)
    if leftover == "init-only":  # what an interrupted clone leaves: origin set, no refs yet
        git("init", "--quiet", "--bare", path)
        git("remote", "add", "origin", bare_remote, cwd=path)
    elif leftover == "garbage":
        (path / "HEAD").write_text("not a ref\n")
    dead = _dead_pid()
    stale = tmp_path / "ws" / f".work.git.clone-{dead}-0123abcd"
    busy = tmp_path / "ws" / f".work.git.clone-{os.getpid()}-4567cdef"  # a live clone at work
    stale.mkdir()
    busy.mkdir()
    repo = gitops.open_or_clone(str(bare_remote), path, bare=True)
    assert "refs/remotes/origin/main" in repo.references
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(["work.git", busy.name])


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid  # reaped: no process has this id (until the kernel reuses it)


def test_clone_over_git_daemon(bare_remote: Path, daemon: GitDaemon, tmp_path: Path) -> None:
    repo = _clone(daemon.url(bare_remote), tmp_path)
    assert "refs/remotes/origin/main" in repo.references


def test_clone_of_a_missing_remote_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GitOpError, match="cannot clone"):
        _clone(tmp_path / "nowhere.git", tmp_path)
    assert list((tmp_path / "ws").iterdir()) == []


# -- fetch / ls-remote ---------------------------------------------------------------------------
def test_fetch_brings_branches_and_mtor_refs_and_prunes(bare_remote: Path, user_repo: Path,
                                                        tmp_path: Path) -> None:
    repo = _clone(bare_remote, tmp_path)
    new = write_commit(user_repo, {"tasks/a.md": b"spec\n"})
    git("push", "--quiet", "origin", f"HEAD:{CLAIM}", "HEAD:refs/heads/mtor/a", cwd=user_repo)
    outcome = gitops.fetch(repo)
    assert outcome.changed
    assert str(repo.references["refs/remotes/origin/main"].target) == new
    assert str(repo.references["refs/remotes/origin-mtor/claims/t1"].target) == new
    assert "refs/remotes/origin/mtor/a" in repo.references

    git("push", "--quiet", "origin", f":{CLAIM}", cwd=user_repo)
    gitops.fetch(repo)
    assert "refs/remotes/origin-mtor/claims/t1" not in repo.references


def test_idle_fetch_reports_nothing_changed(bare_remote: Path, tmp_path: Path) -> None:
    repo = _clone(bare_remote, tmp_path)
    gitops.fetch(repo)
    outcome = gitops.fetch(repo)
    assert not outcome.changed and outcome.received_objects == 0


def test_remote_refs_lists_without_fetching(bare_remote: Path, user_repo: Path, daemon: GitDaemon,
                                            tmp_path: Path) -> None:
    repo = _clone(bare_remote, tmp_path)
    new = write_commit(user_repo, {"x": b"1"})
    git("push", "--quiet", "origin", f"HEAD:{CLAIM}", cwd=user_repo)
    refs = gitops.remote_refs(repo)
    assert refs["refs/heads/main"] == new and refs[CLAIM] == new
    assert "HEAD" not in refs
    assert new not in repo  # nothing was fetched
    assert gitops.remote_refs(str(bare_remote)) == refs
    assert gitops.remote_refs(daemon.url(bare_remote)) == refs


# -- reading trees -------------------------------------------------------------------------------
def _statuses(changes: list[gitops.PathChange]) -> set[tuple[str, str, str | None]]:
    return {(c.status, c.path, c.old_path) for c in changes}


def test_changed_paths_under_a_directory_only(user_repo: Path, tmp_path: Path) -> None:
    body = b"a long enough body so that rename detection sees the same file\n" * 5
    old = write_commit(user_repo, {"tasks/keep.md": b"k\n", "tasks/edit.md": b"1\n",
                                   "tasks/gone.md": b"g\n", "tasks/old.md": body,
                                   "src/x.py": b"x\n"}, push=False)
    (user_repo / "tasks" / "sub").mkdir()
    git("mv", "tasks/old.md", "tasks/sub/new.md", cwd=user_repo)
    new = write_commit(user_repo, {"tasks/edit.md": b"2\n", "tasks/gone.md": None,
                                   "tasks/add.md": b"a\n", "src/x.py": b"y\n"}, push=False)
    repo = pygit2.Repository(str(user_repo))
    assert _statuses(gitops.changed_paths(repo, old, new, "tasks")) == {
        ("modified", "tasks/edit.md", None), ("deleted", "tasks/gone.md", None),
        ("added", "tasks/add.md", None), ("renamed", "tasks/sub/new.md", "tasks/old.md")}
    everything = gitops.changed_paths(repo, None, new, "tasks/")
    assert {c.path for c in everything} == set(gitops.list_tree(repo, new, "tasks"))
    assert {c.status for c in everything} == {"added"}
    elsewhere = write_commit(user_repo, {"src/x.py": b"z\n"}, push=False)
    assert gitops.changed_paths(repo, new, elsewhere, "tasks") == []  # the same folder tree


def test_changed_paths_when_the_directory_appears(user_repo: Path) -> None:
    repo = pygit2.Repository(str(user_repo))
    old = str(repo.head.target)
    new = write_commit(user_repo, {"tasks/a.md": b"a\n"}, push=False)
    assert _statuses(gitops.changed_paths(repo, old, new, "tasks")) == {("added", "tasks/a.md",
                                                                          None)}
    assert gitops.changed_paths(repo, new, old, "tasks")[0].status == "deleted"


def test_list_tree_read_blob_and_modes(user_repo: Path) -> None:
    (user_repo / "tasks" / "deep").mkdir(parents=True)
    (user_repo / "tasks" / "link.md").symlink_to("deep/b.md")
    (user_repo / "tasks" / "run.sh").write_bytes(b"#!/bin/sh\n")
    (user_repo / "tasks" / "run.sh").chmod(0o755)
    git("add", "tasks", cwd=user_repo)
    head = write_commit(user_repo, {"tasks/deep/b.md": b"b\n", "other.md": b"o\n"}, push=False)
    repo = pygit2.Repository(str(user_repo))
    tree = gitops.list_tree(repo, head, "tasks")
    assert set(tree) == {"tasks/link.md", "tasks/run.sh", "tasks/deep/b.md"}
    assert tree["tasks/deep/b.md"] == git("rev-parse", "HEAD:tasks/deep/b.md", cwd=user_repo)
    assert gitops.read_blob(repo, head, "tasks/deep/b.md") == b"b\n"
    assert gitops.read_blob(repo, head, "tasks/link.md") == b"deep/b.md"
    assert gitops.is_symlink(repo, head, "tasks/link.md")
    assert not gitops.is_symlink(repo, head, "tasks/deep/b.md")
    assert gitops.file_mode(repo, head, "tasks/run.sh") == 0o100755
    assert gitops.read_blob(repo, head, "tasks/deep") is None  # a directory is not a file
    assert gitops.read_blob(repo, head, "tasks/none.md") is None
    assert gitops.read_blob_with_mode(repo, "0" * 40, "other.md") == (None, None)
    assert gitops.list_tree(repo, head, "missing") == {}
    blob = tree["tasks/deep/b.md"]
    assert gitops.blob_data(repo, blob) == b"b\n"  # by its id, no tree walked
    assert gitops.blob_data(repo, git("rev-parse", "HEAD:tasks", cwd=user_repo)) is None
    assert gitops.blob_data(repo, head) is None  # a commit is no blob
    assert gitops.blob_data(repo, "0" * 40) is None
    assert gitops.blob_data(repo, "not an id") is None


def test_commit_of_path_addition(user_repo: Path) -> None:
    added = write_commit(user_repo, {"tasks/a.md": b"v1\n"}, push=False)
    write_commit(user_repo, {"src/other": b"x\n"}, push=False)
    write_commit(user_repo, {"tasks/b.md": b"a sibling changes tasks/, not a.md\n"}, push=False)
    repo = pygit2.Repository(str(user_repo))
    head = str(repo.head.target)
    assert gitops.commit_of_path_addition(repo, head, "tasks/a.md") == added
    changed = write_commit(user_repo, {"tasks/a.md": b"v2\n"}, push=False)
    write_commit(user_repo, {"src/other": b"y\n"}, push=False)
    assert gitops.commit_of_path_addition(repo, str(repo.head.target), "tasks/a.md") == changed
    assert gitops.commit_of_path_addition(repo, head, "tasks/missing.md") is None


def test_commit_of_path_addition_follows_the_merged_side(user_repo: Path) -> None:
    git("checkout", "--quiet", "-b", "side", cwd=user_repo)
    on_side = write_commit(user_repo, {"tasks/b.md": b"b\n"}, push=False)
    git("checkout", "--quiet", "main", cwd=user_repo)
    write_commit(user_repo, {"README.md": b"changed\n"}, push=False)
    git("merge", "--quiet", "--no-edit", "--no-ff", "side", cwd=user_repo)
    repo = pygit2.Repository(str(user_repo))
    assert gitops.commit_of_path_addition(repo, str(repo.head.target), "tasks/b.md") == on_side


def test_resolve_and_is_ancestor(bare_remote: Path, user_repo: Path, tmp_path: Path) -> None:
    first = git("rev-parse", "HEAD", cwd=user_repo)
    second = write_commit(user_repo, {"f": b"1"})
    repo = _clone(bare_remote, tmp_path)
    assert gitops.resolve(repo, "main") == second
    assert gitops.resolve(repo, first[:10]) == first
    assert gitops.resolve(repo, "no-such-branch") is None
    assert gitops.is_ancestor(repo, first, second) and gitops.is_ancestor(repo, second, second)
    assert not gitops.is_ancestor(repo, second, first)
    assert not gitops.is_ancestor(repo, "f" * 40, second)


def test_diff_changes_counts_lines(user_repo: Path) -> None:
    base = write_commit(user_repo, {"a.txt": b"1\n2\n3\n"}, push=False)
    head = write_commit(user_repo, {"a.txt": b"1\nTWO\n3\n4\n", "b.txt": b"new\n"}, push=False)
    changes = gitops.diff_changes(pygit2.Repository(str(user_repo)), base, head)
    assert {(f.path, f.status, f.insertions, f.deletions) for f in changes.files} == {
        ("a.txt", "modified", 2, 1), ("b.txt", "added", 1, 0)}


# -- commits -------------------------------------------------------------------------------------
def test_commit_files_nested_on_a_parent(bare_remote: Path, tmp_path: Path) -> None:
    repo = _clone(bare_remote, tmp_path)
    parent = gitops.resolve(repo, "main")
    oid = gitops.commit_files(repo, ref="refs/heads/mtor/t1", parent=parent,
                              files={"results/t1.json": b"{}", "results/deep/x.md": b"# x\n"},
                              message="mtor: t1 succeeded", author_name="w", author_email="w@h")
    assert str(repo.references["refs/heads/mtor/t1"].target) == oid
    assert set(gitops.list_tree(repo, oid, "")) == {"README.md", "results/t1.json",
                                                    "results/deep/x.md"}
    c = repo[oid].peel(pygit2.Commit)
    assert [str(p) for p in c.parent_ids] == [parent] and c.author.email == "w@h"
    again = gitops.commit_files(repo, ref="refs/heads/mtor/t1", parent=oid,
                                files={"README.md": b"over\n"}, message="m")
    assert gitops.read_blob(repo, again, "README.md") == b"over\n"
    assert gitops.read_blob(repo, again, "results/t1.json") == b"{}"


def test_commit_files_without_parent_and_without_ref(bare_remote: Path, tmp_path: Path) -> None:
    repo = _clone(bare_remote, tmp_path)
    oid = gitops.commit_files(repo, ref="refs/x", parent=None, files={"claim.json": b"{}"},
                              message="claim", update_ref=False)
    assert gitops.list_tree(repo, oid, "") == {"claim.json": str(repo.create_blob(b"{}"))}
    assert "refs/x" not in repo.references


def test_commit_files_gives_way_to_what_stands_in_the_path(bare_remote: Path,
                                                            tmp_path: Path) -> None:
    """A folder where a file goes and a file where a folder goes are replaced (an agent's
    `results/<id>.json` folder, a file `results`); the rest of the parent stays as it was."""
    repo = _clone(bare_remote, tmp_path)
    parent = gitops.commit_files(repo, ref="refs/x", parent=gitops.resolve(repo, "main"),
                                 files={"results/t1.json/x": b"a folder", "notes": b"a file",
                                        "results/t2.json": b"2"}, message="m")
    oid = gitops.commit_files(repo, ref="refs/x", parent=parent,
                              files={"results/t1.json": b"{}", "notes/n.md": b"n"}, message="m")
    assert set(gitops.list_tree(repo, oid, "")) == {"README.md", "results/t1.json",
                                                    "results/t2.json", "notes/n.md"}
    assert gitops.read_blob(repo, oid, "results/t1.json") == b"{}"


def test_commit_files_refuses_a_file_that_is_a_folder_of_another(bare_remote: Path,
                                                                 tmp_path: Path) -> None:
    repo = _clone(bare_remote, tmp_path)
    with pytest.raises(GitOpError, match="both as a file and as the folder"):
        gitops.commit_files(repo, ref="refs/x", parent=None, message="m",
                            files={"a/b/c": b"", "a/b": b""})
    assert "refs/x" not in repo.references


@pytest.mark.parametrize("crafted", ["out of order", "a folder twice"])
def test_commit_files_keeps_every_file_of_a_tree_git_would_not_write(
        tmp_path: Path, crafted: str) -> None:
    """An agent's commit whose root tree is out of git's order, or names `results` twice: the
    result commit on top of it keeps every file either entry holds."""
    repo = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)

    def tree_of(files: dict[str, bytes]) -> pygit2.Tree:
        oid = gitops.commit_files(repo, ref="refs/x", parent=None, message="m", files=files)
        return repo[oid].peel(pygit2.Commit).tree

    root = {e.name or "": (int(e.filemode), e.name or "", str(e.id)) for e in
            tree_of({"results/t2.json": b"2", "src/a": b"a", "zz": b"z"})}
    entries = [root["src"], root["zz"], root["results"]]  # results last: out of order
    if crafted == "a folder twice":
        entries.append((0o40000, "results", str(tree_of({"results/t3.json": b"3"})["results"].id)))
    sig = pygit2.Signature("agent", "agent@example.org")
    parent = repo.create_commit(None, sig, sig, "agent", pygit2.Oid(hex=crafted_tree(
        Path(repo.path), entries)), [])
    oid = gitops.commit_files(repo, ref="refs/r", parent=str(parent), message="result",
                              files={"results/t1.json": b"1"})
    expected = {"results/t1.json", "results/t2.json", "src/a", "zz"} | (
        {"results/t3.json"} if crafted == "a folder twice" else set())
    assert set(gitops.list_tree(repo, oid, "")) == expected


_NAMES = st.sampled_from(["a", "b", "t1.json", "t1.md", "z"])
_PATHS = st.lists(_NAMES, min_size=1, max_size=3).map("/".join)


def _no_file_in_a_file(paths: set[str]) -> bool:
    return not any(other.startswith(f"{path}/") for path in paths for other in paths)


def _tree_by_git(repo: pygit2.Repository, parent: str | None, files: dict[str, bytes],
                 index: Path) -> str:
    """The tree git itself makes of `parent` with `files` written in (the user's way: an index,
    `update-index --replace`)."""
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    cwd = Path(repo.path)
    subprocess.run(["git", "read-tree", *([parent] if parent else ["--empty"])], cwd=cwd,
                   env=env, check=True)
    infos = [arg for path, data in files.items()
             for arg in ("--cacheinfo", f"100644,{repo.create_blob(data)},{path}")]
    subprocess.run(["git", "update-index", "--add", "--replace", *infos], cwd=cwd, env=env,
                   check=True)
    return subprocess.run(["git", "write-tree"], cwd=cwd, env=env, check=True, text=True,
                          capture_output=True).stdout.strip()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=st.sets(_PATHS, max_size=8), new=st.sets(_PATHS, min_size=1, max_size=4))
def test_commit_files_writes_the_tree_git_writes(tmp_path: Path, base: set[str],
                                                 new: set[str]) -> None:
    """Any parent, any files: the same tree as git's own index makes of them."""
    assume(_no_file_in_a_file(base) and _no_file_in_a_file(new))
    repo = pygit2.init_repository(str(tmp_path / f"r{len(list(tmp_path.iterdir()))}.git"),
                                  bare=True)
    parent = gitops.commit_files(repo, ref="refs/p", parent=None, message="p",
                                 files={p: p.encode() for p in base}) if base else None
    files = {p: f"new {p}".encode() for p in new}
    oid = gitops.commit_files(repo, ref="refs/x", parent=parent, files=files, message="m")
    expected = _tree_by_git(repo, parent, files, tmp_path / "index")
    assert str(repo[oid].peel(pygit2.Commit).tree_id) == expected


@pytest.mark.parametrize("path", ["../x", "/abs", "a//b", ".git/config", "a/./b"])
def test_commit_files_refuses_unsafe_paths(bare_remote: Path, tmp_path: Path, path: str) -> None:
    repo = _clone(bare_remote, tmp_path)
    with pytest.raises(GitOpError, match="unsafe"):
        gitops.commit_files(repo, ref="refs/x", parent=None, files={path: b""}, message="m")


# -- worktrees and commit_all --------------------------------------------------------------------
def _worktree(bare_remote: Path, tmp_path: Path) -> tuple[pygit2.Repository, Path, str]:
    repo = _clone(bare_remote, tmp_path)
    base = gitops.resolve(repo, "main")
    assert base is not None
    path = gitops.create_worktree(repo, "t1.r1", tmp_path / "wt" / "t1", "mtor/t1", base)
    return repo, path, base


def test_commit_all_stages_adds_edits_and_deletions(bare_remote: Path, user_repo: Path,
                                                    tmp_path: Path) -> None:
    write_commit(user_repo, {".gitignore": b"*.log\n", "old.txt": b"old\n"})
    repo, wt, base = _worktree(bare_remote, tmp_path)
    (wt / "old.txt").unlink()
    (wt / "README.md").write_text("edited\n")
    (wt / "src").mkdir()
    (wt / "src" / "new.py").write_text("print()\n")
    (wt / "debug.log").write_text("ignored\n")
    oid = gitops.commit_all(wt, message="agent changes", author_name="w", author_email="w@h")
    assert oid is not None
    assert str(repo.references["refs/heads/mtor/t1"].target) == oid
    assert set(gitops.list_tree(repo, oid, "")) == {".gitignore", "README.md", "src/new.py"}
    assert git("status", "--porcelain", cwd=wt) == ""


def test_commit_all_with_nothing_changed_is_none(bare_remote: Path, tmp_path: Path) -> None:
    _, wt, base = _worktree(bare_remote, tmp_path)
    assert gitops.commit_all(wt, message="m") is None
    assert gitops.worktree_head(wt) == base


def test_commit_all_keeps_the_agents_own_commits(bare_remote: Path, tmp_path: Path) -> None:
    repo, wt, base = _worktree(bare_remote, tmp_path)
    (wt / "a.txt").write_text("agent\n")
    git("add", "a.txt", cwd=wt)
    git("commit", "--quiet", "-m", "agent's own commit", cwd=wt)
    agents = git("rev-parse", "HEAD", cwd=wt)
    (wt / "b.txt").write_text("left over\n")
    oid = gitops.commit_all(wt, message="rest")
    assert oid is not None
    assert [str(p) for p in repo[oid].peel(pygit2.Commit).parent_ids] == [agents]
    assert gitops.is_ancestor(repo, base, oid)


def test_worktree_deleted_underneath_is_recreated(bare_remote: Path, tmp_path: Path) -> None:
    repo, wt, base = _worktree(bare_remote, tmp_path)
    (wt / "x").write_text("x\n")
    kept = gitops.commit_all(wt, message="work")
    subprocess.run(["rm", "-rf", str(wt)], check=True)
    assert gitops.prune_worktrees(repo) == ["t1.r1"]
    again = gitops.create_worktree(repo, "t1.r1", wt, "mtor/t1", base)
    assert (again / "README.md").exists() and not (again / "x").exists()
    assert kept is not None and kept in repo  # not lost: only the branch label moved
    subprocess.run(["rm", "-rf", str(wt)], check=True)
    gitops.remove_worktree(repo, "t1.r1", wt)  # directory already gone: still fine
    gitops.remove_worktree(repo, "t1.r1", wt)  # and twice
    assert repo.list_worktrees() == []
    assert "refs/heads/mtor/t1" in repo.references


def test_commit_all_never_searches_upward_into_an_enclosing_repo(bare_remote: Path,
                                                                   user_repo: Path) -> None:
    vanished = user_repo / "worktrees" / "t1"  # inside the user's checkout, but gone
    vanished.mkdir(parents=True)
    (user_repo / "stray.txt").write_text("must not be committed\n")
    before = git("rev-parse", "HEAD", cwd=user_repo)
    with pytest.raises(GitOpError, match="no worktree"):
        gitops.commit_all(vanished, message="m")
    assert git("rev-parse", "HEAD", cwd=user_repo) == before


def test_create_worktree_over_a_live_leftover(bare_remote: Path, tmp_path: Path) -> None:
    repo, wt, base = _worktree(bare_remote, tmp_path)
    (wt / "junk").write_text("from a crashed run\n")
    gitops.create_worktree(repo, "t1.r1", wt, "mtor/t1", base)
    assert not (wt / "junk").exists()


# -- push ----------------------------------------------------------------------------------------
def _url(transport: str, bare: Path, daemon: GitDaemon) -> str:
    return daemon.url(bare) if transport == "git-daemon" else str(bare)


@pytest.mark.parametrize("transport", ["path", "git-daemon"])
def test_push_branch_history_and_delete_ref(bare_remote: Path, daemon: GitDaemon, tmp_path: Path,
                                            transport: str) -> None:
    repo = _clone(_url(transport, bare_remote, daemon), tmp_path)
    ref = "refs/heads/mtor/t1"
    first = gitops.commit_files(repo, ref=ref, parent=gitops.resolve(repo, "main"),
                                files={"src/a.py": b"a\n"}, message="agent")
    head = gitops.commit_files(repo, ref=ref, parent=first, files={"results/t1.json": b"{}"},
                               message="result")
    gitops.push(repo, [f"{ref}:{ref}"])
    assert git("rev-parse", "mtor/t1", cwd=bare_remote) == head
    assert git("cat-file", "blob", "mtor/t1~1:src/a.py", cwd=bare_remote) == "a"
    gitops.push(repo, [f":{ref}", ":refs/mtor/claims/never-existed"])
    assert ref not in gitops.remote_refs(repo)


@pytest.mark.parametrize("transport", ["path", "git-daemon"])
def test_non_fast_forward_is_rejected_unless_forced(bare_remote: Path, user_repo: Path,
                                                    daemon: GitDaemon, tmp_path: Path,
                                                    transport: str) -> None:
    repo = _clone(_url(transport, bare_remote, daemon), tmp_path)
    mine = gitops.commit_files(repo, ref="refs/heads/main", parent=gitops.resolve(repo, "main"),
                               files={"mine": b"1"}, message="mine")
    theirs = write_commit(user_repo, {"theirs": b"2"})  # the remote moved meanwhile
    with pytest.raises(PushRejected) as caught:
        gitops.push(repo, ["refs/heads/main:refs/heads/main"])
    assert list(caught.value.refused) == ["refs/heads/main"]
    assert git("rev-parse", "main", cwd=bare_remote) == theirs
    gitops.push(repo, ["+refs/heads/main:refs/heads/main"])
    assert git("rev-parse", "main", cwd=bare_remote) == mine


def test_local_push_leaves_a_checked_out_branch_alone(user_repo: Path, tmp_path: Path) -> None:
    repo = gitops.open_or_clone(str(user_repo), tmp_path / "w.git", bare=True)
    gitops.commit_files(repo, ref="refs/heads/main", parent=gitops.resolve(repo, "main"),
                        files={"x": b"x"}, message="m")
    with pytest.raises(PushRejected, match="checked out"):
        gitops.push(repo, ["refs/heads/main:refs/heads/main"])
    gitops.push(repo, ["refs/heads/main:refs/heads/other"])  # any other branch is fine


def test_push_needs_full_ref_names(bare_remote: Path, tmp_path: Path) -> None:
    with pytest.raises(GitOpError, match="full destination ref"):
        gitops.push(_clone(bare_remote, tmp_path), ["main:main"])


def test_pre_receive_refusal_over_git_daemon_raises(bare_remote: Path, daemon: GitDaemon,
                                                    tmp_path: Path) -> None:
    install_hook(bare_remote, "pre-receive",
                 "#!/bin/sh\necho 'policy: no pushes today' >&2\nexit 1\n")
    repo = _clone(daemon.url(bare_remote), tmp_path)
    with pytest.raises(PushRejected) as caught:
        _claim(repo, "w1")
    assert CLAIM in caught.value.refused
    assert "policy: no pushes today" in caught.value.refused[CLAIM]
    assert CLAIM not in gitops.remote_refs(repo)


def test_claim_push_onto_an_existing_claim_is_rejected(bare_remote: Path, tmp_path: Path) -> None:
    one, two = _clone(bare_remote, tmp_path, "one.git"), _clone(bare_remote, tmp_path, "two.git")
    _claim(one, "w1")
    with pytest.raises(PushRejected):
        _claim(two, "w2")


def test_cas_takeover_fails_when_someone_moved_the_ref(bare_remote: Path, daemon: GitDaemon,
                                                       tmp_path: Path) -> None:
    url = daemon.url(bare_remote)
    a, b = _clone(url, tmp_path, "a.git"), _clone(url, tmp_path, "b.git")
    seen = _claim(a, "a")
    gitops.fetch(b)
    moved = _claim(b, "b", expected=seen)  # b renews first
    with pytest.raises(PushRejected):
        _claim(a, "a", expected=seen)  # a still believes `seen` is current
    assert gitops.remote_refs(a)[CLAIM] == moved
    gitops.fetch(a)
    retaken = _claim(a, "a", expected=moved)
    assert gitops.remote_refs(a)[CLAIM] == retaken


ROUNDS = 3
_RACER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from mtor_git import git as gitops
    from mtor_git.errors import PushRejected
    url, me, rounds = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    repo = gitops.open_or_clone(url, me, bare=True)
    for r in range(rounds):
        gitops.commit_files(repo, ref=f"refs/mtor-local/c{r}", parent=None,
                            files={"claim.json": str(me).encode()}, message="claim")
    Path(f"{me}.ready").touch()
    for r in range(rounds):
        while not Path(f"{me.parent}/go{r}").exists():
            time.sleep(0.001)
        try:
            gitops.push(repo, [f"refs/mtor-local/c{r}:refs/mtor/claims/race{r}"])
            print("won", flush=True)
        except PushRejected as exc:
            print("rejected", exc, flush=True)
        Path(f"{me}.done{r}").touch()
""")


def _wait_for(path: Path, racers: list[subprocess.Popen[str]]) -> None:
    while not path.exists():
        for racer in racers:
            assert racer.poll() in (None, 0), racer.communicate()  # 0: finished its rounds
        time.sleep(0.005)


@pytest.mark.parametrize("transport", ["path", "git-daemon"])
def test_racing_claim_pushes_have_exactly_one_winner(bare_remote: Path, daemon: GitDaemon,
                                                     tmp_path: Path, transport: str) -> None:
    url = daemon.url(bare_remote) if transport == "git-daemon" else str(bare_remote)
    clones = [tmp_path / f"r{i}.git" for i in range(6)]
    racers = [subprocess.Popen([sys.executable, "-c", _RACER, url, str(c), str(ROUNDS)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for c in clones]
    for clone in clones:  # every racer has cloned and built its commits before a start
        _wait_for(Path(f"{clone}.ready"), racers)
    for r in range(ROUNDS):
        (tmp_path / f"go{r}").touch()
        for clone in clones:
            _wait_for(Path(f"{clone}.done{r}"), racers)
    outputs = [racer.communicate(timeout=60) for racer in racers]
    lines = [out.splitlines() for out, _ in outputs]
    for r in range(ROUNDS):
        verdicts = [racer[r].split()[0] for racer in lines]
        assert sorted(verdicts) == ["rejected"] * 5 + ["won"], (r, outputs)
        winner = clones[verdicts.index("won")]
        stored = git("cat-file", "blob", f"refs/mtor/claims/race{r}:claim.json", cwd=bare_remote)
        assert stored == str(winner)


# -- unreachable remotes -------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["git", "ssh"])
def test_unreachable_remote_is_a_git_op_error(bare_remote: Path, tmp_path: Path,
                                              scheme: str) -> None:
    dead = f"{scheme}://127.0.0.1:{free_port()}/remote.git"
    with pytest.raises(GitOpError):
        gitops.remote_refs(dead)
    with pytest.raises(GitOpError, match="cannot clone"):
        _clone(dead, tmp_path)
    repo = _clone(bare_remote, tmp_path)
    repo.remotes.set_url("origin", dead)
    with pytest.raises(GitOpError, match="cannot fetch"):
        gitops.fetch(repo)
    with pytest.raises(GitOpError) as caught:
        _claim(repo, "w")
    assert not isinstance(caught.value, PushRejected)


def test_import_commit_builds_history(tmp_path: Path) -> None:
    bare = make_bare_remote(tmp_path / "r.git")
    first = git("rev-parse", "main", cwd=bare)
    second = import_commit(bare, "main", {"tasks/a.md": b"a"}, "two", parent=first)
    assert git("rev-parse", f"{second}^", cwd=bare) == first
    assert user_clone(bare, tmp_path / "u").joinpath("tasks/a.md").read_bytes() == b"a"


def test_list_tree_skips_submodules(tmp_path: Path) -> None:
    bare = make_bare_remote(tmp_path / "r.git", files={"tasks/a.md": b"a"})
    head = git("rev-parse", "main", cwd=bare)
    fast_import(bare, (f"commit refs/heads/main\ncommitter U <u@x> 1700000000 +0000\ndata 3\nsub\n"
                       f"from {head}\nM 160000 {head} tasks/vendored\n\n").encode())
    repo = pygit2.Repository(str(bare))
    assert gitops.list_tree(repo, "main", "tasks") == {"tasks/a.md": str(repo.create_blob(b"a"))}


# -- URLs and credentials ------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "local"), [
    ("git@example.org:me/repo.git", False), ("ssh://git@example.org/me/repo.git", False),
    ("https://example.org/me/repo.git", False), ("git://127.0.0.1:9418/r.git", False),
    ("file:///srv/r.git", True), ("/srv/r.git", True), ("relative/r.git", True)])
def test_is_local(url: str, local: bool) -> None:
    assert gitops.is_local(gitops.normalize_url(url)) is local


def test_normalize_url_gives_one_spelling_per_remote(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spellings = {"r.git", "r.git/", f"{tmp_path}/r.git", f"file://{tmp_path}/r.git"}
    assert {gitops.normalize_url(u) for u in spellings} == {str(tmp_path / "r.git")}
    assert gitops.normalize_url("git@host:me/r.git/") == "git@host:me/r.git"


def test_credentials_offer_key_file_agent_or_token(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("not really a key")
    ssh, userpass = CredentialType.SSH_KEY, CredentialType.USERPASS_PLAINTEXT
    from_file = gitops.pick_credential(gitops.Credentials(ssh_key=key), "u", "git", ssh)
    assert isinstance(from_file, pygit2.Keypair) and not isinstance(from_file,
                                                                    pygit2.KeypairFromAgent)
    assert from_file.credential_tuple[2] == str(key)
    agent = gitops.pick_credential(gitops.Credentials(), "u", None, ssh)
    assert isinstance(agent, pygit2.KeypairFromAgent)
    assert agent.credential_tuple[0] == "git"
    token = gitops.pick_credential(gitops.Credentials(username="me", password="t0k"), "u", None,
                                   userpass)
    assert isinstance(token, pygit2.UserPass) and token.credential_tuple == ("me", "t0k")
    with pytest.raises(GitOpError, match="no usable credentials"):
        gitops.pick_credential(gitops.Credentials(), "https://x", None, userpass)
