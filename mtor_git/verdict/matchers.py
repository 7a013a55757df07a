"""The pieces rules are built from: the facts one attempt offers (Facts), what a match quotes
(Evidence), a Rule row, and the matchers that read run fields, report fields and text lines."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from mtor_git.agent.evidence import Report, Run, StoppedBy

EVIDENCE_MAX = 300
STRUCTURED_FORMATS = frozenset({"claude-json", "claude-stream-json", "codex-jsonl"})


class Evidence(NamedTuple):
    source: str
    snippet: str

    def __str__(self) -> str:
        return f"{self.source}: {self.snippet}"


@dataclass(frozen=True)
class Facts:
    """What the rules look at: the run, the report, and the error lines worth reading."""

    run: Run
    report: Report
    lines: tuple[tuple[str, str], ...]  # (source, line); non-final retry notices dropped
    folded: tuple[str, ...]  # the lines lower-cased: matching them is ~7x faster than re.I
    min_model_call: float

    def find(self, folded_rx: re.Pattern[str], rx: re.Pattern[str]) -> Evidence | None:
        for (source, line), low in zip(self.lines, self.folded, strict=True):
            # lower() keeps match offsets valid only when it keeps the length (not for all of
            # Unicode); otherwise match the line itself, case-insensitively.
            m = folded_rx.search(low) if len(low) == len(line) else rx.search(line)
            if m:
                return Evidence(source, snippet(line, m))
        return None


Matcher = Callable[[Facts], Evidence | None]


@dataclass(frozen=True)
class Rule:
    """One row: a name, the kind it decides, whether that kind is retried, a one-line reason,
    the matcher, and where its vocabulary comes from (a provider's documentation, a measurement)."""

    name: str
    kind: str
    transient: bool
    reason: str
    match: Matcher
    source: str = "mtor-git's own evidence (the run and the agent's parsed report)"


def snippet(line: str, m: re.Match[str]) -> str:
    """At most EVIDENCE_MAX characters of `line` around the match, kept a substring of `line`."""
    if len(line) > EVIDENCE_MAX:
        start = max(0, min(m.start() - 80, len(line) - EVIDENCE_MAX))
        line = line[start:start + EVIDENCE_MAX]
    return line.strip()


def text(*patterns: str) -> Matcher:
    """Any of `patterns`, case-insensitively, in one error line."""
    source = "|".join(f"(?:{p})" for p in patterns)
    rx = re.compile(source, re.IGNORECASE)
    folded_rx = re.compile(re.sub(r"(?<!\\)[A-Z]", lambda m: m.group().lower(), source))

    def match(f: Facts) -> Evidence | None:
        return f.find(folded_rx, rx)
    return match


# ---- structured matchers (run and report fields) ----------------------------------------------

def stopped(by: StoppedBy) -> Matcher:
    def match(f: Facts) -> Evidence | None:
        if f.run.stopped_by != by:
            return None
        return Evidence("run.stopped_by", f"{by} after {f.run.duration:.1f}s")
    return match


def live_stop(by: str) -> Matcher:
    """The live monitor stopped the agent (`run.stopped_by`), quoting why."""
    def match(f: Facts) -> Evidence | None:
        if f.run.stopped_by != by:
            return None
        why = f.run.live.stop_evidence if f.run.live is not None else None
        if not why:
            return Evidence("run.stopped_by", f"{by} after {f.run.duration:.1f}s")
        return Evidence("run.live", why[:EVIDENCE_MAX])
    return match


def spawn(*names: str, cwd: bool | None = None) -> Matcher:
    """A failed exec; `cwd` selects errors that name the working directory (or exclude them)."""
    def match(f: Facts) -> Evidence | None:
        err = f.run.spawn_error
        if err is None or (names and not any(n in err for n in names)):
            return None
        if cwd is not None and (f"'{f.run.cwd}'" in err) != cwd:
            return None
        return Evidence("run.spawn_error", err[:EVIDENCE_MAX])
    return match


def killed(f: Facts) -> Evidence | None:
    sig = f.run.signal
    if sig is None or f.run.stopped_by is not None:
        return None
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = "unknown signal"
    return Evidence("run.signal", f"{sig} ({name})")


def exited_zero(f: Facts) -> bool:
    r = f.run
    return r.exit_code == 0 and r.signal is None and r.spawn_error is None


def succeeded(f: Facts) -> Evidence | None:
    if not exited_zero(f) or f.report.is_error or f.report.permission_denials or f.lines:
        return None
    if f.report.format in STRUCTURED_FORMATS and not f.report.parsed:
        return None
    return Evidence("run.exit_code", "0, and the report shows no error")


def edit_blocked(f: Facts) -> Evidence | None:
    if not exited_zero(f) or f.report.is_error or f.lines or not f.report.permission_denials:
        return None
    return Evidence("report.permission_denials", str(f.report.permission_denials))


def refused(f: Facts) -> Evidence | None:
    """The agent's own tooling refused a write, whatever its exit code and closing words said."""
    if not f.report.refusals:
        return None
    more = len(f.report.refusals) - 1
    quote = f.report.refusals[0][:EVIDENCE_MAX] + (f" (and {more} more)" if more else "")
    return Evidence("report.refusals", quote)


def exit0_without_report(f: Facts) -> Evidence | None:
    rep = f.report
    if not exited_zero(f) or rep.parsed or rep.format not in STRUCTURED_FORMATS or f.lines:
        return None
    return Evidence("report.parsed", f"False: exit 0 but no {rep.format} report was found")


def empty_failure(f: Facts) -> Evidence | None:
    r = f.run
    if r.exit_code in (None, 0) or f.report.parsed or f.report.messages:
        return None
    if r.stdout.text().strip() or r.stderr.text().strip():
        return None
    return Evidence("run", f"exit {r.exit_code} with empty stdout and stderr after "
                           f"{r.duration:.2f}s and no report")


def exit_127(f: Facts) -> Evidence | None:
    return Evidence("run.exit_code", "127 (command not found)") if f.run.exit_code == 127 else None


def status(*codes: int | range) -> Matcher:
    def match(f: Facts) -> Evidence | None:
        status = f.report.api_error_status
        if status is None or not any(status == c if isinstance(c, int) else status in c
                                     for c in codes):
            return None
        return Evidence("report.api_error_status", str(status))
    return match


def field(name: str, *needles: str) -> Matcher:
    """A report string field (subtype, terminal_reason) that contains one of `needles`."""
    def match(f: Facts) -> Evidence | None:
        value = getattr(f.report, name)
        if isinstance(value, str) and any(n in value.lower() for n in needles):
            return Evidence(f"report.{name}", value[:EVIDENCE_MAX])
        return None
    return match


def either(*matchers: Matcher) -> Matcher:
    def match(f: Facts) -> Evidence | None:
        for m in matchers:
            found = m(f)
            if found is not None:
                return found
        return None
    return match


def faster_than_model_call(f: Facts) -> Evidence | None:
    rep, r = f.report, f.run
    if r.duration >= f.min_model_call:
        return None
    if rep.parsed and (rep.api_error_status is not None or rep.model_invoked is True):
        return None
    if rep.parsed and rep.is_error and rep.messages:
        # The agent's own structured report of an API error (Claude reports a 529 with a null
        # status): a provider answered, however quickly, so the text rules judge it.
        return None
    return Evidence("run.duration", f"{r.duration:.3f}s < min_model_call {f.min_model_call:g}s, "
                                    "and no structured report of a model or provider response")


def reported_error(f: Facts) -> Evidence | None:
    if f.lines and (f.report.is_error or exited_zero(f)):
        source, line = f.lines[0]
        return Evidence(source, line.strip()[:EVIDENCE_MAX])
    if f.report.is_error:
        return Evidence("report.is_error", "True")
    return None


def anything(f: Facts) -> Evidence | None:
    for source, line in reversed(f.lines):
        if line.strip():
            return Evidence(source, line.strip()[-EVIDENCE_MAX:])
    r = f.run
    return Evidence("run", f"exit {r.exit_code}, signal {r.signal}, no recognised message")
