"""The claim step against a real bare remote: creating the claim ref has one winner, a live
claim is left alone, a lapsed or released one is taken over by compare-and-swap, and a run that
became done meanwhile is not claimed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from claimfixtures import AUTHOR, Worker, remote_claim_parent, remote_ref
from gitfixtures import git, import_commit

from mtor_git.attempts import AttemptRecord
from mtor_git.queue import claims, protocol
from mtor_git.queue.acquire import Missed, Won, acquire
from mtor_git.queue.claims import Claim, ClaimPhase

LEASE = 60.0


def claim_of(w: Worker, task_id: str, run: int = 1, *, now: float | None = None,
             view: protocol.RemoteView | None = None) -> Won | Missed:
    return acquire(w.repo, view or w.view(), task_id, run, worker=w.name, lease=LEASE,
                   author=AUTHOR, now=now)


def remote_claim(remote: Path, task_id: str) -> Claim | None:
    raw = git("show", f"refs/mtor/claims/{task_id}:claim.json", cwd=remote)
    return Claim.from_bytes(raw.encode())


def test_a_free_task_is_claimed_and_the_claim_ref_is_created(
        remote: Path, worker: Callable[[str], Worker]) -> None:
    won = claim_of(worker("w1"), "t1")
    assert isinstance(won, Won)
    assert remote_ref(remote, "refs/mtor/claims/t1") == won.oid
    stored = remote_claim(remote, "t1")
    assert stored is not None and (stored.worker, stored.phase) == ("w1", ClaimPhase.RUNNING)


def test_of_two_workers_claiming_from_the_same_view_exactly_one_wins(
        worker: Callable[[str], Worker]) -> None:
    w1, w2 = worker("w1"), worker("w2")
    v1, v2 = w1.view(), w2.view()  # both saw no claim
    first, second = claim_of(w1, "t1", view=v1), claim_of(w2, "t1", view=v2)
    assert isinstance(first, Won) and second == Missed.RACE


def test_a_claim_under_a_live_lease_is_left_to_its_holder(
        remote: Path, worker: Callable[[str], Worker]) -> None:
    held = claim_of(worker("w1"), "t1")
    assert isinstance(held, Won)
    assert claim_of(worker("w2"), "t1") == Missed.HELD
    assert remote_ref(remote, "refs/mtor/claims/t1") == held.oid


def test_a_lapsed_claim_is_taken_over_as_a_child_of_the_claim_seen(
        remote: Path, worker: Callable[[str], Worker]) -> None:
    held = claim_of(worker("w1"), "t1")
    assert isinstance(held, Won)
    later = held.claim.lease_expires + 1
    taken = claim_of(worker("w2"), "t1", now=later)
    assert isinstance(taken, Won) and taken.claim.worker == "w2"
    assert remote_claim_parent(remote, "t1") == held.oid


def test_a_take_over_from_a_stale_view_loses_the_compare_and_swap(
        worker: Callable[[str], Worker]) -> None:
    held = claim_of(worker("w1"), "t1")
    assert isinstance(held, Won)
    w2, w3 = worker("w2"), worker("w3")
    v2, v3 = w2.view(), w3.view()  # both saw w1's lapsed claim
    later = held.claim.lease_expires + 1
    assert isinstance(claim_of(w2, "t1", view=v2, now=later), Won)
    assert claim_of(w3, "t1", view=v3, now=later) == Missed.RACE


def test_a_take_over_of_the_same_run_carries_its_attempts(
        worker: Callable[[str], Worker]) -> None:
    w1 = worker("w1")
    held = claim_of(w1, "t1")
    assert isinstance(held, Won)
    carried = (AttemptRecord.from_json({"number": 1, "future_field": [1, 2]}),)
    gone = claims.released(held.claim, "interrupted", attempts=carried)
    assert protocol.push_claim(w1.repo, gone, parent=held.oid, author=AUTHOR) is not None
    taken = claim_of(worker("w2"), "t1")
    assert isinstance(taken, Won) and taken.claim.carried_attempts == carried


def test_a_claim_released_until_later_is_not_taken_before_then(
        worker: Callable[[str], Worker]) -> None:
    w1 = worker("w1")
    held = claim_of(w1, "t1")
    assert isinstance(held, Won)
    parked = claims.released(held.claim, "parked", not_before=held.claim.heartbeat + 600)
    assert protocol.push_claim(w1.repo, parked, parent=held.oid, author=AUTHOR) is not None
    w2 = worker("w2")
    assert claim_of(w2, "t1", now=held.claim.heartbeat + 10) == Missed.HELD
    assert isinstance(claim_of(w2, "t1", now=held.claim.heartbeat + 601), Won)


def test_a_run_done_between_the_fetch_and_the_claim_is_not_claimed(
        remote: Path, worker: Callable[[str], Worker]) -> None:
    w1 = worker("w1")
    view = w1.view()  # before the result lands
    # run 1's result branch appears (a worker pushes it only with the result on top)
    import_commit(remote, "mtor/t1", {"results/t1.json": b'{"task": {"id": "t1"}}'},
                  "mtor: t1 succeeded", parent=git("rev-parse", "main", cwd=remote))
    assert claim_of(w1, "t1", view=view) == Missed.DONE
    assert remote_ref(remote, "refs/mtor/claims/t1") is None


def test_a_claim_written_by_a_newer_version_keeps_its_unknown_fields_out_and_reads() -> None:
    data = json.loads(claims.new_claim("t1", 1, "w1", LEASE, spec_commit=None).to_bytes())
    data.update(shiny_new_field={"x": 1}, phase="verifying")
    claim = Claim.from_bytes(json.dumps(data).encode())
    assert claim is not None and claim.phase == ClaimPhase.RUNNING  # held, under its lease
