"""The done index `refs/mtor/done` (issue 14): one ref records every finished run, written by
non-force pushes that never lose a rival's update, read by bucket without a file per task."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from claimfixtures import AUTHOR, Worker, remote_ref
from gitfixtures import git, git_daemon, relay
from hypothesis import given
from hypothesis import strategies as st

from mtor_git import git as gitops
from mtor_git.git import refs
from mtor_git.queue import done


def run(task_id: str, number: int = 1, status: str = "succeeded") -> done.DoneRun:
    data = {"status": status, "task": {"id": task_id, "title": f"title of {task_id}"},
            "attempts": [{}, {}], "model_invoked": True, "duration": 1.5,
            "failure": {"kind": "rate_limited", "message": "x" * 1000}}
    return done.DoneRun.from_result(task_id, number, refs.branch(task_id, number), "a" * 40,
                                    data)


def fresh_index(w: Worker) -> done.DoneIndex:
    return done.DoneIndex(w.repo, done.fetch_index(w.repo))


def test_recorded_runs_are_read_back_with_their_summary(
        worker: object, remote: Path) -> None:
    w = worker("w1")  # type: ignore[operator]
    assert done.record(w.repo, [run("t1"), run("t2", 2, "failed")], author=AUTHOR)
    index = fresh_index(w)
    assert index.has("t1", 1) and index.has("t2", 2) and not index.has("t2", 1)
    got = index.get("t2", 2)
    assert got is not None and got.summary["status"] == "failed"
    assert got.summary["attempts"] == 2 and got.branch == "mtor/t2-r2"
    assert len(got.summary["failure_message"]) == 300  # cut: the result file has it whole
    assert sorted((d.task_id, d.run) for d in index) == [("t1", 1), ("t2", 2)]
    # All at once, as a board reads it: every task's runs, the same records.
    assert {t: dict(runs) for t, runs in index.tasks().items()} == {
        "t1": {1: index.get("t1", 1)}, "t2": {2: got}}
    # On the remote: one ref, a tree of buckets, one task per line of its bucket.
    tip = remote_ref(remote, refs.DONE_REF)
    assert tip is not None
    names = git("ls-tree", "--name-only", tip, cwd=remote).split()
    assert set(names) == {done.bucket_of("t1"), done.bucket_of("t2")}
    text = git("show", f"{tip}:{done.bucket_of('t1')}", cwd=remote)
    assert json.loads(text)["t1"]["1"]["commit"] == "a" * 40


def test_a_second_record_adds_to_the_first_and_a_repeat_writes_nothing(
        worker: object, remote: Path) -> None:
    w = worker("w1")  # type: ignore[operator]
    assert done.record(w.repo, [run("t1")], author=AUTHOR)
    first = remote_ref(remote, refs.DONE_REF)
    assert done.record(w.repo, [run("t1")], author=AUTHOR)  # already there: no new commit
    assert remote_ref(remote, refs.DONE_REF) == first
    other = worker("w2")  # type: ignore[operator]
    assert done.record(other.repo, [run("t1", 2)], author=AUTHOR)
    index = fresh_index(w)
    assert index.has("t1", 1) and index.has("t1", 2)
    assert git("rev-parse", f"{refs.DONE_REF}^", cwd=remote) == first  # a child, not a force


def test_the_same_push_deletes_the_claims_it_is_given(worker: object, remote: Path) -> None:
    w = worker("w1")  # type: ignore[operator]
    oid = gitops.commit_files(w.repo, ref="refs/mtor-local/c", parent=None,
                              files={"claim.json": b"{}"}, message="claim")
    gitops.push(w.repo, [f"{oid}:{refs.claim_ref('t1')}"])
    assert done.record(w.repo, [run("t1")], also=[f":{refs.claim_ref('t1')}"], author=AUTHOR)
    assert remote_ref(remote, refs.claim_ref("t1")) is None
    assert fresh_index(w).has("t1", 1)


def test_racing_writers_over_git_daemon_lose_no_run(remote: Path, tmp_path: Path) -> None:
    """Six workers, each with its own clone, record 5 runs each at once, through `git daemon`
    (the server refuses a non-fast-forward): all 30 are in the index."""
    from claimfixtures import clone_for

    with git_daemon(remote.parent) as daemon:
        workers = [clone_for(daemon.url(remote), tmp_path / f"w{i}.git", f"w{i}")
                   for i in range(6)]
        barrier = threading.Barrier(len(workers))
        outcomes: list[bool] = []

        def write(i: int, w: Worker) -> None:
            barrier.wait()
            for j in range(5):
                outcomes.append(done.record(w.repo, [run(f"t{i}-{j}")], author=AUTHOR))

        threads = [threading.Thread(target=write, args=(i, w)) for i, w in enumerate(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes == [True] * 30
        index = fresh_index(workers[0])
        assert sorted(d.task_id for d in index) == sorted(f"t{i}-{j}" for i in range(6)
                                                          for j in range(5))


def test_a_record_on_an_index_another_worker_moved_fetches_over_its_listing(
        remote: Path, tmp_path: Path) -> None:
    """Reading the rival's tip and fetching it is one connection; the push another."""
    from claimfixtures import clone_for

    with git_daemon(remote.parent) as daemon:
        port = int(daemon.prefix.rsplit(":", 1)[1].strip("/"))
        with relay(port) as r:
            first, second = (clone_for(r.url(daemon.url(remote)), tmp_path / f"{n}.git", n)
                             for n in ("w1", "w2"))
            assert done.record(first.repo, [run("t1")], author=AUTHOR)
            before = r.accepted
            assert done.record(second.repo, [run("t2")], author=AUTHOR)
            assert r.accepted - before == 2
        index = done.DoneIndex(second.repo, remote_ref(remote, refs.DONE_REF))
        assert index.has("t1", 1) and index.has("t2", 1)


def test_an_unreadable_bucket_reads_as_empty(worker: object, remote: Path) -> None:
    w = worker("w1")  # type: ignore[operator]
    gitops.commit_files(w.repo, ref="refs/mtor-local/bad", parent=None,
                        files={done.bucket_of("t1"): b"{not json"}, message="damaged")
    gitops.push(w.repo, [f"refs/mtor-local/bad:{refs.DONE_REF}"])
    assert not fresh_index(w).has("t1", 1)
    assert done.record(w.repo, [run("t1")], author=AUTHOR)  # a writer mends it
    assert fresh_index(w).has("t1", 1)


def test_only_the_bucket_an_id_hashes_to_records_it(worker: object, remote: Path) -> None:
    """An entry in another bucket (or in a file no id hashes to, or under an id no task can
    have) is no record: not for get(), not for tasks(), not for iteration."""
    w = worker("w1")  # type: ignore[operator]
    entry = {"1": {"branch": "mtor/t1", "commit": "a" * 40, "status": "succeeded"}}
    elsewhere = next(f"{n:02x}.json" for n in range(256) if f"{n:02x}.json" != done.bucket_of("t1"))
    files = {elsewhere: json.dumps({"t1": entry, "\ud800": entry}).encode(),
             "README": json.dumps({"t1": entry}).encode(),
             "FF.json": json.dumps({"t1": entry}).encode(),
             done.bucket_of("t2"): json.dumps({"t2": entry}).encode()}
    gitops.commit_files(w.repo, ref="refs/mtor-local/odd", parent=None, files=files,
                        message="by hand")
    gitops.push(w.repo, [f"refs/mtor-local/odd:{refs.DONE_REF}"])
    index = fresh_index(w)
    assert not index.has("t1", 1) and index.has("t2", 1)
    assert list(index.tasks()) == ["t2"] and [d.task_id for d in index] == ["t2"]


def test_no_index_is_an_empty_index(worker: object) -> None:
    w = worker("w1")  # type: ignore[operator]
    index = fresh_index(w)
    assert index.oid is None and not index.has("t1", 1) and list(index) == []
    assert index.tasks() == {}


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=40),
       st.integers(min_value=1, max_value=10_000))
def test_a_result_branch_name_gives_back_its_task_and_run(task_id: str, number: int) -> None:
    if task_id.rpartition("-r")[2].isdigit() and "-r" in task_id:
        return  # ids may not end in -r<N> (spec.RESERVED_SUFFIX)
    assert refs.task_of_branch(refs.branch(task_id, number)) == (task_id, number)


def test_names_that_are_no_result_branch() -> None:
    assert refs.task_of_branch("main") is None
    assert refs.task_of_branch("mtor/x-r0") == ("x-r0", 1)  # no run 0: the id is x-r0
    assert refs.task_of_branch("mtor/x-r02") == ("x-r02", 1)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=12))
def test_any_json_in_a_bucket_reads_without_an_error(data: object) -> None:
    """Whatever someone pushed into the index, a reader gets entries or nothing, never a crash."""
    for found in done._parse(json.dumps(data).encode()).values():
        for number, entry in found.items():
            assert number > 0 and isinstance(entry.branch, str) and isinstance(entry.commit, str)


def test_odd_run_numbers_in_a_bucket_are_skipped() -> None:
    entry = {"branch": "mtor/t1-r2", "commit": "c", "status": "succeeded"}
    raw = json.dumps({"t1": {"²": entry, "0": entry, "2": entry, "1" * 12: entry}}).encode()
    assert list(done._parse(raw)["t1"]) == [2]


def test_an_entry_without_a_string_status_is_no_entry() -> None:
    raw = json.dumps({"t1": {"1": {"branch": "b", "commit": "c", "status": ["x"]}},
                      "t2": {"1": {"branch": "b", "commit": "c"}},
                      "t3": {"1": {"branch": "b", "commit": "c", "status": "failed",
                                   "from_a_newer_worker": 7}}}).encode()
    parsed = done._parse(raw)
    assert set(parsed) == {"t3"}
    assert parsed["t3"][1].to_json()["from_a_newer_worker"] == 7  # kept, written back


def test_a_bucket_larger_than_any_index_needs_is_not_read(
        worker: object, monkeypatch: pytest.MonkeyPatch) -> None:
    w = worker("w1")  # type: ignore[operator]
    assert done.record(w.repo, [run(f"t{i}") for i in range(40)], author=AUTHOR)
    index = fresh_index(w)
    assert index.has("t1", 1)
    monkeypatch.setattr(done, "MAX_BUCKET_BYTES", 10)
    done._PARSED.clear()
    assert not done.DoneIndex(w.repo, index.oid).has("t1", 1)  # read as empty, no crash
