"""The task spec parser (`mtor_git.spec.parse`): what it accepts, what it refuses, how it says so.

Each refusal must name `path:line: field: message`; no input may crash it; the frontmatter must
never leak into the prompt (the incident: a spec's `---` reached an agent as an argv flag)."""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mtor_git.errors import Problem, SpecError
from mtor_git.spec import yamlload
from mtor_git.spec.parse import (
    DEFAULT_MAX_BYTES,
    KEYS,
    PROFILE_RE,
    REF_RE,
    Spec,
    is_spec_path,
    parse_spec,
    read_spec_file,
    skeleton,
)

PATH = "tasks/fix-table.md"
# One line per problem: `path:line: field: message` (a field is the key as the user wrote it).
PROBLEM_LINE = re.compile(
    r"^(?P<path>[^:\n]+):(?P<line>[1-9][0-9]*): (?P<field>[^\n]+?): \S[^\n]*$")

LOADERS = ["python"] + (["libyaml"] if yaml.__with_libyaml__ else [])


@pytest.fixture(params=LOADERS, autouse=True)
def yaml_loader(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run every test with the pure-Python loader and with libyaml: both must behave the same."""
    saved = yamlload._LOADER
    if request.param == "python":
        yamlload._LOADER = yamlload._PyLoader
    yield request.param
    yamlload._LOADER = saved


def spec(front: str, body: str = "Do the thing.\n") -> bytes:
    return f"---\n{front}---\n{body}".encode()


def problems_of(raw: bytes, path: str = PATH) -> list[Problem]:
    with pytest.raises(SpecError) as info:
        parse_spec(raw, path)
    problems = list(info.value.problems)
    assert problems, "a SpecError must carry at least one problem"
    for problem in problems:
        assert PROBLEM_LINE.match(str(problem)), str(problem)
        assert problem.path == path
    return problems


def only_problem(raw: bytes, path: str = PATH) -> Problem:
    problems = problems_of(raw, path)
    assert len(problems) == 1, problems
    return problems[0]


# --- accepted specs ---------------------------------------------------------------------------

def test_full_spec_is_parsed_into_fields() -> None:
    raw = spec("id: fix-table\ntitle: Guard spanned cells \nagent: claude\nmodel: glm-5.1\n"
               "timeout: 20m\nmax_attempts: 3\nbase: main\nmax_cost_usd: 2.5\n",
               "Free Markdown.\n")
    parsed = parse_spec(raw, PATH)
    assert parsed == Spec(id="fix-table", path=PATH, prompt="Free Markdown.\n",
                          sha256=parsed.sha256, title="Guard spanned cells", agent="claude",
                          model="glm-5.1", timeout=1200.0, max_attempts=3, base="main",
                          max_cost_usd=2.5)
    assert len(parsed.sha256) == 64


def test_empty_frontmatter_is_allowed() -> None:
    parsed = parse_spec(b"---\n---\nJust the prompt.\n", PATH)
    assert parsed.prompt == "Just the prompt.\n"
    assert parsed.title is None and parsed.timeout is None


@pytest.mark.parametrize(("text", "seconds"), [
    ("20m", 1200.0), ("1h30m", 5400.0), ("90s", 90.0), ("250ms", 0.25), ("1.5s", 1.5),
    ("2d", 172800.0), ("45", 45.0),
])
def test_durations_are_read_as_seconds(text: str, seconds: float) -> None:
    assert parse_spec(spec(f"timeout: {text}\n"), PATH).timeout == seconds


@pytest.mark.parametrize("text", ["20 minutes", "0s", "m20", "30m1h", "1h1h", "-5m", "true", "[]",
                                  "''", "0", ".nan", ".inf"])
def test_bad_durations_are_refused_on_their_line(text: str) -> None:
    problem = only_problem(spec(f"title: t\ntimeout: {text}\n"))
    assert (problem.line, problem.field) == (3, "timeout")


def test_bom_and_crlf_are_accepted_and_never_reach_the_prompt() -> None:
    raw = "\ufeff---\r\ntitle: Windows\r\ntimeout: 90s\r\n---\r\nLine one\r\nLine two\r\n"
    parsed = parse_spec(raw.encode("utf-8"), PATH)
    assert parsed.title == "Windows"
    assert parsed.timeout == 90.0
    assert parsed.prompt == "Line one\nLine two\n"


def test_body_with_dash_lines_and_leading_dashes_is_kept_intact() -> None:
    body = "---\n- item one\n--- \n---\n-x: not yaml\n"
    assert parse_spec(spec("title: t\n", body), PATH).prompt == body


def test_closing_line_may_carry_trailing_spaces() -> None:
    assert parse_spec(b"--- \ntitle: t\n---\t\nbody\n", PATH).prompt == "body\n"


# --- the file name is the id -------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "a", "0", "fix-table", "v1.2_rc-3", "a" * 64, "x.r1", "fix-r", "fix-ra",
])
def test_valid_ids(name: str) -> None:
    assert parse_spec(spec("title: t\n"), f"tasks/{name}.md").id == name


@pytest.mark.parametrize("name", [
    "a..b", "..", "Fix-table", "fix_TABLE", "fix-t\u0430ble",  # Cyrillic a, looks like Latin a
    "a" * 65, "-lead", ".hidden", "_under", "sp ace", "fix-r2", "fix-r10", "caf\u00e9", "",
])
def test_invalid_ids_are_refused_on_line_1(name: str) -> None:
    path = f"tasks/{name}.md"
    problem = only_problem(spec("title: t\n"), path)
    assert (problem.line, problem.field) == (1, "id")
    assert repr(name) in problem.message


def test_file_name_must_end_in_md() -> None:
    problem = only_problem(spec("title: t\n"), "tasks/fix.txt")
    assert (problem.line, problem.field) == (1, "id")


@pytest.mark.parametrize("value", ["other", "fix/table", "../fix-table", "Fix-table",
                                   "fix-t\u0430ble"])
def test_id_field_must_equal_the_file_stem(value: str) -> None:
    problem = only_problem(spec(f"title: t\nid: {value}\n"))
    assert (problem.line, problem.field) == (3, "id")
    assert "file name" in problem.message


def test_id_field_equal_to_the_stem_is_accepted() -> None:
    assert parse_spec(spec("id: fix-table\n"), PATH).id == "fix-table"


@pytest.mark.parametrize(("path", "expected"), [
    ("tasks/a.md", True), ("tasks/README.md", False), ("tasks/readme.md", False),
    ("tasks/sub/a.md", False), ("a.md", False), ("tasks/a.txt", False), ("docs/tasks/a.md", False),
    ("tasks/a/b.md", False),
])
def test_is_spec_path(path: str, expected: bool) -> None:
    assert is_spec_path(path) is expected


# --- frontmatter shape -------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "line", "field"), [
    (b"title: t\n---\nbody\n", 1, "frontmatter"),          # no opening line
    (b"\n---\ntitle: t\n---\nbody\n", 1, "frontmatter"),   # opening not on line 1
    (b"---\ntitle: t\nbody\n", 1, "frontmatter"),          # never closed
    (b"---\n- a\n- b\n---\nbody\n", 2, "frontmatter"),     # a list, not a mapping
    (b"---\njust text\n---\nbody\n", 2, "frontmatter"),    # a scalar, not a mapping
    (b"---\ntitle: t\n---\n", 4, "body"),                   # empty prompt
    (b"---\ntitle: t\n---\n  \n\t\n", 4, "body"),           # blank prompt
    (b"", 1, "frontmatter"),
])
def test_frontmatter_shape_problems(raw: bytes, line: int, field: str) -> None:
    problem = only_problem(raw)
    assert (problem.line, problem.field) == (line, field)


@pytest.mark.parametrize("char", ["\x07", "\x1b", "\ufffe"])
def test_control_characters_in_yaml_are_refused_on_their_line(char: str) -> None:
    problem = only_problem(spec(f"title: caf\u00e9\nagent: claude\nmodel: a{char}b\n"))
    assert (problem.line, problem.field) == (4, "frontmatter")
    assert f"U+{ord(char):04X}" in problem.message


def test_invalid_yaml_names_its_line() -> None:
    problem = only_problem(spec("title: t\nagent: claude\nmodel: [glm\nmax_attempts: 3\n"))
    assert problem.field == "frontmatter"
    assert problem.line in (4, 5, 6)  # where the parser notices the unclosed [, before `---`
    assert "invalid YAML" in problem.message


@pytest.mark.parametrize(("key", "suggestion"), [
    ("titel", "title"), ("max_attempt", "max_attempts"), ("agnet", "agent"), ("timout", "timeout"),
    ("modle", "model"), ("max_cost", "max_cost_usd"), ("Title", "title"),
])
def test_unknown_key_suggests_the_closest_key(key: str, suggestion: str) -> None:
    problem = only_problem(spec(f"title: t\n{key}: x\n"))
    assert (problem.line, problem.field) == (3, key)
    assert problem.message == f"unknown key; did you mean {suggestion!r}?"


def test_unrelated_unknown_key_lists_known_keys() -> None:
    problem = only_problem(spec("zzzzzz: 1\n"))
    assert (problem.line, problem.field) == (2, "zzzzzz")
    for key in KEYS:
        assert key in problem.message


def test_every_problem_is_reported_at_once() -> None:
    raw = spec("titel: t\nmax_attempts: three\ntimeout: soon\n", "")
    problems = problems_of(raw)
    assert [(p.line, p.field) for p in problems] == [
        (2, "titel"), (3, "max_attempts"), (4, "timeout"), (6, "body")]


@pytest.mark.parametrize(("line", "field"), [
    ("max_attempts: three", "max_attempts"), ("max_attempts: true", "max_attempts"),
    ("max_attempts: 2.5", "max_attempts"), ("max_attempts: 0", "max_attempts"),
    ("max_attempts: 101", "max_attempts"), ("title: 5", "title"), ("title: ''", "title"),
    ("title: [a, b]", "title"), ("title: {a: b}", "title"), ("title: null", "title"),
    ("title: \"two\\nlines\"", "title"), ("agent: 7", "agent"), ("agent: bad name", "agent"),
    ("agent: -flag", "agent"), ("model: ' '", "model"), ("model: 3.5", "model"),
    ("base: a..b", "base"), ("base: main.lock", "base"), ("base: -x", "base"),
    ("base: 'has space'", "base"), ("max_cost_usd: -1", "max_cost_usd"),
    ("max_cost_usd: 0", "max_cost_usd"), ("max_cost_usd: cheap", "max_cost_usd"),
    ("max_cost_usd: false", "max_cost_usd"), ("timeout: yes", "timeout"),
    ("timeout: 2001-01-01", "timeout"),
])
def test_wrong_types_and_values_name_the_field_and_line(line: str, field: str) -> None:
    problem = only_problem(spec(f"title: ok\n{line}\n") if not line.startswith("title")
                           else spec(f"{line}\nagent: ok\n"))
    assert problem.field == field
    assert problem.line == (2 if line.startswith("title") else 3)


# --- hostile bytes -----------------------------------------------------------------------------

def test_larger_than_256_kib_is_refused() -> None:
    body = "x" * (DEFAULT_MAX_BYTES + 1)
    problem = only_problem(spec("title: t\n", body))
    assert (problem.line, problem.field) == (1, "file")
    assert "256 KiB" in problem.message


def test_exactly_256_kib_is_accepted() -> None:
    head = b"---\ntitle: t\n---\n"
    raw = head + b"x" * (DEFAULT_MAX_BYTES - len(head))
    assert len(raw) == DEFAULT_MAX_BYTES
    assert parse_spec(raw, PATH).title == "t"


def test_nul_byte_is_refused_on_its_line() -> None:
    problem = only_problem(b"---\ntitle: t\n---\nline four\nline \x00 five\n")
    assert (problem.line, problem.field) == (5, "file")
    assert "NUL" in problem.message


@pytest.mark.parametrize(("raw", "line"), [
    (b"---\ntitle: t\n---\nbody \xff\n", 4),
    (b"---\ntitle: caf\xe9\n---\nbody\n", 2),          # Latin-1, not UTF-8
    (b"---\ntitle: t\n---\none\ntwo\n\xc3\n", 6),      # truncated sequence
    (b"\xfe\xff\x00-", 1),
])
def test_non_utf8_is_refused_on_the_line_of_the_bad_byte(raw: bytes, line: int) -> None:
    problem = only_problem(raw)
    assert problem.field == "file"
    assert problem.line == line


def test_alias_bomb_is_refused_quickly_with_a_clear_message() -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    problem = problems_of(spec("\n".join(lines) + "\n"))[0]
    assert (problem.line, problem.field) == (3, "frontmatter")
    assert "alias" in problem.message


def test_merge_keys_are_refused() -> None:
    problem = only_problem(spec("title: t\n<<: {agent: claude}\n"))
    assert (problem.line, problem.field) == (3, "frontmatter")
    assert "merge" in problem.message


def test_duplicate_keys_are_refused_naming_both_lines() -> None:
    problem = only_problem(spec("title: first\nagent: claude\ntitle: second\n"))
    assert (problem.line, problem.field) == (4, "frontmatter")
    assert problem.message == "duplicate key 'title' (first at line 2)"


@pytest.mark.parametrize("front", [
    "model: 2001-02-30\n",                    # a date YAML recognises but Python refuses
    "2001-02-30: x\n",                         # ... as a key
    "title: !!int abc\n", "title: !!float abc\n", "title: !!binary '@@'\n",
    "title: !!python/object:os.system x\n",
    "title: " + "9" * 5000 + "\n",            # past Python's int digit limit
    "timeout: " + "9" * 400 + "\n",           # an int too large for a float
    "timeout: 0x" + "f" * 5000 + "\n",
    "max_cost_usd: 0x" + "f" * 300 + "\n",
    "title: 0x" + "f" * 5000 + "\n",
    "title: " + "[" * 50000 + "\n",          # deeper than Python's recursion limit
    "title: " + "{a: " * 20000 + "\n",
    "? [a, b]\n: c\n",                         # a complex key
    "%YAML 1.1\n", "title: t\n---x\n", "title: t\n... x\n", "a: b\n--- !x\n",
    "\x85: x\n", "title: \x07\n", "title: \ufffe\n",
])
def test_hostile_frontmatter_is_a_spec_error_not_a_crash(front: str) -> None:
    for problem in problems_of(spec(front)):
        assert 1 <= problem.line <= 2 + front.count("\n")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
@example(b"---\n---\n")
@example(b"---\n\xff\n---\nx")
@example(b"\xef\xbb\xbf---\r\n---\r\nx")
def test_arbitrary_bytes_give_a_spec_or_a_spec_error(raw: bytes) -> None:
    try:
        parsed = parse_spec(raw, PATH)
    except SpecError as exc:
        for problem in exc.problems:
            assert PROBLEM_LINE.match(str(problem)), str(problem)
            assert 1 <= problem.line <= raw.count(b"\n") + 2
    else:
        assert parsed.prompt.strip()


yaml_text = st.text(st.sampled_from(list("-:&*!|>[]{},#?'\"\\ \t\nabtx019.%@`~\u0085")),
                    max_size=120)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_text, st.text(max_size=40))
def test_arbitrary_frontmatter_text_gives_a_spec_or_a_spec_error(front: str, body: str) -> None:
    raw = f"---\n{front}\n---\n{body}x".encode("utf-8", "surrogatepass")
    try:
        parse_spec(raw, PATH)
    except SpecError as exc:
        for problem in exc.problems:
            assert PROBLEM_LINE.match(str(problem)), str(problem)


# --- round trip: the prompt is the body and only the body --------------------------------------

def ids() -> st.SearchStrategy[str]:
    return st.from_regex(r"[a-z0-9][a-z0-9._-]{0,63}", fullmatch=True).filter(
        lambda s: ".." not in s and not re.search(r"-r[0-9]+$", s)
        and not s.endswith((".", ".lock")))


# NEL and the Unicode line separators are line breaks to YAML 1.1: inside a quoted scalar
# libyaml folds them to spaces where PyYAML's own parser keeps them, so values differ by loader.
YAML_BREAKS = "\x85\u2028\u2029"
one_line = st.text(st.characters(blacklist_categories=["Cs"],
                                 blacklist_characters="\x00" + YAML_BREAKS),
                   min_size=1, max_size=60).filter(
    lambda s: s.strip() != "" and "\n" not in s.strip())
durations = st.one_of(
    st.integers(1, 10**6),
    st.floats(0.001, 1e6, allow_nan=False, allow_infinity=False),
    st.lists(st.sampled_from(["d", "h", "m", "s", "ms"]), min_size=1, max_size=5, unique=True)
    .map(lambda units: sorted(units, key=["d", "h", "m", "s", "ms"].index))
    .flatmap(lambda units: st.tuples(*[st.integers(1, 999) for _ in units])
             .map(lambda nums: "".join(f"{n}{u}" for n, u in zip(nums, units, strict=True)))),
)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "title": one_line,
    "agent": st.from_regex(PROFILE_RE, fullmatch=True),
    "model": one_line,
    "timeout": durations,
    "max_attempts": st.integers(1, 100),
    "base": st.from_regex(REF_RE, fullmatch=True).filter(
        lambda s: ".." not in s and not s.endswith(".lock")),
    "max_cost_usd": st.one_of(st.integers(1, 10**6),
                              st.floats(0.0001, 1e6, allow_nan=False, allow_infinity=False)),
    "verify": st.one_of(one_line.filter(lambda s: s.strip() == s),
                        st.lists(one_line.filter(lambda s: s.strip() == s), min_size=1,
                                 max_size=3)),
    "fix_rounds": st.integers(0, 10),
    # Generated task ids never end in "-x" (frontmatters), so these never name the task itself.
    "continues": st.just("prev-task-x"),
    "depends_on": st.lists(st.sampled_from(["dep-a-x", "dep-b-x", "dep-c-x"]), min_size=1,
                           max_size=3, unique=True),
}


@st.composite
def frontmatters(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A task id and a valid frontmatter mapping for it (every key optional)."""
    task_id = draw(ids().filter(lambda i: not i.endswith("-x")))
    keys = draw(st.sets(st.sampled_from([*FIELDS, "id"])))
    front = {key: task_id if key == "id" else draw(FIELDS[key]) for key in sorted(keys)}
    return task_id, front


bodies = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\r"),
                 max_size=200).filter(lambda s: s.strip() != "")
dashy_bodies = st.lists(st.one_of(st.sampled_from(["---", "--- ", "-", "- item", "-x", "---x",
                                                   "...", "title: leaked"]), st.text(max_size=10)
                                  .filter(lambda s: "\n" not in s and "\r" not in s
                                          and "\x00" not in s)),
                        min_size=1, max_size=8).map("\n".join).filter(lambda s: s.strip() != "")


def render(front: dict[str, Any], body: str) -> bytes:
    text = yaml.safe_dump(front, allow_unicode=True, sort_keys=False) if front else ""
    return f"---\n{text}---\n{body}".encode()


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(frontmatters(), st.one_of(bodies, dashy_bodies))
def test_generated_specs_round_trip_and_the_prompt_is_exactly_the_body(
        generated: tuple[str, dict[str, Any]], body: str) -> None:
    task_id, front = generated
    parsed = parse_spec(render(front, body), f"tasks/{task_id}.md")
    assert parsed.prompt == body
    assert parsed.id == task_id
    for key, value in front.items():
        if key == "timeout":
            assert parsed.timeout is not None and parsed.timeout > 0
            if not isinstance(value, str):
                assert math.isclose(parsed.timeout, value)
        elif key == "title":
            assert parsed.title == value.strip()
        elif key == "max_cost_usd":
            assert parsed.max_cost_usd == float(value)
        elif key in ("verify", "depends_on"):
            assert getattr(parsed, key) == ((value,) if isinstance(value, str) else tuple(value))
        elif key != "id":
            assert getattr(parsed, key) == value


@settings(max_examples=200)
@given(dashy_bodies)
def test_a_body_starting_with_dashes_never_loses_a_line(body: str) -> None:
    parsed = parse_spec(render({"title": "t"}, body), PATH)
    assert parsed.prompt == body
    assert "title: t" not in parsed.prompt.split("\n")[0]


def test_frontmatter_never_leaks_into_the_prompt() -> None:
    raw = spec("title: SECRET-TITLE\nagent: claude\n", "Only this.\n")
    parsed = parse_spec(raw, PATH)
    assert parsed.prompt == "Only this.\n"
    assert "SECRET-TITLE" not in parsed.prompt and not parsed.prompt.startswith("-")


# --- the JSON Schema mirrors the parser --------------------------------------------------------

@functools.cache
def load_schema() -> dict[str, Any]:
    text = resources.files("mtor_git").joinpath("schemas/spec.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


@functools.cache
def schema_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema())


def test_schema_lists_exactly_the_parser_keys() -> None:
    schema = load_schema()
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(KEYS)
    for key, meaning in KEYS.items():
        assert schema["properties"][key]["description"] == meaning


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(frontmatters())
def test_schema_accepts_every_frontmatter_the_parser_accepts(
        generated: tuple[str, dict[str, Any]]) -> None:
    task_id, front = generated
    parse_spec(render(front, "body"), f"tasks/{task_id}.md")  # the parser accepts it ...
    loaded = yamlload.load(yaml.safe_dump(front)).data or {}
    schema_validator().validate(loaded)                        # ... so the schema must too


@pytest.mark.parametrize("front", ["titel: x\n", "max_attempts: 0\n", "agent: 'a b'\n",
                                   "timeout: soon\n", "max_cost_usd: -1\n"])
def test_schema_refuses_what_the_parser_refuses_for_simple_cases(front: str) -> None:
    problems_of(spec(front))
    with pytest.raises(jsonschema.ValidationError):
        schema_validator().validate(yaml.safe_load(front))


# --- skeleton and files on disk ----------------------------------------------------------------

@settings(max_examples=100)
@given(ids(), st.one_of(st.none(), st.from_regex(PROFILE_RE, fullmatch=True)))
def test_skeleton_validates(task_id: str, agent: str | None) -> None:
    parsed = parse_spec(skeleton(task_id, agent=agent).encode(), f"tasks/{task_id}.md")
    assert parsed.agent == agent
    assert parsed.prompt.strip()


def test_read_spec_file_refuses_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "real.md"
    target.write_bytes(spec("title: t\n"))
    link = tmp_path / "fix-table.md"
    link.symlink_to(target)
    with pytest.raises(SpecError) as info:
        read_spec_file(link, display="tasks/fix-table.md")
    (problem,) = info.value.problems
    assert str(problem) == "tasks/fix-table.md:1: file: is a symlink; specs must be regular files"


def test_read_spec_file_refuses_a_directory_and_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "dir.md").mkdir()
    for name in ("dir.md", "missing.md"):
        with pytest.raises(SpecError) as info:
            read_spec_file(tmp_path / name)
        assert info.value.problems[0].field == "file"


def test_read_spec_file_stops_reading_past_the_cap(tmp_path: Path) -> None:
    big = tmp_path / "big.md"
    with open(big, "wb") as handle:
        handle.write(spec("title: t\n"))
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB that cost nothing to write
    with pytest.raises(SpecError) as info:
        read_spec_file(big, max_bytes=1024)
    assert "1 KiB cap" in info.value.problems[0].message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_read_spec_file_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    with pytest.raises(SpecError) as info:
        read_spec_file(fifo)
    assert "not a regular file" in info.value.problems[0].message


@pytest.mark.parametrize("text", ["+5", "1_000", "5.", "1e3", " 20m"])
def test_parser_and_schema_both_refuse_odd_timeout_texts(text: str) -> None:
    with pytest.raises(SpecError):
        parse_spec(spec(f"timeout: {json.dumps(text)}\n"), PATH)
    assert not schema_validator().is_valid({"timeout": text})
