"""Resumed sessions across rounds, through the real daemon and a real remote: a verify fix round
continues the session of the round before, and a follow-up continues the session of the task it
continues, where the profile has `resume_args`; without them every round starts afresh. The fake
agent reports session `s-1` (tests/fake_agents/fixing_agent.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from daemonfixtures import TESTS, Site, site, spec
from sandboxfixtures import with_toolchain

pytestmark = pytest.mark.slow
FIXING = TESTS / "fake_agents" / "fixing_agent.py"


def config(s: Site) -> Path:
    path = s.config("w1")
    data = json.loads(path.read_text())
    logs = s.root / "agent-log"  # its own folder: the sandbox never shows one holding the
    logs.mkdir(exist_ok=True)     # worker's places (s.root holds the workers' dirs)
    for name, resume in (("resumer", ["--resume", "{session_id}"]), ("fresh", [])):
        data["agents"][name] = with_toolchain(
            {"command": [str(FIXING), "--fixes"], "report": "claude-json",
             "env": {"PROMPT_LOG": str(logs / "prompts.log")}, "resume_args": resume,
             "sandbox_paths": [{"path": str(logs), "mode": "rw"}]})
    path.write_text(json.dumps(data))
    return path


def prompts(s: Site) -> list[str]:
    log = s.root / "agent-log" / "prompts.log"
    return [json.loads(line) for line in log.read_text().splitlines()]


def argv_tails(result: dict[str, Any]) -> list[list[str]]:
    return [a["argv"][-2:] for a in result["attempts"]]


def test_a_fix_round_resumes_the_session_of_the_round_before(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"t": spec(agent="resumer", verify="test -f FIXED.md")})
        s.run_once(config(s))
        result = s.result("t")
        assert (result["status"], result["verified"]) == ("succeeded", True)
        first, second = result["attempts"]
        assert "--resume" not in first["argv"]
        assert second["argv"][-2:] == ["--resume", "s-1"]
        assert second["resumed_from"] == "s-1"
        # The fix round's prompt says itself why; not the transient-fault preface.
        assert prompts(s)[1].startswith("Edit AGENT_EDIT.md.")
        assert "Verification failed (round 1)" in prompts(s)[1]


def test_without_resume_args_a_fix_round_starts_afresh(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"t": spec(agent="fresh", verify="test -f FIXED.md")})
        s.run_once(config(s))
        result = s.result("t")
        assert result["verified"] is True and len(result["attempts"]) == 2
        assert all("--resume" not in a["argv"] for a in result["attempts"])


def test_a_followup_resumes_the_session_of_the_task_it_continues(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"root": spec("First.\n", agent="resumer"),
                      "more": spec("More.\n", agent="resumer", continues="root")}, "two")
        s.run_once(config(s))
        root = s.result("root")
        more = s.result("more", branch="mtor/root")
        assert "--resume" not in root["attempts"][0]["argv"]
        assert more["status"] == "succeeded"
        assert more["attempts"][0]["argv"][-2:] == ["--resume", "s-1"]
        assert prompts(s)[1] == "More.\n"


def test_a_followup_with_another_profile_starts_afresh(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"root": spec("First.\n", agent="fresh"),
                      "more": spec("More.\n", agent="resumer", continues="root")}, "two")
        s.run_once(config(s))
        more = s.result("more", branch="mtor/root")
        assert more["status"] == "succeeded" and "--resume" not in more["attempts"][0]["argv"]
