r"""Read and lint a systemd `EnvironmentFile=` exactly as systemd reads it, so that a line systemd
would drop (`export TOKEN=...`) or mangle is reported before the service starts without it.

The parser follows systemd's own state machine (src/basic/env-file.c, `parse_env_file_internal`)
and its later clean-up (`strv_env_clean`: invalid names dropped, the last duplicate wins):

- `KEY=VALUE` per line; whitespace around the key and around an unquoted value is discarded,
  interior whitespace kept; a line without `=` is ignored; so is a line starting with `#` or `;`.
  A `#` later in a line is part of the value (no inline comments).
- Unquoted: a backslash keeps the next character; a backslash at the end of a line continues it.
- `'...'`: everything literal up to the next `'`, newlines included. `"..."`: `\\ \" \` \$`
  unescape, a backslash-newline continues, any other backslash stays. Quoted and unquoted parts
  after the `=` concatenate; quotes after the first unquoted character are literal.
- No `$VAR` or `~` expansion at all. A NUL byte ends the file; invalid UTF-8 in a key or value
  makes systemd refuse the whole file (the unit then fails to start).
- A comment ending in a backslash: systemd < 254 (Debian 12 ships 252) also ignores the next line;
  newer versions read it. The parser follows the newer rule and warns where they differ.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]

_VALID_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPORT = re.compile(r"export[ \t]+([A-Za-z_][A-Za-z0-9_]*)")
_ASSIGNMENT_LINE = re.compile(r"^[ \t]*(?:export[ \t]+)?[A-Za-z_][A-Za-z0-9_]*[ \t]*=", re.M)
_WHITESPACE = " \t\n\r"
_NEWLINE = "\n\r"
_DQUOTE_ESCAPABLE = '"\\`$'


@dataclass(frozen=True)
class EnvProblem:
    """One finding; `line` 0 means the file as a whole."""

    path: str
    line: int
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Assignment:
    """One `KEY=VALUE` systemd parsed, valid name or not, in file order."""

    name: str
    value: str
    line: int
    valid: bool


@dataclass(frozen=True)
class EnvFile:
    """What systemd would load: `values` (valid names, last one wins), the lines each valid
    name is set on, every assignment seen, and the problems found while parsing."""

    path: str
    values: Mapping[str, str]
    lines: Mapping[str, tuple[int, ...]]
    assignments: tuple[Assignment, ...]
    problems: tuple[EnvProblem, ...] = field(default=())
    readable: bool = True


def is_valid_name(name: str) -> bool:
    return _VALID_NAME.fullmatch(name) is not None


def quote_value(value: str) -> str:
    """`value` written so systemd reads it back unchanged (double quotes, escapes where needed)."""
    escaped = "".join("\\" + c if c in _DQUOTE_ESCAPABLE else c for c in value)
    return f'"{escaped}"'


@dataclass
class _Pending:
    key: list[str]
    line: int
    value: list[str] = field(default_factory=list)
    key_trail: int | None = None  # index where the key's trailing whitespace starts
    value_trail: int | None = None  # same for an unquoted value
    quote_line: int = 0  # line of the quote still open, or of the last one opened
    multiline_quote: bool = False
    unexpanded: bool = False  # an unescaped $NAME or ${ outside single quotes
    inline_hash: bool = False  # " #" inside an unquoted value


class _Parser:
    """systemd's env-file state machine, one character at a time, keeping lines for reports."""

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.state = "pre_key"
        self.line = 1
        self.pending: _Pending | None = None
        self.out: list[tuple[_Pending, str]] = []  # (parsed, final state)
        self.problems: list[EnvProblem] = []
        self.comment_continues: int = 0  # line of a comment ending in a backslash

    def run(self) -> None:
        handlers = {
            "pre_key": self._pre_key, "key": self._key, "pre_value": self._pre_value,
            "value": self._value, "value_escape": self._value_escape,
            "single": self._single, "double": self._double, "double_escape": self._double_escape,
            "comment": self._comment, "comment_escape": self._comment_escape,
        }
        for i, c in enumerate(self.text):
            handlers[self.state](c, i)
            if c == "\n":
                self.line += 1
        # end of file: like a newline for a key or an unquoted value (trailing whitespace is
        # trimmed); an escape or a quote still open ends the value as it stands
        if self.state in ("key", "pre_value", "value"):
            handlers[self.state]("\n", len(self.text))
        elif self.state in ("value_escape", "single", "double", "double_escape"):
            self._push()

    def warn(self, line: int, message: str, severity: Severity = "warning") -> None:
        self.problems.append(EnvProblem(self.path, line, message, severity))

    def _pre_key(self, c: str, i: int) -> None:
        if c in "#;":
            self.state = "comment"
        elif c == "\n":
            self.comment_continues = 0
        elif c not in _WHITESPACE:
            if self.comment_continues:
                self.warn(self.line, f"the comment on line {self.comment_continues} ends in a "
                           "backslash: systemd before 254 (Debian 12 has 252) ignores this line "
                           "too; remove the backslash")
                self.comment_continues = 0
            self.state = "key"
            self.pending = _Pending(key=[c], line=self.line)

    def _key(self, c: str, i: int) -> None:
        p = self.pending
        assert p is not None
        if c in _NEWLINE:
            self.state = "pre_key"
            self.warn(p.line, f"no '=' in {''.join(p.key).strip()!r}: systemd ignores this line")
            self.pending = None
        elif c == "=":
            self.state = "pre_value"
        else:
            if c not in _WHITESPACE:
                p.key_trail = None
            elif p.key_trail is None:
                p.key_trail = len(p.key)
            p.key.append(c)

    def _pre_value(self, c: str, i: int) -> None:
        p = self.pending
        assert p is not None
        if c in _NEWLINE:
            self._push()
        elif c in "'\"":
            self.state = "single" if c == "'" else "double"
            p.quote_line = self.line
        elif c == "\\":
            self.state = "value_escape"
        elif c not in _WHITESPACE:
            self.state = "value"
            self._literal(c, i)

    def _value(self, c: str, i: int) -> None:
        p = self.pending
        assert p is not None
        if c in _NEWLINE:
            if p.value_trail is not None:
                del p.value[p.value_trail:]
            self._push()
        elif c == "\\":
            self.state = "value_escape"
            p.value_trail = None
        else:
            if c == "#" and p.value and p.value[-1] in " \t":
                p.inline_hash = True
            if c not in _WHITESPACE:
                p.value_trail = None
            elif p.value_trail is None:
                p.value_trail = len(p.value)
            self._literal(c, i)

    def _literal(self, c: str, i: int) -> None:
        """Append a character that came unescaped; note a `$NAME` systemd will not expand."""
        p = self.pending
        assert p is not None
        following = self.text[i + 1:i + 2]
        if c == "$" and (following in ("{", "_") or following.isalpha()):
            p.unexpanded = True
        p.value.append(c)

    def _value_escape(self, c: str, i: int) -> None:
        self.state = "value"
        if c not in _NEWLINE:
            assert self.pending is not None
            self.pending.value.append(c)

    def _single(self, c: str, i: int) -> None:
        assert self.pending is not None
        if c == "'":
            self.state = "pre_value"
        else:
            self.pending.multiline_quote |= c == "\n"
            self.pending.value.append(c)

    def _double(self, c: str, i: int) -> None:
        assert self.pending is not None
        if c == '"':
            self.state = "pre_value"
        elif c == "\\":
            self.state = "double_escape"
        else:
            self.pending.multiline_quote |= c == "\n"
            self._literal(c, i)

    def _double_escape(self, c: str, i: int) -> None:
        assert self.pending is not None
        self.state = "double"
        if c in _DQUOTE_ESCAPABLE:
            self.pending.value.append(c)
        elif c != "\n":
            self.pending.value.extend(("\\", c))

    def _comment(self, c: str, i: int) -> None:
        if c == "\\":
            self.state = "comment_escape"
        elif c in _NEWLINE:
            self.state = "pre_key"

    def _comment_escape(self, c: str, i: int) -> None:
        if c in _NEWLINE:
            self.state = "pre_key"
            self.comment_continues = self.line
        else:
            self.state = "comment"

    def _push(self) -> None:
        p = self.pending
        assert p is not None
        self.out.append((p, self.state))
        self.state = "pre_key"
        self.pending = None


def _name_of(p: _Pending) -> str:
    key = p.key[:p.key_trail] if p.key_trail is not None else p.key
    return "".join(key)


def _check(p: _Pending, final_state: str, name: str, value: str, parser: _Parser) -> None:
    """Problems with one assignment, beyond those the state machine saw on the way."""
    warn = parser.warn
    export = _EXPORT.fullmatch(name)
    if export:
        warn(p.line, f"`export {export.group(1)}=...`: systemd reads the name as "
             f"'export {export.group(1)}', which is invalid, and drops the line with only a log "
             f"message; the service starts without {export.group(1)}. Fix: remove `export`",
             "error")
    elif not is_valid_name(name):
        warn(p.line, f"invalid variable name {name!r}: systemd drops this line (names are "
             "letters, digits and _, not starting with a digit)", "error")
    if final_state in ("single", "double", "double_escape"):
        kind = "single" if final_state == "single" else "double"
        last = parser.line - parser.text.endswith("\n")
        warn(p.quote_line, f"unterminated {kind} quote in {name}: systemd reads the rest of the "
             f"file (lines {p.quote_line}-{last}) into its value", "error")
    elif p.multiline_quote and _ASSIGNMENT_LINE.search(value):
        warn(p.quote_line, f"the quote opened on line {p.quote_line} spans lines that look like "
             f"assignments: they are part of {name}'s value, not variables; close the quote")
    if p.unexpanded:
        warn(p.line, f"{name}: systemd does not expand $VARIABLES in an EnvironmentFile; the "
             "value keeps the literal '$' text. Write the value out in full")
    if value.startswith("~"):
        warn(p.line, f"{name}: systemd does not expand '~'; the program receives a literal "
             "'~'. Write the absolute path")
    if p.inline_hash:
        warn(p.line, f"{name}: a '#' after a space is part of the value, not a comment "
             "(systemd has no inline comments)")
    if any("\ud800" <= ch <= "\udfff" for ch in name + value):
        warn(p.line, f"invalid UTF-8 in {name!r}: systemd refuses to load the whole file and "
             "the service fails to start", "error")


def parse_env_text(text: str, path: str = "<env>") -> EnvFile:
    """Parse `text` as systemd would; never raises."""
    problems: list[EnvProblem] = []
    if "\x00" in text:
        nul_line = text.count("\n", 0, text.index("\x00")) + 1
        problems.append(EnvProblem(path, nul_line, "NUL byte: systemd stops reading the file "
                                   "here and ignores everything after it"))
        text = text[:text.index("\x00")]
    if text.startswith("\ufeff"):
        problems.append(EnvProblem(path, 1, "the file starts with a byte-order mark, which "
                                   "becomes part of the first name and makes systemd drop it; "
                                   "save the file without BOM"))
    parser = _Parser(text, path)
    parser.run()
    values: dict[str, str] = {}
    lines: dict[str, list[int]] = {}
    assignments: list[Assignment] = []
    for pending, final_state in parser.out:
        name, value = _name_of(pending), "".join(pending.value)
        valid = is_valid_name(name)
        _check(pending, final_state, name, value, parser)
        assignments.append(Assignment(name, value, pending.line, valid))
        if valid:
            if name in values:
                parser.warn(pending.line, f"{name} is set again (first on line "
                             f"{lines[name][0]}); systemd keeps this last value")
            values[name] = value
            lines.setdefault(name, []).append(pending.line)
    problems.extend(parser.problems)
    problems.sort(key=lambda p: p.line)
    return EnvFile(path=path, values=values, lines={k: tuple(v) for k, v in lines.items()},
                   assignments=tuple(assignments), problems=tuple(problems))


def parse_env_file(path: Path | str) -> EnvFile:
    """Parse the file at `path` as systemd would; an unreadable file is a problem, not an error."""
    shown = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        problem = EnvProblem(shown, 0, f"cannot read: {exc.strerror or exc}")
        return EnvFile(path=shown, values={}, lines={}, assignments=(), problems=(problem,),
                       readable=False)
    # surrogateescape keeps invalid bytes visible to the per-assignment UTF-8 check; systemd
    # only refuses invalid UTF-8 in keys and values, not in comments.
    return parse_env_text(data.decode("utf-8", errors="surrogateescape"), shown)


def _permission_problems(path: Path) -> list[EnvProblem]:
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return []  # already reported as unreadable
    # Group read is allowed: with `env_file:` in the config the daemon reads the file itself
    # (root:mtor-git 0640), to know that every value in it is a secret.
    if mode & 0o037:
        return [EnvProblem(str(path), 0, f"permissions {mode:04o} are looser than 0600 (or 0640 "
                           f"for the service's group): other users may read or change these "
                           f"secrets; run chmod 600 {path}", "warning")]
    return []


def lint_env_file(path: Path | str, required: Iterable[str] = ()) -> list[EnvProblem]:
    """Every problem systemd would cause with this file, plus `required` names missing or empty
    and permissions looser than 0600. Errors first by line, then warnings."""
    env = parse_env_file(path)
    problems = list(env.problems)
    for name in dict.fromkeys(required):
        if name in env.values:
            if not env.values[name]:
                problems.append(EnvProblem(env.path, env.lines[name][-1],
                                           f"{name} is empty; it is required"))
        elif env.readable:
            problems.append(EnvProblem(env.path, 0, _missing_message(env, name)))
    problems.extend(_permission_problems(Path(path)))
    return sorted(problems, key=lambda p: (p.severity != "error", p.line))


def _missing_message(env: EnvFile, name: str) -> str:
    dropped = [a.line for a in env.assignments
               if not a.valid and a.name.replace("\ufeff", "").split()[-1:] == [name]]
    if dropped:
        return (f"{name} is required but systemd will not set it: line {dropped[0]} writes it "
                "in a form systemd drops")
    return f"{name} is required but not set in this file"
