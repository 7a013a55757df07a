"""Collapsing of repeated log messages: the first is logged, the rest counted and summed up in
one line per interval, so a fault that repeats every poll cannot flood a sink."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from loguru import logger

from mtor_git.logs.format import CONTEXT_KEYS

if TYPE_CHECKING:
    from loguru import Record

_DECISION = "_mtor_collapse_admit"  # set on the record itself so every sink sees one decision
_MAX_WINDOWS = 4096


@dataclass
class _Window:
    """One distinct message seen in the current interval, and how often it came back."""

    start: float
    level: str
    message: str
    origin: dict[str, Any]
    extra: dict[str, Any]
    count: int = 0


class Collapser:
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
