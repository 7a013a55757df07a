"""What the agent's own commits carry, one by one: the worker pushes them as they are, so a secret
the agent wrote in one commit and removed in the next, or hid in a tree entry (a gitlink's object
id is 20 bytes of the agent's choosing), travels with the push even when the end result is clean."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pygit2
from pygit2.enums import FileMode


@dataclass(frozen=True)
class Introduced:
    """One tree entry an agent commit added or changed against its parents."""

    commit: str
    path: str
    oid: str  # the entry's object id, hex
    gitlink: bool  # a submodule entry: `oid` names nothing in the repository
    data: bytes | None  # the blob's content (None for a gitlink or a tree)


def introduced(repo: pygit2.Repository, base: str, head: str) -> Iterator[Introduced]:
    """Every entry each commit from `base` (exclusive) to `head` introduced, against each of its
    parents (a root commit: against nothing)."""
    walker = repo.walk(head)
    walker.hide(base)
    for commit in walker:
        parents: list[pygit2.Commit | None] = list(commit.parents) or [None]
        for parent in parents:
            diff = (commit.tree.diff_to_tree(swap=True) if parent is None
                    else parent.tree.diff_to_tree(commit.tree))
            for delta in diff.deltas:
                new = delta.new_file
                if delta.status_char() == "D":
                    continue
                gitlink = new.mode == FileMode.COMMIT
                data = None
                if not gitlink and new.id in repo:
                    obj = repo[new.id]
                    data = obj.data if isinstance(obj, pygit2.Blob) else None
                yield Introduced(str(commit.id), new.path, str(new.id), gitlink, data)
