"""Build real task states on a real remote, the way the daemon writes them: claim commits pushed
with mtor_git.queue.protocol, results built from mtor_git.task.result on mtor/<id>[-rN], specs
committed and pushed by the user with the git CLI. Plus a helper to run the CLI in-process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2
from gitfixtures import GIT_ENV, git, write_commit

from mtor_git.agent.evidence import Attempt, Captured, Classification, Failure, Report, Run
from mtor_git.attempts import records
from mtor_git.cli.main import main
from mtor_git.git import refs
from mtor_git.queue import claims
from mtor_git.queue.claims import Claim
from mtor_git.states import TaskStatus
from mtor_git.task.result import Result, TaskInfo, WorkerInfo, commit_message, pr_body

AUTHOR = ("mtor-git", "worker@test")


def spec_text(task_id: str, title: str = "Do the thing", body: str = "Please do it.\n") -> bytes:
    return f"---\ntitle: {title}\nagent: claude\n---\n{body}".encode()


def add_specs(clone: Path, *ids: str, push: bool = True) -> str:
    """As the user: commit tasks/<id>.md for each id and push; the new commit."""
    return write_commit(clone, {f"tasks/{i}.md": spec_text(i) for i in ids},
                        f"add {len(ids)} task(s)", push=push)


def attempt(number: int = 1, *, kind: str = "succeeded", rule: str = "exit_zero_report_ok",
            evidence: str = "", exit_code: int | None = 0, stdout: str = "", stderr: str = "",
            transient: bool = False, model_invoked: bool = True, duration: float = 3.5,
            argv: tuple[str, ...] = ("claude", "-p", "--output-format", "json"),
            signal: int | None = None, stopped_by: Any = None) -> dict[str, Any]:
    """One attempt's JSON exactly as the runner records it (Attempt.to_json())."""
    run = Run(argv=argv, cwd="/work/wt/t.r1", env_names=("PATH", "ANTHROPIC_AUTH_TOKEN"),
              started_at=time.time() - duration, duration=duration, exit_code=exit_code,
              signal=signal, stopped_by=stopped_by,
              stdout=Captured(len(stdout.encode()), stdout),
              stderr=Captured(len(stderr.encode()), stderr))
    report = (Report("claude-json", parsed=True, num_turns=3, cost_usd=0.01) if model_invoked
              else Report("claude-json"))
    return Attempt(number, "claude", run, report,
                   Classification(kind, transient, rule, evidence)).to_json()


@dataclass
class FakeWorker:
    """Writes claims and results into the remote as the worker does: a claim commit holding
    claim.json (mtor_git.queue.claims) pushed without force as a child of the one seen; a result
    commit (mtor_git.task.result) on mtor/<id>[-rN], then the claim deleted. The plumbing is the git
    CLI from a bare clone, so these fixtures do not depend on the code under test."""

    url: str
    path: Path
    worker_id: str = "w1"

    def _repo(self) -> pygit2.Repository:
        if not self.path.exists():
            git("clone", "--quiet", "--bare", self.url, self.path)
        git("fetch", "--quiet", "--prune", "origin", "+refs/heads/*:refs/heads/*",
            "+refs/mtor/*:refs/mtor/*", cwd=self.path)
        return pygit2.Repository(str(self.path))

    def _claim_at(self, repo: pygit2.Repository, task_id: str) -> tuple[str | None, Claim | None]:
        ref = repo.references.get(refs.claim_ref(task_id))
        if ref is None:
            return None, None
        oid = str(ref.target)
        blob = repo[oid].peel(pygit2.Commit).tree["claim.json"]
        return oid, Claim.from_bytes(repo[blob.id].peel(pygit2.Blob).data)

    def claim(self, task_id: str, *, run: int = 1, lease: float = 60.0, attempt: int = 0,
              now: float | None = None) -> str:
        repo = self._repo()
        parent, old = self._claim_at(repo, task_id)
        fresh = (claims.taken_over(old, self.worker_id, lease, spec_commit=None, run=run,
                                   now=now) if old else
                 claims.new_claim(task_id, run, self.worker_id, lease, spec_commit=None,
                                  now=now))
        if attempt:
            fresh = claims.renewed(fresh, lease, attempt=attempt, now=now)
        return self._push_claim(repo, fresh, parent)

    def renew(self, task_id: str, *, lease: float = 60.0, attempt: int | None = None,
              now: float | None = None) -> str:
        repo = self._repo()
        parent, old = self._claim_at(repo, task_id)
        assert old is not None
        return self._push_claim(repo, claims.renewed(old, lease, attempt=attempt, now=now),
                                parent)

    def release(self, task_id: str, reason: str, *, attempts: tuple[dict[str, Any], ...] = (),
                not_before: float | None = None) -> str:
        repo = self._repo()
        parent, old = self._claim_at(repo, task_id)
        assert old is not None
        return self._push_claim(repo, claims.released(old, reason, attempts=records(attempts),
                                                      not_before=not_before), parent)

    def _push_claim(self, repo: pygit2.Repository, claim: Claim, parent: str | None) -> str:
        msg = f"mtor: claim {claim.task_id} run {claim.run} ({claim.phase}) by {claim.worker}"
        oid = _commit(repo, {"claim.json": claim.to_bytes()}, parent, msg)
        git("push", "--quiet", "origin", f"{oid}:{refs.claim_ref(claim.task_id)}",
            cwd=self.path)
        return oid

    def publish(self, task_id: str, status: str, *, run: int = 1,
                attempts: tuple[dict[str, Any], ...] = (), failure: Failure | None = None,
                model_invoked: bool | None = None, title: str | None = "Do the thing") -> Result:
        """Commit results/<id>.json + .md on mtor/<id>[-rN], push it, delete the claim."""
        repo = self._repo()
        head = str(repo.references["refs/heads/main"].target)
        now = time.time()
        result = Result(
            status=TaskStatus(status),
            task=TaskInfo(task_id, f"tasks/{task_id}.md", head, None, "claude", title=title),
            worker=WorkerInfo(self.worker_id, "host", "0.1", os.getpid()),
            branch=refs.branch(task_id, run), started_at=now - 5, finished_at=now,
            model_invoked=(status == "succeeded") if model_invoked is None else model_invoked,
            run=run, base_commit=head, head_commit=head, attempts=records(attempts),
            failure=failure)
        oid = _commit(repo, {refs.result_json(task_id): result.dumps().encode(),
                             refs.result_md(task_id): pr_body(result).encode()},
                      head, commit_message(result))
        git("push", "--quiet", "origin", f"{oid}:{refs.branch_ref(task_id, run)}",
            cwd=self.path)
        if self._claim_at(repo, task_id)[0] is not None:
            git("push", "--quiet", "origin", f":{refs.claim_ref(task_id)}", cwd=self.path)
        return result


def _commit(repo: pygit2.Repository, files: dict[str, bytes], parent: str | None,
            message: str) -> str:
    """A commit of `parent`'s tree plus `files` (one directory level), referenced by nothing."""
    index = pygit2.Index()
    if parent is not None:
        index.read_tree(repo[parent].peel(pygit2.Commit).tree)
    for path, data in files.items():
        index.add(pygit2.IndexEntry(path, repo.create_blob(data), pygit2.enums.FileMode.BLOB))
    sig = pygit2.Signature(*AUTHOR)
    parents = [pygit2.Oid(hex=parent)] if parent else []
    return str(repo.create_commit(None, sig, sig, message, index.write_tree(repo), parents))


@dataclass(frozen=True)
class Out:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@contextmanager
def _in(cwd: Path) -> Iterator[None]:
    old_cwd, old_env = Path.cwd(), dict(os.environ)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(GIT_ENV)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)


def mtor(cwd: Path, *argv: str) -> Out:
    """`mtor-git argv...` in-process in `cwd`, with the isolated git environment."""
    out, err = io.StringIO(), io.StringIO()
    with _in(cwd), redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return Out(code, out.getvalue(), err.getvalue())


def remote_refs(bare: Path) -> dict[str, str]:
    text = git("for-each-ref", "--format=%(refname) %(objectname)", cwd=bare)
    return dict(line.split() for line in text.splitlines() if line)


def remote_file(bare: Path, ref: str, path: str) -> bytes:
    """The exact bytes of `path` at `ref` in `bare`."""
    return subprocess.run(["git", "show", f"{ref}:{path}"], cwd=bare, env=GIT_ENV,
                          capture_output=True, check=True).stdout
