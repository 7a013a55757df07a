"""How long a daemon's slots sat idle while specs waited, read from its log alone: a slot is taken
from `running <id>` (after the claim) to `published <id>`; the backlog lasts until the last
`running` line of any daemon. Pure: log text in, figures out (bench/daemon_bench.py prints them,
and splits push -> agent start at each task's `running` line).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

_LINE = re.compile(r"^(\S+ \S+) .*\| (running|published) (\S+) ")


@dataclass(frozen=True)
class SlotLog:
    """One daemon's task intervals (start, end), unix seconds, in start order."""

    spans: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Idle:
    slot_seconds: float  # summed over the slots, while the backlog lasted
    share: float  # of all slot time in that window
    refill_ms: float  # median wait from a task's publication to the next start on that daemon


def read_log(text: str) -> SlotLog:
    starts: dict[str, float] = {}
    spans: list[tuple[float, float]] = []
    for what, task_id, when in _events(text):
        if what == "running":
            starts[task_id] = when
        elif task_id in starts:
            spans.append((starts.pop(task_id), when))
    return SlotLog(tuple(sorted(spans)))


def running_at(text: str) -> dict[str, float]:
    """Task id -> when its `running` line was logged (its claim won, its job submitted)."""
    return {task_id: when for what, task_id, when in _events(text) if what == "running"}


def _events(text: str) -> Iterator[tuple[str, str, float]]:
    for line in text.splitlines():
        m = _LINE.match(line)
        if m is not None:
            yield m[2], m[3], datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S.%f%z").timestamp()


def idle(log: SlotLog, slots: int, backlog_end: float) -> Idle:
    """Idle slot time from this daemon's first start until `backlog_end` (the last start)."""
    if not log.spans:
        return Idle(0.0, 0.0, float("nan"))
    begin = log.spans[0][0]
    events = sorted([(s, 1) for s, _ in log.spans] + [(e, -1) for _, e in log.spans])
    busy, last, idle_s = 0, begin, 0.0
    for when, step in events:
        clipped = min(max(when, begin), backlog_end)
        idle_s += max(0, slots - busy) * (clipped - last)
        last, busy = clipped, busy + step
    window = max(backlog_end - begin, 1e-9)
    ends = sorted(e for _, e in log.spans)
    starts = sorted(s for s, _ in log.spans)
    gaps = [min((s for s in starts if s >= e), default=e) - e for e in ends if e < backlog_end]
    return Idle(idle_s, idle_s / (slots * window),
                statistics.median(gaps) * 1000 if gaps else float("nan"))
