"""Each provider's documented error bodies classify as their documentation says, through the
three ways they reach us: the real Claude Code CLI talking to an Anthropic-compatible gateway
(a loopback stub answering with the provider's body), the codex JSONL report and aider's output.
A billing fault is terminal whatever HTTP status carries it; the classifier stays total."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from provider_cases import (
    AIDER_FRIENDLY,
    ANTHROPIC_CASES,
    CONNECTION_FAILURES,
    GLM_CASES,
    LITELLM,
    OPENAI_CASES,
    OPENROUTER_CASES,
    REASONS,
    Case,
)

from mtor_git.agent.evidence import Captured, Report, Run
from mtor_git.agent.reports import parse_report
from mtor_git.verdict import providers
from mtor_git.verdict.classify import KIND_DESCRIPTIONS, PROVIDER_TRANSIENT, classify
from mtor_git.verdict.rules import RULES

TRANSIENT = {"rate_limited", "overloaded", "provider_error", "network"}
ALL_CASES = ANTHROPIC_CASES + GLM_CASES + OPENROUTER_CASES + OPENAI_CASES


def cap(text: str) -> Captured:
    return Captured(total_bytes=len(text.encode()), head=text)


def run_(exit_code: int, stdout: str = "", stderr: str = "", duration: float = 20.0) -> Run:
    return Run(argv=("agent",), cwd="/srv/task", env_names=(), started_at=0.0,
               duration=duration, exit_code=exit_code, stdout=cap(stdout), stderr=cap(stderr))


def codex_stdout(case: Case) -> str:
    """What `codex exec --json` prints when the provider refuses (FIELD-NOTES.md: an `error`
    event `unexpected status <code> <reason>: <body>`, then `turn.failed`)."""
    text = f"unexpected status {case.status} {REASONS[case.status]}: {json.dumps(case.body)}"
    events = [{"type": "thread.started", "thread_id": "t-1"}, {"type": "turn.started"},
              {"type": "error", "message": text},
              {"type": "turn.failed", "error": {"message": text}}]
    return "\n".join(json.dumps(e) for e in events) + "\n"


def aider_stdout(case: Case) -> str:
    """What aider prints when litellm raises for the provider's answer and aider gives up: the
    exception text, then its friendly line (aider/exceptions.py); aider still exits 0."""
    cls = LITELLM[case.status]
    lines = ["Aider v0.86.2", "Model: openai/gpt-4o with diff edit format",
             f"litellm.{cls}: {cls}: OpenAIException - Error code: {case.status} - "
             f"{case.body!r}"]
    if cls in AIDER_FRIENDLY:
        lines.append(AIDER_FRIENDLY[cls])
    return "\n".join(lines) + "\n"


def judge(run: Run, report: Report) -> tuple[str, bool, str, str]:
    verdict = classify(run, report, min_model_call=2.0, now=1_800_000_000.0)
    return verdict.kind, verdict.transient, verdict.rule, verdict.evidence


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.name for c in ALL_CASES])
def test_documented_body_through_the_codex_report_classifies_as_documented(case: Case) -> None:
    run = run_(1, stdout=codex_stdout(case))
    kind, transient, rule, evidence = judge(run, parse_report("codex-jsonl", run))
    assert kind == case.kind, evidence
    assert transient == (case.kind in TRANSIENT)


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.name for c in ALL_CASES])
def test_documented_body_through_aider_at_exit_0_is_never_a_success(case: Case) -> None:
    run = run_(0, stdout=aider_stdout(case))
    kind, transient, rule, evidence = judge(run, parse_report("aider", run))
    assert kind == case.kind, evidence
    assert transient == (case.kind in TRANSIENT)


@pytest.mark.parametrize("line", CONNECTION_FAILURES)
def test_connection_failures_in_every_spelling_are_network(line: str) -> None:
    assert judge(run_(1, stderr=line), Report(format="text"))[:2] == ("network", True)


@pytest.mark.parametrize("line", CONNECTION_FAILURES)
def test_connection_failures_in_a_codex_error_event_are_network(line: str) -> None:
    stdout = json.dumps({"type": "turn.failed", "error": {"message": line}}) + "\n"
    run = run_(1, stdout=stdout)
    assert judge(run, parse_report("codex-jsonl", run))[:2] == ("network", True)


def test_aider_context_window_report_at_exit_0_is_prompt_too_long() -> None:
    stdout = ("Model openai/gpt-4o has hit a token limit!\nToken counts below are approximate.\n"
              "\nInput tokens: ~130,512 of 128,000 -- possibly exhausted context window!\n")
    run = run_(0, stdout=stdout)
    assert judge(run, parse_report("aider", run))[0] == "prompt_too_long"


def test_an_error_aider_retried_itself_does_not_spoil_its_success() -> None:
    stdout = ("litellm.RateLimitError: RateLimitError: OpenAIException - Error code: 429\n"
              "The API provider has rate limited you. Try again later or check your quotas.\n"
              "Retrying in 0.2 seconds...\n"
              "Applied edit to hello.txt\n"
              "Tokens: 2.1k sent, 120 received. Cost: $0.01 message, $0.01 session.\n")
    run = run_(0, stdout=stdout)
    report = parse_report("aider", run)
    assert report.is_error is False
    assert judge(run, report)[0] == "succeeded"


def test_an_error_aider_gave_up_on_after_its_retries_is_still_the_error() -> None:
    stdout = ("litellm.RateLimitError: RateLimitError: OpenAIException - Error code: 429\n"
              "Retrying in 0.2 seconds...\n"
              "litellm.RateLimitError: RateLimitError: OpenAIException - You exceeded your "
              "current quota, please check your plan and billing details.\n"
              "The API provider has rate limited you. Try again later or check your quotas.\n")
    run = run_(0, stdout=stdout)
    assert judge(run, parse_report("aider", run))[:2] == ("quota", False)


# ---- the table names its sources ----------------------------------------------------------------

def test_every_rule_names_its_source() -> None:
    for rule in RULES:
        assert rule.source and "\n" not in rule.source, rule.name


def test_provider_rules_cite_the_providers_documentation() -> None:
    sources = " ".join(r.source for r in RULES)
    for doc in (providers.ANTHROPIC, providers.OPENAI, providers.GLM, providers.OPENROUTER):
        assert doc in sources


def test_new_kinds_are_described_and_terminal() -> None:
    for kind in ("not_found", "bad_request", "content_blocked"):
        assert kind in KIND_DESCRIPTIONS
        assert all(not r.transient for r in RULES if r.kind == kind)
    assert PROVIDER_TRANSIENT == {"rate_limited", "overloaded"}


# ---- properties ------------------------------------------------------------------------------

# Billing faults that say so in words (a bare 402 is billing by its status alone).
_BILLING = [c.message for c in ALL_CASES if c.kind == "quota" and c.status != 402]
_STATUSES = st.sampled_from([400, 402, 403, 429, 500, 502, 503, 529, None])
_NOISE = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=80)


@settings(max_examples=300, deadline=None)
@given(message=st.sampled_from(_BILLING), status=_STATUSES, before=_NOISE, after=_NOISE,
       exit_code=st.sampled_from([1, 2, 0]))
def test_a_billing_fault_is_terminal_whatever_status_carries_it(
        message: str, status: int | None, before: str, after: str, exit_code: int) -> None:
    line = f"{before} API Error: {status or ''} {message} {after}".replace("\n", " ")
    report = Report(format="claude-json", parsed=True, is_error=True, num_turns=0,
                    api_error_status=status, messages=(line,))
    kind, transient, _, _ = judge(run_(exit_code), report)
    assert not transient, kind


_VOCAB = [pat for group in (providers.AUTH, providers.QUOTA, providers.RATE_LIMITED,
                            providers.NETWORK, providers.NOT_FOUND) for pat in group]
_WORDS = [c.message for c in ALL_CASES] + list(CONNECTION_FAILURES)


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.one_of(st.sampled_from(_WORDS), _NOISE), max_size=6),
       status=_STATUSES, exit_code=st.one_of(st.none(), st.integers(-1, 255)),
       fmt=st.sampled_from(["claude-json", "codex-jsonl", "aider", "text"]),
       parsed=st.booleans())
def test_the_classifier_is_total_over_provider_vocabulary(
        pieces: list[str], status: int | None, exit_code: int | None, fmt: str,
        parsed: bool) -> None:
    text = "\n".join(pieces)
    run = run_(exit_code if exit_code is not None else 1, stderr=text, stdout=text)
    for report in (Report(format=fmt, parsed=parsed, is_error=True, api_error_status=status,
                          messages=tuple(p for p in pieces if p.strip())[:20]),
                   parse_report(fmt, run)):
        verdict = classify(run, report, min_model_call=2.0, now=0.0)
        assert verdict.kind in KIND_DESCRIPTIONS
        assert verdict.rule and verdict.evidence


def test_provider_patterns_compile_and_match_their_own_documented_words() -> None:
    for pattern in _VOCAB:
        re.compile(pattern, re.IGNORECASE)
