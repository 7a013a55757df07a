"""The git-native queue: what the remote's refs say about every task (pending, claimed, done,
asked to retry or cancel), and the claim operations, each a single atomic push."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from threading import Event

from loguru import logger

from mtor_git import git
from mtor_git.errors import GitOpError, PushRejected
from mtor_git.git import Repository, refs
from mtor_git.queue import done as done_index
from mtor_git.queue.claims import CLAIM_FILE, Claim


@dataclass(frozen=True)
class RemoteView:
    """The remote's refs at one moment (refname -> oid), read with one ls-remote."""

    refs: Mapping[str, str]
    branch: str

    @property
    def head(self) -> str | None:
        return self.refs.get(refs.head_ref(self.branch))

    def claim_oid(self, task_id: str) -> str | None:
        return self.refs.get(refs.claim_ref(task_id))

    def retry_oid(self, task_id: str) -> str | None:
        return self.refs.get(refs.retry_ref(task_id))

    def cancelled(self, task_id: str) -> bool:
        return refs.cancel_ref(task_id) in self.refs

    def done(self, task_id: str, run: int) -> bool:
        """Whether run `run`'s branch is on the remote (see `is_done` for the whole answer)."""
        return refs.branch_ref(task_id, run) in self.refs

    def ids_with(self, prefix: str) -> set[str]:
        return {ref[len(prefix):] for ref in self.refs if ref.startswith(prefix)}


def index(repo: Repository, view: RemoteView) -> done_index.DoneIndex:
    """The done index the view shows (empty when there is none, or it is not fetched yet)."""
    return done_index.at(repo, view.refs.get(refs.DONE_REF))


def is_done(repo: Repository, view: RemoteView, task_id: str, run: int) -> bool:
    """Run `run` ended: its branch is on the remote, or the done index records it (its branch
    may since have been merged or deleted: a deleted one is never run again)."""
    return view.done(task_id, run) or index(repo, view).has(task_id, run)


def recorded_at_tip(repo: Repository, view: RemoteView) -> Callable[[str, str], bool]:
    """For git.fetch_moved: whether result branch `ref` at `oid` needs no fetch, the done index
    recording its run at exactly that commit (read when first asked: after the fetch that
    brought the index)."""

    def recorded(ref: str, oid: str) -> bool:
        parsed = refs.task_of_branch(ref.removeprefix(refs.HEADS))
        found = index(repo, view).get(*parsed) if parsed is not None else None
        return found is not None and found.commit == oid

    return recorded


def branch_tip(repo: Repository, view: RemoteView, ref: str) -> str | None:
    """The commit the view shows at branch `ref`, its objects fetched first when this clone
    lacks them: a worker fetches no result branch the done index records (git.fetch_moved), so
    one read later (a follow-up's home, a dependency's result) is fetched when it is read."""
    oid = view.refs.get(ref)
    if oid is not None and git.resolve(repo, oid) is None and ref.startswith(refs.HEADS):
        try:
            git.fetch(repo, refspecs=[f"+{ref}:{git.TRACKING_PREFIX}{ref[len(refs.HEADS):]}"])
        except GitOpError as exc:
            logger.warning("could not fetch {}: {}", ref, exc)
    return oid


def read_view(repo: Repository, branch: str) -> RemoteView:
    return RemoteView(git.remote_refs(repo), branch)


def cancel_reason(repo: Repository, task_id: str) -> str:
    """The reason `mtor-git cancel --reason` gave ("" when none or unreadable). Fetches the
    request first: it may have arrived after the worker's last fetch."""
    ref = refs.cancel_ref(task_id)
    local = git.TRACKING_MTOR_PREFIX + ref.removeprefix("refs/mtor/")
    try:
        git.fetch(repo, refspecs=[f"+{ref}:{local}"])
    except GitOpError as exc:
        logger.warning("could not fetch the cancel request of {}: {}", task_id, exc)
    oid = git.resolve(repo, local)
    try:
        data = json.loads(git.read_blob(repo, oid, "cancel.json") or b"{}") if oid else {}
    except ValueError:
        return ""
    reason = data.get("reason") if isinstance(data, dict) else None
    return reason.strip() if isinstance(reason, str) else ""


def deliver_cancels(view: RemoteView, cancels: Mapping[str, Event]) -> None:
    """Stop each running task whose cancel was requested: called on every poll (and so at once
    after a poke), not only at the claim's next heartbeat."""
    for task_id, cancel in cancels.items():
        if view.cancelled(task_id) and not cancel.is_set():
            logger.info("cancel requested for {}: stopping its agent", task_id)
            cancel.set()


def read_claim(repo: Repository, oid: str) -> Claim | None:
    """The claim stored in commit `oid` (fetched beforehand); None when unreadable."""
    raw = git.read_blob(repo, oid, CLAIM_FILE)
    return Claim.from_bytes(raw) if raw is not None else None


def requested_run(repo: Repository, view: RemoteView, task_id: str) -> int:
    """Run 1, or N when `mtor-git retry` asked for run N (refs/mtor/retry/<id> holds retry.json)."""
    oid = view.retry_oid(task_id)
    if oid is None:
        return 1
    try:
        data = json.loads(git.read_blob(repo, oid, "retry.json") or b"")
        run = int(data["run"])
        return run if run >= 1 else 1
    except (KeyError, ValueError, TypeError):
        logger.warning("retry request for {} is unreadable; ignored", task_id)
        return 1


# Runs looked past when their branches hold no result: far more than anyone pushes by hand.
_MAX_SKIPPED_RUNS = 100


def holds_result(repo: Repository, oid: str, task_id: str) -> bool:
    """Whether commit `oid` carries a result a worker wrote for `task_id`: `results/<id>.json`,
    a JSON object naming the task. A user's own branch named `mtor/<id>` holds none. A commit
    not fetched yet counts as a result: a worker pushes its branch only with the result on top."""
    if git.resolve(repo, oid) is None:
        return True
    raw = git.read_blob(repo, oid, refs.result_json(task_id))
    try:
        data = json.loads(raw) if raw is not None else None
    except ValueError:
        return False
    task = data.get("task") if isinstance(data, dict) else None
    return isinstance(task, dict) and task.get("id") == task_id


def run_to_do(repo: Repository, view: RemoteView, task_id: str, requested: int) -> int:
    """The run a worker runs for `task_id` when run `requested` is asked for: that run, or the
    first later one whose branch is free, past each branch that exists without a result
    (DESIGN §3 "Done": a branch without a worker-written result is not a result). A run the
    done index records is that run, whatever its branch became."""
    run = requested
    recorded = index(repo, view).runs(task_id)
    while run < requested + _MAX_SKIPPED_RUNS:
        if run in recorded:
            return run
        oid = view.refs.get(refs.branch_ref(task_id, run))
        if oid is None or holds_result(repo, oid, task_id):
            return run
        run += 1
    return run


def current_run(repo: Repository, view: RemoteView, task_id: str) -> int:
    """`run_to_do` of the run `mtor-git retry` asked for (run 1 when none was)."""
    return run_to_do(repo, view, task_id, requested_run(repo, view, task_id))


def push_claim(repo: Repository, claim: Claim, *, parent: str | None,
               author: tuple[str, str]) -> str | None:
    """Create (parent None) or advance (compare-and-swap on `parent`) the claim ref.

    Returns the new claim commit, or None when another worker won the race.
    """
    ref = refs.claim_ref(claim.task_id)
    local_ref = refs.local_claim_ref(claim.task_id)
    oid = git.commit_files(
        repo, ref=local_ref, parent=parent, files={CLAIM_FILE: claim.to_bytes()},
        message=f"mtor: claim {claim.task_id} run {claim.run} ({claim.phase}) by {claim.worker}",
        author_name=author[0], author_email=author[1])
    try:
        git.push(repo, [f"{local_ref}:{ref}"])
    except PushRejected as exc:
        logger.debug("claim push for {} refused: {}", claim.task_id, exc)
        return None
    return oid


def delete_claim(repo: Repository, task_id: str) -> None:
    try:
        git.push(repo, [f":{refs.claim_ref(task_id)}"])
    except GitOpError as exc:
        logger.warning("could not delete claim of {}: {} (it expires by itself)", task_id, exc)
