"""Parse and validate a task spec (`tasks/<id>.md`): YAML frontmatter, then the prompt.

Pure: bytes in, a Spec or a SpecError listing every `path:line: field: message` out.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mtor_git.durations import parse_duration
from mtor_git.errors import Problem, SpecError
from mtor_git.spec.yamlload import Located, YamlProblem, load

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.-]+")  # a key shown as the problem's field as it is

ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
# Run N of task <id> lives on branch mtor/<id>-r<N>: an id ending so would collide with it.
RESERVED_SUFFIX = re.compile(r"-r[0-9]+$")
PROFILE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
REF_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./@+-]{0,199}")
DEFAULT_MAX_BYTES = 256 * 1024
MAX_ATTEMPTS_CAP = 100
MAX_TURNS_CAP = 10_000

# Every key a spec may carry, with a one-line meaning (the JSON Schema mirrors this table).
KEYS: dict[str, str] = {
    "id": "the task id; must equal the file name without .md",
    "title": "a one-line title for the result and the pull request",
    "agent": "name of an agent profile configured on the worker",
    "model": "model name handed to the profile",
    "timeout": "wall-clock limit per attempt (90s, 20m, 1h30m), capped by the worker",
    "max_attempts": "attempt budget, capped by the worker",
    "base": "branch or commit to start from (default: the commit that added the spec)",
    "max_cost_usd": "stop when the agent's reported cost exceeds this many US dollars",
    "verify": "command(s) that must pass in the checkout after the agent (e.g. `pytest -q`)",
    "fix_rounds": "agent rounds allowed to fix a failing verify command (default 2)",
    "continues": "id of a task whose branch this one continues (a follow-up on the same PR)",
    "depends_on": "ids of tasks that must succeed before this one starts",
    "max_turns": "stop the agent when its turns (model calls) pass this many, over all attempts",
}
MAX_FIX_ROUNDS = 10
MAX_VERIFY_COMMANDS = 20
MAX_DEPENDENCIES = 50


@dataclass(frozen=True)
class Spec:
    """A valid task spec. `prompt` is the body only; the frontmatter never reaches the agent."""

    id: str
    path: str
    prompt: str
    sha256: str
    title: str | None = None
    agent: str | None = None
    model: str | None = None
    timeout: float | None = None
    max_attempts: int | None = None
    base: str | None = None
    max_cost_usd: float | None = None
    verify: tuple[str, ...] = ()
    fix_rounds: int | None = None
    continues: str | None = None
    depends_on: tuple[str, ...] = ()
    max_turns: int | None = None
    # Where each key stands in the file, for problems found across specs (dependency cycles).
    key_lines: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)

    def line_of(self, key: str) -> int:
        return next((line for name, line in self.key_lines if name == key), 1)

    @property
    def prerequisites(self) -> tuple[str, ...]:
        """The tasks that must end before this one starts: its dependencies and the task it
        continues."""
        before = self.depends_on + ((self.continues,) if self.continues else ())
        return tuple(dict.fromkeys(before))


def ref_component_problem(component: str) -> str | None:
    """Why git's check-ref-format refuses `component` as one ref-name component, or None.

    The rules of git-check-ref-format(1) for a single component: not empty, no leading '.',
    no '..', no '.lock' suffix, no trailing '.', no '@{', no control character, space, DEL or
    any of ~ ^ : ? * [ \\ /. ('@' alone is refused as a whole ref name only: `refs/mtor/@` is
    a good one.)
    """
    if not component:
        return "is empty"
    bad = next((c for c in component if ord(c) < 0x20 or ord(c) == 0x7F or c in " ~^:?*[\\/"),
               None)
    checks = ((bad is not None, f"holds {bad!r}, which git forbids in a ref name"),
              (component.startswith("."), "starts with '.'"),
              (".." in component, "holds '..'"),
              (component.endswith(".lock"), "ends in '.lock'"),
              (component.endswith("."), "ends in '.'"),
              ("@{" in component, "holds '@{'"))
    return next((message for failed, message in checks if failed), None)


def is_valid_id(task_id: str) -> bool:
    """Can `task_id` name a task (and so its refs: claims/<id>, mtor/<id>)?"""
    return bool(ID_RE.fullmatch(task_id)) and ref_component_problem(task_id) is None \
        and not RESERVED_SUFFIX.search(task_id)


def is_spec_path(path: str, tasks_dir: str = "tasks") -> bool:
    """True for `<tasks_dir>/<name>.md` directly inside the tasks directory (README.md excepted)."""
    p = PurePosixPath(path)
    return (str(p.parent) == tasks_dir.strip("/") and p.suffix == ".md"
            and p.name.lower() != "readme.md")


def parse_spec(raw: bytes, path: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Spec:
    """Validate `raw` as the spec stored at `path`; raise SpecError with every problem found."""
    problems: list[Problem] = []
    stem_id = _check_name(path, problems)
    text = _decode(raw, path, max_bytes, problems)
    if text is None:
        raise SpecError(problems)
    front, body, body_line = _split(text, path, problems)
    if front is None:
        raise SpecError(problems)
    fields = _check_fields(front, path, stem_id, problems)
    fields["key_lines"] = tuple((k, front.line((k,))) for k in front.data if isinstance(k, str))
    if not body.strip():
        problems.append(Problem(path, body_line, "body", "the prompt (text after the closing "
                                "`---`) is empty"))
    if problems:
        raise SpecError(problems)
    return Spec(id=stem_id, path=path, prompt=body,
                sha256=hashlib.sha256(raw).hexdigest(), **fields)


@functools.lru_cache(maxsize=4096)
def valid_spec(raw: bytes, path: str) -> Spec | None:
    """The spec `raw` stored at `path`, or None when it is invalid; parsed once per content:
    the worker reads a waiting spec again every cycle, a follow-up's lane reads its mates', and
    the same bytes always parse the same (whoever must say why reads `parse_spec`)."""
    try:
        return parse_spec(raw, path)
    except SpecError:
        return None


def read_spec_file(path: Path, *, display: str | None = None,
                   max_bytes: int = DEFAULT_MAX_BYTES) -> Spec:
    """Read and validate a spec on disk without following symlinks or reading past the cap."""
    shown = display or str(path)
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise SpecError([Problem(shown, 1, "file", f"cannot read: {exc.strerror}")]) from None
    if stat.S_ISLNK(st.st_mode):
        raise SpecError([Problem(shown, 1, "file", "is a symlink; specs must be regular files")])
    if not stat.S_ISREG(st.st_mode):
        raise SpecError([Problem(shown, 1, "file", "is not a regular file")])
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read(max_bytes + 1)
    return parse_spec(raw, shown, max_bytes=max_bytes)


def _check_name(path: str, problems: list[Problem]) -> str:
    name = PurePosixPath(path.replace(os.sep, "/")).name
    stem = name[:-3] if name.endswith(".md") else name
    if not name.endswith(".md"):
        problems.append(Problem(path, 1, "id", "a spec file name must end in .md"))
    elif not ID_RE.fullmatch(stem) or ".." in stem:
        problems.append(Problem(path, 1, "id", f"{stem!r} is not a valid task id: use 1-64 of "
                                "a-z 0-9 . _ - , starting with a letter or digit, no '..'"))
    elif (why := ref_component_problem(stem)) is not None:
        problems.append(Problem(path, 1, "id", f"{stem!r} cannot name a git ref: it {why} "
                                "(git check-ref-format)"))
    elif RESERVED_SUFFIX.search(stem):
        problems.append(Problem(path, 1, "id", f"{stem!r} ends like a retry branch (-r<N>), "
                                "which is reserved: mtor/<id>-r<N> holds run N of task <id>"))
    return stem


def _decode(raw: bytes, path: str, max_bytes: int, problems: list[Problem]) -> str | None:
    if len(raw) > max_bytes:
        problems.append(Problem(path, 1, "file", f"larger than the {max_bytes // 1024} KiB cap"))
        return None
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        problems.append(Problem(path, line, "file", "binary content (NUL byte); specs are text"))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem(path, line, "file", f"not valid UTF-8 (byte {exc.start})"))
        return None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n")


def _split(text: str, path: str, problems: list[Problem]) -> tuple[Located | None, str, int]:
    lines = text.split("\n")
    if lines[0].rstrip() != "---":
        problems.append(Problem(path, 1, "frontmatter", "must open on line 1 with a `---` line"))
        return None, "", 1
    for index in range(1, len(lines)):
        if lines[index].rstrip() == "---":
            break
    else:
        problems.append(Problem(path, 1, "frontmatter", "is never closed by a `---` line"))
        return None, "", 1
    body = "\n".join(lines[index + 1:])
    try:
        located = load("\n".join(lines[1:index]), first_line=2)
    except YamlProblem as exc:
        problems.append(Problem(path, exc.line, "frontmatter", exc.message))
        return None, body, index + 2
    if located.data is None:
        located.data = {}
    if not isinstance(located.data, dict):
        problems.append(Problem(path, 2, "frontmatter", "must be a mapping of key: value lines"))
        return None, body, index + 2
    return located, body, index + 2


def _check_fields(front: Located, path: str, stem_id: str,
                  problems: list[Problem]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in front.data.items():
        line = front.line((key,))
        if isinstance(key, str) and not key.strip():
            problems.append(Problem(path, line, repr(key), f"empty key {key!r}: every "
                                    "frontmatter line needs a field name before the ':'"))
            continue
        if key not in KEYS:
            hint = difflib.get_close_matches(key, list(KEYS), n=1)
            tip = f"; did you mean {hint[0]!r}?" if hint else f"; known keys: {', '.join(KEYS)}"
            if _PLAIN_KEY.fullmatch(key):
                problems.append(Problem(path, line, key, f"unknown key{tip}"))
            else:  # a key such as ':' or one with a newline would garble `path:line: field:`
                problems.append(Problem(path, line, "frontmatter", f"unknown key {key!r}{tip}"))
            continue
        try:
            converted = _convert(key, value, stem_id)
        except OverflowError:  # float() of an integer with hundreds of digits
            problems.append(Problem(path, line, key, "number too large"))
            continue
        except ValueError as exc:
            problems.append(Problem(path, line, key, str(exc)))
            continue
        if key != "id":
            fields[key] = converted
    return fields


def _convert(key: str, value: Any, stem_id: str) -> Any:
    if key in ("verify", "depends_on"):
        return _text_list(key, value, stem_id)
    if key == "fix_rounds":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {_shown(value)}")
        if not 0 <= value <= MAX_FIX_ROUNDS:
            raise ValueError(f"must be between 0 and {MAX_FIX_ROUNDS}")
        return value
    if key == "continues":
        if not isinstance(value, str) or not is_valid_id(value):
            raise ValueError(f"{_shown(value)} is not a task id")
        if value == stem_id:
            raise ValueError("a task cannot continue itself")
        return value
    if key == "timeout":
        return parse_duration(value)
    if key in ("max_attempts", "max_turns"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {_shown(value)}")
        top = MAX_ATTEMPTS_CAP if key == "max_attempts" else MAX_TURNS_CAP
        if not 1 <= value <= top:
            raise ValueError(f"must be between 1 and {top}")
        return value
    if key == "max_cost_usd":
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 \
                or not math.isfinite(value):
            raise ValueError(f"expected a positive number of dollars, got {_shown(value)}")
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected non-empty text, got {_shown(value)}")
    if key == "id" and value != stem_id:
        raise ValueError(f"{value!r} disagrees with the file name (id {stem_id!r})")
    if key == "agent" and not PROFILE_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a profile name")
    if key == "base" and (not REF_RE.fullmatch(value) or ".." in value or value.endswith(".lock")):
        raise ValueError(f"{value!r} is not a branch name or commit")
    if key == "title" and "\n" in value.strip():
        raise ValueError("must be one line")
    return value.strip() if key == "title" else value


def _text_list(key: str, value: Any, stem_id: str) -> tuple[str, ...]:
    """`verify` (commands) and `depends_on` (task ids): one text or a list of texts."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ValueError(f"expected a text or a non-empty list of texts, got {_shown(value)}")
    limit = MAX_VERIFY_COMMANDS if key == "verify" else MAX_DEPENDENCIES
    if len(items) > limit:
        raise ValueError(f"at most {limit} entries")
    out: list[str] = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"every entry must be non-empty text, got {_shown(item)}")
        if key == "verify" and ("\n" in item.strip() or "\x00" in item):
            raise ValueError("one command per entry, on one line")
        if key == "depends_on":
            if not is_valid_id(item):
                raise ValueError(f"{item!r} is not a task id")
            if item == stem_id:
                raise ValueError("a task cannot depend on itself")
            if item in out:
                raise ValueError(f"{item!r} is listed twice")
        out.append(item.strip() if key == "verify" else item)
    return tuple(out)


def _shown(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int beyond Python's digit limit (e.g. a long 0x... literal)
        text = "(too long to show)"
    return f"{type(value).__name__} {text[:40]}"


def skeleton(task_id: str, *, agent: str | None = None) -> str:
    """A new spec that validates: frontmatter with the common keys, and a body to replace."""
    lines = ["---", f"title: {_plain(task_id.replace('-', ' ').capitalize())}"]
    lines.append(f"agent: {_plain(agent)}" if agent else
                 "# agent: claude        # a profile on the worker")
    lines += [
        "# model: glm-5.1       # optional, handed to the profile",
        "timeout: 20m",
        "max_attempts: 3",
        "# base: main          # optional: branch or commit to start from",
        "# verify: pytest -q    # optional: must pass after the agent (fix_rounds: 2 retries)",
        "# depends_on: [other-task]   # optional: start after these succeeded",
        "# continues: earlier-task    # optional: a follow-up on that task's branch and PR",
        "# max_cost_usd: 2.5   # optional: stop the agent the moment its cost passes this",
        "# max_turns: 40       # optional: stop the agent when its turns pass this",
        "---",
        "Describe the change you want, as you would to a colleague.",
        "",
    ]
    return "\n".join(lines)


def _plain(text: str) -> str:
    """`text` as a YAML value that reads back as that string (`1`, `True`, `.inf` need quotes)."""
    try:
        if load(text).data == text:
            return text
    except YamlProblem:
        pass
    return json.dumps(text, ensure_ascii=False)
