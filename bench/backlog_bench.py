"""Figures for a backlog (issue 14): the cost of a worker cycle while N specs wait beyond
capacity, next to the idle cycle measured in the same run, against a real `git daemon` on
loopback; and how fast freed slots are refilled (`daemon --once` over instant tasks).

    PYTHONPATH=. python bench/backlog_bench.py [--sizes 100,1000,10000] [--tasks 40]

Prints each figure and its goal as a ratio; asserts nothing.
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
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from daemonfixtures import site, spec, wait_for  # noqa: E402
from gitfixtures import git  # noqa: E402
from loguru import logger  # noqa: E402

from mtor_git.config.load import load_config  # noqa: E402
from mtor_git.worker.cycle import Worker  # noqa: E402


def median_cycle(worker: Worker, rounds: int = 7) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        worker.cycle()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def moved_cycle(worker: Worker, user: Path, rounds: int = 5) -> float:
    """A cycle after the watched branch moved (a commit outside tasks/): fetch and candidates."""
    times = []
    for n in range(rounds):
        (user / "NOTES.md").write_text(f"note {n}\n")
        git("add", "NOTES.md", cwd=user)
        git("commit", "-q", "--no-verify", "-m", f"note {n}", cwd=user)
        git("push", "-q", "--no-verify", "origin", "HEAD:main", cwd=user)
        t0 = time.perf_counter()
        worker.cycle()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def backlog(size: int) -> tuple[float, float, float]:
    """(idle cycle, cycle with `size` waiting and nothing moved, after a push) in seconds."""
    with tempfile.TemporaryDirectory() as tmp, site(Path(tmp)) as s:
        s.push_specs({"busy": spec(agent="hang")}, "one task that holds the only slot")
        config = s.config("w1", max_parallel=1, poll_interval="1h")
        worker = Worker(load_config(config), os.environ)
        try:
            worker.cycle()
            wait_for(lambda: worker.busy(), 30, "the hanging task")
            idle = median_cycle(worker)
            if size:
                s.push_specs({f"w-{i:05d}": spec() for i in range(size)}, f"{size} waiting")
                worker.cycle()  # reads the new specs once
            waiting = median_cycle(worker)
            moved = moved_cycle(worker, s.user)
        finally:
            worker.stop(0.1)
        return idle, waiting, moved


def refill(tasks: int) -> tuple[float, float]:
    """(seconds for `tasks` instant tasks on 2 slots with --once, tasks/s)."""
    with tempfile.TemporaryDirectory() as tmp, site(Path(tmp)) as s:
        s.push_specs({f"t-{i:03d}": spec() for i in range(tasks)}, f"{tasks} tasks")
        config = s.config("w1", max_parallel=2)
        worker = Worker(load_config(config), os.environ)
        t0 = time.perf_counter()
        worker.run_once()
        took = time.perf_counter() - t0
        worker.stop(0.1)
        return took, tasks / took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--tasks", type=int, default=40)
    args = parser.parse_args()
    logger.remove()
    for size in (int(n) for n in args.sizes.split(",")):
        idle, waiting, moved = backlog(size)
        print(f"backlog {size:>6}: idle cycle {idle * 1000:7.1f} ms, waiting {waiting * 1000:7.1f}"
              f" ms ({waiting / idle:.2f}x, goal <= 2x), after a push {moved * 1000:7.1f} ms")
    took, rate = refill(args.tasks)
    print(f"refill: {args.tasks} instant tasks on 2 slots in {took:.1f} s = {rate:.2f} tasks/s")


if __name__ == "__main__":
    main()
