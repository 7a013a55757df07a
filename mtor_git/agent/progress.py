"""What a running attempt has done so far, as the spawn loop sees it: bytes of output, the last
activity and, for an event-stream report, the running totals of its events (turns, tool calls,
last tool and file, tokens, cost, the CLI's own retries). The worker publishes it in the claim
(`claim.json` `progress`) for `status` and `watch`; the meter only measures and throttles.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

# Progress as a JSON object (it travels to the claim, which the queue layer writes).
ProgressSink = Callable[[Mapping[str, Any]], None]

EVERY = 1.0  # seconds between two readings handed to the sink (the claim is pushed less often)
# The running totals shown, when the report is an event stream (agent/events.py Totals).
TOTAL_FIELDS = ("turns", "tool_calls", "last_tool", "last_file", "input_tokens",
                "output_tokens", "cost_usd", "cost_estimated", "cli_retries", "session_id")


class ProgressMeter:
    """Fed on every tick of the spawn loop; hands a reading to `sink` when it changed, at most
    every `every` seconds (the result, not the meter, tells how the attempt ended)."""

    def __init__(self, sink: ProgressSink | None, t0: float, *, every: float = EVERY) -> None:
        self.sink, self.t0, self.every = sink, t0, every
        self.started = time.time() - (time.monotonic() - t0)  # the wall time of t0
        self._bytes = 0
        self._active = t0
        self._next = t0
        self._last: dict[str, Any] | None = None

    def tick(self, now: float, output_bytes: int,
             totals: Callable[[], Mapping[str, Any] | None] | None = None) -> None:
        """`totals` is asked only when a reading is due (it builds a value: not every tick)."""
        if output_bytes != self._bytes:
            self._bytes, self._active = output_bytes, now
        if self.sink is None or now < self._next:
            return
        self._next = now + self.every
        reading = self.reading(now, totals() if totals is not None else None)
        if reading != self._last:
            self._last = reading
            self.sink(reading)

    def reading(self, now: float, totals: Mapping[str, Any] | None) -> dict[str, Any]:
        data: dict[str, Any] = {"output_bytes": self._bytes,
                                "last_activity": round(self.started + (self._active - self.t0),
                                                       1)}
        for name in TOTAL_FIELDS:
            if totals is not None and name in totals:
                data[name] = totals[name]
        return data
