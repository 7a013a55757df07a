"""Figures for finished work (issue 14): with N finished tasks on the remote (a spec in tasks/, a
run in the done index, and either a branch `mtor/<id>` holding the result, every pull request
still open, or the result merged into main and its branch deleted), the idle poll, the
detection of one new spec, the per-task overhead and `mtor-git status` (warm, CLI), each next
to its figure with no finished task measured in the same run (`status` in alternating rounds over
every size's site, kept up until the end); against a real `git daemon` on loopback.

The remote is built with one `git fast-import` stream (one commit per result, all on one shared
spec commit) and packed refs, not by running N tasks.

    PYTHONPATH=. python bench/finished_bench.py [--sizes 0,1000,5000] [--shapes open,merged]
        [--runs 5]

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


def median_ms(fn: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def measure(size: int, runs: int, shape: str = "open", *,
            keep: contextlib.ExitStack | None = None) -> tuple[dict[str, float], Site]:
    """The figures of one size; with `keep`, the site stays up until `keep` closes (for
    `status` measured in rounds across the sizes: `status_rounds`)."""
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        s = stack.enter_context(site(Path(tmp)))
        t0 = time.perf_counter()
        finish(s, size, shape)
        built = time.perf_counter() - t0
        worker = Worker(load_config(s.config("w1", max_parallel=1, poll_interval="1h")),
                        os.environ)
        try:
            t0 = time.perf_counter()
            worker.cycle()
            cold = time.perf_counter() - t0
            figures = {"build": built * 1000, "cold": cold * 1000,
                       "idle": median_ms(worker.cycle, runs * 4)}
            figures["detect"] = detection(s, worker, runs)
            figures["overhead"] = overhead(s, worker, runs)
        finally:
            worker.stop(5)
        figures["refs"] = float(len(s.refs()))
        figures["floor"] = floor(s, Path(tmp) / "floor.git", runs)
        if keep is not None:
            keep.enter_context(stack.pop_all())
        return figures, s


def detection(s: Site, worker: Worker, runs: int) -> float:
    """A cycle that finds one new spec (and claims nothing: the worker is stopping)."""
    worker.stopping.set()
    times = []
    for i in range(runs):
        s.push_specs({f"d{i:03d}": spec()}, f"new spec {i}")
        t0 = time.perf_counter()
        worker.cycle()
        times.append(time.perf_counter() - t0)
    worker.stopping.clear()
    worker.cycle()  # the detected specs run now, outside the figures
    while worker.busy():
        worker.wake.wait(0.01)
    return statistics.median(times) * 1000


def overhead(s: Site, worker: Worker, runs: int) -> float:
    """A task's cycle, claim, run and publication minus its agent's own time."""
    values = []
    for i in range(runs):
        s.push_specs({f"o{i:03d}": spec()}, f"task {i}")
        t0 = time.perf_counter()
        worker.cycle()
        while worker.busy():
            worker.wake.wait(0.005)
        total = time.perf_counter() - t0
        agent: float = sum(a["duration"] for a in s.result(f"o{i:03d}")["attempts"])
        values.append(total - agent)
    return statistics.median(values) * 1000


def floor(s: Site, path: Path, runs: int) -> float:
    """The pygit2 floor of a task's git work, as the worker's clone does it (no tracking ref of a
    result branch): a fetch of the moved branch, a claim push, a result branch push."""
    repo = gitops.open_or_clone(s.url, path, bare=True)
    gitops.fetch_moved(repo, gitops.remote_refs(repo), None)
    head = git("rev-parse", "main", cwd=s.remote)
    values = []
    for i in range(runs):
        s.push_specs({f"floor{i:03d}": spec()}, f"floor {i}")
        t0 = time.perf_counter()
        gitops.fetch(repo, refspecs=["+refs/heads/main:refs/remotes/origin/main"])
        claim = gitops.commit_files(repo, ref=f"refs/mtor-local/floor{i}", parent=None,
                                    files={"claim.json": b"{}"}, message="claim")
        gitops.push(repo, [f"{claim}:refs/mtor/claims/floor{i}"])
        head = str(gitops.resolve(repo, "refs/remotes/origin/main") or head)
        result = gitops.commit_files(repo, ref=f"refs/heads/mtor/floor{i}", parent=head,
                                     files={f"results/floor{i}.json": b"{}"}, message="r")
        gitops.push(repo, [f"refs/heads/mtor/floor{i}:refs/heads/mtor/floor{i}"])
        values.append(time.perf_counter() - t0)
        del result, claim
    return statistics.median(values) * 1000


def status_once(s: Site) -> None:
    subprocess.run(mtor("status"), cwd=s.user, env=DAEMON_ENV, check=True, capture_output=True)


def status_rounds(sites: Sequence[Site], rounds: int) -> list[float]:
    """`mtor-git status` (warm, CLI) of each site, in alternating rounds: a ratio between two
    sites taken minutes apart on a noisy machine says more about the machine than the code."""
    for s in sites:
        status_once(s)  # the first fetches everything: cold
    times: list[list[float]] = [[] for _ in sites]
    for _ in range(rounds):
        for s, mine in zip(sites, times, strict=True):
            t0 = time.perf_counter()
            status_once(s)
            mine.append(time.perf_counter() - t0)
    return [statistics.median(mine) * 1000 for mine in times]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="0,1000,5000")
    parser.add_argument("--shapes", default=",".join(SHAPES),
                        help="open: every result branch kept; merged: merged and deleted")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    logger.remove()
    sizes = [int(n) for n in args.sizes.split(",")]
    shapes = [s for s in args.shapes.split(",") if s]
    base: dict[str, float] | None = None
    kept: list[tuple[str, Site]] = []
    with contextlib.ExitStack() as keep:
        for shape in shapes:
            for size in sizes:
                if base is not None and size == 0:
                    continue  # one 0-finished figure serves every shape
                f, s = measure(size, args.runs, shape, keep=keep)
                kept.append((f"{size:>5} {shape if size else '':6}", s))
                base = base or f
                print(f"finished {size:>5} {shape if size else '':6} (remote refs "
                      f"{f['refs']:.0f}, built in {f['build']:.0f} ms, worker cold start "
                      f"{f['cold']:.0f} ms)")
                for key, what in (("idle", "idle poll"), ("detect", "detect one new spec"),
                                  ("overhead", "per-task overhead")):
                    print(f"  {what:22} {f[key]:8.1f} ms  {f[key] / base[key]:5.2f}x the "
                          f"0-finished figure (goal <= 1.5x)")
                print(f"  pygit2 floor (fetch, claim push, result push) {f['floor']:.1f} ms: "
                      f"overhead {f['overhead'] / f['floor']:.2f}x the floor (goal <= 1.1x)")
        rounds = max(args.runs * 3, 15)
        print(f"status (warm, CLI), {rounds} alternating rounds over every site, medians:")
        times = status_rounds([s for _name, s in kept], rounds)
        for (name, _s), ms in zip(kept, times, strict=True):
            print(f"  finished {name} {ms:8.1f} ms  {ms / times[0]:5.2f}x the 0-finished "
                  f"figure (goal <= 1.5x)")

if __name__ == "__main__":
    main()
