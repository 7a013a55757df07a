"""The task checkout holds the task's own spec, not every spec in tasks/ (issue 14): the other
specs stay in its index as git's sparse checkout leaves them, so an agent's `git add -A` and
commit delete none of them, and the worker's collector keeps them as they were."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonfixtures import DAEMON_ENV, Site, site, spec
from gitfixtures import git

from mtor_git.config.load import load_config
from mtor_git.worker.cycle import Worker

AGENT = Path(__file__).resolve().parents[1] / "fake_agents" / "sparse_agent.py"


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running


def test_the_agent_sees_its_own_spec_and_its_commit_deletes_no_other(s: Site) -> None:
    (s.user / "src").mkdir()
    (s.user / "src" / "app.py").write_text("print('hi')\n")
    git("add", "src/app.py", cwd=s.user)
    git("commit", "-q", "--no-verify", "-m", "code", cwd=s.user)
    s.push_specs({"t1": spec(), "t2": spec(), "t3": spec()})
    config = s.config("w1", default_agent="sparse", max_parallel=1, extra={
        "agents": {"sparse": {"command": [str(AGENT)], "report": "claude-json"}}})
    w = Worker(load_config(config), DAEMON_ENV)
    w.run_once()
    assert s.results() == {"t1": "succeeded", "t2": "succeeded", "t3": "succeeded"}
    for tid in ("t1", "t2", "t3"):
        branch = f"mtor/{tid}"
        assert git("show", f"{branch}:SEEN.md", cwd=s.remote) == f"{tid}.md"
        files = set(git("ls-tree", "-r", "--name-only", branch, cwd=s.remote).splitlines())
        assert {"tasks/t1.md", "tasks/t2.md", "tasks/t3.md", "src/app.py"} <= files
        deleted = git("diff", "--name-only", "--diff-filter=D", "main", branch, cwd=s.remote)
        assert deleted == ""


def test_a_lone_spec_is_checked_out_as_before(s: Site) -> None:
    s.push_specs({"only": spec()})
    config = s.config("w1", default_agent="sparse", extra={
        "agents": {"sparse": {"command": [str(AGENT)], "report": "claude-json"}}})
    Worker(load_config(config), DAEMON_ENV).run_once()
    assert git("show", "mtor/only:SEEN.md", cwd=s.remote) == "only.md"


def test_other_tasks_results_merged_into_main_are_left_out_and_kept(s: Site) -> None:
    """Results merged into main (two files per finished task) are not written into a task's
    checkout: the agent sees results/ without them, other files there stay, and its commit of
    everything deletes none of them."""
    (s.user / "results" / "plots").mkdir(parents=True)
    for old in ("a", "b"):
        (s.user / "results" / f"{old}.json").write_text(f'{{"task": {{"id": "{old}"}}}}\n')
        (s.user / "results" / f"{old}.md").write_text(f"# {old}\n")
    (s.user / "results" / "plots" / "p.txt").write_text("a plot\n")
    (s.user / "results" / "notes.txt").write_text("the user's notes\n")
    git("add", "results", cwd=s.user)
    git("commit", "-q", "--no-verify", "-m", "merged results", cwd=s.user)
    s.push_specs({"t1": spec(), "t2": spec()})
    config = s.config("w1", default_agent="sparse", max_parallel=1, extra={
        "agents": {"sparse": {"command": [str(AGENT)], "report": "claude-json"}}})
    Worker(load_config(config), DAEMON_ENV).run_once()
    assert s.results() == {"t1": "succeeded", "t2": "succeeded"}
    assert git("show", "mtor/t1:SEEN-RESULTS.md", cwd=s.remote).split() == ["notes.txt",
                                                                             "plots"]
    deleted = git("diff", "--name-only", "--diff-filter=D", "main", "mtor/t1", cwd=s.remote)
    assert deleted == ""
    assert s.result("t1")["status"] == "succeeded"
    assert not [n for n in s.result("t1").get("notes", []) if "deleted" in n]


def test_a_dependents_checkout_shows_its_dependencys_result(s: Site) -> None:
    """Only results merged into the watched branch are left out: a dependent starts from its
    dependency's branch and sees that result; a result merged since is left out."""
    (s.user / "results").mkdir()
    (s.user / "results" / "old.json").write_text('{"task": {"id": "old"}}\n')
    git("add", "results", cwd=s.user)
    git("commit", "-q", "--no-verify", "-m", "a merged result", cwd=s.user)
    s.push_specs({"a": spec(), "b": spec(depends_on=["a"])})
    config = s.config("w1", default_agent="sparse", max_parallel=1, extra={
        "agents": {"sparse": {"command": [str(AGENT)], "report": "claude-json"}}})
    w = Worker(load_config(config), DAEMON_ENV)
    w.run_once()
    w.run_once()
    assert s.results() == {"a": "succeeded", "b": "succeeded"}
    assert git("show", "mtor/b:SEEN-RESULTS.md", cwd=s.remote).split() == ["a.json", "a.md"]
    assert git("show", "mtor/a:SEEN-RESULTS.md", cwd=s.remote).split() == []
