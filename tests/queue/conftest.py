"""Fixtures for the claim protocol: a real bare remote, and one bare clone per worker (the
worker's own workspace clone, opened by the library as the daemon opens it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from claimfixtures import Worker
from gitfixtures import git_daemon, make_bare_remote

from mtor_git import git as gitops


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return make_bare_remote(tmp_path / "remote.git")


@pytest.fixture
def worker(remote: Path, tmp_path: Path) -> Callable[[str], Worker]:
    """`worker("w1")`: a worker with its own clone of `remote`."""
    def make(name: str) -> Worker:
        return Worker(name, gitops.open_or_clone(str(remote), tmp_path / name / "repo.git",
                                                 bare=True))
    return make


@pytest.fixture
def served_worker(remote: Path, tmp_path: Path) -> Iterator[Worker]:
    """Worker "w1" talking to `remote` through `git daemon` (git://), so the remote's own hooks
    judge its pushes (a path remote is written directly)."""
    with git_daemon(remote.parent) as daemon:
        yield Worker("w1", gitops.open_or_clone(daemon.url(remote), tmp_path / "served.git",
                                                bare=True))
