"""A result's failure message says what the evidence shows (issue 16, F15): an agent that exits
0 without the report its profile expects did not "report an error"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonfixtures import FAKE_AGENT, Site, site, spec

pytestmark = pytest.mark.slow


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running


def test_agent_error_without_a_report_does_not_claim_a_reported_error(s: Site) -> None:
    # aider's plain text where a Claude JSON report is expected: exit 0, no report at all.
    mute = {"command": [str(FAKE_AGENT), "aider-success"], "report": "claude-json"}
    s.push_specs({"t1": spec()})
    s.run_once(s.config("w1", default_agent="mute", extra={"agents": {"mute": mute}}))

    failure = s.result("t1")["failure"]
    assert (failure["kind"], failure["rule"]) == ("agent_error", "exit0_without_report")
    assert "reported an error" not in failure["message"]
    assert "exited 0" in failure["message"] and "report" in failure["message"]
    assert "no claude-json report" in failure["evidence"]
