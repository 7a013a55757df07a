"""What a commit or a push would record, as (path, blob id, mode) entries: the index (or the
temporary index `git commit -a` hands its hooks), and the files each pushed commit pair adds or
changes. The hooks' validation reads specs through these."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import pygit2
from pygit2.enums import DeltaStatus

ZERO = "0" * 40


@dataclass(frozen=True)
class Entry:
    path: str
    oid: str
    mode: int


def staged(repo: pygit2.Repository, keep: Callable[[str], bool], *,
           index_file: str | None = None, changed_only: bool = False) -> Iterator[Entry]:
    """Entries of the index whose path `keep` accepts. `index_file` is git's GIT_INDEX_FILE
    (libgit2 ignores that variable). With `changed_only`, entries exactly as HEAD has them are
    left out."""
    if index_file:
        index = pygit2.Index(os.path.abspath(index_file))
    else:
        repo.index.read()
        index = repo.index
    unchanged = _head_entries(repo) if changed_only else {}
    for entry in index:
        if keep(entry.path) and unchanged.get(entry.path) != entry.id:
            yield Entry(entry.path, str(entry.id), entry.mode)


def _head_entries(repo: pygit2.Repository) -> dict[str, pygit2.Oid]:
    """Path -> blob id of every file in HEAD's tree (empty on an unborn branch)."""
    if repo.head_is_unborn:
        return {}
    index = pygit2.Index()
    index.read_tree(repo.head.peel(pygit2.Commit).tree)
    return {entry.path: entry.id for entry in index}


def pushed(repo: pygit2.Repository, updates: Iterable[tuple[str, str]],
           keep: Callable[[str], bool]) -> Iterator[Entry]:
    """Entries added or changed by each (remote_old, local_new) commit pair of a push; a
    deleted branch sends nothing, an unknown old commit counts every file as new."""
    for old, new in updates:
        if new == ZERO:
            continue
        new_commit = repo.revparse_single(new).peel(pygit2.Commit)
        old_tree = None
        if old != ZERO:
            try:
                old_tree = repo.revparse_single(old).peel(pygit2.Tree)
            except (KeyError, ValueError, pygit2.GitError):
                old_tree = None
        diff = (new_commit.tree.diff_to_tree(swap=True) if old_tree is None
                else old_tree.diff_to_tree(new_commit.tree))
        for delta in diff.deltas:
            if delta.status != DeltaStatus.DELETED and keep(delta.new_file.path):
                yield Entry(delta.new_file.path, str(delta.new_file.id), delta.new_file.mode)


def blob_bytes(repo: pygit2.Repository, oid: str) -> bytes | None:
    """The blob's content; None when the object is no blob (a submodule's gitlink)."""
    obj = repo.get(oid)
    return obj.data if isinstance(obj, pygit2.Blob) else None
