"""Each provider's documented error bodies, sent by a loopback Anthropic-compatible gateway (the
way GLM's and OpenRouter's Anthropic endpoints answer), through the real Claude Code CLI, its
report parser and the classifier: the kind is the one the provider's documentation means. The
CLI shows only the body's message (GLM's business code is dropped), so the words decide."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from anthropic_stub import AnthropicStub, RawErrorTurn
from provider_cases import ANTHROPIC_CASES, GLM_CASES, OPENROUTER_CASES, Case
from runner_fixtures import git_worktree
from test_claude_real import CLAUDE, INSTALL, NPM_PREFIX, claude_environ

from mtor_git.agent.profiles import BUILTIN
from mtor_git.agent.reports import parse_report
from mtor_git.agent.spawn import RunRequest, run_attempt
from mtor_git.retry.policy import RetryPolicy
from mtor_git.verdict.classify import classify

pytestmark = pytest.mark.skipif(
    CLAUDE is None, reason=f"the real claude CLI is not installed under {NPM_PREFIX}; {INSTALL}")

CASES = ANTHROPIC_CASES + GLM_CASES + OPENROUTER_CASES
TRANSIENT = {"rate_limited", "overloaded", "provider_error", "network"}
# The CLI's own retries off, so one request meets the body and the classifier sees it at once.
PROFILE = dataclasses.replace(
    BUILTIN["claude"], env={**BUILTIN["claude"].env, "CLAUDE_CODE_MAX_RETRIES": "0"})


@pytest.fixture(scope="module")
def worktree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return git_worktree(tmp_path_factory.mktemp("provider-bodies") / "wt")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_documented_body_through_the_real_claude_cli_classifies_as_documented(
        case: Case, worktree: Path, tmp_path: Path) -> None:
    with AnthropicStub([RawErrorTurn(case.status, case.body)]) as stub:
        run = run_attempt(RunRequest(PROFILE, "Say hello.", worktree, timeout=60.0,
                                     environ=claude_environ(tmp_path / "home", stub)))
    report = parse_report(PROFILE.report, run)
    verdict = classify(run, report, min_model_call=RetryPolicy().min_model_call,
                       now=1_800_000_000.0)
    assert run.exit_code not in (None, 0), run.stdout.text()[-500:]
    assert verdict.kind == case.kind, (verdict.rule, verdict.evidence)
    assert verdict.transient == (case.kind in TRANSIENT)
    assert report.model_invoked is not True  # a refused request is no model call
