"""Claims: who runs a task. `refs/mtor/claims/<id>` points at a commit holding `claim.json`.

Created by a non-force push of a new ref (exactly one worker wins); renewed, released or taken
over only by pushing a child of the commit seen (compare-and-swap: a fast-forward the server
refuses when someone else moved the ref). The chain of claim commits is the task's history
until a result exists: an interrupted run leaves its attempts in its final claim commit.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from mtor_git.attempts import AttemptRecord, records


class ClaimPhase(StrEnum):
    """Where a held claim is in its life cycle (see the diagram in `mtor_git.queue`)."""

    RUNNING = "running"  # checking the spec, waiting, or running the agent
    PUBLISHING = "publishing"  # the result is committed here; its push may wait in the outbox
    RELEASED = "released"  # handed back: anyone may take it (after `not_before`)


CLAIM_FILE = "claim.json"
# A claim whose result is committed but not pushed yet is not taken over for this long past its
# lease: its worker holds the result in its outbox and will push it when the remote is back.
PUBLISH_GRACE = 24 * 3600.0
# This process's identity in the claims it writes.
PROCESS = uuid.uuid4().hex


@dataclass(frozen=True)
class Claim:
    task_id: str
    run: int
    worker: str
    host: str
    pid: int
    phase: ClaimPhase
    heartbeat: float
    lease_expires: float
    spec_commit: str | None = None
    attempt: int = 0
    not_before: float | None = None  # released until then (a usage limit that resets later)
    reason: str = ""  # why it was released
    carried_attempts: tuple[AttemptRecord, ...] = field(default_factory=tuple)
    # Which process wrote it: a pid alone repeats across restarts (PID 1 in a container).
    process: str = ""
    # What the running agent has done so far (agent/progress.py reading, with its attempt):
    # turns, tool calls, tokens, cost, last activity; None before the agent starts.
    progress: dict[str, Any] | None = None

    def to_bytes(self) -> bytes:
        data = asdict(self)
        data["carried_attempts"] = [a.to_json() for a in self.carried_attempts]
        return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Claim | None:
        """The claim in `raw`, or None when it is not a claim this version can read."""
        try:
            data = json.loads(raw)
            known = {f.name for f in fields(cls)}
            # Fields a newer version added are ignored: a rolling upgrade must not make a live
            # claim look unreadable (an unreadable claim may be taken over at once).
            kept = {k: v for k, v in data.items() if k in known}
            kept["carried_attempts"] = records(data.get("carried_attempts") or [])
            if not isinstance(kept.get("progress"), dict):
                kept["progress"] = None
            # A phase a newer version added counts as held, under its lease (as it always did).
            if "phase" in kept:
                phase = kept["phase"]
                kept["phase"] = (ClaimPhase(phase) if phase in ClaimPhase._value2member_map_
                                 else ClaimPhase.RUNNING)
            return cls(**kept)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


def new_claim(task_id: str, run: int, worker: str, lease: float, *,
              spec_commit: str | None, now: float | None = None) -> Claim:
    at = time.time() if now is None else now
    return Claim(task_id=task_id, run=run, worker=worker, host=socket.gethostname(),
                 process=PROCESS,
                 pid=os.getpid(), phase=ClaimPhase.RUNNING, heartbeat=at, lease_expires=at + lease,
                 spec_commit=spec_commit)


def renewed(claim: Claim, lease: float, *, now: float | None = None, attempt: int | None = None,
            phase: ClaimPhase | None = None, progress: dict[str, Any] | None = None) -> Claim:
    at = time.time() if now is None else now
    return replace(claim, heartbeat=at, lease_expires=at + lease,
                   attempt=claim.attempt if attempt is None else attempt,
                   phase=claim.phase if phase is None else phase,
                   progress=claim.progress if progress is None else progress)


def released(claim: Claim, reason: str, *,
             attempts: tuple[AttemptRecord, ...] | None = None,
             not_before: float | None = None, now: float | None = None) -> Claim:
    """Hand the claim back; `attempts` is every attempt of this run so far (the carried ones
    included), which replaces what the claim carried; None keeps that."""
    at = time.time() if now is None else now
    carried = claim.carried_attempts if attempts is None else tuple(attempts)
    return replace(claim, phase=ClaimPhase.RELEASED, heartbeat=at, lease_expires=at, reason=reason,
                   not_before=not_before, carried_attempts=carried)


def taken_over(old: Claim, worker: str, lease: float, *, spec_commit: str | None,
               run: int | None = None, now: float | None = None) -> Claim:
    """A new claim continuing `old`'s chain, keeping the attempts it carried."""
    fresh = new_claim(old.task_id, old.run if run is None else run, worker, lease,
                      spec_commit=spec_commit, now=now)
    carried = old.carried_attempts if fresh.run == old.run else ()
    return replace(fresh, carried_attempts=carried)


def takeable(claim: Claim | None, *, me: str, now: float, cancelled: bool = False) -> bool:
    """May worker `me` take this claim over now?

    A released claim can be taken once its `not_before` has passed (at once when the task was
    asked to cancel: it then only ends, `cancelled`, without running); a held one once its lease
    expired (a publishing one only after PUBLISH_GRACE more); our own claim left by a crashed
    process of ours on this host at once, since that process is gone (a publishing one too: the
    worker checks first that its outbox no longer holds that result, so it was lost).
    """
    if claim is None:
        return True  # unreadable: whoever wrote it cannot be trusted to finish it
    if claim.phase == ClaimPhase.RELEASED:
        return cancelled or claim.not_before is None or now >= claim.not_before
    if is_orphan_of(claim, me):
        return True
    grace = PUBLISH_GRACE if claim.phase == ClaimPhase.PUBLISHING else 0.0
    return now >= claim.lease_expires + grace


def is_orphan_of(claim: Claim, me: str) -> bool:
    """True when `claim` was written by worker `me` on this host by a process that is gone."""
    if claim.worker != me or claim.host != socket.gethostname():
        return False
    if claim.process == PROCESS:
        return False  # ours, live
    if claim.pid == os.getpid():
        return bool(claim.process)  # our pid reused by a new process (PID 1 in a container)
    try:
        os.kill(claim.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
