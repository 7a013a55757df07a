"""Verified results: after the agent, the task's `verify:` commands run in its checkout, in the
same sandbox and under the same timeout; a failing one earns the agent a bounded number of fix
rounds, each told the command and its output. The result says whether it was verified.

    round 1: agent ──▶ verify ── all pass ──▶ succeeded, verified
                          │ one fails, rounds left
                          ▼
    round 2: agent (the failure appended to the prompt) ──▶ verify ──▶ …
                          │ still failing after 1 + fix_rounds rounds
                          ▼
                 failed / verification_failed (the work is still pushed, unverified)

A command that cannot start (exit 126/127: no such program, not executable) is the worker's
configuration fault, `verify_unavailable`, not a failed verification: no fix round can mend it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtor_git.agent.evidence import Failure
from mtor_git.agent.profiles import AgentProfile
from mtor_git.agent.sandbox import NO_SANDBOX, Sandbox
from mtor_git.agent.spawn import RunRequest, run_attempt
from mtor_git.errors import PreflightError

DEFAULT_FIX_ROUNDS = 2
TAIL_CHARS = 2000  # of each command's output, in the result and in the fix prompt
_CANNOT_START = (126, 127)  # sh: found but not executable / not found


@dataclass(frozen=True)
class Check:
    """One verify command in one round."""

    round: int
    command: str
    exit_code: int | None
    duration: float
    output_tail: str  # redacted and bounded, stdout then stderr
    stopped_by: str | None = None  # timeout / cancel / shutdown
    cannot_start: bool = False

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and self.stopped_by is None

    def to_json(self) -> dict[str, Any]:
        return {"round": self.round, "command": self.command, "exit_code": self.exit_code,
                "duration": round(self.duration, 3), "passed": self.passed,
                "stopped_by": self.stopped_by, "output_tail": self.output_tail}


@dataclass(frozen=True)
class Verification:
    """Every check of every round; `verified` once the last round passed them all."""

    commands: tuple[str, ...]
    fix_rounds: int
    checks: tuple[Check, ...] = ()

    @property
    def rounds(self) -> int:
        return max((c.round for c in self.checks), default=0)

    def last_round(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.round == self.rounds)

    @property
    def verified(self) -> bool:
        last = self.last_round()
        return bool(last) and len(last) == len(self.commands) and all(c.passed for c in last)

    @property
    def first_failure(self) -> Check | None:
        return next((c for c in self.last_round() if not c.passed), None)

    def failure(self) -> Failure | None:
        failed = self.first_failure
        if failed is None:
            return None
        if failed.cannot_start:
            return Failure("verify_unavailable", f"verify command `{failed.command}` could not "
                           f"start (exit {failed.exit_code}): a program it needs is missing "
                           "where the agent runs; fix the worker or the command",
                           rule="verify_cannot_start",
                           evidence=failed.output_tail[-300:] or None)
        return Failure("verification_failed", f"`{failed.command}` still fails after "
                       f"{self.rounds} round(s) ({self.fix_rounds} fix round(s) allowed): "
                       f"{_ended(failed)}", rule="verify_failed",
                       evidence=failed.output_tail[-300:] or None)

    def to_json(self) -> dict[str, Any]:
        return {"commands": list(self.commands), "fix_rounds": self.fix_rounds,
                "rounds": self.rounds, "verified": self.verified,
                "checks": [c.to_json() for c in self.checks]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verification:
        checks = tuple(Check(int(c["round"]), str(c["command"]), c.get("exit_code"),
                             float(c.get("duration") or 0), str(c.get("output_tail") or ""),
                             c.get("stopped_by")) for c in data.get("checks") or ())
        return cls(tuple(data.get("commands") or ()), int(data.get("fix_rounds") or 0), checks)


def _ended(check: Check) -> str:
    return f"stopped by {check.stopped_by}" if check.stopped_by else f"exit {check.exit_code}"


def run_checks(commands: tuple[str, ...], round_: int, *, cwd: Path, timeout: float,
               environ: Mapping[str, str], sandbox: Sandbox = NO_SANDBOX,
               redact: Callable[[str], str] = str, cancel: threading.Event | None = None,
               shutdown: threading.Event | None = None,
               ro_paths: tuple[Path, ...] = ()) -> tuple[Check, ...]:
    """Run `commands` in order in `cwd` (`sh -c`, no prompt, the base environment only: a check
    needs no provider key), stopping at the first that fails; each bounded by `timeout`."""
    checks: list[Check] = []
    for command in commands:
        # A check may be silent for long (a quiet test suite): only its timeout bounds it.
        profile = AgentProfile(name="verify", command=("/bin/sh", "-c", command), prompt="none",
                               stall_timeout=None)
        started = time.monotonic()
        try:
            run = run_attempt(RunRequest(profile, "", cwd, timeout=timeout, environ=environ,
                                         sandbox=sandbox, ro_paths=ro_paths),
                              cancel=cancel, shutdown=shutdown)
        except PreflightError as exc:
            checks.append(Check(round_, command, None, time.monotonic() - started,
                                redact(str(exc)), cannot_start=True))
            break
        output = (run.stdout.text() + ("\n" if run.stdout.text() else "") +
                  run.stderr.text()).strip()
        check = Check(round_, command, run.exit_code, run.duration, redact(output)[-TAIL_CHARS:],
                      stopped_by=run.stopped_by,
                      cannot_start=run.exit_code in _CANNOT_START or run.spawn_error is not None)
        checks.append(check)
        if not check.passed:
            break
    return tuple(checks)


def fix_prompt(prompt: str, failed: Check) -> str:
    """The task's prompt with the failing check appended: what the next round must fix."""
    return (f"{prompt.rstrip()}\n\n## Verification failed (round {failed.round})\n\n"
            f"After your changes, the check `{failed.command}` {_ended(failed)}. Its output "
            f"ends:\n\n```\n{failed.output_tail}\n```\n\nFix the code so that this check "
            "passes; keep the changes you already made that are right.\n")


@dataclass(frozen=True)
class Plan:
    """Which commands to run and how many fix rounds, from spec, profile or repository."""

    commands: tuple[str, ...]
    fix_rounds: int


def plan(spec_verify: tuple[str, ...], spec_rounds: int | None,
         defaults: tuple[tuple[tuple[str, ...], int | None], ...]) -> Plan | None:
    """The spec's commands, else the first default (profile, then repository) that has some; the
    spec's `fix_rounds`, else that default's, else DEFAULT_FIX_ROUNDS. None: nothing to verify."""
    commands, rounds = spec_verify, spec_rounds
    for default_commands, default_rounds in defaults:
        if not commands and default_commands:
            commands = default_commands
        if rounds is None and default_rounds is not None:
            rounds = default_rounds
    if not commands:
        return None
    return Plan(commands, DEFAULT_FIX_ROUNDS if rounds is None else rounds)

