"""The live monitor's decisions (mtor_git/agent/live.py) with the clock injected, and one
attempt's command line (mtor_git/agent/resume.py): caps, resume arguments, refused resumes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from runner_fixtures import base_environ, fake_profile, git_worktree

from mtor_git.agent.events import Event
from mtor_git.agent.evidence import (
    Attempt,
    Captured,
    Classification,
    LiveRecord,
    Report,
    Run,
    StoppedBy,
)
from mtor_git.agent.live import LiveLimits, LiveMonitor, checkout_signature
from mtor_git.agent.profiles import BUILTIN
from mtor_git.agent.redact import Redactor
from mtor_git.agent.reports import parse_report
from mtor_git.agent.resume import attempt_command, resumable_session, resume_refused
from mtor_git.agent.spawn import Prepared, RunRequest, run_attempt
from mtor_git.verdict.classify import classify
from mtor_git.verdict.live import judge_event

T0 = 1000.0


def retry(status: int | None, error: str, delay_ms: float = 500.0) -> str:
    return json.dumps({"type": "system", "subtype": "api_retry", "attempt": 1, "max_retries": 10,
                       "retry_delay_ms": delay_ms, "error_status": status, "error": error}) + "\n"


def assistant(n: int, model: str = "claude-opus-4-8", tokens: int = 25) -> str:
    return json.dumps({"type": "assistant", "message": {
        "id": f"m{n}", "model": model, "content": [],
        "usage": {"input_tokens": tokens, "output_tokens": 1}}}) + "\n"


def monitor(tmp_path: Path, **limits: object) -> LiveMonitor:
    full = {"stall_timeout": None, "judge": judge_event, **limits}
    return LiveMonitor("claude-stream-json", LiveLimits(**full), tmp_path, T0)  # type: ignore[arg-type]


def feed(m: LiveMonitor, text: str, at: float = T0 + 1) -> None:
    m.data(len(text), text, at, events=True)


def test_a_terminal_retry_notice_stops_with_the_event_as_evidence(tmp_path: Path) -> None:
    m = monitor(tmp_path)
    feed(m, retry(401, "authentication_failed"))
    stop = m.check(T0 + 1.1)
    assert stop is not None and stop.stopped_by == StoppedBy.TERMINAL_EVENT
    assert '"error_status": 401' in stop.evidence and stop.status == 401
    assert m.check(T0 + 1.2) is None, "a stop is reported once"


def test_transient_retry_notices_let_the_cli_retry(tmp_path: Path) -> None:
    m = monitor(tmp_path)
    for status, error in ((429, "rate_limit"), (529, "overloaded"), (503, "server_error"),
                          (None, "connection timeout")):
        feed(m, retry(status, error))
    assert m.check(T0 + 2) is None
    assert m.parser is not None and m.parser.totals.cli_retries.count == 4


def test_the_cli_retries_may_wait_only_max_cli_retry_wait(tmp_path: Path) -> None:
    m = monitor(tmp_path, max_cli_retry_wait=1.0)
    feed(m, retry(429, "rate_limit", delay_ms=600))
    assert m.check(T0 + 2) is None
    feed(m, retry(429, "rate_limit", delay_ms=600))
    stop = m.check(T0 + 3)
    assert stop is not None and stop.stopped_by == StoppedBy.CLI_RETRY_WAIT
    assert "1.2s > max_cli_retry_wait 1s" in stop.evidence


def test_the_cost_cap_stops_the_moment_the_running_estimate_crosses_it(tmp_path: Path) -> None:
    m = monitor(tmp_path, max_cost_usd=1.5)
    feed(m, assistant(1, tokens=200_000))  # $1.00 at opus 4.x list price
    assert m.check(T0 + 1) is None
    feed(m, assistant(2, tokens=200_000))
    stop = m.check(T0 + 2)
    assert stop is not None and stop.stopped_by == StoppedBy.MAX_COST
    assert "estimated from tokens" in stop.evidence


def test_the_turn_cap_stops_when_a_turn_past_it_begins(tmp_path: Path) -> None:
    m = monitor(tmp_path, max_turns=2)
    feed(m, assistant(1) + assistant(2))
    assert m.check(T0 + 1) is None
    feed(m, assistant(3))
    stop = m.check(T0 + 2)
    assert stop is not None and stop.stopped_by == StoppedBy.MAX_TURNS


def test_silence_past_stall_timeout_is_a_stall_naming_the_last_event(tmp_path: Path) -> None:
    m = monitor(tmp_path, stall_timeout=10.0)
    feed(m, assistant(1), at=T0 + 1)
    assert m.check(T0 + 10.5) is None
    stop = m.check(T0 + 11.5)
    assert stop is not None and stop.stopped_by == StoppedBy.STALLED
    assert "10.5s" in stop.evidence and "turn 1" in stop.evidence


def test_a_change_in_the_checkout_is_activity(tmp_path: Path) -> None:
    m = monitor(tmp_path, stall_timeout=10.0)
    assert m.check(T0) is None  # the first scan: the checkout as it was
    (tmp_path / "new.txt").write_text("written by the agent\n")
    assert m.check(T0 + 9) is None  # scanned: changed, so the agent is working
    assert m.check(T0 + 18) is None
    assert m.check(T0 + 19.5) is not None


def test_no_stall_detection_when_switched_off(tmp_path: Path) -> None:
    m = monitor(tmp_path)
    assert m.check(T0 + 1e6) is None


def test_checkout_signature_ignores_git_and_is_bounded(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    before = checkout_signature(tmp_path)
    (tmp_path / ".git" / "index").write_text("x")
    assert checkout_signature(tmp_path) == before
    for i in range(30):
        (tmp_path / f"f{i}").write_text("x")
    assert checkout_signature(tmp_path, limit=10)[0] == 10


# ---- one attempt's command line ---------------------------------------------------------------

# A codex profile that resumes with its subcommand (the ready one does too, with more flags).
CODEX_RESUMING = replace(BUILTIN["codex"], name="codex-resuming",
                         command=("codex", "exec", "--json", "{model_args}", "{resume_args}", "-"),
                         resume_args=("resume", "{session_id}"))


def prepared(profile_name: str) -> Prepared:
    profile = CODEX_RESUMING if profile_name == "codex" else BUILTIN[profile_name]
    request = RunRequest(profile, "the task", Path("/tmp"))
    return Prepared(request, (profile.command[0], *profile.command[1:]), {}, Redactor({}),
                    "/usr/bin/" + profile.command[0])


def test_the_ready_claude_profile_passes_its_caps_and_the_resume() -> None:
    command = attempt_command(prepared("claude"), max_turns=7, max_cost_usd=1.25,
                              session_id="abc-123")
    argv = command.argv
    assert argv[argv.index("--max-turns") + 1] == "7"
    assert argv[argv.index("--max-budget-usd") + 1] == "1.2500"
    assert argv[-2:] == ("--resume", "abc-123")
    assert command.request.prompt.endswith("the task") and "Continue" in command.request.prompt


def test_codex_resumes_with_its_subcommand_before_the_stdin_marker() -> None:
    argv = attempt_command(prepared("codex"), max_turns=None, max_cost_usd=None,
                           session_id="th_1").argv_with(None)
    assert argv[-3:] == ("resume", "th_1", "-")
    fresh = attempt_command(prepared("codex"), max_turns=None, max_cost_usd=None)
    assert "{resume_args}" not in fresh.argv_with(None)
    assert "resume" not in fresh.argv_with(None)


def attempt_of(kind: str, transient: bool, *, session: str | None, tokens: int = 10,
               stderr: str = "", resumed: str | None = None) -> Attempt:
    run = Run((), "/w", (), 0.0, 5.0, 1, stderr=Captured(len(stderr), stderr),
              live=LiveRecord())
    report = Report("claude-stream-json", parsed=True, is_error=True, session_id=session,
                    usage={"input_tokens": tokens})
    return Attempt(1, "claude", run, report, Classification(kind, transient, kind, "e"),
                   resumed_from=resumed)


def test_only_a_transient_fault_after_the_model_ran_is_resumed() -> None:
    claude = BUILTIN["claude"]
    assert resumable_session(attempt_of("overloaded", True, session="s1"), claude) == "s1"
    assert resumable_session(attempt_of("auth", False, session="s1"), claude) is None
    assert resumable_session(attempt_of("overloaded", True, session="s1", tokens=0),
                             claude) is None
    assert resumable_session(attempt_of("overloaded", True, session=None), claude) is None
    assert resumable_session(attempt_of("overloaded", True, session="s1"),
                             replace(claude, resume_args=())) is None
    assert resumable_session(attempt_of("overloaded", True, session="-rf /"), claude) is None


def test_a_refused_resume_is_recognised() -> None:
    gone = "No conversation found with session ID: s1"
    assert resume_refused(attempt_of("agent_error", False, session=None, stderr=gone,
                                     resumed="s1"))
    assert not resume_refused(attempt_of("agent_error", False, session=None, stderr=gone))


def test_judge_event_ignores_what_is_not_a_retry() -> None:
    assert judge_event(Event("error", 0.0, "fatal", status=401)) is None
    assert judge_event(Event("retry", 0.0, "x", status=429, final=False,
                             raw=retry(429, "rate_limit"))) is None
    assert judge_event(Event("retry", 0.0, "x", status=None, final=False,
                             raw=retry(None, "connection_error"))) is None
    assert judge_event(Event("retry", 0.0, "x", status=403, final=False,
                             raw=retry(403, "forbidden"))) is not None


# ---- through the spawn loop, with a real (fake) agent ------------------------------------------

def test_a_silent_agent_of_any_format_is_stopped_as_stalled(tmp_path: Path) -> None:
    worktree = git_worktree(tmp_path / "wt")
    profile = fake_profile("hang", stall_timeout=1.5)  # claude-json: read only at exit
    run = run_attempt(RunRequest(profile, "hang", worktree, timeout=60.0,
                                 environ=base_environ()))
    assert run.stopped_by == StoppedBy.STALLED
    assert run.duration < 30, "stopped by the stall, long before the timeout"
    assert run.live is not None and "stall_timeout 1.5s" in (run.live.stop_evidence or "")
    verdict = classify(run, parse_report(profile.report, run), min_model_call=0.0)
    assert verdict.kind == "stalled" and verdict.transient


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(["retry", "error", "tool", "turn"]), final=st.booleans(),
       status=st.none() | st.integers(0, 999), raw=st.none() | st.text(max_size=300))
def test_judge_event_is_total(kind: str, final: bool, status: int | None,
                              raw: str | None) -> None:
    verdict = judge_event(Event(kind, 0.0, "s", status=status, final=final,  # type: ignore[arg-type]
                                raw=raw))
    assert verdict is None or (kind == "retry" and not final)
