"""Refused edits, read from each CLI's output as measured (Codex 0.171, aider 0.86.2, Claude Code
2.1), and their verdict: an edit the agent's own tooling refused is never `succeeded`."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from mtor_git.agent.evidence import Captured, Report, Run
from mtor_git.agent.refusals import MAX_REFUSALS, aider_refusals, claude_refusals, codex_refusals
from mtor_git.agent.reports import parse_report
from mtor_git.verdict.classify import classify

ROUTER = ("2026-12-02T09:37:57.694569Z ERROR codex_core::tools::router: error=patch rejected: "
          "writing is blocked by read-only sandbox; rejected by user approval settings")
VIOLATION = ("2026-12-02T09:38:42.967073Z  WARN codex_sandboxing::violation: recorded sandbox "
             "violation: resource=filesystem backend=linux_sandbox reason=read_only_file_system "
             "path=unknown")


def run_(stdout: str = "", stderr: str = "", exit_code: int = 0) -> Run:
    return Run(argv=("agent",), cwd="/w", env_names=(), started_at=0.0, duration=5.0,
               exit_code=exit_code, stdout=Captured(len(stdout), stdout),
               stderr=Captured(len(stderr), stderr))


def codex_stdout(*items: dict[str, Any]) -> str:
    events: list[dict[str, Any]] = [{"type": "thread.started", "thread_id": "t"},
                                    {"type": "turn.started"}]
    events += [{"type": "item.completed", "item": item} for item in items]
    events.append({"type": "turn.completed", "usage": {"input_tokens": 9, "output_tokens": 3}})
    return "\n".join(json.dumps(e) for e in events) + "\n"


def command(output: str, exit_code: int | None) -> dict[str, Any]:
    return {"id": "item_1", "type": "command_execution", "command": "bash -lc 'echo x > f'",
            "aggregated_output": output, "exit_code": exit_code,
            "status": "failed" if exit_code else "completed"}


DONE = {"id": "item_2", "type": "agent_message", "text": "Wrote the file."}


# ---- Codex ---------------------------------------------------------------------------------

def test_codex_rejected_patch_on_stderr_is_quoted() -> None:
    report = parse_report("codex-jsonl", run_(codex_stdout(DONE), ROUTER))
    assert report.refusals == ("patch rejected: writing is blocked by read-only sandbox; "
                               "rejected by user approval settings",)


def test_codex_sandbox_violation_on_stderr_is_quoted() -> None:
    (refusal,) = parse_report("codex-jsonl", run_(codex_stdout(DONE), VIOLATION)).refusals
    assert refusal.startswith("sandbox violation:") and "read_only_file_system" in refusal


def test_codex_sandbox_violation_outside_the_checkout_is_no_refused_edit() -> None:
    outside = VIOLATION.replace("path=unknown", "path=/root/.cache/pip/x")
    inside = VIOLATION.replace("path=unknown", "path=/w/notes.txt")
    assert codex_refusals([], outside, "/w") == ()
    (refusal,) = codex_refusals([], inside, "/w")
    assert "path=/w/notes.txt" in refusal


def test_codex_failed_command_with_a_read_only_file_system_is_a_refusal() -> None:
    item = command("/bin/bash: line 1: /usr/x.txt: Read-only file system\n", 1)
    (refusal,) = codex_refusals([{"type": "item.completed", "item": item}], "")
    assert "Read-only file system" in refusal and "echo x > f" in refusal


def test_codex_command_blocked_outside_the_checkout_is_no_refused_edit() -> None:
    item = command("/bin/bash: line 1: /usr/x.txt: Read-only file system\n", 1)
    assert codex_refusals([{"type": "item.completed", "item": item}], "", "/w") == ()
    inside = command("/bin/bash: line 1: x.txt: Read-only file system\n", 1)
    assert codex_refusals([{"type": "item.completed", "item": inside}], "", "/w")


def test_codex_command_that_succeeded_or_failed_otherwise_is_no_refusal() -> None:
    events = [{"type": "item.completed", "item": command("read-only file system mentioned\n", 0)},
              {"type": "item.completed", "item": command("make: *** [all] Error 2\n", 2)},
              {"type": "item.completed", "item": {"type": "error", "message": "Model metadata "
                                                  "for `gpt-stub` not found."}}]
    assert codex_refusals(events, "2026-12-02T09:00:00Z ERROR codex_core::x: other") == ()


def test_codex_file_change_that_did_not_complete_is_a_refusal() -> None:
    item = {"type": "file_change", "status": "failed",
            "changes": [{"path": "/w/a.txt", "kind": "add"}]}
    assert codex_refusals([{"type": "item.completed", "item": item}], "") == (
        "file change failed: /w/a.txt",)


def test_codex_refusals_are_bounded() -> None:
    stderr = "\n".join(ROUTER.replace("sandbox", f"sandbox {i}") for i in range(50))
    assert len(codex_refusals([], stderr)) == MAX_REFUSALS


# ---- aider and Claude ----------------------------------------------------------------------

def test_aider_skipped_and_unwritable_files_are_quoted() -> None:
    text = ("Tokens: 2.1k sent, 40 received.\n"
            "Skipping edits to secret.env that matches gitignore spec.\n"
            "Unable to write file /w/a.py: [Errno 30] Read-only file system: '/w/a.py'\n"
            "Applied edit to b.py\n")
    report = parse_report("aider", run_(text))
    assert report.refusals == ("Skipping edits to secret.env that matches gitignore spec.",
                               "Unable to write file /w/a.py: [Errno 30] Read-only file system: "
                               "'/w/a.py'")
    assert aider_refusals("Applied edit to b.py\nCommit 1a2b3c4 add b\n") == ()


def test_claude_permission_denials_name_the_tool_and_the_file() -> None:
    denials = [{"tool_name": "Write", "tool_use_id": "toolu_1",
                "tool_input": {"file_path": "/w/notes.txt", "content": "x"}},
               {"tool_name": "Bash", "tool_input": {"command": "rm -rf build"}}, "odd"]
    assert claude_refusals(denials) == ("Write denied: /w/notes.txt", "Bash denied: rm -rf build",
                                        'denied: "odd"')


# ---- the verdict ---------------------------------------------------------------------------

def test_a_refused_codex_edit_after_exit_zero_is_edit_blocked_with_the_quote() -> None:
    run = run_(codex_stdout(DONE), ROUTER)
    verdict = classify(run, parse_report("codex-jsonl", run), min_model_call=0.0)
    assert (verdict.kind, verdict.transient, verdict.rule) == ("edit_blocked", False,
                                                               "refused_edit")
    assert "patch rejected: writing is blocked by read-only sandbox" in verdict.evidence


def test_the_same_codex_run_without_the_refusal_succeeds() -> None:
    run = run_(codex_stdout(DONE))
    assert classify(run, parse_report("codex-jsonl", run), min_model_call=0.0).succeeded


def test_a_refused_aider_write_is_never_succeeded() -> None:
    run = run_("Tokens: 1k sent, 20 received.\nUnable to write file a.py: [Errno 30] Read-only "
               "file system\n")
    verdict = classify(run, parse_report("aider", run), min_model_call=0.0)
    assert verdict.kind == "edit_blocked" and "Unable to write file a.py" in verdict.evidence


# ---- never raise ---------------------------------------------------------------------------

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.sampled_from(
                         ["type", "item", "exit_code", "aggregated_output", "status", "changes",
                          "path", "command", "tool_name", "tool_input", "file_path"]) | st.text(
                         max_size=5), inner, max_size=5), max_leaves=15)


@settings(max_examples=150, deadline=None)
@example(events=[{"type": "item.completed", "item": {"type": "file_change", "status": 1,
                                                     "changes": 5}}], stderr="", text="")
@given(events=st.lists(_json, max_size=6), stderr=st.text(max_size=300), text=st.text(
    max_size=300))
def test_refusal_readers_never_raise(events: list[Any], stderr: str, text: str) -> None:
    dicts = [e for e in events if isinstance(e, dict)]
    for found in (codex_refusals(dicts, stderr), aider_refusals(text), claude_refusals(events)):
        assert isinstance(found, tuple) and len(found) <= MAX_REFUSALS
    stdout = "\n".join(json.dumps(e) for e in events)
    for fmt in ("codex-jsonl", "aider", "claude-json"):
        report = parse_report(fmt, run_(stdout, stderr + ROUTER))
        assert isinstance(report, Report)
