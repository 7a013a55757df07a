"""The remote's refs without fetching (`git ls-remote`), and a listing whose connection the fetch
that follows it reuses: a worker's cycle lists, decides, then fetches what moved.

Two connections for one cycle cost two handshakes and two ref advertisements; over ssh a
handshake alone is ~250 ms on a 2-core worker (FIELD-NOTES), and over https the advertisement is
a request of its own. libgit2 fetches over a remote that is still connected and reads the wants
from the advertisement it already has: the first fetch of a cycle brings the refs the cycle
decided on, at the commits it saw (a ref moved since is the next cycle's).

Not over http(s): there every request reaches a new server process, which refuses a commit no
ref points to any more (a branch force-pushed while the cycle waited for the transfer lock); the
fetch would fail where its own advertisement would have fetched. An https listing keeps nothing,
and its fetch reads the advertisement again (about 10 ms on loopback).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable
from types import TracebackType

import pygit2
from pygit2.remotes import RemoteHead

from mtor_git.git.auth import is_http, normalize_url, transport_error
from mtor_git.git.transfer import REMOTE, Callbacks, Credentials, is_local, transfer_lock


def remote_refs(repo_or_url: pygit2.Repository | str, *,
                credentials: Credentials | None = None) -> dict[str, str]:
    """The remote's refs (refname -> oid hex) without fetching anything: `git ls-remote`."""
    if isinstance(repo_or_url, str):
        with tempfile.TemporaryDirectory(prefix="mtor-ls-") as scratch:
            # libgit2 needs some repository to hang an anonymous remote on.
            repo = pygit2.init_repository(scratch, bare=True)
            return _list(repo.remotes.create_anonymous(normalize_url(repo_or_url)), credentials)
    remote = repo_or_url.remotes[REMOTE]
    if not is_local(normalize_url(remote.url or "")):
        return _list(remote, credentials)
    with transfer_lock(repo_or_url):  # not while this process writes the remote's refs
        return _list(remote, credentials)


class Listing:
    """The refs of `repo`'s origin, read on a connection kept open for one fetch (`take`), or
    closed unused (`close`, or leaving a `with` block). A path remote is listed as
    `remote_refs` does and keeps nothing (its "connection" is a directory read), and so is an
    http(s) remote (see above)."""

    def __init__(self, repo: pygit2.Repository, *,
                 credentials: Credentials | None = None) -> None:
        self._remote: pygit2.Remote | None = None
        remote = repo.remotes[REMOTE]
        url = normalize_url(remote.url or "")
        if is_local(url) or is_http(url):
            self.refs = remote_refs(repo, credentials=credentials)
            return
        callbacks = Callbacks(credentials)
        try:
            remote.connect(callbacks=callbacks)
            self.refs = _named(remote.list_heads(callbacks=callbacks, connect=False))
        except pygit2.GitError as exc:
            error = transport_error(exc, "list refs of", remote.url, callbacks.untrusted_host)
            # Freed now: the traceback a caller keeps holds this frame, and the remote in it
            # would hold its connection open.
            del remote
            raise error from exc
        self._remote = remote

    def take(self) -> pygit2.Remote | None:
        """The connected remote, once (None after that, or for a path remote): a fetch on it
        closes it."""
        remote, self._remote = self._remote, None
        return remote

    def close(self) -> None:
        """Unused: libgit2 closes a remote's connection when the remote is freed (pygit2 has no
        disconnect), which CPython does as the last reference goes, here."""
        self._remote = None

    def __enter__(self) -> Listing:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _list(remote: pygit2.Remote, credentials: Credentials | None) -> dict[str, str]:
    callbacks = Callbacks(credentials)
    try:
        try:
            heads = remote.list_heads(callbacks=callbacks)
        except pygit2.GitError:
            if not is_local(normalize_url(remote.url or "")):
                raise
            # A path remote's refs read by libgit2 itself, in the middle of another process's
            # update of them (a lock file, packed-refs rewritten): read again, once.
            time.sleep(0.05)
            heads = remote.list_heads(callbacks=callbacks)
    except pygit2.GitError as exc:
        raise transport_error(exc, "list refs of", remote.url, callbacks.untrusted_host) from exc
    return _named(heads)


def _named(heads: Iterable[RemoteHead]) -> dict[str, str]:
    return {h.name: str(h.oid) for h in heads
            if h.name and h.name.startswith("refs/") and not h.name.endswith("^{}")}
