"""Run one claimed task from its spec to a committed result: validate again, make the task's own
checkout on mtor/<id>, run the agent in it with the retry policy, take its work out of it into the
worker's clone, commit that and the result."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from dataclasses import replace

from loguru import logger

from mtor_git import __version__, git
from mtor_git.agent.evidence import Failure
from mtor_git.agent.identity import identity_env
from mtor_git.agent.redact import Redactor, secrets_from
from mtor_git.agent.resume import session_to_continue
from mtor_git.agent.sandbox import NO_SANDBOX, Sandbox, remove_dir
from mtor_git.attempts import AttemptRecord
from mtor_git.config.model import Config
from mtor_git.errors import ChangeTooLarge
from mtor_git.git import Checkout, Collected, Limits, Repository, refs
from mtor_git.git.read import Changes
from mtor_git.queue import deps, followups, protocol
from mtor_git.queue.protocol import RemoteView
from mtor_git.retry.budget import Budget
from mtor_git.retry.loop import ExecuteRequest, Execution, Usage, execute
from mtor_git.retry.policy import BreakerBoard
from mtor_git.spec.parse import Spec
from mtor_git.spec.signing import verify_commit
from mtor_git.spec.validate import Checked, check_bytes
from mtor_git.states import TaskStatus
from mtor_git.task.handback import disk_full, hand_back_for_space
from mtor_git.task.job import Job as Job
from mtor_git.task.job import Outcome as Outcome
from mtor_git.task.job import Signals as Signals
from mtor_git.task.leaks import secret_leak
from mtor_git.task.placement import Placement
from mtor_git.task.recording import internal_failure, reached_model, task_info, usage_of
from mtor_git.task.refusals import problems_text
from mtor_git.task.refusals import profile_refusal as profile_refusal
from mtor_git.task.result import (
    Result,
    TaskInfo,
    WorkerInfo,
    commit_message,
    pr_body,
)
from mtor_git.task.verify import Plan, Verification, fix_prompt, run_checks
from mtor_git.task.verify import plan as verify_plan

_SYMLINK = 0o120000


class TaskRunner(Placement):
    def __init__(self, config: Config, repo: Repository, *, breakers: BreakerBoard,
                 environ: Mapping[str, str], sandbox: Sandbox = NO_SANDBOX) -> None:
        self.config, self.repo, self.breakers, self.environ = config, repo, breakers, environ
        self._task_environ: dict[str, str] = {}  # a task's own state dirs (see _task_state)
        self.sandbox = sandbox
        self._task_sandbox = sandbox  # with the task's own HOME while a job runs
        self.worker = WorkerInfo(id=config.worker_id, host=socket.gethostname(),
                                 version=__version__, pid=os.getpid())
        # One runner runs one job (the cycle makes one per task): the remote as this job sees it.
        self._branch, self._tasks_dir = "", "tasks"
        self._remote_view: RemoteView | None = None
        self._home: followups.Home | None = None  # a follow-up's branch, once it may run there
        self._resume: str | None = None  # a follow-up: the session of the task it continues

    def run(self, job: Job, signals: Signals, *, cancelled_before: bool = False) -> Outcome:
        started = time.time()
        self._branch, self._tasks_dir = job.repo.branch, job.repo.tasks_dir
        self._remote_view, self._home, self._resume = None, None, None
        checked, spec_commit = Checked(job.spec_path, None), None
        info = task_info(job, checked, spec_commit, self.config.default_agent)
        try:
            checked, spec_commit = self._read_spec(job)
            info = task_info(job, checked, spec_commit, self.config.default_agent)
            if cancelled_before:
                return self._finish(job, info, started, TaskStatus.CANCELLED, spec_commit,
                                    Failure("cancelled", "cancelled before it started"))
            if checked.spec is None:
                message = problems_text(checked.problems)
                return self._finish(job, info, started, TaskStatus.REJECTED, spec_commit,
                                    Failure("invalid_spec", message))
            refusal = self._refusal(checked.spec, spec_commit)
            if refusal is not None:
                return self._finish(job, info, started, TaskStatus.REJECTED, spec_commit, refusal)
            return self._run_agent(job, info, checked.spec, spec_commit, started, signals)
        except Exception as exc:  # an internal error must still end as a result, not a spin
            if disk_full(exc):
                return hand_back_for_space(job, exc, self.config.retry.initial_backoff)
            logger.exception("internal error in task {}", job.task_id)
            return self._finish(job, info, started, TaskStatus.FAILED, spec_commit,
                                internal_failure(exc, self._redactor()))

    def _redactor(self) -> Redactor:
        """Every secret any configured profile could see: for texts that reach a result."""
        secrets: dict[str, str] = {}
        for profile in self.config.agents.values():
            secrets.update(secrets_from(profile, self.environ))
        return Redactor(secrets)

    def _read_spec(self, job: Job) -> tuple[Checked, str | None]:
        raw, mode = git.read_blob_with_mode(self.repo, job.head, job.spec_path)
        spec_commit = git.commit_of_path_addition(self.repo, job.head, job.spec_path)
        if raw is None:
            return Checked(job.spec_path, None, ()), spec_commit
        return check_bytes(raw, job.spec_path, symlink=mode == _SYMLINK,
                           max_bytes=self.config.max_spec_bytes), spec_commit

    def _refusal(self, spec: Spec, spec_commit: str | None) -> Failure | None:
        if self.config.require_signed:
            assert self.config.allowed_signers is not None  # config.py requires it
            check = verify_commit(self.repo, spec_commit or "", self.config.allowed_signers)
            if not check.ok:
                return Failure("unsigned_spec", f"{spec.path}: {check.reason}; with "
                               "require_signed only specs from signed commits by allowed "
                               "keys run")
        return profile_refusal(spec, self.config) or self._dependency_refusal(spec)

    def _dependency_refusal(self, spec: Spec) -> Failure | None:
        """A dependency that ended other than `succeeded`, or a cycle, rejects the task (the
        cycle cannot start; the task needs what the failed one did not deliver)."""
        if not spec.prerequisites:
            return None
        gate = deps.gate(self.repo, self._view(), spec, self._tasks_dir)
        if gate.cycle:
            return Failure("dependency_cycle", f"{spec.path}: {gate.reason()}")
        if gate.gone:
            return Failure("followup_target_gone", f"{spec.path}: {gate.reason()}")
        if gate.failed:
            return Failure("dependency_failed", f"{spec.path}: {gate.reason()}")
        return None

    def _run_agent(self, job: Job, info: TaskInfo, spec: Spec, spec_commit: str | None,
                   started: float, signals: Signals) -> Outcome:
        if spec.continues is not None:
            self._home = self._follow(spec)
            self._resume = followups.last_session(
                self.repo, self._home, spec.continues, spec.agent or self.config.default_agent)
            if self._home is None:
                return self._finish(job, info, started, TaskStatus.REJECTED, spec_commit,
                                    Failure("followup_target_gone", f"{spec.path}: the branch "
                                            f"of {spec.continues} is not on the remote"))
        base = self._base(spec, spec_commit, job)
        if base is None:
            return self._finish(job, info, started, TaskStatus.REJECTED, spec_commit,
                                Failure("bad_base", f"{spec.path}: base {spec.base!r} is not a "
                                        "branch or commit of the repository"))
        spent = self._spent_before(spec, job)
        if spent is not None:
            status, failure = spent
            return self._finish(job, info, started, status, spec_commit, failure)
        checkout = self._checkout(job, base, spec)
        home = self._task_home(job)
        self._task_environ = self._task_state(spec, home)
        try:
            signals.agent_starting()
            execution, verification = self._rounds(spec, checkout, signals, job)
            attempts = job.carried_attempts + tuple(a.record() for a in execution.attempts)
            if execution.status in (TaskStatus.INTERRUPTED, TaskStatus.PARKED):
                return Outcome(None, None, release_reason=execution.status,
                               not_before=execution.resume_at, attempts=attempts)
            if signals.lost.is_set():
                return Outcome(None, None, release_reason="claim lost")
            if execution.failure is not None and execution.failure.kind == "disk_full":
                return hand_back_for_space(job, execution.failure.message,
                                            self.config.retry.initial_backoff, attempts)
            try:
                return self._record(job, info, spec, spec_commit, started, checkout,
                                    execution, attempts, verification)
            except Exception as exc:  # the agent ran: its attempts stay in the evidence
                if disk_full(exc):
                    return hand_back_for_space(job, exc, self.config.retry.initial_backoff,
                                                attempts)
                logger.exception("internal error recording task {}", job.task_id)
                return self._finish(job, info, started, TaskStatus.FAILED, spec_commit,
                                    internal_failure(exc, self._redactor()),
                                    base=base, head=base, execution=execution,
                                    attempts=attempts)
        finally:
            self._drop_checkout(checkout.path)
            if home is not None:
                remove_dir(home)
            self._task_sandbox = self.sandbox

    def _record(self, job: Job, info: TaskInfo, spec: Spec, spec_commit: str | None,
                started: float, checkout: Checkout, execution: Execution,
                attempts: tuple[AttemptRecord, ...],
                verification: Verification | None = None) -> Outcome:
        """Take the agent's work out of its checkout (its processes are gone) into an intake
        repository; it joins the clone (whose objects every later agent may read) only when it
        is not too large and holds no secret. Then commit the result."""
        base, intake_path = checkout.base, self._workdir(job, "intake")
        intake = git.open_intake(self.repo, intake_path)
        try:
            try:
                work = self._collect(intake, job, checkout)
            except ChangeTooLarge as exc:
                return self._finish(job, info, started, TaskStatus.FAILED, spec_commit,
                                    Failure("change_too_large", str(exc)), base=base,
                                    head=base, execution=execution, attempts=attempts)
            leak = self._secret_leak(spec, base, work.head, intake)
            if leak is not None:
                where = git.quarantine_intake(intake, self._workdir(job, "quarantine"),
                                              refs.quarantine_ref(job.task_id, job.run),
                                              work.head)
                return self._finish(job, info, started, TaskStatus.FAILED, spec_commit, leak,
                                    base=base, head=base, execution=execution,
                                    attempts=attempts, notes=(
                                        f"the agent's commit {work.head[:12]} holds a secret "
                                        "and was not pushed; it is kept on the worker as "
                                        f"{refs.quarantine_ref(job.task_id, job.run)} in "
                                        f"{where}",))
            git.adopt_intake(self.repo, intake, work.head)
        finally:
            git.drop_intake(intake_path)
        status, failure = execution.status, execution.failure
        if work.unfinished is not None and status == TaskStatus.SUCCEEDED:
            status = TaskStatus.FAILED
            failure = Failure("unfinished_merge",
                              f"{work.unfinished}: the agent did not finish its work")
        if verification is not None and status == TaskStatus.SUCCEEDED \
                and not verification.verified:
            status, failure = TaskStatus.FAILED, verification.failure()
        return self._finish(job, info, started, status, spec_commit, failure, base=base,
                            head=work.head, execution=execution, attempts=attempts,
                            notes=work.notes, verification=verification)

    def _collect(self, intake: Repository, job: Job, checkout: Checkout) -> Collected:
        return git.collect(
            intake, checkout,
            results_dir=refs.RESULTS_DIR,
            message=f"mtor: {job.task_id} agent changes (run {job.run})",
            author_name=self.config.author_name, author_email=self.config.author_email,
            limits=Limits(self.config.max_file_bytes, self.config.max_change_bytes))

    def _secret_leak(self, spec: Spec, base: str, head: str,
                     repo: Repository) -> Failure | None:
        """The check of task/leaks.py, in `repo` (the run's intake), with every secret the
        task's profile or its fallback could see."""
        agent = spec.agent or self.config.default_agent
        secrets: dict[str, str] = {}
        for name in (agent, self.config.agents[agent].fallback):
            profile = self.config.agents.get(name or "")
            if profile is not None:
                secrets.update(secrets_from(profile, self.environ))
        return secret_leak(repo, base, head, secrets)

    def _budget(self, spec: Spec, job: Job) -> Budget:
        """What this run may still spend, after what earlier hand-backs of it spent."""
        caps = [c for c in (spec.max_turns, self.config.max_turns) if c is not None]
        return Budget.after(job.carried_attempts, max_attempts=spec.max_attempts,
                            max_cost_usd=spec.max_cost_usd, max_turns=min(caps, default=None))

    def _spent_before(self, spec: Spec, job: Job) -> tuple[TaskStatus, Failure] | None:
        profile = self.config.agents[spec.agent or self.config.default_agent]
        return self._budget(spec, job).spent_before(self.config.retry, profile)

    def _rounds(self, spec: Spec, checkout: Checkout, signals: Signals,
                job: Job) -> tuple[Execution, Verification | None]:
        """The agent, then its `verify:` checks; while one fails and fix rounds are left, the
        agent again in the same checkout, told what failed (task/verify.py)."""
        execution = self._execute(spec, checkout, signals, job, resume=self._resume)
        chosen = self._verify_plan(spec, job)
        if chosen is None or execution.status != TaskStatus.SUCCEEDED:
            return execution, None
        verification = Verification(chosen.commands, chosen.fix_rounds)
        attempts = list(execution.attempts)
        timeout = min(spec.timeout or self.config.default_timeout, self.config.max_timeout)
        for round_ in range(1, chosen.fix_rounds + 2):
            checks = run_checks(chosen.commands, round_, cwd=checkout.path, timeout=timeout,
                                environ=self.environ, sandbox=self._task_sandbox,
                                redact=self._redactor().text, cancel=signals.cancel,
                                shutdown=signals.shutdown, ro_paths=(checkout.objects,))
            verification = replace(verification, checks=verification.checks + checks)
            failed = verification.first_failure
            if failed is None or failed.cannot_start or round_ > chosen.fix_rounds \
                    or failed.stopped_by in ("cancel", "shutdown"):
                break
            logger.info("task {}: `{}` failed; fix round {} of {}", job.task_id, failed.command,
                        round_, chosen.fix_rounds)
            profile = self.config.agents[spec.agent or self.config.default_agent]
            execution = self._execute(spec, checkout, signals, job,
                                      prompt=fix_prompt(spec.prompt, failed),
                                      resume=session_to_continue(execution.attempts, profile))
            attempts += [replace(a, number=len(attempts) + i)
                         for i, a in enumerate(execution.attempts, 1)]
            if execution.status != TaskStatus.SUCCEEDED:
                break
        every = tuple(attempts)
        invoked = True if any(a.model_invoked for a in every) else execution.model_invoked
        return replace(execution, attempts=every, usage=Usage.of(every),
                       model_invoked=invoked), verification

    def _verify_plan(self, spec: Spec, job: Job) -> Plan | None:
        profile = self.config.agents[spec.agent or self.config.default_agent]
        return verify_plan(spec.verify, spec.fix_rounds,
                           ((profile.verify, profile.fix_rounds),
                            (job.repo.verify, job.repo.fix_rounds)))

    def _execute(self, spec: Spec, checkout: Checkout, signals: Signals,
                 job: Job, prompt: str | None = None, resume: str | None = None) -> Execution:
        """The agent in `checkout.path`; its sandbox shows it `checkout.objects` read-only (the
        clone's objects its git borrows) and nothing else of the clone. `resume`: a session its
        first attempt continues, where the profile can."""
        timeout = min(spec.timeout or self.config.default_timeout, self.config.max_timeout)
        return execute(ExecuteRequest(
            prompt=prompt or spec.prompt, profile_name=spec.agent or self.config.default_agent,
            profiles=self.config.agents, cwd=checkout.path, policy=self.config.retry,
            # The agent commits as the worker's `author`, never as whatever its tool invents.
            environ={**self.environ, **self._task_environ,
                     **identity_env(self.config.author_name, self.config.author_email)},
            breakers=self.breakers, model=spec.model, timeout=timeout,
            budget=self._budget(spec, job), cancel=signals.cancel, shutdown=signals.shutdown,
            sandbox=self._task_sandbox, ro_paths=(checkout.objects,), progress=signals.progress,
            resume=resume), on_attempt=signals.attempt_ended)

    def _finish(self, job: Job, info: TaskInfo, started: float, status: TaskStatus,
                spec_commit: str | None, failure: Failure | None, *, base: str | None = None,
                head: str | None = None, execution: Execution | None = None,
                attempts: tuple[AttemptRecord, ...] = (),
                notes: tuple[str, ...] = (),
                verification: Verification | None = None) -> Outcome:
        parent = head or spec_commit or job.head
        if base is None:
            self._home = None  # it never ran on the branch it continues: its own branch
        branch = self._branch_of(job)
        if status == TaskStatus.CANCELLED and failure is not None:
            reason = protocol.cancel_reason(self.repo, job.task_id)
            failure = replace(failure, message=f"{failure.message}: {reason}" if reason
                              else f"{failure.message} (no reason given)")
        changes = git.diff_changes(self.repo, base, head) if base and head else Changes()
        result = Result(
            status=status, task=info, worker=self.worker,
            branch=branch, started_at=started,
            finished_at=time.time(),
            model_invoked=reached_model(execution, attempts or job.carried_attempts),
            run=job.run, base_commit=base or parent, head_commit=parent, changes=changes,
            usage=usage_of(execution), attempts=attempts or job.carried_attempts,
            failure=failure, notes=notes, sandbox=self.sandbox.mode, verification=verification)
        files = {refs.result_json(job.task_id): result.dumps().encode(),
                 refs.result_md(job.task_id): pr_body(result).encode()}
        commit = git.commit_files(
            self.repo, ref=refs.HEADS + branch, parent=parent, files=files,
            message=commit_message(result), author_name=self.config.author_name,
            author_email=self.config.author_email)
        return Outcome(result, commit, branch=branch)
