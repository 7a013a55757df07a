"""After a result landed, off the task slots: record its run in the done index and delete its
claim, in one push (queue/outbox.finish) on the housekeeping thread. What lands while that push
is under way waits and goes in the next one: a burst of finished tasks costs a push or two."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from loguru import logger

from mtor_git import git
from mtor_git.git import Repository, refs
from mtor_git.queue import outbox, protocol
from mtor_git.queue.state import OutboxEntry

RECENT = 120.0  # seconds: a claim queued for deletion is not queued again meanwhile
RETRY_FIRST = 5.0  # seconds before a failed record is tried again, doubling ...
RETRY_MAX = 600.0  # ... up to this
MAX_TRIES = 12  # then the entries are left to a later cycle's sweep (Finisher.done)


@dataclass
class _Pending:
    open_repo: Callable[[], Repository]
    entries: list[OutboxEntry] = field(default_factory=list)
    claims: set[str] = field(default_factory=set)
    tries: int = 0  # records of these entries that failed so far


class Finisher:
    def __init__(self, executor: Executor, author: tuple[str, str], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._executor = executor
        self._author = author
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._recent: dict[tuple[str, str | None], float] = {}  # claims queued for deletion
        self._records: dict[tuple[str, str, int], float] = {}  # runs queued to be recorded

    def add(self, repo_name: str, open_repo: Callable[[], Repository], *,
            entry: OutboxEntry | None = None, claim: str | None = None) -> None:
        """Queue a landed result (`entry`: recorded, its claim deleted) or a leftover claim of a
        done task (`claim`: deleted). A claim queued here within RECENT seconds is not queued
        again: the cycle that sees it beside its result ran before its deletion landed."""
        now = self._clock()
        with self._lock:
            self._recent = {k: t for k, t in self._recent.items() if now - t < RECENT}
            self._records = {k: t for k, t in self._records.items() if now - t < RECENT}
            if entry is None and (repo_name, claim) in self._recent:
                return
            pending = self._pending.setdefault(repo_name, _Pending(open_repo))
            if entry is not None:
                pending.entries.append(entry)
                self._recent[(repo_name, entry.task_id)] = now
                self._records[(repo_name, entry.task_id, entry.run)] = now
            if claim is not None:
                pending.claims.add(claim)
                self._recent[(repo_name, claim)] = now
        try:
            self._executor.submit(self._flush, repo_name)
        except RuntimeError:  # shutting down: the next process's cycle sweeps what is left
            logger.debug("housekeeping closed; {} left for the next cycle", repo_name)

    def landed(self, repo: Repository, repo_name: str, open_repo: Callable[[], Repository],
               entry: OutboxEntry) -> None:
        """Queue a result that landed, recorded at its branch's tip: the pull request's note
        commit when one was pushed on top (a worker fetches no result branch the index records
        at its tip)."""
        tip = git.resolve(repo, refs.HEADS + entry.branch)
        if tip is not None and tip != entry.commit and git.is_ancestor(repo, entry.commit, tip):
            entry = dataclasses.replace(entry, commit=tip)
        self.add(repo_name, open_repo, entry=entry)

    def done(self, repo: Repository, repo_name: str, open_repo: Callable[[], Repository],
             view: protocol.RemoteView, task_id: str, run: int) -> bool:
        """Whether run `run` ended (protocol.is_done). A result branch the done index does not
        record yet (its worker died before recording it; one from before the index) is queued
        to be recorded, so that it stays done once the branch is merged or deleted; not a run
        this worker queued within RECENT seconds: a view read before that record landed shows
        the same gap, and a second record would push the claim deletion a second time."""
        if protocol.index(repo, view).has(task_id, run):
            return True
        if not view.done(task_id, run):
            return False
        tip = view.refs.get(refs.branch_ref(task_id, run))
        if tip is not None and git.resolve(repo, tip) is not None \
                and not self._queued(repo_name, task_id, run):  # a claim beside it too
            self.add(repo_name, open_repo, entry=outbox.new_entry(task_id, run, tip, "recorded"))
        return True

    def _queued(self, repo_name: str, task_id: str, run: int) -> bool:
        """Whether run `run` of `task_id` was queued to be recorded within RECENT seconds (a
        claim's deletion alone, or another run of the task, does not count)."""
        with self._lock:
            at = self._records.get((repo_name, task_id, run))
        return at is not None and self._clock() - at < RECENT

    def _flush(self, repo_name: str) -> None:
        with self._lock:
            pending = self._pending.pop(repo_name, None)
        if pending is None or not (pending.entries or pending.claims):
            return  # an earlier flush took it along
        if outbox.finish(pending.open_repo(), pending.entries, claims_too=pending.claims,
                         author=self._author) or not pending.entries:
            return
        tries = pending.tries + 1  # the claims went alone; the records are tried again
        if tries >= MAX_TRIES:
            logger.error("gave up recording {} in the done index after {} tries; a later "
                         "cycle records them from their branches", len(pending.entries), tries)
            return
        timer = threading.Timer(min(RETRY_MAX, RETRY_FIRST * 2 ** (tries - 1)), self._again,
                                args=(repo_name, pending.open_repo, pending.entries, tries))
        timer.daemon = True
        timer.start()

    def _again(self, repo_name: str, open_repo: Callable[[], Repository],
               entries: list[OutboxEntry], tries: int) -> None:
        with self._lock:
            pending = self._pending.setdefault(repo_name, _Pending(open_repo))
            pending.entries.extend(entries)
            pending.tries = max(pending.tries, tries)
        try:
            self._executor.submit(self._flush, repo_name)
        except RuntimeError:
            logger.debug("housekeeping closed; {} left for the next cycle", repo_name)
