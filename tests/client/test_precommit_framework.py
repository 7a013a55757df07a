"""The pre-commit framework (https://pre-commit.com) running this repository's own
`.pre-commit-hooks.yaml`: it clones the hook repository at a rev, pip-installs it into an
environment of its own (from PyPI: setuptools and our dependencies) and runs `mtor-git validate`
on the staged spec files of a real commit.

The hook repository is a snapshot of this checkout (pyproject.toml, README.md,
.pre-commit-hooks.yaml and mtor_git/, copied byte for byte and committed in tmp_path), so the
framework installs the code under test rather than whatever HEAD last recorded."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from userrepo import BAD, BAD_MESSAGE, GOOD, UserRepo, clean_env, make_repo, run

from mtor_git.spec.parse import is_spec_path

PROJECT = Path(__file__).resolve().parents[2]
SNAPSHOT = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "LICENSE")


def snapshot_hook_repo(tmp_path: Path, env: dict[str, str]) -> tuple[Path, str]:
    """A git repository holding this checkout's package and hook definitions; (path, rev)."""
    dest = tmp_path / "hook-repo"
    dest.mkdir()
    for name in SNAPSHOT:
        if (PROJECT / name).is_file():
            shutil.copy2(PROJECT / name, dest / name)
    shutil.copytree(PROJECT / "mtor_git", dest / "mtor_git",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                 ["git", "commit", "-q", "-m", "snapshot"]):
        run(argv, cwd=dest, env=env, check=True)
    rev = run(["git", "rev-parse", "HEAD"], cwd=dest, env=env, check=True).stdout.strip()
    return dest, rev


def pre_commit(repo: UserRepo, *args: str) -> None:
    run([sys.executable, "-m", "pre_commit", *args], cwd=repo.path, env=repo.env, check=True,
        timeout=600)


@pytest.mark.slow
def test_framework_runs_our_hook_definition_on_real_commits(tmp_path: Path) -> None:
    pytest.importorskip("pre_commit")
    repo = make_repo(tmp_path)
    repo.env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")  # nothing leaks to ~
    hook_repo, rev = snapshot_hook_repo(tmp_path, repo.env)
    repo.write(".pre-commit-config.yaml",
               f"repos:\n- repo: {hook_repo}\n  rev: {rev}\n  hooks:\n  - id: mtor-git-validate\n")
    repo.git("add", ".pre-commit-config.yaml")
    repo.git("commit", "-q", "-m", "use pre-commit")
    pre_commit(repo, "install")
    pre_commit(repo, "install-hooks")  # clone + pip install, outside the commits timed by git

    # The hook ran from the framework's own environment, built from the snapshot at `rev`.
    installed = list((tmp_path / "pre-commit-home").glob("repo*/py_env-*/bin/mtor-git"))
    assert installed, "pre-commit did not install mtor-git into its own environment"

    repo.write("tasks/good.md", GOOD)
    repo.git("add", "tasks/good.md")
    proc = repo.commit("good spec")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "validate mtor-git task specs" in proc.stdout + proc.stderr

    before = repo.head()
    repo.write("tasks/bad.md", BAD)
    repo.git("add", "tasks/bad.md")
    proc = repo.commit("bad spec")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "Failed" in output
    assert f"tasks/bad.md:2: {BAD_MESSAGE}" in output
    assert repo.head() == before

    repo.git("reset", "-q")
    (repo.path / "tasks" / "bad.md").unlink()
    repo.write("tasks/README.md", "not a spec\n")
    repo.write("notes.md", "---\nnot: a spec either\n")
    repo.git("add", "tasks/README.md", "notes.md")
    proc = repo.commit("docs")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no files to check" in proc.stdout + proc.stderr


def test_hook_manifest_is_valid_for_the_framework(tmp_path: Path) -> None:
    pytest.importorskip("pre_commit")
    env = clean_env(tmp_path)
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    proc = run([sys.executable, "-m", "pre_commit", "validate-manifest",
                str(PROJECT / ".pre-commit-hooks.yaml")], cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", [
    "tasks/a.md", "tasks/fix-table.md", "tasks/README.md", "tasks/ReadMe.md", "tasks/readme.md",
    "tasks/sub/a.md", "tasks/a.txt", "a.md", "docs/tasks/a.md", "tasks/readme.md.md",
])
def test_manifest_selects_exactly_the_files_the_parser_calls_specs(path: str) -> None:
    (hook,) = yaml.safe_load((PROJECT / ".pre-commit-hooks.yaml").read_text())
    # pre-commit matches `files` and `exclude` with re.search on the staged path.
    selected = bool(re.search(hook["files"], path)) and not re.search(hook["exclude"], path)
    assert selected == is_spec_path(path)
