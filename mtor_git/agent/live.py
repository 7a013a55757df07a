"""The live monitor of one attempt: it reads the agent's events as they arrive and says when to
stop it early: a terminal error the CLI is retrying on its own, a stall, a cost or turn cap, or
too long spent in the CLI's own retries. Pure decisions; spawn.py does the stopping.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from mtor_git.agent.event_parser import EventParser
from mtor_git.agent.events import STREAM_FORMATS, Event
from mtor_git.agent.evidence import LiveRecord, StoppedBy

DEFAULT_STALL_TIMEOUT = 600.0
_SCAN_ENTRIES = 20_000  # at most this many checkout entries are stat'ed per scan
_SCAN_EVERY = 5.0  # seconds between two scans of the checkout (less when stall_timeout is short)

# Says whether a retry event the CLI reported is terminal: the evidence quoted, or None.
Judge = Callable[[Event], str | None]


@dataclass(frozen=True)
class LiveLimits:
    """What stops an attempt before it exits; None switches a limit off."""

    stall_timeout: float | None = DEFAULT_STALL_TIMEOUT
    max_cost_usd: float | None = None
    max_turns: int | None = None
    max_cli_retry_wait: float | None = None  # seconds the CLI may spend waiting on its retries
    judge: Judge | None = field(default=None, compare=False)


@dataclass(frozen=True)
class LiveStop:
    stopped_by: StoppedBy
    evidence: str
    status: int | None = None  # the API status of the event it stops on


class LiveMonitor:
    """Fed by the spawn loop (`data` for every read, `check` on every tick)."""

    def __init__(self, fmt: str, limits: LiveLimits, cwd: Path, t0: float) -> None:
        self.limits, self.cwd, self.t0 = limits, cwd, t0
        self.parser = EventParser(fmt) if fmt in STREAM_FORMATS else None
        self.last_activity = t0
        self.last_event: Event | None = None
        self.stop: LiveStop | None = None
        self._pending: LiveStop | None = None
        stall = limits.stall_timeout
        self._scan_every = min(_SCAN_EVERY, stall / 4) if stall else _SCAN_EVERY
        self._next_scan = t0
        self._checkout: tuple[int, int, int] | None = None

    def data(self, nbytes: int, text: str, now: float, *, events: bool) -> None:
        """Bytes arrived (`text` is their redacted form); `events` for the event stream."""
        if nbytes:
            self.last_activity = now
        if events and self.parser is not None and text:
            self.parser.feed(text, now - self.t0)
            self._observe(self.parser.drain())

    def close(self, now: float) -> LiveRecord:
        stop = self.stop
        if self.parser is None:
            return LiveRecord(stop_evidence=stop.evidence if stop else None)
        self.parser.close(now - self.t0)
        self._observe(self.parser.drain())
        return LiveRecord(self.parser.log(), stop.evidence if stop else None,
                          self.parser.result, stop.status if stop else None)

    def check(self, now: float) -> LiveStop | None:
        """The reason to stop now, once; None to let the agent run on."""
        if self.stop is not None:
            return None
        found = self._pending or self._stalled(now)
        if found is not None:
            self.stop = found
            logger.info("live stop: {} ({})", found.stopped_by, found.evidence)
        return found

    def _observe(self, events: list[Event]) -> None:
        for event in events:
            self.last_event = event
            if self._pending is None:
                self._pending = self._judge(event)
        if self._pending is None and self.parser is not None:
            self._pending = self._caps()

    def _judge(self, event: Event) -> LiveStop | None:
        if event.kind != "retry" or event.final:
            return None
        judge = self.limits.judge
        verdict = judge(event) if judge is not None else None
        if verdict is not None:
            return LiveStop(StoppedBy.TERMINAL_EVENT, verdict, event.status)
        cap = self.limits.max_cli_retry_wait
        assert self.parser is not None
        waited = self.parser.t.retry_wait_ms / 1000
        if cap is not None and waited > cap:
            return LiveStop(StoppedBy.CLI_RETRY_WAIT, f"{event.raw or event.summary} (the CLI's "
                            f"own retries have waited {waited:.1f}s > max_cli_retry_wait "
                            f"{cap:g}s)", event.status)
        return None

    def _caps(self) -> LiveStop | None:
        assert self.parser is not None
        totals, limits = self.parser.t, self.limits
        cost = totals.cost_usd
        if limits.max_cost_usd is not None and cost is not None and cost > limits.max_cost_usd:
            how = "estimated from tokens" if totals.cost_estimated else "reported"
            return LiveStop(StoppedBy.MAX_COST, f"cost ${cost:.4f} ({how}) passed the cap "
                            f"${limits.max_cost_usd:.4f} at turn {totals.turns}")
        if limits.max_turns is not None and totals.turns > limits.max_turns:
            return LiveStop(StoppedBy.MAX_TURNS, f"turn {totals.turns} started past the cap of "
                            f"{limits.max_turns} turns")
        return None

    def _stalled(self, now: float) -> LiveStop | None:
        stall = self.limits.stall_timeout
        if stall is None:
            return None
        if now >= self._next_scan:
            self._next_scan = now + self._scan_every
            signature = checkout_signature(self.cwd)
            if signature != self._checkout:
                if self._checkout is not None:
                    self.last_activity = now
                self._checkout = signature
        idle = now - self.last_activity
        if idle < stall:
            return None
        last = self.last_event.summary if self.last_event else "no event at all"
        return LiveStop(StoppedBy.STALLED, f"no output, no event and no change in the checkout for "
                        f"{idle:.1f}s (stall_timeout {stall:g}s); last event: {last}")


def checkout_signature(root: Path, limit: int = _SCAN_ENTRIES) -> tuple[int, int, int]:
    """(entries, newest mtime in ns, total size) of the checkout, `.git` left out, at most
    `limit` entries stat'ed: cheap enough every few seconds, and any edit changes it."""
    count = newest = size = 0
    stack = [str(root)]
    while stack and count < limit:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.name == ".git":
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                    except OSError:
                        continue
                    count += 1
                    newest, size = max(newest, st.st_mtime_ns), size + st.st_size
                    if count >= limit:
                        break
        except OSError:
            continue
    return count, newest, size
