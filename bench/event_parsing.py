"""What reading an agent's event stream live costs: the parsing time per 100k Claude Code
stream-json events, and the memory while a 500 MB stream goes through the parser (lines of every
size, over-long ones included), fed in the 64 KiB pieces the spawn loop reads.

    PYTHONPATH=. python bench/event_parsing.py [--events 100000] [--mb 500]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Iterator

from mtor_git.agent.event_parser import EventParser
from mtor_git.agent.events import MAX_LINE

READ = 65536


def sample_lines() -> list[str]:
    """One cycle of a realistic session: a turn with a tool call, its result, a retry notice."""
    def assistant(n: int) -> str:
        return json.dumps({"type": "assistant", "session_id": "s", "message": {
            "id": f"msg_{n}", "model": "claude-opus-4-8", "content": [
                {"type": "tool_use", "id": f"t{n}", "name": "Edit",
                 "input": {"file_path": f"src/mod{n}.py", "old_string": "a" * 80,
                           "new_string": "b" * 80}}],
            "usage": {"input_tokens": 1200, "output_tokens": 90}}})
    result = json.dumps({"type": "user", "message": {"content": [
        {"type": "tool_result", "tool_use_id": "t", "content": "x" * 400}]}})
    retry = json.dumps({"type": "system", "subtype": "api_retry", "attempt": 1,
                        "max_retries": 10, "retry_delay_ms": 512.0, "error_status": 429,
                        "error": "rate_limit"})
    return [assistant(1), result, assistant(2), result, retry]


def bench_events(count: int) -> None:
    lines = sample_lines()
    text = "\n".join(lines) + "\n"
    cycles = max(count // len(lines), 1)
    parser = EventParser("claude-stream-json")
    blob = text * cycles
    started = time.perf_counter()
    for i in range(0, len(blob), READ):
        parser.feed(blob[i:i + READ], at=0.0)
    took = time.perf_counter() - started
    events = cycles * len(lines)
    print(f"parsing: {events} events ({len(blob) / 1e6:.1f} MB) in {took:.2f}s = "
          f"{took / events * 100_000:.2f}s per 100k events "
          f"({took / events * 1e6:.1f} us/event); turns {parser.totals.turns}, "
          f"tool calls {parser.totals.tool_calls}, CLI retries "
          f"{parser.totals.cli_retries.count}")


def stream(mb: int) -> Iterator[str]:
    """`mb` megabytes of events in READ-sized pieces: the sample cycle, with a 4 MB line (a tool
    result pasted whole) every 50 MB, which the splitter must cut."""
    cycle = "\n".join(sample_lines()) + "\n"
    chunk = cycle * max(READ // len(cycle), 1)
    huge = '{"type": "user", "content": "' + "z" * (4 * 1024 * 1024) + '"}\n'
    sent, next_huge = 0, 0
    while sent < mb * 1_000_000:
        if sent >= next_huge:
            for i in range(0, len(huge), READ):
                yield huge[i:i + READ]
            sent += len(huge)
            next_huge += 50_000_000
        yield chunk
        sent += len(chunk)


def bench_memory(mb: int) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    parser = EventParser("claude-stream-json")
    started = time.perf_counter()
    total = 0
    for piece in stream(mb):
        parser.feed(piece, at=0.0)
        total += len(piece)
    parser.close(at=0.0)
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    totals = parser.log().totals
    print(f"memory: {total / 1e6:.0f} MB stream in {took:.1f}s ({total / 1e6 / took:.0f} MB/s); "
          f"peak RSS grew {(after - before) / 1024:.1f} MB (max line {MAX_LINE // 1024} KiB); "
          f"{totals.events} events, {totals.cut_lines} lines cut, "
          f"{totals.broken_lines} broken")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--mb", type=int, default=500)
    args = ap.parse_args()
    bench_memory(args.mb)  # first: the other bench's blob would set the peak RSS
    bench_events(args.events)


if __name__ == "__main__":
    main()
