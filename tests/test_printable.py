"""Control characters never reach a terminal raw: printable() escapes C0 (but newline and tab),
DEL, C1 and bidirectional overrides, and leaves every other text alone; the log's human sinks
(stderr and the file) show them escaped while the JSON sink keeps the exact string."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from loguru import logger

from mtor_git.logs import LogHandle, setup_logging
from mtor_git.printable import printable, printable_coloured

CONTROLS = {chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))} - {"\n", "\t"}
HOSTILE = "a\x1b[2J b\x1b]0;pwned\x07 c\rd e\x9b31m f\x7f g\u202eh"


@given(st.text())
def test_no_control_character_survives(text: str) -> None:
    shown = printable(text)
    assert not CONTROLS & set(shown)
    assert not {"\n", "\t"} & set(printable(text, lines=False))


@given(st.text(st.characters(blacklist_categories=("Cc", "Cf", "Zl", "Zp"))))
def test_text_without_controls_is_unchanged(text: str) -> None:
    assert printable(text) == text


def test_escapes_are_shown_readably() -> None:
    assert printable(HOSTILE) == ("a\\x1b[2J b\\x1b]0;pwned\\x07 c\\rd e\\x9b31m f\\x7f "
                                  "g\\u202eh")
    assert printable("one\n\ttwo") == "one\n\ttwo"
    assert printable("one\n\ttwo", lines=False) == "one\\x0a\\x09two"


def test_coloured_text_keeps_only_colour_codes() -> None:
    assert printable_coloured("\x1b[32mok\x1b[0m \x1b[2J\x07") == "\x1b[32mok\x1b[0m \\x1b[2J\\x07"


@pytest.fixture
def handle(tmp_path: Path) -> Iterator[tuple[LogHandle, io.StringIO]]:
    stderr = io.StringIO()
    opened = setup_logging(file=tmp_path / "h.log", json_file=tmp_path / "h.jsonl",
                           stderr=stderr, collapse_interval=0)
    yield opened, stderr
    opened.close()


def test_human_log_sinks_escape_and_the_json_sink_keeps_the_exact_text(
        handle: tuple[LogHandle, io.StringIO], tmp_path: Path) -> None:
    opened, stderr = handle
    logger.bind(task="t\x1b[2J").info("title {}", HOSTILE)
    opened.close()
    for text in (stderr.getvalue(), (tmp_path / "h.log").read_text()):
        assert not CONTROLS & set(text)
        assert "title a\\x1b[2J b\\x1b]0;pwned\\x07" in text and "task=t\\x1b[2J" in text
    row = json.loads((tmp_path / "h.jsonl").read_text().splitlines()[0])
    assert row["record"]["message"] == f"title {HOSTILE}"
