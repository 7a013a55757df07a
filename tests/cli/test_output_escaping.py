"""Issue #16 F11 and F12, through a real daemon, a real remote and the CLI as a subprocess.

F11: a spec title holding `ESC[2J`, an OSC title sequence and `\\r`, and an agent printing escapes
on stderr: `result`, `pr`, `status` and `history` print every control character escaped (newlines
and tabs of their own layout kept); `--json` keeps the exact string.
F12: every verb whose stdout is a pipe closed by its reader (`mtor-git result x | head -1`) ends
quietly with status 141, as `git log | head` does: no traceback, nothing on stderr."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonfixtures import DAEMON_ENV, Site, mtor, site, spec
from hostilefixtures import run_daemon_once, worker_config

pytestmark = pytest.mark.slow

AGENT = Path(__file__).resolve().parents[1] / "fake_agents" / "escaping_agent.py"
TITLE = "clear \x1b[2J title \x1b]0;pwned\x07 cr\rend"
# Bytes that act on a terminal: C0 but newline and tab, DEL, and C1 (UTF-8 encoded).
RAW_CONTROLS = [bytes([c]) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F)] + [
    chr(c).encode() for c in range(0x80, 0xA0)]
VERBS = {"result": ["result", "t-esc"], "pr": ["pr", "t-esc"], "status": ["status"],
         "status <id>": ["status", "t-esc"], "history": ["history", "t-esc"],
         "watch": ["watch", "t-esc", "--timeout", "30s"]}


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One task with a hostile title, run by an agent printing escapes, published."""
    with site(tmp_path_factory.mktemp("esc")) as s:
        agents = {"esc": {"command": [str(AGENT)], "report": "claude-json"}}
        config = worker_config(s, "w1", agents, default_agent="esc")
        s.push_specs({"t-esc": spec(title=TITLE, agent="esc")})
        run_daemon_once(s, config)
        assert s.results() == {"t-esc": "succeeded"}
        yield s


def cli(s: Site, *argv: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(mtor(*argv), cwd=s.user, env=DAEMON_ENV, capture_output=True,
                          timeout=60)


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_human_output_shows_control_characters_escaped(done: Site, verb: str) -> None:
    out = cli(done, *VERBS[verb])
    assert out.returncode in (0, 1), out.stderr
    raw = [c for c in RAW_CONTROLS if c in out.stdout + out.stderr]
    assert raw == [], f"{verb} printed raw control characters {raw!r}"
    shown = out.stdout.decode()
    if verb in ("result", "pr", "status <id>"):
        assert "clear \\x1b[2J title \\x1b]0;pwned\\x07 cr\\rend" in shown
    if verb == "history":
        assert "clear\\x1b[2J title\\x1b]0;pwned\\x07" in shown
        assert "c1\\x9b31m del\\x7f end" in shown


def test_json_output_keeps_the_exact_strings(done: Site) -> None:
    result = json.loads(cli(done, "result", "t-esc", "--json").stdout)["result"]
    assert result["task"]["title"] == TITLE
    assert "title\x1b]0;pwned\x07" in result["attempts"][0]["stderr"]["head"]
    pr = json.loads(cli(done, "pr", "t-esc", "--json").stdout)
    assert TITLE in pr["title"]


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_a_reader_that_goes_away_ends_the_verb_quietly(done: Site, verb: str) -> None:
    """The read end of stdout is closed before the command writes: every write fails (EPIPE)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(mtor(*VERBS[verb]), cwd=done.user, env=DAEMON_ENV,
                              stdout=write_end, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(write_end)
    assert proc.stderr == b""
    assert proc.returncode == 141


def test_head_dash_one_reads_the_first_line_and_the_pipeline_succeeds(done: Site) -> None:
    argv = " ".join(mtor("history", "t-esc"))
    proc = subprocess.run(["bash", "-c", f"set -o pipefail; {argv} | head -1"], cwd=done.user,
                          env=DAEMON_ENV, capture_output=True, timeout=60)
    assert proc.stdout.decode().startswith("run 1 on mtor/t-esc: succeeded")
    assert b"Traceback" not in proc.stderr and b"BrokenPipe" not in proc.stderr
