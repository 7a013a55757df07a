"""`doctor --probe`: run each agent profile once, on a one-line prompt, in a scratch git worktree,
through the same preflight, runner, report parser and classifier as a real task. One attempt, no
retry: a probe answers "would a task reach the model right now, and if not, why"."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

from mtor_git import git
from mtor_git.agent.evidence import Classification, Report
from mtor_git.agent.profiles import AgentProfile
from mtor_git.agent.reports import parse_report
from mtor_git.agent.sandbox import NO_SANDBOX, Sandbox
from mtor_git.agent.spawn import RunRequest, preflight, run_attempt
from mtor_git.config.model import Config
from mtor_git.config.sandbox import resolve_sandbox
from mtor_git.doctor.clis import settings_text
from mtor_git.doctor.run import Check
from mtor_git.errors import ConfigError, PreflightError
from mtor_git.verdict.classify import classify, describe

PROMPT = "Reply with the single word OK. Do not read, create or change any file.\n"

_HINTS: dict[str, str] = {
    "auth": "the provider refused the credentials: check the token in the env file and that "
            "the profile passes it to the agent (requires_env, pass_env or env)",
    "quota": "billing or quota: check the provider account",
    "usage_limit": "a plan usage limit: wait for its reset, or use another profile",
    "rate_limited": "the provider is rate limiting now; tasks will back off and retry",
    "overloaded": "the provider is overloaded now; tasks will back off and retry",
    "provider_error": "the provider answered 5xx; tasks will retry; check its status page",
    "network": "the agent could not reach the provider: check network, proxy and base URL",
    "usage_error": "the agent CLI rejected its command line: fix the profile's command (an "
                   "option this CLI version does not know?)",
    "empty_failure": "the agent failed at once and said nothing: run the profile's command by "
                     "hand, as the service user, with the prompt on stdin",
    "pipeline_fault": "the agent failed faster than any model call: run the profile's command "
                      "by hand, as the service user",
    "timeout": "no answer within the probe's time limit: check the provider's endpoint",
}


def check_probes(config: Config, environ: Mapping[str, str], enabled: bool,
                 timeout: float) -> Iterator[Check]:
    try:  # the probe runs as a task would: in the sandbox the daemon would use
        sandbox = resolve_sandbox(config, environ).sandbox if enabled else NO_SANDBOX
    except ConfigError:
        sandbox = NO_SANDBOX  # the sandbox check says why; the daemon would not start
    for profile in config.agents.values():
        if not enabled:
            yield Check(f"probe {profile.name}", "skip", "--probe not given (it runs the agent "
                        "once on a one-line prompt: one real model call)")
            continue
        yield probe_agent(profile, environ, timeout=min(profile.timeout or timeout, timeout),
                          min_model_call=config.retry.min_model_call, sandbox=sandbox)


def probe_agent(profile: AgentProfile, environ: Mapping[str, str], *, timeout: float,
                min_model_call: float, sandbox: Sandbox = NO_SANDBOX) -> Check:
    name = f"probe {profile.name}"
    with tempfile.TemporaryDirectory(prefix="mtor-doctor-probe-") as tmp:
        worktree = Path(tmp).resolve() / "worktree"
        git.init_repository(worktree)
        request = RunRequest(profile=profile, prompt=PROMPT, cwd=worktree, timeout=timeout,
                             environ=environ, sandbox=sandbox)
        try:
            prepared = preflight(request)
        except PreflightError as exc:
            return Check(name, "fail", f"kind {exc.kind}: preflight refused to start it: {exc}",
                         "see the env and agent checks above")
        run = run_attempt(prepared)
    report = parse_report(profile.report, run)
    verdict = classify(run, report, min_model_call=min_model_call)
    check = _check_of(name, verdict, report, run.duration)
    settings = settings_text(profile, environ)
    return replace(check, detail=f"{check.detail}; settings: {settings}") if settings else check


def _check_of(name: str, verdict: Classification, report: Report, duration: float) -> Check:
    invoked = {True: "yes", False: "no", None: "unknown"}[report.model_invoked]
    facts = f"{duration:.1f} s, model invoked: {invoked}"
    if report.num_turns is not None:
        facts += f", turns {report.num_turns}"
    if report.cost_usd is not None:
        facts += f", cost ${report.cost_usd:.4f}"
    if verdict.succeeded:
        return Check(name, "pass", f"answered a one-line prompt ({facts})")
    nature = "transient" if verdict.transient else "terminal"
    hint = _HINTS.get(verdict.kind, describe(verdict.kind, verdict.rule))
    return Check(name, "fail", f"kind {verdict.kind} ({nature}, rule {verdict.rule}; {facts}): "
                 f"{verdict.evidence}", hint)
