#!/usr/bin/env python3
"""Does the ready claude profile still need CLAUDE_CODE_MAX_RETRIES=0? The real Claude Code CLI
against the loopback stub (tests/anthropic_stub.py), through the attempt loop, each scenario with
the CLI's retries left on (watched live, the ready profile) and switched off (=0, as before):
status, attempts, wall seconds, and the requests the provider saw.

The loop's backoff is shrunk to 1-2 s so that the whole bench stays under a minute; with the
default policy (30 s initial backoff) every extra attempt of the `=0` column costs 30 s or more.

    PYTHONPATH=. python bench/cli_retries.py
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loguru import logger

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from anthropic_stub import (  # noqa: E402
    AnthropicStub,
    TextTurn,
    Turn,
    overloaded,
    rate_limited,
    unauthorized,
)

from mtor_git.agent.profiles import BUILTIN  # noqa: E402
from mtor_git.retry.loop import ExecuteRequest, execute  # noqa: E402
from mtor_git.retry.policy import BreakerBoard, RetryPolicy  # noqa: E402

CLAUDE = ROOT / ".cache-node" / "node_modules" / ".bin" / "claude"
SCENARIOS: dict[str, list[Turn]] = {
    "401 (bad key)": [unauthorized()],
    "429, 429, then 200": [rate_limited("1"), rate_limited("1"), TextTurn("done")],
    "529, then 200": [overloaded(), TextTurn("done")],
}


def run(turns: list[Turn], retries_off: bool, root: Path) -> str:
    profile = BUILTIN["claude"]
    if retries_off:
        profile = dataclasses.replace(profile, env={**profile.env,
                                                    "CLAUDE_CODE_MAX_RETRIES": "0"})
    worktree = root / "wt"
    worktree.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(worktree)], check=True)
    policy = RetryPolicy(max_attempts=4, initial_backoff=1.0, max_backoff=2.0, min_spacing=0.0)
    with AnthropicStub(turns) as stub:
        environ = {"PATH": f"{CLAUDE.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                   "HOME": str(root), "CLAUDE_CONFIG_DIR": str(root / ".claude"),
                   "ANTHROPIC_BASE_URL": stub.base_url, "ANTHROPIC_API_KEY": "sk-ant-bench"}
        started = time.monotonic()
        result = execute(ExecuteRequest(
            prompt="Do the task.", profile_name="claude", profiles={"claude": profile},
            cwd=worktree, policy=policy, environ=environ, breakers=BreakerBoard(policy),
            timeout=120.0))
        took = time.monotonic() - started
        requests = len(stub.main_requests)
    kind = result.failure.kind if result.failure else "-"
    retries = sum(a.cli_retries.count for a in result.attempts)
    return (f"{result.status:<9} {kind:<11} attempts {len(result.attempts)}  "
            f"{took:5.1f}s  requests {requests:2d}  cli_retries {retries}")


def main() -> None:
    if not CLAUDE.exists():
        raise SystemExit(f"no claude CLI at {CLAUDE}")
    logger.remove()
    for name, turns in SCENARIOS.items():
        for off in (False, True):
            with tempfile.TemporaryDirectory(prefix="mtor-cli-retries-") as tmp:
                label = "CLAUDE_CODE_MAX_RETRIES=0" if off else "retries on, watched live"
                print(f"{name:<20} {label:<26} {run(turns, off, Path(tmp))}", flush=True)


if __name__ == "__main__":
    main()
