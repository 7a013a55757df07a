"""Run one agent attempt: after preflight (agent/preflight.py), spawn in its own process group
with an explicit environment, stream bounded redacted output, enforce the wall clock -> Run.

Preflight raises PreflightError (terminal, never retried). Once the process may start, nothing
raises for an agent's failure: a failed exec is `Run.spawn_error`, everything else is evidence.
The request, preflight and binary lookup are re-exported here for the modules that import them.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from selectors import SelectorKey
from typing import Any

from loguru import logger

from mtor_git.agent.capture import StreamCapture
from mtor_git.agent.evidence import LiveRecord, Run, StoppedBy
from mtor_git.agent.live import LiveLimits, LiveMonitor
from mtor_git.agent.preflight import MODEL_ARGS_TOKEN as MODEL_ARGS_TOKEN
from mtor_git.agent.preflight import MODEL_TOKEN as MODEL_TOKEN
from mtor_git.agent.preflight import PROMPT_FILE_TOKEN as PROMPT_FILE_TOKEN
from mtor_git.agent.preflight import Prepared as Prepared
from mtor_git.agent.preflight import RunRequest as RunRequest
from mtor_git.agent.preflight import build_argv as build_argv
from mtor_git.agent.preflight import build_env as build_env
from mtor_git.agent.preflight import find_binary as find_binary
from mtor_git.agent.preflight import preflight as preflight
from mtor_git.agent.progress import ProgressMeter, ProgressSink
from mtor_git.agent.redact import Redactor
from mtor_git.agent.sandbox import SandboxSpec, attempt_dirs
from mtor_git.agent.sandbox_handle import Handle, decode_status

_POLL = 0.05  # seconds between checks of the clock and the cancel/shutdown events
_DRAIN = 0.5  # after the agent exits, how long descendants may keep its pipes open
_READ = 65536
_REAP_WAIT = 2.0  # at most this long for SIGKILLed leftovers to vanish


def run_attempt(req: RunRequest | Prepared, *, cancel: threading.Event | None = None,
                shutdown: threading.Event | None = None, live: LiveLimits | None = None,
                progress: ProgressSink | None = None) -> Run:
    """Run the agent once. Raises PreflightError only when given a RunRequest that fails it.
    `live` replaces the request's live limits for this attempt (a cap spent by earlier ones);
    `progress` receives what the agent has done so far while it runs (agent/progress.py)."""
    prepared = req if isinstance(req, Prepared) else preflight(req)
    request = prepared.request
    limits = live or request.live or LiveLimits(stall_timeout=request.profile.stall_timeout)
    if prepared.box is not None:
        with attempt_dirs(prepared.box, request.sandbox.scratch, request.sandbox.home) as box:
            assert box.tmp is not None
            prompt_file = (_write_prompt_file(request, box.tmp)
                           if request.profile.prompt == "file" else None)
            inside = str(box.inside_tmp(Path(prompt_file))) if prompt_file else None
            return _spawn_and_watch(prepared, inside, cancel, shutdown, limits, box, progress)
    prompt_file = _write_prompt_file(request) if request.profile.prompt == "file" else None
    try:
        return _spawn_and_watch(prepared, prompt_file, cancel, shutdown, limits, None, progress)
    finally:
        if prompt_file is not None:
            Path(prompt_file).unlink(missing_ok=True)


def _write_prompt_file(req: RunRequest, base: Path | None = None) -> str:
    """The prompt in a private temp file outside the worktree, so the agent never commits it
    (in the sandbox: in the attempt's private TMPDIR)."""
    if base is not None:
        fd, path = tempfile.mkstemp(prefix="mtor-prompt-", suffix=".md", dir=base)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(req.prompt)
        return path
    base = Path(tempfile.gettempdir()).resolve()
    if base == req.cwd or req.cwd in base.parents:
        base = Path("/tmp")
    fd, path = tempfile.mkstemp(prefix="mtor-prompt-", suffix=".md", dir=base)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(req.prompt)
    return path


def _spawn_and_watch(prepared: Prepared, prompt_file: str | None,
                     cancel: threading.Event | None, shutdown: threading.Event | None,
                     limits: LiveLimits, box: SandboxSpec | None = None,
                     progress: ProgressSink | None = None) -> Run:
    req = prepared.request
    argv = prepared.argv_with(prompt_file)
    red = prepared.redactor
    r_argv, r_cwd, names = red.argv(argv), red.text(str(req.cwd)), tuple(sorted(prepared.env))
    started_at, t0 = time.time(), time.monotonic()
    use_stdin = req.profile.prompt == "stdin"
    info_read, info_write = os.pipe() if box is not None else (-1, -1)
    env = box.env(prepared.env) if box is not None else dict(prepared.env)
    command = box.argv(argv, info_fd=info_write) if box is not None else argv
    try:
        proc = subprocess.Popen(
            list(command), cwd=req.cwd, env=env, start_new_session=True,
            stdin=subprocess.PIPE if use_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True,
            pass_fds=(info_write,) if box is not None else ())
    except OSError as exc:
        logger.warning("agent {} could not start: {}", req.profile.name, red.text(str(exc)))
        return Run(r_argv, r_cwd, names, started_at=started_at, duration=time.monotonic() - t0,
                   exit_code=None, spawn_error=red.text(f"{type(exc).__name__}: {exc}"))
    finally:
        if box is not None:
            os.close(info_write)
    handle = Handle(info_read) if box is not None else None
    watch = _Watch(proc, req, red, cancel, shutdown, LiveMonitor(req.profile.report, limits,
                                                                 req.cwd, t0), handle)
    watch.meter = ProgressMeter(progress, t0)
    watch.loop(req.prompt.encode("utf-8") if use_stdin else b"")
    rc = proc.returncode
    exit_code, sig = decode_status(rc) if box is not None else (
        rc if rc is not None and rc >= 0 else None, -rc if rc is not None and rc < 0 else None)
    return Run(r_argv, r_cwd, names, started_at=started_at, duration=time.monotonic() - t0,
               exit_code=exit_code, signal=sig, stopped_by=watch.stopped_by,
               stdout=watch.out.result(), stderr=watch.err.result(), live=watch.record)


class _Watch:
    """One selector loop: feed stdin, read both pipes, watch the clock and the events."""

    def __init__(self, proc: subprocess.Popen[bytes], req: RunRequest, red: Redactor,
                 cancel: threading.Event | None, shutdown: threading.Event | None,
                 live: LiveMonitor, box: Handle | None = None) -> None:
        self.proc, self.req = proc, req
        self.pgid = proc.pid  # start_new_session: the agent (or its bwrap) leads its own group
        self.box = box
        self.cancel, self.shutdown = cancel, shutdown
        self.live, self.record = live, LiveRecord()
        self.out = StreamCapture(red, req.output_limit, lambda n, text: live.data(
            n, text, time.monotonic(), events=True))
        self.err = StreamCapture(red, req.output_limit, lambda n, text: live.data(
            n, text, time.monotonic(), events=False))
        self.stopped_by: StoppedBy | None = None
        self.deadline = time.monotonic() + req.timeout
        self.kill_at: float | None = None
        self.meter = ProgressMeter(None, time.monotonic())

    def loop(self, stdin_data: bytes) -> None:
        sel = selectors.DefaultSelector()
        pending = memoryview(stdin_data)
        if self.proc.stdin is not None:
            os.set_blocking(self.proc.stdin.fileno(), False)
            sel.register(self.proc.stdin, selectors.EVENT_WRITE)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        sel.register(self.proc.stdout, selectors.EVENT_READ, self.out)
        sel.register(self.proc.stderr, selectors.EVENT_READ, self.err)
        exited_at: float | None = None
        try:
            while sel.get_map():
                now = time.monotonic()
                self._check_stop(now)
                self.meter.tick(now, self.out.total_bytes + self.err.total_bytes, self._totals)
                if exited_at is None and self._exited():
                    exited_at = now
                if exited_at is not None and (self.stopped_by or now - exited_at > _DRAIN):
                    break  # descendants hold the pipes open; they are killed below
                for key, _ in sel.select(_POLL):
                    if key.data is None:
                        pending = self._write(sel, key, pending)
                    else:
                        self._read(sel, key)
        finally:
            sel.close()
            self._finish()

    def _totals(self) -> dict[str, Any] | None:
        parser = self.live.parser
        return parser.totals.to_json() if parser is not None else None

    def _write(self, sel: selectors.BaseSelector, key: SelectorKey,
               pending: memoryview) -> memoryview:
        assert self.proc.stdin is not None
        try:
            n = os.write(self.proc.stdin.fileno(), pending[:_READ])
            pending = pending[n:]
        except BlockingIOError:
            return pending
        except OSError:  # the agent closed stdin (BrokenPipe): it read what it wanted
            pending = pending[len(pending):]
        if not pending:
            sel.unregister(key.fileobj)
            self.proc.stdin.close()
        return pending

    def _read(self, sel: selectors.BaseSelector, key: SelectorKey) -> None:
        try:
            data = os.read(key.fd, _READ)
        except OSError:
            data = b""
        if data:
            key.data.feed(data)
        else:
            sel.unregister(key.fileobj)

    def _check_stop(self, now: float) -> None:
        if self.stopped_by is None:
            reason: StoppedBy | None = None
            if self.shutdown is not None and self.shutdown.is_set():
                reason = StoppedBy.SHUTDOWN
            elif self.cancel is not None and self.cancel.is_set():
                reason = StoppedBy.CANCEL
            elif now >= self.deadline:
                reason = StoppedBy.TIMEOUT
            elif not self._exited() and (stop := self.live.check(now)) is not None:
                reason = stop.stopped_by
            if reason is not None and not self._exited():
                self.stopped_by = reason
                logger.info("stopping agent {} (pid {}): {}", self.req.profile.name,
                            self.proc.pid, reason)
                self._signal_group(signal.SIGTERM)
                self.kill_at = now + self.req.kill_grace
        if self.kill_at is not None and now >= self.kill_at:
            self._signal_group(signal.SIGKILL)
            self.kill_at = None

    def _exited(self) -> bool:
        """Whether the agent (or its bwrap) has exited, without reaping it: while it is an
        unreaped zombie its pid, and so its process group id, cannot be given to another process,
        so signalling the group can never hit a stranger (another attempt's bwrap, whose new
        session would otherwise take the freed number under a fast-cycling pid space)."""
        if self.proc.returncode is not None:
            return True
        try:
            return os.waitid(os.P_PID, self.proc.pid,
                             os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return self.proc.poll() is not None

    def _finish(self) -> None:
        """Wait for the agent's exit (escalating as the grace allows), kill whatever it left
        behind in its group while its zombie still holds the group id, then reap it: a finished
        attempt leaves nothing running."""
        while not self._exited():
            self._check_stop(time.monotonic())
            time.sleep(_POLL)
        if self._signal_group(signal.SIGKILL):
            self._await_group_gone()
        self.proc.wait()
        for stream, capture in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            if stream is not None and not stream.closed:
                _read_what_is_left(stream.fileno(), capture)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        self.out.close()
        self.err.close()
        self.record = self.live.close(time.monotonic())
        if self.box is not None:
            self.box.close()

    def _signal_group(self, sig: signal.Signals) -> bool:
        """Signal every process in the agent's group; False when the group is already empty.
        In the sandbox SIGTERM goes to the agent's session inside (bwrap itself would die of it
        at once, and its namespace with it, leaving the agent no grace); SIGKILL also goes to
        the namespace's init, which takes every process of the namespace with it."""
        if self.box is not None and sig == signal.SIGTERM and self.box.terminate():
            return True
        sent = self.box is not None and sig == signal.SIGKILL and self.box.kill()
        if self.proc.returncode is not None:
            return sent  # reaped: its group id may belong to someone else now
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            return sent
        except PermissionError:
            pass
        return True

    def _await_group_gone(self) -> None:
        """SIGKILL is delivered asynchronously: wait (bounded) until no member is still running,
        so a caller that returns from run_attempt can rely on nothing being left behind."""
        if self.box is not None:
            self.box.wait_gone(_REAP_WAIT)
        until = time.monotonic() + _REAP_WAIT
        while time.monotonic() < until and (
                _group_running(self.pgid) or (self.box is not None and self.box.alive())):
            time.sleep(0.01)


def _read_what_is_left(fd: int, capture: StreamCapture) -> None:
    """What the dead agent wrote but we had not read yet; bounded, since an escaped descendant
    could still be writing."""
    os.set_blocking(fd, False)
    for _ in range(256):  # at most 16 MiB
        try:
            data = os.read(fd, _READ)
        except OSError:  # BlockingIOError: nothing more for now
            return
        if not data:
            return
        capture.feed(data)


def _group_running(pgid: int) -> bool:
    """Whether any non-zombie process is in `pgid` (orphans may linger as zombies when PID 1
    does not reap, and those hold nothing)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False
