"""What the attempt sandbox costs per attempt: the median wall time of one agent attempt running
`true`, plain and inside bubblewrap, measured two ways:

- raw: `subprocess.run(["true"])` against `bwrap <the attempt's argv> true` (start-up and
  teardown of the namespaces alone);
- attempt: `run_attempt` end to end (preflight done once, then spawn, watch, teardown; with the
  sandbox also the private HOME/TMPDIR made and removed), as the worker runs each attempt.

Where the workspace lies matters: bwrap creates the mount points of the checkout inside whatever
covers it. Under a tmpfs (a workspace such as /var/cache/mtor-git, covered as the worker's own)
they cost nothing; inside the private HOME or /tmp (a workspace under the daemon's HOME, the
platformdirs default, or under /tmp) they are real directories that the kernel lets go of only a
few ms each after the namespace ends, when the private dirs are removed. Both are measured.

Target: the sandbox adds < 30 ms per attempt.

    /work/main/.venv/bin/python bench/sandbox_cost.py [--runs 50]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mtor_git.agent.profiles import AgentProfile
from mtor_git.agent.sandbox import Sandbox, attempt_dirs, find_bwrap, plan, worker_hides
from mtor_git.agent.spawn import RunRequest, preflight, run_attempt

TARGET_MS = 30.0


def median_ms(action: Callable[[], object], runs: int) -> float:
    action()  # warm the page cache and the interpreter's imports
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    bwrap = find_bwrap()
    true = shutil.which("true")
    if bwrap is None or true is None:
        print("bwrap (package bubblewrap) or true is not installed", file=sys.stderr)
        return 2
    worst = 0.0
    for where, label in (("/var/tmp", "workspace under a covered dir (/var/tmp, like "
                          "/var/cache/mtor-git)"),
                         ("/tmp", "workspace inside the private /tmp (like one under HOME)")):
        print(f"\n{label}")
        worst = max(worst, measure(bwrap, true, Path(where), args.runs))
    verdict = "within" if worst < TARGET_MS else "OVER"
    print(f"\nworst sandbox cost per attempt: {worst:.1f} ms ({verdict} the {TARGET_MS:.0f} ms "
          "target)")
    return 0 if worst < TARGET_MS else 1


def measure(bwrap: str, true: str, base: Path, runs: int) -> float:
    """Print the medians for a workspace under `base`; the cost per attempt (ms)."""
    with tempfile.TemporaryDirectory(prefix="mtor-sandbox-bench-", dir=base) as tmp:
        root = Path(tmp).resolve()
        checkout = root / "ws" / "checkout"
        subprocess.run(["git", "init", "-q", str(checkout)], check=True)
        sandbox = Sandbox("bwrap", bwrap, worker_hides(root / "ws", root / "state"),
                          scratch=root / "ws" / ".attempts")
        spec = plan(sandbox, cwd=checkout)
        raw_plain = median_ms(lambda: subprocess.run([true], check=True), runs)
        with attempt_dirs(spec, sandbox.scratch) as ready:
            boxed_argv = list(ready.argv([true]))
            raw_boxed = median_ms(lambda: subprocess.run(boxed_argv, check=True), runs)
        profile = AgentProfile(name="true", command=(true,))
        plain = preflight(RunRequest(profile, "go", checkout, timeout=30))
        boxed = preflight(RunRequest(profile, "go", checkout, timeout=30, sandbox=sandbox))
        attempt_plain = median_ms(lambda: run_attempt(plain), runs)
        attempt_boxed = median_ms(lambda: run_attempt(boxed), runs)
    print(f"median of {runs} runs of `true` (ms)")
    print(f"{'':10}{'plain':>10}{'bwrap':>10}{'cost':>10}")
    for name, a, b in (("raw", raw_plain, raw_boxed), ("attempt", attempt_plain, attempt_boxed)):
        print(f"{name:10}{a:10.1f}{b:10.1f}{b - a:10.1f}")
    return attempt_boxed - attempt_plain


if __name__ == "__main__":
    sys.exit(main())
