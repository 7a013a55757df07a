"""Dependencies between tasks, as the remote shows them: a task with `depends_on` starts only once
every dependency's latest run ended `succeeded`; one that ended otherwise rejects it
(`dependency_failed`); a cycle (met across commits, where no hook saw it) rejects it too
(`dependency_cycle`). Read from the refs and the result files, like every other state."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from mtor_git import git
from mtor_git.git import Repository, refs
from mtor_git.queue import followups
from mtor_git.queue.protocol import RemoteView, branch_tip, current_run, index
from mtor_git.spec.graph import find_cycle
from mtor_git.spec.parse import Spec, valid_spec
from mtor_git.states import TERMINAL, TaskStatus


@dataclass(frozen=True)
class Gate:
    """What stands between a task and its start."""

    waiting: tuple[str, ...] = ()  # dependencies that have not ended yet
    failed: tuple[tuple[str, str], ...] = ()  # (dependency, how its latest run ended)
    cycle: tuple[str, ...] = ()  # a dependency cycle through this task, first member repeated
    gone: str | None = None  # a follow-up whose target's branch was merged or deleted: why

    @property
    def open(self) -> bool:
        return not (self.waiting or self.failed or self.cycle or self.gone)

    @property
    def only_waiting(self) -> bool:
        """Waiting, and nothing that would reject the task: it must not be claimed yet."""
        return bool(self.waiting) and not (self.failed or self.cycle or self.gone)

    def reason(self) -> str:
        if self.cycle:
            return f"dependency cycle: {' -> '.join(self.cycle)}; none of these can ever start"
        if self.gone:
            return f"the task it continues is closed: {self.gone}"
        if self.failed:
            ended = ", ".join(f"{dep} {_how(status)}" for dep, status in self.failed)
            return f"a dependency did not succeed: {ended}"
        if self.waiting:
            return f"waiting for {', '.join(self.waiting)}"
        return "ready"


MISSING = "missing"  # a dependency with no spec, no run and no result: it never will end
DISCARDED = "succeeded, but its branch was deleted unmerged"  # nothing to start from


def _how(status: str) -> str:
    if status == MISSING:
        return "is no task: no spec on the watched branch, no run, no result"
    if status == DISCARDED:
        return f"{status}: its work is nowhere to start from"
    return f"ended {status}"


def exists(repo: Repository, view: RemoteView, task_id: str, tasks_dir: str) -> bool:
    """Whether `task_id` is a task at all: a spec on the watched branch, a claim, a run branch,
    or a result merged into the watched branch."""
    if view.head is not None and (
            git.read_blob(repo, view.head, f"{tasks_dir}/{task_id}.md") is not None
            or git.read_blob(repo, view.head, refs.result_json(task_id)) is not None):
        return True
    own = (refs.branch_ref(task_id), f"{refs.branch_ref(task_id)}-r")
    return view.claim_oid(task_id) is not None or bool(index(repo, view).runs(task_id)) or any(
        ref == own[0] or ref.startswith(own[1]) for ref in view.refs)


def ended(repo: Repository, view: RemoteView, task_id: str,
          tasks_dir: str = "tasks") -> TaskStatus | None:
    """How the latest requested run of `task_id` ended, from the result file the worker wrote on
    its branch (a follow-up's: on the branch it continues; or merged into the watched branch);
    None while it has not ended."""
    run = current_run(repo, view, task_id)
    recorded = index(repo, view).get(task_id, run)
    if recorded is not None:  # an entry's status is a string (done.DoneRun.from_json)
        return TaskStatus(recorded.status) if recorded.status in TERMINAL else TaskStatus.FAILED
    oid = branch_tip(repo, view, refs.branch_ref(task_id, run))
    for rev in (oid, followups.landed(repo, view, tasks_dir, task_id, run), view.head):
        if rev is None:
            continue
        status = _result_status(git.read_blob(repo, rev, refs.result_json(task_id)), run)
        if status is not None:
            return status
    return None


def _result_status(raw: bytes | None, run: int) -> TaskStatus | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        status = TaskStatus(data["status"])
        ran = data.get("run", 1)
    except (ValueError, KeyError, TypeError):
        return None
    if status not in TERMINAL or not isinstance(ran, int) or ran < run:
        return None  # an earlier run's result (merged) is not this run's end
    return status


def gate(repo: Repository, view: RemoteView, spec: Spec, tasks_dir: str) -> Gate:
    """The gate of `spec` at the watched branch's head."""
    if not spec.prerequisites:
        return Gate()
    cycle = find_cycle(spec.id, lambda task_id: _prerequisites(repo, view, tasks_dir, task_id,
                                                               spec))
    if cycle and spec.id in cycle:
        return Gate(cycle=cycle)
    waiting: list[str] = []
    failed: list[tuple[str, str]] = []
    for dep in spec.depends_on:
        status = ended(repo, view, dep, tasks_dir)
        if status is None and not exists(repo, view, dep, tasks_dir):
            failed.append((dep, MISSING))  # a typo, or a spec deleted before it ran
        elif status is None:
            waiting.append(dep)
        elif status != TaskStatus.SUCCEEDED:
            failed.append((dep, str(status)))
        elif starts_from(spec) and start_branch(repo, view, spec, tasks_dir) is None:
            # Its work is nowhere to start from: never start from the spec's commit instead.
            failed.append((dep, DISCARDED))
    return _lane(repo, view, tasks_dir, spec, Gate(tuple(waiting), tuple(failed)))


def _lane(repo: Repository, view: RemoteView, tasks_dir: str, spec: Spec, gate: Gate) -> Gate:
    """A follow-up also waits for the task it continues to end (however it ended: a failed
    task's work is there to continue) and for the follow-ups of the same branch pushed before
    it; a branch merged or deleted meanwhile closes it."""
    if spec.continues is None:
        return gate
    where = followups.home(repo, view, tasks_dir, spec)
    if where is None:
        return gate
    before = [t for t in (spec.continues, *followups.earlier(repo, view, tasks_dir, spec))
              if t not in gate.waiting and ended(repo, view, t, tasks_dir) is None]
    return replace(gate, waiting=gate.waiting + tuple(before),
                   gone=followups.gone(repo, view, tasks_dir, where))


def _prerequisites(repo: Repository, view: RemoteView, tasks_dir: str, task_id: str,
                   start: Spec) -> list[str]:
    if task_id == start.id:
        return list(start.prerequisites)
    path = f"{tasks_dir}/{task_id}.md"
    raw = git.read_blob(repo, view.head or "", path) if view.head else None
    if raw is None:
        return []
    spec = valid_spec(raw, path)
    return list(spec.prerequisites) if spec is not None else []


def starts_from(spec: Spec) -> bool:
    """Whether `spec` starts from its dependency's result (one dependency, no `base:`)."""
    return spec.base is None and len(spec.depends_on) == 1


def start_branch(repo: Repository, view: RemoteView, spec: Spec,
                 tasks_dir: str = "tasks") -> str | None:
    """With one dependency and no `base:`, a task starts from its dependency's result: the tip
    of that dependency's latest run branch (a follow-up's: of the branch it continued, where its
    result is), fetched when this clone lacks it; None when it has none."""
    if not starts_from(spec):
        return None
    dep = spec.depends_on[0]
    run = current_run(repo, view, dep)
    found = branch_tip(repo, view, refs.branch_ref(dep, run)) or followups.landed(
        repo, view, tasks_dir, dep, run)
    if found is None and view.head is not None and _result_status(
            git.read_blob(repo, view.head, refs.result_json(dep)), run) is not None:
        return view.head  # merged into the watched branch (its branch deleted): start there
    return found
