"""The long-running worker: an APScheduler interval job around Worker.cycle, a local socket that
`mtor-git poke` uses to make it poll now, a status file for `doctor`, and a clean SIGTERM."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TextIO

from apscheduler.schedulers.background import BackgroundScheduler
from loguru import logger

from mtor_git import __version__
from mtor_git.atomic import write_json_atomic
from mtor_git.config.model import Config
from mtor_git.errors import ConfigError, GitOpError, RemoteAuthError
from mtor_git.git import remote_refs
from mtor_git.git.auth import shown_url
from mtor_git.git.transfer import is_local
from mtor_git.worker.cycle import Worker
from mtor_git.worker.poke import socket_path

STATUS_NAME = "status.json"  # the latest daemon's, whatever its worker_id (older readers)


def status_name(worker_id: str) -> str:
    """The status file of one worker id: a state_dir used by several workers over time (the
    default one, on a shared machine) keeps each worker's status apart."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in worker_id)
    return f"status-{safe}.json"


# How long a poll waits for the repositories' syncs before writing the status file; a sync still
# running goes on by itself (and starts its tasks) while the next polls skip its repository.
SYNC_WAIT = 1.0
POLL_JITTER = 0.1  # each poll is delayed by up to this share of poll_interval (README)


def hold_instance_lock(state_dir: Path) -> TextIO:
    """Make this the only daemon using `state_dir` (and so its workspace) until it exits.

    Two daemons on one workspace would sweep each other's git locks and push each other's
    outbox; flock is released by the kernel when the process dies, so a crash leaves no stale
    lock. Keep the returned file open for the life of the process."""
    state_dir.mkdir(parents=True, exist_ok=True)
    handle = open(state_dir / "daemon.lock", "a+")  # noqa: SIM115 - held until exit
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ConfigError(f"another mtor-git daemon ({holder}) already uses {state_dir}; "
                          "give each daemon its own state_dir and workspace") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
    handle.flush()
    return handle


def check_remotes(config: Config) -> None:
    """Refuse to start (ConfigError, exit 78) when a repository refuses our key or token, or we
    refuse its host key or certificate: no retry can fix those, and a daemon polling with them
    would fail every cycle for ever. An unreachable remote is only logged (it may come back).
    Call after the Worker registered each repository's credentials."""
    for repo in config.repos:
        if is_local(repo.url):
            continue
        try:
            remote_refs(repo.url)
        except RemoteAuthError as exc:
            raise ConfigError(f"repository {repo.name} ({shown_url(repo.url)}): {exc}") from None
        except GitOpError as exc:
            logger.warning("repository {} is unreachable at start (will retry each poll): {}",
                           repo.name, exc)


class Daemon:
    def __init__(self, config: Config, environ: Mapping[str, str]) -> None:
        self.config = config
        self.worker = Worker(config, environ)
        self.started_at = time.time()
        self._stop = threading.Event()
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._sock: socket.socket | None = None
        self._in_cycle = threading.Event()
        self._again = threading.Event()  # a poke arrived while a cycle ran: run one more

    def run(self) -> int:
        """Poll until SIGTERM or SIGINT; then stop claiming, finish or interrupt, exit 0."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self._listen()
        jitter = self.config.poll_interval * POLL_JITTER  # stated in the README
        self._scheduler.add_job(self._tick, "interval", seconds=self.config.poll_interval,
                                jitter=jitter, max_instances=1, coalesce=True, id="poll",
                                next_run_time=datetime.now(UTC))
        self._scheduler.start()
        logger.info("mtor-git {} worker {} watching {} repositor(ies), polling every {}s",
                    __version__, self.config.worker_id, len(self.config.repos),
                    self.config.poll_interval)
        try:
            while not self._stop.is_set():
                # A poke and a finished task both set `wake`: a freed slot is filled at once.
                if self.worker.wake.wait(0.5):
                    self._poll_now()
        finally:
            self._shutdown()
        return 0

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        logger.info("received {}; stopping", signal.Signals(signum).name)
        self._stop.set()

    def _poll_now(self) -> None:
        self.worker.wake.clear()
        if self._in_cycle.is_set():
            self._again.set()  # max_instances=1 would drop a second run: queue one instead
            return
        job = self._scheduler.get_job("poll")
        if job is not None:
            job.modify(next_run_time=datetime.now(UTC))

    def _tick(self) -> None:
        self._in_cycle.set()
        try:
            while not self._stop.is_set():
                self._again.clear()
                try:
                    self.worker.cycle(wait=SYNC_WAIT)
                except Exception:
                    logger.exception("poll cycle failed")
                self.write_status()
                if not self._again.is_set():
                    break
        finally:
            self._in_cycle.clear()

    def _listen(self) -> None:
        path = socket_path(self.config.runtime_dir)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(path))
        os.chmod(path, 0o600)
        self._sock = sock
        threading.Thread(target=self._serve, name="poke", daemon=True).start()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                self._sock.recv(64)
            except OSError:
                return
            logger.debug("poked")
            self.worker.wake.set()

    def _shutdown(self) -> None:
        self._scheduler.shutdown(wait=False)
        self.worker.stop(self.config.shutdown_grace)
        if self._sock is not None:
            self._sock.close()
            try:
                socket_path(self.config.runtime_dir).unlink()
            except FileNotFoundError:
                pass
        self.write_status(stopped=True)
        logger.info("stopped")

    def write_status(self, *, stopped: bool = False, once: bool = False) -> None:
        """Heartbeat, last poll, recent outcomes and breakers, for `doctor` and `status`;
        `once`: written by `daemon --once` (cron), whose stop is its normal end."""
        w = self.worker
        with w._lock:
            running = [{"task": key[1], "repo": key[0], "run": r.job.run, "profile": r.profile}
                       for key, r in w.running.items()]
            finished = list(w.finished)
        data = {
            "version": __version__, "worker_id": self.config.worker_id, "pid": os.getpid(),
            "host": socket.gethostname(), "started_at": self.started_at,
            "heartbeat": time.time(), "stopped": stopped, "last_poll": w.last_poll,
            "last_error": w.last_error, "running": running, "recent": finished,
            "breakers": w.breakers.snapshot(time.time()),
            "budget": w.ledger.snapshot(self.config, w.clock()),
            "mode": "once" if once else "daemon",
        }
        try:
            write_json_atomic(self.config.state_dir / status_name(self.config.worker_id), data)
            write_json_atomic(self.config.state_dir / STATUS_NAME, data)
        except OSError as exc:
            logger.warning("could not write the status file: {}", exc)
