#!/usr/bin/env python3
"""A fake agent CLI that behaves like the real ones (see shared/FIELD-NOTES.md) in one mode.

Usage: fake_agent.py MODE [OPTIONS] [PROMPT]

Options are parsed strictly, like Claude Code's CLI: any other word starting with `-` (a
positional `---` frontmatter, a `- item` bullet) prints `error: unknown option '<word>'` on
stderr, nothing on stdout, and exits 1 (mode `codex*`: clap's `error: unexpected argument
'<word>' found`, exit 2). Known options:
  -p, --print, --verbose             accepted and ignored
  --output-format F, --permission-mode M   accepted and ignored
  --model M                          recorded; echoed in the JSON report as `model`
  --prompt-file PATH                 read the prompt from PATH instead of stdin
  --sleep S                          sleep S seconds before acting (look like a model call)
  --fails N                          for `429-then-success`: fail the first N calls (default 1)
  --mb N                             for `huge`: megabytes to print (default 50)
  --secret-var NAME                  for `echo-secret`: the variable to leak (default FAKE_SECRET)
  --signal N                         for `signal`: the signal to die by (default 9, SIGKILL)
  --reset EPOCH                      for `usage-limit`: the reset time to announce
  --cost USD                         for the error modes (429, 529, 401): total_cost_usd to report
Without a positional PROMPT the prompt is read from stdin (or --prompt-file).

Every call appends its argv to `.fake_agent/argv.jsonl` in the cwd, writes the prompt it
received to `.fake_agent/prompt.txt` (bytes exactly) and counts calls in `.fake_agent/calls`.

Modes (stdout / exit code):
  success           claude JSON success; writes `AGENT_EDIT.md`; num_turns 3, usage, cost / 0
  silent-fail       nothing on stdout or stderr / 1 (the incident)
  429-then-success  claude JSON error api_error_status 429 for the first --fails calls / 1;
                    then as `success`
  529               claude JSON error, api_error_status null, "API Error: Repeated 529
                    Overloaded errors" / 1
  401               claude JSON error, api_error_status 401, "Invalid API key" / 1
  500               claude JSON error, api_error_status 500, "API Error: 500 Internal server
                    error" / 1
  usage-limit       claude JSON error "Claude AI usage limit reached|<--reset>" for the first
                    --fails calls / 1; then as `success`
  hang              spawns a sleeping child, writes both pids to `.fake_agent/pids`, sleeps
                    forever (SIGTERM is ignored by the child, so only SIGKILL ends it)
  huge              --mb megabytes of lines on stdout (and 1 MB on stderr), then claude JSON / 0
  echo-secret       the secret variable's value on stdout, stderr and in the JSON report, also
                    written in two flushed halves / 0
  signal            kills itself with --signal
  env-dump          its whole environment as one JSON object on stdout / 0
  denied            claude JSON success with is_error false but permission_denials non-empty,
                    no file written / 0
  codex             codex JSONL: thread.started, a non-final `Reconnecting... 1/5` error,
                    agent_message, turn.completed with usage / 0
  codex-fail        codex JSONL ending in turn.failed (429 retry limit) / 1
  aider-success     aider text with a `Tokens: ... Cost: ...` line; writes AGENT_EDIT.md / 0
  aider-error       aider text with `litellm.AuthenticationError: ...` / 0 (as aider does)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

STATE = Path(".fake_agent")
FLAGS = {"-p", "--print", "--verbose"}
VALUED = {"--output-format", "--permission-mode", "--model", "--prompt-file", "--sleep",
          "--fails", "--mb", "--secret-var", "--signal", "--cost",
          "--reset"}


def parse(argv: list[str], codex: bool) -> tuple[dict[str, str], list[str]]:
    opts: dict[str, str] = {}
    positional: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in FLAGS:
            pass
        elif arg in VALUED and i + 1 < len(argv):
            opts[arg] = argv[i + 1]
            i += 1
        elif arg.startswith("-") and arg != "-":
            if codex:
                sys.stderr.write(f"error: unexpected argument '{arg}' found\n")
                sys.exit(2)
            sys.stderr.write(f"error: unknown option '{arg}'\n")
            sys.exit(1)
        else:
            positional.append(arg)
        i += 1
    return opts, positional


def read_prompt(opts: dict[str, str], positional: list[str]) -> bytes:
    if positional and positional != ["-"]:
        return " ".join(positional).encode()
    if "--prompt-file" in opts:
        return Path(opts["--prompt-file"]).read_bytes()
    return sys.stdin.buffer.read()


def record(prompt: bytes) -> int:
    STATE.mkdir(exist_ok=True)
    with (STATE / "argv.jsonl").open("a") as fh:
        fh.write(json.dumps(sys.argv) + "\n")
    (STATE / "prompt.txt").write_bytes(prompt)
    calls_file = STATE / "calls"
    calls = int(calls_file.read_text() or 0) + 1 if calls_file.exists() else 1
    calls_file.write_text(str(calls))
    return calls


def claude(is_error: bool, result: str, *, status: int | None = None, turns: int = 0,
           cost: float = 0.0, denials: int = 0, model: str | None = None) -> str:
    usage = {"input_tokens": 1200 if turns else 0, "output_tokens": 300 if turns else 0,
             "cache_read_input_tokens": 0}
    data = {"type": "result", "subtype": "success", "is_error": is_error, "duration_ms": 1234,
            "num_turns": turns, "result": result, "session_id": "sess-123",
            "total_cost_usd": cost, "usage": usage,
            "permission_denials": [{"tool_name": "Write", "tool_use_id": f"t{i}",
                                    "tool_input": {"file_path": "x"}} for i in range(denials)],
            "terminal_reason": "completed"}
    if status is not None or is_error:
        data["api_error_status"] = status
    if model:
        data["model"] = model
    return json.dumps(data)


def out(text: str, code: int = 0) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    sys.exit(code)


def hang() -> None:
    child = subprocess.Popen([sys.executable, "-c",
                              "import signal, time\n"
                              "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                              "time.sleep(3600)"])
    (STATE / "pids").write_text(f"{os.getpid()} {child.pid}\n")
    sys.stdout.write("thinking...\n")
    sys.stdout.flush()
    time.sleep(3600)


def huge(mb: int) -> None:
    line = b"x" * 1023 + b"\n"
    block = line * 1024
    for _ in range(mb):
        sys.stdout.buffer.write(block)
    sys.stderr.buffer.write(block)
    sys.stdout.buffer.write(claude(False, "done", turns=1, cost=0.01).encode() + b"\n")
    sys.stdout.flush()


def echo_secret(name: str) -> None:
    value = os.environ.get(name, "")
    half = len(value) // 2
    sys.stdout.write(f"token is {value}\n")
    sys.stdout.write("split: " + value[:half])
    sys.stdout.flush()
    time.sleep(0.2)
    sys.stdout.write(value[half:] + "\n")
    sys.stdout.flush()
    sys.stderr.write(f"debug: auth {value}\n")
    out(claude(False, f"used {value}", turns=1, cost=0.001))


def codex(fail: bool) -> None:
    events: list[dict[str, object]] = [
        {"type": "thread.started", "thread_id": "th-1"},
        {"type": "turn.started"},
        {"type": "error", "message": "Reconnecting... 1/5 (stream disconnected before "
                                     "completion)"},
    ]
    if fail:
        msg = "exceeded retry limit, last status: 429 Too Many Requests"
        events += [{"type": "error", "message": msg},
                   {"type": "turn.failed", "error": {"message": msg}}]
    else:
        events += [{"type": "item.completed",
                    "item": {"id": "i1", "type": "agent_message", "text": "All done."}},
                   {"type": "turn.completed",
                    "usage": {"input_tokens": 900, "cached_input_tokens": 100,
                              "output_tokens": 80}}]
    for event in events:
        sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()
    sys.exit(1 if fail else 0)


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "success"
    opts, positional = parse(sys.argv[2:], codex=mode.startswith("codex"))
    prompt = read_prompt(opts, positional)
    calls = record(prompt)
    time.sleep(float(opts.get("--sleep", "0")))
    model = opts.get("--model")
    cost = float(opts.get("--cost", "0"))
    if mode == "success":
        Path("AGENT_EDIT.md").write_text("edited by the fake agent\n")
        out(claude(False, "Done: edited AGENT_EDIT.md", turns=3, cost=0.0123, model=model))
    elif mode == "silent-fail":
        sys.exit(1)
    elif mode == "429-then-success":
        if calls <= int(opts.get("--fails", "1")):
            out(claude(True, "API Error: Request rejected (429) · rate limited", status=429,
                       cost=cost), 1)
        Path("AGENT_EDIT.md").write_text("edited after a 429\n")
        out(claude(False, "Done after retry", turns=2, cost=0.01, model=model))
    elif mode == "529":
        out(claude(True, "API Error: Repeated 529 Overloaded errors", cost=cost), 1)
    elif mode == "401":
        out(claude(True, "Invalid API key · Fix external API key", status=401, cost=cost), 1)
    elif mode == "500":
        out(claude(True, "API Error: 500 Internal server error", status=500, cost=cost), 1)
    elif mode == "usage-limit":
        if calls <= int(opts.get("--fails", "1")):
            out(claude(True, f"Claude AI usage limit reached|{opts.get('--reset', '0')}"), 1)
        out(claude(False, "Done after the limit reset", turns=1, cost=0.01, model=model))
    elif mode == "hang":
        hang()
    elif mode == "huge":
        huge(int(opts.get("--mb", "50")))
    elif mode == "echo-secret":
        echo_secret(opts.get("--secret-var", "FAKE_SECRET"))
    elif mode == "signal":
        os.kill(os.getpid(), int(opts.get("--signal", str(int(signal.SIGKILL)))))
    elif mode == "env-dump":
        out(json.dumps(dict(os.environ)))
    elif mode == "denied":
        out(claude(False, "I could not write the file", turns=2, cost=0.004, denials=2))
    elif mode in ("codex", "codex-fail"):
        codex(mode == "codex-fail")
    elif mode == "aider-success":
        Path("AGENT_EDIT.md").write_text("edited by fake aider\n")
        out("Applied edit to AGENT_EDIT.md\n"
            "Tokens: 1.2k sent, 300 received. Cost: $0.01 message, $0.02 session.")
    elif mode == "aider-error":
        out("litellm.AuthenticationError: AnthropicException - invalid x-api-key\n"
            "The API provider is not able to authenticate you. Check your API key.")
    else:
        sys.stderr.write(f"fake_agent: unknown mode {mode!r}\n")
        sys.exit(64)


if __name__ == "__main__":
    main()
