"""The worker's clone is repacked when it grew past git's gc limits (git/maintenance.py), on real
repositories: a pack per fetch as libgit2 leaves them, loose objects as the worker writes them,
and a worker whose cycles repack its own clone while it runs tasks."""

from __future__ import annotations

import itertools
from pathlib import Path

import pygit2
import pytest
from daemonfixtures import Site, site, spec
from gitfixtures import git, make_bare_remote
from workerfixtures import settle, worker

from mtor_git import git as gitops
from mtor_git.errors import GitOpError
from mtor_git.git import maintenance as tidy

_SERIAL = itertools.count()


def _packs(repo: Path) -> list[Path]:
    return sorted((repo / "objects" / "pack").glob("*.pack"))


def _blob(repo: Path, text: str) -> str:
    return git("hash-object", "-w", "--stdin", cwd=repo, input=text.encode())


def _packed_blobs(repo: Path, count: int) -> list[str]:
    """`count` blobs, each in a pack of its own (as libgit2 keeps each fetch's pack)."""
    blobs = []
    for _ in range(count):
        blobs.append(_blob(repo, f"blob {next(_SERIAL)}\n"))
        git("pack-objects", "-q", "objects/pack/pack", cwd=repo, input=f"{blobs[-1]}\n".encode())
    return blobs


def test_a_clone_within_gits_limits_is_tidy(tmp_path: Path) -> None:
    repo = make_bare_remote(tmp_path / "r.git")
    assert not tidy.untidy(repo)
    _packed_blobs(repo, tidy.PACK_LIMIT - len(_packs(repo)))
    assert len(_packs(repo)) == tidy.PACK_LIMIT
    assert not tidy.untidy(repo)
    _packed_blobs(repo, 1)
    assert tidy.untidy(repo)
    assert not tidy.untidy(tmp_path / "no-such.git")


def test_more_packs_than_the_limit_are_repacked_into_one_and_every_object_stays(
        tmp_path: Path) -> None:
    repo = make_bare_remote(tmp_path / "r.git")
    blobs = _packed_blobs(repo, tidy.PACK_LIMIT + 1)  # no ref reaches any of them
    assert tidy.untidy(repo)
    head = git("rev-parse", "main", cwd=repo)
    tidy.tidy(repo)
    assert not tidy.untidy(repo)
    assert len(_packs(repo)) == 1
    opened = gitops.open_exact(repo)
    # Unreachable objects stay (loose, for git's two weeks): a task checkout may borrow them.
    assert all(isinstance(opened.get(oid), pygit2.Blob) for oid in blobs)
    assert git("rev-parse", "main", cwd=repo) == head
    assert not (repo / "packed-refs").exists()  # refs left loose: no lock the worker meets


def test_too_many_loose_objects_are_packed(tmp_path: Path) -> None:
    """As the worker writes them (libgit2: loose), reachable from a ref."""
    path = make_bare_remote(tmp_path / "r.git")
    repo = gitops.open_exact(path)
    tree = repo.TreeBuilder()
    n = 0
    while not tidy.untidy(path):  # git's estimate: from objects/17 alone
        tree.insert(f"f{n}", repo.create_blob(f"loose {n}\n".encode()), pygit2.GIT_FILEMODE_BLOB)
        n += 1
    who = pygit2.Signature("t", "t@example.com")
    repo.create_commit("refs/heads/many", who, who, "many", tree.write(), [])
    tidy.tidy(path)
    assert not tidy.untidy(path)
    assert git("cat-file", "-t", f"many:f{n - 1}", cwd=path) == "blob"


def test_a_failing_git_is_a_git_op_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_bare_remote(tmp_path / "r.git")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no git there
    with pytest.raises(GitOpError):
        tidy.tidy(repo)


def _clone_of(s: Site, name: str) -> Path:
    return s.root / "workers" / name / "ws" / "remote" / "repo.git"


def test_a_worker_repacks_its_clone_after_a_cycle_and_goes_on_running_tasks(
        tmp_path: Path) -> None:
    with site(tmp_path) as s:
        w = worker(s)
        try:
            s.push_specs({"t1": spec()}, "one task")
            w.cycle()
            settle(w)
            clone = _clone_of(s, "w1")
            _packed_blobs(clone, tidy.PACK_LIMIT)  # as 50 more fetches would leave it
            assert tidy.untidy(clone)
            s.push_specs({"t2": spec()}, "another")
            w.cycle()  # runs t2, and hands the repack to the maintenance thread
            settle(w)
            w.maintenance.submit(lambda: None).result()
            assert not tidy.untidy(clone)
            assert len(_packs(clone)) <= 2
            s.push_specs({"t3": spec()}, "and one after the repack")
            w.cycle()
            settle(w)
            assert {"t1", "t2", "t3"} <= set(s.results())
        finally:
            w.stop(5)


def test_a_repack_that_fails_is_not_tried_again_every_cycle(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with site(tmp_path) as s:
        w = worker(s)
        try:
            w.cycle()
            clone = _clone_of(s, "w1")
            _packed_blobs(clone, tidy.PACK_LIMIT + 1)

            def broken(_clone: Path) -> None:  # as a missing git fails it
                raise GitOpError("git: not found")

            monkeypatch.setattr(gitops, "tidy", broken)
            s.push_specs({"t1": spec()}, "one task")
            w.cycle()
            settle(w)
            w.maintenance.submit(lambda: None).result()
            rt = w.repos["remote"]
            first = rt.tidying
            assert first is not None and first.done() and rt.tidy_after > 0
            s.push_specs({"t2": spec()}, "another")
            w.cycle()
            settle(w)
            assert rt.tidying is first  # not submitted again within the hour
            assert tidy.untidy(clone)
        finally:
            w.stop(5)
