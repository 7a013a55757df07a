"""One worker: each cycle syncs every watched repository, finds tasks to run, claims them and
runs them on a bounded pool. Orchestration only: recovery first (worker/recovery.py), the claim
step in queue/acquire.py, the task in task/run.py, the publication in queue/outbox.py."""

from __future__ import annotations

import contextlib
import functools
import gc
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from mtor_git import faults, git
from mtor_git.agent.sandbox import sweep
from mtor_git.config.model import Config, RepoConfig
from mtor_git.config.sandbox import resolve_sandbox
from mtor_git.errors import GitOpError
from mtor_git.git import Repository
from mtor_git.git.transfer import Credentials, bound_transfers, register_credentials, shown_url
from mtor_git.queue import claims, followups, outbox, protocol
from mtor_git.queue.acquire import Missed, Won, acquire
from mtor_git.queue.lease import ClaimKeeper
from mtor_git.queue.state import OutboxEntry, RepoState
from mtor_git.retry.policy import BreakerBoard
from mtor_git.task.job import Job, Signals
from mtor_git.task.result import Result
from mtor_git.task.run import TaskRunner
from mtor_git.worker import ledger, pullrequest, recovery
from mtor_git.worker.candidates import (
    find_candidates,
    merged_run,
    spec_profile,
    waits_for_dependencies,
)
from mtor_git.worker.finishing import Finisher
from mtor_git.worker.slots import Slots
from mtor_git.worker.syncs import Syncs

TIDY_BACKOFF = 3600.0  # seconds without a repack of a clone after one failed


@dataclass
class RepoRuntime:
    """What the worker remembers about one repository between cycles (rebuilt after a crash)."""

    config: RepoConfig
    path: Path
    state: RepoState
    last_refs: Mapping[str, str] | None = None
    reconciled: bool = False  # the whole tasks/ tree was compared with the remote once
    waiting: set[str] = field(default_factory=set)  # ids claimed elsewhere or beyond capacity
    # Ids whose dependencies have not ended: looked at again only when the remote's refs move.
    blocked: set[str] = field(default_factory=set)
    tidy_after: float = 0.0  # monotonic time before which no repack is tried (one failed)


@dataclass
class Running:
    job: Job
    keeper: ClaimKeeper
    profile: str
    future: Future[None] | None = None


class Worker:
    def __init__(self, config: Config, environ: Mapping[str, str], *,
                 clock: Callable[[], float] = time.time) -> None:
        self.config, self.environ = config, dict(environ)
        self.clock = clock  # wall time for claims' not_before and the daily ledger (tests: fake)
        self.ledger = ledger.Ledger(config.state_dir, config.budget.reset_hour)
        resolved = resolve_sandbox(config, self.environ)  # ConfigError: bwrap configured, absent
        self.sandbox = resolved.sandbox
        (logger.info if self.sandbox.mode == "bwrap" else logger.warning)(resolved.reason)
        if sweep(self.sandbox.scratch):  # before any attempt of ours: an earlier daemon's
            logger.info("removed the private HOME/TMPDIR dirs a killed daemon's attempts left")
        self.breakers = BreakerBoard(config.retry)
        self.pool = ThreadPoolExecutor(config.max_parallel, thread_name_prefix="task")
        # Done records and claim deletions after a published result, off the task slots.
        self.housekeeping = ThreadPoolExecutor(1, thread_name_prefix="housekeeping")
        self.finisher = Finisher(self.housekeeping, (config.author_name, config.author_email))
        self.stopping = threading.Event()  # no new claims
        self.shutdown = threading.Event()  # stop running agents now
        self.wake = threading.Event()  # a task finished or a poke came: poll again soon
        self._lock = threading.RLock()
        self.running: dict[tuple[str, str], Running] = {}
        self.slots = Slots(config, self._lock, self.running)
        self.repos = {rc.name: self._runtime(rc) for rc in config.repos}
        self.syncs = Syncs(len(self.repos))
        bound_transfers(config.transfer_timeout)
        self.last_poll: float | None = None
        self.finished: list[dict[str, object]] = []  # recent outcomes, newest last

    def _runtime(self, rc: RepoConfig) -> RepoRuntime:
        if rc.ssh_key or rc.username or rc.token:
            register_credentials(rc.url, Credentials(username=rc.username, ssh_key=rc.ssh_key,
                                                     password=rc.token))
        return RepoRuntime(rc, self.config.workspace / rc.name / "repo.git",
                           RepoState(self.config.state_dir / rc.name))

    def _open(self, rt: RepoRuntime) -> Repository:
        return git.open_or_clone(rt.config.url, rt.path, bare=True)

    # -- one cycle ---------------------------------------------------------------------------
    def cycle(self, *, wait: float | None = None) -> int:
        """Sync every repository, each on a thread of its own, and start what can start; the
        number of tasks started by the syncs that ended within `wait` seconds (None: wait for
        all). A repository whose previous sync still runs is skipped, and named in last_error."""
        self.wake.clear()
        futures = [f for rt in self.repos.values()
                   if (f := self.syncs.start(rt.config.name, shown_url(rt.config.url),
                                             functools.partial(self._sync, rt))) is not None]
        started = self.syncs.gather(futures, wait)
        self.last_poll = time.time()
        return started

    @property
    def last_error(self) -> str | None:
        """Every repository's trouble (its last sync's error, or a remote that has not answered
        yet), not only the last one's."""
        trouble = {**self.syncs.errors, **self.syncs.waiting()}
        return "; ".join(trouble[name] for name in self.repos if name in trouble) or None

    def _sync(self, rt: RepoRuntime) -> int:
        """One repository's part of a cycle, on its own thread; its trouble is recorded, never
        raised: one repository's fault must not touch the others."""
        errors: list[str] = []
        started = 0
        try:
            started = self._cycle_repo(rt, errors)
        except GitOpError as exc:
            errors.append(f"{shown_url(rt.config.url)}: {exc}")
            logger.warning("repository {} unavailable this cycle: {}", rt.config.name, exc)
        except Exception as exc:
            errors.append(f"{shown_url(rt.config.url)}: {type(exc).__name__}: {exc}")
            logger.exception("cycle of repository {} failed", rt.config.name)
        if errors:
            self.syncs.errors[rt.config.name] = "; ".join(errors)
        else:
            self.syncs.errors.pop(rt.config.name, None)
        return started

    def _cycle_repo(self, rt: RepoRuntime, trouble: list[str]) -> int:
        # First cycle of this process (not reconciled yet): clear what a killed one left too.
        repo = recovery.recover(rt.path, lambda: self._open(rt), rt.state,
                                branch=rt.config.branch, worker=self.config.worker_id,
                                first=not rt.reconciled, probe=self._probe,
                                on_landed=lambda repo, entry: self._landed(repo, rt, entry),
                                in_flight=lambda entry: self._in_flight(rt, entry))
        with git.Listing(repo) as listing:  # its connection serves the fetch below
            view = protocol.RemoteView(listing.refs, rt.config.branch)
            with self._lock:
                protocol.deliver_cancels(view, {t: r.keeper.cancel for (n, t), r
                                                in self.running.items() if n == rt.config.name})
            if view.head is None:
                raise GitOpError(f"branch {rt.config.branch!r} does not exist on "
                                 f"{shown_url(rt.config.url)}")
            if rt.reconciled and view.refs == rt.last_refs \
                    and (not rt.waiting or self.slots.full()):
                # Nothing moved since the last cycle (and what waits cannot start while every
                # slot is taken; a finished task wakes the next cycle): no fetch, no work.
                return 0
            git.fetch_moved(repo, view.refs, rt.last_refs if rt.reconciled else None,
                            recorded=protocol.recorded_at_tip(repo, view),
                            connected=listing.take)
        candidates = find_candidates(repo, view, tasks_dir=rt.config.tasks_dir,
                                     last=rt.state.last_processed(), whole=not rt.reconciled,
                                     known=set(rt.waiting) | rt.blocked)
        started = 0
        for task_id in sorted(candidates):
            if self.stopping.is_set():
                break
            try:
                started += self._consider(repo, rt, view, task_id)
            except GitOpError as exc:  # one task's trouble must not stall the others
                logger.warning("{}: could not start it this cycle: {}", task_id, exc)
                rt.waiting.add(task_id)
                trouble.append(f"{task_id}: {exc}")
            except Exception as exc:  # a bug, or data no reader expected: this task only
                logger.exception("{}: could not look at it this cycle", task_id)
                rt.waiting.add(task_id)
                trouble.append(f"{task_id}: {type(exc).__name__}: {exc}")
        rt.state.set_last_processed(view.head)
        rt.last_refs, rt.reconciled = view.refs, True
        self._tidy(rt)
        return started

    def _tidy(self, rt: RepoRuntime) -> None:
        """Repack the clone (git/maintenance.py) when it has grown past git's limits and
        nothing else writes it: no task of this repository runs (no agent, no heartbeat), this
        cycle waits (no claim), and the repack runs on the housekeeping thread (what was queued
        there is done first; a done record's retry waits behind it). In a worker that never goes
        quiet, libgit2's limit on open packs (git/__init__.py) bounds its descriptors meanwhile.
        None for an hour after one failed."""
        if time.monotonic() < rt.tidy_after or not git.untidy(rt.path):
            return
        with self._lock:
            if any(name == rt.config.name for name, _task in self.running):
                return
        with contextlib.suppress(RuntimeError):  # stopping: not now
            self.housekeeping.submit(self._repack, rt).result()

    @staticmethod
    def _repack(rt: RepoRuntime) -> None:
        started = time.monotonic()
        try:
            git.tidy(rt.path)
        except GitOpError as exc:
            rt.tidy_after = time.monotonic() + TIDY_BACKOFF
            logger.warning("could not repack the clone of {} (next try in an hour): {}",
                           rt.config.name, exc)
            # (killed at its time limit with its process group: what it was writing is garbage,
            # and nothing else writes the clone now)
            git.sweep_partial_writes(rt.path, older_than=time.time())
            return
        # Every pygit2 Repository is a reference cycle (it and its `references`): one a cycle
        # dropped holds its packs open until Python's cyclic collector frees it, and so the
        # packs just replaced (their descriptors, and their room on disk: 246 of them after
        # 300 tasks, bench/clone_growth.py). Collected now, they close.
        gc.collect()
        logger.info("repacked the clone of {} in {:.1f} s", rt.config.name,
                    time.monotonic() - started)

    def _consider(self, repo: Repository, rt: RepoRuntime, view: protocol.RemoteView,
                  task_id: str) -> int:
        spec_path = f"{rt.config.tasks_dir}/{task_id}.md"
        requested = protocol.requested_run(repo, view, task_id)
        run = protocol.run_to_do(repo, view, task_id, requested)  # past branches with no result
        with self._lock:
            if (rt.config.name, task_id) in self.running:
                return 0
        if self.slots.full():
            rt.waiting.add(task_id)  # no slot: read nothing now; a finished task wakes a cycle
            return 0
        if self._done(repo, rt, view, task_id, run) \
                or merged_run(repo, view.head or "", task_id) >= requested \
                or followups.landed(repo, view, rt.config.tasks_dir, task_id, run) is not None \
                or (run != requested and followups.landed(repo, view, rt.config.tasks_dir,
                                                          task_id, requested) is not None):
            # (the last: a follow-up's result is on the branch it continues; a user's branch
            # named like it moves its run on, yet the requested one has landed)
            rt.waiting.discard(task_id)
            if view.claim_oid(task_id) is not None:
                # Left beside a published result (its holder died before deleting it, or its
                # deletion is still queued): a done task's claim guards nothing.
                self._release_later(rt, task_id)
            return 0
        raw = git.read_blob(repo, view.head or "", spec_path)
        if raw is None:
            rt.waiting.discard(task_id)
            return 0
        # A task asked to cancel ends `cancelled` without running: no gate holds it back.
        if not view.cancelled(task_id) and self._blocked(repo, rt, view, raw, spec_path):
            return 0
        profile = self._profile_of(raw, spec_path)
        if self.config.unknown_agents == "skip" and profile not in self.config.agents:
            return 0  # another worker of the fleet has this profile: leave the task to it
        if not self.slots.reserve(profile):
            rt.waiting.add(task_id)
            return 0
        try:
            return self._claim_and_start(repo, rt, view, task_id, run, profile)
        finally:
            self.slots.release(profile)

    def _claim_and_start(self, repo: Repository, rt: RepoRuntime, view: protocol.RemoteView,
                         task_id: str, run: int, profile: str) -> int:
        spec_path = f"{rt.config.tasks_dir}/{task_id}.md"
        if any((e.task_id, e.run) == (task_id, run) for e in rt.state.outbox()):
            rt.waiting.add(task_id)  # its result waits for the remote: never run it again
            return 0

        def landed(fresh: protocol.RemoteView) -> bool:
            # The fresh view may name a branch head this clone has not fetched yet (what moved
            # since this cycle's view, as a cycle fetches: no tracking ref of a result branch).
            git.fetch_moved(repo, fresh.refs, view.refs,
                            recorded=protocol.recorded_at_tip(repo, fresh))
            return followups.landed(repo, fresh, rt.config.tasks_dir, task_id, run) is not None

        claimed = acquire(repo, view, task_id, run, worker=self.config.worker_id,
                          lease=self.config.claim_lease, author=self._author, now=self.clock(),
                          landed=landed if followups.is_followup(
                              repo, view, rt.config.tasks_dir, task_id) else None)
        if not isinstance(claimed, Won):
            if claimed != Missed.DONE:
                rt.waiting.add(task_id)  # watch it: its lease may lapse
            return 0
        claim, oid = claimed.claim, claimed.oid
        faults.point("after_claim")
        deferral = (None if view.cancelled(task_id)
                    else self.ledger.deferral(self.config, profile, self.clock()))
        if deferral is not None:
            ledger.defer(repo, claim, oid, deferral, author=self._author)
            rt.waiting.add(task_id)  # looked at again every cycle: it starts after the reset
            return 0
        rt.waiting.discard(task_id)
        job = Job(rt.config, task_id, spec_path, run, view.head or "",
                  carried_attempts=claim.carried_attempts)
        self._start(rt, job, claim, oid, profile, cancelled=view.cancelled(task_id))
        return 1

    @property
    def _probe(self) -> outbox.Probe:
        return outbox.claim_probe(self.config.worker_id, self.config.claim_lease, self._author)

    @property
    def _author(self) -> tuple[str, str]:
        return (self.config.author_name, self.config.author_email)

    def _blocked(self, repo: Repository, rt: RepoRuntime, view: protocol.RemoteView, raw: bytes,
                 spec_path: str) -> bool:
        """Whether the spec waits for dependencies that have not ended (see
        candidates.waits_for_dependencies); its id is kept in `rt.blocked` while it does."""
        found = waits_for_dependencies(repo, view, raw, spec_path, rt.config.tasks_dir)
        if found is None:
            return False
        spec_id, waits = found
        if waits:
            rt.blocked.add(spec_id)
            return True
        rt.blocked.discard(spec_id)
        return False

    def _profile_of(self, raw: bytes, spec_path: str) -> str:
        """The profile a spec names (the default when it names none or is invalid)."""
        return spec_profile(raw, spec_path) or self.config.default_agent

    # -- running -----------------------------------------------------------------------------
    def _start(self, rt: RepoRuntime, job: Job, claim: claims.Claim, oid: str, profile: str,
               *, cancelled: bool) -> None:
        keeper = ClaimKeeper(lambda: self._open(rt), rt.config.branch, claim, oid,
                             lease=self.config.claim_lease, interval=self.config.heartbeat,
                             author=self._author)
        entry = Running(job, keeper, profile)
        with self._lock:
            self.running[(rt.config.name, job.task_id)] = entry
        logger.info("running {} (run {}) in {}", job.task_id, job.run, rt.config.name)
        try:
            entry.future = self.pool.submit(self._run_job, rt, entry, cancelled)
        except RuntimeError:  # the pool is shutting down: hand the claim straight back
            with self._lock:
                self.running.pop((rt.config.name, job.task_id), None)
            keeper.release("worker stopping")

    def _run_job(self, rt: RepoRuntime, entry: Running, cancelled: bool) -> None:
        job, keeper = entry.job, entry.keeper
        try:
            keeper.start()
            repo = self._open(rt)
            runner = TaskRunner(self.config, repo, breakers=self.breakers, environ=self.environ,
                                sandbox=self.sandbox)
            signals = Signals(cancel=keeper.cancel, shutdown=self.shutdown, lost=keeper.lost,
                              agent_starting=keeper.mark_running_soon,
                              progress=keeper.note_progress,
                              attempt_ended=lambda a: self.ledger.book(a, self.clock()))
            outcome = runner.run(job, signals, cancelled_before=cancelled)
            if keeper.lost.is_set():  # the keeper said so at ERROR, once
                keeper.stop()
                logger.info("{}: result discarded, the new owner runs it", job.task_id)
            elif outcome.result is None or outcome.commit is None:
                keeper.release(outcome.release_reason or "released", attempts=outcome.attempts,
                               not_before=outcome.not_before)
            else:
                faults.point("after_commit")
                entry_ = outbox.new_entry(job.task_id, job.run, outcome.commit,
                                           outcome.result.status, outcome.branch)
                rt.state.put_outbox(entry_)
                keeper.stop()  # no renewal may race the claim's deletion by publish
                landed: list[OutboxEntry] = []
                if outbox.publish(repo, rt.state, entry_, release=landed.append):
                    if self.config.pull_request is not None:
                        self._pull_request(repo, rt, outcome.result)
                    self._record(repo, rt, landed)
                else:
                    self._publishing(rt, keeper, entry_)
                self._remember(job, outcome.result)
        except Exception as exc:
            logger.exception("task {} failed inside the worker; its claim will expire",
                             job.task_id)
            keeper.stop()
            with self._lock:  # so that `doctor` sees a burst of these too
                self.finished.append({"task": job.task_id, "run": job.run,
                                      "status": "internal_error", "at": time.time(),
                                      "duration": None, "attempts": 0,
                                      "kind": type(exc).__name__, "model_invoked": None})
                del self.finished[:-50]
        finally:
            with self._lock:
                self.running.pop((rt.config.name, job.task_id), None)
            self.wake.set()

    @staticmethod
    def _publishing(rt: RepoRuntime, keeper: ClaimKeeper, entry: OutboxEntry) -> None:
        """Mark the claim publishing: no take-over while the result waits in the outbox. A
        remote that refuses even that declines every push: the entry is probed every cycle. An
        entry no longer waiting (a follow-up whose branch is gone or moved) needs no claim: the
        task is taken again."""
        if not any((e.task_id, e.run) == (entry.task_id, entry.run) for e in rt.state.outbox()):
            rt.waiting.add(entry.task_id)  # not done: looked at again at the next cycle
            return
        if keeper.publishing() is False and not keeper.lost.is_set():
            outbox.mark_blocked(rt.state, entry)

    def _landed(self, repo: Repository, rt: RepoRuntime, entry: OutboxEntry) -> None:
        """A result that waited in the outbox gets its pull request now."""
        result = pullrequest.published_result(repo, entry)
        if result is not None:
            self._pull_request(repo, rt, result)

    def _record(self, repo: Repository, rt: RepoRuntime, landed: list[OutboxEntry]) -> None:
        for entry in landed:
            self.finisher.landed(repo, rt.config.name, lambda: self._open(rt), entry)

    def _in_flight(self, rt: RepoRuntime, entry: OutboxEntry) -> bool:
        """Whether the task of `entry` still runs here: its thread publishes the entry itself
        (a failed push leaves it to the outbox with `tries` counted)."""
        with self._lock:
            running = self.running.get((rt.config.name, entry.task_id))
        return running is not None and running.job.run == entry.run and entry.tries == 0

    def _release_later(self, rt: RepoRuntime, task_id: str) -> None:
        self.finisher.add(rt.config.name, lambda: self._open(rt), claim=task_id)

    def _done(self, repo: Repository, rt: RepoRuntime, view: protocol.RemoteView, task_id: str,
              run: int) -> bool:
        return self.finisher.done(repo, rt.config.name, lambda: self._open(rt), view, task_id,
                                  run)

    def _pull_request(self, repo: Repository, rt: RepoRuntime, result: Result) -> None:
        if self.config.pull_request is not None:
            pullrequest.open_and_note(self.config.pull_request, repo, rt.config.url,
                                      rt.config.branch, result, self.environ,
                                      author=self._author)

    def _remember(self, job: Job, result: Result) -> None:
        # duration, attempts, kind and model_invoked let `doctor` tell a burst of fast failures
        # where the model never ran (the pipeline is broken) from ordinary task failures.
        failure = result.failure
        with self._lock:
            self.finished.append({"task": job.task_id, "run": job.run, "status": result.status,
                                  "at": time.time(),
                                  "duration": round(result.finished_at - result.started_at, 3),
                                  "attempts": len(result.attempts),
                                  "kind": failure.kind if failure else None,
                                  "model_invoked": result.model_invoked})
            del self.finished[:-50]

    # -- lifecycle ---------------------------------------------------------------------------
    def busy(self) -> bool:
        with self._lock:
            return bool(self.running)

    def run_once(self, *, error_retries: int = 3) -> None:
        """Cycle until a cycle starts nothing and nothing runs (for cron, tests, debugging).
        A cycle that failed is tried again, a few times and a second apart, before giving up:
        `--once` must not end with work left undone for a passing fault."""
        retries = error_retries
        while not self.stopping.is_set():
            started = self.cycle()
            if self.busy():
                # A freed slot is filled at once: the next cycle runs as soon as any task ends,
                # not after every running one did.
                while self.busy() and not self.wake.wait(0.2):
                    pass
                continue
            if started == 0 and self.last_error is not None and retries > 0:
                retries -= 1
                self.stopping.wait(1.0)
                continue
            if started == 0:
                break
        # What landed is recorded (and its claim deleted) before `--once` returns.
        with contextlib.suppress(RuntimeError):  # stopped: stop() waited for it already
            self.housekeeping.submit(lambda: None).result()

    def stop(self, grace: float) -> None:
        """Stop claiming; let running tasks finish within `grace`, then interrupt them."""
        self.stopping.set()
        deadline = time.monotonic() + grace
        while self.busy() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.busy():
            logger.warning("grace period over: interrupting {} running task(s)",
                           len(self.running))
            self.shutdown.set()
        self.pool.shutdown(wait=True)
        self.housekeeping.shutdown(wait=True)
        self.syncs.shutdown()
