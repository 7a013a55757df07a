"""Secret redaction: every value that may be a credential is replaced by `[REDACTED:NAME]` before
it reaches a report, a log line or git. StreamRedactor does the same across chunk boundaries."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from mtor_git.agent.profiles import AgentProfile

# A variable whose name says it holds a credential is secret whatever its value looks like.
SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|AUTH|CREDENTIAL|PRIVATE)",
                         re.IGNORECASE)
# Shorter values ("1", "true", "json") would shred ordinary text while protecting nothing.
MIN_SECRET_LEN = 6


def secrets_from(profile: AgentProfile, env: Mapping[str, str]) -> dict[str, str]:
    """Name -> value of everything to redact for `profile` running with `env`: its required
    and secret variables, every value of its own `env`, and any variable named like a credential."""
    found: dict[str, str] = {}

    def add(name: str, value: str | None) -> None:
        if value and len(value) >= MIN_SECRET_LEN and name not in found:
            found[name] = value

    for name in (*profile.requires_env, *profile.secret_env):
        add(name, profile.env.get(name) or env.get(name))
    for name, value in profile.env.items():
        add(name, value)
    for name, value in env.items():
        if SECRET_NAME.search(name):
            add(name, value)
    return found


class Redactor:
    """Replaces secret values in text; built once per run from name -> value."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        by_value: dict[str, str] = {}
        for name, value in (secrets or {}).items():
            if len(value) < MIN_SECRET_LEN:
                continue
            for form in _forms(value):
                by_value.setdefault(form, name)
        self._names = by_value
        # Longest first, so a secret that contains another is replaced whole.
        ordered = sorted(by_value, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None
        self.max_len = max((len(v) for v in ordered), default=0)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, s: str) -> str:
        if self._pattern is None or not s:
            return s
        return self._pattern.sub(self._replace, s)

    def argv(self, seq: Iterable[str]) -> tuple[str, ...]:
        return tuple(self.text(a) for a in seq)

    def _replace(self, match: re.Match[str]) -> str:
        return f"[REDACTED:{self._names[match.group(0)]}]"

    def stream(self) -> StreamRedactor:
        return StreamRedactor(self)

    def _matches(self, s: str) -> Iterable[re.Match[str]]:
        return self._pattern.finditer(s) if self._pattern is not None else ()


def _forms(value: str) -> tuple[str, ...]:
    """The value itself and, when different, its JSON-escaped form (how a JSON report shows it)."""
    escaped = json.dumps(value, ensure_ascii=False)[1:-1]
    return (value,) if escaped == value else (value, escaped)


class StreamRedactor:
    """Redacts a stream fed in arbitrary pieces: a secret split between two reads is still caught,
    because the last `max_len - 1` characters are held back until the next piece (or `close`)."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._hold = max(redactor.max_len - 1, 0)
        self._carry = ""

    def feed(self, piece: str) -> str:
        """Redacted text that is now safe to emit (possibly empty)."""
        if not self._redactor:
            return piece
        buf = self._carry + piece
        # Every secret starting before `cut` ends inside `buf`, so its match is complete.
        cut = len(buf) - self._hold
        out: list[str] = []
        pos = 0
        for match in self._redactor._matches(buf):
            if match.start() >= cut:
                break
            out.append(buf[pos:match.start()])
            out.append(self._redactor._replace(match))
            pos = match.end()
        safe_end = max(pos, cut)
        out.append(buf[pos:safe_end])
        self._carry = buf[safe_end:]
        return "".join(out)

    def close(self) -> str:
        rest, self._carry = self._carry, ""
        return self._redactor.text(rest)
