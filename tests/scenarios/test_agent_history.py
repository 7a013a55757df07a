"""The agent's own commits are pushed as they are, so what they carry counts, not only where the
agent ended (found by a hostile review of this round): a secret committed and then removed, a
secret hidden in submodule entries' object ids, and a history too large for max_change_bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from daemonfixtures import TESTS, site, spec
from hostilefixtures import CANARY_VAR, remote_objects, run_daemon_once, worker_config

pytestmark = pytest.mark.slow
AGENT = TESTS / "fake_agents" / "history_agent.py"
CANARY = "canary-0a1b2c3d4e5f6a7b"


def run(tmp_path: Path, mode: str, **extra: object) -> tuple[dict[str, object], bytes]:
    with site(tmp_path) as s:
        profile = {"command": [str(AGENT), mode], "report": "claude-json",
                   "requires_env": [CANARY_VAR], "pass_env": [CANARY_VAR],
                   "sandbox_paths": [{"path": str(AGENT.parent), "mode": "ro"}]}
        config = worker_config(s, "w1", {"h": profile}, default_agent="h",
                               retry={"max_attempts": 1}, **extra)
        s.push_specs({"t": spec()})
        run_daemon_once(s, config, {CANARY_VAR: CANARY})
        return s.result("t"), remote_objects(s.remote)


@pytest.mark.parametrize("mode", ["revert", "gitlink"])
def test_a_secret_anywhere_in_the_agents_commits_is_never_pushed(tmp_path: Path,
                                                                 mode: str) -> None:
    result, objects = run(tmp_path, mode)
    assert result["status"] == "failed"
    assert result["failure"]["kind"] == "secret_in_diff", result["failure"]  # type: ignore[index]
    assert CANARY.encode() not in objects
    assert CANARY.encode().hex().encode() not in objects


def test_commits_and_trees_count_toward_max_change_bytes(tmp_path: Path) -> None:
    result, objects = run(tmp_path, "big", max_file_bytes=1_000_000, max_change_bytes=2_000_000)
    assert result["status"] == "failed"
    assert result["failure"]["kind"] == "change_too_large", result["failure"]  # type: ignore[index]
    assert len(objects) < 1_000_000
