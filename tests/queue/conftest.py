"""Fixtures for the claim protocol: a real bare remote, and one bare clone per worker (the
worker's own workspace clone, opened by the library as the daemon opens it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from claimfixtures import Worker, clone_for
from gitfixtures import git_daemon, make_bare_remote


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return make_bare_remote(tmp_path / "remote.git")


@pytest.fixture
def worker(remote: Path, tmp_path: Path) -> Callable[[str], Worker]:
    """`worker("w1")`: a worker with its own clone of `remote`."""
    def make(name: str) -> Worker:
        return clone_for(remote, tmp_path / name / "repo.git", name)
    return make


@pytest.fixture
def served_worker(remote: Path, tmp_path: Path) -> Iterator[Worker]:
    """Worker "w1" talking to `remote` through `git daemon` (git://), so the remote's own hooks
    judge its pushes (a path remote is written directly)."""
    with git_daemon(remote.parent) as daemon:
        yield clone_for(daemon.url(remote), tmp_path / "served.git", "w1")
