"""Helpers for the claim-protocol tests: one worker's side (its id and bare clone) and reads of
what the remote itself holds, through the git CLI. The pytest fixtures are in conftest.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitfixtures import git

from mtor_git import git as gitops
from mtor_git.git import Repository
from mtor_git.queue import protocol

BRANCH = "main"
AUTHOR = ("mtor-git", "mtor-git@localhost")


@dataclass
class Worker:
    """One worker's side of the protocol: its id and its bare clone of the remote."""

    name: str
    repo: Repository

    def view(self) -> protocol.RemoteView:
        """Fetch, then read the remote's refs, as a cycle does before it claims."""
        gitops.fetch(self.repo)
        return protocol.read_view(self.repo, BRANCH)


def clone_for(url: str | Path, path: Path, name: str) -> Worker:
    """Worker `name` with its own bare clone of `url` at `path`."""
    return Worker(name, gitops.open_or_clone(str(url), path, bare=True))


def remote_ref(remote: Path, ref: str) -> str | None:
    """What the remote itself holds at `ref`, read with the git CLI (None: no such ref)."""
    out = git("for-each-ref", "--format=%(objectname)", ref, cwd=remote)
    return out or None


def remote_claim_parent(remote: Path, task_id: str) -> str:
    return git("rev-parse", f"refs/mtor/claims/{task_id}^", cwd=remote)
