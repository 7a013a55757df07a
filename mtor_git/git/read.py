"""Read-only questions about commits and trees: what changed under a directory, what a file holds,
which commit added a spec. Whole-tree diffs, never a walk over every commit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2
from pygit2.enums import DeltaStatus, DiffOption, FileMode

from mtor_git.errors import GitOpError
from mtor_git.git.transfer import TRACKING_PREFIX


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # added | modified | deleted | renamed
    insertions: int = 0
    deletions: int = 0


@dataclass(frozen=True)
class Changes:
    files: tuple[FileChange, ...] = ()

    @property
    def insertions(self) -> int:
        return sum(f.insertions for f in self.files)

    @property
    def deletions(self) -> int:
        return sum(f.deletions for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {"files_changed": len(self.files), "insertions": self.insertions,
                "deletions": self.deletions,
                "files": [{"path": f.path, "status": f.status, "insertions": f.insertions,
                           "deletions": f.deletions} for f in self.files]}


SYMLINK_MODE = int(FileMode.LINK)
_GITLINK_MODE = int(FileMode.COMMIT)

_STATUS = {DeltaStatus.ADDED: "added", DeltaStatus.DELETED: "deleted",
           DeltaStatus.RENAMED: "renamed", DeltaStatus.COPIED: "added",
           DeltaStatus.UNTRACKED: "added"}


@dataclass(frozen=True)
class PathChange:
    """One file that differs between two commits; `old_path` is set for renames."""

    status: str  # added | modified | deleted | renamed
    path: str  # the path at `new` (the old path for a deletion)
    old_path: str | None = None


def commit(repo: pygit2.Repository, rev: str) -> pygit2.Commit:
    """The commit `rev` names (an oid, a ref); GitOpError when there is none."""
    try:
        return repo.revparse_single(rev).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError) as exc:
        raise GitOpError(f"no commit {rev!r} in {repo.path}") from exc


def resolve(repo: pygit2.Repository, name: str) -> str | None:
    """A branch (the remote's copy first), tag, ref or commit id as a commit oid, else None."""
    for candidate in (TRACKING_PREFIX + name, "refs/tags/" + name, name):
        try:
            return str(repo.revparse_single(candidate).peel(pygit2.Commit).id)
        except (KeyError, ValueError, pygit2.GitError):
            continue
    return None


def is_ancestor(repo: pygit2.Repository, ancestor: str, descendant: str) -> bool:
    """True when `ancestor` is `descendant` or in its history; False when either is unknown."""
    try:
        a, d = commit(repo, ancestor).id, commit(repo, descendant).id
    except GitOpError:
        return False
    return a == d or bool(repo.descendant_of(d, a))


def _subtree(repo: pygit2.Repository, rev: str, under: str) -> pygit2.Tree | None:
    tree = commit(repo, rev).tree
    under = under.strip("/")
    if under in ("", "."):
        return tree
    try:
        obj = tree[under]
    except KeyError:
        return None
    return obj.peel(pygit2.Tree) if obj.type == pygit2.enums.ObjectType.TREE else None


def _empty_tree(repo: pygit2.Repository) -> pygit2.Tree:
    return repo[repo.TreeBuilder().write()].peel(pygit2.Tree)


def changed_paths(repo: pygit2.Repository, old: str | None, new: str,
                  under: str) -> list[PathChange]:
    """Files under directory `under` that differ from `old` to `new` (everything at `new` when
    `old` is None), with renames detected. Paths are repository-relative."""
    a = _subtree(repo, old, under) if old is not None else None
    b = _subtree(repo, new, under)
    if a is not None and b is not None and a.id == b.id:  # libgit2 would compare every entry
        return []
    if a is None or b is None:
        empty = _empty_tree(repo)
        a, b = a or empty, b or empty
    diff = a.diff_to_tree(b)
    diff.find_similar()
    prefix = "" if under.strip("/") in ("", ".") else under.strip("/") + "/"
    changes = []
    for delta in diff.deltas:
        status = _STATUS.get(delta.status, "modified")
        path = delta.old_file.path if status == "deleted" else delta.new_file.path
        old_path = prefix + delta.old_file.path if status == "renamed" else None
        changes.append(PathChange(status, prefix + path, old_path))
    return changes


def list_tree(repo: pygit2.Repository, rev: str, under: str) -> dict[str, str]:
    """Every file (blob or symlink) below `under` at `rev`: path -> blob oid hex."""
    tree = _subtree(repo, rev, under)
    if tree is None:
        return {}
    prefix = "" if under.strip("/") in ("", ".") else under.strip("/") + "/"
    return {path: oid for path, mode, oid in tree_entries(tree, prefix)
            if mode != _GITLINK_MODE}  # a submodule is a commit, not a file


def tree_entries(tree: pygit2.Tree, prefix: str = "") -> Iterator[tuple[str, int, str]]:
    """Every entry below `tree` but folders (submodules too): (path, mode, oid hex), named
    under `prefix`. Iterating trees directly: 15x faster than flattening through an Index."""
    todo = [(prefix, tree)]
    while todo:
        base, current = todo.pop()
        for entry in current:
            if isinstance(entry, pygit2.Tree):
                todo.append((f"{base}{entry.name}/", entry))
            else:
                yield f"{base}{entry.name}", int(entry.filemode), str(entry.id)


def folders_of(files: Iterable[str]) -> set[str]:
    """Every folder holding one of `files` (paths), at any depth."""
    found: set[str] = set()
    for path in files:
        cut = path.rfind("/")
        while cut > 0 and path[:cut] not in found:  # a known folder's parents are known
            found.add(path[:cut])
            cut = path.rfind("/", 0, cut)
    return found


def _entry(repo: pygit2.Repository, rev: str, path: str) -> pygit2.Object | None:
    try:
        entry = commit(repo, rev).tree[path]
    except (KeyError, GitOpError):
        return None
    return entry if entry.type == pygit2.enums.ObjectType.BLOB else None


def read_blob_with_mode(repo: pygit2.Repository, rev: str,
                        path: str) -> tuple[bytes | None, int | None]:
    """A file's bytes and git mode at `rev` (a symlink's bytes are its target); (None, None) when
    there is no such file (missing, a directory, or an unknown commit)."""
    entry = _entry(repo, rev, path)
    if entry is None:
        return None, None
    return repo[entry.id].peel(pygit2.Blob).data, int(entry.filemode)


def blob_size(repo: pygit2.Repository, oid: str) -> int | None:
    """The size of blob `oid` from its header, without reading it (None: no such blob)."""
    try:
        _kind, size = repo.odb.read_header(oid)
    except (KeyError, ValueError, pygit2.GitError):
        return None
    return int(size)


def blob_data(repo: pygit2.Repository, oid: str) -> bytes | None:
    """Blob `oid`'s bytes, read by its id (None: no such blob here): straight from the object
    database, no object built (a board reads the done index's 256 buckets this way)."""
    try:
        kind, data = repo.odb.read(oid)
    except (KeyError, ValueError, pygit2.GitError):
        return None
    return data if kind == pygit2.enums.ObjectType.BLOB else None


def read_blob(repo: pygit2.Repository, rev: str, path: str) -> bytes | None:
    return read_blob_with_mode(repo, rev, path)[0]


def file_mode(repo: pygit2.Repository, rev: str, path: str) -> int | None:
    return read_blob_with_mode(repo, rev, path)[1]


def is_symlink(repo: pygit2.Repository, rev: str, path: str) -> bool:
    return file_mode(repo, rev, path) == SYMLINK_MODE


def commit_of_path_addition(repo: pygit2.Repository, head: str, path: str) -> str | None:
    """The commit that last added or changed `path` as it is at `head` (git log -1 -- path,
    following through merges to the side that brought the file); None when absent at `head`."""
    cur = commit(repo, head)
    parts = path.strip("/").split("/")
    if _key(cur, path) is None:
        return None
    while True:
        same = next((p for p in cur.parents if _treesame(repo, cur.tree, p.tree, parts)), None)
        if same is None:
            return str(cur.id)
        cur = same


def _key(c: pygit2.Commit, path: str) -> tuple[pygit2.Oid, int] | None:
    try:
        entry = c.tree[path]
    except KeyError:
        return None
    return entry.id, int(entry.filemode)


def _treesame(repo: pygit2.Repository, a: pygit2.Tree, b: pygit2.Tree, parts: list[str]) -> bool:
    """Whether `parts` names the same entry in both trees. Equal subtree ids end the comparison
    early: a big tasks/ tree (slow to inflate) is read only in commits that touched it."""
    for depth, name in enumerate(parts):
        if a.id == b.id:
            return True
        ea, eb = _child(a, name), _child(b, name)
        if ea is None or eb is None:
            return ea is None and eb is None
        if depth == len(parts) - 1 or ea.id == eb.id:
            return ea.id == eb.id and ea.filemode == eb.filemode
        if not (isinstance(ea, pygit2.Tree) and isinstance(eb, pygit2.Tree)):
            return False
        a, b = ea, eb
    return True


def _child(tree: pygit2.Tree, name: str) -> pygit2.Object | None:
    try:
        return tree[name]
    except KeyError:
        return None


def diff_changes(repo: pygit2.Repository, base: str, head: str) -> Changes:
    """Per-file change summary (status, insertions, deletions) from `base` to `head`."""
    return _summary(repo.diff(commit(repo, base), commit(repo, head)))


def worktree_changes(repo: pygit2.Repository, base: str) -> Changes:
    """What differs in the working tree from commit `base`, committed or not: edits, deletions
    and new files that are not ignored (what an agent wrote without `git add` included)."""
    flags = (DiffOption.INCLUDE_UNTRACKED | DiffOption.RECURSE_UNTRACKED_DIRS
             | DiffOption.SHOW_UNTRACKED_CONTENT)
    return _summary(commit(repo, base).tree.diff_to_workdir(flags))


def head_of(repo: pygit2.Repository) -> tuple[str | None, str | None]:
    """(branch name or None when detached or unborn, HEAD commit or None when unborn)."""
    if repo.head_is_unborn:
        return None, None
    branch = None if repo.head_is_detached else repo.head.shorthand
    return branch, str(repo.head.target)


def _summary(diff: pygit2.Diff) -> Changes:
    diff.find_similar()
    files = []
    for patch in diff:
        if patch is None:
            continue
        delta = patch.delta
        status = _STATUS.get(delta.status, "modified")
        path = delta.old_file.path if status == "deleted" else delta.new_file.path
        _, insertions, deletions = patch.line_stats
        files.append(FileChange(path, status, insertions, deletions))
    return Changes(tuple(files))


def file_names(repo: pygit2.Repository, rev: str, folder: str) -> list[str]:
    """Names of the non-folder entries directly in `folder` (the root when empty) at `rev`."""
    try:
        root = commit(repo, rev).tree
        tree = root[folder] if folder else root
    except (KeyError, ValueError, GitOpError):
        return []
    if not isinstance(tree, pygit2.Tree):
        return []
    return [str(e.name) for e in tree if e.name and not isinstance(e, pygit2.Tree)]


def top_blobs(repo: pygit2.Repository, rev: str) -> dict[str, str]:
    """The blobs directly in the root of commit `rev` (name -> oid hex); {} for no commit."""
    try:
        tree = commit(repo, rev).tree
    except GitOpError:
        return {}
    return {str(e.name): str(e.id) for e in tree
            if e.name and e.type == pygit2.enums.ObjectType.BLOB}


def first_parent(repo: pygit2.Repository, rev: str) -> str | None:
    """The first parent of commit `rev`; None for a root commit or an unknown one."""
    try:
        parents = commit(repo, rev).parent_ids
    except (KeyError, ValueError, GitOpError):
        return None
    return str(parents[0]) if parents else None


def commit_signature(repo: pygit2.Repository, rev: str) -> tuple[bytes | None, bytes | None]:
    """The signature block of commit `rev` and the payload it signs; (None, None) when unsigned
    or unknown."""
    try:
        signature, payload = commit(repo, rev).gpg_signature
    except (KeyError, ValueError, GitOpError):
        return None, None
    return signature or None, payload


def discover(start: str | Path) -> pygit2.Repository | None:
    """The repository containing `start` (searching upwards, as git does), or None."""
    found = pygit2.discover_repository(str(start))
    return pygit2.Repository(found) if found is not None else None


def commit_time(repo: pygit2.Repository, rev: str) -> int | None:
    """The commit time (epoch seconds) of `rev`; None when it names no commit."""
    try:
        return int(commit(repo, rev).commit_time)
    except GitOpError:
        return None
