"""Check many specs at once: files on disk, the git index (what a commit would record), or the
specs a push would send. Each check yields one Checked per spec file."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pygit2

from mtor_git.errors import Problem, SpecError
from mtor_git.spec import DEFAULT_MAX_BYTES, Spec, is_spec_path, parse_spec, read_spec_file

_SYMLINK = 0o120000
_ZERO = "0" * 40


@dataclass(frozen=True)
class Checked:
    """One spec file's verdict: the Spec, or the problems that make it invalid."""

    path: str
    spec: Spec | None
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return self.spec is not None


def check_bytes(raw: bytes, path: str, *, symlink: bool = False,
                max_bytes: int = DEFAULT_MAX_BYTES) -> Checked:
    if symlink:
        return Checked(path, None, (Problem(path, 1, "file", "is a symlink; specs must be "
                                            "regular files"),))
    try:
        return Checked(path, parse_spec(raw, path, max_bytes=max_bytes))
    except SpecError as exc:
        return Checked(path, None, exc.problems)


def check_files(paths: Iterable[Path], *, root: Path | None = None,
                max_bytes: int = DEFAULT_MAX_BYTES) -> list[Checked]:
    """Check files on disk; each is shown relative to `root` when it lies inside it."""
    results = []
    for path in paths:
        shown = _relative(path, root)
        try:
            results.append(Checked(shown, read_spec_file(path, display=shown,
                                                         max_bytes=max_bytes)))
        except SpecError as exc:
            results.append(Checked(shown, None, exc.problems))
    return results


def spec_files(root: Path, tasks_dir: str = "tasks") -> list[Path]:
    """Every spec file in `<root>/<tasks_dir>/`, sorted (symlinks included, so they are refused)."""
    try:
        entries = list(os.scandir(root / tasks_dir))
    except (FileNotFoundError, NotADirectoryError):
        return []
    # DirEntry answers from the directory listing: no stat per file, which shows at 10,000.
    return [Path(e.path) for e in sorted(entries, key=lambda e: e.name)
            if is_spec_path(f"{tasks_dir}/{e.name}", tasks_dir)
            and (e.is_symlink() or e.is_file(follow_symlinks=False))]


def check_index(repo: pygit2.Repository, tasks_dir: str = "tasks",
                max_bytes: int = DEFAULT_MAX_BYTES,
                index_file: str | None = None, changed_only: bool = False) -> list[Checked]:
    """Check the specs exactly as staged: what `git commit` would record, not the work tree.

    `index_file` is git's GIT_INDEX_FILE: `git commit -a` and `git commit <paths>` stage into a
    temporary index and run the hook against it; libgit2 ignores that variable, so pass it on.
    With `changed_only` (the pre-commit hook), specs staged exactly as HEAD has them are
    skipped: a commit is judged by what it changes, not by a spec that is already in history.
    """
    if index_file:
        index = pygit2.Index(os.path.abspath(index_file))
    else:
        repo.index.read()
        index = repo.index
    unchanged = _head_entries(repo) if changed_only else {}
    results = []
    for entry in index:
        if is_spec_path(entry.path, tasks_dir) and unchanged.get(entry.path) != entry.id:
            results.append(_check_object(repo, entry.path, entry.id, entry.mode, max_bytes))
    return results


def _head_entries(repo: pygit2.Repository) -> dict[str, pygit2.Oid]:
    """Path -> blob id of every file in HEAD's tree (empty on an unborn branch)."""
    if repo.head_is_unborn:
        return {}
    index = pygit2.Index()
    index.read_tree(repo.head.peel(pygit2.Commit).tree)
    return {entry.path: entry.id for entry in index}


def check_push(repo: pygit2.Repository, updates: Iterable[tuple[str, str]],
               tasks_dir: str = "tasks", max_bytes: int = DEFAULT_MAX_BYTES) -> list[Checked]:
    """Check specs added or changed by each (remote_old, local_new) commit pair of a push."""
    results: dict[str, Checked] = {}
    for old, new in updates:
        if new == _ZERO:
            continue  # deleting a branch sends no specs
        new_commit = repo.revparse_single(new).peel(pygit2.Commit)
        for path, blob_id, mode in _changed_specs(repo, old, new_commit, tasks_dir):
            results[path] = _check_object(repo, path, blob_id, mode, max_bytes)
    return list(results.values())


def _check_object(repo: pygit2.Repository, path: str, oid: pygit2.Oid, mode: int,
                  max_bytes: int) -> Checked:
    blob = repo.get(oid)
    if not isinstance(blob, pygit2.Blob):  # a submodule (gitlink) named like a spec
        return Checked(path, None, (Problem(path, 1, "file", "is not a regular file"),))
    return check_bytes(blob.data, path, symlink=mode == _SYMLINK, max_bytes=max_bytes)


def _changed_specs(repo: pygit2.Repository, old: str, new: pygit2.Commit,
                   tasks_dir: str) -> Iterator[tuple[str, pygit2.Oid, int]]:
    old_tree = None
    if old != _ZERO:
        try:
            old_tree = repo.revparse_single(old).peel(pygit2.Tree)
        except (KeyError, ValueError, pygit2.GitError):
            old_tree = None  # the remote's commit is unknown here: check every spec
    if old_tree is None:
        diff = new.tree.diff_to_tree(swap=True)
    else:
        diff = old_tree.diff_to_tree(new.tree)
    for delta in diff.deltas:
        if delta.status == pygit2.enums.DeltaStatus.DELETED:
            continue
        path = delta.new_file.path
        if is_spec_path(path, tasks_dir):
            yield path, delta.new_file.id, delta.new_file.mode


def _relative(path: Path, root: Path | None) -> str:
    if root is not None:
        text, prefix = str(path), os.path.join(root, "")
        if text.startswith(prefix) and ".." not in text:  # the common case, without relpath
            return text[len(prefix):]
        try:
            return os.path.relpath(path, root) if path.is_absolute() else str(path)
        except ValueError:
            pass
    return str(path)
