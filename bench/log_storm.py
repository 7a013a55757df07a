#!/usr/bin/env python3
"""A poison-spec storm against a real daemon: how much log does it leave, how many attempts, and
does every task reach a terminal result?

The incident: an agent that prints nothing and exits 1 at once, read as a rate limit and retried
59,356 times in 10 minutes into a 208 MB log. Here `python -m mtor_git daemon` runs as a
subprocess with its real logging configuration (the rotating file sink, plus stderr, which is
what journald would store) against a local bare remote holding --specs poison specs (their
bodies start with `---` and `- ` items, the incident's argv killers) and an agent in
fake_agent.py's `silent-fail` mode. With --retry-every S the user also asks, every S seconds,
for one task to be run again (`mtor-git retry`), the other way a storm can be fed.

    python bench/log_storm.py [--seconds 60] [--specs 20] [--retry-every 0] [--mode silent-fail]

Prints the bytes of log written (file sink and stderr), the agent calls counted from outside,
the attempts recorded in the results, and how many tasks are terminal; exits 1 when the log
reaches --limit (64 KiB) or a task is not terminal.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from gitfixtures import git, make_bare_remote, user_clone  # noqa: E402

from mtor_git.logs import log_files  # noqa: E402

AGENT = ROOT / "tests" / "fake_agents" / "versioned_agent.py"
POISON = ("---\ntitle: poison {n}\n---\n---\n- guard against spanned cells\n"
          "- keep ~/ paths out of argv\n")


def build(root: Path, specs: int, mode: str) -> tuple[Path, Path, Path]:
    """The remote with `specs` poison specs, the user's clone, and the worker's config."""
    files = {f"tasks/poison-{n:03d}.md": POISON.format(n=n).encode() for n in range(specs)}
    remote = make_bare_remote(root / "remote.git", files={"README.md": b"# storm\n", **files})
    clone = user_clone(remote, root / "user")
    config = {
        "worker_id": "storm", "workspace": str(root / "ws"), "state_dir": str(root / "state"),
        "runtime_dir": str(root / "run"), "poll_interval": "1s", "max_parallel": 4,
        "repos": [{"url": str(remote)}],
        "agents": {"poison": {"command": [str(AGENT), mode], "report": "claude-json",
                              "env": {"FAKE_AGENT_CALLS": str(root / "calls.txt")}}},
        "log": {"file": str(root / "log" / "mtor-git.log")},  # every other log setting default
    }
    path = root / "config.yaml"
    path.write_text(json.dumps(config, indent=1))  # JSON is YAML
    return remote, clone, path


def storm(root: Path, config: Path, clone: Path, seconds: float, retry_every: float) -> int:
    """Run the daemon for `seconds` (asking for retries of one task meanwhile); its exit code."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with (root / "stderr.log").open("wb") as err:
        daemon = subprocess.Popen([sys.executable, "-m", "mtor_git", "daemon", "--config",
                                   str(config)], env=env, stdout=err, stderr=err, cwd=root)
        end = time.monotonic() + seconds
        next_retry = time.monotonic() + retry_every
        try:
            while time.monotonic() < end and daemon.poll() is None:
                if retry_every and time.monotonic() >= next_retry:
                    subprocess.run([sys.executable, "-m", "mtor_git", "retry", "poison-000"],
                                   cwd=clone, env=env, capture_output=True, timeout=60)
                    next_retry = time.monotonic() + retry_every
                time.sleep(0.1)
        finally:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(60)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
    return daemon.returncode


def results(remote: Path) -> list[dict[str, Any]]:
    refs = git("for-each-ref", "--format=%(refname:short)", "refs/heads/mtor/", cwd=remote)
    out = []
    for branch in refs.splitlines():
        task = branch.removeprefix("mtor/").split("-r")[0]
        if task.startswith("poison"):
            out.append(json.loads(git("show", f"{branch}:results/{task}.json", cwd=remote)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="storm duration")
    parser.add_argument("--specs", type=int, default=20, help="poison specs in the remote")
    parser.add_argument("--retry-every", type=float, default=0.0,
                        help="ask for a retry of poison-000 every S seconds (0: never)")
    parser.add_argument("--mode", default="silent-fail", help="fake_agent.py mode")
    parser.add_argument("--limit", type=int, default=64 * 1024, help="log bytes allowed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mtor-storm-") as tmp:
        root = Path(tmp)
        remote, clone, config = build(root, args.specs, args.mode)
        began = time.monotonic()
        code = storm(root, config, clone, args.seconds, args.retry_every)
        elapsed = time.monotonic() - began
        file_bytes = sum(p.stat().st_size for p in log_files(root / "log" / "mtor-git.log"))
        stderr_bytes = (root / "stderr.log").stat().st_size
        calls_file = root / "calls.txt"
        calls = len(calls_file.read_text().splitlines()) if calls_file.exists() else 0
        done = results(remote)
    terminal = sum(1 for r in done if r.get("terminal"))
    recorded = sum(len(r.get("attempts", [])) for r in done)
    statuses: dict[str, int] = {}
    for r in done:
        kind = (r.get("failure") or {}).get("kind", "-")
        statuses[f"{r['status']}/{kind}"] = statuses.get(f"{r['status']}/{kind}", 0) + 1
    total = file_bytes + stderr_bytes
    print(f"storm: {args.specs} poison spec(s), agent mode {args.mode}, "
          f"retry every {args.retry_every or '-'} s, {elapsed:.1f} s, daemon exit {code}")
    print(f"log written:     {total:,} bytes (file sink {file_bytes:,} + stderr "
          f"{stderr_bytes:,}); limit {args.limit:,}")
    print(f"attempts made:   {calls} agent call(s) counted by the agent; {recorded} recorded "
          f"in results")
    print(f"tasks terminal:  {terminal} of {len(done)} result(s) for {args.specs} spec(s); "
          f"{', '.join(f'{k} x{v}' for k, v in sorted(statuses.items()))}")
    ok = total < args.limit and terminal >= args.specs and code == 0
    print("verdict:         " + ("bounded" if ok else "NOT bounded (see above)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
