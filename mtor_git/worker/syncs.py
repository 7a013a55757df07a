"""Each watched repository is synced on a thread of its own: a remote that accepts and never
answers (bounded by `transfer_timeout`) delays no other repository, and the repository still
waiting on its remote is named in the worker's status (`status --workers`, `doctor`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ALL_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

# A sync still running after this long is named in the worker's status.
SLOW_AFTER = 1.0


@dataclass
class _Sync:
    label: str  # the remote's URL as shown in logs (no password)
    started_at: float
    future: Future[int]


class Syncs:
    """At most one sync per repository at a time; a cycle starts the idle ones and waits a bounded
    time for them, a sync still running is skipped by later cycles until it ends."""

    def __init__(self, repositories: int) -> None:
        self._pool = ThreadPoolExecutor(max(1, repositories), thread_name_prefix="sync")
        self._current: dict[str, _Sync] = {}
        self.errors: dict[str, str] = {}  # repository name -> the trouble of its last sync

    def start(self, name: str, label: str, work: Callable[[], int]) -> Future[int] | None:
        """Run `work` (a repository's sync; it returns the number of tasks started) for `name`,
        unless that repository's previous sync is still running; None then."""
        running = self._current.get(name)
        if running is not None and not running.future.done():
            return None
        future = self._pool.submit(work)
        self._current[name] = _Sync(label, time.time(), future)
        return future

    def gather(self, futures: list[Future[int]], timeout: float | None) -> int:
        """Wait up to `timeout` seconds (None: until all end) for `futures`; the tasks started by
        those that ended."""
        if futures:
            wait(futures, timeout=timeout, return_when=ALL_COMPLETED)
        return sum(f.result() for f in futures
                   if f.done() and not f.cancelled() and f.exception() is None)

    def waiting(self, now: float | None = None) -> dict[str, str]:
        """Repository name -> "<url>: still syncing after N s" for every sync running longer
        than SLOW_AFTER (a remote that does not answer, or a long fetch)."""
        at = time.time() if now is None else now
        return {name: f"{s.label}: still syncing after {at - s.started_at:.0f} s"
                for name, s in self._current.items()
                if not s.future.done() and at - s.started_at >= SLOW_AFTER}

    def shutdown(self) -> None:
        # A sync blocked on a silent remote ends by itself within transfer_timeout.
        self._pool.shutdown(wait=False, cancel_futures=True)
