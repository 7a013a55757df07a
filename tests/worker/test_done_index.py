"""Finished work leaves the hot path (issue 14): the worker records every finished run in the done
index `refs/mtor/done` (with the claim deletion, in one push), reads a task's end there instead
of fetching its result branch, and never runs a task again once the user deleted its branch,
merged or not. Real worker, real `git daemon`, the git CLI as the user."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from daemonfixtures import DAEMON_ENV, Site, mtor, spec
from gitfixtures import git
from workerfixtures import worker

from mtor_git import git as gitops
from mtor_git.git import refs
from mtor_git.queue import done, outbox, protocol
from mtor_git.worker.finishing import Finisher


def recorded(s: Site) -> dict[str, dict[str, dict[str, object]]]:
    """The done index as the remote holds it, read with the git CLI."""
    tip = s.refs().get(refs.DONE_REF)
    if tip is None:
        return {}
    found: dict[str, dict[str, dict[str, object]]] = {}
    for name in git("ls-tree", "--name-only", tip, cwd=s.remote).split():
        found.update(json.loads(git("show", f"{tip}:{name}", cwd=s.remote)))
    return found


def status_json(s: Site) -> dict[str, dict[str, object]]:
    out = subprocess.run([*mtor("status", "--json")], cwd=s.user, env=DAEMON_ENV, check=True,
                         capture_output=True, text=True).stdout
    data = json.loads(out)
    tasks = data["tasks"] if isinstance(data, dict) else data
    return {t["id"]: t for t in tasks}


def test_a_finished_run_is_recorded_with_its_claim_deleted_in_one_push(s: Site) -> None:
    s.push_specs({"t1": spec(), "t2": spec()})
    w = worker(s)
    w.run_once()
    index = recorded(s)
    assert set(index) == {"t1", "t2"}
    entry = index["t1"]["1"]
    assert entry["status"] == "succeeded" and entry["branch"] == "mtor/t1"
    assert entry["commit"] == s.refs()["refs/heads/mtor/t1"]
    assert entry["attempts"] == 1 and entry["model_invoked"] is not None
    assert s.claims() == []  # deleted by the same pushes
    w.stop(5)


def test_a_deleted_unmerged_branch_is_never_run_again(s: Site) -> None:
    s.push_specs({"t1": spec()})
    w = worker(s)
    w.run_once()
    git("push", "-q", "origin", "--delete", "mtor/t1", cwd=s.user)  # the user closed the PR
    s.push_specs({"t2": spec()}, "more")
    w.run_once()
    fresh = worker(s, "w2")  # a new clone: every spec a candidate
    fresh.run_once()
    assert sorted(s.invocations()) == ["t1.r1", "t2.r1"]
    assert "refs/heads/mtor/t1" not in s.refs()
    board = status_json(s)
    assert board["t1"]["state"] == "succeeded"  # from the index: no branch to read
    w.stop(5)
    fresh.stop(5)


def test_a_result_branch_from_before_the_index_is_recorded_by_a_first_cycle(s: Site) -> None:
    s.push_specs({"t1": spec()})
    w = worker(s)
    w.run_once()
    w.stop(5)
    git("update-ref", "-d", refs.DONE_REF, cwd=s.remote)  # as an older worker left it
    fresh = worker(s, "w2")
    fresh.run_once()
    assert s.invocations() == ["t1.r1"]
    assert recorded(s)["t1"]["1"]["commit"] == s.refs()["refs/heads/mtor/t1"]
    fresh.stop(5)


def test_another_worker_fetches_no_recorded_result_branch(s: Site) -> None:
    other = worker(s, "w2")
    other.run_once()  # its clone exists before the results do (a clone takes every branch)
    s.push_specs({"t1": spec(), "t2": spec()})
    w = worker(s)
    w.run_once()
    w.stop(5)
    other.run_once()
    clone = gitops.open_repository(other.repos["remote"].path)
    for task_id in ("t1", "t2"):
        assert s.refs()[f"refs/heads/mtor/{task_id}"] not in clone  # never fetched
    assert sorted(s.invocations()) == ["t1.r1", "t2.r1"]
    index = done.DoneIndex(clone, s.refs()[refs.DONE_REF])
    assert index.has("t1", 1) and index.has("t2", 1)
    other.stop(5)


def test_a_dependent_starts_from_a_recorded_branch_the_worker_never_fetched(s: Site) -> None:
    fresh = worker(s, "w2")
    fresh.run_once()  # its clone exists before the result does
    s.push_specs({"base": spec()})
    w = worker(s)
    w.run_once()
    w.stop(5)
    fresh.run_once()  # the recorded branch is not fetched
    assert s.refs()["refs/heads/mtor/base"] not in gitops.open_repository(
        fresh.repos["remote"].path)
    s.push_specs({"after": spec(depends_on=["base"])}, "dependent")
    fresh.run_once()
    assert sorted(s.invocations()) == ["after.r1", "base.r1"]
    assert s.result("after")["status"] == "succeeded"
    base_tip = s.refs()["refs/heads/mtor/base"]
    git("merge-base", "--is-ancestor", base_tip, "refs/heads/mtor/after", cwd=s.remote)
    fresh.stop(5)


def test_a_new_workers_clone_takes_no_result_branch(s: Site) -> None:
    s.push_specs({"t1": spec()})
    w = worker(s)
    w.run_once()
    w.stop(5)
    fresh = worker(s, "w2")
    fresh.run_once()  # clones now: main and refs/mtor/*, no mtor/<id>
    clone = gitops.open_repository(fresh.repos["remote"].path)
    assert s.refs()["refs/heads/mtor/t1"] not in clone
    assert not [r for r in clone.references if r.startswith("refs/remotes/origin/mtor/")]
    assert s.invocations() == ["t1.r1"]
    fresh.stop(5)


def push_to_remote(s: Site, ref: str, files: dict[str, bytes]) -> None:
    """Someone (not a worker) writes a commit holding `files` at `ref` on the remote."""
    for name, data in files.items():
        (s.root / "scratch" / name).parent.mkdir(parents=True, exist_ok=True)
        (s.root / "scratch" / name).write_bytes(data)
    scratch = s.root / "scratch"
    env_dir = s.root / "scratch.git"
    git("init", "-q", str(env_dir))
    git("--work-tree", str(scratch), "add", "-A", cwd=env_dir)
    git("--work-tree", str(scratch), "commit", "-q", "--no-verify", "-m", "by hand",
        cwd=env_dir)
    git("push", "-q", "--force", "--no-verify", s.url, f"HEAD:{ref}", cwd=env_dir)


@pytest.mark.parametrize("garbage", [
    b"[" * 100_000,  # nested past any parser's depth
    json.dumps({"t9": {"1": {"branch": [], "commit": {}, "status": ["x"]}},
                "t1": {"1": {"branch": "mtor/t1", "commit": "c", "status": {"a": 1}}}}).encode(),
    b"\x00\xff not json",
])
def test_a_garbage_index_stops_no_cycle_and_no_status(s: Site, garbage: bytes) -> None:
    s.push_specs({"t1": spec()})
    w = worker(s)
    w.run_once()
    push_to_remote(s, refs.DONE_REF, {name: garbage for name in
                                      {done.bucket_of(t) for t in ("t1", "t2", "t3", "t9")}})
    s.push_specs({"t2": spec(), "t3": spec(depends_on=["t1"])}, "more")
    w.run_once()
    assert w.last_error is None
    assert sorted(s.invocations()) == ["t1.r1", "t2.r1", "t3.r1"]  # t1 done by its branch
    board = status_json(s)
    assert board["t2"]["state"] == "succeeded"
    w.stop(5)


def test_a_run_whose_record_was_lost_is_recorded_beside_its_claim(s: Site) -> None:
    """A worker killed between its result push and its record leaves the claim beside the
    result: the next worker records the run and deletes the claim, so that deleting the branch
    later does not run it again."""
    s.push_specs({"t1": spec()})
    w = worker(s)
    w.run_once()
    w.stop(5)
    git("update-ref", "-d", refs.DONE_REF, cwd=s.remote)
    push_to_remote(s, refs.claim_ref("t1"), {"claim.json": b'{"task_id": "t1", "run": 1}'})
    other = worker(s, "w2")
    other.run_once()
    assert "t1" in recorded(s) and s.claims() == []
    git("push", "-q", "origin", "--delete", "mtor/t1", cwd=s.user)
    fresh = worker(s, "w3")
    fresh.run_once()
    assert s.invocations() == ["t1.r1"]
    other.stop(5)
    fresh.stop(5)


def test_a_dependency_deleted_unmerged_rejects_its_dependent(s: Site) -> None:
    s.push_specs({"base": spec()})
    w = worker(s)
    w.run_once()
    git("push", "-q", "origin", "--delete", "mtor/base", cwd=s.user)
    s.push_specs({"after": spec(depends_on=["base"])}, "dependent")
    w.run_once()
    assert s.invocations() == ["base.r1"]
    failure = s.result("after")["failure"]
    assert failure["kind"] == "dependency_failed"
    assert "deleted unmerged" in failure["message"]
    w.stop(5)


def test_a_dependency_never_fetched_is_read_once_its_record_is_gone(s: Site) -> None:
    """The index records the dependency at its tip, so no cycle fetches its branch; the index
    is then deleted: the dependent reads the dependency's result from its branch, fetched when
    read, and runs."""
    other = worker(s, "w2")
    other.run_once()  # its clone exists before the dependency's result does
    s.push_specs({"d": spec()})
    w = worker(s)
    w.run_once()
    w.stop(5)
    other.run_once()  # sees d recorded at its tip: fetches nothing
    git("update-ref", "-d", refs.DONE_REF, cwd=s.remote)
    s.push_specs({"e": spec(depends_on=["d"])}, "dependent")
    other.run_once()
    assert sorted(s.invocations()) == ["d.r1", "e.r1"]
    other.stop(5)


def _count_pushes(s: Site) -> Callable[[], int]:
    """How many pushes the remote received from now on (a pre-receive hook counts them)."""
    log = s.root / "pushes.log"
    hook = s.remote / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\ncat >/dev/null\necho push >> '{log}'\n")
    hook.chmod(0o755)
    return lambda: len(log.read_text().splitlines()) if log.exists() else 0


def test_a_run_being_recorded_is_not_recorded_again_from_an_older_view(s: Site) -> None:
    """A cycle's view read before its own record landed shows the result branch with its claim
    and no record: the record under way is not queued again (it cost a second push of the
    claim's deletion, 0.8 a task in bench/throughput_steps.py)."""
    s.push_specs({"t1": spec()})
    w = worker(s)
    w.run_once()
    w.stop(5)
    git("update-ref", "-d", refs.DONE_REF, cwd=s.remote)  # as before the record landed
    push_to_remote(s, refs.claim_ref("t1"), {"claim.json": b'{"task_id": "t1", "run": 1}'})
    repo = gitops.open_or_clone(s.url, s.root / "stale.git", bare=True)
    view = protocol.read_view(repo, "main")
    tip = view.refs[refs.branch_ref("t1", 1)]
    gitops.fetch(repo, refspecs=["+refs/heads/mtor/t1:refs/remotes/origin/mtor/t1"])
    pushes = _count_pushes(s)
    with ThreadPoolExecutor(1) as pool:
        finisher = Finisher(pool, ("w", "w@example.invalid"))
        finisher.landed(repo, "tool", lambda: repo, outbox.new_entry("t1", 1, tip, "succeeded"))
        pool.submit(lambda: None).result()
        assert "t1" in recorded(s) and s.claims() == [] and pushes() == 1
        assert finisher.done(repo, "tool", lambda: repo, view, "t1", 1)  # the older view
        pool.submit(lambda: None).result()
    assert pushes() == 1


def test_another_run_of_a_task_just_recorded_is_recorded_too(s: Site) -> None:
    """The guard against recording a run twice is per run (a review found it per task): run 2
    of a task, left unrecorded by a worker that died, is recorded even though this worker
    recorded run 1 a moment ago."""
    s.push_specs({"t1": spec()})
    w = worker(s)
    w.run_once()
    w.stop(5)
    result = json.dumps({"task": {"id": "t1"}, "run": 2, "status": "succeeded",
                         "attempts": [{}]}).encode()
    push_to_remote(s, "refs/heads/mtor/t1-r2", {"results/t1.json": result})
    repo = gitops.open_or_clone(s.url, s.root / "other.git", bare=True)
    view = protocol.read_view(repo, "main")
    gitops.fetch(repo, refspecs=["+refs/heads/mtor/*:refs/remotes/origin/mtor/*"])
    with ThreadPoolExecutor(1) as pool:
        finisher = Finisher(pool, ("w", "w@example.invalid"))
        finisher.landed(repo, "tool", lambda: repo, outbox.new_entry(
            "t1", 1, view.refs[refs.branch_ref("t1", 1)], "succeeded"))
        pool.submit(lambda: None).result()
        assert finisher.done(repo, "tool", lambda: repo, view, "t1", 2)
        pool.submit(lambda: None).result()
    assert set(recorded(s)["t1"]) == {"1", "2"}


def test_the_board_reads_a_recorded_run_as_the_one_task_view_does(s: Site) -> None:
    """`status` takes a short way for a run the index records (no per-task ref lookups): for a
    kept branch, a deleted one, a cancel request on an ended task, a retried task and a pending
    one, every row equals `status <id>`, which reads each task on its own."""
    s.push_specs({t: spec() for t in ("kept", "deleted", "asked", "again")})
    w = worker(s)
    w.run_once()
    git("push", "-q", "origin", "--delete", "mtor/deleted", cwd=s.user)
    push_to_remote(s, refs.cancel_ref("asked"), {"cancel.json": b"{}"})
    subprocess.run(mtor("retry", "again"), cwd=s.user, env=DAEMON_ENV, check=True,
                   capture_output=True)
    w.stop(5)
    s.push_specs({"waits": spec()}, "one nobody runs")
    board = status_json(s)
    assert set(board) == {"kept", "deleted", "asked", "again", "waits"}
    for task_id, row in board.items():
        one = json.loads(subprocess.run([*mtor("status", task_id, "--json")], cwd=s.user,
                                        env=DAEMON_ENV, check=True, capture_output=True,
                                        text=True).stdout)["tasks"]
        assert one == [row], task_id
    assert board["deleted"]["state"] == "succeeded" and board["deleted"]["result"]
    assert board["asked"]["cancel_requested"] and board["asked"]["state"] == "succeeded"
    assert board["again"]["run"] == 2 and board["again"]["state"] == "pending"
    assert board["again"]["runs_done"] == [1] and board["waits"]["state"] == "pending"


def test_a_record_in_a_bucket_its_id_does_not_hash_to_is_no_record(s: Site) -> None:
    """Workers write each task into the bucket its id hashes to, and read it only there. An
    entry someone put elsewhere counts nowhere: the board shows what `status <id>` and the
    workers see (the task ended as its own bucket says; a task only misplaced is pending)."""
    s.push_specs({"kept": spec(), "stray": spec()})
    w = worker(s)
    w.run_once()
    w.stop(5)
    tip = s.refs()[refs.DONE_REF]
    files = {name: git("show", f"{tip}:{name}", cwd=s.remote).encode()
             for name in git("ls-tree", "--name-only", tip, cwd=s.remote).split()}
    own = {done.bucket_of("kept"), done.bucket_of("stray")}
    elsewhere = next(f"{n:02x}.json" for n in range(256)
                     if f"{n:02x}.json" not in files and f"{n:02x}.json" not in own)
    failed = {"branch": "main", "commit": "0" * 40, "status": "failed"}
    files[elsewhere] = json.dumps({"kept": {"1": failed, "3": failed},
                                   "stray": {"1": failed}}).encode()
    # "stray" ran too: drop its own record, so only the misplaced one is left of it.
    mine = json.loads(files[done.bucket_of("stray")])
    del mine["stray"]
    files[done.bucket_of("stray")] = json.dumps(mine).encode()
    push_to_remote(s, refs.DONE_REF, files)
    git("push", "-q", "origin", "--delete", "mtor/stray", cwd=s.user)
    board = status_json(s)
    for task_id, row in board.items():
        one = json.loads(subprocess.run([*mtor("status", task_id, "--json")], cwd=s.user,
                                        env=DAEMON_ENV, check=True, capture_output=True,
                                        text=True).stdout)["tasks"]
        assert one == [row], task_id
    assert board["kept"]["state"] == "succeeded" and board["kept"]["runs_done"] == [1]
    assert board["stray"]["state"] == "pending" and board["stray"]["runs_done"] == []
