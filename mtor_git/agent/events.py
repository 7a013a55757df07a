"""The values of an agent's event stream (`claude-stream-json`, `codex-jsonl`) read while it runs:
the bounded line splitter, an Event, the running Totals and the bounded EventLog. The parser that
makes them is agent/event_parser.py.

An over-long line is cut and counted; memory stays bounded by `max_line`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

MAX_LINE = 1024 * 1024  # characters kept of one line; the rest of it is dropped (and counted)
MAX_SUMMARY = 300
LOG_HEAD = 10  # events kept from the start of an attempt ...
LOG_TAIL = 20  # ... and from its end (the bounded event log of the result)
STREAM_FORMATS = frozenset({"claude-stream-json", "codex-jsonl"})

EventKind = Literal["session", "turn", "tool", "retry", "error", "result", "rate_limit"]

# USD per million tokens (input, output), Anthropic's list prices: only an estimate of a running
# cost before the CLI's own `result` states it; cache reads are counted as input.
CLAUDE_PRICES: tuple[tuple[str, float, float], ...] = (
    ("opus-4-5", 5.0, 25.0), ("opus-4-6", 5.0, 25.0), ("opus-4-7", 5.0, 25.0),
    ("opus-4-8", 5.0, 25.0), ("opus", 15.0, 75.0), ("sonnet", 3.0, 15.0),
    ("haiku-4", 1.0, 5.0), ("haiku", 0.8, 4.0),
)


class LineSplitter:
    """Text pieces in, complete lines out; a line longer than `max_line` is cut to it."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max(max_line, 1)
        self.cut = 0  # lines that were longer than max_line
        self._parts: list[str] = []
        self._len = 0
        self._overflow = False

    def feed(self, text: str) -> list[str]:
        lines: list[str] = []
        start = 0
        while start < len(text):
            end = text.find("\n", start)
            piece = text[start:] if end < 0 else text[start:end]
            self._keep(piece)
            if end < 0:
                break
            lines.append(self._take())
            start = end + 1
        return lines

    def close(self) -> list[str]:
        """The last line when the stream did not end with a newline."""
        return [self._take()] if self._len or self._overflow else []

    def _keep(self, piece: str) -> None:
        room = self.max_line - self._len
        if len(piece) > room:
            piece, self._overflow = piece[:room], True
        if piece:
            self._parts.append(piece)
            self._len += len(piece)

    def _take(self) -> str:
        line = "".join(self._parts)
        if self._overflow:
            self.cut += 1
        self._parts, self._len, self._overflow = [], 0, False
        return line


@dataclass(frozen=True)
class Event:
    """One thing the agent did or said, as it happened; `at` is seconds since the attempt began."""

    kind: EventKind
    at: float
    summary: str
    tool: str | None = None
    file: str | None = None
    status: int | None = None  # an API error status (api_retry, error events)
    error: str | None = None  # the CLI's error name or message
    delay_ms: float | None = None  # how long the CLI waits before its own retry
    final: bool = True  # False for a notice the CLI follows with its own retry
    raw: str | None = None  # the line itself, bounded, for retry and error events (evidence)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "at": round(self.at, 3),
                                "summary": self.summary}
        for name in ("tool", "file", "status", "error", "delay_ms", "raw"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data


@dataclass(frozen=True)
class CliRetries:
    """The retries the CLI made on its own inside one attempt."""

    count: int = 0
    statuses: tuple[int | None, ...] = ()  # bounded: the first 50
    wait_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "statuses": list(self.statuses),
                "wait_ms": round(self.wait_ms, 1)}


@dataclass(frozen=True)
class Totals:
    """Running totals of one attempt's events (all zero/None before the first)."""

    events: int = 0
    turns: int = 0
    tool_calls: int = 0
    last_tool: str | None = None
    last_file: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None  # the CLI's own figure, else an estimate from tokens
    cost_estimated: bool = False
    cli_retries: CliRetries = field(default_factory=CliRetries)
    session_id: str | None = None
    last_event_at: float | None = None
    broken_lines: int = 0
    cut_lines: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"events": self.events, "turns": self.turns, "tool_calls": self.tool_calls,
                "last_tool": self.last_tool, "last_file": self.last_file,
                "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cost_usd": self.cost_usd, "cost_estimated": self.cost_estimated,
                "cli_retries": self.cli_retries.to_json(), "session_id": self.session_id,
                "last_event_at": self.last_event_at, "broken_lines": self.broken_lines,
                "cut_lines": self.cut_lines}


@dataclass(frozen=True)
class EventLog:
    """What an attempt's stream said: the totals and the first and last events."""

    totals: Totals = field(default_factory=Totals)
    head: tuple[Event, ...] = ()
    tail: tuple[Event, ...] = ()
    dropped: int = 0  # events between head and tail that were not kept

    def to_json(self) -> dict[str, Any]:
        return {"totals": self.totals.to_json(), "head": [e.to_json() for e in self.head],
                "tail": [e.to_json() for e in self.tail], "dropped": self.dropped}


def estimate_cost(model: str | None, input_tokens: int, output_tokens: int) -> float | None:
    """USD at list price for a known Claude model family; None for any other model."""
    if not model:
        return None
    low = model.lower()
    for family, inp, out in CLAUDE_PRICES:
        if family in low:
            return (input_tokens * inp + output_tokens * out) / 1_000_000
    return None
