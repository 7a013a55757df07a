"""The agent's progress rides in the claim: the keeper carries the latest reading in each
renewal, brings a renewal forward when the reading changed, and pushes no more often than
`progress_every` however often the agent reports."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from claimfixtures import AUTHOR, BRANCH, Worker
from gitfixtures import git

from mtor_git.queue.acquire import Won, acquire
from mtor_git.queue.claims import Claim
from mtor_git.queue.lease import ClaimKeeper


def _keeper(w: Worker, *, interval: float, progress_every: float) -> ClaimKeeper:
    won = acquire(w.repo, w.view(), "t1", 1, worker=w.name, lease=60.0, author=AUTHOR)
    assert isinstance(won, Won)
    return ClaimKeeper(lambda: w.repo, BRANCH, won.claim, won.oid, lease=60.0,
                       interval=interval, author=AUTHOR, progress_every=progress_every)


def _stored(remote: Path) -> Claim:
    claim = Claim.from_bytes(git("show", "refs/mtor/claims/t1:claim.json", cwd=remote).encode())
    assert claim is not None
    return claim


def _chain(remote: Path) -> int:
    return int(git("rev-list", "--count", "refs/mtor/claims/t1", cwd=remote))


def test_a_beat_carries_the_latest_progress(remote: Path,
                                            worker: Callable[[str], Worker]) -> None:
    keeper = _keeper(worker("w1"), interval=3600.0, progress_every=3.0)
    keeper.note_progress({"attempt": 1, "turns": 1})
    keeper.note_progress({"attempt": 1, "turns": 2, "cost_usd": 0.01})
    assert keeper.beat()
    assert _stored(remote).progress == {"attempt": 1, "turns": 2, "cost_usd": 0.01}
    assert keeper.beat(attempt=1)  # a renewal without a new reading keeps the last one
    assert _stored(remote).progress == {"attempt": 1, "turns": 2, "cost_usd": 0.01}


def test_a_changed_reading_is_pushed_before_the_heartbeat_is_due(
        remote: Path, worker: Callable[[str], Worker]) -> None:
    keeper = _keeper(worker("w1"), interval=3600.0, progress_every=0.1)
    keeper.start()
    try:
        keeper.note_progress({"attempt": 1, "turns": 3})
        deadline = time.monotonic() + 30
        while _stored(remote).progress is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _stored(remote).progress == {"attempt": 1, "turns": 3}
    finally:
        keeper.stop()


def test_an_unchanged_reading_pushes_nothing_more(remote: Path,
                                                  worker: Callable[[str], Worker]) -> None:
    keeper = _keeper(worker("w1"), interval=3600.0, progress_every=0.1)
    keeper.note_progress({"attempt": 1, "turns": 3})
    assert keeper.beat()
    before = _chain(remote)
    keeper.start()
    try:
        threading.Event().wait(1.0)  # ten chances to push; none is due
    finally:
        keeper.stop()
    assert _chain(remote) == before


def test_a_flood_of_readings_is_bounded_by_progress_every(
        remote: Path, worker: Callable[[str], Worker]) -> None:
    keeper = _keeper(worker("w1"), interval=3600.0, progress_every=0.5)
    before = _chain(remote)
    keeper.start()
    started = time.monotonic()
    try:
        turn = 0
        while time.monotonic() - started < 2.0:
            turn += 1
            keeper.note_progress({"attempt": 1, "turns": turn})
            time.sleep(0.01)
    finally:
        keeper.stop()
    elapsed = time.monotonic() - started
    pushed = _chain(remote) - before
    assert 1 <= pushed <= elapsed / 0.5 + 1, (pushed, turn)
