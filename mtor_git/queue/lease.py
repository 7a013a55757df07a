"""Keep a claim alive while its task runs: renew the lease every heartbeat (compare-and-swap on
the claim commit), and notice a cancel request or a lost claim, stopping the agent at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from loguru import logger

from mtor_git import git
from mtor_git.attempts import AttemptRecord
from mtor_git.errors import GitOpError
from mtor_git.git import Repository, refs
from mtor_git.queue import claims, protocol
from mtor_git.queue.claims import Claim, ClaimPhase


class ClaimKeeper:
    """Owns one claim ref from claim to release; thread-safe."""

    def __init__(self, repo_factory: Callable[[], Repository], branch: str, claim: Claim,
                 oid: str, *, lease: float, interval: float, author: tuple[str, str]) -> None:
        self._repo_factory = repo_factory
        self._branch = branch
        self.claim, self.oid = claim, oid
        self._lease, self._interval, self._author = lease, interval, author
        self._lock = threading.Lock()
        self.cancel = threading.Event()
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"keeper-{self.claim.task_id}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            pass  # a beat from another thread (mark running) that was pushing has finished

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.beat()
            except Exception as exc:  # a heartbeat must never kill the task; the lease decides
                logger.warning("heartbeat for {} failed: {}", self.claim.task_id, exc)
                if time.time() > self.claim.lease_expires:
                    # Another worker may take the task over now: stop ours rather than both
                    # run it and race to publish.
                    self._mark_lost("the lease expired without a renewal")
                    return

    def beat(self, *, attempt: int | None = None, phase: ClaimPhase | None = None) -> bool:
        """Renew the lease now; False (and `lost` set) when another worker owns the claim."""
        repo = self._repo_factory()
        with self._lock:  # the read and the push together: two beats must not interleave
            if self._stop.is_set():
                return True  # publishing or released: a late renewal must not recreate the ref
            view = protocol.read_view(repo, self._branch)
            if view.cancelled(self.claim.task_id) and not self.cancel.is_set():
                logger.info("cancel requested for {}", self.claim.task_id)
                self.cancel.set()
            seen = view.claim_oid(self.claim.task_id)
            if seen is not None and seen != self.oid and seen == self._pushed_before(repo):
                self.oid = seen  # our own earlier push landed although it reported an error
            if seen is None:
                # Only a publisher deletes a claim: pushing now would create it again.
                return self._mark_lost("the claim ref was deleted")
            if seen != self.oid:
                return self._mark_lost("the claim ref moved")
            nxt = claims.renewed(self.claim, self._lease, attempt=attempt, phase=phase)
            oid = protocol.push_claim(repo, nxt, parent=self.oid, author=self._author)
            if oid is None:
                return self._mark_lost("the renewal was refused")
            self.claim, self.oid = nxt, oid
        return True

    def publishing(self) -> None:
        """Stop renewing, leaving the claim marked `publishing`: the result is committed and in
        the outbox, so no other worker reruns the task while its push waits for the remote
        (claims.PUBLISH_GRACE). Best effort: an unreachable remote leaves the claim as it was."""
        self._final(lambda c: claims.renewed(c, self._lease, phase=ClaimPhase.PUBLISHING),
                    "mark the claim as publishing")

    def release(self, reason: str, *, attempts: tuple[AttemptRecord, ...] | None = None,
                not_before: float | None = None) -> None:
        """Hand the task back with the evidence of what ran, so another worker can go on."""
        if not self.lost.is_set():
            self._final(lambda c: claims.released(c, reason, attempts=attempts,
                                                  not_before=not_before), "release the claim")

    def _final(self, make: Callable[[Claim], Claim], what: str) -> None:
        """Stop renewing and push `make(claim)` as the claim's last word from us: a bare
        compare-and-swap (the push itself checks the ref), best effort."""
        self.stop()
        with self._lock:
            if self.lost.is_set():
                return
            nxt = make(self.claim)
            try:
                oid = protocol.push_claim(self._repo_factory(), nxt, parent=self.oid,
                                       author=self._author)
            except GitOpError as exc:
                logger.warning("could not {} of {}: {}; its lease will expire", what,
                               self.claim.task_id, exc)
                return
            if oid is None:
                logger.warning("could not {} of {}: the claim moved", what, self.claim.task_id)
                return
            self.claim, self.oid = nxt, oid

    def _pushed_before(self, repo: Repository) -> str | None:
        return git.resolve(repo, refs.local_claim_ref(self.claim.task_id))

    def _mark_lost(self, why: str) -> bool:
        logger.error("lost the claim of {}: {}; stopping its agent", self.claim.task_id, why)
        self.lost.set()
        self.cancel.set()
        return False
