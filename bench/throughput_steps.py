"""Where a task's time goes when instant tasks queue up (issue 14, "slots never idle"): one
in-process worker with 2 slots runs N instant tasks (`run_once`) against a real `git daemon` on
loopback; prints the time per task in each git, process and disk step (summed over the slots'
threads, daemon_bench.breakdown) and the pushes per task by the ref they update, next to the two
pushes (claim, result) the pygit2 floor counts.

    PYTHONPATH=. python bench/throughput_steps.py [--tasks 60]

Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench"), str(ROOT)]

import daemon_bench  # noqa: E402
from daemonfixtures import site, spec  # noqa: E402
from loguru import logger  # noqa: E402

from mtor_git import git as gitops  # noqa: E402
from mtor_git.queue import protocol  # noqa: E402
from mtor_git.worker import cycle  # noqa: E402

# Besides daemon_bench's steps: the cycle itself, what it does per waiting spec, the claim.
EXTRA = ((protocol, ("read_view",)),
         (cycle, ("find_candidates", "acquire")), (cycle.Worker, ("cycle", "_consider")))


@contextlib.contextmanager
def pushes() -> Iterator[dict[str, list[float]]]:
    """Per destination ref kind (task ids masked, deletions apart): [seconds, calls] while the
    block runs."""
    seen: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    original = gitops.push

    def counted(repo: Any, refspecs: list[str], *args: Any, **kwargs: Any) -> Any:
        kind = " + ".join(sorted(("delete " if r.startswith(":") else "")
                                 + re.sub(r"t\d{4}", "<id>", r.split(":")[-1]) for r in refspecs))
        t0 = time.perf_counter()
        try:
            return original(repo, refspecs, *args, **kwargs)
        finally:
            seen[kind][0] += time.perf_counter() - t0
            seen[kind][1] += 1

    setattr(gitops, "push", counted)  # noqa: B010 - wrapped for the block, as breakdown()
    try:
        yield seen
    finally:
        setattr(gitops, "push", original)  # noqa: B010


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=60)
    args = parser.parse_args()
    logger.remove()
    n = args.tasks
    daemon_bench.STEPS = daemon_bench.STEPS + EXTRA
    with tempfile.TemporaryDirectory() as tmp, site(Path(tmp)) as s:
        s.push_specs({f"t{i:04d}": spec() for i in range(n)}, "tasks")
        worker = daemon_bench.in_process_worker(s.config("w0", max_parallel=2))
        with daemon_bench.breakdown() as steps, pushes() as kinds:
            t0 = time.perf_counter()
            worker.run_once()
            wall = time.perf_counter() - t0
        worker.stop(5)
        done, claims_left = len(s.results()), len(s.claims())
    print(f"{n} instant tasks, one in-process worker x 2 slots: {wall:.1f} s, {done} results, "
          f"{done / wall:.2f} tasks/s")
    print("  time per task in each step (summed over threads):")
    daemon_bench.print_breakdown(steps, n, "task")
    print("  pushes per task by destination (the floor counts 2: claim, result branch):")
    for kind, (secs, calls) in sorted(kinds.items(), key=lambda kv: -kv[1][1]):
        print(f"      {kind:40} {calls / n:4.1f}/task   {secs / calls * 1000:6.1f} ms each")
    total = sum(c for _, c in kinds.values())
    print(f"      {'all':40} {total / n:4.1f}/task   "
          f"{sum(s for s, _ in kinds.values()) / n * 1000:6.1f} ms/task")
    print(f"  claims left {claims_left}")


if __name__ == "__main__":
    main()
