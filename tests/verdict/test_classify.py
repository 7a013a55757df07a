"""The failure classifier, read like the contract: transient only on positive evidence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtor_git.agent.evidence import Captured, Classification, Report, Run, StoppedBy
from mtor_git.verdict.classify import (
    KIND_DESCRIPTIONS,
    PROVIDER_TRANSIENT,
    classify,
    fingerprint,
    normalise,
)
from mtor_git.verdict.matchers import EVIDENCE_MAX
from mtor_git.verdict.rules import RULES

CWD = "/srv/work/task"
NOW = 1_800_000_000.0  # a fixed "now" for reset-time parsing


def cap(text: str) -> Captured:
    return Captured(total_bytes=len(text.encode()), head=text)


def run_(exit_code: int | None = 1, *, stdout: str = "", stderr: str = "", duration: float = 30.0,
         signal: int | None = None, stopped_by: str | None = None,
         spawn_error: str | None = None) -> Run:
    return Run(argv=("agent",), cwd=CWD, env_names=(), started_at=NOW - duration,
               duration=duration, exit_code=exit_code, signal=signal,
               stopped_by=stopped_by,  # type: ignore[arg-type]
               stdout=cap(stdout), stderr=cap(stderr), spawn_error=spawn_error)


def text_report() -> Report:
    return Report(format="text")


def claude(result: str = "done", *, is_error: bool = False, status: int | None = None,
           subtype: str = "success", turns: int = 3, denials: int = 0) -> tuple[str, Report]:
    """A claude-json stdout and the Report its parser makes of it."""
    obj = {"type": "result", "subtype": subtype, "is_error": is_error, "num_turns": turns,
           "result": result, "api_error_status": status, "permission_denials": [{}] * denials}
    report = Report(format="claude-json", parsed=True, is_error=is_error, subtype=subtype,
                    num_turns=turns, api_error_status=status, permission_denials=denials,
                    result_text=result)
    return json.dumps(obj), report


def codex(*messages: str, failed: bool = True, turns: int = 0) -> Report:
    return Report(format="codex-jsonl", parsed=True, is_error=failed, num_turns=turns,
                  messages=messages)


def judge(run: Run, report: Report | None = None, *, min_model_call: float = 2.0,
          **kw: object) -> Classification:
    return classify(run, report or text_report(), min_model_call=min_model_call,
                    now=NOW, **kw)  # type: ignore[arg-type]


# ---- exact messages from FIELD-NOTES.md ------------------------------------------------------

def _claude_error(message: str, status: int | None, exit_code: int = 1) -> tuple[Run, Report]:
    out, rep = claude(message, is_error=True, status=status, turns=0)
    return run_(exit_code, stdout=out), rep


FIELD_NOTES: list[tuple[str, Run, Report, str]] = [
    ("claude positional ---", run_(1, stderr="error: unknown option '---'"), text_report(),
     "usage_error"),
    ("codex positional ---", run_(2, stderr="error: unexpected argument '---\ntitle: x' found"),
     text_report(), "usage_error"),
    ("claude not logged in", *_claude_error("Not logged in · Please run /login", None), "auth"),
    ("claude invalid key", *_claude_error("Invalid API key · Fix external API key", 401), "auth"),
    ("claude 429", *_claude_error("API Error: Request rejected (429) · rate limited", 429),
     "rate_limited"),
    ("claude 529 has null status",
     *_claude_error("API Error: Repeated 529 Overloaded errors · check status", None),
     "overloaded"),
    ("claude timeout", *_claude_error("Request timed out", None), "network"),
    ("claude credit", *_claude_error("Credit balance is too low", 400), "quota"),
    ("codex 401", run_(1), codex("unexpected status 401 Unauthorized: Incorrect API key"),
     "auth"),
    ("codex 429", run_(1), codex("exceeded retry limit, last status: 429 Too Many Requests"),
     "rate_limited"),
    ("codex quota", run_(1), codex("Quota exceeded. Check your plan and billing details."),
     "quota"),
    ("codex idle", run_(1),
     codex("stream disconnected before completion: idle timeout waiting for SSE"), "network"),
]


@pytest.mark.parametrize(("case", "run", "report", "kind"), FIELD_NOTES,
                         ids=[c[0] for c in FIELD_NOTES])
def test_field_notes_messages_classify_as_measured(case: str, run: Run, report: Report,
                                                   kind: str) -> None:
    result = judge(run, report)
    assert result.kind == kind
    assert result.transient == (kind in ("rate_limited", "overloaded", "network"))


# ---- one example per rule: adding a rule is adding a row here ---------------------------------

_denied_out, _denied = claude(denials=1)
_ok_out, _ok = claude()
RULE_EXAMPLES: dict[str, tuple[Run, Report]] = {
    "stopped_by_timeout": (run_(None, signal=15, stopped_by="timeout"), text_report()),
    "stopped_by_cancel": (run_(None, signal=15, stopped_by="cancel"), text_report()),
    "stopped_by_shutdown": (run_(None, signal=15, stopped_by="shutdown"), text_report()),
    "stopped_by_stall": (run_(None, signal=15, stopped_by="stalled"), text_report()),
    "stopped_at_cost_cap": (run_(None, signal=15, stopped_by="max_cost_usd"), text_report()),
    "stopped_at_turn_cap": (run_(None, signal=15, stopped_by="max_turns"), text_report()),
    "spawn_bad_cwd": (run_(None, spawn_error=f"FileNotFoundError: [Errno 2] No such file or "
                                            f"directory: '{CWD}'"), text_report()),
    "spawn_not_found": (run_(None, spawn_error="FileNotFoundError: [Errno 2] No such file or "
                                               "directory: 'claude'"), text_report()),
    "spawn_permission": (run_(None, spawn_error="PermissionError: [Errno 13] Permission denied: "
                                                "'./agent'"), text_report()),
    "spawn_failed": (run_(None, spawn_error="OSError: [Errno 7] Argument list too long"),
                     text_report()),
    "killed_by_signal": (run_(None, signal=9), text_report()),
    "refused_edit": (run_(0), Report(format="codex-jsonl", parsed=True, is_error=False,
                                     num_turns=1, refusals=("patch rejected: writing is blocked "
                                                            "by read-only sandbox",))),
    "succeeded": (run_(0, stdout=_ok_out), _ok),
    "permission_denials": (run_(0, stdout=_denied_out), _denied),
    "exit0_without_report": (run_(0), Report(format="claude-json")),
    "empty_output_nonzero_exit": (run_(1), text_report()),
    "exit_127": (run_(127, stderr="sh: 1: claude: not found"), text_report()),
    "disk_full_text": (run_(1, stderr="OSError: [Errno 28] No space left on device"),
                       text_report()),
    "usage_text": (run_(2, stderr="aider: error: unrecognized arguments: ---"), text_report()),
    "auth_status": _claude_error("Forbidden", 403),
    "auth_text": (run_(1, stderr="Error: Invalid API key"), text_report()),
    "quota_text": (run_(1, stderr='{"code": "insufficient_quota"}'), text_report()),
    "usage_limit_text": (run_(1, stderr="5-hour limit reached ∙ resets 3pm"), text_report()),
    "max_turns": (run_(1), Report(format="claude-json", parsed=True, is_error=True,
                                  num_turns=5, subtype="error_max_turns")),
    "budget_exceeded": (run_(1), Report(format="claude-json", parsed=True, is_error=True,
                                        num_turns=5, subtype="error_max_budget_usd")),
    "prompt_too_long": _claude_error("Prompt is too long", 400),
    "faster_than_model_call": (run_(1, stderr="rate limit", duration=0.05), text_report()),
    "rate_limited_status": _claude_error("API Error", 429),
    "rate_limited_text": (run_(1, stderr="HTTP 429 Too Many Requests"), text_report()),
    "overloaded_status": _claude_error("API Error", 529),
    "overloaded_text": (run_(1, stderr="API Error: Repeated 529 Overloaded errors"),
                        text_report()),
    "rate_limited_vocab": (run_(1, stderr='{"error":{"code":"1302","message":"High concurrency '
                                          'usage of this API"}}'), text_report()),
    "overloaded_vocab": (run_(1, stderr='{"type":"overloaded_error","message":"Overloaded"}'),
                         text_report()),
    "provider_error_vocab": (run_(1, stderr='{"error":{"type":"api_error","message":"x"}}'),
                             text_report()),
    "content_blocked_text": (run_(1, stderr="Your chosen model requires moderation and your "
                                            "input was flagged"), text_report()),
    "quota_status": _claude_error("API Error: 402 Your payment method was declined", 402),
    "not_found": _claude_error("There's an issue with the selected model (x).", 404),
    "bad_request": _claude_error("API Error: 400 messages: field required", 400),
    "provider_error_status": _claude_error("API Error", 502),
    "provider_error_text": (run_(1, stderr="API Error: 500 Internal Server Error"),
                            text_report()),
    "network_text": (run_(1, stderr="Error: read ECONNRESET"), text_report()),
    "reported_error": (run_(1), codex("sandbox: landlock not supported")),
    "unrecognised": (run_(3, stderr="Traceback: something odd"), text_report()),
}


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_every_rule_has_an_example_that_it_decides(rule: object) -> None:
    name = rule.name  # type: ignore[attr-defined]
    assert name in RULE_EXAMPLES, f"rule {name} has no example row"
    run, report = RULE_EXAMPLES[name]
    result = judge(run, report)
    assert (result.rule, result.kind) == (name, rule.kind)  # type: ignore[attr-defined]


def test_rules_have_unique_names_reasons_and_described_kinds() -> None:
    assert len({r.name for r in RULES}) == len(RULES)
    assert all(r.reason and "\n" not in r.reason for r in RULES)
    assert {r.kind for r in RULES} | {"repeated_failure"} <= set(KIND_DESCRIPTIONS)


def test_kind_names_used_by_the_rest_of_the_system_are_described() -> None:
    kinds = ("succeeded rate_limited overloaded provider_error network timeout cancelled "
             "interrupted usage_error binary_missing bad_cwd permission_denied auth quota "
             "usage_limit max_turns budget_exceeded prompt_too_long killed empty_failure "
             "pipeline_fault repeated_failure edit_blocked agent_error disk_full "
             "unknown not_found bad_request content_blocked stalled").split()
    assert set(kinds) == set(KIND_DESCRIPTIONS)
    assert PROVIDER_TRANSIENT == {"rate_limited", "overloaded"}


# ---- the incident and other terminal faults ---------------------------------------------------

def test_empty_output_nonzero_exit_is_terminal_empty_failure() -> None:
    result = judge(run_(1, duration=0.01))
    assert (result.kind, result.transient) == ("empty_failure", False)


def test_unknown_option_is_terminal_usage_error() -> None:
    result = judge(run_(1, stderr="Unknown flag: ---"))
    assert (result.kind, result.transient) == ("usage_error", False)


def test_argparse_usage_line_is_usage_error() -> None:
    result = judge(run_(2, stderr="usage: agent [-h] [--model M]\nagent: error: bad thing"))
    assert result.kind == "usage_error"


def test_unrecognised_failure_is_terminal_unknown() -> None:
    result = judge(run_(1, stderr="something nobody has seen before"))
    assert (result.kind, result.transient) == ("unknown", False)
    assert "something nobody has seen before" in result.evidence


def test_terminal_evidence_beats_transient_evidence() -> None:
    result = judge(run_(1, stderr="HTTP 429 Too Many Requests\nError: Invalid API key"))
    assert result.kind == "auth"


def test_openai_quota_429_is_quota_not_rate_limit() -> None:
    result = judge(run_(1, stderr="Error code: 429 - {'error': {'code': 'insufficient_quota'}}"))
    assert result.kind == "quota"


def test_killed_by_a_signal_we_did_not_send_is_terminal() -> None:
    result = judge(run_(None, signal=9))
    assert (result.kind, result.transient) == ("killed", False)
    assert "SIGKILL" in result.evidence


def test_our_timeout_is_terminal_even_with_rate_limit_text() -> None:
    run = run_(None, signal=15, stopped_by="timeout", stderr="Reconnecting... 1/5 (429)")
    result = judge(run)
    assert (result.kind, result.transient) == ("timeout", False)


def test_missing_binary_is_binary_missing() -> None:
    run, report = RULE_EXAMPLES["spawn_not_found"]
    assert judge(run, report).kind == "binary_missing"


def test_missing_cwd_is_bad_cwd_not_binary_missing() -> None:
    run, report = RULE_EXAMPLES["spawn_bad_cwd"]
    assert judge(run, report).kind == "bad_cwd"


# ---- success is judged by the report, not the exit code alone ----------------------------------

def test_exit_zero_with_is_error_is_a_failure() -> None:
    run, report = _claude_error("API Error: Request rejected (429)", 429, exit_code=0)
    assert judge(run, report).kind == "rate_limited"


def test_subtype_success_with_is_error_is_not_success() -> None:
    out, report = claude("Invalid API key · Fix external API key", is_error=True,
                         subtype="success")
    assert judge(run_(0, stdout=out), report).kind == "auth"


def test_permission_denials_with_exit_zero_is_edit_blocked() -> None:
    result = judge(run_(0, stdout=_denied_out), _denied)
    assert (result.kind, result.transient) == ("edit_blocked", False)


def test_aider_exit_zero_with_auth_error_is_auth() -> None:
    out = ("Aider v0.86.2\nlitellm.AuthenticationError: AnthropicException - invalid x-api-key\n"
           "The API provider is not able to authenticate you. Check your API key.\n")
    result = judge(run_(0, stdout=out), Report(format="aider"))
    assert result.kind == "auth"


def test_aider_exit_zero_with_unrecognised_error_is_agent_error() -> None:
    result = judge(run_(0, stdout="Error: the model went to lunch\n"), Report(format="aider"))
    assert (result.kind, result.transient) == ("agent_error", False)


def test_aider_chatter_about_rate_limits_with_exit_zero_is_success() -> None:
    out = "I added rate limit handling; 429 responses now back off.\n"
    assert judge(run_(0, stdout=out), Report(format="aider")).kind == "succeeded"


def test_structured_agent_exit_zero_without_report_is_not_success() -> None:
    assert judge(run_(0), Report(format="claude-json")).kind == "agent_error"


def test_codex_reconnecting_notices_are_not_final() -> None:
    report = codex("Reconnecting... 1/5 (unexpected status 500)", failed=False, turns=2)
    assert judge(run_(0), report).kind == "succeeded"


def test_codex_reconnecting_notice_is_no_transient_evidence_for_a_failure() -> None:
    report = codex("Reconnecting... 2/5 (stream disconnected before completion)",
                   "sandbox denied the write")
    result = judge(run_(1), report)
    assert not result.transient


def test_agent_chatter_in_parsed_stdout_is_not_evidence() -> None:
    stdout = json.dumps({"type": "item.completed",
                         "item": {"type": "agent_message", "text": "added a rate limit"}})
    result = judge(run_(1, stdout=stdout), codex("turn failed: sandbox error"))
    assert (result.kind, result.transient) == ("agent_error", False)


def test_codex_last_agent_message_is_not_evidence_of_a_failure() -> None:
    report = Report(format="codex-jsonl", parsed=True, is_error=True, messages=("turn failed",),
                    result_text="I added rate limit handling for 429 responses.")
    result = judge(run_(1), report)
    assert (result.kind, result.transient) == ("agent_error", False)


# ---- the same messages through the real report parsers ----------------------------------------

def _claude_stdout(result: str, status: int | None) -> str:
    return json.dumps({"type": "result", "subtype": "success", "is_error": True, "num_turns": 0,
                       "result": result, "api_error_status": status, "permission_denials": []})


def _codex_stdout(*errors: str) -> str:
    events: list[dict[str, object]] = [{"type": "thread.started", "thread_id": "t1"},
                                       {"type": "turn.started"}]
    events += [{"type": "error", "message": e} for e in errors]
    events.append({"type": "turn.failed", "error": {"message": errors[-1]}})
    return "\n".join(json.dumps(e) for e in events)


PARSED: list[tuple[str, str, str, str]] = [
    ("claude-json", _claude_stdout("API Error: Request rejected (429) · slow down", 429), "",
     "rate_limited"),
    ("claude-json", _claude_stdout("API Error: Repeated 529 Overloaded errors", None), "",
     "overloaded"),
    ("claude-json", _claude_stdout("Invalid API key · Fix external API key", 401), "", "auth"),
    ("claude-json", _claude_stdout("Credit balance is too low", None), "", "quota"),
    ("claude-json", "", "error: unknown option '---'", "usage_error"),
    ("codex-jsonl", _codex_stdout("Reconnecting... 1/5 (unexpected status 401 Unauthorized)",
                                  "unexpected status 401 Unauthorized: Incorrect API key"), "",
     "auth"),
    ("codex-jsonl", _codex_stdout("exceeded retry limit, last status: 429 Too Many Requests"), "",
     "rate_limited"),
    ("codex-jsonl", _codex_stdout("Quota exceeded. Check your plan and billing details."), "",
     "quota"),
    ("codex-jsonl", _codex_stdout("stream disconnected before completion: idle timeout waiting "
                                  "for SSE"), "", "network"),
    ("codex-jsonl", "", "error: unexpected argument '---' found", "usage_error"),
]


@pytest.mark.parametrize(("fmt", "stdout", "stderr", "kind"), PARSED)
def test_field_notes_messages_classify_through_the_report_parser(fmt: str, stdout: str,
                                                                  stderr: str, kind: str) -> None:
    from mtor_git.agent.reports import parse_report
    run = run_(1, stdout=stdout, stderr=stderr)
    assert judge(run, parse_report(fmt, run)).kind == kind


# ---- transient faults and their hints ---------------------------------------------------------

def test_openai_rate_limit_reached_is_rate_limited_not_usage_limit() -> None:
    text = "Rate limit reached for gpt-4o on tokens per min. Please try again in 20s."
    result = judge(run_(1, stderr=text))
    assert (result.kind, result.transient, result.retry_after) == ("rate_limited", True, 20.0)


@pytest.mark.parametrize(("text", "seconds"), [
    ("HTTP 429: retry after 30s", 30.0),
    ("status 429\nRetry-After: 30", 30.0),
    ("rate limited; try again in 20 seconds", 20.0),
    ("rate_limit_error: please try again in 1m30s", 90.0),
])
def test_retry_after_hints_are_read(text: str, seconds: float) -> None:
    assert judge(run_(1, stderr=text)).retry_after == seconds


def test_provider_5xx_status_is_transient_provider_error() -> None:
    run, report = _claude_error("API Error: 503", 503)
    result = judge(run, report)
    assert (result.kind, result.transient) == ("provider_error", True)


# ---- the model-call floor ---------------------------------------------------------------------

def test_failure_faster_than_a_model_call_is_pipeline_fault() -> None:
    result = judge(run_(1, stderr="Error: 429 rate limit", duration=0.02))
    assert (result.kind, result.transient) == ("pipeline_fault", False)


def test_fast_failure_with_structured_api_status_keeps_its_kind() -> None:
    run, report = _claude_error("API Error: Request rejected (429)", 429)
    result = judge(run_(1, stdout=run.stdout.head, duration=0.3), report)
    assert result.kind == "rate_limited"


def test_fast_failure_with_report_of_model_usage_keeps_its_kind() -> None:
    report = Report(format="codex-jsonl", parsed=True, is_error=True, usage={"input_tokens": 9},
                    messages=("unexpected status 503 Service Unavailable",))
    assert judge(run_(1, duration=0.3), report).kind == "provider_error"


def test_specific_terminal_kind_beats_the_floor() -> None:
    assert judge(run_(1, stderr="error: unknown option '---'", duration=0.01)).kind == \
        "usage_error"


# ---- usage limits park until their reset -----------------------------------------------------

def test_usage_limit_with_epoch_sets_resume_at() -> None:
    result = judge(run_(1, stdout="Claude AI usage limit reached|1712345678"))
    assert (result.kind, result.transient, result.resume_at) == ("usage_limit", False,
                                                                  1712345678.0)


def test_usage_limit_reset_clock_is_the_next_such_time_after_now() -> None:
    result = judge(run_(1, stderr="5-hour limit reached ∙ resets 3pm (UTC)"))
    now = datetime.fromtimestamp(NOW, UTC)
    expected = now.replace(hour=15, minute=0, second=0, microsecond=0)
    if expected <= now:
        expected += timedelta(days=1)
    assert result.resume_at == expected.timestamp()


def test_usage_limit_in_local_time_resets_within_a_day() -> None:
    result = judge(run_(1, stderr="5-hour limit reached ∙ resets 3pm"))
    assert result.resume_at is not None and NOW < result.resume_at <= NOW + 86400


def test_usage_limit_without_a_reset_is_terminal_without_resume_at() -> None:
    result = judge(run_(1, stderr="Claude AI usage limit reached"))
    assert (result.kind, result.transient, result.resume_at) == ("usage_limit", False, None)


# ---- fingerprints and repetition ---------------------------------------------------------------

def test_fingerprint_ignores_request_ids_and_timestamps() -> None:
    a = run_(1, stderr="2026-01-02T03:04:05Z stream disconnected before completion req_011CAbc9")
    b = run_(1, stderr="2026-01-02T09:14:55Z stream disconnected before completion req_011XyZ7q")
    assert fingerprint(a, text_report()) == fingerprint(b, text_report())


def test_fingerprint_differs_by_exit_code() -> None:
    text = "stream disconnected before completion"
    assert fingerprint(run_(1, stderr=text), text_report()) != \
        fingerprint(run_(2, stderr=text), text_report())


def test_same_transient_fingerprint_twice_is_terminal_repeated_failure() -> None:
    run = run_(1, stderr="Error: read ECONNRESET")
    first = judge(run)
    result = judge(run, previous=first, previous_fingerprint=fingerprint(run, text_report()))
    assert (result.kind, result.transient) == ("repeated_failure", False)
    assert "network" in result.evidence


def test_rate_limit_twice_is_still_rate_limited() -> None:
    run = run_(1, stderr="HTTP 429 Too Many Requests")
    result = judge(run, previous_fingerprint=fingerprint(run, text_report()))
    assert (result.kind, result.transient) == ("rate_limited", True)


def test_different_transient_failure_is_not_repeated() -> None:
    before = run_(1, stderr="Error: read ECONNRESET")
    result = judge(run_(1, stderr="API Error: 502 Bad Gateway"),
                   previous_fingerprint=fingerprint(before, text_report()))
    assert result.kind == "provider_error"


def test_repeated_terminal_failure_keeps_its_specific_kind() -> None:
    run = run_(1, stderr="Error: Invalid API key")
    assert judge(run, previous_fingerprint=fingerprint(run, text_report())).kind == "auth"


def test_normalise_blanks_numbers_and_ids() -> None:
    assert normalise("Took 12.5s at 10:04 id 9f8e7d6c5b4a") == normalise("Took 3s at 11:59 id "
                                                                          "0a1b2c3d4e5f")


# ---- evidence --------------------------------------------------------------------------------

def test_evidence_is_bounded_and_names_its_source() -> None:
    line = "x" * 5000 + " HTTP 429 Too Many Requests " + "y" * 5000
    result = judge(run_(1, stderr=line))
    source, snippet = result.evidence.split(": ", 1)
    assert source == "stderr" and len(snippet) <= EVIDENCE_MAX and "429" in snippet


def test_lines_whose_lowercase_changes_length_still_match() -> None:
    line = "İstanbul edge: HTTP 429 Too Many Requests"  # "İ".lower() is two characters
    result = judge(run_(1, stderr=line))
    assert result.kind == "rate_limited" and result.evidence == f"stderr: {line}"


# ---- properties -------------------------------------------------------------------------------

PHRASES = ["429", "rate limit", "Request rejected (429)", "Overloaded", "529", "Request timed out",
           "ECONNRESET", "API Error: 503", "Invalid API key", "unknown option", "usage: x",
           "Reconnecting... 1/5", "Retry-After: 30", "try again in 5s", "resets 3pm",
           "usage limit reached|1712345678", "Error:", "litellm.RateLimitError", "\n", " "]
texts = st.lists(st.one_of(st.text(max_size=40), st.sampled_from(PHRASES)), max_size=8).map(
    "".join)
exit_codes = st.one_of(st.none(), st.integers(-5, 300))


@st.composite
def attempts(draw: st.DrawFn) -> tuple[Run, Report]:
    run = Run(argv=("a",), cwd=CWD, env_names=(), started_at=0.0,
              duration=draw(st.floats(0, 1e4)), exit_code=draw(exit_codes),
              signal=draw(st.one_of(st.none(), st.integers(-3, 70))),
              stopped_by=draw(st.sampled_from([None, *StoppedBy])),
              stdout=cap(draw(texts)), stderr=cap(draw(texts)),
              spawn_error=draw(st.one_of(st.none(), texts)))
    report = Report(format=draw(st.sampled_from(["claude-json", "codex-jsonl", "aider", "text"])),
                    parsed=draw(st.booleans()), is_error=draw(st.sampled_from([None, True, False])),
                    subtype=draw(st.one_of(st.none(), texts)),
                    num_turns=draw(st.one_of(st.none(), st.integers(0, 5))),
                    api_error_status=draw(st.one_of(st.none(), st.integers(100, 600))),
                    permission_denials=draw(st.integers(0, 2)),
                    terminal_reason=draw(st.one_of(st.none(), texts)),
                    messages=tuple(draw(st.lists(texts, max_size=3))),
                    result_text=draw(st.one_of(st.none(), texts)))
    return run, report


def _source_text(source: str, run: Run, report: Report) -> str:
    return {"stdout": run.stdout.text(), "stderr": run.stderr.text(),
            "report.messages": "\n".join(report.messages),
            "report.result_text": report.result_text or "",
            "report.api_error_status": str(report.api_error_status),
            # a live stop (stalled): what the monitor measured, or who stopped it and when
            "run.live": (run.live.stop_evidence or "") if run.live is not None else "",
            "run.stopped_by": f"{run.stopped_by} after {run.duration:.1f}s"}[source]


@settings(deadline=None)
@given(attempts(), st.floats(0, 10), st.one_of(st.none(), st.text(max_size=30)))
def test_classify_never_raises(attempt: tuple[Run, Report], floor: float,
                               previous_fp: str | None) -> None:
    run, report = attempt
    result = classify(run, report, min_model_call=floor, previous_fingerprint=previous_fp,
                      now=NOW)
    assert result.kind in KIND_DESCRIPTIONS
    assert fingerprint(run, report)


@settings(deadline=None)
@given(attempts(), st.floats(0, 10))
def test_transient_only_with_evidence_found_in_the_inputs(attempt: tuple[Run, Report],
                                                           floor: float) -> None:
    run, report = attempt
    result = classify(run, report, min_model_call=floor, now=NOW)
    if result.transient:
        source, snippet = result.evidence.split(": ", 1)
        assert snippet and snippet in _source_text(source, run, report)


@settings(deadline=None)
@given(exit_codes.filter(lambda c: c not in (None, 0)), st.floats(0, 1e4),
       st.sampled_from(["claude-json", "codex-jsonl", "aider", "text"]), st.text(" \n\t"))
def test_empty_output_with_nonzero_exit_is_never_transient(code: int | None, duration: float,
                                                           fmt: str, blank: str) -> None:
    run = run_(code, stdout=blank, stderr=blank, duration=duration)
    result = classify(run, Report(format=fmt), min_model_call=2.0, now=NOW)
    assert not result.transient and result.kind == "empty_failure"


def test_a_full_disk_is_disk_full_not_the_tasks_fault() -> None:
    verdict = judge(run_(stderr="OSError: [Errno 28] No space left on device\n"))
    assert (verdict.kind, verdict.transient) == ("disk_full", False)
    assert "No space left on device" in verdict.evidence
