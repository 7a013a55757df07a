"""Report parsers: what each agent CLI says about itself (claude-json, codex-jsonl, aider, text)
read from a Run's redacted output into a Report. Never raise: garbage gives parsed=False.

The parsers only collect facts (is_error, turns, usage, cost, denials, error messages); whether an
exit 0 or a failure is believable is the classifier's judgement.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from loguru import logger

from mtor_git.agent.evidence import Report, Run
from mtor_git.agent.refusals import aider_refusals, claude_refusals, codex_refusals

MAX_MESSAGES = 20
MAX_MESSAGE_CHARS = 500
MAX_RESULT_CHARS = 4000

# Lines that look like an error a human would want to see; the classifier decides what they mean.
_ERROR_LINE = re.compile(
    r"(\berror\b|exception|\bfailed\b|denied|unauthori[sz]ed|forbidden|invalid api key|"
    r"not logged in|rate.?limit|too many requests|overloaded|quota|credit balance|"
    r"timed out|\b(401|403|429|5\d\d)\b)", re.IGNORECASE)
_OPENS_AS_ERROR = re.compile(
    r"^\s*(?:[\w.]*(?:Error|Exception):|(?:error|fatal)\b|Traceback \(most recent call last\))",
    re.IGNORECASE)
# Codex retries on its own and says so; these events are not its final word.
_NOT_FINAL = re.compile(r"^\s*Reconnecting\.\.\.", re.IGNORECASE)
_AIDER_TOKENS = re.compile(
    r"Tokens:\s*(?P<sent>[\d.,]+[kKmM]?)\s+sent\b.*?(?P<recv>[\d.,]+[kKmM]?)\s+received", re.I)
_AIDER_COST = re.compile(
    r"Cost:\s*\$(?P<msg>[\d.,]+)\s+message,\s*\$(?P<session>[\d.,]+)\s+session", re.I)
_AIDER_ERROR = re.compile(
    r"^\s*(?:[\w.]*(?:Error|Exception)|litellm\.\w+):|has hit a token limit!")
_AIDER_RETRY = re.compile(r"^\s*Retrying in \d")


def parse_report(fmt: str, run: Run) -> Report:
    """The agent's own report, in format `fmt`; an unknown format is read as plain text."""
    parser = _PARSERS.get(fmt, _parse_text)
    try:
        return parser(fmt, run)
    except Exception as exc:  # a parser bug must not lose the attempt's evidence
        logger.warning("report parser {} failed: {!r}", fmt, exc)
        return Report(format=fmt, parsed=False, messages=_messages(_error_lines(run)))


# --- Claude Code --------------------------------------------------------------------------------

def _parse_claude(fmt: str, run: Run) -> Report:
    live = run.live.result if run.live is not None else None
    obj = dict(live) if live is not None else _claude_result(run.stdout.text())
    if obj is None and fmt == "claude-stream-json":
        return _from_events(fmt, run)
    if obj is None:
        return Report(format=fmt, parsed=False, messages=_messages(_error_lines(run)))
    is_error = _bool(obj.get("is_error"))
    result = _str(obj.get("result"))
    messages: list[str] = []
    if is_error and result:
        messages.append(result)
    errors = obj.get("errors")
    if isinstance(errors, list):
        messages += [e if isinstance(e, str) else json.dumps(e) for e in errors]
    denials = obj.get("permission_denials")
    return Report(
        format=fmt, parsed=True, is_error=is_error, subtype=_str(obj.get("subtype")),
        num_turns=_int(obj.get("num_turns")), cost_usd=_float(obj.get("total_cost_usd")),
        usage=_usage(obj.get("usage")), session_id=_str(obj.get("session_id")),
        api_error_status=_status(obj.get("api_error_status")),
        permission_denials=len(denials) if isinstance(denials, list) else
        (_int(denials) or 0),
        terminal_reason=_str(obj.get("terminal_reason")), messages=_messages(messages),
        result_text=_bounded(result, MAX_RESULT_CHARS), refusals=claude_refusals(denials))


def _claude_result(text: str) -> dict[str, Any] | None:
    """The one result object: the whole stdout, or (stream-json, noise) the last result line."""
    whole = json_object(text.strip())
    if whole is not None:
        return whole
    for line in reversed(text.splitlines()):
        obj = json_object(line.strip())
        if obj is not None and (obj.get("type") == "result" or "is_error" in obj):
            return obj
    return None


def _from_events(fmt: str, run: Run) -> Report:
    """A stream that ended without its `result` (we stopped it, or it died): what its events
    said, with the reason it was stopped as the one message."""
    log = run.live.log if run.live is not None else None
    if log is None or not log.totals.events:
        return Report(format=fmt, parsed=False, messages=_messages(_error_lines(run)))
    totals = log.totals
    stop = run.live.stop_evidence if run.live is not None else None
    usage = {"input_tokens": totals.input_tokens, "output_tokens": totals.output_tokens}
    return Report(format=fmt, parsed=True, is_error=True, num_turns=totals.turns,
                  cost_usd=totals.cost_usd, usage=usage, session_id=totals.session_id,
                  terminal_reason=run.stopped_by or "no_result",
                  messages=_messages([stop] if stop else _error_lines(run)))


# --- Codex --------------------------------------------------------------------------------------

def _parse_codex(fmt: str, run: Run) -> Report:
    events = [e for e in (json_object(line.strip()) for line in run.stdout.text().splitlines())
              if e is not None and isinstance(e.get("type"), str)]
    refusals = codex_refusals(events, run.stderr.text(), run.cwd)
    if not events:
        return Report(format=fmt, parsed=False, messages=_messages(_error_lines(run)),
                      refusals=refusals)
    usage: dict[str, int] = {}
    turns, items, failed, completed = 0, 0, False, False
    messages: list[str] = []
    session: str | None = None
    result: str | None = None
    reason: str | None = None
    for event in events:
        kind = event["type"]
        if kind == "thread.started":
            session = _str(event.get("thread_id")) or session
        elif kind == "turn.completed":
            turns, completed = turns + 1, True
            for key, value in _usage(event.get("usage")).items():
                usage[key] = usage.get(key, 0) + value
        elif kind == "turn.failed":
            failed, reason = True, "turn.failed"
            messages.append(_codex_message(event.get("error")) or "turn failed")
        elif kind == "error":
            text = _codex_message(event)
            if text and not _NOT_FINAL.match(text):
                failed = True
                messages.append(text)
        elif kind.startswith("item.") and isinstance(event.get("item"), dict):
            item = event["item"]
            if kind == "item.completed" and item.get("type") in _CODEX_MODEL_ITEMS:
                items += 1
            if item.get("type") == "agent_message":
                result = _str(item.get("text")) or result
    return Report(format=fmt, parsed=True, is_error=True if failed else (False if completed
                  else None), num_turns=turns, usage=usage, session_id=session,
                  terminal_reason=reason or ("turn.completed" if completed else None),
                  messages=_messages(dict.fromkeys(messages)),
                  result_text=_bounded(result, MAX_RESULT_CHARS), refusals=refusals,
                  model_items=items)


# What only a model answer produces (not `error`, which Codex uses for its own warnings).
_CODEX_MODEL_ITEMS = frozenset({"agent_message", "reasoning", "command_execution", "file_change",
                                "mcp_tool_call", "web_search", "todo_list"})


def _codex_message(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _str(value.get("message")) or _codex_message(value.get("error"))
    return None


# --- aider --------------------------------------------------------------------------------------

def _parse_aider(fmt: str, run: Run) -> Report:
    text = run.stdout.text() + "\n" + run.stderr.text()
    sent = received = turns = 0
    for match in _AIDER_TOKENS.finditer(text):
        sent += _tokens(match.group("sent"))
        received += _tokens(match.group("recv"))
        turns += 1
    costs = [m.group("session") for m in _AIDER_COST.finditer(text)]
    cost = _float(_number(costs[-1])) if costs else None
    lines = text.splitlines()
    # An error aider retried itself ("Retrying in N seconds..." follows it) was not its last word.
    errors = [line.strip() for i, line in enumerate(lines) if _AIDER_ERROR.search(line)
              and not any(_AIDER_RETRY.match(later) for later in lines[i + 1:i + 4])]
    refusals = aider_refusals(text)
    if not turns and not errors and cost is None:
        return Report(format=fmt, parsed=False, messages=_messages(_error_lines(run)),
                      refusals=refusals)
    usage = {"input_tokens": sent, "output_tokens": received} if turns else {}
    # After an exit 0 only aider's own final errors count (a retried one was not its last word).
    fallback = [] if run.exit_code == 0 else _error_lines(run)
    return Report(format=fmt, parsed=True, is_error=bool(errors), num_turns=turns,
                  cost_usd=cost, usage=usage, messages=_messages(errors or fallback),
                  refusals=refusals)


def _tokens(text: str) -> int:
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1].lower(), 1)
    value = _number(text.rstrip("kKmM"))
    return int(round(value * scale)) if value is not None else 0


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


# --- plain text ---------------------------------------------------------------------------------

def _parse_text(fmt: str, run: Run) -> Report:
    return Report(format=fmt, parsed=False, messages=_messages(_error_lines(run)))


_PARSERS: Mapping[str, Callable[[str, Run], Report]] = {
    "claude-json": _parse_claude, "claude-stream-json": _parse_claude,
    "codex-jsonl": _parse_codex, "aider": _parse_aider,
    "text": _parse_text,
}


# --- helpers ------------------------------------------------------------------------------------

def _error_lines(run: Run) -> list[str]:
    """Error-looking lines of unstructured output. After an exit 0 only lines that open as an
    error (`Error: ...`, `litellm.XError: ...`, `fatal: ...`, a traceback) count: the classifier
    reads `messages` as the agent's own error texts, and chatter must not turn a success into
    a failure."""
    pattern = _ERROR_LINE if run.exit_code != 0 else _OPENS_AS_ERROR
    texts = (run.stderr.text(), run.stdout.text())
    lines = [line.strip() for t in texts for line in t.splitlines()]
    found = [line for line in lines if line and pattern.search(line)]
    if run.spawn_error:
        found.insert(0, run.spawn_error)
    return found


def _messages(items: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for item in items:
        text = _bounded(item.strip(), MAX_MESSAGE_CHARS)
        if text and text not in out:
            out.append(text)
        if len(out) >= MAX_MESSAGES:
            break
    return tuple(out)


def _bounded(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + "…"


def json_object(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _status(value: object) -> int | None:
    if isinstance(value, str) and re.fullmatch(r"[0-9]{3}", value.strip()):
        return int(value.strip())
    return _int(value)


def _usage(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items()
            if isinstance(v, int) and not isinstance(v, bool) and v >= 0}
