"""The one helper for every short subprocess the library starts (the git CLI, `ssh-keygen`, a forge
client, `systemd-analyze`, an agent's `--version` probe): argv lists only, never a shell, an
explicit environment, a timeout, and one typed error that carries what a reader needs.

The agent's own spawn (agent/spawn.py) is the one exception: it streams bounded, redacted output
from a whole process group for minutes and must kill that group on a deadline, which a
run-to-completion helper cannot do without buffering everything.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mtor_git.errors import CommandError

TAIL = 2000


@dataclass(frozen=True)
class Output:
    """A finished command: exit code and its whole output (decoded as UTF-8, errors replaced)."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def run(argv: Sequence[str], *, cwd: Path | str | None = None, env: Mapping[str, str] | None = None,
        timeout: float = 60.0, input: str | bytes | None = None, check: bool = True,
        merge_stderr: bool = False) -> Output:
    """Run `argv` to completion in its own process group (killed whole on the timeout: node CLIs
    leave children). CommandError when it cannot start, times out, or (with `check`) exits
    non-zero; the error carries argv, the exit code (None when it never ran or was killed on the
    timeout) and the tails of both streams. `merge_stderr` folds stderr into stdout."""
    args = tuple(str(a) for a in argv)
    data = input.encode() if isinstance(input, str) else input
    try:
        child = subprocess.Popen(
            args, cwd=cwd, env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            start_new_session=True)
    except OSError as exc:
        raise CommandError(args, None, "", "", exc.strerror or str(exc)) from exc
    try:
        out, err = child.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        out, err = child.communicate()
        raise CommandError(args, None, _text(out), _text(err),
                           f"timed out after {timeout:g}s", timed_out=True) from exc
    result = Output(args, child.returncode, _text(out), _text(err))
    if check and child.returncode != 0:
        raise CommandError(args, child.returncode, result.stdout, result.stderr)
    return result


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")
