"""Expand `~` and `${VAR}` exactly once, at ingest: nothing unexpanded reaches a subprocess."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class UnsetVariable(ValueError):
    """A `${VAR}` names a variable that is not set (or is empty)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"${{{name}}} is not set")


def expand_vars(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace every `${VAR}`; an unset or empty variable raises UnsetVariable.

    Only the braced form is expanded: a bare `$` stays literal (tokens may contain one).
    The result is not scanned again, so a value containing `${X}` is never expanded twice.
    """
    env = os.environ if environ is None else environ

    def sub(match: re.Match[str]) -> str:
        value = env.get(match.group(1), "")
        if not value:
            raise UnsetVariable(match.group(1))
        return value

    return _VAR.sub(sub, text)


def expand_path(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`${VAR}` then a leading `~` / `~user`; the result is absolute when the input pointed home."""
    expanded = expand_vars(text, environ)
    if expanded.startswith("~"):
        env = os.environ if environ is None else environ
        if expanded == "~" or expanded.startswith("~/"):
            home = env.get("HOME") or os.path.expanduser("~")
            expanded = home + expanded[1:]
        else:
            expanded = os.path.expanduser(expanded)
    return expanded


def referenced_vars(text: str) -> list[str]:
    """Names of every `${VAR}` in `text`, in order."""
    return _VAR.findall(text)
