"""The rule table applied to one retry notice the CLI printed while it retries on its own: is the
error behind it terminal (stop the attempt now) or transient (let the CLI retry in its session)?"""

from __future__ import annotations

from mtor_git.agent.events import Event
from mtor_git.agent.evidence import Report, Run
from mtor_git.verdict.classify import classify

# Kinds a retry cannot fix, whichever HTTP status carried them: the attempt is stopped at once.
TERMINAL_EVENT_KINDS = frozenset({"auth", "quota", "usage_limit", "not_found", "bad_request",
                                  "prompt_too_long", "content_blocked", "usage_error"})
_LONG_AGO = 3600.0  # a retry notice comes after a provider answered: never a pipeline fault


def judge_event(event: Event) -> str | None:
    """The quoted evidence when `event` is a retry of a terminal error, else None (transient,
    unknown, or a retry without a status: a timeout)."""
    if event.kind != "retry" or event.final:
        return None
    line = event.raw or event.summary
    run = Run(argv=(), cwd="", env_names=(), started_at=0.0, duration=_LONG_AGO, exit_code=1)
    report = Report(format="event", parsed=True, is_error=True, api_error_status=event.status,
                    messages=(line,))
    verdict = classify(run, report, min_model_call=0.0)
    if verdict.transient or verdict.kind not in TERMINAL_EVENT_KINDS:
        return None
    return line
