"""`mtor-git validate`, `new` and `--version` as a user runs them: a subprocess in a real
repository, judged by exit code (0 ok, 1 invalid, 2 usage), stderr lines and `--json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from userrepo import BAD, BAD_MESSAGE, GOOD, MTOR_GIT, UserRepo, clean_env, make_repo, run

from mtor_git import __version__
from mtor_git.spec.parse import read_spec_file


@pytest.fixture
def repo(tmp_path: Path) -> UserRepo:
    return make_repo(tmp_path)


def test_version_via_python_m() -> None:
    proc = run([sys.executable, "-m", "mtor_git", "--version"], cwd=Path.cwd(),
               env=clean_env(Path.cwd()))
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"mtor-git {__version__}"


def test_version_via_the_console_script_next_to_the_interpreter(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("mtor-git")
    if not script.exists():
        pytest.skip(f"no console script beside {sys.executable} (package not pip-installed)")
    proc = run([str(script), "--version"], cwd=tmp_path, env=clean_env(tmp_path))
    assert (proc.returncode, proc.stdout.strip()) == (0, f"mtor-git {__version__}")


def test_good_specs_exit_0(repo: UserRepo) -> None:
    repo.write("tasks/a.md", GOOD)
    repo.write("tasks/b.md", GOOD)
    proc = repo.mtor("validate")
    assert proc.returncode == 0, proc.stderr
    assert "2 spec(s) valid" in proc.stderr


def test_a_bad_spec_exits_1_with_path_line_field_message(repo: UserRepo) -> None:
    repo.write("tasks/a.md", GOOD)
    repo.write("tasks/b.md", BAD)
    proc = repo.mtor("validate")
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0] == f"tasks/b.md:2: {BAD_MESSAGE}"
    assert "1 of 2 spec(s) invalid" in proc.stderr


def test_no_specs_is_not_an_error(repo: UserRepo) -> None:
    proc = repo.mtor("validate")
    assert proc.returncode == 0
    assert "no specs found" in proc.stderr


def test_explicit_paths_are_checked_even_outside_tasks(repo: UserRepo) -> None:
    repo.write("drafts/x.md", BAD)
    repo.write("tasks/ok.md", GOOD)
    proc = repo.mtor("validate", "drafts/x.md", "tasks/ok.md")
    assert proc.returncode == 1
    assert f"drafts/x.md:2: {BAD_MESSAGE}" in proc.stderr
    assert "tasks/ok.md" not in proc.stderr


def test_works_from_a_subdirectory(repo: UserRepo) -> None:
    repo.write("tasks/b.md", BAD)
    sub = repo.path / "src" / "deep"
    sub.mkdir(parents=True)
    proc = repo.mtor("validate", cwd=sub)
    assert proc.returncode == 1
    assert f"tasks/b.md:2: {BAD_MESSAGE}" in proc.stderr


def test_a_symlinked_spec_on_disk_is_refused(repo: UserRepo) -> None:
    repo.write("real.md", GOOD)
    (repo.path / "tasks").mkdir()
    (repo.path / "tasks" / "link.md").symlink_to("../real.md")
    proc = repo.mtor("validate")
    assert proc.returncode == 1
    assert "tasks/link.md:1: file: is a symlink; specs must be regular files" in proc.stderr


def test_a_dangling_symlink_is_refused_not_skipped(repo: UserRepo) -> None:
    (repo.path / "tasks").mkdir()
    (repo.path / "tasks" / "gone.md").symlink_to("../nowhere.md")
    proc = repo.mtor("validate")
    assert proc.returncode == 1
    assert "tasks/gone.md:1: file: is a symlink" in proc.stderr


def test_staged_checks_the_index_not_the_work_tree(repo: UserRepo) -> None:
    repo.write("tasks/t.md", BAD)
    repo.git("add", "tasks/t.md")
    repo.write("tasks/t.md", GOOD)
    staged = repo.mtor("validate", "--staged")
    assert staged.returncode == 1
    assert f"tasks/t.md:2: {BAD_MESSAGE}" in staged.stderr
    assert repo.mtor("validate").returncode == 0  # the work tree is fine


def test_staged_passes_a_good_index_whatever_the_work_tree_holds(repo: UserRepo) -> None:
    repo.write("tasks/t.md", GOOD)
    repo.git("add", "tasks/t.md")
    repo.write("tasks/t.md", BAD)
    assert repo.mtor("validate", "--staged").returncode == 0
    assert repo.mtor("validate").returncode == 1


def test_staged_refuses_a_symlink_in_the_index(repo: UserRepo) -> None:
    repo.write("real.md", GOOD)
    (repo.path / "tasks").mkdir()
    (repo.path / "tasks" / "link.md").symlink_to("../real.md")
    repo.git("add", "tasks/link.md")
    proc = repo.mtor("validate", "--staged")
    assert proc.returncode == 1
    assert "tasks/link.md:1: file: is a symlink" in proc.stderr


def test_json_report_shape(repo: UserRepo) -> None:
    repo.write("tasks/good.md", GOOD)
    repo.write("tasks/bad.md", BAD)
    proc = repo.mtor("validate", "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)  # stdout is the JSON document and nothing else
    assert report == {
        "version": 1,
        "checked": 2,
        "valid": ["tasks/good.md"],
        "problems": [{"path": "tasks/bad.md", "line": 2, "field": "titel",
                      "message": "unknown key; did you mean 'title'?"}],
    }


def test_json_report_when_all_valid(repo: UserRepo) -> None:
    repo.write("tasks/good.md", GOOD)
    proc = repo.mtor("validate", "--json", "--staged")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == {"version": 1, "checked": 0, "valid": [], "problems": []}


@pytest.mark.parametrize("argv", [
    ["validate", "--no-such-flag"],
    ["validate", "--staged", "tasks/a.md"],
    ["no-such-command"],
    [],
    ["new"],
    ["hooks"],
])
def test_usage_errors_exit_2(repo: UserRepo, argv: list[str]) -> None:
    proc = repo.mtor(*argv)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.strip()
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("argv", [["validate", "--staged"], ["new", "x"], ["init"]])
def test_outside_a_repository_exits_2(tmp_path: Path, argv: list[str]) -> None:
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    proc = run([*MTOR_GIT, *argv], cwd=outside, env=clean_env(tmp_path))
    assert proc.returncode == 2
    assert "not inside a git repository" in proc.stderr


def test_bare_repository_exits_2(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    run(["git", "init", "-q", "--bare", str(tmp_path / "b.git")], cwd=tmp_path, env=env,
        check=True)
    proc = run([*MTOR_GIT, "validate"], cwd=tmp_path / "b.git", env=env)
    assert proc.returncode == 2
    assert "bare" in proc.stderr


def test_new_writes_a_spec_that_validates(repo: UserRepo) -> None:
    proc = repo.mtor("new", "fix-table", "--agent", "claude")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "tasks/fix-table.md"
    parsed = read_spec_file(repo.path / "tasks" / "fix-table.md")
    assert (parsed.id, parsed.agent) == ("fix-table", "claude")
    assert repo.mtor("validate").returncode == 0


def test_new_quotes_a_title_yaml_would_read_as_a_number(repo: UserRepo) -> None:
    # test_spec.test_skeleton_validates covers every id; this is the CLI end of it.
    assert repo.mtor("new", "1.5").returncode == 0
    assert read_spec_file(repo.path / "tasks" / "1.5.md").title == "1.5"


def test_new_refuses_to_overwrite(repo: UserRepo) -> None:
    repo.write("tasks/t.md", "mine\n")
    proc = repo.mtor("new", "t")
    assert proc.returncode == 2
    assert "already exists" in proc.stderr
    assert (repo.path / "tasks" / "t.md").read_text() == "mine\n"


@pytest.mark.parametrize("task_id", ["Bad", "../escape", "fix-r2", "fix-t\u0430ble", "-x"])
def test_new_refuses_bad_ids_and_writes_nothing(repo: UserRepo, task_id: str) -> None:
    proc = repo.mtor("new", "--", task_id)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert not (repo.path / "tasks").exists() or not any((repo.path / "tasks").iterdir())
    assert not (repo.path / "escape.md").exists()


def test_init_is_idempotent_and_keeps_tasks(repo: UserRepo) -> None:
    assert repo.mtor("init").returncode == 0
    repo.write("tasks/t.md", GOOD)
    proc = repo.mtor("init")
    assert proc.returncode == 0
    assert "kept" in proc.stdout
    assert (repo.path / "tasks" / "t.md").read_text() == GOOD
