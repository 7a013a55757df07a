#!/usr/bin/env python3
"""Replay the incident: an agent that prints nothing and exits 1 at once.

OLD rule: "empty stdout + non-zero exit = rate limit", retry after a tiny sleep, one log line
per attempt. NEW: mtor_git.retry.loop.execute() with the default retry policy. Each gets the same
wall time (default 10 s); prints attempts, time to a terminal state and bytes logged.

    python bench/incident_replay.py [--seconds 10] [--old-sleep 0.01]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from loguru import logger

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtor_git.agent.profiles import AgentProfile  # noqa: E402
from mtor_git.retry.loop import ExecuteRequest, execute  # noqa: E402
from mtor_git.retry.policy import BreakerBoard, RetryPolicy  # noqa: E402

PROMPT = "---\ntitle: fix the table handler\n---\nGuard against spanned cells.\n"


def make_sandbox(root: Path) -> tuple[Path, Path]:
    """A git worktree and the incident's agent: silent, exit 1, immediately."""
    repo = root / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    agent = root / "silent-agent"
    agent.write_text("#!/bin/sh\nexit 1\n")
    agent.chmod(0o755)
    return repo, agent


def old_rule(agent: Path, repo: Path, seconds: float, pause: float, log: Path) -> dict[str, object]:
    """The loop that wrote 208 MB: every empty failure is read as a rate limit."""
    attempts, start = 0, time.monotonic()
    with log.open("a") as fh:
        while time.monotonic() - start < seconds:
            attempts += 1
            done = subprocess.run([str(agent), "-p", PROMPT], cwd=repo, capture_output=True)
            if done.returncode != 0 and not done.stdout.strip():
                fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} WARNING agent: rate limited "
                         f"(exit {done.returncode}, empty output); retrying attempt "
                         f"{attempts + 1}\n")
                time.sleep(pause)
                continue
            break
    return {"attempts": attempts, "terminal": None, "bytes": log.stat().st_size}


def new_rule(agent: Path, repo: Path, seconds: float, log: Path) -> dict[str, object]:
    sink = logger.add(log, level="DEBUG")
    shutdown = threading.Event()
    timer = threading.Timer(seconds, shutdown.set)  # the same wall-time allowance as OLD
    profile = AgentProfile(name="incident", command=(str(agent), "-p"))
    start = time.monotonic()
    timer.start()
    try:
        execution = execute(ExecuteRequest(
            prompt=PROMPT, profile_name="incident", profiles={"incident": profile}, cwd=repo,
            policy=RetryPolicy(), environ=dict(os.environ),
            breakers=BreakerBoard(RetryPolicy()), shutdown=shutdown))
    finally:
        elapsed = time.monotonic() - start
        timer.cancel()
        logger.remove(sink)
    kind = execution.failure.kind if execution.failure else "-"
    return {"attempts": len(execution.attempts), "terminal": elapsed,
            "bytes": log.stat().st_size, "status": f"{execution.status} ({kind})",
            "model_invoked": execution.model_invoked}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="wall time for each rule")
    parser.add_argument("--old-sleep", type=float, default=0.01, help="OLD rule's retry pause")
    args = parser.parse_args()
    logger.remove()  # the library logs into the bench's file sink only
    with tempfile.TemporaryDirectory(prefix="mtor-incident-") as tmp:
        root = Path(tmp)
        repo, agent = make_sandbox(root)
        old = old_rule(agent, repo, args.seconds, args.old_sleep, root / "old.log")
        new = new_rule(agent, repo, args.seconds, root / "new.log")
    rows = [("rule", "attempts", "time to terminal", "bytes logged", "outcome"),
            ("OLD: empty+exit!=0 = rate limit", str(old["attempts"]),
             f"none in {args.seconds:g} s", f"{old['bytes']:,}", "still retrying"),
            ("NEW: execute()", str(new["attempts"]), f"{new['terminal']:.3f} s",
             f"{new['bytes']:,}", f"{new['status']}, model_invoked={new['model_invoked']}")]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    per_min = old["attempts"] / args.seconds * 60  # type: ignore[operator]
    print(f"\nOLD pace: {per_min:,.0f} attempts/min, "
          f"{old['bytes'] / args.seconds * 600 / 1e6:,.1f} MB per 10 min of log")  # type: ignore[operator]
    return 0


if __name__ == "__main__":
    sys.exit(main())
