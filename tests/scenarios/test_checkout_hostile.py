"""Issue #12 rows F3a, F3b, F4, F6 through the real daemon over `git daemon`: an agent that turns
its checkout's git against the worker (rewrites origin's URL or push URL, pushes to main and to
other tasks' refs with whatever credentials it finds) or squats on its result's paths. The task
checkout has no remote and no credentials, and `results/` belongs to the worker."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemonfixtures import DAEMON_ENV, Site, mtor, site, spec
from gitfixtures import git, make_bare_remote
from hostilefixtures import counting_profile, worker_config

from mtor_git.agent.sandbox import find_bwrap

pytestmark = pytest.mark.slow

HOSTILE = Path(__file__).resolve().parents[1] / "fake_agents" / "hostile_git_agent.py"


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running


def config(s: Site, *hostile_args: str) -> Path:
    agents = {"ok": counting_profile(s),
              "evil": {"command": [str(HOSTILE), *hostile_args], "report": "claude-json"}}
    return worker_config(s, "w1", agents, default_agent="ok")


def board(s: Site) -> dict[str, str]:
    """task id -> state, as `mtor-git status --json` shows it in the user's clone."""
    proc = subprocess.run(mtor("status", "--json"), cwd=s.user, env=DAEMON_ENV,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return {t["id"]: t["state"] for t in data["tasks"]}


def tried(s: Site, task_id: str) -> str:
    """What the hostile agent's git commands did (HOSTILE.md on the task's pushed branch)."""
    return git("show", f"mtor/{task_id}:HOSTILE.md", cwd=s.remote)


def later_task_runs_too(s: Site, cfg: Path, t1: str = "succeeded") -> None:
    """A spec pushed after the hostile run is run and published by the same worker; t1 shows
    its own result (`t1`) and is not run again."""
    s.push_specs({"t2": spec()}, "a later task")
    s.run_once(cfg)
    assert s.results() == {"t1": t1, "t2": "succeeded"}
    assert board(s) == {"t1": t1, "t2": "succeeded"}
    assert s.claims() == []
    assert s.outbox("w1") == []


def test_f3a_an_agent_rewriting_origins_url_leaves_the_worker_its_remote(s: Site) -> None:
    s.push_specs({"t1": spec(agent="evil")})
    cfg = config(s, "--set-url", "git://127.0.0.1:9/nowhere.git")

    s.run_once(cfg)

    assert s.results() == {"t1": "succeeded"}
    assert "git config remote.origin.url git://127.0.0.1:9/nowhere.git: exit 0" in tried(s, "t1")
    later_task_runs_too(s, cfg)


def test_f3b_an_agent_setting_a_push_url_sends_no_claim_or_result_to_its_decoy(
        s: Site) -> None:
    decoy = make_bare_remote(s.server.base_path / "decoy.git")
    decoy_refs = git("for-each-ref", cwd=decoy)
    s.push_specs({"t1": spec(agent="evil")})
    cfg = config(s, "--set-pushurl", s.server.url(decoy))

    s.run_once(cfg)

    assert s.results() == {"t1": "succeeded"}
    assert "remote.origin.pushurl" in tried(s, "t1")
    later_task_runs_too(s, cfg)
    assert git("for-each-ref", cwd=decoy) == decoy_refs


def test_f4_an_agents_pushes_reach_neither_main_nor_other_tasks_refs(s: Site) -> None:
    s.push_specs({"t1": spec(agent="evil")})
    git("push", "--quiet", "origin", "main:refs/mtor/claims/t9", cwd=s.user)  # another's claim
    before = s.refs()
    cfg = config(s, "--push", "HEAD:main", "--push", "HEAD:refs/heads/mtor/t2",
                 "--push", ":refs/mtor/claims/t9")

    s.run_once(cfg)

    after = s.refs()
    assert after["refs/heads/main"] == before["refs/heads/main"]
    assert after["refs/mtor/claims/t9"] == before["refs/mtor/claims/t9"]
    assert "refs/heads/mtor/t2" not in after
    log = tried(s, "t1").splitlines()
    # Its own git works (in the sandbox too): status and log read the borrowed objects.
    assert "git status --porcelain: exit 0" in log and "git log -1 --format=%H: exit 0" in log
    pushes = [line for line in log if line.startswith("git push")]
    assert len(pushes) == 3 and not any(line.endswith(": exit 0") for line in pushes)
    # The agent's own commit is kept on its branch, under the result.
    assert "hostile: pushed" in git("log", "--format=%s", "mtor/t1", cwd=s.remote)
    git("push", "--quiet", "origin", ":refs/mtor/claims/t9", cwd=s.user)
    later_task_runs_too(s, cfg)


def test_f6_a_folder_at_the_result_path_gives_way_to_the_workers_result(s: Site) -> None:
    s.push_specs({"t1": spec(agent="evil")})
    cfg = config(s, "--results-dir", "t1", "--forge", "t2")

    s.run_once(cfg)

    result = s.result("t1")  # a readable JSON file, not the agent's folder
    assert result["status"] == "succeeded"
    notes = " ".join(result["notes"])
    assert "a folder at results/t1.json" in notes and "a symlink at results/t1.md" in notes
    assert "results/t2.json" in notes  # another task's result, forged in the agent's commit
    listing = git("ls-tree", "-r", "mtor/t1", "results/", cwd=s.remote).splitlines()
    assert [(line.split()[0], line.split("\t")[1]) for line in listing] == [
        ("100644", "results/t1.json"), ("100644", "results/t1.md")]
    assert "# " in git("show", "mtor/t1:results/t1.md", cwd=s.remote)  # the worker's PR body
    published = s.refs()["refs/heads/mtor/t1"]
    later_task_runs_too(s, cfg)
    assert s.refs()["refs/heads/mtor/t1"] == published  # done: never run again


# -- sizes and unfinished work (#12 item 7) ------------------------------------------------------
def test_a_sparse_1gb_file_is_refused_as_change_too_large_and_nothing_is_pushed(
        s: Site) -> None:
    base = s.push_specs({"t1": spec(agent="evil")})
    cfg = config(s, "--huge")

    s.run_once(cfg)

    result = s.result("t1")
    assert (result["status"], result["failure"]["kind"]) == ("failed", "change_too_large")
    assert "HUGE.bin" in result["failure"]["message"]
    assert git("rev-parse", "mtor/t1~1", cwd=s.remote) == base  # the result sits on the base
    later_task_runs_too(s, cfg, t1="failed")


def test_a_merge_left_open_is_failed_unfinished_merge_with_its_work_shown(s: Site) -> None:
    s.push_specs({"t1": spec(agent="evil")})
    cfg = config(s, "--conflict")

    s.run_once(cfg)

    result = s.result("t1")
    assert (result["status"], result["failure"]["kind"]) == ("failed", "unfinished_merge")
    assert "MERGE_HEAD" in result["failure"]["message"]
    assert "<<<<<<<" in git("show", "mtor/t1:CONFLICT.md", cwd=s.remote)



# -- the checkout's git files do not open the sandbox -------------------------------------------
@pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap is not installed")
def test_alternates_the_agent_plants_never_show_it_the_workers_files(s: Site) -> None:
    s.push_specs({"t1": spec(agent="evil")})
    worker = s.root / "workers" / "w1"  # the config, state and logs of the worker
    cfg = config(s, "--alternates", str(worker), "--steal", str(worker / "config.yaml"))

    s.run_once(cfg)

    result = s.result("t1")
    assert [a["classification"]["kind"] for a in result["attempts"]] == [
        "rate_limited", "succeeded"]
    assert result["sandbox"] == "bwrap"
    assert f"read {worker / 'config.yaml'}: no" in tried(s, "t1")
