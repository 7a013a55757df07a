"""The ready `codex` profile resumes Codex's thread after a transient fault, with the real Codex
CLI through the real daemon (`mtor-git daemon --once`, bubblewrap attempt sandbox) against the
loopback Responses API stub: the first attempt writes a file with a tool call, the stub then
answers 503 (Codex's own retries off in `$CODEX_HOME/config.toml`), the next attempt runs
`codex exec ... resume <thread id> -`, the stub sees the earlier conversation in its `input`, and
the first attempt's file is in the result."""

from __future__ import annotations

from pathlib import Path

import pytest
from clifixtures import daemon_once, home_outside_tmp, install_dir, require_cli
from daemonfixtures import site, spec
from gitfixtures import git
from openai_stub import ErrorTurn, OpenAIStub, TextTurn, Turn, shell_write
from runner_fixtures import base_environ, git_worktree

from mtor_git.agent.evidence import Attempt
from mtor_git.agent.preflight import RunRequest, preflight
from mtor_git.agent.profiles import BUILTIN
from mtor_git.agent.reports import parse_report
from mtor_git.agent.resume import attempt_command, resume_refused
from mtor_git.agent.spawn import run_attempt
from mtor_git.verdict.classify import classify

FAKE_KEY = "sk-stub-codex-0123456789abcdef"
PROMPT = "Write first.txt, then second.txt.\n"


def codex_config(home: Path, base_url: str) -> None:
    (home / "config.toml").write_text(
        'model_provider = "mtor-stub"\nmodel = "gpt-stub"\n\n'
        '[model_providers.mtor-stub]\nname = "stub"\n'
        f'base_url = "{base_url}"\nenv_key = "OPENAI_API_KEY"\nwire_api = "responses"\n'
        "request_max_retries = 0\nstream_max_retries = 0\n")


@pytest.mark.parametrize("status", [503, 429])
def test_a_transient_fault_resumes_the_same_thread_with_the_first_file_kept(
        tmp_path: Path, status: int) -> None:
    codex = require_cli("codex")
    turns: list[Turn] = [shell_write("first.txt", "one\n")[0],
                         ErrorTurn(status, "server_error", "overloaded (stub)"),
                         *shell_write("second.txt", "two\n")]
    with site(tmp_path) as s, home_outside_tmp("codex-") as home, OpenAIStub(turns) as stub:
        s.push_specs({"t1": spec(PROMPT, agent="codex", max_attempts=3)})
        profile = {"extends": "codex", "sandbox_paths": [install_dir(codex)]}
        config = s.config("w1", default_agent="codex", extra={"agents": {"codex": profile}})
        codex_config(home, stub.base_url)
        daemon_once(config, s.root, {"CODEX_HOME": str(home), "OPENAI_API_KEY": FAKE_KEY},
                    bin_dir=codex.parent)
        result = s.result("t1")
        rollouts = list((home / "sessions").rglob("*.jsonl"))
        requests = stub.model_requests
        tree = git("ls-tree", "-r", "--name-only", "mtor/t1", cwd=s.remote).split()
    assert result["status"] == "succeeded", result.get("failure")
    first, second = result["attempts"]
    assert first["classification"]["transient"] is True
    thread = first["report"]["session_id"]
    assert thread and second["resumed_from"] == thread
    assert second["argv"][-3:] == ["resume", thread, "-"]
    # The session lived in the task's own copy of CODEX_HOME (inside its private HOME, gone with
    # its checkout): the shared one holds no task's session for a later task's agent to read.
    assert rollouts == [], "no session in the shared CODEX_HOME"
    # The resumed attempt's first request carries the first attempt's conversation: the task's
    # prompt and the tool call that wrote first.txt, with its output.
    resumed = requests[2]
    kinds = [item.get("type") for item in resumed.body.get("input", [])]
    assert kinds.count("function_call") == 1 and kinds.count("function_call_output") == 1
    assert any(PROMPT.strip() in text for text in resumed.texts())
    assert len(requests) == 4  # tool call, the fault, then the resumed tool call and answer
    assert {"first.txt", "second.txt"} <= set(tree)
    assert "first.txt" in {f["path"] for f in result["changes"]["files"]}


def test_a_thread_codex_no_longer_has_is_a_refused_resume(tmp_path: Path) -> None:
    """The ready profile's resume of a thread whose rollout is gone (a new CODEX_HOME): the real
    CLI refuses before any model request, and the worker recognises the refusal (then it runs
    the task afresh once)."""
    codex = require_cli("codex")
    worktree = git_worktree(tmp_path / "wt")
    with home_outside_tmp("codex-") as home, OpenAIStub([TextTurn("unused")]) as stub:
        codex_config(home, stub.base_url)
        environ = base_environ(CODEX_HOME=str(home), OPENAI_API_KEY=FAKE_KEY,
                               PATH=f"{codex.parent}:/usr/bin:/bin")
        request = RunRequest(BUILTIN["codex"], "continue", worktree, timeout=60.0,
                             environ=environ)
        gone = "01a2366d-78c7-79c1-8fa6-16b3034619e3"
        prepared = attempt_command(preflight(request), max_turns=None, max_cost_usd=None,
                                   session_id=gone)
        run = run_attempt(prepared)
        model_requests = len(stub.model_requests)
    assert prepared.argv_with(None)[-3:] == ("resume", gone, "-")
    assert run.exit_code != 0 and model_requests == 0
    report = parse_report("codex-jsonl", run)
    verdict = classify(run, report, min_model_call=0.0)
    assert resume_refused(Attempt(1, "codex", run, report, verdict, resumed_from=gone))
    assert not resume_refused(Attempt(1, "codex", run, report, verdict))
