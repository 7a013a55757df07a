"""What a worker cycle's ls-remote and fetch cost over git://, ssh and https on loopback, when
the fetch goes over the listing's own connection (git/listing.py, as a cycle does now) and when it
opens one of its own (as before), in alternating rounds: the user pushes one commit, then the
cycle lists and fetches it. Real `git daemon`, OpenSSH and nginx + git http-backend, as
tests/serverfixtures.py starts them (the servers and settings of bench/push_nodelay.py). An
https listing keeps no connection (git/listing.py): its two columns measure the same thing.

    PYTHONPATH=. python bench/cycle_listing.py [--runs 15]

Prints medians; asserts nothing.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import push_nodelay as servers  # first: it points HOME (libgit2's known_hosts) at a scratch dir
from gitfixtures import git, user_clone

from mtor_git import git as gitops


def figures(label: str, url: str, work: Path, remote: Path, runs: int) -> None:
    repo = gitops.open_or_clone(url, work / f"{label.strip(':/')}.git", bare=True)
    user = work / f"{label.strip(':/')}-user"
    user_clone(remote, user)
    times: dict[str, list[float]] = {"one connection": [], "two connections": []}
    for i in range(runs * 2):
        git("commit", "--quiet", "--allow-empty", "-m", f"x{i}", cwd=user)
        git("push", "--quiet", "origin", "HEAD:main", cwd=user)
        start = time.perf_counter()
        if i % 2 == 0:
            with gitops.Listing(repo) as listing:
                gitops.fetch_moved(repo, listing.refs, None, connected=listing.take)
            times["one connection"].append(time.perf_counter() - start)
        else:
            gitops.fetch_moved(repo, gitops.remote_refs(repo), None)
            times["two connections"].append(time.perf_counter() - start)
    print(f"  {label:7} " + "   ".join(f"{k} {statistics.median(v) * 1000:7.1f} ms"
                                        for k, v in times.items()))


def main() -> None:
    servers.over_each_server("a cycle's ls-remote + fetch of one new commit (medians)", figures)


if __name__ == "__main__":
    main()
