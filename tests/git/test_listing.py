"""A listing's connection serves the fetch after it (git/listing.py): one connection and one ref
advertisement per worker cycle that fetches, instead of an ls-remote's and a fetch's. Counted
where the connections arrive: a TCP relay in front of `git daemon`, and sshd's own log."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest
from daemonfixtures import Site, site, spec
from gitfixtures import GitDaemon, git, relay
from loguru import logger
from serverfixtures import SshServer, https_server, ssh_server, trusting_ca

from mtor_git import git as gitops
from mtor_git.config.load import load_config
from mtor_git.errors import GitOpError
from mtor_git.git.auth import Credentials
from mtor_git.worker.cycle import Worker


def _user_commit(remote: Path, tmp_path: Path, name: str) -> str:
    """A commit on the remote's main, pushed by the user (git CLI); its id."""
    user = tmp_path / f"user-{name}"
    git("clone", "--quiet", str(remote), str(user))
    (user / f"{name}.txt").write_text(name)
    git("add", ".", cwd=user)
    git("commit", "--quiet", "-m", name, cwd=user)
    git("push", "--quiet", "origin", "HEAD:main", cwd=user)
    return git("rev-parse", "HEAD", cwd=user)


@pytest.mark.parametrize("over_the_listing, connections", [
    (True, 1),
    (False, 2),  # the counter's control: what a cycle did before, an ls-remote and a fetch
])
def test_a_fetch_after_a_listing_uses_its_connection(
        bare_remote: Path, daemon: GitDaemon, tmp_path: Path, over_the_listing: bool,
        connections: int) -> None:
    port = int(daemon.prefix.rsplit(":", 1)[1].strip("/"))
    with relay(port) as r:
        repo = gitops.open_or_clone(r.url(daemon.url(bare_remote)), tmp_path / "w.git",
                                    bare=True)
        new = _user_commit(bare_remote, tmp_path, "one")
        before = r.accepted
        with gitops.Listing(repo) as listing:
            assert listing.refs["refs/heads/main"] == new
            gitops.fetch_moved(repo, listing.refs, None,
                               connected=listing.take if over_the_listing else None)
        assert r.accepted - before == connections
        assert gitops.resolve(repo, "refs/remotes/origin/main") == new


def test_the_connection_is_handed_over_once(bare_remote: Path, daemon: GitDaemon,
                                            tmp_path: Path) -> None:
    repo = gitops.open_or_clone(daemon.url(bare_remote), tmp_path / "w.git", bare=True)
    listing = gitops.Listing(repo)
    assert listing.take() is not None
    assert listing.take() is None
    listing.close()


def test_a_path_remote_keeps_no_connection(bare_remote: Path, tmp_path: Path) -> None:
    repo = gitops.open_or_clone(str(bare_remote), tmp_path / "w.git", bare=True)
    with gitops.Listing(repo) as listing:
        assert listing.refs == gitops.remote_refs(repo)
        assert listing.take() is None


def test_an_unreachable_remote_is_a_git_error_naming_it(bare_remote: Path, daemon: GitDaemon,
                                                        tmp_path: Path) -> None:
    port = int(daemon.prefix.rsplit(":", 1)[1].strip("/"))
    with relay(port) as r:
        repo = gitops.open_or_clone(r.url(daemon.url(bare_remote)), tmp_path / "w.git",
                                    bare=True)
    with pytest.raises(GitOpError, match="127.0.0.1"):  # the relay is gone
        gitops.Listing(repo)


def _ref_commit(remote: Path, ref: str, message: str, parent: str | None = "main") -> str:
    """A commit written straight into the remote at `ref` (someone else's push); its id."""
    tree = git("rev-parse", "main^{tree}", cwd=remote)
    oid = git("commit-tree", tree, "-m", message, *(["-p", parent] if parent else []),
              cwd=remote)
    git("update-ref", ref, oid, cwd=remote)
    return oid


def test_refs_moved_after_the_listing_are_the_next_cycles(bare_remote: Path, daemon: GitDaemon,
                                                         tmp_path: Path) -> None:
    """Over git:// the fetch brings what the listing saw, at the commits it saw; what moved
    since (main advanced, a claim deleted, a claim created) the next cycle brings and prunes."""
    repo = gitops.open_or_clone(daemon.url(bare_remote), tmp_path / "w.git", bare=True)
    seen_main = _ref_commit(bare_remote, "refs/heads/main", "seen")
    gone = _ref_commit(bare_remote, "refs/mtor/claims/gone", "claim", parent=None)
    with gitops.Listing(repo) as listing:
        seen = dict(listing.refs)
        later = _ref_commit(bare_remote, "refs/heads/main", "later")
        git("update-ref", "-d", "refs/mtor/claims/gone", cwd=bare_remote)
        _ref_commit(bare_remote, "refs/mtor/claims/new", "new claim", parent=None)
        gitops.fetch_moved(repo, seen, None, connected=listing.take)
    assert gitops.resolve(repo, "refs/remotes/origin/main") == seen_main
    assert gitops.resolve(repo, "refs/remotes/origin-mtor/claims/gone") == gone
    assert gitops.resolve(repo, "refs/remotes/origin-mtor/claims/new") is None
    with gitops.Listing(repo) as listing:
        gitops.fetch_moved(repo, listing.refs, seen, connected=listing.take)
    assert gitops.resolve(repo, "refs/remotes/origin/main") == later
    assert gitops.resolve(repo, "refs/remotes/origin-mtor/claims/gone") is None
    assert gitops.resolve(repo, "refs/remotes/origin-mtor/claims/new") is not None
    assert all(repo.references[name].target in repo for name in repo.references)


@pytest.mark.slow
def test_over_https_a_listing_keeps_no_connection_and_a_force_push_since_is_fetched(
        bare_remote: Path, tmp_path: Path) -> None:
    """https starts a server process per request, which refuses a commit no ref points to any
    more: a user force-pushed a branch after the listing. An https listing hands over no
    connection, so the fetch reads the refs again and brings the branch where it is now; no
    token in the log."""
    token = "tok-listing-5d1"
    logged: list[str] = []
    sink = logger.add(lambda m: logged.append(str(m)), level="DEBUG")
    try:
        with https_server(tmp_path / "nginx", bare_remote.parent, token) as httpd, \
                trusting_ca(httpd.tls.ca):
            creds = Credentials(username=httpd.user, password=token)
            url = httpd.url(bare_remote).replace("https://", f"https://{httpd.user}:{token}@")
            repo = gitops.open_or_clone(url, tmp_path / "w.git", bare=True)
            _ref_commit(bare_remote, "refs/heads/feature", "first")
            with gitops.Listing(repo, credentials=creds) as listing:
                rewritten = _ref_commit(bare_remote, "refs/heads/feature", "rewritten")
                git("gc", "--quiet", "--prune=now", cwd=bare_remote)  # the old tip is gone
                assert listing.take() is None
                gitops.fetch_moved(repo, listing.refs, None, connected=listing.take)
            assert gitops.resolve(repo, "refs/remotes/origin/feature") == rewritten
    finally:
        logger.remove(sink)
    assert logged and not any(token in line for line in logged)


def test_a_worker_cycle_that_finds_a_spec_connects_once(tmp_path: Path) -> None:
    with site(tmp_path) as s, relay(s.server.port) as r:
        worker = _worker(s, r.url(s.url))
        try:
            worker.cycle()
            worker.stopping.set()  # detect only: the claim's own pushes are not counted here
            s.push_specs({"found": spec()}, "one new spec")
            before = r.accepted
            worker.cycle()
            assert r.accepted - before == 1
            clone = gitops.open_repository(next(iter(worker.repos.values())).path)
            assert gitops.resolve(clone, "refs/remotes/origin/main") == git(
                "rev-parse", "main", cwd=s.remote)
            before = r.accepted
            worker.cycle()  # nothing moved: the listing alone
            assert r.accepted - before == 1
        finally:
            worker.stop(5)


def _worker(s: Site, url: str) -> Worker:
    return Worker(load_config(s.config("w1", max_parallel=1, poll_interval="1h", url=url)),
                  os.environ)


@pytest.mark.slow
def test_over_ssh_a_listing_and_its_fetch_are_one_connection(
        bare_remote: Path, tmp_path: Path) -> None:
    with ssh_server(tmp_path / "sshd") as sshd, _trusting(sshd, tmp_path):
        creds = Credentials(ssh_key=sshd.deploy_key)
        repo = gitops.open_or_clone(sshd.url(bare_remote), tmp_path / "w.git", bare=True,
                                    credentials=creds)
        new = _user_commit(bare_remote, tmp_path, "ssh")
        before = sshd.connections()
        with gitops.Listing(repo, credentials=creds) as listing:
            gitops.fetch_moved(repo, listing.refs, None, connected=listing.take)
        assert gitops.resolve(repo, "refs/remotes/origin/main") == new
        assert sshd.connections() - before == 1  # sshd logs it before the key exchange


@contextlib.contextmanager
def _trusting(sshd: SshServer, root: Path) -> Iterator[None]:
    """libgit2 checks the host key against ~/.ssh/known_hosts of its home directory (a
    process-wide setting, put back after)."""
    home = root / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text(sshd.known_hosts_line())
    was = pygit2.settings.homedir
    pygit2.settings.homedir = str(home)
    try:
        yield
    finally:
        pygit2.settings.homedir = was or os.path.expanduser("~")
