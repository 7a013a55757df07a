"""The human log formats: journald (`<N>` priority prefix, no time), a coloured terminal, plain
text for files; each shows the `extra=` context fields a record carries, control characters
escaped (`Escaped`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TextIO

from mtor_git.printable import printable, printable_coloured

if TYPE_CHECKING:
    from loguru import Record

CONTEXT_KEYS = ("worker", "task", "attempt")  # extra= fields shown in the human format
_PRIORITY = {"TRACE": 7, "DEBUG": 7, "INFO": 6, "SUCCESS": 5, "WARNING": 4, "ERROR": 3,
             "CRITICAL": 2}  # syslog priorities, for journald's `<N>` line prefix


@lru_cache(maxsize=64)
def _template(style: str, present: tuple[str, ...], priority: int) -> str:
    context = " ".join(f"{k}={{extra[{k}]}}" for k in present)
    context = f"{context} | " if context else ""
    if style == "journal":  # journald stamps time itself and reads the <N> as the priority
        head = f"\\<{priority}>{{level: <8}} {{name}} | "
    elif style == "tty":
        head = ("<green>{time:HH:mm:ss.SSS}</green> <level>{level: <8}</level> "
                "<cyan>{name}</cyan> | ")
    else:
        head = "{time:YYYY-MM-DD HH:mm:ss.SSSZZ} {level: <8} {process} {name}:{line} | "
    return head + context + "{message}\n{exception}"


def formatter(style: str) -> Callable[[Record], str]:
    def format_record(record: Record) -> str:
        present = tuple(k for k in CONTEXT_KEYS if k in record["extra"])
        return _template(style, present, _PRIORITY.get(record["level"].name, 6))
    return format_record


def stderr_style(stream: TextIO) -> str:
    """journal when the stream is the one systemd connected to journald (JOURNAL_STREAM names
    its device and inode), tty for a terminal, plain otherwise."""
    try:
        info = os.fstat(stream.fileno())
        if os.environ.get("JOURNAL_STREAM") == f"{info.st_dev}:{info.st_ino}":
            return "journal"
        return "tty" if stream.isatty() else "plain"
    except (OSError, ValueError, AttributeError):
        return "plain"  # a StringIO or a closed stream


class Escaped:
    """A human sink with control characters escaped: a spec title or an agent's output quoted in
    a message must not act on the terminal or the journal reader (`ESC[2J`, OSC titles, `\\r`).
    `coloured` keeps the SGR colour codes the tty format adds. The JSON sink keeps exact text."""

    def __init__(self, stream: Any, *, coloured: bool = False) -> None:
        self._stream = stream
        self._escape = printable_coloured if coloured else printable

    def write(self, message: str) -> None:
        self._stream.write(self._escape(message))

    def flush(self) -> None:
        flush = getattr(self._stream, "flush", None)
        if callable(flush):
            flush()

    def stop(self) -> None:
        stop = getattr(self._stream, "stop", None)
        if callable(stop):
            stop()
