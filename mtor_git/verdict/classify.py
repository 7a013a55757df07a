"""Judge one attempt: a table of named rules, read top to bottom, turns what ran (Run) and what the
agent said (Report) into a Classification. A fault is transient only on positive evidence.

Evidence is always `"<source>: <snippet>"`, the snippet a bounded piece of that source, where the
source is `stdout`, `stderr`, `report.messages`, `report.result_text`, `report.<field>`,
`run.<field>`, or `event` (a retry notice of the CLI the live monitor stopped it on). Terminal
rows come before transient ones, so mixed evidence never buys a retry.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import replace

from mtor_git.agent.evidence import Classification, Report, Run, StoppedBy
from mtor_git.verdict.matchers import (
    EVIDENCE_MAX,
    Evidence,
    Facts,
    Rule,
)
from mtor_git.verdict.rules import RULES
from mtor_git.verdict.timehints import reset_time, retry_after_hint

# The only kinds for which a fallback profile is tried; identical messages are expected for them.
PROVIDER_TRANSIENT = frozenset({"rate_limited", "overloaded"})
# Transient kinds that may repeat identically without being a spin: a stuck stream stalls alike.
_MAY_REPEAT = PROVIDER_TRANSIENT | {"stalled"}
_EVENT_STOPS = (StoppedBy.TERMINAL_EVENT, StoppedBy.CLI_RETRY_WAIT)

KIND_DESCRIPTIONS: dict[str, str] = {
    "succeeded": "the agent exited 0 and its own report shows no error, denial or error message",
    "rate_limited": "the provider said 429 / rate limit (transient; a fallback profile is tried)",
    "overloaded": "the provider said 529 / Overloaded (transient; a fallback profile is tried)",
    "provider_error": "the provider answered with a 5xx server error (transient)",
    "network": "a connection failed, was reset or timed out talking to the provider (transient)",
    "timeout": "our wall-clock timeout stopped the agent; a hang is no sign of a transient fault",
    "stalled": "no output, no event and no change in the checkout for stall_timeout (transient)",
    "cancelled": "stopped because `mtor-git cancel` asked for it",
    "interrupted": "stopped because the worker was shutting down",
    "usage_error": "the agent's command line was rejected (unknown option, unexpected argument)",
    "binary_missing": "the agent's executable was not found",
    "bad_cwd": "the working directory is missing or not a directory",
    "permission_denied": "the operating system refused to start the agent (EACCES)",
    "auth": "the provider rejected the credentials or the account (invalid key, not logged in, "
            "locked account, 401/403)",
    "quota": "billing or quota exhausted (credit balance, insufficient_quota, spend limit)",
    "usage_limit": "a plan usage limit was reached; parked until its reset time when one is given",
    "max_turns": "the agent stopped at its maximum number of turns",
    "budget_exceeded": "the agent stopped at its cost budget",
    "prompt_too_long": "the prompt does not fit the model's context window (or the request size)",
    "not_found": "the provider has no such model or endpoint (404): the model or base URL is wrong",
    "bad_request": "the provider refused the request as malformed (400/422 invalid request)",
    "content_blocked": "the provider's content policy refused the prompt or the output",
    "killed": "the agent died from a signal we did not send (OOM killer, someone's kill)",
    "empty_failure": "non-zero exit with no output and no report: nothing shows the model ran",
    "pipeline_fault": "failed faster than any model call can, with no report of one: our pipeline",
    "repeated_failure": "the same failure as the previous attempt; retrying would spin",
    "edit_blocked": "the agent's own tooling refused its edits (permission denials, a rejected "
                    "patch, a read-only sandbox); the refusal is quoted",
    "agent_error": "the agent reported an error no more specific rule names, or exited 0 without "
                   "the report a structured agent must give",
    "disk_full": "the worker's disk or quota was full; the task is handed back, not failed",
    "unknown": "the attempt failed and no rule recognised why (terminal: unknown is not transient)",
}


# A rule whose evidence the kind's line would misstate: its own words. `agent_error` also covers
# an exit 0 without any report, where "reported an error" would claim what nobody saw.
RULE_DESCRIPTIONS: dict[str, str] = {
    "exit0_without_report": "the agent exited 0 but gave none of the report its profile expects, "
                            "so nothing shows what it did",
}


def describe(kind: str, rule: str | None) -> str:
    """One line saying what the evidence of a classification shows."""
    return RULE_DESCRIPTIONS.get(rule or "") or KIND_DESCRIPTIONS.get(kind, kind)


# ---- inputs: which lines the text rules read ---------------------------------------------------

# Retry notices the agent prints while it retries on its own: not its final word.
_NOT_FINAL = re.compile(r"^\W*(?:Reconnecting\.\.\.|Re-connecting|Retrying in \d)", re.IGNORECASE)
# aider exits 0 when the model call failed; these lines are how it says so (aider/exceptions.py,
# and its token-limit report in base_coder.show_exhausted_error).
_AIDER_ERROR = re.compile(
    r"^\s*(?:litellm\.\w+|Error:|ERROR:)|The API provider (?:is not|has |timed|'s servers)|"
    r"has hit a token limit|OpenRouter or the upstream API provider is down")
# aider prints "Retrying in 0.2 seconds..." right after an error it retries itself.
_AIDER_RETRY = re.compile(r"^\s*Retrying in \d")
_AIDER_RETRY_WINDOW = 3  # the error, its friendly description, then the retry notice
_LITELLM = re.compile(r"^\s*litellm\.\w+")
_AIDER_FRIENDLY = re.compile(r"^\s*The API provider ")


def _lines(source: str, text: str | None) -> list[tuple[str, str]]:
    return [(source, ln) for ln in (text or "").splitlines() if ln.strip()]


def _facts(run: Run, report: Report, min_model_call: float) -> Facts:
    lines = [pair for m in report.messages for pair in _lines("report.messages", m)]
    stop = _event_stop(run)
    if stop is not None:  # the CLI's own retry notice we stopped it on decides
        lines.insert(0, ("event", stop))
        if report.api_error_status is None and run.live is not None:
            report = replace(report, api_error_status=run.live.stop_status)
    if run.exit_code == 0 and not report.is_error:
        # A successful exit is judged only by the agent's own error texts, never by its chatter.
        if report.format == "aider":
            for source, stream in (("stderr", run.stderr), ("stdout", run.stdout)):
                lines += [p for p in final_aider_errors(_lines(source, stream.text()))
                          if _AIDER_ERROR.search(p[1])]
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


def _event_stop(run: Run) -> str | None:
    """The retry event the live monitor stopped the agent on, if it did."""
    if run.live is None or run.stopped_by not in _EVENT_STOPS:
        return None
    return run.live.stop_evidence


def final_aider_errors(lines: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """`lines` without those aider retried itself: an error followed within a few lines by its
    "Retrying in N seconds..." notice was not aider's last word (it may have succeeded after).
    aider's friendly sentence is dropped where the exception itself is there: it follows the
    exception's class (the HTTP status), while the exception quotes the provider's own words."""
    kept: list[tuple[str, str]] = []
    for i, pair in enumerate(lines):
        after = lines[i + 1:i + 1 + _AIDER_RETRY_WINDOW]
        if not any(_AIDER_RETRY.search(line) for _, line in after):
            kept.append(pair)
    if any(_LITELLM.search(line) for _, line in kept):
        kept = [p for p in kept if not _AIDER_FRIENDLY.search(p[1])]
    return kept


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
    stop = _event_stop(run)
    if stop is not None:  # whichever row matched, the event itself is the evidence
        evidence = Evidence("event", stop[:EVIDENCE_MAX])
    if (rule.transient and rule.kind not in _MAY_REPEAT
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
