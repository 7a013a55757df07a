"""The progress meter of the spawn loop (clock injected): readings only when due and changed,
the running totals of an event stream copied in, the last activity moved by output alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mtor_git.agent.progress import ProgressMeter


def _meter(every: float = 1.0) -> tuple[ProgressMeter, list[Mapping[str, Any]]]:
    seen: list[Mapping[str, Any]] = []
    return ProgressMeter(seen.append, 100.0, every=every), seen


def test_a_reading_is_handed_over_at_most_every_interval() -> None:
    meter, seen = _meter(every=1.0)
    for step in range(20):  # ten seconds of ticks every half second, output growing
        meter.tick(100.0 + step * 0.5, step * 10)
    assert len(seen) == 10
    assert [r["output_bytes"] for r in seen] == list(range(0, 200, 20))


def test_an_unchanged_reading_is_not_handed_over_again() -> None:
    meter, seen = _meter()
    for step in range(5):
        meter.tick(100.0 + step * 2, 7, lambda: {"turns": 2, "cost_usd": 0.5})
    assert len(seen) == 1  # nothing while neither output nor totals move ...
    meter.tick(120.0, 7, lambda: {"turns": 3, "cost_usd": 0.5})
    assert len(seen) == 2 and seen[-1]["turns"] == 3  # ... a new turn is new


def test_the_running_totals_are_copied_and_nothing_else_of_them() -> None:
    meter, seen = _meter()
    meter.tick(100.0, 5, lambda: {"turns": 3, "tool_calls": 2, "last_tool": "Edit",
                                  "last_file": "a.py", "cost_usd": 0.02, "events": 99,
                                  "cli_retries": {"count": 1, "statuses": [429], "wait_ms": 1}})
    reading = seen[-1]
    assert reading["turns"] == 3 and reading["last_file"] == "a.py"
    assert reading["cli_retries"] == {"count": 1, "statuses": [429], "wait_ms": 1}
    assert "events" not in reading


def test_totals_are_asked_only_when_a_reading_is_due() -> None:
    meter, _ = _meter(every=1.0)
    asked: list[float] = []

    def totals() -> dict[str, Any]:
        asked.append(1.0)
        return {}

    for step in range(100):
        meter.tick(100.0 + step * 0.05, 0, totals)
    assert len(asked) == 5


def test_the_last_activity_moves_with_output_only() -> None:
    meter, seen = _meter(every=1.0)
    meter.tick(100.0, 0)
    meter.tick(103.0, 10)
    meter.tick(106.0, 10)
    first, second = seen[0]["last_activity"], seen[1]["last_activity"]
    assert round(second - first, 1) == 3.0
    assert len(seen) == 2
