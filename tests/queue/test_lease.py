"""The claim keeper against a real bare remote: each beat renews the lease by compare-and-swap,
a claim that moved or vanished is lost (and never recreated), a cancel request stops the agent,
and its last word (released, publishing) lands as a child of the claim it held."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from claimfixtures import AUTHOR, BRANCH, Worker, remote_claim_parent, remote_ref
from gitfixtures import git

from mtor_git.attempts import AttemptRecord
from mtor_git.queue import claims, protocol
from mtor_git.queue.acquire import Won, acquire
from mtor_git.queue.claims import Claim, ClaimPhase
from mtor_git.queue.lease import ClaimKeeper

LEASE = 60.0


def keeper_for(w: Worker, task_id: str = "t1") -> ClaimKeeper:
    """A keeper of a claim `w` just won; its thread is never started: the tests beat by hand."""
    won = acquire(w.repo, w.view(), task_id, 1, worker=w.name, lease=LEASE, author=AUTHOR)
    assert isinstance(won, Won)
    return ClaimKeeper(lambda: w.repo, BRANCH, won.claim, won.oid, lease=LEASE,
                       interval=3600.0, author=AUTHOR)


def stored(remote: Path, task_id: str = "t1") -> Claim:
    claim = Claim.from_bytes(git("show", f"refs/mtor/claims/{task_id}:claim.json",
                                 cwd=remote).encode())
    assert claim is not None
    return claim


def test_a_beat_renews_the_lease_as_a_child_of_the_claim_held(
        remote: Path, worker: Callable[[str], Worker]) -> None:
    keeper = keeper_for(worker("w1"))
    before = keeper.oid
    assert keeper.beat(attempt=1)
    assert remote_ref(remote, "refs/mtor/claims/t1") == keeper.oid != before
    assert remote_claim_parent(remote, "t1") == before
    assert stored(remote).attempt == 1 and not keeper.lost.is_set()


def test_a_claim_moved_by_another_worker_is_lost_and_stops_the_agent(
        remote: Path, worker: Callable[[str], Worker]) -> None:
    w1, w2 = worker("w1"), worker("w2")
    keeper = keeper_for(w1)
    w2.view()  # w2 fetches w1's claim commit, then takes it over
    other = claims.taken_over(keeper.claim, "w2", LEASE, spec_commit=None)
    assert protocol.push_claim(w2.repo, other, parent=keeper.oid, author=AUTHOR) is not None
    assert keeper.beat() is False
    assert keeper.lost.is_set() and keeper.cancel.is_set()
    assert stored(remote).worker == "w2"


def test_a_deleted_claim_is_lost_and_not_created_again(
        remote: Path, worker: Callable[[str], Worker]) -> None:
    w1 = worker("w1")
    keeper = keeper_for(w1)
    protocol.delete_claim(w1.repo, "t1")
    assert keeper.beat() is False and keeper.lost.is_set()
    assert remote_ref(remote, "refs/mtor/claims/t1") is None


def test_a_cancel_request_sets_cancel_but_keeps_the_claim(
        remote: Path, worker: Callable[[str], Worker]) -> None:
    keeper = keeper_for(worker("w1"))
    git("update-ref", "refs/mtor/cancel/t1", "main", cwd=remote)
    assert keeper.beat() is True
    assert keeper.cancel.is_set() and not keeper.lost.is_set()


def test_release_hands_the_claim_back_with_its_attempts_and_wait(
        remote: Path, worker: Callable[[str], Worker]) -> None:
    keeper = keeper_for(worker("w1"))
    held, resume = keeper.oid, keeper.claim.heartbeat + 900
    attempts = (AttemptRecord.from_json({"number": 1, "profile": "claude"}),)
    keeper.release("parked", attempts=attempts, not_before=resume)
    back = stored(remote)
    assert (back.phase, back.reason, back.carried_attempts, back.not_before) == \
        (ClaimPhase.RELEASED, "parked", attempts, resume)
    assert remote_claim_parent(remote, "t1") == held


def test_publishing_marks_the_claim_so_nobody_takes_it_within_the_grace(
        remote: Path, worker: Callable[[str], Worker]) -> None:
    keeper = keeper_for(worker("w1"))
    keeper.publishing()
    claim = stored(remote)
    assert claim.phase == ClaimPhase.PUBLISHING
    assert not claims.takeable(claim, me="w2", now=claim.lease_expires + 1)
    assert claims.takeable(claim, me="w2", now=claim.lease_expires + claims.PUBLISH_GRACE + 1)


def test_a_lost_claim_is_not_released(remote: Path, worker: Callable[[str], Worker]) -> None:
    w1 = worker("w1")
    keeper = keeper_for(w1)
    protocol.delete_claim(w1.repo, "t1")
    keeper.beat()
    keeper.release("worker stopping")
    assert remote_ref(remote, "refs/mtor/claims/t1") is None
