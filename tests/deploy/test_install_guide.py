"""deploy/systemd/INSTALL.md shows log lines in the format the daemon really writes to journald,
and uses the deploy commands rather than files of a source checkout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mtor_git.config.load import parse_config
from mtor_git.logs import setup_logging
from mtor_git.worker.daemon import check_remotes

GUIDE = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "INSTALL.md"
# journald strips the leading <priority>; what remains: level padded to 8, module, message.
JOURNAL_LINE = re.compile(r"(DEBUG|INFO|SUCCESS|WARNING|ERROR|CRITICAL) {1,5} ?"
                          r"mtor_git(\.[a-z_]+)+ \| \S.*")


def guide_log_lines() -> list[str]:
    text = GUIDE.read_text()
    block = re.search(r"Each line is the level.*?```text\n(.*?)```", text, re.S)
    assert block is not None, "the guide's log example is missing"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_guide_log_example_has_the_journal_shape() -> None:
    lines = guide_log_lines()
    assert len(lines) >= 2
    for line in lines:
        assert JOURNAL_LINE.fullmatch(line), line


def test_a_real_journal_line_has_that_shape(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    stream_path = tmp_path / "journal"
    with stream_path.open("w") as stream:
        info = stream_path.stat()
        monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino}")
        handle = setup_logging(file=None, stderr=stream)
        try:
            # A real daemon message: an unreachable remote at start is only a warning.
            config = parse_config("repos: [{url: 'git://127.0.0.1:9/nothing.git', name: tool}]\n"
                                  "agents: {x: {command: [/bin/true]}}\n")
            check_remotes(config)
        finally:
            handle.close()
    written = [line for line in stream_path.read_text().splitlines() if "tool" in line]
    assert written, stream_path.read_text()
    line = re.sub(r"^<\d>", "", written[0])
    assert JOURNAL_LINE.fullmatch(line), line


def test_guide_needs_no_source_checkout() -> None:
    text = GUIDE.read_text()
    for command in ("mtor-git deploy systemd --write", "mtor-git deploy config --write",
                    "mtor-git deploy env --write", "mtor-git hooks install-server"):
        assert command in text, command
    assert "daemon/config.example.yaml" not in text
    assert not re.search(r"\b(cp|install)\b[^\n]*deploy/systemd/", text)
