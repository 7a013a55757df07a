"""The human log formats: journald (`<N>` priority prefix, no time), a coloured terminal, plain
text for files; each shows the `extra=` context fields a record carries."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, TextIO

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
