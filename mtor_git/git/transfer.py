"""Every network-facing pygit2 call: clone, fetch, ls-remote and push with a per-ref outcome check
(credentials, and the refusal of an untrusted host, are in `auth`).

Local layout of a worker's clone (usually bare), set on the `origin` remote so `git fetch` agrees:

    remote ref                 local ref
    refs/heads/<b>             refs/remotes/origin/<b>       (+force, pruned; a worker's cycle
                                                              keeps none of mtor/<id>: fetch_moved)
    refs/mtor/<kind>/<id>      refs/remotes/origin-mtor/<kind>/<id>   (claims, retry, cancel)

A worker's clone (`_clone_bare`) takes no result branch; local branches (`refs/heads/mtor/<id>`)
are the worker's own work and are never touched by a fetch.
Every fetch prunes, so a ref deleted on the remote (a released claim) vanishes locally too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2
from loguru import logger
from pygit2.enums import CredentialType, FetchPrune, Option, RepositoryOpenFlag
from pygit2.remotes import PushUpdate

from mtor_git.errors import GitOpError, MtorError, PushRejected, RemoteAuthError

# Re-exported: callers (and older tests) import these from here.
from mtor_git.git.auth import Credentials as Credentials
from mtor_git.git.auth import is_scp_like, transport_error
from mtor_git.git.auth import normalize_url as normalize_url
from mtor_git.git.auth import pick_credential as pick_credential
from mtor_git.git.auth import register_credentials as register_credentials
from mtor_git.git.auth import registered_credentials as registered_credentials
from mtor_git.git.auth import shown_url as shown_url
from mtor_git.git.localpush import RefPush, push_local
from mtor_git.git.sockets import no_delay, quick_acks

REMOTE = "origin"
FETCH_REFSPECS = ("+refs/heads/*:refs/remotes/origin/*", "+refs/mtor/*:refs/remotes/origin-mtor/*")
TRACKING_PREFIX = "refs/remotes/origin/"
TRACKING_MTOR_PREFIX = "refs/remotes/origin-mtor/"

# Without these libgit2 waits forever on a host that accepts and never answers (milliseconds).
CONNECT_TIMEOUT_MS = 10_000
IO_TIMEOUT_MS = 120_000
_MAX_AUTH_TRIES = 3
_COMPLETE_KEY = "mtor.cloned"
_MAX_REMOTE_TEXT = 1000

# libgit2's words for a refusal (as opposed to a transport failure), lower-cased.
_REFUSAL_WORDS = ("non-fastforwardable", "not present locally", "rejected", "already exists",
                  "failed to update ref", "hook declined", "cannot lock ref")


@dataclass(frozen=True)
class RefUpdate:
    """One local ref a fetch moved; `new` is None when pruned, `old` None when created."""

    ref: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class FetchOutcome:
    updates: tuple[RefUpdate, ...]
    received_objects: int
    received_bytes: int

    @property
    def changed(self) -> bool:
        return bool(self.updates)


class Callbacks(pygit2.RemoteCallbacks):
    """Credentials on demand, plus the record of every ref update and refusal (for this
    package's transfers only)."""

    def __init__(self, credentials: Credentials | None) -> None:
        super().__init__()
        self._creds = credentials
        self._auth_tries = 0
        self.refused: dict[str, str] = {}
        self.updates: list[RefUpdate] = []
        self.remote_text: list[str] = []  # what server hooks printed ("remote: ...")
        self.untrusted_host: str | None = None  # a host whose key or certificate we refused

    def credentials(self, url: str, username_from_url: str | None,
                    allowed_types: CredentialType) -> Any:
        # libgit2 asks again after every failed attempt: stop instead of spinning forever.
        self._auth_tries += 1
        if self._auth_tries > _MAX_AUTH_TRIES:
            raise RemoteAuthError(f"authentication to {shown_url(url)} refused "
                                  f"{_MAX_AUTH_TRIES} times: check the ssh key or the token")
        creds = self._creds or registered_credentials(url)
        return pick_credential(creds, url, username_from_url, allowed_types)

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        """Trust only what libgit2 verified: an ssh host key listed in the daemon user's
        ~/.ssh/known_hosts, a TLS certificate the trust store (SSL_CERT_FILE) vouches for.
        pygit2's default (Passthrough) would accept ANY ssh host key, a changed one included.
        Trusted, connected and nothing sent yet: no 40 ms waits on small writes (see sockets)."""
        if valid:
            no_delay()
            return True
        self.untrusted_host = host.decode(errors="replace")
        return False

    def push_negotiation(self, updates: list[PushUpdate]) -> None:
        """Connected, about to send: no 40 ms wait on the pack's first write (see sockets). The
        one hook a git:// push has; over ssh and https certificate_check came first."""
        no_delay()

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message is not None:
            self.refused[refname] = message

    def sideband_progress(self, string: str) -> None:
        if sum(map(len, self.remote_text)) < _MAX_REMOTE_TEXT:
            self.remote_text.append(string)

    def refusals(self) -> dict[str, str]:
        """Each refused ref with the server's reason, plus what its hooks printed (the why)."""
        said = " ".join("".join(self.remote_text).split())[:_MAX_REMOTE_TEXT]
        return {ref: f"{msg} ({said})" if said else msg for ref, msg in self.refused.items()}

    def update_tips(self, refname: str, old: pygit2.Oid, new: pygit2.Oid) -> None:
        self.updates.append(RefUpdate(refname, _hex_or_none(old), _hex_or_none(new)))


def _hex_or_none(oid: pygit2.Oid) -> str | None:
    text = str(oid)
    return None if set(text) == {"0"} else text


def set_timeouts(connect_ms: int = CONNECT_TIMEOUT_MS, io_ms: int = IO_TIMEOUT_MS) -> None:
    """Process-wide libgit2 socket timeouts (git://, http(s)); called on import with defaults."""
    pygit2.option(Option.SET_SERVER_CONNECT_TIMEOUT, connect_ms)
    pygit2.option(Option.SET_SERVER_TIMEOUT, io_ms)


set_timeouts()


def bound_transfers(seconds: float) -> None:
    """`transfer_timeout`: a remote silent this long (between two reads; or to connect, capped
    at CONNECT_TIMEOUT_MS) fails the transfer, where libgit2 would wait ~120 s. libgit2's own
    sockets (git://, http(s)) honour it."""
    io_ms = max(int(seconds * 1000), 1)
    set_timeouts(connect_ms=min(io_ms, CONNECT_TIMEOUT_MS), io_ms=io_ms)


def _importable_errors() -> None:
    """pygit2's exceptions claim to live in `_pygit2`, which cannot be imported, so they cannot
    be pickled; loguru's queued sinks pickle a logged exception's type and, failing, drop the
    whole record (an internal error caused by git vanished from the log). Name `pygit2`."""
    for name in dir(pygit2):
        obj = getattr(pygit2, name)
        if (isinstance(obj, type) and issubclass(obj, BaseException)
                and obj.__module__ == "_pygit2"):
            obj.__module__ = "pygit2"


_importable_errors()


# -- clone / open --------------------------------------------------------------------------------
def is_local(url: str) -> bool:
    """A remote reached through the filesystem (a path or file://), not a server."""
    return url.startswith("file://") or ("://" not in url and not is_scp_like(url))


def open_or_clone(url: str, path: Path, *, bare: bool = False,
                  credentials: Credentials | None = None) -> pygit2.Repository:
    """Open the clone at `path` (checking its origin is `url`), or clone it there first.

    Clones land in a temporary sibling and are renamed into place, so `path` either holds a
    complete clone or nothing; a directory that is not a usable clone (a crash of an older
    layout, an interrupted removal) is moved aside and cloned again.
    """
    want = normalize_url(url)
    if path.exists():
        repo = _open_existing(path)
        if repo is not None:
            have = repo.remotes[REMOTE].url or ""
            if normalize_url(have) != want:
                raise GitOpError(f"{path} is a clone of {shown_url(have)}, not of {shown_url(url)}")
            _ensure_refspecs(repo)
            return repo
        logger.warning("{} is not a complete clone; cloning {} again", path, shown_url(url))
        _discard(path)
    return _clone(want, path, bare=bare, credentials=credentials)


def open_exact(path: Path) -> pygit2.Repository:
    """The repository at exactly `path`: never one found by searching the parent directories
    (a vanished worktree inside some other checkout must not open that checkout)."""
    return pygit2.Repository(str(path), RepositoryOpenFlag.NO_SEARCH)


def open_repository(path: Path) -> pygit2.Repository:
    """`open_exact`, with a missing or unreadable repository as GitOpError."""
    try:
        return open_exact(path)
    except pygit2.GitError as exc:
        raise GitOpError(f"no git repository at {path}: {exc}") from exc


def _open_existing(path: Path) -> pygit2.Repository | None:
    try:
        repo = open_exact(path)
    except pygit2.GitError:
        return None
    if REMOTE not in repo.remotes.names():
        return None
    if _COMPLETE_KEY in repo.config:
        return repo
    # Not cloned by us: libgit2 and git write refs only after the pack arrived, so a clone
    # without a single remote-tracking ref was interrupted.
    if not any(r.startswith(TRACKING_PREFIX) for r in repo.references):
        return None
    return repo


def _clone(url: str, path: Path, *, bare: bool,
           credentials: Credentials | None) -> pygit2.Repository:
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep_leftovers(path)
    tmp = _sibling(path, "clone")
    callbacks = Callbacks(credentials)
    try:
        if bare:
            _clone_bare(url, tmp, callbacks)
        else:
            pygit2.clone_repository(url, str(tmp), bare=bare, callbacks=callbacks)
        repo = open_exact(tmp)
        _ensure_refspecs(repo)
        repo.config[_COMPLETE_KEY] = True  # only ever set on a clone that finished
        del repo
        os.rename(tmp, path)  # atomic: path now holds a complete clone
    except (pygit2.GitError, OSError, MtorError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if path.exists() and _open_existing(path) is not None:
            return open_or_clone(url, path)  # someone else's clone landed first
        if isinstance(exc, MtorError):
            raise  # refused inside a callback (credentials): already a GitOpError
        if isinstance(exc, pygit2.GitError):
            raise transport_error(exc, "clone", url, callbacks.untrusted_host) from exc
        raise GitOpError(f"cannot clone {shown_url(url)}: {exc}") from exc
    logger.info("cloned {} into {}", shown_url(url), path)
    return open_exact(path)  # the object opened at `tmp` would keep using that path


def _clone_bare(url: str, path: Path, callbacks: Callbacks) -> None:
    """A worker's clone: every branch but the result branches `mtor/<id>`, and refs/mtor/*.
    A result branch is fetched when the worker needs it (fetch_moved), never for a run the done
    index records: with 5,000 finished tasks a full clone fetched 5,000 branches and left as
    many tracking refs to delete. HEAD stays unborn: a worker works only by ref. pygit2's
    errors reach the caller as they are (it names them a clone's)."""
    repo = pygit2.init_repository(str(path), bare=True)
    remote = repo.remotes.create(REMOTE, url)
    _ensure_refspecs(repo)
    heads = [h.name for h in remote.list_heads(callbacks=callbacks) if h.name]
    specs = _branch_specs(heads)
    if heads:
        remote.fetch([*specs, FETCH_REFSPECS[1]], callbacks=callbacks)


def _git_protocol(url: str | None) -> bool:
    """A git:// server: its answers to a fetch on a connection a Listing made wait for our
    acknowledgements (see sockets), so such a fetch runs under quick_acks. A fetch that connects
    by itself measured no wait (12 ms either way), nor did ssh and https, where the helper
    thread only cost time (bench/fetch_quickack.py)."""
    return (url or "").startswith("git://")


def _ensure_refspecs(repo: pygit2.Repository) -> None:
    have = set(repo.remotes[REMOTE].fetch_refspecs)
    for spec in FETCH_REFSPECS:
        if spec not in have:
            repo.remotes.add_fetch(REMOTE, spec)


def _sibling(path: Path, kind: str) -> Path:
    # The pid tells a later sweep whether the owner is still at work.
    return path.parent / f".{path.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _discard(path: Path) -> None:
    """Move `path` aside atomically, then delete it (a crash mid-delete leaves only a leftover)."""
    trash = _sibling(path, "trash")
    os.rename(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _sweep_leftovers(path: Path) -> None:
    """Delete the temporary siblings of processes that died (a crash mid-clone or mid-delete)."""
    for kind in ("clone", "trash"):
        for stale in path.parent.glob(f".{path.name}.{kind}-*"):
            pid = stale.name.rsplit("-", 2)[-2]
            if not (pid.isdigit() and _alive(int(pid))):
                shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


# -- fetch / ls-remote ---------------------------------------------------------------------------
_TRANSFER_LOCKS: dict[str, threading.Lock] = {}
_TRANSFER_LOCKS_GUARD = threading.Lock()


def transfer_lock(repo: pygit2.Repository) -> threading.Lock:
    """One lock per repository for fetches: they rewrite its remote-tracking refs, and two
    threads doing so at once fail on git's ref locks ("failed to create locked file"). Pushes
    write no local ref (`_push`) and take no lock. Fetches are short; agents never hold it."""
    key = os.path.realpath(repo.path)
    with _TRANSFER_LOCKS_GUARD:
        return _TRANSFER_LOCKS.setdefault(key, threading.Lock())


def fetch(repo: pygit2.Repository, *, refspecs: Sequence[str] | None = None,
          credentials: Credentials | None = None,
          connected: pygit2.Remote | None = None) -> FetchOutcome:
    """Fetch (and prune) the remote's branches and refs/mtor/* into the layout above; over
    `connected` (origin, connected by a Listing) when given: libgit2 fetches on a connection
    it already has, by the advertisement it read there, and closes it."""
    callbacks = Callbacks(credentials)
    remote = connected if connected is not None else repo.remotes[REMOTE]
    quick = connected is not None and _git_protocol(remote.url)
    try:
        with transfer_lock(repo), quick_acks() if quick else contextlib.nullcontext():
            stats = remote.fetch(list(refspecs) if refspecs else list(FETCH_REFSPECS),
                                 callbacks=callbacks, prune=FetchPrune.PRUNE)
    except pygit2.GitError as exc:
        raise transport_error(exc, "fetch from", remote.url, callbacks.untrusted_host) from exc
    return FetchOutcome(tuple(callbacks.updates), stats.received_objects, stats.received_bytes)


def fetch_moved(repo: pygit2.Repository, advertised: Mapping[str, str],
                previous: Mapping[str, str] | None, *,
                recorded: Callable[[str, str], bool] | None = None,
                connected: Callable[[], pygit2.Remote | None] | None = None,
                ) -> FetchOutcome | None:
    """A worker cycle's fetch, given the remote's refs (`advertised`, from the ls-remote the
    cycle made) and those of the last fetched cycle (`previous`; None: a first cycle).

    Every branch but the result branches `mtor/<id>`, and refs/mtor/*, are fetched as always.
    A result branch's objects are fetched once, when it appears or moves, unless `recorded`
    (asked after the first fetch, so it may read the done index just fetched) says the worker
    needs none of them (the done index records that run at that commit); its tracking ref is
    dropped at once: the worker reads a result by the oid the remote advertises, and libgit2
    offers every local ref in each fetch's negotiation. Tracking refs of branches the remote no
    longer has are pruned here too (libgit2 prunes only under a pattern refspec). None when
    nothing needed fetching. `connected` hands over the connection that listed `advertised`
    (Listing.take): the first fetch goes over it."""
    specs = _branch_specs(advertised)
    others = {r: o for r, o in advertised.items() if not r.startswith(_HEADS)}
    moved = previous is None or others != {r: o for r, o in previous.items()
                                           if not r.startswith(_HEADS)}
    outcome = None
    if moved or not all(_unchanged(repo, spec, advertised) for spec in specs):
        outcome = fetch(repo, refspecs=[*specs, FETCH_REFSPECS[1]],
                        connected=connected() if connected is not None else None)
    # Cheapest test first: a failed object lookup costs ~17 µs, 5,000 of them a cycle 85 ms.
    results = [ref for ref, oid in advertised.items()
               if ref.startswith(_RESULT_HEADS)
               and (previous is None or previous.get(ref) != oid)
               and not (recorded is not None and recorded(ref, oid))
               and not _known(repo, oid)]
    if results:
        wanted = ([f"+{_RESULT_HEADS}*:{_RESULT_TRACKING}*"] if len(results) > _MANY_RESULTS
                  else [f"+{ref}:{_RESULT_TRACKING}{ref[len(_RESULT_HEADS):]}" for ref in results])
        more = fetch(repo, refspecs=wanted)
        outcome = more if outcome is None else FetchOutcome(
            outcome.updates + more.updates, outcome.received_objects + more.received_objects,
            outcome.received_bytes + more.received_bytes)
    _drop_tracking(repo, advertised)
    return outcome


_MANY_RESULTS = 64  # more result branches to fetch than this: one pattern refspec for all


_HEADS = "refs/heads/"
_RESULT_HEADS = "refs/heads/mtor/"
_RESULT_TRACKING = TRACKING_PREFIX + "mtor/"


def _branch_specs(names: Iterable[str]) -> list[str]:
    """The refspecs fetching each branch of `names` but the result branches to its tracking ref."""
    return [f"+{ref}:{TRACKING_PREFIX}{ref[len(_HEADS):]}" for ref in names
            if ref.startswith(_HEADS) and not ref.startswith(_RESULT_HEADS)]


def _unchanged(repo: pygit2.Repository, refspec: str, advertised: Mapping[str, str]) -> bool:
    """Whether the tracking ref of `refspec` already points where the remote's ref does."""
    src, dst = refspec.lstrip("+").split(":", 1)
    ref = repo.references.get(dst)
    return ref is not None and str(ref.target) == advertised.get(src)


def _known(repo: pygit2.Repository, oid: str | None) -> bool:
    return oid is not None and oid in repo


def _drop_tracking(repo: pygit2.Repository, advertised: Mapping[str, str]) -> None:
    """Delete the tracking refs of result branches (kept by oid, see fetch_moved) and of
    branches the remote no longer advertises."""
    for name in [n for n in repo.references if n.startswith(TRACKING_PREFIX)]:
        if name != TRACKING_PREFIX + "HEAD" and (name.startswith(_RESULT_TRACKING)
                or _HEADS + name[len(TRACKING_PREFIX):] not in advertised):
            with contextlib.suppress(KeyError, pygit2.GitError):
                repo.references.delete(name)


# -- push ----------------------------------------------------------------------------------------
def push(repo: pygit2.Repository, refspecs: Sequence[str], *,
         credentials: Credentials | None = None) -> None:
    """Push `refspecs` ("src:dst", "+src:dst", ":dst" deletes); every ref must be accepted.

    Raises PushRejected naming each refused ref with the server's message (a refusal can arrive
    without any exception from libgit2, see FIELD-NOTES), GitOpError when the remote is
    unreachable or the transport fails.
    """
    if not all(_dst(s).startswith("refs/") for s in refspecs):
        raise GitOpError(f"push needs full destination ref names: {list(refspecs)}")
    _push(repo, refspecs, credentials)


def _push(repo: pygit2.Repository, refspecs: Sequence[str],
          credentials: Credentials | None) -> None:
    """Through an anonymous remote of the same URL: it has no fetch refspecs, so the push
    writes no remote-tracking ref in the clone (a worker reads the remote by ls-remote, and a
    fetch brings what it needs). Writing no local ref, pushes need not wait for each other or
    for a fetch (the transfer lock): a worker's slots publish at once. A path remote's refs are
    written here, under its locks: those pushes take turns."""
    callbacks = Callbacks(credentials)
    origin = repo.remotes[REMOTE]
    url = normalize_url(origin.push_url or origin.url or "")
    if is_local(url):
        # Under git's ref locks in the remote itself: this process's pushes there take turns
        # (a second one would find a lock held and read as refused). Milliseconds each.
        with transfer_lock(repo):
            refused = push_local(repo, url, [RefPush.parse(s) for s in refspecs])
        if refused:
            raise PushRejected(refused)
        return
    remote = repo.remotes.create_anonymous(url)
    try:
        remote.push(list(refspecs), callbacks=callbacks)
    except pygit2.GitError as exc:
        text = str(exc)
        if any(word in text.lower() for word in _REFUSAL_WORDS):
            raise PushRejected({_dst(s): text for s in refspecs} | callbacks.refusals()) from exc
        raise transport_error(exc, "push to", remote.url, callbacks.untrusted_host) from exc
    if callbacks.refused:
        raise PushRejected(callbacks.refusals())


def _dst(refspec: str) -> str:
    return refspec.lstrip("+").rsplit(":", 1)[-1]
