"""Where an agent's work waits before it may join the worker's clone: a bare repository per run
that sees the clone's objects (alternates) but keeps its own. The clone's object store is lent
read-only to every later agent (its checkout borrows it), so work holding a secret must never be
written there: it stays in its intake, moved aside as the run's quarantine."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pygit2

from mtor_git.errors import GitOpError
from mtor_git.git.collect import Limits, Tally, copy_objects, own_objects
from mtor_git.git.transfer import open_exact

_UNCAPPED = Limits(max_file_bytes=sys.maxsize, max_change_bytes=sys.maxsize)


def open_intake(repo: pygit2.Repository, path: Path) -> pygit2.Repository:
    """A fresh bare repository at `path` (leftovers removed) reading `repo`'s objects too."""
    shutil.rmtree(path, ignore_errors=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        pygit2.init_repository(str(path), bare=True)
        objects = (Path(repo.path) / "objects").resolve()
        (path / "objects" / "info" / "alternates").write_text(f"{objects}\n")
        return open_exact(path)  # opened again: alternates are read when a repo opens
    except (pygit2.GitError, OSError) as exc:
        raise GitOpError(f"cannot make the intake repository {path}: {exc}") from exc


def adopt_intake(repo: pygit2.Repository, intake: pygit2.Repository, head: str) -> None:
    """Copy into the clone every object of `head` it lacks, from the intake's own store."""
    copy_objects(own_objects(Path(intake.path) / "objects"), repo, head, Tally(_UNCAPPED))


def drop_intake(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def quarantine_intake(intake: pygit2.Repository, where: Path, ref: str, head: str) -> Path:
    """Keep the intake (the agent's work, secret included) at `where`, `ref` naming `head`."""
    intake.references.create(ref, pygit2.Oid(hex=head), force=True)
    shutil.rmtree(where, ignore_errors=True)
    where.parent.mkdir(parents=True, exist_ok=True)
    Path(intake.path).rename(where)
    return where
