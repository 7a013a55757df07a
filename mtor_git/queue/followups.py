"""Follow-ups (`continues: <id>`): a task that runs on the branch of the task it continues, from
that branch's head, so the same pull request grows. Its home is the root of the `continues` chain:
the root's latest run branch. The follow-ups of one root form a lane: one at a time, in the order
their specs were added to the watched branch. Read from the refs and files alone, like every
other state (docs/DESIGN.md §2b)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from mtor_git import git
from mtor_git.errors import GitOpError
from mtor_git.git import Repository, refs
from mtor_git.queue.protocol import RemoteView, branch_tip, current_run
from mtor_git.spec.parse import Spec, is_spec_path, valid_spec

MAX_CHAIN = 50  # follow-ups of follow-ups: deeper chains (or a cycle) have no home


@dataclass(frozen=True)
class Home:
    """Where a follow-up runs: the root task's latest run branch and its head on the remote."""

    root: str
    branch: str  # mtor/<root> or mtor/<root>-r<N>
    tip: str | None  # None: the branch is not (or no longer) on the remote
    run: int = 1  # the root's run whose branch this is


def spec_at(repo: Repository, view: RemoteView, tasks_dir: str, task_id: str, *,
            quick: bool = False) -> Spec | None:
    """The valid spec of `task_id` at the watched branch's head, or None. `quick`: only a spec
    that may be a follow-up (most specs never name `continues`: not parsed)."""
    if view.head is None:
        return None
    path = f"{tasks_dir}/{task_id}.md"
    raw = git.read_blob(repo, view.head, path)
    if raw is None or (quick and b"continues" not in raw):
        return None
    return valid_spec(raw, path)


def is_followup(repo: Repository, view: RemoteView, tasks_dir: str, task_id: str) -> bool:
    spec = spec_at(repo, view, tasks_dir, task_id, quick=True)
    return spec is not None and spec.continues is not None


def root_of(repo: Repository, view: RemoteView, tasks_dir: str, spec: Spec) -> str | None:
    """The first task of `spec`'s `continues` chain (itself when it continues nothing); None on
    a chain too deep or circular (the cycle check rejects that task)."""
    current, seen = spec, {spec.id}
    for _ in range(MAX_CHAIN):
        target = current.continues
        if target is None:
            return current.id
        if target in seen:
            return None
        seen.add(target)
        found = spec_at(repo, view, tasks_dir, target)
        if found is None:
            return target  # a target with no spec (deleted) is the root as far as we know
        current = found
    return None


def home(repo: Repository, view: RemoteView, tasks_dir: str, spec: Spec) -> Home | None:
    """The branch a follow-up runs on (None for a task that continues nothing)."""
    if spec.continues is None:
        return None
    root = root_of(repo, view, tasks_dir, spec)
    if root is None:
        return None
    run = current_run(repo, view, root)
    branch = refs.branch(root, run)
    return Home(root, branch, view.refs.get(refs.HEADS + branch), run)


def gone(repo: Repository, view: RemoteView, tasks_dir: str, where: Home) -> str | None:
    """Why the follow-up can never run on `where` (merged into the watched branch, or deleted),
    else None. A branch not there yet, of a root still to run, is not gone: the task waits."""
    head = view.head
    if head is None:
        return None
    if where.tip is not None:
        try:
            merged = git.is_ancestor(repo, where.tip, head)
        except GitOpError:
            merged = False
        return f"{where.branch} was merged into {view.branch}" if merged else None
    if git.read_blob(repo, head, refs.result_json(where.root)) is not None:
        return f"{where.branch} was merged into {view.branch} and deleted"
    if spec_at(repo, view, tasks_dir, where.root) is None:
        return f"{where.branch} is gone and {tasks_dir}/{where.root}.md is not on {view.branch}"
    return None


def landed(repo: Repository, view: RemoteView, tasks_dir: str, task_id: str,
           run: int = 1) -> str | None:
    """The commit holding run `run`'s result of follow-up `task_id` on its home branch (any run
    of the root: a retried root keeps the follow-ups that landed on its earlier branch), or
    None."""
    spec = spec_at(repo, view, tasks_dir, task_id, quick=True)
    if spec is None or spec.continues is None:
        return None
    root = root_of(repo, view, tasks_dir, spec)
    if root is None:
        return None
    for root_run in range(current_run(repo, view, root), 0, -1):
        tip = branch_tip(repo, view, refs.branch_ref(root, root_run))
        if tip is not None and _result_run(git.read_blob(repo, tip, refs.result_json(task_id)),
                                           task_id) >= run:
            return tip
    return None


def last_session(repo: Repository, where: Home | None, target: str,
                 profile: str) -> str | None:
    """The session of the last attempt of `target` (the task a follow-up continues, its result
    on `where`), when that attempt ran `profile` and reached the model: the follow-up resumes
    it where the profile can."""
    if where is None or where.tip is None:
        return None
    try:
        data = json.loads(git.read_blob(repo, where.tip, refs.result_json(target)) or b"null")
        last = data["attempts"][-1]
        session = last["report"]["session_id"] if last["profile"] == profile \
            and last["model_invoked"] is True else None
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    return session if isinstance(session, str) else None


def _result_run(raw: bytes | None, task_id: str) -> int:
    """The run a worker-written result of `task_id` records (0: none, or not one)."""
    try:
        data = json.loads(raw or b"null")
        ran = data["run"] if data["task"]["id"] == task_id else 0
    except (ValueError, KeyError, TypeError):
        return 0
    return ran if isinstance(ran, int) and not isinstance(ran, bool) else 0


def earlier(repo: Repository, view: RemoteView, tasks_dir: str, spec: Spec) -> tuple[str, ...]:
    """The follow-ups of the same root whose specs were added before `spec`'s (push order): the
    lane `spec` queues behind. The target itself is not listed (it gates the task already)."""
    root = root_of(repo, view, tasks_dir, spec)
    if root is None or view.head is None:
        return ()
    head = view.head
    mates: list[tuple[str, str]] = []
    for path in git.list_tree(repo, head, tasks_dir):
        if not is_spec_path(path, tasks_dir) or path.rsplit("/", 1)[-1][:-3] in (
                spec.id, spec.continues):
            continue
        raw = git.read_blob(repo, head, path)
        if raw is None or b"continues" not in raw:
            continue  # most specs continue nothing: skip parsing them
        mate = valid_spec(raw, path)
        if mate is None:
            continue
        if mate.continues is not None and root_of(repo, view, tasks_dir, mate) == root:
            added = git.commit_of_path_addition(repo, head, path)
            if added is not None:
                mates.append((mate.id, added))
    mine = git.commit_of_path_addition(repo, head, f"{tasks_dir}/{spec.id}.md") or head
    me = (spec.id, mine)
    # A mate that holds a claim runs (or was interrupted and runs again) on the same branch:
    # whatever the order says (an edited spec moves back in it), never two at once.
    return tuple(task for task, added in mates
                 if _push_order(repo, (task, added), me) < 0
                 or view.claim_oid(task) is not None)


def _push_order(repo: Repository, a: tuple[str, str], b: tuple[str, str]) -> int:
    """-1 when spec `a` (id, commit that added it) reached the watched branch before `b`: by
    ancestry, else commit time, else id."""
    if a[1] != b[1]:
        if git.is_ancestor(repo, a[1], b[1]):
            return -1
        if git.is_ancestor(repo, b[1], a[1]):
            return 1
        times = (git.commit_time(repo, a[1]) or 0, git.commit_time(repo, b[1]) or 0)
        if times[0] != times[1]:
            return -1 if times[0] < times[1] else 1
    return (a[0] > b[0]) - (a[0] < b[0])
