"""How long `mtor-git status` takes over a remote with 1,000 tasks in mixed states.

Builds a bare remote whose refs are exactly what workers leave (claim chains, released and parked
claims, result branches with attempts, retry and cancel requests), clones it as the user, then
times `status` cold (first fetch of everything), warm (nothing new), with `--json`, and as a
fresh process (`python -m mtor_git status`, interpreter start-up included).

    /work/venv/bin/python bench/status_bench.py [--tasks 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

import pygit2

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from boardfixtures import attempt  # noqa: E402
from gitfixtures import GIT_ENV, make_bare_remote, user_clone  # noqa: E402

from mtor_git.agent.evidence import Failure  # noqa: E402
from mtor_git.attempts import records  # noqa: E402
from mtor_git.cli.main import main  # noqa: E402
from mtor_git.git import refs  # noqa: E402
from mtor_git.queue import claims  # noqa: E402
from mtor_git.states import TaskStatus  # noqa: E402
from mtor_git.task.result import Result, TaskInfo, WorkerInfo, commit_message, pr_body  # noqa: E402

SIG = pygit2.Signature("mtor-git", "worker@bench")
# (state, share of tasks) -- roughly a busy queue's day.
MIX = (("pending", 0.25), ("claimed", 0.05), ("running", 0.05), ("interrupted", 0.03),
       ("parked", 0.02), ("succeeded", 0.35), ("failed", 0.12), ("exhausted", 0.05),
       ("rejected", 0.03), ("cancelled", 0.03), ("retried", 0.02))


class Builder:
    def __init__(self, bare: Path) -> None:
        self.repo = pygit2.Repository(str(bare))
        self.main = self.repo.references["refs/heads/main"].target

    def commit(self, files: dict[str, bytes], parent: pygit2.Oid | None, message: str,
               ref: str | None = None) -> pygit2.Oid:
        index = pygit2.Index()
        if parent is not None:
            index.read_tree(self.repo[parent].peel(pygit2.Commit).tree)
        for path, data in files.items():
            index.add(pygit2.IndexEntry(path, self.repo.create_blob(data),
                                        pygit2.enums.FileMode.BLOB))
        oid = self.repo.create_commit(ref, SIG, SIG, message, index.write_tree(self.repo),
                                      [parent] if parent else [])
        return oid

    def specs(self, ids: list[str]) -> None:
        files = {f"tasks/{i}.md": f"---\ntitle: Task {i}\nagent: claude\n---\nDo {i}.\n".encode()
                 for i in ids}
        self.main = self.commit(files, self.main, f"add {len(ids)} tasks", "refs/heads/main")

    def claim_chain(self, task_id: str, *, beats: int, attempt_no: int = 0) -> pygit2.Oid:
        now = time.time()
        claim = claims.new_claim(task_id, 1, "w1", 60, spec_commit=None, now=now - beats * 20)
        oid = None
        for n in range(beats):
            claim = claims.renewed(claim, 60, now=now - (beats - n) * 20,
                                   attempt=attempt_no if n else 0)
            oid = self.commit({"claim.json": claim.to_bytes()}, oid, "claim")
        assert oid is not None
        self.repo.references.create(refs.claim_ref(task_id), oid, force=True)
        return oid

    def release(self, task_id: str, reason: str, not_before: float | None = None) -> None:
        tip = self.claim_chain(task_id, beats=3, attempt_no=1)
        old = claims.Claim.from_bytes(self.repo[self.repo[tip].peel(pygit2.Commit)
                                                .tree["claim.json"].id].data)
        assert old is not None
        done = claims.released(old, reason, not_before=not_before,
                               attempts=records([attempt(kind="interrupted", exit_code=None)]))
        oid = self.commit({"claim.json": done.to_bytes()}, tip, "release")
        self.repo.references.create(refs.claim_ref(task_id), oid, force=True)

    def result(self, task_id: str, status: str, run: int = 1) -> None:
        n_attempts = {"succeeded": 1, "exhausted": 3}.get(status, 2)
        tail = "".join(f"line {k} of the agent's output\n" for k in range(60))
        attempts = records([attempt(k + 1, kind=status if status != "exhausted" else
                                    "rate_limited", transient=status == "exhausted",
                                    stdout=tail, stderr=tail[:500]) for k in range(n_attempts)])
        now = time.time()
        result = Result(TaskStatus(status),
                        TaskInfo(task_id, f"tasks/{task_id}.md", str(self.main), None, "claude",
                                 title=f"Task {task_id}"),
                        WorkerInfo("w1", "host", "0.1", 1), refs.branch(task_id, run),
                        now - 60, now, status == "succeeded", run=run, attempts=attempts,
                        failure=None if status == "succeeded" else Failure(status, "it ended"))
        self.commit({refs.result_json(task_id): result.dumps().encode(),
                     refs.result_md(task_id): pr_body(result).encode()}, self.main,
                    commit_message(result), refs.branch_ref(task_id, run))

    def request(self, ref: str, file: str, body: bytes) -> None:
        self.commit({file: body}, None, "request", ref)


def build(root: Path, total: int) -> Path:
    bare = make_bare_remote(root / "remote.git")
    b = Builder(bare)
    ids = [f"task-{n:04d}" for n in range(total)]
    b.specs(ids)
    plan: list[str] = []
    for state, share in MIX:
        plan += [state] * round(share * total)
    plan = (plan + ["pending"] * total)[:total]
    for task_id, state in zip(ids, plan, strict=True):
        if state == "claimed":
            b.claim_chain(task_id, beats=1)
        elif state == "running":
            b.claim_chain(task_id, beats=30, attempt_no=1)
        elif state in ("interrupted", "parked"):
            b.release(task_id, state, time.time() + 3600 if state == "parked" else None)
        elif state == "retried":
            b.result(task_id, "failed")
            b.result(task_id, "succeeded", run=2)
            b.request(refs.retry_ref(task_id), "retry.json", b'{"run": 2}\n')
        elif state != "pending":
            b.result(task_id, state)
            if state == "cancelled":
                b.request(refs.cancel_ref(task_id), "cancel.json", b'{"reason": ""}\n')
    return bare


def timed(clone: Path, *argv: str) -> tuple[float, str]:
    old = Path.cwd()
    os.chdir(clone)
    out = io.StringIO()
    try:
        start = time.perf_counter()
        with redirect_stdout(out):
            code = main(list(argv))
        elapsed = time.perf_counter() - start
    finally:
        os.chdir(old)
    assert code == 0, f"status exited {code}"
    return elapsed, out.getvalue()


def main_bench() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mtor-status-bench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        bare = build(root, args.tasks)
        clone = user_clone(bare, root / "user")
        nrefs = len(subprocess.run(["git", "for-each-ref"], cwd=bare, env=GIT_ENV,
                                  capture_output=True, text=True).stdout.splitlines())
        print(f"built {args.tasks} tasks ({nrefs} refs) in {time.perf_counter() - t0:.1f}s")
        cold, text = timed(clone, "status")
        print(f"status, cold (first fetch of every ref):  {cold * 1000:7.0f} ms")
        print("  " + text.splitlines()[0] + (" " + text.splitlines()[1].strip()
                                               if text.splitlines()[1].startswith("  ") else ""))
        warm = [timed(clone, "status")[0] for _ in range(args.repeat)]
        print(f"status, warm (median of {args.repeat}):            "
              f"{statistics.median(warm) * 1000:7.0f} ms")
        js = [timed(clone, "status", "--json")[0] for _ in range(args.repeat)]
        print(f"status --json, warm (median of {args.repeat}):     "
              f"{statistics.median(js) * 1000:7.0f} ms")
        one = [timed(clone, "status", "task-0500")[0] for _ in range(args.repeat)]
        print(f"status <id>, warm (median of {args.repeat}):       "
              f"{statistics.median(one) * 1000:7.0f} ms")
        procs = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mtor_git", "status"], cwd=clone, env=GIT_ENV,
                           capture_output=True, check=True)
            procs.append(time.perf_counter() - start)
        print(f"python -m mtor_git status (median of {args.repeat}): "
              f"{statistics.median(procs) * 1000:7.0f} ms")


if __name__ == "__main__":
    main_bench()
