"""F10 and F16 (issue 16): ids git refuses as ref names, and an empty frontmatter key."""
from __future__ import annotations

import subprocess

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mtor_git.errors import SpecError
from mtor_git.spec.parse import is_valid_id, parse_spec, ref_component_problem


@pytest.mark.parametrize("task_id", ["t.lock", "t.", "a..b", "x.lock"])
def test_an_id_git_refuses_is_invalid_with_file_and_line(task_id: str) -> None:
    assert not is_valid_id(task_id)
    with pytest.raises(SpecError) as info:
        parse_spec(b"---\ntitle: t\n---\ndo it\n", f"tasks/{task_id}.md")
    (problem,) = info.value.problems
    assert str(problem).startswith(f"tasks/{task_id}.md:1: id: ")


@given(st.text(max_size=12))
@example("@")  # refused as a whole ref name, not as one component
@example("@{")
def test_the_component_rules_agree_with_git_check_ref_format(component: str) -> None:
    if "\x00" in component or "/" in component:
        return  # argv cannot carry NUL; a '/' makes two components, which git allows
    git = subprocess.run(["git", "check-ref-format", f"refs/mtor/{component}"],
                         capture_output=True, check=False)
    assert (ref_component_problem(component) is None) == (git.returncode == 0)


def test_an_empty_key_is_named_as_empty() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(b'---\ntitle: t\n"": 1\n---\ndo it\n', "tasks/x.md")
    (problem,) = info.value.problems
    assert problem.line == 3
    assert "empty key" in str(problem)
    assert ": : " not in str(problem)
