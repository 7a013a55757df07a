"""The env-file lint reads a file the way systemd's EnvironmentFile= does and names every line
systemd would drop or mangle."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mtor_git.config.envfile import (
    EnvProblem,
    lint_env_file,
    parse_env_file,
    parse_env_text,
    quote_value,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "mtor-git.env.example"


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "mtor-git.env"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def messages(problems: list[EnvProblem]) -> list[str]:
    return [str(p) for p in problems]


def test_export_token_is_an_error_naming_the_line_and_the_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "# secrets\nexport TOKEN=abc123\n")
    problems = lint_env_file(path, required=["TOKEN"])
    assert [p.severity for p in problems] == ["error", "error"]
    missing, export = problems  # file-level problems come first
    assert export.line == 2
    assert str(export).startswith(f"{path}:2: `export TOKEN=...`")
    assert "remove `export`" in export.message
    # the required variable is reported missing, pointing back at the dropped line
    assert str(missing) == (f"{path}: TOKEN is required but systemd will not set it: line 2 "
                            "writes it in a form systemd drops")


def test_export_line_is_dropped_like_systemd_drops_it(tmp_path: Path) -> None:
    env = parse_env_file(write(tmp_path, "export TOKEN=abc\nOTHER=1\n"))
    assert dict(env.values) == {"OTHER": "1"}
    assert env.assignments[0].name == "export TOKEN" and not env.assignments[0].valid


def test_a_clean_file_has_no_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "TOKEN=abc\n; comment\n# comment\n\nURL=https://x.example/a?b=c\n")
    assert lint_env_file(path, required=["TOKEN", "URL"]) == []
    assert parse_env_file(path).values == {"TOKEN": "abc", "URL": "https://x.example/a?b=c"}


def test_whitespace_is_trimmed_around_unquoted_values_and_kept_inside() -> None:
    env = parse_env_text("  KEY  =   two  words   \nTAB=\tx\t\nLAST=end  ")
    assert env.values == {"KEY": "two  words", "TAB": "x", "LAST": "end"}


def test_quotes_follow_systemd_rules() -> None:
    text = (
        "S='a \\n $b \"c\"'\n"            # single: everything literal
        'D="q\\" b\\\\ d\\$ n\\n"\n'      # double: \" \\ \$ unescape, \n stays as two chars
        "MIX=\"a\"b 'c' \n"              # quoted then unquoted concatenate; later quotes literal
        "U=a\\ b\\\\c\n"                  # unquoted backslash keeps the next character
    )
    env = parse_env_text(text)
    assert env.values == {
        "S": 'a \\n $b "c"',
        "D": 'q" b\\ d$ n\\n',
        "MIX": "ab 'c'",
        "U": "a b\\c",
    }
    assert env.problems == ()


def test_trailing_backslash_continues_the_value() -> None:
    env = parse_env_text("A=one\\\ntwo\nB=\"x\\\ny\"\nC=3\n")
    assert env.values == {"A": "onetwo", "B": "xy", "C": "3"}
    assert env.lines == {"A": (1,), "B": (3,), "C": (5,)}


def test_unterminated_quote_swallows_the_rest_of_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'A="open\nTOKEN=abc\n')
    env = parse_env_file(path)
    assert "TOKEN" not in env.values
    problems = lint_env_file(path, required=["TOKEN"])
    assert any(p.line == 1 and "unterminated double quote" in p.message and "lines 1-2"
               in p.message for p in problems)
    assert any("TOKEN is required but not set" in p.message for p in problems)


def test_quote_spanning_assignment_lines_is_a_warning() -> None:
    env = parse_env_text("A='x\nB=1\n'\n")
    assert env.values == {"A": "x\nB=1\n"}
    assert [(p.line, p.severity) for p in env.problems] == [(1, "warning")]


def test_invalid_names_are_errors_and_dropped() -> None:
    env = parse_env_text("1ABC=x\nA-B=y\nGOOD=z\n")
    assert env.values == {"GOOD": "z"}
    assert [(p.line, p.severity) for p in env.problems] == [(1, "error"), (2, "error")]
    assert "invalid variable name '1ABC'" in env.problems[0].message


def test_dollar_references_are_not_expanded_and_warned() -> None:
    env = parse_env_text('A=$HOME/x\nB="${TOKEN}"\nC=\'$LITERAL\'\nD="cost \\$5"\nE=a$\n')
    assert env.values["A"] == "$HOME/x" and env.values["B"] == "${TOKEN}"
    warned = {p.line for p in env.problems if "does not expand $" in p.message}
    assert warned == {1, 2}  # single quotes and escaped or bare $ are deliberate


def test_tilde_is_not_expanded_and_warned() -> None:
    env = parse_env_text("WORK=~/mtor\n")
    assert env.values == {"WORK": "~/mtor"}
    assert "does not expand '~'" in env.problems[0].message


def test_inline_hash_is_part_of_the_value() -> None:
    env = parse_env_text("A=abc # note\nB=abc#not-a-comment\n")
    assert env.values == {"A": "abc # note", "B": "abc#not-a-comment"}
    assert [p.line for p in env.problems] == [1]


def test_empty_required_value_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "TOKEN=\nOTHER=x\n")
    problems = lint_env_file(path, required=["TOKEN"])
    assert messages(problems) == [f"{path}:1: TOKEN is empty; it is required"]


def test_missing_required_name_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "OTHER=x\n")
    problems = lint_env_file(path, required=["GLM_TOKEN"])
    assert messages(problems) == [f"{path}: GLM_TOKEN is required but not set in this file"]


def test_duplicate_key_warns_and_last_value_wins(tmp_path: Path) -> None:
    env = parse_env_file(write(tmp_path, "A=1\nB=2\nA=3\n"))
    assert env.values == {"A": "3", "B": "2"}
    assert env.lines["A"] == (1, 3)
    assert [str(p) for p in env.problems] == [
        f"{env.path}:3: A is set again (first on line 1); systemd keeps this last value"]


def test_line_without_equals_is_reported() -> None:
    env = parse_env_text("TOKEN abc\nLAST")
    assert env.values == {}
    assert [p.line for p in env.problems] == [1, 2]


def test_loose_permissions_warn(tmp_path: Path) -> None:
    path = write(tmp_path, "A=1\n", mode=0o644)
    problems = lint_env_file(path)
    assert [(p.line, p.severity) for p in problems] == [(0, "warning")]
    assert "0644" in problems[0].message and "chmod 600" in problems[0].message
    path.chmod(0o600)
    assert lint_env_file(path) == []


def test_missing_file_is_one_problem_not_an_exception(tmp_path: Path) -> None:
    problems = lint_env_file(tmp_path / "absent.env", required=["TOKEN"])
    assert len(problems) == 1 and "cannot read" in problems[0].message


def test_comment_ending_in_backslash_warns_about_older_systemd() -> None:
    env = parse_env_text("# note \\\nTOKEN=abc\n")
    assert env.values == {"TOKEN": "abc"}
    assert env.problems[0].line == 2 and "before 254" in env.problems[0].message


def test_crlf_lines_parse_like_lf() -> None:
    env = parse_env_text("A=1\r\nB='two'\r\n")
    assert env.values == {"A": "1", "B": "two"}
    assert env.problems == ()


def test_nul_and_bom_and_invalid_utf8_are_errors(tmp_path: Path) -> None:
    assert parse_env_text("A=1\nB=2\x00C=3\n").values == {"A": "1", "B": "2"}
    bom = parse_env_text("\ufeffTOKEN=x\n")
    assert "TOKEN" not in bom.values and "byte-order mark" in bom.problems[0].message
    path = tmp_path / "bad.env"
    path.write_bytes(b"# caf\xe9 in a comment is fine\nA=caf\xe9\n")
    env = parse_env_file(path)
    assert [(p.line, p.severity) for p in env.problems] == [(2, "error")]
    assert "refuses to load the whole file" in env.problems[0].message


def test_the_shipped_example_is_clean(tmp_path: Path) -> None:
    copy = write(tmp_path, EXAMPLE.read_text(encoding="utf-8"))
    assert lint_env_file(copy, required=["ANTHROPIC_API_KEY", "GLM_TOKEN"]) == []
    assert "export" not in {a.name.split()[0] for a in parse_env_file(copy).assignments}


# --- properties ----------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_never_raises_on_arbitrary_text(text: str) -> None:
    env = parse_env_text(text, "x.env")
    for problem in env.problems:
        assert str(problem).startswith("x.env")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_lint_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    # a fresh directory per example: hypothesis reuses function-scoped fixtures like tmp_path
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.env"
        path.write_bytes(data)
        lint_env_file(path, required=["TOKEN"])


names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)
values = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
                 max_size=40)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(names, values, max_size=8), st.booleans())
def test_valid_file_round_trips(mapping: dict[str, str], plain: bool) -> None:
    lines = []
    for name, value in mapping.items():
        simple = value and all(c.isalnum() or c in "-_./:@+,=" for c in value)
        lines.append(f"{name}={value if plain and simple else quote_value(value)}")
    env = parse_env_text("\n".join(lines) + "\n")
    assert dict(env.values) == mapping
    assert [p for p in env.problems if p.severity == "error"] == []
