"""The claim step: win `refs/mtor/claims/<id>` for one run, by creating it (a non-force push of a
new ref: one winner) or by taking over a claim that `claims.takeable` allows (a child commit of
the claim seen: compare-and-swap), then make sure the run did not become done meanwhile."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from loguru import logger

from mtor_git.git import Repository, refs
from mtor_git.queue import claims, protocol


@dataclass(frozen=True)
class Won:
    """The claim is ours: `oid` is the claim commit the remote now holds."""

    claim: claims.Claim
    oid: str


class Missed(StrEnum):
    """Why the claim is not ours."""

    HELD = "held"  # another holds it under a live lease: watch it, the lease may lapse
    RACE = "race"  # another worker's push won: watch it
    DONE = "done"  # the run became done between our fetch and our claim: nothing to do


def acquire(repo: Repository, view: protocol.RemoteView, task_id: str, run: int, *,
            worker: str, lease: float, author: tuple[str, str],
            now: float | None = None,
            landed: Callable[[protocol.RemoteView], bool] | None = None) -> Won | Missed:
    """Claim run `run` of `task_id` for `worker`, as the refs in `view` (fetched) show it.
    `landed` tells whether a result not on the task's own branch (a follow-up's, on the branch
    it continues) is there in a fresh view."""
    at = time.time() if now is None else now
    spec_commit = view.head  # the watched branch's commit the spec was read at
    oid = view.claim_oid(task_id)
    if oid is None:
        claim = claims.new_claim(task_id, run, worker, lease, spec_commit=spec_commit)
    else:
        old = protocol.read_claim(repo, oid)
        if not claims.takeable(old, me=worker, now=at, cancelled=view.cancelled(task_id)):
            return Missed.HELD
        claim = (claims.taken_over(old, worker, lease, spec_commit=spec_commit, run=run)
                 if old else claims.new_claim(task_id, run, worker, lease,
                                              spec_commit=spec_commit))
        logger.info("taking over the claim of {} from {}", task_id,
                    old.worker if old else "an unreadable claim")
    new_oid = protocol.push_claim(repo, claim, parent=oid, author=author)
    if new_oid is None:
        return Missed.RACE
    fresh = protocol.read_view(repo, view.branch)
    branch = fresh.refs.get(refs.branch_ref(task_id, run))
    if (branch is not None and protocol.holds_result(repo, branch, task_id)) \
            or (landed is not None and landed(fresh)):
        # Finished by someone between our fetch and our claim (a branch we have not fetched
        # counts as a result: a worker pushes its branch only with the result on top; a
        # follow-up's result is on the branch it continues).
        protocol.delete_claim(repo, task_id)
        return Missed.DONE
    return Won(claim, new_oid)
