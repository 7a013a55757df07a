"""Figures for finished work (issue 14): with N finished tasks on the remote (a spec in tasks/, a
run in the done index, and either a branch `mtor/<id>` holding the result, every pull request
still open, or the result merged into main and its branch deleted), the idle poll, the
detection of one new spec, the per-task overhead and `mtor-git status` (warm, CLI), each next
to its figure with no finished task measured in the same run: every size's site stays up, and
each figure is taken of every site in turn, in alternating rounds; against a real `git daemon`
on loopback.

The remote is built with one `git fast-import` stream (one commit per result, all on one shared
spec commit) and packed refs, not by running N tasks.

    PYTHONPATH=. python bench/finished_bench.py [--sizes 0,1000,5000] [--shapes open,merged]
        [--runs 9]

Prints each figure and its goal as a ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from daemonfixtures import DAEMON_ENV, Site, mtor, site, spec  # noqa: E402
from gitfixtures import USER_EMAIL, USER_NAME, fast_import, git  # noqa: E402
from loguru import logger  # noqa: E402

from mtor_git import git as gitops  # noqa: E402
from mtor_git.config.load import load_config  # noqa: E402
from mtor_git.git import refs  # noqa: E402
from mtor_git.queue import done  # noqa: E402
from mtor_git.worker.cycle import Worker  # noqa: E402

SHAPES = ("open", "merged")


def finish(s: Site, count: int, shape: str = "open", *,
           ids: Sequence[str] | None = None) -> None:
    """`count` finished tasks as today's workers leave them: their specs on main and each run in
    the done index `refs/mtor/done`; `open`: a result branch each (every pull request still
    open), `merged`: each result merged into main and its branch deleted (a forge's "delete
    branch on merge"). With `ids`, those specs already on main are the finished ones. The user
    pulls."""
    if not count and not ids:
        return
    who = f"{USER_NAME} <{USER_EMAIL}> 1700000000 +0000"
    new_specs = ids is None
    ids = list(ids) if ids is not None else [f"f{i:05d}" for i in range(count)]
    results = {tid: json.dumps({"task": {"id": tid}, "run": 1, "status": "succeeded",
                                "attempts": [{}]}).encode() for tid in ids}
    out: list[bytes] = []
    if new_specs or shape == "merged":
        head = git("rev-parse", "main", cwd=s.remote)
        out.append(f"commit refs/heads/main\ncommitter {who}\ndata 8\nfinished\nfrom {head}\n"
                   .encode())
        if new_specs:
            out += [_inline(f"tasks/{tid}.md", spec()) for tid in ids]
        if shape == "merged":
            out += [_inline(f"results/{tid}.json", results[tid]) for tid in ids]
        out.append(b"\n")
    if shape == "open":
        for tid in ids:
            out.append(f"commit refs/heads/mtor/{tid}\ncommitter {who}\ndata 6\nresult\n"
                       f"from refs/heads/main\n".encode()
                       + _inline(f"results/{tid}.json", results[tid]) + b"\n")
    fast_import(s.remote, b"".join(out))
    tips = dict(line.split() for line in git(
        "for-each-ref", "--format=%(refname:lstrip=3) %(objectname)", "refs/heads/mtor/",
        cwd=s.remote).splitlines())
    main = git("rev-parse", "main", cwd=s.remote)
    runs = [done.DoneRun.from_result(tid, 1, f"mtor/{tid}" if shape == "open" else "main",
                                     tips.get(tid, main), json.loads(results[tid]))
            for tid in ids]
    index = [f"commit {refs.DONE_REF}\ncommitter {who}\ndata 5\ndone\n".encode()]
    index += [_inline(name, data) for name, data in sorted(done.buckets(runs).items())]
    fast_import(s.remote, b"".join(index) + b"\n")
    git("pack-refs", "--all", cwd=s.remote)
    if s.user.exists():
        git("pull", "--quiet", "--no-rebase", "origin", "main", cwd=s.user)


def _inline(path: str, data: bytes) -> bytes:
    return f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n"


class Rig:
    """One size's site, with its worker and the floor's clone, kept up while every size is
    measured in alternating rounds: a ratio of two figures taken minutes apart on a noisy
    machine says more about the machine than about the code."""

    def __init__(self, stack: contextlib.ExitStack, size: int, shape: str) -> None:
        self.name = f"{size:>5} {shape if size else '':6}"
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        self.site = s = stack.enter_context(site(tmp))
        t0 = time.perf_counter()
        finish(s, size, shape)
        self.built = (time.perf_counter() - t0) * 1000
        self.worker = Worker(load_config(s.config("w1", max_parallel=1, poll_interval="1h")),
                             os.environ)
        stack.callback(self.worker.stop, 5)
        t0 = time.perf_counter()
        self.worker.cycle()
        self.cold = (time.perf_counter() - t0) * 1000
        self.refs = len(s.refs())
        self.floor_clone = Floor(s, tmp / "floor.git")
        status_once(s)  # the first fetches everything: cold
        self.times: dict[str, list[float]] = {key: [] for key, _what in FIGURES}
        self.times["floor_fetch"] = []

    def median(self, key: str) -> float:
        return statistics.median(self.times[key]) * 1000

    def idle(self, _n: int) -> None:
        for _ in range(4):
            t0 = time.perf_counter()
            self.worker.cycle()
            self.times["idle"].append(time.perf_counter() - t0)

    def detect(self, n: int) -> None:
        """A cycle that finds one new spec (and claims nothing: the worker is stopping); the
        spec runs afterwards, outside the figure."""
        s, worker = self.site, self.worker
        worker.stopping.set()
        s.push_specs({f"d{n:03d}": spec()}, f"new spec {n}")
        t0 = time.perf_counter()
        worker.cycle()
        self.times["detect"].append(time.perf_counter() - t0)
        worker.stopping.clear()
        worker.cycle()
        while worker.busy():
            worker.wake.wait(0.01)

    def overhead(self, n: int) -> None:
        """A task's cycle, claim, run and publication minus its agent's own time."""
        s, worker = self.site, self.worker
        s.push_specs({f"o{n:03d}": spec()}, f"task {n}")
        t0 = time.perf_counter()
        worker.cycle()
        while worker.busy():
            worker.wake.wait(0.005)
        total = time.perf_counter() - t0
        agent: float = sum(a["duration"] for a in s.result(f"o{n:03d}")["attempts"])
        self.times["overhead"].append(total - agent)

    def floor(self, n: int) -> None:
        total, fetch = self.floor_clone.once(n)
        self.times["floor"].append(total)
        self.times["floor_fetch"].append(fetch)
        self.worker.cycle()  # the floor moved main: fetched here, not in the next idle poll

    def status(self, _n: int) -> None:
        """`mtor-git status` warm: a first one fetches what this round's tasks moved."""
        status_once(self.site)
        t0 = time.perf_counter()
        status_once(self.site)
        self.times["status"].append(time.perf_counter() - t0)


FIGURES = (("idle", "idle poll"), ("detect", "detect one new spec"),
           ("overhead", "per-task overhead"), ("floor", "pygit2 floor"),
           ("status", "status (warm, CLI)"))


def measure(rigs: Sequence[Rig], rounds: int) -> None:
    """Every figure of every rig, in `rounds` rounds; within a round each figure is taken of
    every rig in turn."""
    for n in range(rounds):
        for key, _what in FIGURES:
            for rig in rigs:
                getattr(rig, key)(n)


class Floor:
    """The pygit2 floor of a task's git work, as the worker's clone does it (no tracking ref of a
    result branch): a fetch of the moved branch, a claim push, a result branch push."""

    def __init__(self, s: Site, path: Path) -> None:
        self.site = s
        self.repo = gitops.open_or_clone(s.url, path, bare=True)
        gitops.fetch_moved(self.repo, gitops.remote_refs(self.repo), None)
        self.head = git("rev-parse", "main", cwd=s.remote)

    def once(self, n: int) -> tuple[float, float]:
        """One task's git work, and its fetch of the new commit alone, in seconds."""
        repo = self.repo
        # A file in tasks/ that is no spec, and refs outside refs/heads/ and mtor's: the same
        # git work, and nothing a worker measured beside it fetches but main's new commit.
        user = self.site.user
        (user / "tasks").mkdir(exist_ok=True)
        (user / "tasks" / f"floor{n:03d}.txt").write_bytes(b"")
        git("add", "tasks", cwd=user)
        git("commit", "--quiet", "--no-verify", "-m", f"floor {n}", cwd=user)
        git("push", "--quiet", "--no-verify", "origin", "HEAD:main", cwd=user)
        t0 = time.perf_counter()
        gitops.fetch(repo, refspecs=["+refs/heads/main:refs/remotes/origin/main"])
        fetched = time.perf_counter()
        claim = gitops.commit_files(repo, ref=f"refs/floor-local/{n}", parent=None,
                                    files={"claim.json": b"{}"}, message="claim")
        gitops.push(repo, [f"{claim}:refs/floor/claims/{n}"])
        self.head = str(gitops.resolve(repo, "refs/remotes/origin/main") or self.head)
        gitops.commit_files(repo, ref=f"refs/floor-local/results/{n}", parent=self.head,
                            files={f"results/floor{n}.json": b"{}"}, message="r")
        gitops.push(repo, [f"refs/floor-local/results/{n}:refs/floor/results/{n}"])
        return time.perf_counter() - t0, fetched - t0


def floor(s: Site, path: Path, runs: int) -> float:
    """The floor's median (ms) over `runs` tasks."""
    fl = Floor(s, path)
    return statistics.median(fl.once(n)[0] for n in range(runs)) * 1000


def status_once(s: Site) -> None:
    subprocess.run(mtor("status"), cwd=s.user, env=DAEMON_ENV, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="0,1000,5000")
    parser.add_argument("--shapes", default=",".join(SHAPES),
                        help="open: every result branch kept; merged: merged and deleted")
    parser.add_argument("--runs", type=int, default=9, help="alternating rounds")
    args = parser.parse_args()
    logger.remove()
    sizes = [int(n) for n in args.sizes.split(",")]
    shapes = [s for s in args.shapes.split(",") if s]
    with contextlib.ExitStack() as stack:
        rigs = [Rig(stack, size, shape) for shape in shapes for size in sizes
                if size or shape == shapes[0]]  # one 0-finished site serves every shape
        measure(rigs, args.runs)
        base = rigs[0]
        print(f"{args.runs} alternating rounds over every site, medians:")
        for rig in rigs:
            print(f"finished {rig.name} (remote refs {rig.refs}, built in {rig.built:.0f} ms, "
                  f"worker cold start {rig.cold:.0f} ms)")
            for key, what in FIGURES:
                if key != "floor":
                    print(f"  {what:22} {rig.median(key):8.1f} ms  "
                          f"{rig.median(key) / base.median(key):5.2f}x the 0-finished figure "
                          "(goal <= 1.5x)")
            print(f"  pygit2 floor (fetch, claim push, result push) {rig.median('floor'):.1f} "
                  f"ms: overhead {rig.median('overhead') / rig.median('floor'):.2f}x the floor "
                  "(goal <= 1.1x)")
            # The same git work grows too (the trees a new spec and a result rewrite: tasks/
            # and results/ hold an entry per finished task, and libgit2 pushes no thin pack).
            print(f"  the floor itself        {rig.median('floor'):8.1f} ms  "
                  f"{rig.median('floor') / base.median('floor'):5.2f}x the 0-finished figure; its "
                  f"fetch of the new commit {rig.median('floor_fetch'):.1f} ms, "
                  f"{rig.median('floor_fetch') / base.median('floor_fetch'):.2f}x")


if __name__ == "__main__":
    main()
