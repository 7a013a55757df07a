"""Typed access to the located YAML of a config file: every failure a ConfigError that names
the file, the line and the dotted field. A loader reads each field through `attempt`, so one bad
field is recorded and the others are still read: `problems()` holds every one, like `validate`."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mtor_git.config.expand import UnsetVariable, expand_path, expand_vars
from mtor_git.durations import parse_duration
from mtor_git.errors import ConfigError
from mtor_git.spec.yamlload import KeyPath, Located

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # a repository folder or profile name
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class FieldError(ConfigError):
    """One field's problem, `file:line: field: message`; `line` orders a report of several."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


class Reader:
    """Typed access to the located YAML, raising ConfigError as `file:line: field: message`."""

    def __init__(self, located: Located, source: str, environ: Mapping[str, str]) -> None:
        self.located, self.source, self.environ = located, source, environ
        self._problems: list[ConfigError] = []

    def fail(self, path: KeyPath, message: str) -> FieldError:
        field_name = ".".join(str(p) for p in path) or "config"
        line = self.located.line(path)
        return FieldError(f"{self.source}:{line}: {field_name}: {message}", line)

    def note(self, problem: ConfigError) -> None:
        """Record a problem and go on reading the other fields."""
        self._problems.append(problem)

    def attempt(self, read: Callable[[], Any], fallback: Any = None) -> Any:
        """`read()`, or `fallback` with its problem recorded."""
        try:
            return read()
        except ConfigError as exc:
            self.note(exc)
            return fallback

    def problems(self) -> list[ConfigError]:
        return list(self._problems)

    def check(self) -> None:
        """Raise one ConfigError naming every problem recorded, a line each, in file order."""
        if not self._problems:
            return
        ordered = sorted(self._problems, key=lambda p: p.line if isinstance(p, FieldError) else 0)
        lines = list(dict.fromkeys(str(p) for p in ordered))
        raise ConfigError("\n".join(lines))

    def mapping(self, value: Any, path: KeyPath, keys: tuple[str, ...]) -> dict[str, Any]:
        """The known keys of a mapping; each unknown key is recorded as a problem."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(path, "expected a mapping")
        known = {}
        for key, item in value.items():
            if key in keys:
                known[key] = item
                continue
            hint = difflib.get_close_matches(str(key), list(keys), n=1)
            tip = f"; did you mean {hint[0]!r}?" if hint else f"; known: {', '.join(keys)}"
            self.note(self.fail((*path, key), f"unknown key{tip}"))
        return known

    def typed(self, value: Any, path: KeyPath, kind: type | tuple[type, ...], what: str) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise self.fail(path, f"expected {what}, got a boolean")
        if not isinstance(value, kind):
            raise self.fail(path, f"expected {what}, got {type(value).__name__}")
        return value

    def duration(self, value: Any, path: KeyPath, *, allow_zero: bool = False) -> float:
        try:
            return parse_duration(value, allow_zero=allow_zero)
        except ValueError as exc:
            raise self.fail(path, str(exc)) from None

    def count(self, value: Any, path: KeyPath, minimum: int = 1) -> int:
        number: int = self.typed(value, path, int, "a whole number")
        if number < minimum:
            raise self.fail(path, f"must be at least {minimum}")
        return number

    def text(self, value: Any, path: KeyPath) -> str:
        result: str = self.typed(value, path, str, "text")
        try:
            return expand_vars(result, self.environ)
        except UnsetVariable as exc:
            raise self.fail(path, f"{exc} in the daemon's environment") from None

    def path(self, value: Any, path: KeyPath) -> Path:
        raw: str = self.typed(value, path, str, "a path")
        try:
            expanded = expand_path(raw, self.environ)
        except UnsetVariable as exc:
            raise self.fail(path, f"{exc} in the daemon's environment") from None
        if not os.path.isabs(expanded):
            base = Path(self.source).parent if self.source != "<config>" else Path.cwd()
            expanded = str(base / expanded)
        return Path(os.path.normpath(expanded))

    def names(self, value: Any, path: KeyPath) -> tuple[str, ...]:
        items = self.typed(value, path, list, "a list of variable names")
        for index, item in enumerate(items):
            if not isinstance(item, str) or not ENV_NAME.fullmatch(item):
                raise self.fail((*path, index), f"{item!r} is not an environment variable name")
        return tuple(items)
