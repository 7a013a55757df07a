"""Incremental parsing of an agent's event stream while it runs: one Event per line worth knowing
(Claude Code stream-json, Codex `exec --json`) and the running totals.

Never raises on input: a line that is not a JSON object, or of a shape not foreseen, is counted as
broken; memory stays bounded by the splitter's `max_line` plus the small event log.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from mtor_git.agent.events import (
    LOG_HEAD,
    LOG_TAIL,
    MAX_LINE,
    MAX_SUMMARY,
    CliRetries,
    Event,
    EventLog,
    LineSplitter,
    Totals,
    estimate_cost,
)
from mtor_git.agent.reports import json_object


@dataclass(slots=True)
class _Running:
    """The parser's own counters, mutated in place (a frozen Totals per event costs 4x)."""

    events: int = 0
    turns: int = 0
    tool_calls: int = 0
    last_tool: str | None = None
    last_file: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    cost_estimated: bool = False
    retries: int = 0
    retry_statuses: list[int | None] = field(default_factory=list)
    retry_wait_ms: float = 0.0
    session_id: str | None = None
    last_event_at: float | None = None
    broken_lines: int = 0


class EventParser:
    """Feed redacted text as it arrives; read new events with `drain`, `totals`, and `log`."""

    def __init__(self, fmt: str, *, max_line: int = MAX_LINE) -> None:
        self.fmt = fmt
        self.splitter = LineSplitter(max_line)
        self.t = _Running()
        self.result: dict[str, Any] | None = None  # claude's final `result` object
        self._new: list[Event] = []
        self._head: list[Event] = []
        self._tail: deque[Event] = deque(maxlen=LOG_TAIL)
        self._seen = 0
        self._message_id: str | None = None
        self._message_usage: tuple[int, int] = (0, 0)
        self._model: str | None = None
        self._read = _read_claude if fmt == "claude-stream-json" else _read_codex

    @property
    def totals(self) -> Totals:
        t = self.t
        return Totals(
            events=t.events, turns=t.turns, tool_calls=t.tool_calls, last_tool=t.last_tool,
            last_file=t.last_file, input_tokens=t.input_tokens, output_tokens=t.output_tokens,
            cost_usd=t.cost_usd, cost_estimated=t.cost_estimated,
            cli_retries=CliRetries(t.retries, tuple(t.retry_statuses), t.retry_wait_ms),
            session_id=t.session_id, last_event_at=t.last_event_at,
            broken_lines=t.broken_lines, cut_lines=self.splitter.cut)

    def feed(self, text: str, at: float) -> None:
        for line in self.splitter.feed(text):
            self._line(line, at)

    def close(self, at: float) -> None:
        for line in self.splitter.close():
            self._line(line, at)

    def drain(self) -> list[Event]:
        """The events since the last drain."""
        new, self._new = self._new, []
        return new

    def log(self) -> EventLog:
        tail = tuple(self._tail)
        return EventLog(self.totals, tuple(self._head), tail,
                        max(0, self._seen - len(self._head) - len(tail)))

    def _line(self, line: str, at: float) -> None:
        line = line.strip()
        if not line:
            return
        obj = json_object(line)
        if obj is None:
            self.t.broken_lines += 1
            return
        try:
            events = self._read(self, obj, at)
        except Exception:  # a shape we did not foresee is a broken line, never a crash
            self.t.broken_lines += 1
            return
        self.t.events += 1
        self.t.last_event_at = at
        for event in events:
            self._emit(event)

    def _emit(self, event: Event) -> None:
        self._seen += 1
        self._new.append(event)
        if len(self._new) > LOG_HEAD + LOG_TAIL:  # nobody drains: keep it bounded anyway
            del self._new[: len(self._new) - LOG_TAIL]
        if len(self._head) < LOG_HEAD:
            self._head.append(event)
        else:
            self._tail.append(event)

    # --- totals updates shared by both formats ---------------------------------------------

    def note_session(self, session: str | None) -> None:
        if session and self.t.session_id != session:
            self.t.session_id = session[:200]

    def note_tool(self, tool: str, file: str | None) -> None:
        t = self.t
        t.tool_calls += 1
        t.last_tool = tool[:100]
        t.last_file = file[:300] if file else t.last_file

    def note_retry(self, status: int | None, delay_ms: float | None) -> None:
        t = self.t
        t.retries += 1
        t.retry_wait_ms += delay_ms or 0.0
        if len(t.retry_statuses) < 50:
            t.retry_statuses.append(status)

    def note_message(self, message_id: str | None, usage: tuple[int, int],
                     model: str | None) -> None:
        """A claude assistant message (one per model turn, repeated per content block)."""
        t = self.t
        self._model = model or self._model
        if message_id is None or message_id != self._message_id:
            self._message_id, self._message_usage = message_id, (0, 0)
            t.turns += 1
        before = self._message_usage
        t.input_tokens += max(usage[0] - before[0], 0)
        t.output_tokens += max(usage[1] - before[1], 0)
        self._message_usage = (max(usage[0], before[0]), max(usage[1], before[1]))
        if not t.cost_usd or t.cost_estimated:
            estimate = estimate_cost(self._model, t.input_tokens, t.output_tokens)
            if estimate is not None:
                t.cost_usd, t.cost_estimated = estimate, True

    def note_usage(self, input_tokens: int, output_tokens: int, cost: float | None) -> None:
        t = self.t
        t.input_tokens += input_tokens
        t.output_tokens += output_tokens
        if cost is not None:
            t.cost_usd, t.cost_estimated = cost, False


# --- Claude Code stream-json --------------------------------------------------------------------

def _read_claude(p: EventParser, obj: dict[str, Any], at: float) -> list[Event]:
    kind, sub = obj.get("type"), obj.get("subtype")
    p.note_session(_str(obj.get("session_id")))
    if kind == "system" and sub == "api_retry":
        status, delay = _status(obj.get("error_status")), _num(obj.get("retry_delay_ms"))
        p.note_retry(status, delay)
        error = _str(obj.get("error"))
        return [Event("retry", at, _summary(f"api_retry {obj.get('attempt')}/"
                      f"{obj.get('max_retries')}: status {status} {error or ''}"),
                      status=status, error=error, delay_ms=delay, final=False,
                      raw=_raw(obj))]
    if kind == "system" and sub == "init":
        return [Event("session", at, _summary(f"session {p.t.session_id} model "
                                              f"{obj.get('model')}"))]
    if kind == "assistant" and isinstance(obj.get("message"), dict):
        return _claude_message(p, obj["message"], at)
    if kind == "result":
        p.result = obj
        usage = _dict(obj.get("usage"))
        t = p.t
        t.turns = max(t.turns, _int(obj.get("num_turns")))
        t.input_tokens = max(t.input_tokens, _int(usage.get("input_tokens")))
        t.output_tokens = max(t.output_tokens, _int(usage.get("output_tokens")))
        cost = _num(obj.get("total_cost_usd"))
        if cost is not None:
            p.note_usage(0, 0, cost)
        return [Event("result", at, _summary(f"result {sub}: is_error {obj.get('is_error')}"),
                      status=_status(obj.get("api_error_status")))]
    if kind == "rate_limit_event":
        return [Event("rate_limit", at, _summary(json.dumps(obj.get("rate_limit_info")
                                                            or obj)[:MAX_SUMMARY]))]
    return []


def _claude_message(p: EventParser, message: dict[str, Any], at: float) -> list[Event]:
    usage = _dict(message.get("usage"))
    tokens_in = (_int(usage.get("input_tokens")) + _int(usage.get("cache_read_input_tokens"))
                 + _int(usage.get("cache_creation_input_tokens")))
    turns_before = p.t.turns
    p.note_message(_str(message.get("id")), (tokens_in, _int(usage.get("output_tokens"))),
                   _str(message.get("model")))
    events: list[Event] = []
    if p.t.turns > turns_before:
        events.append(Event("turn", at, f"turn {p.t.turns}"))
    content = message.get("content")
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "tool_use":
            name = _str(block.get("name")) or "?"
            args = _dict(block.get("input"))
            file = _str(args.get("file_path")) or _str(args.get("path")) or \
                _str(args.get("notebook_path"))
            p.note_tool(name, file)
            events.append(Event("tool", at, _summary(f"{name} {file or ''}"), tool=name,
                                file=file))
    return events


# --- Codex exec --json --------------------------------------------------------------------------

def _read_codex(p: EventParser, obj: dict[str, Any], at: float) -> list[Event]:
    kind = obj.get("type")
    if kind == "thread.started":
        p.note_session(_str(obj.get("thread_id")))
        return [Event("session", at, _summary(f"thread {p.t.session_id}"))]
    if kind == "turn.completed":
        usage = _dict(obj.get("usage"))
        p.note_usage(_int(usage.get("input_tokens")), _int(usage.get("output_tokens")), None)
        p.t.turns += 1
        return [Event("turn", at, f"turn {p.t.turns} completed")]
    if kind in ("error", "turn.failed"):
        message = _codex_message(obj.get("error") if kind == "turn.failed" else obj) or kind
        retrying = kind == "error" and message.lower().lstrip().startswith("reconnecting")
        status = _status_in(message)
        if retrying:
            p.note_retry(status, None)
        return [Event("retry" if retrying else "error", at, _summary(message), status=status,
                      error=message[:MAX_SUMMARY], final=not retrying, raw=_raw(obj))]
    item = obj.get("item")
    if kind == "item.started" and isinstance(item, dict):
        tool, file = _codex_tool(item)
        if tool is not None:
            p.note_tool(tool, file)
            return [Event("tool", at, _summary(f"{tool} {file or ''}"), tool=tool, file=file)]
    return []


def _codex_tool(item: dict[str, Any]) -> tuple[str | None, str | None]:
    kind = _str(item.get("type"))
    if kind == "command_execution":
        return "command", None
    if kind == "file_change":
        changes = item.get("changes")
        first = changes[0] if isinstance(changes, list) and changes else {}
        return "file_change", _str(first.get("path")) if isinstance(first, dict) else None
    if kind in ("mcp_tool_call", "web_search"):
        return kind, None
    return None, None


def _codex_message(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _str(value.get("message")) or _codex_message(value.get("error"))
    return None


def _status_in(message: str) -> int | None:
    """The HTTP status a Codex message names (`unexpected status 401 Unauthorized`, `last
    status: 429`), or None."""
    low = message.lower()
    for marker in ("status: ", "status "):
        at = low.find(marker)
        if at >= 0:
            digits = low[at + len(marker):at + len(marker) + 3]
            if digits.isdigit():
                return int(digits)
    return None


# --- helpers ------------------------------------------------------------------------------------

def _raw(obj: dict[str, Any]) -> str:
    """The event as one bounded JSON line, without the ids that only make it longer."""
    kept = {k: v for k, v in obj.items() if k not in ("uuid", "session_id")}
    return _summary(json.dumps(kept, ensure_ascii=False))


def _summary(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_SUMMARY else text[:MAX_SUMMARY] + "…"


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if number == number and 0 <= number < float("inf") else None


def _status(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 999:
        return value
    return None
