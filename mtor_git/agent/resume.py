"""One attempt's command line: the CLI's own caps (a second line of defence behind the live
monitor) and, after a transient fault, the arguments that resume the CLI's session instead of
starting over."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from mtor_git.agent.evidence import Attempt
from mtor_git.agent.preflight import Prepared
from mtor_git.agent.profiles import CAP_ARGS_TOKEN, RESUME_ARGS_TOKEN, AgentProfile

SESSION_TOKEN = "{session_id}"
# What the CLIs say when the session to resume does not exist (any more).
_SESSION_GONE = re.compile(r"no conversation found with session id|no (?:session|thread|rollout)"
                           r"s? found|session (?:not found|does not exist)", re.IGNORECASE)
_SAFE_SESSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
RESUME_PROMPT = ("Your previous run of this task was interrupted by a transient error. Continue "
                 "from where you stopped: the changes you made so far are in the working tree. "
                 "The task, for reference:\n\n")


def attempt_command(prepared: Prepared, *, max_turns: int | None, max_cost_usd: float | None,
                    session_id: str | None = None, preface: str = RESUME_PROMPT) -> Prepared:
    """`prepared` with the cap arguments and (when `session_id`) the resume arguments spliced
    in at their tokens, or appended; the tokens themselves never reach the agent. A resumed
    prompt starts with `preface` (a fix round's or a follow-up's prompt says itself why)."""
    profile = prepared.request.profile
    caps: list[str] = []
    if max_turns is not None:
        caps += [a.replace("{max_turns}", str(max_turns)) for a in profile.max_turns_args]
    if max_cost_usd is not None:
        caps += [a.replace("{max_cost_usd}", f"{max_cost_usd:.4f}")
                 for a in profile.max_cost_args]
    resume = [a.replace(SESSION_TOKEN, session_id) for a in profile.resume_args] \
        if session_id else []
    argv = _splice(_splice(prepared.argv, CAP_ARGS_TOKEN, caps), RESUME_ARGS_TOKEN, resume)
    request = prepared.request
    if session_id:
        request = replace(request, prompt=preface + request.prompt)
    return replace(prepared, argv=argv, request=request)


def _splice(argv: tuple[str, ...], token: str, extra: list[str]) -> tuple[str, ...]:
    if token in argv:
        at = argv.index(token)
        return (*argv[:at], *extra, *(a for a in argv[at + 1:] if a != token))
    return (*argv, *extra)


def resumable_session(attempt: Attempt, profile: AgentProfile) -> str | None:
    """The session the next attempt may resume: the attempt failed transiently after the model
    ran, the profile knows how to resume, and the CLI reported a plausible session id."""
    verdict = attempt.classification
    if not profile.resume_args or not verdict.transient or attempt.model_invoked is not True:
        return None
    live = attempt.run.live
    logged = live.log.totals.session_id if live is not None and live.log is not None else None
    session = attempt.report.session_id or logged
    return session if session and _SAFE_SESSION.fullmatch(session) else None


def session_to_continue(attempts: Sequence[Attempt], profile: AgentProfile) -> str | None:
    """The session a later round of the same task may continue (a verify fix round): the last
    attempt's, when it ran `profile` (a fallback's session is another CLI's), reached the model,
    and the profile knows how to resume."""
    last = attempts[-1] if attempts else None
    if last is None or not profile.resume_args or last.profile != profile.name \
            or last.model_invoked is not True:
        return None
    live = last.run.live
    logged = live.log.totals.session_id if live is not None and live.log is not None else None
    return safe_session(last.report.session_id or logged)


def safe_session(session: str | None) -> str | None:
    """`session` when it can go on a command line as one plain argument, else None."""
    return session if session and _SAFE_SESSION.fullmatch(session) else None


def resume_refused(attempt: Attempt) -> bool:
    """The CLI refused to resume: the session is gone (it says so, and did nothing else)."""
    if attempt.resumed_from is None or attempt.classification.succeeded:
        return False
    texts = (*attempt.report.messages, attempt.run.stderr.text(), attempt.run.stdout.tail,
             attempt.run.stdout.head)
    return any(_SESSION_GONE.search(t) for t in texts if t)
