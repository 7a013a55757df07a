"""`verify`, `fix_rounds`, `continues` and `depends_on` in a spec, and dependency cycles refused
where they are written: `mtor-git validate` and the pre-commit hook name every spec on the cycle
with `file:line`."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from userrepo import UserRepo, make_repo

from mtor_git.errors import SpecError
from mtor_git.spec.graph import cycle_problems, find_cycle
from mtor_git.spec.parse import parse_spec


def spec(front: str, body: str = "Do it.\n") -> bytes:
    return f"---\n{front}---\n{body}".encode()


def problems_of(raw: bytes, path: str = "tasks/t.md") -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(raw, path)
    return [str(p) for p in info.value.problems]


def test_new_keys_parse_from_text_or_list() -> None:
    parsed = parse_spec(spec("verify: pytest -q\nfix_rounds: 1\ncontinues: a\n"
                             "depends_on: [b, c]\n"), "tasks/t.md")
    assert parsed.verify == ("pytest -q",)
    assert (parsed.fix_rounds, parsed.continues, parsed.depends_on) == (1, "a", ("b", "c"))
    assert parsed.prerequisites == ("b", "c", "a")
    listed = parse_spec(spec("verify:\n  - ruff check .\n  - pytest -q\ndepends_on: b\n"),
                        "tasks/t.md")
    assert listed.verify == ("ruff check .", "pytest -q") and listed.depends_on == ("b",)


@pytest.mark.parametrize(("front", "expected"), [
    ("depends_on: [t]\n", "tasks/t.md:2: depends_on: a task cannot depend on itself"),
    ("continues: t\n", "tasks/t.md:2: continues: a task cannot continue itself"),
    ("depends_on: [a, a]\n", "tasks/t.md:2: depends_on: 'a' is listed twice"),
    ("depends_on: ['Bad..Id']\n", "tasks/t.md:2: depends_on: 'Bad..Id' is not a task id"),
    ("depends_on: []\n", "tasks/t.md:2: depends_on: expected a text or a non-empty list"),
    ("verify: [3]\n", "tasks/t.md:2: verify: every entry must be non-empty text"),
    ("fix_rounds: 11\n", "tasks/t.md:2: fix_rounds: must be between 0 and 10"),
    ("fix_rounds: yes\n", "tasks/t.md:2: fix_rounds: expected a whole number"),
    ("continues: [a]\n", "tasks/t.md:2: continues: list"),
])
def test_bad_values_are_named_with_file_line_and_field(front: str, expected: str) -> None:
    (problem,) = problems_of(spec(front))
    assert problem.startswith(expected), problem


def _spec(task_id: str, front: str) -> object:
    return parse_spec(spec(f"title: {task_id}\n{front}"), f"tasks/{task_id}.md")


def test_a_cycle_names_every_member_at_its_key_line() -> None:
    specs = [_spec("a", "depends_on: [b]\n"), _spec("b", "continues: c\n"),
             _spec("c", "depends_on: [a]\n"), _spec("d", "depends_on: [a]\n")]
    problems = cycle_problems(specs)  # type: ignore[arg-type]
    assert sorted(p.path for p in problems) == ["tasks/a.md", "tasks/b.md", "tasks/c.md"]
    for problem in problems:
        assert problem.line == 3 and "dependency cycle: " in problem.message
        assert problem.field == ("continues" if problem.path == "tasks/b.md" else "depends_on")


def test_a_chain_and_a_diamond_are_no_cycle() -> None:
    specs = [_spec("a", "depends_on: [b, c]\n"), _spec("b", "depends_on: [d]\n"),
             _spec("c", "depends_on: [d]\n"), _spec("d", "")]
    assert cycle_problems(specs) == []  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.integers(0, 12), st.lists(st.integers(0, 12), max_size=3),
                       max_size=13))
def test_find_cycle_agrees_with_a_brute_force_search(graph: dict[int, list[int]]) -> None:
    edges = {str(k): [str(v) for v in vs] for k, vs in graph.items()}

    def reachable(start: str) -> set[str]:
        seen, todo = set(), list(edges.get(start, []))
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo += edges.get(node, [])
        return seen

    for start in edges:
        cycle = find_cycle(start, lambda n: edges.get(n, []))
        has_cycle = any(n in reachable(n) for n in reachable(start) | {start})
        assert bool(cycle) == has_cycle
        if cycle:
            assert cycle[0] == cycle[-1]
            assert all(b in edges.get(a, []) for a, b in zip(cycle, cycle[1:], strict=False))


def test_a_long_chain_does_not_overflow() -> None:
    edges = {str(i): [str(i + 1)] for i in range(20000)}
    assert find_cycle("0", lambda n: edges.get(n, [])) == ()


# ---- as a user meets it ------------------------------------------------------------------------

@pytest.fixture
def repo(tmp_path: Path) -> UserRepo:
    return make_repo(tmp_path)


def test_validate_refuses_a_cycle_with_file_line(repo: UserRepo) -> None:
    repo.write("tasks/a.md", "---\ndepends_on: [b]\n---\nA.\n")
    repo.write("tasks/b.md", "---\ndepends_on: [a]\n---\nB.\n")
    proc = repo.mtor("validate")
    assert proc.returncode == 1
    assert "tasks/a.md:2: depends_on: dependency cycle: " in proc.stdout + proc.stderr
    assert "tasks/b.md:2: depends_on: dependency cycle: " in proc.stdout + proc.stderr


def test_the_pre_commit_hook_refuses_a_cycle_and_commits_a_chain(repo: UserRepo) -> None:
    repo.mtor("init", check=True)
    repo.write("tasks/a.md", "---\ndepends_on: [b]\n---\nA.\n")
    repo.write("tasks/b.md", "---\ndepends_on: [a]\n---\nB.\n")
    repo.git("add", "tasks")
    refused = repo.commit("a cycle")
    assert refused.returncode != 0
    assert "dependency cycle: " in refused.stdout + refused.stderr
    repo.write("tasks/b.md", "---\ntitle: b\n---\nB.\n")
    repo.git("add", "tasks")
    assert repo.commit("a chain").returncode == 0
