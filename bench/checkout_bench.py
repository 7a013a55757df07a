"""Cost of a task checkout in a repository of 10,000 specs and 2,000 commits: making it, taking
the agent's work out of it (3 files written, 1 edited, 1 deleted) and dropping it, for

  standalone   git/checkout.py + git/collect.py + git/intake.py: own .git, no remote, objects
               by alternates; the work collected into an intake repository, then adopted
  worktree     the old way: a `git worktree` of the worker's clone, `commit_all` in it
  hardlinks    for reference, `git clone --local` (objects hardlinked; not usable: an agent
               writing into a shared inode would corrupt the worker's clone)

    PYTHONPATH=. /work/main/.venv/bin/python bench/checkout_bench.py [--runs N]

Prints medians; asserts nothing (timings belong here, not in tests).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench"), str(ROOT)]

from git_ops import COMMITS, SPECS, big_history  # noqa: E402
from gitfixtures import GIT_ENV  # noqa: E402
from loguru import logger  # noqa: E402

from mtor_git import git as gitops  # noqa: E402


def agent_edits(path: Path) -> None:
    for i in range(3):
        (path / f"new{i}.py").write_text(f"print({i})\n")
    (path / "src" / "app.py").write_text("VERSION = 'agent'\n")
    (path / "tasks" / "t00000.md").unlink()


def timed(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return (time.perf_counter() - start) * 1000.0


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def standalone(repo: gitops.Repository, base: str, path: Path) -> tuple[float, float, float]:
    checkout: list[gitops.Checkout] = []
    make = timed(lambda: checkout.append(gitops.create_checkout(repo, path, "mtor/t1", base)))
    agent_edits(path)
    intake_path = path.parent.parent / "intake" / "t1.r1.git"

    def collect() -> None:  # as the worker does: into an intake, adopted by the clone
        intake = gitops.open_intake(repo, intake_path)
        head = gitops.collect(intake, checkout[0], results_dir="results", message="m").head
        gitops.adopt_intake(repo, intake, head)
        gitops.drop_intake(intake_path)

    take = timed(collect)
    drop = timed(lambda: gitops.drop_checkout(repo, path))
    return make, take, drop


def worktree(repo: gitops.Repository, base: str, path: Path) -> tuple[float, float, float]:
    make = timed(lambda: gitops.create_worktree(repo, "t1.r1", path, "mtor/t1", base))
    agent_edits(path)
    take = timed(lambda: gitops.commit_all(path, message="m"))
    drop = timed(lambda: gitops.remove_worktree(repo, "t1.r1", path))
    return make, take, drop


def hardlinks(clone: Path, path: Path) -> float:
    return timed(lambda: subprocess.run(["git", "clone", "-q", "--local", str(clone), str(path)],
                                        check=True, env=GIT_ENV))


def report(label: str, runs: list[tuple[float, float, float]]) -> None:
    make, take, drop = (statistics.median(r[i] for r in runs) for i in range(3))
    print(f"  {label:11} make {make:7.1f} ms   collect {take:7.1f} ms   drop {drop:7.1f} ms   "
          f"total {make + take + drop:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    logger.remove()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        big_history(work / "remote.git")
        repo = gitops.open_or_clone(str(work / "remote.git"), work / "repo.git", bare=True)
        base = gitops.resolve(repo, "main")
        assert base is not None
        print(f"{SPECS:,} specs, {COMMITS:,} commits; median of {args.runs} runs")
        new, old = [], []
        for _ in range(args.runs):  # interleaved: a shared machine's load hits both alike
            new.append(standalone(repo, base, work / "wt" / "t1.r1"))
            old.append(worktree(repo, base, work / "wt" / "t1.r1"))
        report("standalone", new)
        report("worktree", old)
        gitops.create_checkout(repo, work / "wt" / "t1.r1", "mtor/t1", base)
        linked = []
        for _ in range(args.runs):
            shutil.rmtree(work / "hl", ignore_errors=True)
            linked.append(hardlinks(work / "repo.git", work / "hl"))
        print(f"  {'hardlinks':11} make {statistics.median(linked):7.1f} ms   (git clone --local)")
        own = du(work / "wt" / "t1.r1" / ".git")
        print(f"  .git of a standalone checkout: {own / 1024:.0f} KiB (its index, config, "
              f"HEAD; objects borrowed); the clone's objects: "
              f"{du(Path(repo.path) / 'objects') / 1024:.0f} KiB; cpus {os.cpu_count()}")


if __name__ == "__main__":
    main()
