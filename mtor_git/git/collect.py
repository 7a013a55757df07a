"""Take an agent's work out of its task checkout by the worker's own means, once every process
of the agent is gone: its commits are copied object by object into the worker's clone (no fetch
through the agent's config, hooks or remotes), its uncommitted files are read without following
symlinks and only after their size was checked, and the worker builds the commit of them itself.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2
from pygit2.enums import FileMode, ObjectType

from mtor_git.errors import ChangeTooLarge, GitOpError
from mtor_git.git.checkout import Checkout, unfinished_state
from mtor_git.git.read import commit, is_ancestor
from mtor_git.git.worktreefiles import Reserved, WorkingFiles, read_small
from mtor_git.git.write import signature

_HEX = re.compile(r"[0-9a-f]{40}")
_REF = re.compile(r"refs/[A-Za-z0-9._/-]{1,200}")
_CONFLICT = re.compile(rb"^(?:<{7}(?:[ \t][^\n]*)?|={7}|>{7}(?:[ \t][^\n]*)?)\r?$", re.M)


@dataclass(frozen=True)
class Limits:
    """Size caps on what an agent may add: any one file, and all new content together."""

    max_file_bytes: int = 10 << 20
    max_change_bytes: int = 100 << 20


@dataclass(frozen=True)
class Collected:
    """The agent's work in the worker's clone: `head` is its last commit (the worker's commit of
    the uncommitted files, else the agent's own last commit, else the base); `unfinished` says
    why the work is not finished (a merge or rebase left open, conflict markers), else None."""

    head: str
    agent_head: str
    changes_commit: str | None
    notes: tuple[str, ...] = ()
    unfinished: str | None = None


class Tally:
    """New content admitted so far against the limits; refuses before anything is read whole."""

    def __init__(self, limits: Limits) -> None:
        self.limits, self.total = limits, 0

    def check_file(self, path: str, size: int) -> None:
        if size > self.limits.max_file_bytes:
            raise ChangeTooLarge(f"the agent's file {path} is {size:,} bytes, over max_file_bytes "
                                 f"({self.limits.max_file_bytes:,}); nothing of its changes was "
                                 "committed")

    def add(self, path: str, size: int) -> None:
        self.check_file(path, size)
        self.total += size
        if self.total > self.limits.max_change_bytes:
            raise ChangeTooLarge(f"the agent's changes are over max_change_bytes "
                                 f"({self.limits.max_change_bytes:,}) with {path}; nothing of "
                                 "its changes was committed")


def collect(repo: pygit2.Repository, checkout: Checkout, *, results_dir: str,
            message: str, author_name: str | None = None, author_email: str | None = None,
            limits: Limits = Limits()) -> Collected:
    """Copy the agent's commits (kept as they are) and commit what it left uncommitted on top,
    in the worker's clone. Result files (`<results_dir>/<name>.json|md`, and `results_dir` as
    anything but a folder) stay as in the base, whatever the agent's files or commits did there;
    the notes say what was discarded. Raises ChangeTooLarge over a limit, GitOpError when the
    checkout is gone."""
    if not _real_dir(checkout.path) or not _real_dir(checkout.git_dir):
        raise GitOpError(f"the task worktree {checkout.path} (or its .git) is gone: the "
                         "agent's changes cannot be read")
    tally, notes = Tally(limits), list[str]()
    agent_head = _agent_commits(repo, checkout, tally, notes)
    rules = Reserved(results_dir)
    files = WorkingFiles(repo, checkout, tally, rules)
    tree, tracked = files.tree_over(agent_head)
    notes += rules.committed_notes(tracked, files.base) + files.notes
    head_commit = repo[agent_head].peel(pygit2.Commit)
    changes = None
    if tree != head_commit.tree_id:
        sig = signature(author_name, author_email)
        changes = str(repo.create_commit(None, sig, sig, message, tree, [head_commit.id]))
    head = changes or agent_head
    reasons = [r for r in (unfinished_state(checkout), _conflicts(repo, checkout.base, head,
                                                                   limits)) if r]
    return Collected(head=head, agent_head=agent_head, changes_commit=changes,
                     notes=tuple(notes), unfinished="; ".join(reasons) or None)


def _real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


# -- the agent's own commits ---------------------------------------------------------------------
def _agent_commits(repo: pygit2.Repository, checkout: Checkout, tally: Tally,
                   notes: list[str]) -> str:
    """The agent's HEAD copied into the worker's clone when it is a commit descending from the
    base; the base otherwise (with a note: its commits are dropped, its files still taken)."""
    head = read_head(checkout.git_dir)
    if head is None:
        notes.append("the agent's HEAD names no commit; its files were taken against the base")
        return checkout.base
    if head == checkout.base:
        return head
    try:
        copy_objects(own_objects(checkout.git_dir / "objects"), repo, head, tally)
    except (KeyError, ValueError, pygit2.GitError) as exc:
        notes.append(f"the agent's commit {head[:12]} could not be read ({exc}); its commits "
                     "were dropped, its files taken against the base")
        return checkout.base
    if not is_ancestor(repo, checkout.base, head):
        notes.append(f"the agent's HEAD {head[:12]} does not descend from the base commit; its "
                     "commits were dropped, its files taken against the base")
        return checkout.base
    return head


def read_head(git_dir: Path) -> str | None:
    """The commit id HEAD names, read from the files themselves (a symbolic ref, a loose ref or
    packed-refs; symlinks not followed): nothing of the agent's config takes part."""
    text = read_small(git_dir / "HEAD", 4096)
    for _ in range(5):
        if text is None:
            return None
        line = text.decode("utf-8", "replace").strip()
        if _HEX.fullmatch(line):
            return line
        name = line.removeprefix("ref:").strip()
        if not line.startswith("ref:") or not _REF.fullmatch(name) or ".." in name:
            return None
        text = read_small(git_dir / name, 4096) or _packed(git_dir, name)
    return None


def _packed(git_dir: Path, name: str) -> bytes | None:
    packed = read_small(git_dir / "packed-refs", 64 << 20) or b""
    for line in packed.splitlines():
        oid, _, ref = line.decode("utf-8", "replace").partition(" ")
        if ref.strip() == name and _HEX.fullmatch(oid):
            return oid.encode()
    return None


def own_objects(objects: Path) -> pygit2.Odb:
    """The checkout's own object store, without its alternates (the agent may have rewritten
    them): whatever the worker's clone lacks must be here."""
    odb = pygit2.Odb()
    odb.add_backend(pygit2.OdbBackendPack(str(objects)), 1)
    odb.add_backend(pygit2.OdbBackendLoose(str(objects), -1, False), 2)
    return odb


def copy_objects(source: pygit2.Odb, repo: pygit2.Repository, head: str, tally: Tally) -> None:
    """Every object `head` reaches that the clone lacks, blobs checked against the limits by
    their header before any is read. Each object is written after everything it reaches (a
    depth-first walk, written on the way back), so an object in the clone always comes with
    its whole closure, even after a crash half way."""
    seen: set[pygit2.Oid] = set()
    # (oid, path, None) to visit; (oid, kind, raw) to write, its children done by then.
    todo: list[tuple[pygit2.Oid, Any, Any]] = [(pygit2.Oid(hex=head), "", None)]
    while todo:
        oid, second, raw = todo.pop()
        if isinstance(second, ObjectType):  # back from the children: write it
            data = raw if raw is not None else source.read(oid)[1]  # blobs read one at a time
            if repo.odb.write(second, data) != oid:
                raise GitOpError(f"the agent's object {oid} is corrupt")
            continue
        if oid in seen or oid in repo.odb:
            continue
        seen.add(oid)
        kind, size = source.read_header(oid)
        if kind == ObjectType.BLOB:
            tally.add(second or str(oid), size)
            todo.append((oid, kind, None))
            continue
        if size > tally.limits.max_file_bytes:  # a crafted tree or commit is capped too
            raise ChangeTooLarge(f"the agent's {kind.name.lower()} {str(oid)[:12]} is {size:,} "
                                 f"bytes, over max_file_bytes ({tally.limits.max_file_bytes:,});"
                                 " nothing of its changes was committed")
        # ... and counts toward max_change_bytes: five commits of 900 kB messages are 4.5 MB.
        tally.add(f"{kind.name.lower()} {str(oid)[:12]}", size)
        data = source.read(oid)[1]
        todo.append((oid, kind, data))
        if kind == ObjectType.COMMIT:
            todo += [(pygit2.Oid(hex=h), "", None) for h in _commit_links(data)]
        elif kind == ObjectType.TREE:
            todo += [(o, f"{second}/{n}".lstrip("/"), None) for mode, n, o in _tree_entries(data)
                     if mode != FileMode.COMMIT]


def _commit_links(data: bytes) -> Iterator[str]:
    """The tree and parents of a raw commit."""
    for line in data.split(b"\n\n", 1)[0].split(b"\n"):
        key, _, value = line.partition(b" ")
        if key in (b"tree", b"parent"):
            yield value.decode()


def _tree_entries(data: bytes) -> Iterator[tuple[int, str, pygit2.Oid]]:
    """(mode, name, oid) of each entry of a raw tree object."""
    i = 0
    while i < len(data):
        space = data.index(b" ", i)
        nul = data.index(b"\0", space)
        yield (int(data[i:space], 8), data[space + 1:nul].decode("utf-8", "replace"),
               pygit2.Oid(raw=data[nul + 1:nul + 21]))
        i = nul + 21


# -- unfinished work -----------------------------------------------------------------------------
def _conflicts(repo: pygit2.Repository, base: str, head: str, limits: Limits) -> str | None:
    """Conflict markers (`<<<<<<<`, `=======`, `>>>>>>>` in that order) in a file the agent's
    work changed; binary files and files over the cap are not read."""
    if base == head:
        return None
    found = []
    diff = repo.diff(commit(repo, base), commit(repo, head))
    for delta in diff.deltas:
        new = delta.new_file
        if new.mode not in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE) or new.id.raw == bytes(20):
            continue
        if repo.odb.read_header(new.id)[1] > limits.max_file_bytes:
            continue
        if has_conflict_markers(repo.odb.read(new.id)[1]):
            found.append(new.path)
    if not found:
        return None
    shown = ", ".join(sorted(found)[:10]) + (" …" if len(found) > 10 else "")
    return f"conflict markers left in {shown}"


def has_conflict_markers(data: bytes) -> bool:
    if b"\0" in data[:8000]:
        return False
    stage = 0  # 0: want <<<<<<<, 1: want =======, 2: want >>>>>>>
    for match in _CONFLICT.finditer(data):
        mark = match.group()[:1]
        if mark == b"<":
            stage = 1
        elif mark == b"=" and stage == 1:
            stage = 2
        elif mark == b">" and stage == 2:
            return True
    return False
