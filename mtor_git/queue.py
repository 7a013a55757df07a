"""The git-native queue: what the remote's refs say about every task (pending, claimed, done,
asked to retry or cancel), and the claim operations, each a single atomic push."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pygit2
from loguru import logger

from mtor_git import gitops, names
from mtor_git.claims import CLAIM_FILE, Claim
from mtor_git.errors import GitOpError, PushRejected


@dataclass(frozen=True)
class RemoteView:
    """The remote's refs at one moment (refname -> oid), read with one ls-remote."""

    refs: Mapping[str, str]
    branch: str

    @property
    def head(self) -> str | None:
        return self.refs.get(f"refs/heads/{self.branch}")

    def claim_oid(self, task_id: str) -> str | None:
        return self.refs.get(names.claim_ref(task_id))

    def retry_oid(self, task_id: str) -> str | None:
        return self.refs.get(names.retry_ref(task_id))

    def cancelled(self, task_id: str) -> bool:
        return names.cancel_ref(task_id) in self.refs

    def done(self, task_id: str, run: int) -> bool:
        return names.branch_ref(task_id, run) in self.refs

    def ids_with(self, prefix: str) -> set[str]:
        return {ref[len(prefix):] for ref in self.refs if ref.startswith(prefix)}


def read_view(repo: pygit2.Repository, branch: str) -> RemoteView:
    return RemoteView(gitops.remote_refs(repo), branch)


def read_claim(repo: pygit2.Repository, oid: str) -> Claim | None:
    """The claim stored in commit `oid` (fetched beforehand); None when unreadable."""
    raw = gitops.read_blob(repo, oid, CLAIM_FILE)
    return Claim.from_bytes(raw) if raw is not None else None


def requested_run(repo: pygit2.Repository, view: RemoteView, task_id: str) -> int:
    """Run 1, or N when `mtor-git retry` asked for run N (refs/mtor/retry/<id> holds retry.json)."""
    oid = view.retry_oid(task_id)
    if oid is None:
        return 1
    try:
        data = json.loads(gitops.read_blob(repo, oid, "retry.json") or b"")
        run = int(data["run"])
        return run if run >= 1 else 1
    except (KeyError, ValueError, TypeError):
        logger.warning("retry request for {} is unreadable; ignored", task_id)
        return 1


def push_claim(repo: pygit2.Repository, claim: Claim, *, parent: str | None,
               author: tuple[str, str]) -> str | None:
    """Create (parent None) or advance (compare-and-swap on `parent`) the claim ref.

    Returns the new claim commit, or None when another worker won the race.
    """
    ref = names.claim_ref(claim.task_id)
    local_ref = "refs/mtor-local/claims/" + claim.task_id
    oid = gitops.commit_files(
        repo, ref=local_ref, parent=parent, files={CLAIM_FILE: claim.to_bytes()},
        message=f"mtor: claim {claim.task_id} run {claim.run} ({claim.phase}) by {claim.worker}",
        author_name=author[0], author_email=author[1])
    try:
        gitops.push(repo, [f"{local_ref}:{ref}"])
    except PushRejected as exc:
        logger.debug("claim push for {} refused: {}", claim.task_id, exc)
        return None
    return oid


def delete_claim(repo: pygit2.Repository, task_id: str) -> None:
    try:
        gitops.push(repo, [f":{names.claim_ref(task_id)}"])
    except GitOpError as exc:
        logger.warning("could not delete claim of {}: {} (it expires by itself)", task_id, exc)
