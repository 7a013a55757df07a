"""Run one agent attempt: preflight (binary, cwd, env, prompt), spawn in its own process group with
an explicit environment, stream bounded redacted output, enforce the wall clock -> Run.

Preflight raises PreflightError (terminal, never retried). Once the process may start, nothing
raises for an agent's failure: a failed exec is `Run.spawn_error`, everything else is evidence.
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from selectors import SelectorKey

from loguru import logger

from mtor_git.agent.capture import DEFAULT_LIMIT, StreamCapture
from mtor_git.agent.evidence import LiveRecord, Run, StoppedBy
from mtor_git.agent.identity import IDENTITY_ENV
from mtor_git.agent.live import LiveLimits, LiveMonitor
from mtor_git.agent.profiles import BASE_PASS_ENV, AgentProfile
from mtor_git.agent.redact import Redactor, secrets_from
from mtor_git.agent.sandbox import (
    NO_SANDBOX,
    Handle,
    Sandbox,
    SandboxPath,
    SandboxSpec,
    attempt_dirs,
    decode_status,
    plan_checked,
)
from mtor_git.errors import PreflightError

PROMPT_FILE_TOKEN = "{prompt_file}"
MODEL_ARGS_TOKEN = "{model_args}"
MODEL_TOKEN = "{model}"
_PLACE_TOKENS = frozenset({"{cap_args}", "{resume_args}"})  # filled per attempt (agent/resume.py)
_POLL = 0.05  # seconds between checks of the clock and the cancel/shutdown events
_DRAIN = 0.5  # after the agent exits, how long descendants may keep its pipes open
_READ = 65536
_REAP_WAIT = 2.0  # at most this long for SIGKILLed leftovers to vanish
# `~` at the start of a word or after `=`/`:` (`--dir=~/x`, `PATH=a:~/bin`), or a braced `${VAR}`.
_UNEXPANDED = re.compile(r"(?:^|[=:])~(?:/|$|[A-Za-z_])|\$\{[A-Za-z_][A-Za-z0-9_]*\}")


def _default_environ() -> Mapping[str, str]:
    return dict(os.environ)


@dataclass(frozen=True)
class RunRequest:
    """Everything one attempt needs. `environ` is the daemon's environment to draw from (default: a
    snapshot of this process's); only named variables reach the agent."""

    profile: AgentProfile
    prompt: str
    cwd: Path
    model: str | None = None
    timeout: float = 1800.0
    environ: Mapping[str, str] = field(default_factory=_default_environ)
    output_limit: int = DEFAULT_LIMIT
    kill_grace: float = 5.0
    live: LiveLimits | None = None  # None: the profile's stall_timeout, no caps
    sandbox: Sandbox = NO_SANDBOX
    # Shown read-only inside the sandbox besides what the profile declares (for example the
    # objects directory a checkout borrows through `objects/info/alternates`).
    ro_paths: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Prepared:
    """A request that passed preflight. `argv` is unredacted and may still hold {prompt_file}
    (filled per attempt); `env` is the agent's whole environment."""

    request: RunRequest
    argv: tuple[str, ...]
    env: Mapping[str, str]
    redactor: Redactor
    binary: str  # the resolved absolute path of argv[0]
    box: SandboxSpec | None = None  # planned; its HOME/TMPDIR are made per attempt

    def argv_with(self, prompt_file: str | None) -> tuple[str, ...]:
        argv = tuple(a for a in self.argv if a not in _PLACE_TOKENS)  # nothing placed there
        if prompt_file is None:
            return argv
        return tuple(a.replace(PROMPT_FILE_TOKEN, prompt_file) for a in argv)



def build_env(profile: AgentProfile, environ: Mapping[str, str]) -> dict[str, str]:
    """The agent's environment, built explicitly: the base names, the profile's pass-through and
    required names copied from `environ`, then the profile's own (already expanded) values."""
    env: dict[str, str] = {}
    for name in (*BASE_PASS_ENV, *IDENTITY_ENV, *profile.pass_env, *profile.requires_env):
        if name in environ:
            env[name] = environ[name]
    env.update(profile.env)
    return env


def build_argv(profile: AgentProfile, model: str | None) -> tuple[str, ...]:
    """The command with model arguments spliced in at {model_args} (appended when absent), or
    the token dropped when no model is given."""
    extra = tuple(a.replace(MODEL_TOKEN, model) for a in profile.model_args) if model else ()
    argv: list[str] = []
    placed = False
    for arg in profile.command:
        if arg == MODEL_ARGS_TOKEN:
            argv.extend(extra)
            placed = True
        else:
            argv.append(arg)
    if not placed:
        argv.extend(extra)
    return tuple(argv)


def preflight(req: RunRequest) -> Prepared:
    """Check everything an agent needs before it is started; raise PreflightError(kind, ...)."""
    profile = req.profile
    env = build_env(profile, req.environ)
    redactor = Redactor(secrets_from(profile, {**req.environ, **env}))
    argv = build_argv(profile, req.model)
    _check_unexpanded(argv, req.cwd, profile.env, redactor)
    _check_cwd(req.cwd)
    for name in profile.requires_env:
        if not req.environ.get(name):
            state = "empty" if name in req.environ else "not set"
            raise PreflightError("missing_env", f"agent {profile.name!r} requires {name}, which "
                                 f"is {state} in the worker's environment")
    _check_prompt_mode(profile, argv)
    binary = _resolve_binary(argv, env, req.cwd)
    box = None if req.sandbox.mode == "none" else plan_checked(
        req.sandbox, cwd=req.cwd, paths=(*profile.sandbox_paths, *_state_dirs(profile, env)),
        network=profile.network,
        extra_ro=req.ro_paths, environ=req.environ, binary=binary, agent=profile.name, env=env)
    if profile.prompt != "none" and not req.prompt.strip():
        raise PreflightError("empty_prompt", "the prompt is empty")
    return Prepared(req, (binary, *argv[1:]), env, redactor, binary, box)


def _state_dirs(profile: AgentProfile, env: Mapping[str, str]) -> tuple[SandboxPath, ...]:
    """The CLI's own state directories its profile names by variable, shown writable."""
    dirs = [Path(env[name]) for name in profile.state_env if env.get(name)]
    return tuple(SandboxPath(d, writable=True) for d in dirs if d.is_absolute() and d.is_dir())


def _check_unexpanded(argv: tuple[str, ...], cwd: Path, env: Mapping[str, str],
                      redactor: Redactor) -> None:
    places = [(f"argv[{i}]", a) for i, a in enumerate(argv)]
    places += [("cwd", str(cwd))] + [(f"env {k}", v) for k, v in env.items()]
    for where, value in places:
        if _UNEXPANDED.search(value):
            raise PreflightError("unexpanded_path", f"{where} is not expanded: "
                                 f"{redactor.text(value)!r} (a `~` or `${{VAR}}` would reach the "
                                 "agent literally)")


def _check_cwd(cwd: Path) -> None:
    if not cwd.is_absolute():
        raise PreflightError("bad_cwd", f"working directory {str(cwd)!r} is not absolute")
    if not cwd.is_dir():
        raise PreflightError("bad_cwd", f"working directory {str(cwd)!r} does not exist")
    # What git itself does: a `.git` entry (directory, or file for a linked worktree) here or above.
    if not any((p / ".git").exists() for p in (cwd, *cwd.parents)):
        raise PreflightError("bad_cwd", f"working directory {str(cwd)!r} is not in a git worktree")


def _check_prompt_mode(profile: AgentProfile, argv: tuple[str, ...]) -> None:
    has_token = any(PROMPT_FILE_TOKEN in a for a in argv)
    if profile.prompt == "file" and not has_token:
        raise PreflightError("bad_profile", f"agent {profile.name!r}: prompt: file needs "
                             f"{PROMPT_FILE_TOKEN} in the command")
    if profile.prompt == "stdin" and has_token:
        raise PreflightError("bad_profile", f"agent {profile.name!r}: {PROMPT_FILE_TOKEN} in the "
                             "command but prompt: stdin")


def find_binary(name: str, env: Mapping[str, str], cwd: Path | None = None) -> str | None:
    """The one rule for "can this agent's binary start": a name with a slash is a file
    (relative to `cwd`, or to this process's directory without one) that must be executable;
    a bare name is looked up on the PATH of `env` (the agent's own environment), never on ours.
    The absolute path found, or None."""
    if not name:
        return None
    if os.sep in name:
        path = Path(name) if os.path.isabs(name) or cwd is None else cwd / name
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    search = env.get("PATH", "")
    found = shutil.which(name, path=search) if search else None
    return os.path.abspath(found) if found else None


def _resolve_binary(argv: tuple[str, ...], env: Mapping[str, str], cwd: Path) -> str:
    if not argv or not argv[0]:
        raise PreflightError("binary_missing", "the agent command is empty")
    name = argv[0]
    found = find_binary(name, env, cwd)
    if found is not None:
        return found
    if os.sep in name:
        raise PreflightError("binary_missing", f"{name!r} is not an executable file")
    search = env.get("PATH", "")
    raise PreflightError("binary_missing", f"{name!r} is not on the agent's PATH "
                         f"({search or 'PATH is not set'})")


def run_attempt(req: RunRequest | Prepared, *, cancel: threading.Event | None = None,
                shutdown: threading.Event | None = None, live: LiveLimits | None = None) -> Run:
    """Run the agent once. Raises PreflightError only when given a RunRequest that fails it.
    `live` replaces the request's live limits for this attempt (a cap spent by earlier ones)."""
    prepared = req if isinstance(req, Prepared) else preflight(req)
    request = prepared.request
    limits = live or request.live or LiveLimits(stall_timeout=request.profile.stall_timeout)
    if prepared.box is not None:
        with attempt_dirs(prepared.box, request.sandbox.scratch) as box:
            assert box.tmp is not None
            prompt_file = (_write_prompt_file(request, box.tmp)
                           if request.profile.prompt == "file" else None)
            inside = str(box.inside_tmp(Path(prompt_file))) if prompt_file else None
            return _spawn_and_watch(prepared, inside, cancel, shutdown, limits, box)
    prompt_file = _write_prompt_file(request) if request.profile.prompt == "file" else None
    try:
        return _spawn_and_watch(prepared, prompt_file, cancel, shutdown, limits)
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
                     limits: LiveLimits, box: SandboxSpec | None = None) -> Run:
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
