"""What a long-running worker's clone gathers task after task (issue 14, "cost that stays flat"):
one in-process worker (1 slot) runs N instant tasks one after another against a real `git daemon`
on loopback, each pushed by the user as its own commit; every STEP tasks it prints the clone's
packs and loose objects before and after a quiet cycle (the one that repacks a clone past git's
limits: a cycle that starts a task never does), the process's open descriptors (and how many are
packs deleted on disk), the median time of the last STEP tasks (push seen -> result recorded)
and that quiet cycle's time.

    PYTHONPATH=. python bench/clone_growth.py [--tasks 200] [--step 40] [--no-tidy]

`--no-tidy` runs the same without the clone's repack (git/maintenance.py), as before it.
Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench"), str(ROOT)]

import daemon_bench  # noqa: E402
from daemonfixtures import site, spec  # noqa: E402
from loguru import logger  # noqa: E402

from mtor_git import git as gitops  # noqa: E402


def descriptors() -> tuple[int, int]:
    """(open descriptors, of them pack files deleted on disk)."""
    names = os.listdir("/proc/self/fd")
    deleted = 0
    for name in names:
        try:
            deleted += os.readlink(f"/proc/self/fd/{name}").endswith(".pack (deleted)")
        except OSError:
            pass
    return len(names), deleted


def objects(clone: Path) -> tuple[int, int]:
    """(packs, loose objects) of the clone."""
    packs = len(list((clone / "objects" / "pack").glob("*.pack")))
    loose = sum(1 for d in (clone / "objects").iterdir() if len(d.name) == 2
                for _ in d.iterdir())
    return packs, loose


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--step", type=int, default=40)
    parser.add_argument("--no-tidy", action="store_true", help="no repack of the clone")
    args = parser.parse_args()
    logger.remove()
    if args.no_tidy:
        setattr(gitops, "untidy", lambda _clone: False)  # noqa: B010
    print(f"{args.tasks} instant tasks one after another, one worker, 1 slot"
          f"{' (no repack)' if args.no_tidy else ''}:")
    with tempfile.TemporaryDirectory(prefix="mtor-growth-") as tmp, site(Path(tmp)) as s:
        worker = daemon_bench.in_process_worker(s.config("w1", max_parallel=1))
        worker.cycle()
        clone = s.root / "workers" / "w1" / "ws" / "remote" / "repo.git"
        times: list[float] = []
        for n in range(args.tasks):
            s.push_specs({f"g{n:04d}": spec()}, f"task {n}")
            start = time.perf_counter()
            worker.cycle()
            while worker.busy():
                worker.wake.wait(0.005)
            times.append(time.perf_counter() - start)
            if (n + 1) % args.step:
                continue
            before = objects(clone)
            fds, deleted = descriptors()
            start = time.perf_counter()
            worker.cycle()  # quiet: the one that repacks, when the clone is past the limits
            idle = (time.perf_counter() - start) * 1000
            after = objects(clone)
            print(f"  after {n + 1:5d} tasks: packs {before[0]:5d} -> {after[0]:3d}  loose "
                  f"{before[1]:6d} -> {after[1]:4d} (by the quiet cycle)  descriptors {fds:5d} "
                  f"({deleted:4d} deleted packs)  task "
                  f"{statistics.median(times[-args.step:]) * 1000:7.1f} ms (median of the last "
                  f"{args.step})  quiet cycle {idle:6.1f} ms", flush=True)
        worker.stop(5)


if __name__ == "__main__":
    main()
