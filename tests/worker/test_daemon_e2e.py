"""The worker daemon end to end: a bare remote served by `git daemon`, the git CLI as the user,
`mtor-git daemon --once` as a real subprocess, and what ends up on the remote."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from daemonfixtures import Site, load_schema, site, spec
from gitfixtures import git

pytestmark = pytest.mark.slow


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running


def trailers(s: Site, ref: str) -> dict[str, str]:
    body = git("log", "-1", "--format=%B", ref, cwd=s.remote)
    parsed = git("interpret-trailers", "--parse", input=body.encode(), cwd=s.remote)
    return dict(line.split(": ", 1) for line in parsed.splitlines())


def subjects(s: Site, ref: str) -> list[str]:
    return git("log", "--format=%s", ref, cwd=s.remote).splitlines()


def test_pushed_spec_ends_as_a_valid_result_on_its_branch(s: Site) -> None:
    spec_commit = s.push_specs({"t1": spec(title="first task")})
    s.run_once(s.config("w1"))

    result = s.result("t1")
    jsonschema.Draft202012Validator(
        load_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    ).validate(result)
    assert result["status"] == "succeeded"
    assert result["model_invoked"] is True
    assert result["task"]["spec_commit"] == spec_commit
    assert result["worker"]["id"] == "w1"
    assert [f["path"] for f in result["changes"]["files"]] == ["AGENT_EDIT.md"]
    assert git("show", "mtor/t1:AGENT_EDIT.md", cwd=s.remote) == (
        "edited by counting_agent in t1.r1")
    assert subjects(s, "mtor/t1")[0] == "mtor: t1 succeeded"
    assert trailers(s, "mtor/t1").items() >= {"Mtor-Task": "t1", "Mtor-Status": "succeeded",
                                              "Mtor-Terminal": "true",
                                              "Mtor-Attempts": "1"}.items()
    git("merge-base", "--is-ancestor", spec_commit, "mtor/t1", cwd=s.remote)
    assert s.claims() == []


def test_second_run_does_nothing_once_done(s: Site) -> None:
    s.push_specs({"t1": spec()})
    config = s.config("w1")
    s.run_once(config)
    before = s.refs()

    s.run_once(config)

    assert s.refs() == before
    assert s.invocations() == ["t1.r1"]


def test_invalid_spec_pushed_without_hooks_is_committed_as_rejected(s: Site) -> None:
    s.push_specs({"bad": spec(colour="red")}, no_verify=True)
    s.run_once(s.config("w1"))

    result = s.result("bad")
    jsonschema.validate(result, load_schema())
    assert result["status"] == "rejected"
    assert result["model_invoked"] is False
    assert result["failure"]["kind"] == "invalid_spec"
    assert "colour" in result["failure"]["message"]
    assert subjects(s, "mtor/bad")[0] == "mtor: bad rejected"
    assert s.invocations() == []
    assert s.claims() == []


def test_spec_changed_after_done_is_not_rerun(s: Site) -> None:
    s.push_specs({"t1": spec()})
    config = s.config("w1")
    s.run_once(config)
    branch = s.refs()["refs/heads/mtor/t1"]

    s.push_specs({"t1": spec("A different prompt entirely.\n")}, "edit a done task")
    s.run_once(config)

    assert s.refs()["refs/heads/mtor/t1"] == branch
    assert s.invocations() == ["t1.r1"]


def test_deleted_spec_is_not_run(s: Site) -> None:
    config = s.config("w1")
    s.push_specs({"keep": spec()})
    s.run_once(config)  # the worker has seen the branch before the spec comes and goes
    s.push_specs({"gone": spec()}, "add")
    s.push_specs({"gone": None}, "remove")

    s.run_once(config)

    assert "refs/heads/mtor/gone" not in s.refs()
    assert s.invocations() == ["keep.r1"]


def test_deleted_spec_is_not_run_by_a_fresh_worker(s: Site) -> None:
    s.push_specs({"gone": spec()}, "add")
    s.push_specs({"gone": None}, "remove")

    s.run_once(s.config("w1"))

    assert s.invocations() == []
    assert s.claims() == []


def test_force_push_of_the_watched_branch_reruns_nothing_done(s: Site) -> None:
    root = git("rev-parse", "HEAD", cwd=s.user)
    config = s.config("w1")
    s.push_specs({"t1": spec(), "t2": spec()})
    s.run_once(config)
    done = {r: o for r, o in s.refs().items() if r.startswith("refs/heads/mtor/")}

    # Rewrite history: the same t1 in a new commit, t2 gone, a new t3; force-pushed.
    git("reset", "--quiet", "--hard", root, cwd=s.user)
    (s.user / "tasks").mkdir()
    (s.user / "tasks" / "t1.md").write_bytes(spec())
    (s.user / "tasks" / "t3.md").write_bytes(spec())
    git("add", "tasks", cwd=s.user)
    git("commit", "--quiet", "--no-verify", "-m", "rewritten", cwd=s.user)
    git("push", "--quiet", "--force", "origin", "HEAD:main", cwd=s.user)

    s.run_once(config)

    refs = s.refs()
    assert {r: refs[r] for r in done} == done
    assert s.results() == {"t1": "succeeded", "t2": "succeeded", "t3": "succeeded"}
    assert sorted(s.invocations()) == ["t1.r1", "t2.r1", "t3.r1"]


def test_base_names_the_branch_the_work_starts_from(s: Site) -> None:
    git("checkout", "--quiet", "-b", "feature", cwd=s.user)
    (s.user / "FEATURE.md").write_text("only on the feature branch\n")
    git("add", "FEATURE.md", cwd=s.user)
    git("commit", "--quiet", "-m", "feature", cwd=s.user)
    git("push", "--quiet", "origin", "feature", cwd=s.user)
    feature = git("rev-parse", "HEAD", cwd=s.user)
    git("checkout", "--quiet", "main", cwd=s.user)
    s.push_specs({"t1": spec(base="feature")})

    s.run_once(s.config("w1"))

    result = s.result("t1")
    assert result["status"] == "succeeded"
    assert result["base_commit"] == feature
    git("merge-base", "--is-ancestor", feature, "mtor/t1", cwd=s.remote)
    assert git("show", "mtor/t1:FEATURE.md", cwd=s.remote) == "only on the feature branch"
    assert [f["path"] for f in result["changes"]["files"]] == ["AGENT_EDIT.md"]


def test_agent_commits_and_later_edits_are_both_kept(s: Site) -> None:
    s.push_specs({"t1": spec(agent="committer")})
    s.run_once(s.config("w1"))

    assert subjects(s, "mtor/t1")[:3] == [
        "mtor: t1 succeeded", "mtor: t1 agent changes (run 1)", "agent: its own commit"]
    assert git("show", "mtor/t1:AGENT_AFTER.md", cwd=s.remote) == "left uncommitted by the agent"
    paths = sorted(f["path"] for f in s.result("t1")["changes"]["files"])
    assert paths == ["AGENT_AFTER.md", "AGENT_EDIT.md"]


def test_agent_commit_is_kept_when_it_leaves_the_worktree_clean(s: Site) -> None:
    s.push_specs({"t1": spec(agent="committer-clean")})
    s.run_once(s.config("w1"))

    assert subjects(s, "mtor/t1")[:2] == ["mtor: t1 succeeded", "agent: its own commit"]
    result = s.result("t1")
    assert [f["path"] for f in result["changes"]["files"]] == ["AGENT_EDIT.md"]
    assert git("show", "mtor/t1:AGENT_EDIT.md", cwd=s.remote) == (
        "edited by counting_agent in t1.r1")
