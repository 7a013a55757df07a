"""Verified results through the real daemon and a real remote: `verify:` runs in the task's
checkout after the agent; a failing check earns bounded fix rounds, each prompt told what failed;
the result says whether it was verified, and the work is pushed either way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from daemonfixtures import TESTS, Site, site, spec
from gitfixtures import git
from sandboxfixtures import with_toolchain

pytestmark = pytest.mark.slow
FIXING = TESTS / "fake_agents" / "fixing_agent.py"


def config(s: Site, repo_extra: dict[str, Any] | None = None) -> Path:
    path = s.config("w1")
    data = json.loads(path.read_text())
    logs = s.root / "agent-log"  # never a folder holding the worker's places: not shown
    logs.mkdir(exist_ok=True)
    log = str(logs / "prompts.log")
    data["agents"]["fixer"] = {"command": [str(FIXING), "--fixes"], "report": "claude-json",
                               "env": {"PROMPT_LOG": log}}
    data["agents"]["stubborn"] = {"command": [str(FIXING)], "report": "claude-json",
                                  "env": {"PROMPT_LOG": log}}
    data["agents"]["fixer"]["sandbox_paths"] = [{"path": str(logs), "mode": "rw"}]
    data["agents"]["stubborn"]["sandbox_paths"] = [{"path": str(logs), "mode": "rw"}]
    for name in ("fixer", "stubborn"):  # the fake agent itself may lie under a hidden folder
        data["agents"][name] = with_toolchain(data["agents"][name])
    data["repos"][0].update(repo_extra or {})
    path.write_text(json.dumps(data))
    return path


def prompts(s: Site) -> list[str]:
    log = s.root / "agent-log" / "prompts.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def files_on(s: Site, branch: str) -> list[str]:
    return git("ls-tree", "-r", "--name-only", branch, cwd=s.remote).split()


def test_a_fix_on_the_second_round_succeeds_verified(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"t": spec(agent="fixer", verify="test -f FIXED.md")})
        s.run_once(config(s))
        result = s.result("t")
        assert (result["status"], result["verified"]) == ("succeeded", True)
        v = result["verification"]
        assert v["rounds"] == 2 and v["fix_rounds"] == 2
        assert [(c["round"], c["passed"]) for c in v["checks"]] == [(1, False), (2, True)]
        assert [a["number"] for a in result["attempts"]] == [1, 2]
        second = prompts(s)[1]
        assert "Verification failed (round 1)" in second and "`test -f FIXED.md`" in second
        assert {"WORK.md", "FIXED.md"} <= set(files_on(s, "mtor/t"))
        body = git("show", "mtor/t:results/t.md", cwd=s.remote)
        assert "### Verification: verified (2 round(s)" in body


def test_a_task_never_fixed_fails_after_one_plus_fix_rounds_and_is_still_pushed(
        tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"t": spec(agent="stubborn", verify=["true", "test -f FIXED.md"],
                                fix_rounds=1)})
        s.run_once(config(s))
        result = s.result("t")
        assert (result["status"], result["verified"]) == ("failed", False)
        assert result["failure"]["kind"] == "verification_failed"
        assert result["verification"]["rounds"] == 2  # 1 + fix_rounds
        assert len(prompts(s)) == 2
        assert "WORK.md" in files_on(s, "mtor/t")  # the work is kept, unverified
        assert "**unverified**" in git("show", "mtor/t:results/t.md", cwd=s.remote)


def test_a_verify_command_that_cannot_start_is_a_configuration_fault(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"t": spec(agent="fixer", verify="no-such-tool-xyz --check")})
        s.run_once(config(s))
        result = s.result("t")
        assert result["status"] == "failed"
        assert result["failure"]["kind"] == "verify_unavailable"
        assert result["verification"]["rounds"] == 1 and len(prompts(s)) == 1


def test_the_repository_default_applies_and_the_spec_sets_its_rounds(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"t": spec(agent="fixer", fix_rounds=0)})
        s.run_once(config(s, {"verify": "test -f FIXED.md", "fix_rounds": 3}))
        result = s.result("t")
        assert result["verification"]["commands"] == ["test -f FIXED.md"]
        assert result["verification"]["fix_rounds"] == 0
        assert (result["status"], result["failure"]["kind"]) == ("failed",
                                                                 "verification_failed")


def test_a_task_without_verify_says_nothing_was_verified(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"t": spec(agent="fixer")})
        s.run_once(config(s))
        result = s.result("t")
        assert (result["status"], result["verified"], result["verification"]) == (
            "succeeded", None, None)
