"""The intake repository: the agent's work waits there, out of the clone whose objects every later
agent may read, and joins the clone only when the worker adopts it."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from mtor_git import git as gitops


@pytest.fixture
def clone(bare_remote: Path, tmp_path: Path) -> pygit2.Repository:
    return gitops.open_or_clone(str(bare_remote), tmp_path / "ws" / "repo.git", bare=True)


def collected(clone: pygit2.Repository, tmp_path: Path) -> tuple[pygit2.Repository, str]:
    base = gitops.resolve(clone, "main")
    assert base is not None
    checkout = gitops.create_checkout(clone, tmp_path / "wt" / "t1.r1", "mtor/t1", base)
    (checkout.path / "secret.txt").write_text("the token is s3cr3t\n")
    intake = gitops.open_intake(clone, tmp_path / "ws" / "intake" / "t1.r1.git")
    work = gitops.collect(intake, checkout, results_dir="results", message="agent changes")
    return intake, work.head


def test_the_agents_work_stays_out_of_the_clone_until_adopted(clone: pygit2.Repository,
                                                              tmp_path: Path) -> None:
    intake, head = collected(clone, tmp_path)
    assert pygit2.Oid(hex=head) not in clone.odb
    assert gitops.read_blob(intake, head, "secret.txt") == b"the token is s3cr3t\n"
    gitops.adopt_intake(clone, intake, head)
    assert gitops.read_blob(clone, head, "secret.txt") == b"the token is s3cr3t\n"


def test_a_quarantined_intake_keeps_the_work_aside_under_its_ref(clone: pygit2.Repository,
                                                                 tmp_path: Path) -> None:
    intake, head = collected(clone, tmp_path)
    where = gitops.quarantine_intake(intake, tmp_path / "ws" / "quarantine" / "t1.r1.git",
                                     "refs/mtor-local/quarantine/t1.r1", head)
    kept = gitops.open_repository(where)
    assert str(kept.references["refs/mtor-local/quarantine/t1.r1"].target) == head
    assert gitops.read_blob(kept, head, "secret.txt") == b"the token is s3cr3t\n"
    assert pygit2.Oid(hex=head) not in clone.odb
    assert not (tmp_path / "ws" / "intake" / "t1.r1.git").exists()
