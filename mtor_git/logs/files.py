"""The log file sink: size-rotated, gzipped, its total size bounded, never raising from a write.

It is ours rather than loguru's path sink because loguru's prints a traceback to stderr for every
failed write: on a full disk that is the unbounded log this project was written against. A file
that cannot be opened or written costs one warning; the sink retries it later.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
_FILE_RETRY_SECONDS = 30.0
_TRUNCATED = b" [truncated]\n"


def parse_size(text: str) -> int:
    """Bytes in `10 MB`, `512KiB`, `2048` (a bare number is bytes). Units are always bytes,
    case-insensitive: KB = 1000, KiB = 1024. Raises ValueError."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"expected a size such as 10 MB, not {text!r}")
    size = int(float(match.group(1)) * _UNITS[(match.group(2) or "b").lower()])
    if size < 1024:
        raise ValueError(f"a log file size must be at least 1 KiB, not {text!r}")
    return size


def probe_log_file(path: Path) -> str | None:
    """Why `path` cannot be used as a log file (folder missing and not creatable, not writable),
    or None when it can. Creates the folder and the file, writes nothing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab"):
            pass
    except OSError as exc:
        return f"{exc.strerror or exc.__class__.__name__}: {exc.filename or path}"
    return None


def log_files(path: Path) -> list[Path]:
    """The log file and its rotated (possibly compressed) predecessors, oldest first."""
    pattern = re.compile(re.escape(path.stem) + r"\.\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_\d{6}"
                         + re.escape(path.suffix) + r"(\.gz)?")
    try:
        rotated = sorted(p for p in path.parent.iterdir() if pattern.fullmatch(p.name))
    except OSError:
        rotated = []
    return rotated + ([path] if path.exists() else [])


class RotatingFile:
    """A loguru stream sink: appends to `path`, rotates before it would pass `max_bytes`, keeps
    `retention` files in all (the current one included), gzips rotated ones. At most
    `max_bytes x retention` bytes on disk. Never raises from write()."""

    def __init__(self, path: Path, max_bytes: int, retention: int, compression: str,
                 report: Callable[[str, str], None]) -> None:
        if compression not in ("gz", "", "none"):
            raise ValueError(f"unsupported compression {compression!r}: use gz or none")
        self.path, self.max_bytes, self.retention = path, max_bytes, max(1, retention)
        self.compress = compression == "gz"
        self._report = report
        self._file: BinaryIO | None = None
        self._size = 0
        self._retry_at = 0.0
        self._dropped = 0
        self._failing = False  # warn once per outage, not once per retry
        self._open()  # raises OSError: the caller falls back to stderr only
        self._prune()

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab")  # open for the sink's lifetime
        self._size = self._file.tell()

    def write(self, message: str) -> None:
        data = message.encode("utf-8", "backslashreplace")
        if len(data) > self.max_bytes:  # one message may not break the bound
            data = data[: self.max_bytes - len(_TRUNCATED)] + _TRUNCATED
        try:
            if self._file is None:
                if time.monotonic() < self._retry_at:
                    self._dropped += 1
                    return
                self._open()
                self._report("INFO", f"log file {self.path} is writable again; {self._dropped} "
                             "messages could not be written to it")
                self._dropped, self._failing = 0, False
            if self._size and self._size + len(data) > self.max_bytes:
                self._rotate()
            assert self._file is not None
            self._file.write(data)
            self._file.flush()
            self._size += len(data)
        except OSError as exc:
            self._fail(exc)

    def flush(self) -> None:
        """Writes are flushed as they happen; loguru calls this after each one."""

    def stop(self) -> None:
        self._close()

    def _close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError:
                pass

    def _fail(self, exc: OSError) -> None:
        self._close()
        self._dropped += 1
        self._retry_at = time.monotonic() + _FILE_RETRY_SECONDS
        if not self._failing:
            self._failing = True
            self._report("WARNING", f"cannot write log file {self.path} "
                         f"({exc.strerror or exc}); logging to stderr only, retrying every "
                         f"{_FILE_RETRY_SECONDS:g}s")

    def _rotate(self) -> None:
        self._close()
        stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S_%f")
        rotated = self.path.with_name(f"{self.path.stem}.{stamp}{self.path.suffix}")
        os.replace(self.path, rotated)
        self._open()
        if self.compress:
            self._gzip(rotated)
        self._prune()

    @staticmethod
    def _gzip(path: Path) -> None:
        target = path.with_name(path.name + ".gz")
        try:
            with open(path, "rb") as src, gzip.open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        except OSError:
            target.unlink(missing_ok=True)  # keep the uncompressed file; it still counts
            return
        path.unlink()

    def _prune(self) -> None:
        rotated = [p for p in log_files(self.path) if p != self.path]
        for old in rotated[: max(0, len(rotated) - (self.retention - 1))]:
            old.unlink(missing_ok=True)
