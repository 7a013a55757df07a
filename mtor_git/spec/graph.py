"""Task dependencies as a graph: `depends_on` and `continues` name the tasks that must end before
a task starts. A cycle among them can never start, so it is refused where it is written
(`validate`, the hooks) and where a worker meets it across commits."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from mtor_git.errors import Problem
from mtor_git.spec.parse import Spec


def find_cycle(start: str, prerequisites: Callable[[str], Iterable[str]]) -> tuple[str, ...]:
    """The first cycle reachable from `start`, as ids from its first member back to it
    (`a, b, a`), or () when there is none. `prerequisites(id)` gives a task's edges; unknown ids
    give none. Iterative: a chain of thousands of specs must not overflow the stack."""
    on_path: dict[str, int] = {}
    path: list[str] = []
    done: set[str] = set()
    stack: list[tuple[str, list[str]]] = [(start, list(prerequisites(start)))]
    on_path[start], path = 0, [start]
    while stack:
        node, edges = stack[-1]
        if not edges:
            stack.pop()
            path.pop()
            del on_path[node]
            done.add(node)
            continue
        nxt = edges.pop()
        if nxt in on_path:
            return (*path[on_path[nxt]:], nxt)
        if nxt in done:
            continue
        on_path[nxt] = len(path)
        path.append(nxt)
        stack.append((nxt, list(prerequisites(nxt))))
    return ()


def cycle_problems(specs: Iterable[Spec]) -> list[Problem]:
    """A problem for every spec on a dependency cycle among `specs`, at its `depends_on` (or
    `continues`) line, naming the whole cycle."""
    by_id: Mapping[str, Spec] = {s.id: s for s in specs}

    def edges(task_id: str) -> Iterable[str]:
        spec = by_id.get(task_id)
        return [t for t in spec.prerequisites if t in by_id] if spec is not None else []

    problems: list[Problem] = []
    reported: set[str] = set()
    for spec in by_id.values():
        if spec.id in reported:
            continue
        cycle = find_cycle(spec.id, edges)
        if not cycle or spec.id not in cycle:
            continue
        shown = " -> ".join(cycle)
        for member in dict.fromkeys(cycle):
            owner = by_id[member]
            reported.add(member)
            key = "depends_on" if owner.depends_on else "continues"
            problems.append(Problem(owner.path, owner.line_of(key), key,
                                    f"dependency cycle: {shown}; none of these could ever "
                                    "start"))
    return problems
