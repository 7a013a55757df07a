"""Logging for the daemon and CLI: a human format on stderr (journald-aware), a size-rotated file
whose total size is bounded, an optional JSON file, and collapsing of repeated messages.

Logging must never stop the worker: every sink catches its own errors, a log file that cannot be
opened or written (missing or read-only folder, disk full) costs one warning and the worker goes
on with stderr, retrying the file later. The file sink is ours rather than loguru's path sink,
because loguru's prints a traceback to stderr for every failed write: on a full disk that is the
unbounded log this project was written against.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO, cast

from loguru import logger

from mtor_git.printable import printable, printable_coloured

if TYPE_CHECKING:
    from loguru import Record

CONTEXT_KEYS = ("worker", "task", "attempt")  # extra= fields shown in the human format
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
_PRIORITY = {"TRACE": 7, "DEBUG": 7, "INFO": 6, "SUCCESS": 5, "WARNING": 4, "ERROR": 3,
             "CRITICAL": 2}  # syslog priorities, for journald's `<N>` line prefix
_DECISION = "_mtor_collapse_admit"  # set on the record itself so every sink sees one decision
_MAX_WINDOWS = 4096
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


class _RotatingFile:
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


@dataclass
class _Window:
    """One distinct message seen in the current interval, and how often it came back."""

    start: float
    level: str
    message: str
    origin: dict[str, Any]
    extra: dict[str, Any]
    count: int = 0


class _Collapser:
    """Logs the first of identical messages and counts the rest for `interval` seconds, then
    logs one `... (repeated N times in the last 60s)` line. Shared by all sinks, thread-safe."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._windows: dict[tuple[str, ...], _Window] = {}
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._timer_due = 0.0
        self._closed = False

    def admit(self, record: Record) -> bool:
        """The loguru filter; the decision is stored on the record so each sink agrees."""
        fields = cast(dict[str, Any], record)
        decided = fields.get(_DECISION)
        if decided is None:
            decided = fields[_DECISION] = self._decide(record)
        return bool(decided)

    def _decide(self, record: Record) -> bool:
        exc = record["exception"]
        key = (record["level"].name, record["name"] or "", record["message"],
               exc.type.__name__ if exc and exc.type else "",
               *(str(record["extra"].get(k, "")) for k in CONTEXT_KEYS))
        now = time.monotonic()
        due: list[_Window] = []
        with self._lock:
            window = self._windows.get(key)
            if window is not None and now - window.start < self.interval:
                window.count += 1
                if window.count == 1:
                    self._arm(window.start + self.interval)
                return False
            if window is not None:
                del self._windows[key]
                due.append(window)
            origin = {k: record[k] for k in ("name", "function", "line", "module", "file")}
            self._windows[key] = _Window(now, record["level"].name, record["message"], origin,
                                         dict(record["extra"]))
            due.extend(self._expire(now))
        self._emit(due, now)
        return True

    def _expire(self, now: float) -> list[_Window]:
        """Drop finished windows from the front (oldest first); return those with repeats."""
        done: list[_Window] = []
        while self._windows:
            key, oldest = next(iter(self._windows.items()))
            if now - oldest.start < self.interval and len(self._windows) <= _MAX_WINDOWS:
                break
            del self._windows[key]
            done.append(oldest)
        return done

    def _arm(self, due: float) -> None:
        if self._closed or (self._timer is not None and self._timer_due <= due):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(max(0.0, due - time.monotonic()), self._sweep)
        self._timer.daemon = True
        self._timer_due = due
        self._timer.start()

    def _sweep(self) -> None:
        now = time.monotonic()
        with self._lock:
            self._timer = None
            finished = [k for k, w in self._windows.items() if now - w.start >= self.interval]
            done = [self._windows.pop(k) for k in finished]
            pending = [w.start + self.interval for w in self._windows.values() if w.count]
            if pending:
                self._arm(min(pending))
        self._emit(done, now)

    def close(self) -> None:
        """Log what is still being counted; no more timers."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            done, self._windows = list(self._windows.values()), {}
        self._emit(done, time.monotonic())

    def _emit(self, windows: list[_Window], now: float) -> None:
        for w in windows:
            if not w.count:
                continue
            span = math.ceil(min(now - w.start, self.interval))
            text = (f"{w.message} (repeated {w.count} time{'s' if w.count != 1 else ''} "
                    f"in the last {span}s)")

            def as_original(record: Record, origin: dict[str, Any] = w.origin) -> None:
                fields = cast(dict[str, Any], record)
                fields.update(origin)
                fields[_DECISION] = True  # never collapse the summary itself

            logger.patch(as_original).bind(**w.extra).log(w.level, text)


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


def _formatter(style: str) -> Callable[[Record], str]:
    def format_record(record: Record) -> str:
        present = tuple(k for k in CONTEXT_KEYS if k in record["extra"])
        return _template(style, present, _PRIORITY.get(record["level"].name, 6))
    return format_record


def _stderr_style(stream: TextIO) -> str:
    """journal when the stream is the one systemd connected to journald (JOURNAL_STREAM names
    its device and inode), tty for a terminal, plain otherwise."""
    try:
        info = os.fstat(stream.fileno())
        if os.environ.get("JOURNAL_STREAM") == f"{info.st_dev}:{info.st_ino}":
            return "journal"
        return "tty" if stream.isatty() else "plain"
    except (OSError, ValueError, AttributeError):
        return "plain"  # a StringIO or a closed stream


class _Escaped:
    """A human sink with control characters escaped: a spec title or an agent's output quoted in
    a message must not act on the terminal or the journal reader (`ESC[2J`, OSC titles, `\r`).
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


class _Reporter:
    """How a file sink reports its own trouble: from a fresh thread. The sink runs in its loguru
    writer thread, and logging from there would put into its own queue; with that queue's pipe
    full, the only thread that drains it would wait for itself forever."""

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __call__(self, level: str, text: str) -> None:
        thread = threading.Thread(target=logger.log, args=(level, text), daemon=True,
                                  name="mtor-git-log-report")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def join(self, timeout: float = 5.0) -> None:
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)


class LogHandle:
    """The sinks setup_logging added. `file` / `json_file` are None when not in use (not asked
    for, or unusable at start: see `fallbacks`)."""

    def __init__(self, sink_ids: list[int], collapser: _Collapser | None, reporter: _Reporter,
                 file: Path | None, json_file: Path | None, fallbacks: list[str]) -> None:
        self._sink_ids = sink_ids  # stderr first
        self._collapser = collapser
        self._reporter = reporter
        self.file = file
        self.json_file = json_file
        self.fallbacks = tuple(fallbacks)

    def flush(self) -> None:
        """Wait until everything logged so far has reached its sinks."""
        logger.complete()

    def close(self) -> None:
        """Log pending repeat counts, write what is queued and remove the sinks. Idempotent."""
        if self._collapser is not None:
            self._collapser.close()
            self._collapser = None
        # files first: draining them may report a failure, which stderr must still receive
        for sink_id in reversed(self._sink_ids):
            if sink_id == self._sink_ids[0]:
                self._reporter.join()
            try:
                logger.remove(sink_id)
            except ValueError:
                pass  # already removed by someone else
        self._sink_ids = []


def setup_logging(*, file: Path | None, rotation: str = "10 MB", retention: int = 5,
                  compression: str = "gz", json_file: Path | None = None,
                  stderr_level: str = "INFO", collapse_interval: float = 60.0,
                  file_level: str = "DEBUG", stderr: TextIO | None = None) -> LogHandle:
    """Replace loguru's default sink with ours. Raises ValueError only for a bad `rotation` or
    `compression`; an unusable file never raises."""
    max_bytes = parse_size(rotation)
    try:
        logger.remove(0)  # loguru's default stderr sink; other code's sinks are left alone
    except ValueError:
        pass
    collapser = _Collapser(collapse_interval) if collapse_interval > 0 else None
    admit = collapser.admit if collapser else None
    stream = stderr if stderr is not None else sys.stderr
    style = _stderr_style(stream)
    common: dict[str, Any] = {"filter": admit, "enqueue": True, "catch": True,
                              "backtrace": False, "diagnose": False}  # diagnose shows secrets
    ids = [logger.add(_Escaped(stream, coloured=style == "tty"), level=stderr_level,
                      format=_formatter(style), colorize=style == "tty", **common)]
    used: dict[str, Path | None] = {"file": None, "json": None}
    reporter = _Reporter()
    fallbacks: list[str] = []
    for kind, path in (("file", file), ("json", json_file)):
        if path is None:
            continue
        try:
            sink = _RotatingFile(path, max_bytes, retention, compression, reporter)
        except OSError as exc:
            fallbacks.append(f"log file {path} cannot be used ({exc.strerror or exc}); "
                             "logging to stderr only")
            continue
        shown = sink if kind == "json" else _Escaped(sink)
        ids.append(logger.add(shown, level=file_level, colorize=False, serialize=kind == "json",
                              format="{message}" if kind == "json" else _formatter("file"),
                              **common))
        used[kind] = path
    for text in fallbacks:
        logger.warning(text)
    return LogHandle(ids, collapser, reporter, used["file"], used["json"], fallbacks)
