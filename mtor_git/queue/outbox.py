"""Push a committed result, or keep it in the outbox until the remote takes it: never lost,
never pushed twice. Ordering matters: the result branch is pushed before the claim is deleted,
so a worker that wins a claim after ours is released always sees the task as done."""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import Callable, Iterable, Sequence

from loguru import logger

from mtor_git import faults, git
from mtor_git.errors import GitOpError, PushRejected
from mtor_git.git import Repository, refs
from mtor_git.queue import claims, done, protocol
from mtor_git.queue.state import OutboxEntry, RepoState

REFUSAL_FIRST_WAIT = 30.0
REFUSAL_MAX_WAIT = 3600.0

# Renew our claim of a waiting result's task, marked `publishing`: True when the remote took the
# push, False when it refused it, None when there was nothing of ours to renew or no answer.
Probe = Callable[[Repository, OutboxEntry], bool | None]


def publish(repo: Repository, state: RepoState, entry: OutboxEntry, *,
            release: Callable[[OutboxEntry], object] | None = None,
            probe: Probe | None = None) -> bool:
    """Push one outbox entry; True when it is on the remote (and the outbox entry is gone).

    Afterwards the run is recorded in the done index and the claim deleted, in one push
    (`finish`), by `release(entry)` when given (the worker does it off the task's slot, batched:
    a push costs ~50 ms over git://, and a claim left beside a published result is harmless and
    swept by a later cycle). When the result is refused, `probe` (a
    renewal of our claim as `publishing`) tells a remote refusing every push (the entry is
    `blocked`: probed every cycle) from one refusing only this branch (a doubling wait)."""
    ref = refs.HEADS + entry.branch  # a follow-up's: the branch it continues (fast-forward)
    if git.resolve(repo, entry.commit) is None:
        # The workspace clone was deleted or re-cloned: retrying this push can never work.
        logger.error("result of {} run {} (commit {}) is gone from the workspace clone; dropped "
                     "from the outbox, the task will run again", entry.task_id, entry.run,
                     entry.commit[:12])
        state.drop_outbox(entry.task_id, entry.run)
        return False
    if is_followup(entry):
        try:
            there = git.remote_refs(repo).get(ref)
        except GitOpError as exc:
            _keep(state, entry, str(exc))
            return False
        if there is None:  # pushing would create the branch again after a merge or deletion
            _give_up(repo, state, entry, f"the branch {entry.branch} it continues is gone")
            return False
    faults.point("before_push")
    try:
        git.push(repo, [f"{ref}:{ref}"])
    except PushRejected as exc:
        if _settle_refusal(repo, state, entry, str(exc)):
            return True
        _mark_blocked(repo, state, entry, probe)
        return False
    except GitOpError as exc:
        _keep(state, entry, str(exc))
        if probe is not None:
            probe(repo, entry)  # the push failed in transit: the remote may still take a claim
        return False
    faults.point("after_push")
    state.drop_outbox(entry.task_id, entry.run)
    if release is None:
        finish(repo, [entry])
    else:
        release(entry)
    logger.info("published {} ({}) to {}", entry.task_id, entry.status, entry.branch)
    return True


def flush(repo: Repository, state: RepoState, *, due_only: bool = True,
          probe: Probe | None = None,
          in_flight: Callable[[OutboxEntry], bool] = lambda entry: False) -> list[OutboxEntry]:
    """Push every waiting result whose wait after a refusal is over (every one, when not
    `due_only`: a restart, typically after the operator fixed the remote, tries them all at
    once), and a `blocked` one as soon as `probe` finds the remote accepting pushes again;
    the entries that landed now. An entry `in_flight` (its task's own thread is publishing it
    right now) is left to that thread: pushing it twice costs a push and a done record."""
    landed = []
    now = time.time()
    for entry in state.outbox():
        if in_flight(entry):
            continue
        waiting = due_only and entry.next_try_at > now
        if waiting and not (entry.blocked and probe is not None and probe(repo, entry)):
            continue
        if publish(repo, state, entry, probe=probe):
            landed.append(entry)
    return landed


def claim_probe(me: str, lease: float, author: tuple[str, str]) -> Probe:
    """A Probe for worker `me`: renew the claim the remote shows for the entry's task when this
    worker on this host wrote it for that run, as `publishing` (no take-over while the result
    waits, claims.PUBLISH_GRACE). A claim of someone else's is never touched."""

    def probe(repo: Repository, entry: OutboxEntry) -> bool | None:
        try:
            oid = git.remote_refs(repo).get(refs.claim_ref(entry.task_id))
            claim = protocol.read_claim(repo, oid) if oid else None
            if (oid is None or claim is None or claim.worker != me or claim.run != entry.run
                    or claim.host != socket.gethostname()):
                return None
            renewed = claims.renewed(claim, lease, phase=claims.ClaimPhase.PUBLISHING)
            return protocol.push_claim(repo, renewed, parent=oid, author=author) is not None
        except GitOpError as exc:
            logger.debug("probe for {} found no answer: {}", entry.task_id, exc)
            return None

    return probe


def _mark_blocked(repo: Repository, state: RepoState, entry: OutboxEntry,
                  probe: Probe | None) -> None:
    """After a refused result: does the remote refuse our claim too? Then it declines every
    push, and the result goes out at the first cycle that sees it accept one again."""
    if probe is not None:
        mark_blocked(state, entry, probe(repo, entry) is False)


def mark_blocked(state: RepoState, entry: OutboxEntry, blocked: bool = True) -> None:
    """Record whether the remote refused our claim as well as `entry`'s result (a remote
    declining every push: maintenance, a quota); a blocked entry is probed every cycle."""
    kept = next((e for e in state.outbox() if (e.task_id, e.run) == (entry.task_id, entry.run)),
                None)
    if kept is None or kept.blocked == blocked:
        return
    state.put_outbox(dataclasses.replace(kept, blocked=blocked))
    if blocked:
        logger.warning("the remote refuses every push (our claim of {} too); its result is "
                       "pushed at the first cycle the remote accepts one again", entry.task_id)


def adopt(repo: Repository, state: RepoState, view: protocol.RemoteView, me: str) -> int:
    """Queue the results a killed process of worker `me` committed but never put in the outbox
    (it died in between, or the entry was damaged), so they are pushed rather than run again.
    A local result counts only while the remote still holds the claim of the process that
    committed it. The number adopted."""
    queued = {(e.task_id, e.run) for e in state.outbox()}
    adopted = 0
    for task_id in sorted(view.ids_with(refs.CLAIM_PREFIX)):
        claim = protocol.read_claim(repo, view.claim_oid(task_id) or "")
        if (claim is None or not claims.is_orphan_of(claim, me)
                or (task_id, claim.run) in queued
                or protocol.is_done(repo, view, task_id, claim.run)):
            continue
        ref = refs.branch_ref(task_id, claim.run)
        tip = git.resolve(repo, ref)
        raw = git.read_blob(repo, tip, refs.result_json(task_id)) if tip else None
        try:
            result = json.loads(raw or b"null")
            mine = (result["run"] == claim.run and result["worker"]["id"] == me
                    and result["worker"]["pid"] == claim.pid)
        except (ValueError, TypeError, KeyError):
            continue
        if mine and tip is not None:
            logger.info("{}: adopting the result a killed process committed ({})", task_id,
                        result["status"])
            state.put_outbox(new_entry(task_id, claim.run, tip, str(result["status"])))
            adopted += 1
    return adopted


def _settle_refusal(repo: Repository, state: RepoState, entry: OutboxEntry,
                    why: str) -> bool:
    ref = refs.HEADS + entry.branch
    try:
        remote = git.remote_refs(repo).get(ref)
    except GitOpError as exc:
        _keep(state, entry, f"{why}; then {exc}")
        return False
    if remote == entry.commit:
        state.drop_outbox(entry.task_id, entry.run)  # an earlier push landed after all
        finish(repo, [entry])
        return True
    if remote is not None and is_followup(entry):
        _give_up(repo, state, entry, f"{entry.branch} moved to {remote[:12]} while it ran")
        return False
    if remote is not None:
        logger.error("result of {} run {} was refused: the remote already has {} at {}; ours "
                     "stays at local ref {}", entry.task_id, entry.run, entry.branch,
                     remote[:12], ref)
        state.drop_outbox(entry.task_id, entry.run)
        return True
    _keep(state, entry, why, refused=True)
    return False


def is_followup(entry: OutboxEntry) -> bool:
    """A follow-up's result goes to the branch it continues, not to a branch of its own."""
    return entry.branch != refs.branch(entry.task_id, entry.run)


def _give_up(repo: Repository, state: RepoState, entry: OutboxEntry, why: str) -> None:
    """Drop a follow-up's result that cannot land as a fast-forward of its branch, and its claim:
    the follow-up is not done, so the next cycle takes it again (from the branch's new head, or
    rejected as `followup_target_gone`)."""
    logger.error("result of follow-up {} not pushed: {}; it is taken again at the next cycle",
                 entry.task_id, why)
    state.drop_outbox(entry.task_id, entry.run)
    protocol.delete_claim(repo, entry.task_id)


def _keep(state: RepoState, entry: OutboxEntry, why: str, *, refused: bool = False) -> None:
    """Keep a result whose push failed. An unreachable remote is tried again every cycle (the
    result should land as soon as it is back); a remote that *refuses* it (a hook, branch
    protection) is tried again after a doubling wait of up to an hour, so a refusal that
    lasts never becomes a push every poll."""
    tries = entry.tries + 1
    wait = min(REFUSAL_MAX_WAIT, REFUSAL_FIRST_WAIT * 2 ** min(tries - 1, 16)) if refused else 0
    log = logger.error if refused else logger.warning
    log("result of {} kept in the outbox (push {}: {}); tried again in {}", entry.task_id,
        "refused" if refused else "failed", why, f"{wait:.0f}s" if wait else "the next cycle")
    state.put_outbox(dataclasses.replace(entry, tries=tries, last_error=why[:500],
                                         next_try_at=time.time() + wait if refused else 0.0))


def finish(repo: Repository, entries: Sequence[OutboxEntry], *, claims_too: Iterable[str] = (),
           author: tuple[str, str] | None = None) -> bool:
    """After `entries` landed: record their runs in the done index and delete their claims (and
    those of `claims_too`, done tasks' leftovers), in one push: the claims guard nothing now.
    True when the index holds every run."""
    runs = [r for r in (done_run(repo, e.task_id, e.run, e.branch, e.commit) for e in entries)
            if r is not None]
    gone = sorted({e.task_id for e in entries} | set(claims_too))
    return done.record(repo, runs, also=[f":{refs.claim_ref(t)}" for t in gone], author=author)


def done_run(repo: Repository, task_id: str, run: int, branch: str,
             commit: str) -> done.DoneRun | None:
    """The done index's entry of a result at `commit` (None when it holds no readable one)."""
    raw = git.read_blob(repo, commit, refs.result_json(task_id))
    try:
        data = json.loads(raw) if raw is not None else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        logger.warning("{} run {}: no readable result at {}; not recorded as done", task_id,
                       run, commit[:12])
        return None
    return done.DoneRun.from_result(task_id, run, branch, commit, data)


def new_entry(task_id: str, run: int, commit: str, status: str,
              branch: str | None = None) -> OutboxEntry:
    return OutboxEntry(task_id=task_id, run=run, branch=branch or refs.branch(task_id, run),
                       commit=commit, status=status, created_at=time.time())
