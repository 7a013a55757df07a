"""The incremental event reader (mtor_git/agent/events.py): the bounded line splitter, the
claude stream-json and codex jsonl events, the running totals, and that no input makes it raise
or grow without bound."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from mtor_git.agent.event_parser import EventParser
from mtor_git.agent.events import LOG_HEAD, LOG_TAIL, LineSplitter, estimate_cost

SESSION = "7aa249b2-a50d-45fe-9a1e-5c3efc4b8d12"


def claude_lines() -> list[str]:
    """The shape Claude Code 2.1.197 printed against the stub: init, two Write calls, text,
    an api_retry, the result."""
    def assistant(n: int, block: dict[str, object]) -> dict[str, object]:
        return {"type": "assistant", "session_id": SESSION, "message": {
            "id": f"msg_{n}", "model": "claude-opus-4-8", "content": [block],
            "usage": {"input_tokens": 25, "output_tokens": 1}}}
    events = [
        {"type": "system", "subtype": "init", "session_id": SESSION, "model": "claude-opus-4-8"},
        assistant(1, {"type": "tool_use", "name": "Write",
                      "input": {"file_path": "a.txt", "content": "A"}}),
        {"type": "user", "message": {"content": [{"type": "tool_result"}]}},
        {"type": "system", "subtype": "api_retry", "attempt": 1, "max_retries": 10,
         "retry_delay_ms": 1000, "error_status": 429, "error": "rate_limit"},
        assistant(2, {"type": "tool_use", "name": "Edit",
                      "input": {"file_path": "b.txt", "old_string": "x"}}),
        assistant(3, {"type": "text", "text": "done"}),
        {"type": "result", "subtype": "success", "is_error": False, "num_turns": 3,
         "session_id": SESSION, "total_cost_usd": 0.0009,
         "usage": {"input_tokens": 75, "output_tokens": 21}},
    ]
    return [json.dumps(e) for e in events]


def test_splitter_joins_pieces_into_lines_whatever_the_cut() -> None:
    text = "one\ntwo\nthree\n"
    for size in range(1, len(text) + 1):
        splitter = LineSplitter()
        got = [line for i in range(0, len(text), size) for line in splitter.feed(text[i:i + size])]
        assert got + splitter.close() == ["one", "two", "three"]


def test_an_over_long_line_is_cut_and_counted_and_the_next_line_is_intact() -> None:
    splitter = LineSplitter(max_line=10)
    lines = splitter.feed("x" * 25) + splitter.feed("y" * 25 + "\nshort\n")
    assert lines == ["x" * 10, "short"]
    assert splitter.cut == 1


def test_claude_stream_gives_turns_tools_retries_session_and_the_result() -> None:
    parser = EventParser("claude-stream-json")
    parser.feed("\n".join(claude_lines()) + "\n", at=1.5)
    totals = parser.log().totals
    assert totals.turns == 3 and totals.tool_calls == 2
    assert (totals.last_tool, totals.last_file) == ("Edit", "b.txt")
    assert totals.session_id == SESSION
    assert totals.cli_retries.count == 1 and totals.cli_retries.statuses == (429,)
    assert totals.cli_retries.wait_ms == 1000
    assert totals.cost_usd == 0.0009 and not totals.cost_estimated
    assert parser.result is not None and parser.result["num_turns"] == 3
    kinds = [e.kind for e in parser.drain()]
    assert kinds.count("tool") == 2 and kinds[-1] == "result" and "retry" in kinds


def test_running_cost_is_estimated_from_tokens_until_the_result_states_it() -> None:
    parser = EventParser("claude-stream-json")
    parser.feed("\n".join(claude_lines()[:2]) + "\n", at=0.1)
    assert parser.totals.cost_estimated
    assert parser.totals.cost_usd == estimate_cost("claude-opus-4-8", 25, 1)
    assert estimate_cost("some-other-model", 10, 10) is None


def test_one_message_repeated_per_content_block_is_one_turn() -> None:
    block = {"type": "assistant", "message": {"id": "m1", "model": "claude-sonnet-4",
                                              "content": [], "usage": {"input_tokens": 10}}}
    parser = EventParser("claude-stream-json")
    parser.feed((json.dumps(block) + "\n") * 3, at=0.0)
    assert parser.totals.turns == 1 and parser.totals.input_tokens == 10


def test_codex_events_give_thread_turns_usage_and_reconnects() -> None:
    lines = [
        {"type": "thread.started", "thread_id": "th_1"},
        {"type": "error", "message": "Reconnecting... 1/5 (unexpected status 401 Unauthorized)"},
        {"type": "item.started", "item": {"type": "command_execution", "command": "ls"}},
        {"type": "turn.completed", "usage": {"input_tokens": 100, "output_tokens": 5}},
    ]
    parser = EventParser("codex-jsonl")
    parser.feed("".join(json.dumps(e) + "\n" for e in lines), at=0.2)
    totals = parser.totals
    assert totals.session_id == "th_1" and totals.turns == 1
    assert (totals.input_tokens, totals.output_tokens) == (100, 5)
    assert totals.cli_retries.count == 1 and totals.cli_retries.statuses == (401,)
    retry = next(e for e in parser.drain() if e.kind == "retry")
    assert retry.status == 401 and not retry.final and retry.raw


def test_broken_lines_are_counted_never_fatal() -> None:
    parser = EventParser("claude-stream-json")
    parser.feed('not json\n{"type": "result", "num_turns": "many"\n[1, 2]\n', at=0.0)
    assert parser.totals.broken_lines == 3 and parser.totals.events == 0


def test_the_event_log_keeps_the_first_and_last_events_and_counts_the_rest() -> None:
    parser = EventParser("claude-stream-json")
    retry = json.dumps({"type": "system", "subtype": "api_retry", "error_status": 529})
    parser.feed((retry + "\n") * 100, at=0.0)
    log = parser.log()
    assert len(log.head) == LOG_HEAD and len(log.tail) == LOG_TAIL
    assert log.dropped == 100 - LOG_HEAD - LOG_TAIL


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["type", "subtype", "message", "usage", "content", "id", "error",
                         "error_status", "retry_delay_ms", "session_id", "thread_id", "item",
                         "input", "name", "input_tokens", "output_tokens", "total_cost_usd",
                         "num_turns", "file_path", "changes"]), inner, max_size=6),
    max_leaves=20)
_types = st.sampled_from(["system", "assistant", "user", "result", "rate_limit_event",
                          "thread.started", "turn.completed", "turn.failed", "error",
                          "item.started", "item.completed"])


@st.composite
def event_lines(draw: st.DrawFn) -> str:
    obj = draw(st.dictionaries(st.sampled_from(["subtype", "message", "usage", "item", "error",
                                                "error_status", "session_id", "num_turns",
                                                "total_cost_usd"]), _json_values, max_size=5))
    obj["type"] = draw(_types)
    if draw(st.booleans()):
        obj["subtype"] = draw(st.sampled_from(["api_retry", "init", "success"]))
    return json.dumps(obj, allow_nan=True)


@settings(max_examples=300, deadline=None)
@given(fmt=st.sampled_from(["claude-stream-json", "codex-jsonl"]),
       lines=st.lists(event_lines() | st.text(max_size=80), max_size=30),
       cut=st.integers(1, 97))
def test_the_parser_never_raises_and_stays_bounded(fmt: str, lines: list[str], cut: int) -> None:
    parser = EventParser(fmt, max_line=200)
    text = "\n".join(lines)
    for i in range(0, len(text), cut):
        parser.feed(text[i:i + cut], at=float(i))
    parser.close(at=1e9)
    log = parser.log()
    assert len(log.head) <= LOG_HEAD and len(log.tail) <= LOG_TAIL
    assert all(len(e.summary) <= 301 for e in (*log.head, *log.tail))
    assert log.totals.turns >= 0 and (log.totals.cost_usd or 0) >= 0
    assert len(parser.drain()) <= LOG_HEAD + LOG_TAIL


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("ab\n{}\"x"), max_size=400),
       max_line=st.integers(1, 20), cut=st.integers(1, 50))
def test_the_splitter_never_keeps_more_than_max_line(text: str, max_line: int, cut: int) -> None:
    splitter = LineSplitter(max_line)
    out: list[str] = []
    for i in range(0, len(text), cut):
        out += splitter.feed(text[i:i + cut])
        assert splitter._len <= max_line
    out += splitter.close()
    assert all(len(line) <= max_line for line in out)
    assert len(out) in (text.count("\n"), text.count("\n") + 1)
    assert splitter.cut == sum(len(line) > max_line for line in text.split("\n"))
