"""What a worker cycle's fetch of one new commit costs with TCP_QUICKACK kept on while it reads
(git/sockets.py quick_acks, as transfer.fetch does) and without it, over git://, ssh and https on
loopback (real `git daemon`, OpenSSH, nginx + git http-backend, as tests/serverfixtures.py
starts them). As in a cycle: the user pushes a commit, some time passes (the poke, the worker
waking), the worker lists the remote and fetches on that listing's connection.

    PYTHONPATH=. python bench/fetch_quickack.py [--runs 15] [--waits 0,100]

Prints medians; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench"), str(ROOT)]

import push_nodelay  # noqa: E402  (sets HOME before pygit2 is imported)
from gitfixtures import git, make_bare_remote, user_clone  # noqa: E402
from loguru import logger  # noqa: E402

from mtor_git import git as gitops  # noqa: E402


def figures(label: str, url: str, work: Path, remote: Path, runs: int,
            waits: list[float]) -> None:
    repo = gitops.open_or_clone(url, work / f"{label.strip(':/')}.git", bare=True)
    user = work / f"{label.strip(':/')}-user"
    user_clone(remote, user)
    previous = gitops.remote_refs(repo)
    for wait in waits:
        line = []
        for mode in ("quick acks", "without"):
            times = []
            with push_nodelay.replaced("quick_acks", contextlib.nullcontext) \
                    if mode == "without" else contextlib.nullcontext():
                for _ in range(runs):
                    git("commit", "--quiet", "--allow-empty", "-m", "x", cwd=user)
                    git("push", "--quiet", "origin", "HEAD:main", cwd=user)
                    time.sleep(wait / 1000)
                    start = time.perf_counter()
                    with gitops.Listing(repo) as listing:
                        gitops.fetch_moved(repo, listing.refs, previous,
                                           connected=listing.take)
                        previous = listing.refs
                    times.append(time.perf_counter() - start)
            line.append(f"{mode} {statistics.median(times) * 1000:6.1f} ms")
        print(f"  {label:7} push, {wait:4.0f} ms, list + fetch: " + "   ".join(line))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--waits", default="0,100", help="ms between the push and the list")
    args = parser.parse_args()
    logger.remove()
    waits = [float(w) for w in args.waits.split(",")]
    print(f"list + fetch of one new commit, medians of {args.runs}:")
    with tempfile.TemporaryDirectory(prefix="mtor-quickack-") as tmp:
        base = Path(tmp)
        remote = make_bare_remote(base / "projects" / "remote.git")
        for label, url in push_nodelay.served(base, remote):
            figures(label, url, base / "work", remote, args.runs, waits)


if __name__ == "__main__":
    main()
