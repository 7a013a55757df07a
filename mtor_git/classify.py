"""Judge one attempt: a table of named rules, read top to bottom, turns what ran (Run) and what the
agent said (Report) into a Classification. A fault is transient only on positive evidence.

Evidence is always `"<source>: <snippet>"`, the snippet a bounded piece of that source, where the
source is `stdout`, `stderr`, `report.messages`, `report.result_text`, `report.<field>` or
`run.<field>`. Terminal rows come before transient ones, so mixed evidence never buys a retry.
"""

from __future__ import annotations

import hashlib
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from mtor_git.attempt import Classification, Report, Run
from mtor_git.timehints import reset_time, retry_after_hint

EVIDENCE_MAX = 300
# The only kinds for which a fallback profile is tried; identical messages are expected for them.
PROVIDER_TRANSIENT = frozenset({"rate_limited", "overloaded"})
STRUCTURED_FORMATS = frozenset({"claude-json", "codex-jsonl"})

KIND_DESCRIPTIONS: dict[str, str] = {
    "succeeded": "the agent exited 0 and its own report shows no error, denial or error message",
    "rate_limited": "the provider said 429 / rate limit (transient; a fallback profile is tried)",
    "overloaded": "the provider said 529 / Overloaded (transient; a fallback profile is tried)",
    "provider_error": "the provider answered with a 5xx server error (transient)",
    "network": "a connection failed, was reset or timed out talking to the provider (transient)",
    "timeout": "our wall-clock timeout stopped the agent; a hang is no sign of a transient fault",
    "cancelled": "stopped because `mtor-git cancel` asked for it",
    "interrupted": "stopped because the worker was shutting down",
    "usage_error": "the agent's command line was rejected (unknown option, unexpected argument)",
    "binary_missing": "the agent's executable was not found",
    "bad_cwd": "the working directory is missing or not a directory",
    "permission_denied": "the operating system refused to start the agent (EACCES)",
    "auth": "the provider rejected the credentials (invalid key, not logged in, 401/403)",
    "quota": "billing or quota exhausted (credit balance, insufficient_quota, spend limit)",
    "usage_limit": "a plan usage limit was reached; parked until its reset time when one is given",
    "max_turns": "the agent stopped at its maximum number of turns",
    "budget_exceeded": "the agent stopped at its cost budget",
    "prompt_too_long": "the prompt does not fit the model's context window",
    "killed": "the agent died from a signal we did not send (OOM killer, someone's kill)",
    "empty_failure": "non-zero exit with no output and no report: nothing shows the model ran",
    "pipeline_fault": "failed faster than any model call can, with no report of one: our pipeline",
    "repeated_failure": "the same failure as the previous attempt; retrying would spin",
    "edit_blocked": "the agent exited 0 but permission denials blocked its edits",
    "agent_error": "the agent reported an error that matches no more specific rule",
    "disk_full": "the worker's disk or quota was full; the task is handed back, not failed",
    "unknown": "the attempt failed and no rule recognised why (terminal: unknown is not transient)",
}


class Evidence(NamedTuple):
    source: str
    snippet: str

    def __str__(self) -> str:
        return f"{self.source}: {self.snippet}"


@dataclass(frozen=True)
class Facts:
    """What the rules look at: the run, the report, and the error lines worth reading."""

    run: Run
    report: Report
    lines: tuple[tuple[str, str], ...]  # (source, line); non-final retry notices dropped
    folded: tuple[str, ...]  # the lines lower-cased: matching them is ~7x faster than re.I
    min_model_call: float

    def find(self, folded_rx: re.Pattern[str], rx: re.Pattern[str]) -> Evidence | None:
        for (source, line), low in zip(self.lines, self.folded, strict=True):
            # lower() keeps match offsets valid only when it keeps the length (not for all of
            # Unicode); otherwise match the line itself, case-insensitively.
            m = folded_rx.search(low) if len(low) == len(line) else rx.search(line)
            if m:
                return Evidence(source, _snippet(line, m))
        return None


Matcher = Callable[[Facts], Evidence | None]


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    transient: bool
    reason: str
    match: Matcher


def _snippet(line: str, m: re.Match[str]) -> str:
    """At most EVIDENCE_MAX characters of `line` around the match, kept a substring of `line`."""
    if len(line) > EVIDENCE_MAX:
        start = max(0, min(m.start() - 80, len(line) - EVIDENCE_MAX))
        line = line[start:start + EVIDENCE_MAX]
    return line.strip()


def _text(*patterns: str) -> Matcher:
    """Any of `patterns`, case-insensitively, in one error line."""
    source = "|".join(f"(?:{p})" for p in patterns)
    rx = re.compile(source, re.IGNORECASE)
    folded_rx = re.compile(re.sub(r"(?<!\\)[A-Z]", lambda m: m.group().lower(), source))

    def match(f: Facts) -> Evidence | None:
        return f.find(folded_rx, rx)
    return match


# ---- structured matchers (run and report fields) ----------------------------------------------

def _stopped(by: str) -> Matcher:
    def match(f: Facts) -> Evidence | None:
        if f.run.stopped_by != by:
            return None
        return Evidence("run.stopped_by", f"{by} after {f.run.duration:.1f}s")
    return match


def _spawn(*names: str, cwd: bool | None = None) -> Matcher:
    """A failed exec; `cwd` selects errors that name the working directory (or exclude them)."""
    def match(f: Facts) -> Evidence | None:
        err = f.run.spawn_error
        if err is None or (names and not any(n in err for n in names)):
            return None
        if cwd is not None and (f"'{f.run.cwd}'" in err) != cwd:
            return None
        return Evidence("run.spawn_error", err[:EVIDENCE_MAX])
    return match


def _killed(f: Facts) -> Evidence | None:
    sig = f.run.signal
    if sig is None or f.run.stopped_by is not None:
        return None
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = "unknown signal"
    return Evidence("run.signal", f"{sig} ({name})")


def _exited_zero(f: Facts) -> bool:
    r = f.run
    return r.exit_code == 0 and r.signal is None and r.spawn_error is None


def _succeeded(f: Facts) -> Evidence | None:
    if not _exited_zero(f) or f.report.is_error or f.report.permission_denials or f.lines:
        return None
    if f.report.format in STRUCTURED_FORMATS and not f.report.parsed:
        return None
    return Evidence("run.exit_code", "0, and the report shows no error")


def _edit_blocked(f: Facts) -> Evidence | None:
    if not _exited_zero(f) or f.report.is_error or f.lines or not f.report.permission_denials:
        return None
    return Evidence("report.permission_denials", str(f.report.permission_denials))


def _exit0_without_report(f: Facts) -> Evidence | None:
    rep = f.report
    if not _exited_zero(f) or rep.parsed or rep.format not in STRUCTURED_FORMATS or f.lines:
        return None
    return Evidence("report.parsed", f"False: exit 0 but no {rep.format} report was found")


def _empty_failure(f: Facts) -> Evidence | None:
    r = f.run
    if r.exit_code in (None, 0) or f.report.parsed or f.report.messages:
        return None
    if r.stdout.text().strip() or r.stderr.text().strip():
        return None
    return Evidence("run", f"exit {r.exit_code} with empty stdout and stderr after "
                           f"{r.duration:.2f}s and no report")


def _exit_127(f: Facts) -> Evidence | None:
    return Evidence("run.exit_code", "127 (command not found)") if f.run.exit_code == 127 else None


def _status(*codes: int | range) -> Matcher:
    def match(f: Facts) -> Evidence | None:
        status = f.report.api_error_status
        if status is None or not any(status == c if isinstance(c, int) else status in c
                                     for c in codes):
            return None
        return Evidence("report.api_error_status", str(status))
    return match


def _field(name: str, *needles: str) -> Matcher:
    """A report string field (subtype, terminal_reason) that contains one of `needles`."""
    def match(f: Facts) -> Evidence | None:
        value = getattr(f.report, name)
        if isinstance(value, str) and any(n in value.lower() for n in needles):
            return Evidence(f"report.{name}", value[:EVIDENCE_MAX])
        return None
    return match


def _either(*matchers: Matcher) -> Matcher:
    def match(f: Facts) -> Evidence | None:
        for m in matchers:
            found = m(f)
            if found is not None:
                return found
        return None
    return match


def _faster_than_model_call(f: Facts) -> Evidence | None:
    rep, r = f.report, f.run
    if r.duration >= f.min_model_call:
        return None
    if rep.parsed and (rep.api_error_status is not None or rep.model_invoked is True):
        return None
    if rep.parsed and rep.is_error and rep.messages:
        # The agent's own structured report of an API error (Claude reports a 529 with a null
        # status): a provider answered, however quickly, so the text rules judge it.
        return None
    return Evidence("run.duration", f"{r.duration:.3f}s < min_model_call {f.min_model_call:g}s, "
                                    "and no structured report of a model or provider response")


def _reported_error(f: Facts) -> Evidence | None:
    if f.lines and (f.report.is_error or _exited_zero(f)):
        source, line = f.lines[0]
        return Evidence(source, line.strip()[:EVIDENCE_MAX])
    if f.report.is_error:
        return Evidence("report.is_error", "True")
    return None


def _anything(f: Facts) -> Evidence | None:
    for source, line in reversed(f.lines):
        if line.strip():
            return Evidence(source, line.strip()[-EVIDENCE_MAX:])
    r = f.run
    return Evidence("run", f"exit {r.exit_code}, signal {r.signal}, no recognised message")


# ---- the table ---------------------------------------------------------------------------------

_5XX = r"(?:status|http|api error|error|code)\W{0,3}5(?:[013-9]\d|2[0-8])\b"

RULES: tuple[Rule, ...] = (
    Rule("stopped_by_timeout", "timeout", False,
         "our timeout ended it; a hang is no evidence of a transient fault", _stopped("timeout")),
    Rule("stopped_by_cancel", "cancelled", False, "a user asked to cancel", _stopped("cancel")),
    Rule("stopped_by_shutdown", "interrupted", False,
         "the worker shut down; the task is picked up again", _stopped("shutdown")),
    Rule("spawn_bad_cwd", "bad_cwd", False, "exec failed on the working directory",
         _spawn(cwd=True)),
    Rule("spawn_not_found", "binary_missing", False, "exec found no such executable",
         _spawn("FileNotFoundError", "No such file", "ENOENT", cwd=False)),
    Rule("spawn_permission", "permission_denied", False, "exec was refused (EACCES)",
         _spawn("PermissionError", "Permission denied", "EACCES", cwd=False)),
    Rule("spawn_failed", "unknown", False, "exec failed for another reason", _spawn()),
    Rule("killed_by_signal", "killed", False,
         "a signal we did not send; an OOM kill recurs if retried", _killed),
    Rule("succeeded", "succeeded", False,
         "exit 0 and the report shows no error, denial or error message", _succeeded),
    Rule("permission_denials", "edit_blocked", False,
         "exit 0, but denied tool calls mean the edits were not made", _edit_blocked),
    Rule("exit0_without_report", "agent_error", False,
         "a structured agent said nothing about itself; exit 0 alone is not trusted",
         _exit0_without_report),
    Rule("empty_output_nonzero_exit", "empty_failure", False,
         "nothing shows a model ran; reading this as a rate limit was the incident",
         _empty_failure),
    Rule("exit_127", "binary_missing", False, "a shell reported command not found", _exit_127),
    Rule("disk_full_text", "disk_full", False,
         "the worker ran out of disk: the worker's trouble, not the task's; handed back",
         _text(r"no space left on device", r"\benospc\b", r"disk quota exceeded")),
    Rule("usage_text", "usage_error", False, "the command line is wrong; it fails the same again",
         _text(r"\bunknown option\b", r"\bunexpected argument\b", r"\bunrecognized arguments?\b",
               r"^\s*usage: \S", r"\bunknown flag\b", r"\binvalid value '[^']{0,80}' for '--",
               r"the following arguments are required", r"\berror: invalid choice\b")),
    Rule("auth_status", "auth", False, "the provider answered 401/403", _status(401, 403)),
    Rule("auth_text", "auth", False, "credentials are wrong or missing; waiting will not fix them",
         _text(r"invalid api key", r"invalid[_ ]api[_ ]key", r"incorrect api key",
               r"invalid x-api-key", r"invalid bearer token", r"not logged in",
               r"please run /login", r"authentication_error", r"authenticationerror",
               r"not able to authenticate", r"oauth token (?:has )?expired",
               r"could not resolve authentication method",
               r"(?:status|http|api error|error|code)\W{0,3}40[13]\b",
               r"\b40[13] (?:unauthorized|forbidden)\b")),
    Rule("quota_text", "quota", False, "billing or quota is exhausted; retries only add cost",
         _text(r"credit balance is too low", r"insufficient_quota", r"quota exceeded",
               r"exceeded your current quota", r"check your plan and billing",
               r"\bspend(?:ing)? limit", r"billing (?:hard )?limit", r"payment required",
               r"budgetexceedederror", r"(?:status|http|error|code)\W{0,3}402\b")),
    Rule("usage_limit_text", "usage_limit", False,
         "a plan limit: park until the named reset, never retry before it",
         _text(r"usage limit reached", r"hit your usage limit", r"\b(?:5|five)-hour limit",
               r"\b(?:weekly|daily|monthly|session|opus|sonnet) limit reached",
               r"limit reached\W{0,4}resets")),
    Rule("max_turns", "max_turns", False, "the agent used all its turns; it would again",
         _either(_field("subtype", "max_turns"), _field("terminal_reason", "max_turns"),
                 _text(r"reached max(?:imum)? (?:number of )?turns", r"\bmax[_ ]turns\b"))),
    Rule("budget_exceeded", "budget_exceeded", False, "the agent spent its cost budget",
         _either(_field("subtype", "budget"), _field("terminal_reason", "budget"),
                 _text(r"exceeded usd budget", r"\bmax[_ ]budget"))),
    Rule("prompt_too_long", "prompt_too_long", False, "the same prompt will not fit next time",
         _text(r"prompt is too long", r"prompt too long", r"context_length_exceeded",
               r"maximum context length", r"contextwindowexceedederror",
               r"exceeds? (?:the )?(?:model's )?context window", r"input is too long")),
    Rule("faster_than_model_call", "pipeline_fault", False,
         "too fast for a model call and no structured report of one (API status, model usage); "
         "a real 429 arrives with one", _faster_than_model_call),
    Rule("rate_limited_status", "rate_limited", True, "the provider answered 429",
         _status(429)),
    Rule("rate_limited_text", "rate_limited", True, "the provider said 429 / rate limit",
         _text(r"request rejected \(429\)", r"too many requests", r"rate[ _-]?limit",
               r"last status: 429", r"(?:status|http|api error|error|code)\W{0,3}429\b")),
    Rule("overloaded_status", "overloaded", True, "the provider answered 529", _status(529)),
    Rule("overloaded_text", "overloaded", True, "the provider said 529 / Overloaded",
         _text(r"overloaded_error", r"\boverloaded\b",
               r"(?:status|http|api error|error|code|repeated)\W{0,3}529\b")),
    Rule("provider_error_status", "provider_error", True, "the provider answered 5xx",
         _status(range(500, 529), range(530, 600))),
    Rule("provider_error_text", "provider_error", True, "the provider reported a server error",
         _text(_5XX, r"internal server error", r"internalservererror", r"service unavailable",
               r"serviceunavailableerror", r"bad gateway", r"gateway timeout",
               r"experiencing high demand", r"\bapi_error\b")),
    Rule("network_text", "network", True, "the connection to the provider failed or timed out",
         _text(r"request timed out", r"stream disconnected before completion",
               r"connection (?:reset|refused|error|closed|aborted|timed out)", r"\bECONNRESET\b",
               r"\bECONNREFUSED\b", r"\bETIMEDOUT\b", r"\bEAI_AGAIN\b", r"socket hang up",
               r"apiconnectionerror", r"network (?:error|is unreachable)", r"litellm\.timeout",
               r"temporary failure in name resolution", r"provider timed out")),
    Rule("reported_error", "agent_error", False, "the agent reported an error no row above names",
         _reported_error),
    Rule("unrecognised", "unknown", False, "no evidence of a transient fault: terminal",
         _anything),
)

# ---- inputs: which lines the text rules read ---------------------------------------------------

# Retry notices the agent prints while it retries on its own: not its final word.
_NOT_FINAL = re.compile(r"^\W*(?:Reconnecting\.\.\.|Re-connecting|Retrying in \d)", re.IGNORECASE)
# aider exits 0 when the model call failed; these lines are how it says so.
_AIDER_ERROR = re.compile(
    r"^\s*(?:litellm\.\w+|Error:|ERROR:)|The API provider (?:is not|has |timed|'s servers)")


def _lines(source: str, text: str | None) -> list[tuple[str, str]]:
    return [(source, ln) for ln in (text or "").splitlines() if ln.strip()]


def _facts(run: Run, report: Report, min_model_call: float) -> Facts:
    lines = [pair for m in report.messages for pair in _lines("report.messages", m)]
    if run.exit_code == 0 and not report.is_error:
        # A successful exit is judged only by the agent's own error texts, never by its chatter.
        if report.format == "aider":
            for source, stream in (("stderr", run.stderr), ("stdout", run.stdout)):
                lines += [p for p in _lines(source, stream.text()) if _AIDER_ERROR.search(p[1])]
    else:
        if report.is_error and not report.messages:
            # Only a parser that left the error in the result text; otherwise (codex) the result
            # text is the agent's last chatter, and chatter about rate limits is no evidence.
            lines += _lines("report.result_text", report.result_text)
        lines += _lines("stderr", run.stderr.text())
        if not report.parsed:  # a parsed report already holds the error; stdout is the chatter
            lines += _lines("stdout", run.stdout.text())
    kept = tuple(p for p in lines if not _NOT_FINAL.search(p[1]))
    return Facts(run, report, kept, tuple(line.lower() for _, line in kept), min_model_call)


# ---- classify and fingerprint ------------------------------------------------------------------

def _first_match(facts: Facts) -> tuple[Rule, Evidence]:
    for rule in RULES:
        found = rule.match(facts)
        if found is not None:
            return rule, found
    raise AssertionError("the last rule matches everything")  # pragma: no cover


def classify(run: Run, report: Report, *, min_model_call: float,
             previous: Classification | None = None, previous_fingerprint: str | None = None,
             now: float | None = None) -> Classification:
    """The first rule that matches decides. A repeated transient fault (same fingerprint as the
    previous attempt) becomes terminal `repeated_failure`, except for rate_limited/overloaded,
    where identical messages are expected and the attempt budget and breaker bound the retries."""
    facts = _facts(run, report, min_model_call)
    rule, evidence = _first_match(facts)
    if (rule.transient and rule.kind not in PROVIDER_TRANSIENT
            and previous_fingerprint is not None
            and previous_fingerprint == _fingerprint_of(facts, rule, evidence)):
        before = f" (previous attempt: {previous.rule})" if previous is not None else ""
        return Classification("repeated_failure", False, "repeated_fingerprint",
                              f"{rule.kind} again{before}; {evidence}")
    retry_after = resume_at = None
    texts = [line for _, line in facts.lines]
    if rule.transient:
        retry_after = retry_after_hint(texts)
    elif rule.kind == "usage_limit":
        resume_at = reset_time(texts, time.time() if now is None else now)
    return Classification(rule.kind, rule.transient, rule.name, str(evidence),
                          retry_after=retry_after, resume_at=resume_at)


_VOLATILE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\d{4}-\d\d-\d\d[t ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:z|[+-]\d\d:?\d\d)?"), "<t>"),
    (re.compile(r"\b\d{1,2}:\d\d(?::\d\d)?(?:\s*[ap]m)?\b"), "<t>"),
    (re.compile(r"\b0x[0-9a-f]+\b"), "<x>"),
    (re.compile(r"\b(?=[\w-]*\d)[\w-]{8,}\b"), "<id>"),  # request ids, uuids, hashes, epochs
    (re.compile(r"\d+(?:\.\d+)?"), "#"),
    (re.compile(r"\s+"), " "),
)


def normalise(text: str) -> str:
    """Text with what changes between two identical failures (times, ids, numbers) blanked."""
    text = text.lower()
    for rx, repl in _VOLATILE:
        text = rx.sub(repl, text)
    return text.strip()


def _fingerprint_of(facts: Facts, rule: Rule, evidence: Evidence) -> str:
    r = facts.run
    digest = hashlib.sha256(f"{rule.name}|{normalise(str(evidence))}".encode()).hexdigest()
    return f"{rule.kind}/exit={r.exit_code}/sig={r.signal}/{digest[:16]}"


def fingerprint(run: Run, report: Report) -> str:
    """Stable across attempts that fail the same way: the kind, the exit code and signal, and the
    normalised evidence. The timing floor is left out: a fingerprint names what failed."""
    facts = _facts(run, report, 0.0)
    rule, evidence = _first_match(facts)
    return _fingerprint_of(facts, rule, evidence)
