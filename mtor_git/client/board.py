"""The task board as the user sees it: fetch the remote's mtor refs into a private namespace of the
user's repository, then derive every task's state from those refs and the result files alone.

Nothing here reads a worker's disk: what the remote holds is the truth. Fetched refs live under
`refs/mtor-remote/<remote>/` (`mtor/...` for refs/mtor/*, `heads/...` for branches), out of the
user's branches and remote-tracking refs; every fetch prunes them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from mtor_git import git
from mtor_git.errors import UsageError
from mtor_git.git import Repository, refs
from mtor_git.queue import deps, followups
from mtor_git.queue import done as done_index
from mtor_git.queue.claims import CLAIM_FILE, Claim, ClaimPhase
from mtor_git.queue.done import DoneRun
from mtor_git.queue.protocol import RemoteView, index, read_claim, requested_run, run_to_do
from mtor_git.spec.parse import is_valid_id, valid_spec
from mtor_git.states import TERMINAL as TERMINAL
from mtor_git.states import BoardState, TaskStatus

NAMESPACE = refs.MIRROR_NAMESPACE
# Display order of states (also the order of the summary counts).
STATES: tuple[BoardState, ...] = tuple(BoardState)
_RUN_RE = re.compile(r"^(?P<id>.+)-r(?P<run>[0-9]+)$")
_CLAIM_WALK_LIMIT = 2000  # claim commits followed back to find when a claim began
_ENDED = {str(s): BoardState(s) for s in TERMINAL}  # a result's status -> its board state
_NO_RUNS: Mapping[int, DoneRun] = {}


@dataclass(frozen=True)
class Snapshot:
    """The remote's mtor refs at one fetch, keyed by the remote's own ref names."""

    repo: Repository
    remote: str
    url: str
    view: RemoteView
    tasks_dir: str
    taken_at: float
    spec_ids: frozenset[str] = frozenset()  # tasks/<id>.md on the watched branch
    merged_ids: frozenset[str] = frozenset()  # results/<id>.json on the watched branch


# ResultSummary and TaskState are NamedTuples, not frozen dataclasses: as immutable, built in
# half the time (a frozen dataclass sets each field through object.__setattr__), and a board of
# 5,000 finished tasks builds 5,000 of each.
class ResultSummary(NamedTuple):
    """The part of a result file `status` needs (the whole file is read by `result`)."""

    status: str
    model_invoked: bool | None
    finished_at: str | None
    duration: float | None
    attempts: int
    failure_kind: str | None
    failure_message: str | None
    title: str | None
    head_commit: str | None
    where: str  # the branch the result was read from


class TaskState(NamedTuple):
    """One task as the remote shows it; `run` is the run whose outcome the state describes."""

    id: str
    state: BoardState
    run: int
    branch: str  # where run `run`'s result appears (or appeared)
    runs_done: tuple[int, ...]
    spec_present: bool
    cancel_requested: bool
    claim: Claim | None = None
    claimed_since: float | None = None
    result: ResultSummary | None = None
    detail: str = ""  # one short human phrase (why pending, why unknown)

    def lease_left(self, now: float) -> float | None:
        return None if self.claim is None else self.claim.lease_expires - now


# -- where to look -----------------------------------------------------------------------------
def default_remote(repo: Repository) -> str:
    """The current branch's upstream remote, else `origin`, else the only remote."""
    upstream = _upstream(repo)
    if upstream is not None:
        return upstream[0]
    remotes = [n for n in repo.remotes.names() if n]
    if "origin" in remotes or not remotes:
        return "origin"
    if len(remotes) == 1:
        return remotes[0]
    raise UsageError(f"several remotes ({', '.join(remotes)}): name one with --remote")


def default_branch(repo: Repository, remote: str) -> str:
    """The branch the workers watch, as best guessed here: the current branch's upstream on
    `remote`, else the current branch, else `main`."""
    upstream = _upstream(repo)
    if upstream is not None and upstream[0] == remote:
        return upstream[1]
    if not repo.head_is_unborn and not repo.head_is_detached:
        return repo.head.shorthand
    return "main"


def _upstream(repo: Repository) -> tuple[str, str] | None:
    if repo.head_is_detached or repo.head_is_unborn:
        return None
    name = repo.head.shorthand
    try:
        remote = repo.config[f"branch.{name}.remote"]
        merge = repo.config[f"branch.{name}.merge"]
    except KeyError:
        return None
    if remote == "." or not str(merge).startswith("refs/heads/"):
        return None
    return str(remote), str(merge)[len("refs/heads/"):]


# -- fetching ----------------------------------------------------------------------------------
def namespace(remote: str) -> str:
    return f"{NAMESPACE}{remote}/"


def refspecs(remote: str, branch: str) -> list[str]:
    ns = namespace(remote)
    return [f"+{refs.MTOR_REFS}*:{ns}mtor/*",
            f"+{refs.HEADS}{refs.BRANCH_PREFIX}*:{ns}heads/{refs.BRANCH_PREFIX}*",
            f"+{refs.head_ref(branch)}:{ns}heads/{branch}"]


def sync(repo: Repository, remote: str, branch: str, tasks_dir: str = "tasks") -> Snapshot:
    """Fetch the remote's mtor refs and the watched branch (pruning), and read them back."""
    git.mirror_fetch(repo, remote, refspecs(remote, branch))
    return snapshot(repo, remote, branch, tasks_dir)


def snapshot(repo: Repository, remote: str, branch: str,
             tasks_dir: str = "tasks") -> Snapshot:
    """The last fetched state of `remote`, without fetching."""
    found = {"refs/" + rest: oid for rest, oid in git.refs_under(repo, namespace(remote)).items()}
    url = git.remote_url(repo, remote) or remote
    view = RemoteView(found, branch)
    tasks_dir = tasks_dir.strip("/")
    return Snapshot(repo, remote, url, view, tasks_dir, time.time(),
                    spec_ids=frozenset(_md_stems(repo, view.head, tasks_dir, ".md")),
                    merged_ids=frozenset(_md_stems(repo, view.head, refs.RESULTS_DIR, ".json")))


def _md_stems(repo: Repository, head: str | None, folder: str, suffix: str) -> list[str]:
    """Stems of the files directly in `folder` at `head` ending in `suffix` (a README aside):
    for `.md` in the tasks folder, exactly the files spec.is_spec_path accepts."""
    if head is None:
        return []
    return [name[:-len(suffix)] for name in git.file_names(repo, head, folder)
            if name.endswith(suffix) and name.lower() != "readme.md"]


# -- states ------------------------------------------------------------------------------------
def task_ids(snap: Snapshot, runs: Mapping[str, set[int]] | None = None) -> set[str]:
    """Every id the remote knows: a spec on the watched branch, a claim, a request, a result
    (`runs`: runs_of_all(snap), when the caller has it already)."""
    view = snap.view
    ids: set[str] = set(snap.spec_ids) | set(snap.merged_ids)
    for prefix in (refs.CLAIM_PREFIX, refs.RETRY_PREFIX, refs.CANCEL_PREFIX):
        ids.update(view.ids_with(prefix))
    ids.update(runs if runs is not None else runs_of_all(snap))
    return ids


def runs_of_all(snap: Snapshot) -> dict[str, set[int]]:
    """id -> runs that ended: with a result branch (mtor/<id> is run 1, mtor/<id>-r<N> run N)
    or recorded in the done index (their branches since merged or deleted)."""
    found: dict[str, set[int]] = {}
    for rest in snap.view.ids_with(refs.HEADS + refs.BRANCH_PREFIX):
        m = _RUN_RE.match(rest)
        # Ids may not end in -r<N> (spec.RESERVED_SUFFIX): such a branch is always a later run.
        task_id, run = (m["id"], int(m["run"])) if m else (rest, 1)
        found.setdefault(task_id, set()).add(run)
    for task_id, done in index(snap.repo, snap.view).tasks().items():
        found.setdefault(task_id, set()).update(done)
    return found


def board(snap: Snapshot, *, now: float | None = None) -> list[TaskState]:
    """Every task's state, sorted by id."""
    at = time.time() if now is None else now
    runs = runs_of_all(snap)
    view, recorded = snap.view, index(snap.repo, snap.view).tasks()
    retried, cancelled = view.ids_with(refs.RETRY_PREFIX), view.ids_with(refs.CANCEL_PREFIX)
    states = []
    for task_id in sorted(task_ids(snap, runs)):
        spec = task_id in snap.spec_ids
        # Most of a big board: run 1 recorded by the done index, no retry asked. Its state is
        # the record, whatever the refs say (as _state finds, without asking per task).
        record = None if task_id in retried else recorded.get(task_id, _NO_RUNS).get(1)
        if record is None:
            states.append(_state(snap, task_id, runs.get(task_id, set()), spec, at))
        else:
            states.append(_ended(task_id, 1, _indexed(record), tuple(sorted(runs[task_id])),
                                 spec, task_id in cancelled, ""))
    return states


def task_state(snap: Snapshot, task_id: str, *, now: float | None = None) -> TaskState:
    at = time.time() if now is None else now
    runs = runs_of_all(snap).get(task_id, set())
    return _state(snap, task_id, runs, task_id in snap.spec_ids, at)


def _state(snap: Snapshot, task_id: str, runs: set[int], spec: bool, now: float) -> TaskState:
    view = snap.view
    requested = requested_run(snap.repo, view, task_id)
    run = run_to_do(snap.repo, view, task_id, requested)
    result = read_summary(snap, task_id, run)
    done = tuple(sorted(runs - set(range(requested, run)) if run != requested else runs))
    if result is not None:
        return _ended(task_id, run, result, done, spec, view.cancelled(task_id),
                      _no_result(task_id, requested, run))
    base = TaskState(id=task_id, state=BoardState.PENDING, run=run,
                     branch=refs.branch(task_id, run), runs_done=done,
                     spec_present=spec, cancel_requested=view.cancelled(task_id),
                     detail=_no_result(task_id, requested, run))
    claim_oid = view.claim_oid(task_id)
    claim = read_claim(snap.repo, claim_oid) if claim_oid else None
    if claim_oid is not None and claim is None:
        return base._replace(state=BoardState.UNKNOWN, detail="unreadable claim")
    if claim is not None and claim.run == run:
        return _claimed(snap, base, claim, claim_oid or "", now)
    if not spec:
        return base._replace(state=BoardState.UNKNOWN, detail=f"no spec on {view.branch}")
    if not is_valid_id(task_id):
        return base._replace(state=BoardState.IGNORED, detail="not a valid task id; workers "
                             "never run it (see `mtor-git validate`)")
    return _gated(snap, base)


def _ended(task_id: str, run: int, result: ResultSummary, done: tuple[int, ...], spec: bool,
           cancel: bool, detail: str) -> TaskState:
    """A task whose run `run` has a result: built at once, no _replace()."""
    return TaskState(id=task_id, state=_ENDED.get(result.status, BoardState.UNKNOWN), run=run,
                     branch=result.where, runs_done=done, spec_present=spec,
                     cancel_requested=cancel, result=result, detail=detail)


def _gated(snap: Snapshot, base: TaskState) -> TaskState:
    """A pending task whose dependencies have not ended is `waiting for a, b`; one whose
    dependency failed (or that sits on a cycle) stays pending, saying it will be rejected."""
    path = f"{snap.tasks_dir}/{base.id}.md"
    raw = git.read_blob(snap.repo, snap.view.head, path) if snap.view.head else None
    spec = valid_spec(raw, path) if raw is not None else None
    if spec is None or not spec.prerequisites:
        return base
    gate = deps.gate(snap.repo, snap.view, spec, snap.tasks_dir)
    if gate.open:
        return base
    if gate.only_waiting:
        return base._replace(state=BoardState.WAITING, detail=gate.reason())
    return base._replace(detail=f"will be rejected: {gate.reason()}")


def _no_result(task_id: str, requested: int, run: int) -> str:
    """Say so when the run's branch name was taken by a branch without a result (a user's own
    `mtor/<id>`): workers run the task on the next free run branch."""
    if run == requested:
        return ""
    return (f"branch {refs.branch(task_id, requested)} exists, no result; workers run it on "
            f"{refs.branch(task_id, run)}")


def _claimed(snap: Snapshot, base: TaskState, claim: Claim, oid: str, now: float) -> TaskState:
    with_claim = base._replace(claim=claim)
    if claim.phase == ClaimPhase.RELEASED:
        if claim.not_before is not None and claim.not_before > now:
            if claim.reason.startswith(f"{BoardState.DEFERRED} ("):  # worker/ledger.py
                why = claim.reason.removeprefix(f"{BoardState.DEFERRED} (").removesuffix(")")
                return with_claim._replace(state=BoardState.DEFERRED, detail=why)
            return with_claim._replace(state=BoardState.PARKED)
        if claim.reason == TaskStatus.INTERRUPTED:
            return with_claim._replace(state=BoardState.INTERRUPTED)
        return with_claim._replace(state=BoardState.PENDING, detail=f"released: {claim.reason}")
    since = claim_since(snap.repo, oid, claim)
    # The keeper records the attempt number once an agent starts; before that the task is
    # only claimed (checking, waiting for a backoff or for capacity).
    state = (BoardState.RUNNING if claim.attempt > 0 or claim.phase == ClaimPhase.PUBLISHING
             else BoardState.CLAIMED)
    return with_claim._replace(state=state, claimed_since=since)


def claim_since(repo: Repository, oid: str, claim: Claim) -> float:
    """When `claim`'s holder took it: the oldest commit of the chain it wrote for this run."""
    since, current = claim.heartbeat, oid
    for _ in range(_CLAIM_WALK_LIMIT):
        parent = git.first_parent(repo, current)
        older = _held_by(repo, parent, claim) if parent else None
        if parent is None or older is None:
            break
        since, current = older, parent
    return since


def _held_by(repo: Repository, oid: str, claim: Claim) -> float | None:
    """The heartbeat of commit `oid`'s claim when it is `claim`'s holder's, same run, still
    held."""
    try:
        data = json.loads(git.read_blob(repo, oid, CLAIM_FILE) or b"null")
    except ValueError:
        return None
    if (not isinstance(data, dict) or data.get("worker") != claim.worker
            or data.get("run") != claim.run or data.get("phase") == ClaimPhase.RELEASED):
        return None
    beat = data.get("heartbeat")
    return float(beat) if isinstance(beat, int | float) else None


# -- results -----------------------------------------------------------------------------------
def result_source(snap: Snapshot, task_id: str, run: int) -> str | None:
    """The commit holding run `run`'s result file: its branch, a follow-up's on the branch it
    continued, or (run 1) the watched branch after a merge. None when the run is not done."""
    located = _located(snap, task_id, run)
    return located[0] if located is not None else None


def _located(snap: Snapshot, task_id: str, run: int) -> tuple[str, str] | None:
    """(commit, branch name) where run `run`'s result file is."""
    oid = snap.view.refs.get(refs.branch_ref(task_id, run))
    if oid is not None:
        return oid, refs.branch(task_id, run)
    if task_id in snap.spec_ids:
        tip = followups.landed(snap.repo, snap.view, snap.tasks_dir, task_id, run)
        branch = next((ref.removeprefix(refs.HEADS) for ref, oid in snap.view.refs.items()
                       if oid == tip and ref.startswith(refs.HEADS + refs.BRANCH_PREFIX)), None)
        if tip is not None and branch is not None:
            return tip, branch
    if run == 1 and task_id in snap.merged_ids and snap.view.head is not None:
        return snap.view.head, snap.view.branch
    return None


def read_result(snap: Snapshot, task_id: str, run: int) -> dict[str, Any] | None:
    """The stored result JSON of run `run` (as written by the worker), or None."""
    source = result_source(snap, task_id, run)
    if source is None:
        return None
    raw = git.read_blob(snap.repo, source, refs.result_json(task_id))
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def read_result_md(snap: Snapshot, task_id: str, run: int) -> str | None:
    source = result_source(snap, task_id, run)
    if source is None:
        return None
    raw = git.read_blob(snap.repo, source, refs.result_md(task_id))
    return None if raw is None else raw.decode("utf-8", errors="replace")


def read_summary(snap: Snapshot, task_id: str, run: int) -> ResultSummary | None:
    """What `status` shows of run `run`'s result: from the done index when it records the run
    (no result file read), else from the result file."""
    recorded = index(snap.repo, snap.view).get(task_id, run)
    if recorded is not None:
        return _indexed(recorded)
    data = read_result(snap, task_id, run)
    if data is None:
        source = result_source(snap, task_id, run)
        if source is None:
            return None
        return ResultSummary("unknown", None, None, None, 0, "unreadable_result",
                             f"{refs.result_json(task_id)} is missing or not JSON", None,
                             None, result_branch(snap, task_id, run))
    return summarize(data, result_branch(snap, task_id, run))


def result_branch(snap: Snapshot, task_id: str, run: int) -> str:
    """Where run `run`'s result is read from: its own branch (a follow-up's: the branch it
    continued), else the watched branch."""
    located = _located(snap, task_id, run)
    return located[1] if located is not None else snap.view.branch


def summarize(data: Mapping[str, Any], where: str) -> ResultSummary:
    return _summary(done_index.summary_of(data), where)


def _indexed(done: DoneRun) -> ResultSummary:
    return _summary(done.summary, done.branch)


def _summary(got: Mapping[str, Any], where: str) -> ResultSummary:
    """A ResultSummary of done.summary_of's fields (from a result file or the done index)."""
    get = got.get  # a board reads 5,000 of these: one lookup each, no helper call per field
    model, duration, attempts = get("model_invoked"), get("duration"), get("attempts")
    finished, kind, message = get("finished_at"), get("failure_kind"), get("failure_message")
    title, head = get("title"), get("head_commit")
    return ResultSummary(
        status=str(get("status", "unknown")),
        model_invoked=model if isinstance(model, bool) else None,
        finished_at=None if finished is None else str(finished),
        duration=float(duration) if isinstance(duration, int | float) else None,
        attempts=attempts if isinstance(attempts, int) else 0,
        failure_kind=None if kind is None else str(kind),
        failure_message=None if message is None else str(message),
        title=None if title is None else str(title),
        head_commit=None if head is None else str(head), where=where)


def counts(states: Iterable[TaskState]) -> dict[str, int]:
    """How many tasks are in each state, in display order, zeros left out."""
    tally: dict[str, int] = {}
    for s in states:
        tally[s.state] = tally.get(s.state, 0) + 1
    return {k: tally[k] for k in (*STATES, *sorted(set(tally) - set(STATES))) if k in tally}
