"""What a transfer costs over git://, ssh and https on loopback, with TCP_NODELAY set from
libgit2's callbacks (as transfer.py does, see git/sockets.py) and without it (Nagle's algorithm
on, as libgit2 leaves it; this process only): a push that creates a ref with a new commit, one
that only deletes a ref (it sends no pack), and a fetch of one new commit. Real `git daemon`,
OpenSSH and nginx + git http-backend, as tests/serverfixtures.py starts them.

    PYTHONPATH=. python bench/push_nodelay.py [--runs 15]

Prints medians; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]
# libgit2 reads HOME (its ~/.ssh/known_hosts) once, when pygit2 is imported.
HOME = Path(tempfile.mkdtemp(prefix="mtor-bench-home-"))
os.environ["HOME"] = str(HOME)

import pygit2  # noqa: E402
from gitfixtures import git, git_daemon, make_bare_remote, user_clone  # noqa: E402
from loguru import logger  # noqa: E402
from serverfixtures import https_server, ssh_server  # noqa: E402

from mtor_git import git as gitops  # noqa: E402
from mtor_git.git import transfer  # noqa: E402
from mtor_git.git.auth import Credentials, register_credentials  # noqa: E402

TOKEN = "bench-token-0b7e"


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


@contextmanager
def replaced(name: str, value: object) -> Iterator[None]:
    """`transfer.<name>` (something it imports, not re-exported) is `value` while the block
    runs, in this process."""
    saved = getattr(transfer, name)
    setattr(transfer, name, value)
    try:
        yield
    finally:
        setattr(transfer, name, saved)


def nagle() -> contextlib.AbstractContextManager[None]:
    """This process's transfers without TCP_NODELAY (Nagle's algorithm on, as libgit2 leaves
    it)."""
    return replaced("no_delay", lambda: 0)


def figures(label: str, url: str, work: Path, remote: Path, runs: int) -> None:
    repo = gitops.open_or_clone(url, work / f"{label}.git", bare=True)
    counter = iter(range(10**6))
    tag = label.strip(":/")

    def create() -> None:
        n = next(counter)
        commit = gitops.commit_files(repo, ref=f"refs/mtor-local/{tag}{n}", parent=None,
                                     files={"claim.json": f"{n}".encode()}, message="claim")
        gitops.push(repo, [f"{commit}:refs/mtor/claims/{tag}{n}"])

    def delete() -> None:
        n = next(counter)
        commit = gitops.commit_files(repo, ref=f"refs/mtor-local/{tag}{n}", parent=None,
                                     files={"claim.json": f"{n}".encode()}, message="claim")
        gitops.push(repo, [f"{commit}:refs/mtor/claims/{tag}{n}"])
        start = time.perf_counter()
        gitops.push(repo, [f":refs/mtor/claims/{tag}{n}"])
        deletes.append(time.perf_counter() - start)

    def fetch() -> None:
        git("commit", "--quiet", "--allow-empty", "-m", "x", cwd=user)
        git("push", "--quiet", "origin", "HEAD:main", cwd=user)
        start = time.perf_counter()
        gitops.fetch(repo, refspecs=["+refs/heads/main:refs/remotes/origin/main"])
        fetches.append(time.perf_counter() - start)

    user = work / f"{label}-user"
    user_clone(remote, user)
    for mode in ("nodelay", "nagle"):
        deletes: list[float] = []
        fetches: list[float] = []
        with ExitStack() as stack:
            if mode == "nagle":
                stack.enter_context(nagle())
            pushed = median_ms(create, runs)
            for _ in range(runs):
                delete()
                fetch()
        print(f"  {label:7} {mode:8} push creating a ref {pushed:7.1f} ms   "
              f"delete-only push {statistics.median(deletes) * 1000:6.1f} ms   "
              f"fetch {statistics.median(fetches) * 1000:6.1f} ms")


def served(base: Path, remote: Path) -> Iterator[tuple[str, str]]:
    """(label, url) of `remote` served by git daemon, OpenSSH and nginx in turn, each server up
    (and this process's credentials for it registered) while its pair is being used."""
    with git_daemon(remote.parent) as daemon:
        yield "git://", daemon.url(remote)
    with ssh_server(base / "sshd") as sshd:
        (HOME / ".ssh").mkdir(parents=True, exist_ok=True)
        (HOME / ".ssh" / "known_hosts").write_text(sshd.known_hosts_line())
        register_credentials(sshd.url(remote), Credentials(ssh_key=sshd.deploy_key))
        yield "ssh", sshd.url(remote)
    with https_server(base / "nginx", remote.parent, TOKEN) as httpd:
        pygit2.settings.set_ssl_cert_locations(str(httpd.tls.ca), None)
        register_credentials(httpd.url(remote), Credentials(username=httpd.user,
                                                            password=TOKEN))
        yield "https", httpd.url(remote)


def over_each_server(title: str,
                     figures: Callable[[str, str, Path, Path, int], None]) -> None:
    """A bench's main: `figures(label, url, scratch, remote, runs)` for one remote served over
    git://, ssh and https in turn (--runs from the command line), under `title`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    logger.remove()
    with tempfile.TemporaryDirectory(prefix="mtor-bench-") as tmp:
        base = Path(tmp)
        remote = make_bare_remote(base / "projects" / "remote.git")
        print(title)
        for label, url in served(base, remote):
            figures(label, url, base, remote, args.runs)


def main() -> None:
    over_each_server("push cost with and without TCP_NODELAY (medians)", figures)


if __name__ == "__main__":
    main()
