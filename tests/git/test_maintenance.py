"""The worker's clone is repacked when it grew past git's gc limits (git/maintenance.py), on real
repositories: a pack per fetch as libgit2 leaves them, loose objects as the worker writes them,
and a worker whose cycles repack its own clone while it runs tasks. What a killed fetch leaves
(a real libgit2 fetch, killed while a server hangs in the middle of its pack) is swept."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest
from daemonfixtures import Site, site, spec
from gitfixtures import git, git_daemon, import_commit, make_bare_remote, relay
from workerfixtures import settle, worker

from mtor_git import git as gitops
from mtor_git.errors import GitOpError
from mtor_git.git import maintenance as tidy
from mtor_git.worker.cycle import Worker

_SERIAL = itertools.count()


def _packs(repo: Path) -> list[Path]:
    return sorted((repo / "objects" / "pack").glob("*.pack"))


def _blob(repo: Path, text: str) -> str:
    return git("hash-object", "-w", "--stdin", cwd=repo, input=text.encode())


def _packed_blobs(repo: Path, count: int) -> list[str]:
    """`count` blobs, each only in a pack of its own (as libgit2 keeps each fetch's pack)."""
    blobs = []
    for _ in range(count):
        blobs.append(_blob(repo, f"blob {next(_SERIAL)}\n"))
        git("pack-objects", "-q", "objects/pack/pack", cwd=repo, input=f"{blobs[-1]}\n".encode())
    git("prune-packed", cwd=repo)
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


def test_more_packs_than_the_limit_are_repacked_and_no_object_is_lost(tmp_path: Path) -> None:
    repo = make_bare_remote(tmp_path / "r.git")
    blobs = _packed_blobs(repo, tidy.PACK_LIMIT + 1)  # no ref reaches any of them
    loose = _blob(repo, "written, not yet referenced\n")
    old = time.time() - 30 * 24 * 3600  # packed a month ago: past any expiry git knows
    for pack in _packs(repo):
        os.utime(pack, (old, old))
    assert tidy.untidy(repo)
    head = git("rev-parse", "main", cwd=repo)
    tidy.tidy(repo)
    assert not tidy.untidy(repo)
    assert len(_packs(repo)) <= 2  # what the refs reach, and the rest (a cruft pack)
    opened = gitops.open_exact(repo)
    # Nothing is deleted: a task checkout may borrow a base no ref reaches any more.
    assert all(isinstance(opened.get(oid), pygit2.Blob) for oid in [*blobs, loose])
    assert git("rev-parse", "main", cwd=repo) == head
    assert not (repo / "packed-refs").exists()  # refs left as they were


def test_too_many_loose_objects_are_packed(tmp_path: Path) -> None:
    """As the worker writes them (libgit2: loose), some reachable from a ref, some not."""
    path = make_bare_remote(tmp_path / "r.git")
    repo = gitops.open_exact(path)
    tree = repo.TreeBuilder()
    unreachable = []
    n = 0
    while not tidy.untidy(path):  # git's estimate: from objects/17 alone
        blob = repo.create_blob(f"loose {n}\n".encode())
        if n % 2:
            tree.insert(f"f{n}", blob, pygit2.GIT_FILEMODE_BLOB)
        else:
            unreachable.append(str(blob))
        n += 1
    who = pygit2.Signature("t", "t@example.com")
    repo.create_commit("refs/heads/many", who, who, "many", tree.write(), [])
    tidy.tidy(path)
    assert not tidy.untidy(path)
    assert git("cat-file", "-t", f"many:f{n - 1 if n % 2 == 0 else n - 2}", cwd=path) == "blob"
    opened = gitops.open_exact(path)
    assert all(isinstance(opened.get(oid), pygit2.Blob) for oid in unreachable)


def test_the_users_git_configuration_does_not_apply(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_bare_remote(tmp_path / "r.git")
    _packed_blobs(repo, tidy.PACK_LIMIT + 1)
    mine = tmp_path / "gitconfig"
    mine.write_text("[pack]\n\twindow = not-a-number\n")  # would fail any repack
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(mine))
    tidy.tidy(repo)
    assert not tidy.untidy(repo)


def test_a_failing_git_is_a_git_op_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_bare_remote(tmp_path / "r.git")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no git there
    with pytest.raises(GitOpError):
        tidy.tidy(repo)


@contextlib.contextmanager
def _untidy_worker(tmp_path: Path) -> Iterator[tuple[Site, Worker, Path]]:
    """A site, an in-process worker that cycled once, and its clone with 51 packs (as 51
    fetches leave it)."""
    with site(tmp_path) as s:
        w = worker(s)
        try:
            w.cycle()
            clone = s.root / "workers" / "w1" / "ws" / "remote" / "repo.git"
            _packed_blobs(clone, tidy.PACK_LIMIT + 1)
            yield s, w, clone
        finally:
            w.stop(5)


def test_a_worker_repacks_its_clone_once_quiet_and_goes_on_running_tasks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    real = gitops.tidy

    def counted(clone: Path) -> None:
        calls.append(bool(w.running))  # a task of the repository running: it must not be
        real(clone)

    monkeypatch.setattr(gitops, "tidy", counted)
    with _untidy_worker(tmp_path) as (s, w, clone):
        s.push_specs({"t1": spec()}, "a task")
        assert w.cycle() == 1  # t1 runs: no repack beside it
        assert tidy.untidy(clone) and calls == []
        settle(w)
        w.cycle()  # quiet now
        assert calls == [False]
        assert not tidy.untidy(clone)
        s.push_specs({"t2": spec()}, "one after the repack")
        w.cycle()
        settle(w)
        assert set(s.results()) == {"t1", "t2"}


def test_a_repack_that_fails_leaves_nothing_and_is_not_tried_again_every_cycle(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []

    def broken(clone: Path) -> None:  # as a missing git fails it
        calls.append(clone)
        raise GitOpError("git: not found")

    monkeypatch.setattr(gitops, "tidy", broken)
    with _untidy_worker(tmp_path) as (s, w, clone):
        half = clone / "objects" / "pack" / "tmp_pack_Qx3Lm9"  # what git wrote before it died
        half.write_bytes(b"PACK")
        for n in (1, 2):
            s.push_specs({f"t{n}": spec()}, f"task {n}")
            w.cycle()
            settle(w)
            w.cycle()  # quiet: the first tries, the second does not (within the hour)
            assert len(calls) == 1 and w.repos["remote"].tidy_after > time.monotonic()
            assert not half.exists()
        assert tidy.untidy(clone)


# -- what a killed fetch or repack leaves ---------------------------------------------------------
_FETCH = """
import sys, pygit2
repo = pygit2.Repository(sys.argv[1])
repo.remotes.set_url("origin", sys.argv[2])
repo.remotes["origin"].fetch(["+refs/heads/*:refs/remotes/origin/*"])
"""


def _partial_packs(clone: Path) -> list[Path]:
    return [p for p in (clone / "objects" / "pack").glob("pack_git2_*") if p.stat().st_size]


def test_a_fetch_killed_in_the_middle_of_its_pack_leaves_nothing_after_the_sweep(
        tmp_path: Path) -> None:
    remote = make_bare_remote(tmp_path / "srv" / "r.git")
    with git_daemon(tmp_path / "srv") as server:
        url = server.url(remote)
        clone = tmp_path / "clone.git"
        pygit2.init_repository(clone, bare=True).remotes.create("origin", url)
        subprocess.run([sys.executable, "-c", _FETCH, str(clone), url], check=True)
        first = git("rev-parse", "refs/remotes/origin/main", cwd=clone)
        import_commit(remote, "main", {"big.bin": os.urandom(2 << 20)}, "2 MiB, incompressible",
                      parent=first)
        port = int(url.split(":")[2].split("/")[0])
        with relay(port, stall_after=512 << 10) as hung:
            child = subprocess.Popen([sys.executable, "-c", _FETCH, str(clone), hung.url(url)])
            try:
                deadline = time.monotonic() + 30
                while not _partial_packs(clone) and time.monotonic() < deadline:
                    time.sleep(0.02)
                partial = _partial_packs(clone)
                assert partial, "the fetch wrote no partial pack"
            finally:
                os.kill(child.pid, signal.SIGKILL)
                child.wait(10)
        packs = _packs(clone)
        assert len(packs) == 1  # the first fetch's, whole
        written = partial[0].stat().st_mtime
        assert tidy.sweep_partial_writes(clone, older_than=written) == []  # could be a live one
        assert tidy.sweep_partial_writes(clone, older_than=written + 1) == partial
        assert list((clone / "objects" / "pack").glob("pack_git2_*")) == []
        assert _packs(clone) == packs
        git("cat-file", "-e", f"{first}^{{tree}}", cwd=clone)
        subprocess.run([sys.executable, "-c", _FETCH, str(clone), url], check=True)
        git("cat-file", "-e", "refs/remotes/origin/main:big.bin", cwd=clone)


def test_git_and_libgit2_temporary_files_are_swept_and_nothing_else(tmp_path: Path) -> None:
    repo = make_bare_remote(tmp_path / "r.git")
    objects = repo / "objects"
    left = [objects / "pack" / name for name in (
        "pack_git2_0123456789abcdef", "tmp_pack_Ab12Cd", "tmp_idx_Ab12Cd", "tmp_rev_Ab12Cd",
        ".tmp-4242-pack-" + "0" * 40 + ".pack")] + [objects / "tmp_object_git2_Xy12Zw"]
    kept = [objects / "pack" / "pack-keepme.keep", objects / "info" / "alternates",
            objects / "pack" / "tmp_pack_a_folder"]
    for path in [*left, *kept[:2]]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 100)
    kept[2].mkdir()
    before = sorted(p for p in objects.rglob("*") if p not in left)
    assert sorted(tidy.sweep_partial_writes(repo, older_than=time.time() + 1)) == sorted(left)
    assert sorted(objects.rglob("*")) == before
    git("fsck", "--no-progress", cwd=repo)
    assert tidy.sweep_partial_writes(tmp_path / "no-such.git", older_than=time.time()) == []
