"""Shared pytest fixtures. Git remotes: see tests/gitfixtures.py for the plain helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gitfixtures import GitDaemon, git_daemon, make_bare_remote, user_clone


@pytest.fixture
def serve_dir(tmp_path: Path) -> Path:
    """Where served remotes live (the git daemon's base path)."""
    path = tmp_path / "srv"
    path.mkdir()
    return path


@pytest.fixture
def bare_remote(serve_dir: Path) -> Path:
    """A bare remote with one commit on `main`, servable by the `daemon` fixture."""
    return make_bare_remote(serve_dir / "remote.git")


@pytest.fixture
def daemon(serve_dir: Path) -> Iterator[GitDaemon]:
    """`git daemon` (push enabled) over `serve_dir`; `daemon.url(bare_remote)` is a git:// URL."""
    with git_daemon(serve_dir) as running:
        yield running


@pytest.fixture
def user_repo(bare_remote: Path, tmp_path: Path) -> Path:
    """The user's working clone of `bare_remote` (git CLI, identity configured)."""
    return user_clone(bare_remote, tmp_path / "user")
