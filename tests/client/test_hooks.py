"""Client-side hooks, end to end: `mtor-git init` / `hooks install` in a real repository, then
the real `git commit` and `git push` decide. A bad spec must never reach a commit or a remote
through these hooks, and a user's own hook must never be lost."""

from __future__ import annotations

import os
import shlex
import stat
import sys
from pathlib import Path

import pygit2
import pytest
from userrepo import BAD, BAD_MESSAGE, GOOD, UserRepo, make_bare, make_repo

from mtor_git.client import hooks


@pytest.fixture
def repo(tmp_path: Path) -> UserRepo:
    """A repository with tasks/ and our hooks, installed through the library to save a process
    per test (tests of `init` and `hooks install` themselves run the CLI)."""
    repo = make_repo(tmp_path)
    (repo.path / "tasks").mkdir()
    hooks.install(pygit2.Repository(str(repo.path)))
    return repo


def write_hook(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


# --- install -----------------------------------------------------------------------------------

def test_init_creates_tasks_and_installs_both_hooks_pinning_the_interpreter(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    proc = repo.mtor("init")
    assert proc.returncode == 0, proc.stderr
    assert (repo.path / "tasks").is_dir()
    for name in ("pre-commit", "pre-push"):
        hook = repo.hooks / name
        assert f"installed {hook}" in proc.stdout
        assert hook.stat().st_mode & stat.S_IXUSR
        assert f"py={shlex.quote(sys.executable)}\n" in hook.read_text()


def test_reinstalling_updates_our_hook_and_never_chains_it_to_itself(repo: UserRepo) -> None:
    proc = repo.mtor("hooks", "install")
    assert proc.returncode == 0, proc.stderr
    assert "updated" in proc.stdout
    assert not (repo.hooks / "pre-commit.legacy").exists()
    assert not (repo.hooks / "pre-commit.mtor-backup").exists()


def test_hooks_outside_a_repository_is_a_usage_error(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = repo.mtor("hooks", "install", cwd=elsewhere)
    assert proc.returncode == 2
    assert "not inside a git repository" in proc.stderr


def test_core_hooks_path_is_honoured(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    repo.git("config", "core.hooksPath", ".githooks")
    repo.mtor("hooks", "install", check=True)
    assert (repo.path / ".githooks" / "pre-commit").is_file()
    repo.write("tasks/bad.md", BAD)
    repo.git("add", "tasks/bad.md")
    proc = repo.commit("bad spec")
    assert proc.returncode == 1
    assert BAD_MESSAGE in proc.stderr


# --- pre-commit --------------------------------------------------------------------------------

def test_bad_spec_makes_git_commit_fail_with_the_file_line_message(repo: UserRepo) -> None:
    before = repo.head()
    repo.write("tasks/fix-table.md", BAD)
    repo.git("add", "tasks/fix-table.md")
    proc = repo.commit("add a task")
    assert proc.returncode == 1
    assert f"tasks/fix-table.md:2: {BAD_MESSAGE}" in proc.stderr.splitlines()
    assert repo.head() == before


def test_good_spec_is_committed(repo: UserRepo) -> None:
    before = repo.count_commits()
    repo.write("tasks/fix-table.md", GOOD)
    repo.git("add", "tasks/fix-table.md")
    proc = repo.commit("add a task")
    assert proc.returncode == 0, proc.stderr
    assert repo.count_commits() == before + 1


def test_every_bad_spec_is_listed(repo: UserRepo) -> None:
    repo.write("tasks/one.md", BAD)
    repo.write("tasks/two.md", "no frontmatter\n")
    repo.write("tasks/ok.md", GOOD)
    repo.git("add", "tasks")
    proc = repo.commit("three tasks")
    assert proc.returncode == 1
    assert f"tasks/one.md:2: {BAD_MESSAGE}" in proc.stderr
    assert "tasks/two.md:1: frontmatter:" in proc.stderr
    assert "tasks/ok.md" not in proc.stderr
    assert "2 invalid task spec(s)" in proc.stderr


def test_files_that_are_not_specs_are_ignored(repo: UserRepo) -> None:
    for path in ("tasks/README.md", "tasks/notes.txt", "tasks/drafts/idea.md", "docs/task.md",
                 "task.md"):
        repo.write(path, "no frontmatter at all\n")
    repo.git("add", ".")
    proc = repo.commit("notes")
    assert proc.returncode == 0, proc.stderr


def test_a_committed_bad_spec_does_not_block_unrelated_commits(repo: UserRepo) -> None:
    repo.write("tasks/old.md", BAD)
    repo.git("add", "tasks/old.md")
    repo.git("commit", "-q", "--no-verify", "-m", "slipped past the hook")
    repo.write("tasks/new.md", GOOD)
    repo.git("add", "tasks/new.md")
    proc = repo.commit("a good one")
    assert proc.returncode == 0, proc.stderr
    repo.write("tasks/old.md", BAD + "still bad\n")
    repo.git("add", "tasks/old.md")
    assert repo.commit("touching the bad one").returncode == 1


def test_deleting_a_bad_spec_is_allowed(repo: UserRepo) -> None:
    repo.write("tasks/old.md", BAD)
    repo.git("add", "tasks/old.md")
    repo.git("commit", "-q", "--no-verify", "-m", "slipped past the hook")
    repo.git("rm", "-q", "tasks/old.md")
    proc = repo.commit("remove it")
    assert proc.returncode == 0, proc.stderr


def test_a_staged_symlink_spec_is_refused(repo: UserRepo) -> None:
    repo.write("elsewhere.md", GOOD)
    (repo.path / "tasks" / "link.md").symlink_to("../elsewhere.md")
    repo.git("add", "elsewhere.md", "tasks/link.md")
    proc = repo.commit("link")
    assert proc.returncode == 1
    assert "tasks/link.md:1: file: is a symlink; specs must be regular files" in proc.stderr


def test_a_submodule_named_like_a_spec_is_refused(repo: UserRepo) -> None:
    # A gitlink's id is a commit of another repository: there is no blob here to read.
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{repo.head()},tasks/sub.md")
    proc = repo.commit("gitlink")
    assert proc.returncode == 1
    assert "tasks/sub.md:1: file: is not a regular file" in proc.stderr


def test_the_hook_checks_the_index_not_the_work_tree(repo: UserRepo) -> None:
    repo.write("tasks/t.md", BAD)
    repo.git("add", "tasks/t.md")
    repo.write("tasks/t.md", GOOD)  # fixed, but not staged: the commit would still record BAD
    proc = repo.commit("staged bad")
    assert proc.returncode == 1
    assert f"tasks/t.md:2: {BAD_MESSAGE}" in proc.stderr


def test_a_good_index_commits_whatever_the_work_tree_holds(repo: UserRepo) -> None:
    repo.write("tasks/t.md", GOOD)
    repo.git("add", "tasks/t.md")
    repo.write("tasks/t.md", BAD)  # broken afterwards, not staged
    proc = repo.commit("staged good")
    assert proc.returncode == 0, proc.stderr
    assert repo.git("show", "HEAD:tasks/t.md").stdout == GOOD


def test_commit_all_checks_what_git_stages_for_it(repo: UserRepo) -> None:
    # `git commit -a` stages into a temporary index (GIT_INDEX_FILE) and runs the hook on that.
    repo.write("tasks/t.md", GOOD)
    repo.git("add", "tasks/t.md")
    repo.git("commit", "-q", "-m", "good")
    repo.write("tasks/t.md", BAD)
    proc = repo.commit("broken by -a", "-a")
    assert proc.returncode == 1
    assert f"tasks/t.md:2: {BAD_MESSAGE}" in proc.stderr


def test_commit_of_named_paths_checks_the_work_tree_version_it_records(repo: UserRepo) -> None:
    repo.write("tasks/t.md", BAD)
    repo.git("add", "tasks/t.md")
    repo.write("tasks/t.md", GOOD)
    proc = repo.commit("only this path", "--", "tasks/t.md")  # records the work tree file
    assert proc.returncode == 0, proc.stderr
    assert repo.git("show", "HEAD:tasks/t.md").stdout == GOOD


def test_installed_hook_works_without_mtor_git_on_path(repo: UserRepo) -> None:
    env = dict(repo.env, PATH=os.pathsep.join(
        p for p in repo.env["PATH"].split(os.pathsep)
        if not (Path(p) / "mtor-git").exists() and Path(p) != Path(sys.executable).parent))
    jailed = UserRepo(repo.path, env)
    jailed.write("tasks/t.md", BAD)
    jailed.git("add", "tasks/t.md")
    proc = jailed.commit("bad")
    assert proc.returncode == 1
    assert BAD_MESSAGE in proc.stderr


def test_hook_whose_interpreter_vanished_refuses_with_a_clear_message(repo: UserRepo) -> None:
    hook = repo.hooks / "pre-commit"
    hook.write_text(hook.read_text().replace(f"py={shlex.quote(sys.executable)}",
                                             "py=/nonexistent/python"))
    env = dict(repo.env, PATH="/usr/bin:/bin")
    proc = UserRepo(repo.path, env).commit("anything", "--allow-empty")
    assert proc.returncode == 1
    assert "mtor-git is not installed any more" in proc.stderr


# --- a user's own hook -------------------------------------------------------------------------

def test_existing_hook_is_chained_kept_and_run_first(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    original = "echo 'user hook ran' >&2"
    write_hook(repo.hooks / "pre-commit", original)
    proc = repo.mtor("hooks", "install")
    assert proc.returncode == 0, proc.stderr
    assert "chained" in proc.stdout and "pre-commit.legacy" in proc.stdout
    assert (repo.hooks / "pre-commit.legacy").read_text() == f"#!/bin/sh\n{original}\n"

    repo.write("tasks/t.md", BAD)
    repo.git("add", "tasks/t.md")
    proc = repo.commit("bad")
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines.index("user hook ran") < lines.index(f"tasks/t.md:2: {BAD_MESSAGE}")


def test_failing_user_hook_blocks_a_good_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    write_hook(repo.hooks / "pre-commit", "echo 'lint failed' >&2\nexit 3")
    repo.mtor("init", check=True)
    before = repo.head()
    repo.write("tasks/t.md", GOOD)
    repo.git("add", "tasks/t.md")
    proc = repo.commit("good spec, failing user hook")
    assert proc.returncode != 0
    assert "lint failed" in proc.stderr
    assert repo.head() == before


def test_install_refuses_rather_than_overwrite_when_legacy_exists(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    write_hook(repo.hooks / "pre-commit", "echo current")
    write_hook(repo.hooks / "pre-commit.legacy", "echo older")
    proc = repo.mtor("hooks", "install")
    assert proc.returncode == 1
    assert "--force" in proc.stderr
    assert (repo.hooks / "pre-commit").read_text() == "#!/bin/sh\necho current\n"
    assert (repo.hooks / "pre-commit.legacy").read_text() == "#!/bin/sh\necho older\n"
    assert not (repo.hooks / "pre-push").exists()  # nothing half-installed


def test_force_replaces_a_foreign_hook_keeping_a_backup(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    write_hook(repo.hooks / "pre-commit", "echo 'user hook ran' >&2")
    proc = repo.mtor("hooks", "install", "--force")
    assert proc.returncode == 0, proc.stderr
    assert "replaced" in proc.stdout and "pre-commit.mtor-backup" in proc.stdout
    backup = repo.hooks / "pre-commit.mtor-backup"
    assert backup.read_text() == "#!/bin/sh\necho 'user hook ran' >&2\n"
    assert not (repo.hooks / "pre-commit.legacy").exists()
    repo.write("tasks/t.md", GOOD)
    repo.git("add", "tasks/t.md")
    proc = repo.commit("good")
    assert proc.returncode == 0, proc.stderr
    assert "user hook ran" not in proc.stderr  # replaced, not chained


def test_git_default_sample_hooks_are_left_alone(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    samples = sorted(p.name for p in repo.hooks.glob("*.sample"))
    repo.mtor("init", check=True)
    assert sorted(p.name for p in repo.hooks.glob("*.sample")) == samples


# --- pre-push ----------------------------------------------------------------------------------

@pytest.fixture
def pushing(repo: UserRepo, tmp_path: Path) -> UserRepo:
    remote = make_bare(tmp_path, repo.env)
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "-q", "origin", "main")
    return repo


def remote_head(repo: UserRepo, branch: str = "main") -> str:
    out = repo.git("ls-remote", "origin", f"refs/heads/{branch}").stdout
    return out.split()[0] if out else ""


def test_push_of_a_bad_spec_committed_with_no_verify_is_refused(pushing: UserRepo) -> None:
    before = remote_head(pushing)
    pushing.write("tasks/t.md", BAD)
    pushing.git("add", "tasks/t.md")
    pushing.git("commit", "-q", "--no-verify", "-m", "skipped the hook")
    proc = pushing.git("push", "origin", "main", check=False)
    assert proc.returncode != 0
    assert f"tasks/t.md:2: {BAD_MESSAGE}" in proc.stderr
    assert remote_head(pushing) == before


def test_push_of_a_new_branch_with_a_bad_spec_is_refused(pushing: UserRepo) -> None:
    pushing.git("checkout", "-q", "-b", "feature")
    pushing.write("tasks/t.md", BAD)
    pushing.git("add", "tasks/t.md")
    pushing.git("commit", "-q", "--no-verify", "-m", "skipped the hook")
    proc = pushing.git("push", "origin", "feature", check=False)
    assert proc.returncode != 0
    assert BAD_MESSAGE in proc.stderr
    assert remote_head(pushing, "feature") == ""


def test_push_of_good_specs_goes_through(pushing: UserRepo) -> None:
    pushing.write("tasks/t.md", GOOD)
    pushing.git("add", "tasks/t.md")
    pushing.git("commit", "-q", "-m", "good")
    proc = pushing.git("push", "origin", "main", check=False)
    assert proc.returncode == 0, proc.stderr
    assert remote_head(pushing) == pushing.head()


def test_push_with_nothing_new_succeeds(pushing: UserRepo) -> None:
    proc = pushing.git("push", "origin", "main", check=False)
    assert proc.returncode == 0, proc.stderr


def test_deleting_a_remote_branch_is_allowed(pushing: UserRepo) -> None:
    pushing.git("push", "-q", "origin", "main:doomed")
    proc = pushing.git("push", "origin", "--delete", "doomed", check=False)
    assert proc.returncode == 0, proc.stderr
    assert remote_head(pushing, "doomed") == ""


def test_push_checks_only_specs_the_push_changes(pushing: UserRepo) -> None:
    pushing.write("tasks/old.md", BAD)
    pushing.git("add", "tasks/old.md")
    pushing.git("commit", "-q", "--no-verify", "-m", "old mistake")
    pushing.git("push", "-q", "--no-verify", "origin", "main")
    pushing.write("tasks/new.md", GOOD)
    pushing.git("add", "tasks/new.md")
    # The pre-commit hook judges what this commit changes: the old mistake does not block it.
    assert pushing.commit("new task").returncode == 0
    proc = pushing.git("push", "origin", "main", check=False)
    assert proc.returncode == 0, proc.stderr


def test_chained_pre_push_hook_sees_the_refs_and_can_block(pushing: UserRepo) -> None:
    seen = pushing.path.parent / "seen.txt"
    write_hook(pushing.hooks / "pre-push", f"cat > {shlex.quote(str(seen))}\nexit 7")
    pushing.mtor("hooks", "install", check=True)
    pushing.write("tasks/t.md", GOOD)
    pushing.git("add", "tasks/t.md")
    pushing.git("commit", "-q", "-m", "good")
    proc = pushing.git("push", "origin", "main", check=False)
    assert proc.returncode != 0
    assert f"refs/heads/main {pushing.head()} refs/heads/main" in seen.read_text()
    assert remote_head(pushing) != pushing.head()


def test_pre_push_hook_called_directly_with_garbage_is_a_usage_error(repo: UserRepo) -> None:
    proc = repo.mtor("hook", "pre-push", "origin", "url", input="not four fields\n")
    assert proc.returncode == 2
    assert "unexpected input line" in proc.stderr

