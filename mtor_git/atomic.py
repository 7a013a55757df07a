"""Crash-safe JSON files: written whole or not at all (tmp, fsync, rename, fsync of the folder; the
fsyncs left out for a file a restart derives again), and a file that cannot be read is set aside
rather than trusted or lost."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from loguru import logger


def write_json_atomic(path: Path, data: Any, *, durable: bool = True) -> None:
    """Replace `path` with `data` as JSON so a reader sees the old file or the new, never half.
    `durable`: on disk before this returns (two fsyncs); without, a crash may keep the old
    file (for what a restart derives again anyway)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, path)
    if not durable:
        return
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_json(path: Path) -> Any | None:
    """The JSON in `path`; None when missing. A corrupt file is renamed `*.corrupt-<time>`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        os.replace(path, aside)
        logger.warning("state file {} was unreadable; set aside as {} and rebuilt from the "
                       "remote", path, aside.name)
        return None
