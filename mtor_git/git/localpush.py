"""Race-safe pushes to a remote that is a local path (or file://).

libgit2's local transport force-writes every pushed ref, checking fast-forward only against what it
read before: two workers pushing the same new claim ref at once can both "win" (measured: about
half of 6-way races had two winners). Here the missing objects are copied into the remote's
object store, then each destination ref is updated under git's own ref lock and re-checked while
held: a compare-and-swap that git, libgit2 and other workers all respect. Server hooks do not
run for local remotes (as with libgit2's own local transport; git's CLI would run them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pygit2
from pygit2.enums import FileMode, RepositoryOpenFlag

from mtor_git.errors import GitOpError


@dataclass(frozen=True)
class RefPush:
    """One parsed push refspec: `src` None deletes `dst`."""

    src: str | None
    dst: str
    force: bool

    @classmethod
    def parse(cls, spec: str) -> RefPush:
        force = spec.startswith("+")
        src, sep, dst = spec.lstrip("+").rpartition(":")
        if not sep:
            src, dst = dst, dst
        return cls(src or None, dst, force)


class _Refused(Exception):
    pass


def push_local(repo: pygit2.Repository, remote_path: str,
               specs: Sequence[RefPush]) -> dict[str, str]:
    """Push `specs` to the repository at `remote_path`; the refused refs with their reasons."""
    try:
        target = pygit2.Repository(remote_path, RepositoryOpenFlag.NO_SEARCH)
        news = {s.src: _copy_objects(repo, target, s.src) for s in specs if s.src is not None}
        refused = {}
        for spec in specs:
            why = _update(target, spec, None if spec.src is None else news[spec.src])
            if why is not None:
                refused[spec.dst] = why
        return refused
    except (pygit2.GitError, KeyError, ValueError) as exc:
        raise GitOpError(f"cannot push to {remote_path}: {exc}") from exc


def _copy_objects(src: pygit2.Repository, dst: pygit2.Repository, rev: str) -> pygit2.Oid:
    """Copy every object `rev` reaches that `dst` lacks; the commit's id."""
    start = src.revparse_single(rev).id
    order: list[pygit2.Oid] = []
    seen: set[pygit2.Oid] = set()
    todo = [start]
    while todo:
        oid = todo.pop()
        # An object dst has comes with everything it reaches (we write leaves first, as git does).
        if oid in seen or oid in dst.odb:
            continue
        seen.add(oid)
        order.append(oid)
        obj = src[oid]
        if isinstance(obj, pygit2.Commit):
            todo.extend([obj.tree_id, *obj.parent_ids])
        elif isinstance(obj, pygit2.Tree):
            todo.extend(e.id for e in obj if e.filemode != FileMode.COMMIT)
        elif isinstance(obj, pygit2.Tag):
            todo.append(obj.target)
    for oid in reversed(order):  # leaves first: a crash never leaves a commit without its tree
        kind, data = src.odb.read(oid)
        dst.odb.write(kind, data)
    return start


def _update(target: pygit2.Repository, spec: RefPush, new: pygit2.Oid | None) -> str | None:
    """Update one ref under its lock; the reason it was refused, or None."""
    if not target.is_bare and not target.head_is_detached and target.head.name == spec.dst:
        return "refusing to update the branch checked out in the remote's worktree"  # as git
    try:
        with target.transaction() as txn:
            txn.lock_ref(spec.dst)
            current = target.references.get(spec.dst)  # read while we hold the lock
            old = None if current is None else current.target
            if new is None:
                if old is not None:  # deleting what is not there succeeds, as over git://
                    txn.remove(spec.dst)
                return None
            if old is not None and not spec.force and old != new \
                    and not target.descendant_of(new, old):
                raise _Refused("non-fast-forward: the remote ref moved")
            # No signature: pygit2 1.21 cannot pass one here; libgit2 falls back to the config.
            txn.set_target(spec.dst, new, None, "mtor-git push")
    except _Refused as refusal:  # leaving the block by an exception commits nothing
        return str(refusal)
    except pygit2.GitError as exc:  # most often: another pusher holds the lock right now
        return f"failed to update ref: {exc}"
    return None
