"""Keep a claim alive while its task runs: renew the lease every heartbeat (compare-and-swap on
the claim commit), and notice a cancel request or a lost claim, stopping the agent at once.

A claim is lost only on proof: the remote shows its ref deleted or moved to a commit we did not
write, or the lease lapsed while the remote could not even be read (someone else may have taken
it). A renewal the remote *refuses* while its ref still shows our commit (a hook declining every
push: maintenance, quota) proves nobody else took the task, so the agent runs on and its result
waits in the outbox. The keeper's thread ends with its claim, however the claim ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from loguru import logger

from mtor_git import git
from mtor_git.attempts import AttemptRecord
from mtor_git.errors import GitOpError
from mtor_git.git import Repository, refs
from mtor_git.queue import claims, protocol
from mtor_git.queue.claims import Claim, ClaimPhase

PROGRESS_EVERY = 3.0  # seconds: the most often a changed progress reading is pushed
RUNNING_MARK_DELAY = 1.0  # seconds an agent runs before its claim says `running`


class ClaimKeeper:
    """Owns one claim ref from claim to release; thread-safe."""

    def __init__(self, repo_factory: Callable[[], Repository], branch: str, claim: Claim,
                 oid: str, *, lease: float, interval: float, author: tuple[str, str],
                 progress_every: float = PROGRESS_EVERY,
                 running_mark_delay: float = RUNNING_MARK_DELAY) -> None:
        self._repo_factory = repo_factory
        self._branch = branch
        self.claim, self.oid = claim, oid
        self._lease, self._interval, self._author = lease, interval, author
        self._lock = threading.Lock()
        self.cancel = threading.Event()
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._refused = False  # the last renewal was refused by the remote (not by a rival)
        # The agent's latest progress reading, pushed with the next renewal; a changed one
        # brings that renewal forward, to at most one push every `progress_every` seconds.
        self._progress_every = max(min(progress_every, interval), 0.1)
        self._running_mark_delay = running_mark_delay
        self._progress: dict[str, Any] | None = None
        self._progress_pushed: dict[str, Any] | None = None

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

    def note_progress(self, reading: Mapping[str, Any]) -> None:
        """Keep the agent's latest progress for the claim (called from the agent's thread)."""
        self._progress = dict(reading)

    def _loop(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self._progress_every):
            now = time.monotonic()
            if now - last < self._interval and self._progress == self._progress_pushed:
                continue
            last = now
            try:
                if not self.beat():
                    return  # lost: nothing left to renew, and one log line said so
            except Exception as exc:  # a heartbeat must never kill the task; the lease decides
                logger.warning("heartbeat for {} failed: {}", self.claim.task_id, exc)
                if time.time() > self.claim.lease_expires:
                    # The remote cannot be read: another worker may reach it and take the
                    # task over now; stop ours rather than both run it and race to publish.
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
            progress = self._progress
            nxt = claims.renewed(self.claim, self._lease, attempt=attempt, phase=phase,
                                 progress=progress)
            oid = protocol.push_claim(repo, nxt, parent=self.oid, author=self._author)
            self._progress_pushed = progress
            if oid is None:
                self._note_refused()
                return True  # the ref still shows our claim: nobody else holds the task
            if self._refused:
                logger.info("the remote accepts the claim of {} again", self.claim.task_id)
            self.claim, self.oid, self._refused = nxt, oid, False
        return True

    def _note_refused(self) -> None:
        """A refusal while the ref shows our commit: the remote declines pushes (a hook, a
        quota), or a rival moved the ref just now, which the next beat's ls-remote shows.
        Either way no proof of a loss: keep going, say so once per streak."""
        if not self._refused:
            logger.warning("the remote refused to renew the claim of {}; the ref still shows "
                           "ours, so the agent runs on and its result waits for the remote",
                           self.claim.task_id)
        self._refused = True

    def mark_running_soon(self) -> None:
        """Renew the claim with attempt 1, so readers see `running`, once the agent has run for
        RUNNING_MARK_DELAY: an agent done sooner is never marked (its result is the news), and
        its publication never waits behind the mark's push (~100 ms over git://); a failure
        here is harmless."""

        def mark() -> None:
            if self._stop.wait(self._running_mark_delay):
                return  # the agent ended first: publishing or released, nothing to mark
            try:
                self.beat(attempt=1)
            except GitOpError as exc:
                logger.warning("could not mark {} running: {}", self.claim.task_id, exc)

        threading.Thread(target=mark, name=f"running-{self.claim.task_id}", daemon=True).start()

    def publishing(self) -> bool | None:
        """Stop renewing, leaving the claim marked `publishing`: the result is committed and in
        the outbox, so no other worker reruns the task while its push waits for the remote
        (claims.PUBLISH_GRACE). Best effort: True when marked, False when the remote refused
        the push (it may refuse every push: see outbox.mark_blocked), None when unreachable."""
        return self._final(lambda c: claims.renewed(c, self._lease, phase=ClaimPhase.PUBLISHING),
                           "mark the claim as publishing")

    def release(self, reason: str, *, attempts: tuple[AttemptRecord, ...] | None = None,
                not_before: float | None = None) -> None:
        """Hand the task back with the evidence of what ran, so another worker can go on."""
        if not self.lost.is_set():
            self._final(lambda c: claims.released(c, reason, attempts=attempts,
                                                  not_before=not_before), "release the claim")

    def _final(self, make: Callable[[Claim], Claim], what: str) -> bool | None:
        """Stop renewing and push `make(claim)` as the claim's last word from us: a bare
        compare-and-swap (the push itself checks the ref), best effort. True when it landed,
        False when refused, None when the remote could not be reached or the claim was lost."""
        self.stop()
        with self._lock:
            if self.lost.is_set():
                return None
            nxt = make(self.claim)
            try:
                oid = protocol.push_claim(self._repo_factory(), nxt, parent=self.oid,
                                       author=self._author)
            except GitOpError as exc:
                logger.warning("could not {} of {}: {}; its lease will expire", what,
                               self.claim.task_id, exc)
                return None
            if oid is None:
                logger.warning("could not {} of {}: the remote refused the push", what,
                               self.claim.task_id)
                return False
            self.claim, self.oid = nxt, oid
            return True

    def _pushed_before(self, repo: Repository) -> str | None:
        return git.resolve(repo, refs.local_claim_ref(self.claim.task_id))

    def _mark_lost(self, why: str) -> bool:
        if not self.lost.is_set():  # one line per lost claim, whichever thread noticed first
            logger.error("lost the claim of {}: {}; stopping its agent", self.claim.task_id,
                         why)
        self.lost.set()
        self.cancel.set()
        self._stop.set()  # the heartbeat ends with the claim
        return False
