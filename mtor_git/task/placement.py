"""Where a task's work happens: the commit it starts from (its spec's, `base:`, a dependency's
branch, or the head of the branch a follow-up continues), its own checkout and the branch its
result goes to, and the private HOME its attempts share. Part of TaskRunner (task/run.py)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from loguru import logger

from mtor_git import git
from mtor_git.agent.sandbox import Sandbox, home_inside, remove_dir
from mtor_git.config.model import Config
from mtor_git.git import Checkout, Repository, refs
from mtor_git.queue import deps, followups
from mtor_git.queue.protocol import RemoteView, branch_tip, read_view
from mtor_git.spec.parse import Spec
from mtor_git.task.job import Job

_MAX_KEPT = 200  # result files kept in a checkout by name; more: none is left out


class Placement:
    """The placement half of TaskRunner; the runner sets these attributes per job."""

    config: Config
    repo: Repository
    environ: Mapping[str, str]
    _task_environ: dict[str, str]
    sandbox: Sandbox
    _task_sandbox: Sandbox
    _branch: str
    _tasks_dir: str
    _remote_view: RemoteView | None
    _home: followups.Home | None

    def _view(self) -> RemoteView:
        if self._remote_view is None:
            self._remote_view = read_view(self.repo, self._branch)
        return self._remote_view

    def _task_home(self, job: Job) -> Path | None:
        """A private HOME for the task's attempts, kept from one attempt to the next (a CLI
        keeps its session there, and a later attempt resumes it), removed with the checkout."""
        if self.sandbox.mode != "bwrap":
            return None
        base = self.sandbox.scratch or self.config.workspace / ".attempts"
        home = base / f"home-{job.repo.name}-{job.task_id}.r{job.run}"
        if home.exists():
            remove_dir(home)  # what a killed daemon left
        self._task_sandbox = replace(self.sandbox, home=home)
        return home

    def _task_state(self, spec: Spec, home: Path | None) -> dict[str, str]:
        """The task's own copy of each state dir its profile names (`state_env`, e.g. Codex's
        CODEX_HOME), made inside the task's private HOME: the top-level files (config, login)
        only, never an earlier task's sessions or logs, so no task's agent reads or changes
        another's. The variables to give the agent, as paths inside its sandbox."""
        if home is None:
            return {}
        profile = self.config.agents[spec.agent or self.config.default_agent]
        out: dict[str, str] = {}
        for name in profile.state_env:
            source = Path(self.environ[name]) if self.environ.get(name) else None
            copy = home / ".mtor-state" / name
            copy.mkdir(parents=True, exist_ok=True, mode=0o700)
            if source is not None and source.is_dir():
                for entry in source.iterdir():
                    if entry.is_file() and not entry.is_symlink():
                        shutil.copy2(entry, copy / entry.name)
            out[name] = str(home_inside(self.environ) / ".mtor-state" / name)
        return out

    def _base(self, spec: Spec, spec_commit: str | None, job: Job) -> str | None:
        """The commit to start from: the spec's commit, or `base:` as a branch or tag of the
        remote, or a commit of the watched branch's history. Never a ref of the worker's own
        (a quarantined commit, another task's unpublished work)."""
        if self._home is not None:
            return self._home.tip  # a follow-up continues its branch's head, whatever `base:`
        if spec.base is None:
            after = deps.start_branch(self.repo, self._view(), spec, self._tasks_dir) \
                if spec.depends_on else None
            return after or spec_commit or job.head
        for ref in (f"refs/remotes/origin/{spec.base}", f"refs/tags/{spec.base}"):
            found = git.resolve(self.repo, ref)
            if found is not None:
                return found
        if re.fullmatch(r"[0-9a-f]{7,64}", spec.base):
            found = git.resolve(self.repo, spec.base)
            if found is not None and git.is_ancestor(self.repo, found, job.head):
                return found
        return None

    def _checkout_path(self, job: Job) -> Path:
        # A follow-up works where the run it continues worked: a CLI that keeps its sessions per
        # directory (Claude Code) finds that run's session there to resume.
        name = f"{self._home.root}.r{self._home.run}" if self._home is not None \
            else f"{job.task_id}.r{job.run}"
        return self.config.workspace / job.repo.name / "worktrees" / name

    def _workdir(self, job: Job, kind: str) -> Path:
        """The run's intake or quarantine repository (in the workspace: no agent sees it)."""
        return self.config.workspace / job.repo.name / kind / f"{job.task_id}.r{job.run}.git"

    def _checkout(self, job: Job, base: str, spec: Spec) -> Checkout:
        path = self._checkout_path(job)
        path.parent.mkdir(parents=True, exist_ok=True)
        return git.create_checkout(self.repo, path, self._branch_of(job), base,
                                   excludes=self._excludes(spec),
                                   only=(self._tasks_dir, job.spec_path),
                                   leave_out=self._merged_results(job, base))

    def _merged_results(self, job: Job, base: str) -> list[git.LeaveOut]:
        """Result files of other tasks merged into the watched branch, as the base has them
        (thousands, two a finished task): left out of the checkout. Those only the base has
        (a dependency's, the follow-ups' on the branch a follow-up continues) stay, and the
        task's own (and its root's)."""
        own = {job.task_id, *((self._home.root,) if self._home is not None else ())}
        rule = git.LeaveOut(refs.RESULTS_DIR, (".json", ".md"))
        # What the base holds that the watched branch does not (a diff of the two folders in
        # libgit2: 5,000 merged results read into dicts cost 20 ms a task).
        only_base = {c.path for c in git.changed_paths(self.repo, job.head or None, base,
                                                        refs.RESULTS_DIR)
                     if c.status != "deleted" and rule.covers(c.path)}
        keep = sorted(only_base
                      | {p for t in own for p in (refs.result_json(t), refs.result_md(t))})
        rule = replace(rule, keep=tuple(keep))
        # Patterns git matches every path against, and only names that say themselves: else
        # every result file is checked out (the specs still are not).
        return [rule] if len(keep) <= _MAX_KEPT and rule.plain() else []

    def _branch_of(self, job: Job) -> str:
        """The branch this run's work and result go to: its own, or (a follow-up that got as
        far as its checkout) the branch it continues, so the same pull request grows."""
        return self._home.branch if self._home is not None else refs.branch(job.task_id, job.run)

    def _follow(self, spec: Spec) -> followups.Home | None:
        """The branch a follow-up continues, its head fetched (it may have moved since the
        cycle's fetch: an earlier follow-up just landed); None when it is not there."""
        where = followups.home(self.repo, self._view(), self._tasks_dir, spec)
        if where is None or where.tip is None:
            return None
        branch_tip(self.repo, self._view(), refs.HEADS + where.branch)  # that branch alone
        return where if git.resolve(self.repo, where.tip) is not None else None

    def _excludes(self, spec: Spec) -> tuple[str, ...]:
        """Files the agent's tool leaves that are never the agent's work (`.aider*` …): written
        to the checkout's `.git/info/exclude`, so the worker does not commit them. Those of the
        spec's profile and of its fallback, which may run in the same checkout."""
        profile = self.config.agents[spec.agent or self.config.default_agent]
        fallback = self.config.agents.get(profile.fallback or "")
        return tuple(dict.fromkeys(
            (*profile.excludes, *(fallback.excludes if fallback is not None else ()))))

    def _drop_checkout(self, path: Path) -> None:
        try:
            git.drop_checkout(self.repo, path)
        except Exception as exc:
            logger.warning("could not remove the task checkout {}: {}", path, exc)
