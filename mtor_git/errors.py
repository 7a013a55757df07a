"""Every failure mtor-git raises on purpose, as one tree; the CLI maps each branch to an exit code.

    MtorError                     base; never raised itself
    ├── UsageError                bad command-line words, an invalid task id (exit 2)
    ├── UnknownTask               a valid id that names no task on the remote (exit 1)
    ├── NothingToShow             a known task without the result or history asked for (exit 1)
    ├── TimedOut                  a wait (`watch --timeout`) ran out (exit 124)
    ├── SpecError                 an invalid task spec; carries every problem found (exit 1)
    ├── ConfigError               invalid daemon configuration, missing variable or binary (exit 78)
    ├── PreflightError            a run cannot start: binary, cwd, env, prompt (terminal, no retry)
    ├── GitOpError                a repository operation failed (clone, fetch, commit, push)
    │   ├── PushRejected          the remote refused one or more refs (carries each ref's message)
    │   ├── RemoteAuthError       credentials refused, or the server's host key / TLS certificate
    │   │                         not trusted: no retry can fix it (the daemon exits 78 at start)
    │   └── ChangeTooLarge        an agent's file or whole change is over the worker's size caps
    ├── CommandError              a helper command (git CLI, ssh-keygen, gh) failed
    ├── HookError                 a hook cannot be installed without losing the user's own
    └── StateError                local state is unreadable or inconsistent
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class MtorError(Exception):
    """Base of every deliberate mtor-git error."""


class UsageError(MtorError):
    """The command line is wrong."""


class UnknownTask(MtorError):
    """A well-formed task id that names no task on the remote."""


class NothingToShow(MtorError):
    """The task exists, but has no result (or history) to show yet."""


class TimedOut(MtorError):
    """A bounded wait ran out."""


@dataclass(frozen=True)
class Problem:
    """One located problem: `path:line: field: message`."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


class SpecError(MtorError):
    """A task spec is invalid; `problems` lists every located problem."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigError(MtorError):
    """Configuration is invalid or cannot be satisfied; the daemon exits 78."""


class PreflightError(MtorError):
    """A run cannot start; `kind` names the failure (binary_missing, bad_cwd, missing_env, ...)."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


class GitOpError(MtorError):
    """A repository operation failed."""


class PushRejected(GitOpError):
    """The remote refused at least one ref; `refused` maps refname to the server's message."""

    def __init__(self, refused: Mapping[str, str]) -> None:
        self.refused = dict(refused)
        detail = "; ".join(f"{ref}: {msg}" for ref, msg in self.refused.items())
        super().__init__(f"push refused: {detail}")


class RemoteAuthError(GitOpError):
    """The remote refused our credentials, or we refused its identity (an unknown or changed ssh
    host key, an untrusted TLS certificate). Retrying cannot help; a human must fix the key,
    the token or the trust store."""


class ChangeTooLarge(GitOpError):
    """The agent's changes exceed `max_file_bytes` or `max_change_bytes`; nothing was committed."""


class CommandError(MtorError):
    """A helper subprocess (mtor_git/proc.py) could not start, timed out or exited non-zero.

    `returncode` is None when it never ran or was killed on its timeout; `stdout` and `stderr`
    keep the last 2,000 characters of each stream."""

    def __init__(self, argv: Sequence[str], returncode: int | None, stdout: str, stderr: str,
                 reason: str | None = None, *, timed_out: bool = False) -> None:
        self.argv = tuple(argv)
        self.timed_out = timed_out
        self.returncode = returncode
        self.stdout = stdout[-2000:]
        self.stderr = stderr[-2000:]
        why = reason or f"exited {returncode}"
        detail = (self.stderr or self.stdout).strip()
        super().__init__(f"{' '.join(self.argv)}: {why}" + (f": {detail[-500:]}" if detail else ""))


class HookError(MtorError):
    """A hook cannot be installed without losing the user's existing hook."""


class StateError(MtorError):
    """Local state is unreadable or inconsistent."""
