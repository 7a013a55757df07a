"""Cold start of a worker (issue 14) on 10,000 specs in 2,000 commits, 5,000 of them finished,
served by a real `git daemon` on loopback: the clone alone (the same pygit2 clone the worker
makes, into the worker's own path), the worker's first Worker.cycle() on that existing clone, and
a fresh worker's first cycle, clone included. Goal: the first cycle < 1 s beyond the clone.

The repository is bench/git_ops.py's `big_history`; the finished tasks are finished_bench.py's
`finish` (a branch `mtor/<id>` holding results/<id>.json each) over the first 5,000 specs in
the order a worker considers them; the other 5,000 wait (two slots: two start). Each round works
on a fresh copy of that remote, so no round sees another's claims.

    PYTHONPATH=. python bench/coldstart_bench.py [--quick] [--rounds 3] [--profile]

Prints each figure, its goal and their ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench"), str(ROOT)]

import finished_bench  # noqa: E402
import git_ops  # noqa: E402
from daemonfixtures import COUNTING_AGENT, GitServer, Site  # noqa: E402
from gitfixtures import git  # noqa: E402
from loguru import logger  # noqa: E402
from sandboxfixtures import with_toolchain  # noqa: E402

from mtor_git import git as gitops  # noqa: E402
from mtor_git.config.load import load_config  # noqa: E402
from mtor_git.worker.cycle import Worker  # noqa: E402

GOAL_S = 1.0


@dataclass(frozen=True)
class Round:
    clone: float  # seconds: the pygit2 clone alone
    construct: float  # Worker(...) on a config (sandbox probe, state, pool)
    beyond: float  # the first cycle on the existing clone
    total: float  # a fresh worker's first cycle, clone included
    inner_clone: float  # of which in git.open_or_clone (its clone)
    started: int  # tasks the first cycle started (the slots)


def build(srv: Path, finished: int) -> tuple[Path, list[str]]:
    """The template remote; the ids of the finished tasks."""
    remote = srv / "template.git"
    git_ops.big_history(remote)
    ids = sorted(Path(p).stem for p in git("ls-tree", "--name-only", "main", "tasks/",
                                           cwd=remote).splitlines())
    done = ids[:finished]
    site = Site(srv.parent, GitServer(srv), remote, srv.parent / "no-user", srv / "calls.log")
    finished_bench.finish(site, len(done), ids=done)
    git("repack", "-a", "-d", "-q", cwd=remote)  # served as a maintained server's: one pack
    return remote, done


def config(s: Site, name: str, remote: Path) -> Path:
    """A worker on `remote` whose `claude` profile (the specs name it) is the instant agent."""
    instant: dict[str, object] = {"command": [str(COUNTING_AGENT)], "report": "claude-json",
                                  "env": {"COUNT_FILE": str(s.count_file)}}
    agents = {"claude": with_toolchain(instant, rw=(s.count_file.parent,))}
    return s.config(name, default_agent="claude", max_parallel=2, poll_interval="1h",
                    url=s.server.url(remote),
                    extra={"agents": agents})


def one_round(s: Site, template: Path, n: int, profile: cProfile.Profile | None) -> Round:
    first, second = (s.server.base_path / f"r{n}-{k}.git" for k in ("a", "b"))
    shutil.copytree(template, first)
    shutil.copytree(template, second)
    t0 = time.perf_counter()
    worker = Worker(load_config(config(s, f"a{n}", first)), os.environ)
    construct = time.perf_counter() - t0
    path = next(iter(worker.repos.values())).path
    t0 = time.perf_counter()
    gitops.open_or_clone(s.server.url(first), path, bare=True)
    clone = time.perf_counter() - t0
    t0 = time.perf_counter()
    if profile is None:
        started = worker.cycle()
    else:  # the cycle's body on this thread: cProfile sees only the thread it runs on
        started = profile.runcall(worker._sync, next(iter(worker.repos.values())))
    beyond = time.perf_counter() - t0
    worker.stop(30)
    fresh = Worker(load_config(config(s, f"b{n}", second)), os.environ)
    with timed_clones() as inner:
        t0 = time.perf_counter()
        fresh.cycle()
        total = time.perf_counter() - t0
    fresh.stop(30)
    return Round(clone, construct, beyond, total, inner[0], started)


@contextlib.contextmanager
def timed_clones() -> Iterator[list[float]]:
    """Seconds spent in git.open_or_clone (the clone, and cheap opens) while the block runs."""
    spent = [0.0]
    original = gitops.open_or_clone

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - t0

    gitops.open_or_clone = timed
    try:
        yield spent
    finally:
        gitops.open_or_clone = original


def report(rounds: list[Round]) -> None:
    def med(field: str) -> float:
        return float(statistics.median(getattr(r, field) for r in rounds))

    clone, beyond, total = med("clone"), med("beyond"), med("total")
    rest = statistics.median(r.total - r.inner_clone for r in rounds)
    print(f"  (medians of {len(rounds)} rounds; tasks started by each first cycle: "
          f"{[r.started for r in rounds]})")
    print(f"  {'the clone alone (pygit2, as the worker)':44} {clone * 1000:8.0f} ms")
    print(f"  {'Worker(...) construction':44} {med('construct') * 1000:8.0f} ms")
    print(f"  {'first cycle on the existing clone':44} {beyond * 1000:8.0f} ms   goal "
          f"< {GOAL_S * 1000:.0f} ms   ratio {beyond / GOAL_S:.2f} (goal < 1)")
    print(f"  {'fresh worker: first cycle, clone included':44} {total * 1000:8.0f} ms")
    print(f"  {'  of which its clone (git.open_or_clone)':44} {med('inner_clone') * 1000:8.0f} ms")
    print(f"  {'  beyond its clone':44} {rest * 1000:8.0f} ms   goal < {GOAL_S * 1000:.0f} ms   "
          f"ratio {rest / GOAL_S:.2f} (goal < 1)")
    for n, r in enumerate(rounds):
        print(f"    round {n}: clone {r.clone * 1000:.0f}, first cycle on it "
              f"{r.beyond * 1000:.0f}; fresh {r.total * 1000:.0f} = clone "
              f"{r.inner_clone * 1000:.0f} + {(r.total - r.inner_clone) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--finished", type=int, default=5000)
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the first cycles on an existing clone; print the top")
    args = parser.parse_args()
    logger.remove()
    rounds = 1 if args.quick else args.rounds
    print(f"worker cold start ({git_ops.SPECS} specs, {git_ops.COMMITS} commits, {args.finished} "
          f"finished; git:// on loopback; {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f})")
    with tempfile.TemporaryDirectory(prefix="mtor-coldstart-") as tmp:
        root = Path(tmp)
        srv = root / "srv"
        srv.mkdir()
        t0 = time.perf_counter()
        template, done = build(srv, args.finished)
        print(f"  build the remote (fast-import, {len(done)} result branches) "
              f"{(time.perf_counter() - t0) * 1000:8.0f} ms")
        server = GitServer(srv)
        server.start()
        (root / "calls").mkdir()
        s = Site(root, server, template, root / "no-user", root / "calls" / "count.log")
        profile = cProfile.Profile() if args.profile else None
        try:
            results = [one_round(s, template, n, profile) for n in range(rounds)]
        finally:
            server.stop()
        ran = sorted({name.split(".")[0] for name in s.invocations()})
    report(results)
    print(f"  tasks the first cycles ran: {ran} (never one of the finished {done[0]} .. "
          f"{done[-1]})")
    if profile is not None:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())


if __name__ == "__main__":
    main()
