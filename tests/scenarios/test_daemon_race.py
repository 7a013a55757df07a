"""Several worker daemons (separate processes, own ids and directories) race over the same
specs: every task gets exactly one result and no agent runs twice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from daemonfixtures import site, spec

pytestmark = pytest.mark.slow

TASKS = 50


@pytest.mark.parametrize("workers", [2, 4])
def test_racing_daemons_run_every_task_exactly_once(tmp_path: Path, workers: int) -> None:
    with site(tmp_path) as s:
        ids = [f"task-{i:02d}" for i in range(TASKS)]
        s.push_specs({tid: spec() for tid in ids}, f"{TASKS} tasks")
        configs = [s.config(f"w{n}", max_parallel=2) for n in range(workers)]

        procs = [s.start(c, once=True) for c in configs]  # all at once: they race
        codes = [p.wait(timeout=150) for p in procs]

        assert codes == [0] * workers
        calls = Counter(s.invocations())
        assert {k: n for k, n in calls.items() if n > 1} == {}
        assert sorted(calls) == [f"{tid}.r1" for tid in ids]
        assert s.results() == dict.fromkeys(ids, "succeeded")
        assert s.claims() == []
        assert all(s.outbox(f"w{n}") == [] for n in range(workers))
        assert {s.result(tid)["worker"]["id"] for tid in ids} <= {c.parent.name for c in configs}

