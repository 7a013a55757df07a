"""The evidence of one agent attempt, as values: what ran (Run), what the agent said about itself
(Report), how we judged it (Classification), and the three together (Attempt)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mtor_git.agent.events import CliRetries, EventLog
from mtor_git.attempts import AttemptRecord


class StoppedBy(StrEnum):
    """Why *we* signalled an attempt's process group (Run.stopped_by; None: it ended itself)."""

    TIMEOUT = "timeout"
    CANCEL = "cancel"
    SHUTDOWN = "shutdown"
    # The live monitor (agent/live.py), from the agent's events as they arrive:
    TERMINAL_EVENT = "terminal_event"  # the CLI is retrying an error no retry can fix
    STALLED = "stalled"  # no output, no event, no change in the checkout for stall_timeout
    MAX_COST = "max_cost_usd"  # the running cost crossed the cap
    MAX_TURNS = "max_turns"  # the running turn count crossed the cap
    CLI_RETRY_WAIT = "cli_retry_wait"  # the CLI's own retries waited past max_cli_retry_wait


# Verdicts whose evidence shows the agent stopped before any request to a model.
NEVER_REACHED_MODEL = frozenset({"usage_error", "binary_missing", "bad_cwd", "permission_denied"})


@dataclass(frozen=True)
class Captured:
    """A bounded capture of one output stream: the byte count and its head and tail (redacted)."""

    total_bytes: int = 0
    head: str = ""
    tail: str = ""  # empty when the whole stream fit in `head`
    truncated: bool = False

    def text(self) -> str:
        """Head and tail joined, with a marker where bytes were dropped."""
        if not self.truncated:
            return self.head + self.tail
        marker = f"[... {self.total_bytes} bytes in all, middle dropped ...]"
        return f"{self.head}\n{marker}\n{self.tail}"

    def to_json(self) -> dict[str, Any]:
        return {"bytes": self.total_bytes, "head": self.head, "tail": self.tail,
                "truncated": self.truncated}


@dataclass(frozen=True)
class LiveRecord:
    """What the live monitor saw: the event log (stream formats only), why it stopped the agent
    (the quoted event or measurement), and the CLI's final `result` object when one came."""

    log: EventLog | None = None
    stop_evidence: str | None = None
    result: Mapping[str, Any] | None = None
    stop_status: int | None = None  # the API status of the retry event it was stopped on

    def to_json(self) -> dict[str, Any]:
        return {"stop_evidence": self.stop_evidence, "stop_status": self.stop_status,
                **(self.log.to_json() if self.log is not None else {})}


@dataclass(frozen=True)
class Run:
    """One spawned process: argv and output already redacted; `signal` is the one that ended it."""

    argv: tuple[str, ...]
    cwd: str
    env_names: tuple[str, ...]
    started_at: float  # epoch seconds
    duration: float  # seconds
    exit_code: int | None
    signal: int | None = None
    stopped_by: StoppedBy | None = None  # set when *we* signalled the process group
    stdout: Captured = field(default_factory=Captured)
    stderr: Captured = field(default_factory=Captured)
    spawn_error: str | None = None  # exec itself failed (e.g. ENOENT after preflight)
    live: LiveRecord | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "argv": list(self.argv), "cwd": self.cwd, "env_names": list(self.env_names),
            "started_at": self.started_at, "duration": round(self.duration, 3),
            "exit_code": self.exit_code, "signal": self.signal, "stopped_by": self.stopped_by,
            "stdout": self.stdout.to_json(), "stderr": self.stderr.to_json(),
            "spawn_error": self.spawn_error,
            "events": self.live.to_json() if self.live is not None else None,
        }


@dataclass(frozen=True)
class Report:
    """What the agent reported about itself, parsed from its output (all optional)."""

    format: str
    parsed: bool = False  # a structured report was found and read
    is_error: bool | None = None
    subtype: str | None = None
    num_turns: int | None = None
    cost_usd: float | None = None
    usage: Mapping[str, int] = field(default_factory=dict)
    session_id: str | None = None
    api_error_status: int | None = None
    permission_denials: int = 0
    terminal_reason: str | None = None
    messages: tuple[str, ...] = ()  # error texts the agent reported (redacted)
    result_text: str | None = None  # the agent's final message, bounded (redacted)
    # Writes the agent's own tooling refused (denials, rejected patches, a read-only sandbox),
    # quoted from its output: such an attempt did not make its edits (agent/refusals.py).
    refusals: tuple[str, ...] = ()
    # Items the model produced (Codex: a completed command, patch or message). Codex reports usage
    # only with `turn.completed`, so a turn that failed after the model acted has none.
    model_items: int = 0

    @property
    def model_invoked(self) -> bool | None:
        """True only on the agent's own evidence of a model call; None when it did not say.

        Tokens or cost are evidence. Turns alone are not when the report is an error: Claude
        Code reports `num_turns: 1` with zero usage for a request the provider refused (429,
        401, 529), and that request never reached a model.
        """
        if (self.cost_usd or 0) > 0 or any(v > 0 for v in self.usage.values()):
            return True
        if self.model_items > 0 or ((self.num_turns or 0) > 0 and not self.is_error):
            return True
        if self.parsed and (self.usage or self.num_turns == 0):
            return False  # the agent reported its usage, and it was zero
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format, "parsed": self.parsed, "is_error": self.is_error,
            "subtype": self.subtype, "num_turns": self.num_turns, "cost_usd": self.cost_usd,
            "usage": dict(self.usage), "session_id": self.session_id,
            "api_error_status": self.api_error_status,
            "permission_denials": self.permission_denials,
            "terminal_reason": self.terminal_reason, "messages": list(self.messages),
            "result_text": self.result_text, "refusals": list(self.refusals),
            "model_items": self.model_items,
        }


@dataclass(frozen=True)
class Classification:
    """The verdict on one attempt: which named rule matched, and the text that made it match."""

    kind: str  # "succeeded", "rate_limited", "usage_error", "empty_failure", ...
    transient: bool
    rule: str
    evidence: str
    retry_after: float | None = None  # seconds the agent asked us to wait
    resume_at: float | None = None  # epoch seconds a usage limit resets (park until then)

    @property
    def succeeded(self) -> bool:
        return self.kind == "succeeded"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "transient": self.transient, "rule": self.rule,
                "evidence": self.evidence, "retry_after": self.retry_after,
                "resume_at": self.resume_at}


@dataclass(frozen=True)
class Attempt:
    """One attempt of a task: its number (1-based), the profile used, and the evidence."""

    number: int
    profile: str
    run: Run
    report: Report
    classification: Classification
    waited_before: float = 0.0  # backoff slept before this attempt, seconds
    resumed_from: str | None = None  # the CLI session this attempt resumed
    resume_refused: str | None = None  # the session the CLI refused to resume (run afresh)

    @property
    def cli_retries(self) -> CliRetries:
        log = self.run.live.log if self.run.live is not None else None
        return log.totals.cli_retries if log is not None else CliRetries()

    @property
    def model_invoked(self) -> bool | None:
        """The report's evidence; failing that, a verdict that proves the CLI never got as far
        as a model call (it refused its arguments, or never started) counts as "no"."""
        reported = self.report.model_invoked
        if reported is None and self.classification.kind in NEVER_REACHED_MODEL:
            return False
        return reported

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"number": self.number, "profile": self.profile,
                                "waited_before": round(self.waited_before, 3),
                                "resumed_from": self.resumed_from,
                                "resume_refused": self.resume_refused,
                                "cli_retries": self.cli_retries.to_json()}
        data.update(self.run.to_json())
        data["model_invoked"] = self.model_invoked
        data["report"] = self.report.to_json()
        data["classification"] = self.classification.to_json()
        return data

    def record(self) -> AttemptRecord:
        """The attempt as the result and claim files carry it."""
        return AttemptRecord.from_json(self.to_json())


@dataclass(frozen=True)
class Failure:
    kind: str
    message: str
    rule: str | None = None
    evidence: str | None = None
    traceback: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "rule": self.rule,
                "evidence": self.evidence, "traceback": self.traceback}
