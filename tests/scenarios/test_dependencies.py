"""Task dependencies through the real daemon and a real remote: a chain runs in order (one
worker, and two racing workers), starting each task from its dependency's branch; a failed
dependency rejects what depends on it, transitively; a cycle pushed past the hooks is refused by
the worker; `status` shows a waiting task as `waiting for <id>`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from daemonfixtures import DAEMON_ENV, FAKE_AGENT, Site, mtor, site, spec, wait_for
from gitfixtures import git
from sandboxfixtures import with_toolchain

pytestmark = pytest.mark.slow

CHAIN = {"a": spec("Step a.\n", title="a"),
         "b": spec("Step b.\n", title="b", depends_on=["a"]),
         "c": spec("Step c.\n", title="c", depends_on=["b"])}


def config(s: Site, name: str, **kw: Any) -> Path:
    path = s.config(name, **kw)
    data = json.loads(path.read_text())
    data["agents"]["fails"] = with_toolchain({"command": [str(FAKE_AGENT), "401"],
                                              "report": "claude-json"})
    path.write_text(json.dumps(data))
    return path


def started_order(s: Site) -> list[str]:
    return [name.split(".r")[0] for name in s.invocations()]


def test_a_chain_runs_in_order_each_from_its_dependency_branch(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs(CHAIN, "a chain")
        s.run_once(config(s, "w1"))
        assert s.results() == {"a": "succeeded", "b": "succeeded", "c": "succeeded"}
        assert started_order(s) == ["a", "b", "c"]
        # b started from a's published branch, c from b's: each sees the one before it.
        assert s.result("b")["base_commit"] == s.refs()["refs/heads/mtor/a"]
        assert s.result("c")["base_commit"] == s.refs()["refs/heads/mtor/b"]
        assert "results/a.json" in git("ls-tree", "-r", "--name-only", "mtor/c", cwd=s.remote)


def test_a_chain_runs_in_order_on_two_racing_workers(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs(CHAIN, "a chain")
        for name in ("w1", "w2"):
            s.start(config(s, name, poll_interval="1s", default_agent="slow"))
        wait_for(lambda: "refs/heads/mtor/c" in s.refs(), 90, "c's result")
        assert s.results() == {"a": "succeeded", "b": "succeeded", "c": "succeeded"}
        assert started_order(s) == ["a", "b", "c"]  # each exactly once, in order
        starts = [float(line.split()[0]) for line in s.count_file.read_text().splitlines()]
        finished = {t: s.result(t)["finished_at"] for t in ("a", "b")}
        assert starts == sorted(starts) and finished["a"] < finished["b"]


def test_a_failed_dependency_rejects_its_dependents_transitively(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({**CHAIN, "a": spec("Step a.\n", title="a", agent="fails")}, "a chain")
        s.run_once(config(s, "w1"))
        assert s.results() == {"a": "failed", "b": "rejected", "c": "rejected"}
        b, c = s.result("b"), s.result("c")
        assert b["failure"]["kind"] == c["failure"]["kind"] == "dependency_failed"
        assert "a ended failed" in b["failure"]["message"]
        assert "b ended rejected" in c["failure"]["message"]
        assert b["model_invoked"] is False and s.invocations() == []  # b, c never ran


def test_a_cycle_pushed_past_the_hooks_is_rejected_by_the_worker(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"x": spec(depends_on=["y"])}, "x waits for y")
        s.push_specs({"y": spec(depends_on=["x"])}, "y waits for x: a cycle")
        s.run_once(config(s, "w1"))
        assert s.results() == {"x": "rejected", "y": "rejected"}
        for tid in ("x", "y"):
            failure = s.result(tid)["failure"]
            assert failure["kind"] == "dependency_cycle" and "x -> y" in failure["message"] \
                or "y -> x" in failure["message"]
        assert s.invocations() == []


def test_status_shows_a_task_waiting_for_its_dependency(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"first": spec(agent="hang"), "second": spec(depends_on=["first"])},
                     "two")
        s.start(config(s, "w1", poll_interval="1s"))
        wait_for(lambda: "first.r1" in s.invocations(), 30, "the first task to start")
        proc = subprocess.run(mtor("status", "second", "--json"), cwd=s.user, env=DAEMON_ENV,
                              capture_output=True, text=True, timeout=60)
        (task,) = [t for t in json.loads(proc.stdout)["tasks"] if t["id"] == "second"]
        assert task["state"] == "waiting", proc.stdout
        assert task["detail"] == "waiting for first"
