"""Task checkouts: one standalone repository per run, with no remote and no credentials, that
borrows the worker clone's objects read-only (alternates). Whatever the agent does to its git
(config, remotes, pushes, hooks) touches nothing the worker uses; collect.py takes its work out.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pygit2
from loguru import logger
from pygit2.enums import CheckoutStrategy, FileMode

from mtor_git.errors import GitOpError
from mtor_git.git.cli import run_git
from mtor_git.git.read import commit, folders_of, tree_entries
from mtor_git.git.transfer import open_exact
from mtor_git.git.write import remove_worktree

# A file written this close before the snapshot may be changed again within the same tick of the
# file system's coarse clock without its stat changing (git's "racily clean"): hash it again.
RACY_NS = 50_000_000
# Where git records an operation the agent left half done.
UNFINISHED_STATE = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "rebase-merge",
                    "rebase-apply")


class Seen(NamedTuple):
    """A file as the worker checked it out: its stat key, and its mode and blob in the tree.
    (A tuple: a checkout of 1,000 files makes 1,000 of these.)"""

    key: tuple[int, int, int, int, int]
    mode: FileMode
    oid: str


# A file's mode and blob id in a tree.
Entry = tuple[int, str]


@dataclass(frozen=True)
class Checkout:
    """A task's checkout: `path` (its own `.git`, HEAD on `branch` at `base`). `objects` is the
    worker clone's object store it borrows: an agent sandbox must let it read that path (only).
    `entries` are the base's files; `seen` those written to the work tree, as written."""

    path: Path
    branch: str
    base: str
    objects: Path
    entries: BaseFiles
    seen: Mapping[str, Seen]
    seen_at_ns: int
    # What the work tree leaves out of the base (git's skip-worktree): absent is unchanged.
    leave_out: tuple[LeaveOut, ...] = ()

    @property
    def git_dir(self) -> Path:
        return self.path / ".git"

    @functools.cached_property
    def skipped(self) -> frozenset[str]:
        """The base's files left out of the work tree (every file of the base walked: only for
        an agent whose own commits changed what the collector compares against)."""
        return frozenset().union(*(rule.left_out(self.entries) for rule in self.leave_out))

    def unchanged(self, rel: str, st: os.stat_result, *, racy_ok: bool = False) -> Seen | None:
        """What `rel` still holds when its stat shows no write since the checkout, else None.
        A file written just before the snapshot counts only with `racy_ok` (a file too big to
        hash: rewriting it with the same size, inode and times before the agent even started
        is not a thing to plan for)."""
        seen = self.seen.get(rel)
        if seen is None or stat_key(st) != seen.key:
            return None
        return seen if racy_ok or st.st_ctime_ns < self.seen_at_ns - RACY_NS else None


def stat_key(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


class BaseFiles(Mapping[str, Entry]):
    """A commit's files, path to (mode, blob id): those a checkout wrote as it knows them, any
    other looked up in the folders on its path (each listed once, by name: never a tree's
    binary search, which misses names in a tree an agent wrote out of git's order), all of them
    walked only when iterated (a base of 10,000 files: ~10 ms, for the rare caller that needs
    every one). A folder holding two entries of one name, or a name with "/" (git writes
    neither), sends every lookup to the whole walk, where the last in path order counts."""

    def __init__(self, tree: pygit2.Tree, written: Mapping[str, Entry]) -> None:
        self._tree, self._written = tree, written
        self._folders: dict[str, dict[str, pygit2.Object] | None] = {}
        self._odd = False  # a folder listed so far git never writes (a name twice, or with "/")

    def __getitem__(self, path: str) -> Entry:
        found = self._written.get(path)
        if found is not None:
            return found
        if "_all" in self.__dict__:
            return self._all[path]
        folder, _, name = path.rpartition("/")
        entries = self._folder(folder)
        if self._odd:
            return self._all[path]
        entry = entries.get(name) if entries is not None else None
        if entry is None or isinstance(entry, pygit2.Tree):
            raise KeyError(path)
        return int(entry.filemode), str(entry.id)

    def __contains__(self, path: object) -> bool:
        if path in self._written:  # (a dict's own lookup: once per file of a work tree)
            return True
        return isinstance(path, str) and super().__contains__(path)

    def get(self, path: str, default: Entry | None = None) -> Entry | None:  # type: ignore[override]
        found = self._written.get(path)
        return found if found is not None else super().get(path, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)

    @functools.cached_property
    def _written_folders(self) -> set[str]:
        return folders_of(self._written)

    @functools.cached_property
    def _all(self) -> dict[str, Entry]:
        return {path: (mode, oid) for path, mode, oid in sorted(tree_entries(self._tree))}

    def _folder(self, folder: str) -> dict[str, pygit2.Object] | None:
        """The entries of `folder` (a path, "" the root) by name; None when it is no folder."""
        if folder in self._folders:
            return self._folders[folder]
        if folder:
            parent, _, name = folder.rpartition("/")
            entries = self._folder(parent)
            tree = entries.get(name) if entries is not None else None
        else:
            tree = self._tree
        found = None
        if isinstance(tree, pygit2.Tree):
            listed = list(tree)
            found = {entry.name or "": entry for entry in listed}
            self._odd |= len(found) != len(listed) or "/" in "".join(found)
        self._folders[folder] = found
        return found

    def holds_files_in(self, folder: str) -> bool:
        """Whether `folder` is a folder of the base with a file in it, at any depth."""
        if folder in self._written_folders:
            return True
        parent, _, name = folder.rpartition("/")
        entries = self._folder(parent)
        if self._odd:
            return folder in folders_of(self._all)
        found = entries.get(name) if entries is not None else None
        todo = [found] if isinstance(found, pygit2.Tree) else []
        while todo:
            for entry in todo.pop():
                if not isinstance(entry, pygit2.Tree):
                    return True
                todo.append(entry)
        return False


@dataclass(frozen=True)
class LeaveOut:
    """The entries directly in `folder` whose names end in one of `suffixes` ("": any), left
    out of a task checkout's work tree, but the paths `keep`."""

    folder: str
    suffixes: tuple[str, ...] = ("",)
    keep: tuple[str, ...] = ()

    def patterns(self) -> list[str]:
        return ([f"!/{self.folder}/*{suffix}" for suffix in self.suffixes]
                + [f"/{path}" for path in self.keep])

    def covers(self, path: str) -> bool:
        """Whether git's sparse checkout leaves `path` out by these patterns."""
        return self._matches(path) is not None and path not in self.keep

    def left_out(self, paths: Iterable[str]) -> set[str]:
        """Those of `paths` these patterns leave out (10,000 paths: one C loop, no call each)."""
        return set(filter(self._matches, paths)).difference(self.keep)

    def names_matched(self, names: Iterable[str]) -> set[str]:
        """Those of `names` (of entries directly in the folder) whose paths the patterns match,
        with everything below them (kept paths aside)."""
        return set(filter(self._name_matches, names))

    @functools.cached_property
    def kept(self) -> frozenset[str]:
        return frozenset(self.keep)

    @functools.cached_property
    def _matches(self) -> Callable[[str], re.Match[str] | None]:
        return re.compile(rf"{re.escape(self.folder)}/{self._name_pattern}", re.S).fullmatch

    @functools.cached_property
    def _name_matches(self) -> Callable[[str], re.Match[str] | None]:
        return re.compile(self._name_pattern, re.S).fullmatch

    @property
    def _name_pattern(self) -> str:
        # A name directly in the folder ending in a suffix, and anything below such a name;
        # no suffix leaves nothing out.
        if not self.suffixes:
            return "(?!)"
        ends = "|".join(re.escape(suffix) for suffix in self.suffixes)
        return rf"[^/]*(?:{ends})(?:/.*)?"

    def plain(self) -> bool:
        """Whether every name the patterns hold says itself (no wildcard, no escape)."""
        return all(_PLAIN.fullmatch(name) for name in (self.folder, *self.keep)) \
            and all(_PLAIN.fullmatch(s.lstrip(".")) for s in self.suffixes if s)


def create_checkout(repo: pygit2.Repository, path: Path, branch: str, base: str, *,
                    excludes: Sequence[str] = (), only: tuple[str, str] | None = None,
                    leave_out: Sequence[LeaveOut] = ()) -> Checkout:
    """A fresh standalone repository at `path` with HEAD on `branch` at commit `base`, its files
    checked out; `excludes` are written to its `.git/info/exclude` (tool droppings the worker
    must not commit). Leftovers of an earlier run at `path` are removed first.

    `only` = (folder, file): of `folder`, only `file` is checked out (the task's own spec out of
    every spec in tasks/, finished ones included: 5,000 of them cost ~1.4 s a task); each of
    `leave_out` leaves more out (other tasks' results merged into the branch: writing 5,000
    files cost ~5 s of a task here). They stay in the index as git's sparse checkout leaves them
    (skip-worktree), so the agent's `git add -A` or `commit -a` deletes none of them; the
    collector keeps them as they were."""
    drop_checkout(repo, path)
    start = commit(repo, base)
    objects = (Path(repo.path) / "objects").resolve()
    try:
        path.mkdir(parents=True)
        pygit2.init_repository(str(path), bare=False, initial_head=branch)
        info = path / ".git" / "objects" / "info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "alternates").write_text(f"{objects}\n")
        if excludes:
            exclude = path / ".git" / "info" / "exclude"
            exclude.parent.mkdir(parents=True, exist_ok=True)
            with exclude.open("a") as out:
                out.write("".join(f"{pattern}\n" for pattern in excludes))
        checkout = open_exact(path)  # opened again: alternates are read when a repo opens
        checkout.references.create(f"refs/heads/{branch}", start.id, force=True)
        rules = [*([LeaveOut(only[0], keep=(only[1],))] if only is not None else []),
                 *leave_out]
        if not all(rule.plain() for rule in rules):
            rules = []
        written, left = _written(start.tree, rules)
        if not left or not _sparse(checkout, path, rules):
            rules = []
            checkout.checkout_head(strategy=CheckoutStrategy.FORCE)  # type: ignore[no-untyped-call]
            if left:  # the sparse checkout failed: every file is written
                written, _left = _written(start.tree, rules)
    except (pygit2.GitError, OSError, ValueError) as exc:
        raise GitOpError(f"cannot make the task checkout {path}: {exc}") from exc
    return Checkout(path=path, branch=branch, base=str(start.id), objects=objects,
                    entries=BaseFiles(start.tree, written), seen=_snapshot(path, written),
                    seen_at_ns=time.time_ns(), leave_out=tuple(rules))


def _written(tree: pygit2.Tree, rules: Sequence[LeaveOut]) -> tuple[dict[str, Entry], bool]:
    """The files of `tree` a checkout by `rules` writes, and whether it leaves any out. A file
    left out is only named, never asked its mode or id: 5,000 of them cost ~2 ms, not ~10.
    The rules are applied a folder at a time, by name; below a name holding "/" (git never
    writes one; an agent's crafted tree can) every file is matched by its whole path."""
    here: dict[str, list[LeaveOut]] = {}
    for rule in rules:
        here.setdefault(f"{rule.folder}/", []).append(rule)
    kept = frozenset().union(*(rule.kept for rule in rules))
    written: dict[str, Entry] = {}
    left = False
    # (folder, its tree, the rules whose patterns match everything in it; None: by path)
    todo: list[tuple[str, pygit2.Tree, tuple[LeaveOut, ...] | None]] = [("", tree, ())]
    while todo:
        prefix, current, matching = todo.pop()
        entries = list(current)
        names = [entry.name or "" for entry in entries]  # (always set for a tree's entry)
        if matching is None or "/" in "".join(names):
            left |= _by_path(prefix, entries, names, rules, todo, written)
            continue
        hits = [(rule, rule.names_matched(names)) for rule in here.get(prefix, ())]
        named = frozenset().union(*(hit for _rule, hit in hits))
        for entry, name in zip(entries, names, strict=True):
            if matching or name in named:  # matched: left out unless a rule keeps it
                if isinstance(entry, pygit2.Tree):
                    todo.append((f"{prefix}{name}/", entry, _covering(matching, hits, name)))
                    continue
                rel = prefix + name
                if rel not in kept or any(rel not in rule.kept
                                          for rule in _covering(matching, hits, name)):
                    left = True
                    continue
            elif isinstance(entry, pygit2.Tree):
                todo.append((f"{prefix}{name}/", entry, matching))
                continue
            _write(written, prefix + name, entry)
    return written, left


def _by_path(prefix: str, entries: list[pygit2.Object], names: list[str],
             rules: Sequence[LeaveOut],
             todo: list[tuple[str, pygit2.Tree, tuple[LeaveOut, ...] | None]],
             written: dict[str, Entry]) -> bool:
    """`_written` for one folder, each file matched by its whole path (the folders below are
    queued to be too); whether any is left out."""
    left = False
    for entry, name in zip(entries, names, strict=True):
        rel = prefix + name
        if isinstance(entry, pygit2.Tree):
            todo.append((f"{rel}/", entry, None))
        elif any(rule.covers(rel) for rule in rules):
            left = True
        else:
            _write(written, rel, entry)
    return left


def _write(written: dict[str, Entry], rel: str, entry: pygit2.Object) -> None:
    found = (int(entry.filemode), str(entry.id))
    # (a name twice in a folder, as git never writes: the last in path order counts)
    written[rel] = max(found, written.get(rel, found))


def _covering(matching: tuple[LeaveOut, ...], hits: list[tuple[LeaveOut, set[str]]],
              name: str) -> tuple[LeaveOut, ...]:
    """The rules whose patterns match `name` of the folder, and those matching the folder."""
    return (*matching, *(rule for rule, hit in hits if name in hit))


def _sparse(checkout: pygit2.Repository, path: Path, rules: Sequence[LeaveOut]) -> bool:
    """Check out everything but what `rules` leave out, with the git CLI (libgit2 has no sparse
    checkout); False when it cannot (no git CLI): the caller checks out every file."""
    checkout.config["core.sparseCheckout"] = True
    (path / ".git" / "info").mkdir(exist_ok=True)
    patterns = ["/*", *(pattern for rule in rules for pattern in rule.patterns())]
    (path / ".git" / "info" / "sparse-checkout").write_text("".join(f"{p}\n" for p in patterns))
    try:
        run_git(path, "read-tree", "-mu", "HEAD")
    except GitOpError as exc:
        logger.warning("no sparse checkout ({}): every file is checked out", exc)
        checkout.config["core.sparseCheckout"] = False
        return False
    return True


_MODES = {int(mode): mode for mode in FileMode}


def file_mode(mode: int) -> FileMode:
    """FileMode(mode) without the enum's constructor (~2 µs, 30,000 times a task)."""
    return _MODES.get(mode) or FileMode(mode)


_PLAIN = re.compile(r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*")


def _snapshot(path: Path, written: Mapping[str, Entry]) -> dict[str, Seen]:
    """Each file of the base written to the work tree, with its stat key as written, in the
    index's order."""
    seen = {}
    root = f"{path}/"
    for rel, (mode, oid) in sorted(written.items()):
        try:
            key = stat_key(os.lstat(root + rel))
        except OSError:  # not written (a name this file system refuses): never "unchanged"
            key = _NO_KEY
        seen[rel] = Seen(key, file_mode(mode), oid)
    return seen


_NO_KEY = (0, 0, 0, 0, 0)


def drop_checkout(repo: pygit2.Repository, path: Path) -> None:
    """Delete a task checkout, whatever the agent did to its modes; a `git worktree` of the
    same name an older version registered in the clone is forgotten too."""
    if path.is_symlink():  # never followed: only the link goes
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=_writable_and_retry)
    remove_worktree(repo, path.name, path)


def _writable_and_retry(func: Callable[..., Any], target: str, exc: Any) -> None:
    """An agent's `chmod 000 dir` must not keep its checkout (and its name) forever."""
    parent = os.path.dirname(target)
    try:
        os.chmod(parent, stat.S_IRWXU)
        if os.path.isdir(target) and not os.path.islink(target):
            os.chmod(target, stat.S_IRWXU)
        func(target)
    except OSError:
        logger.warning("cannot remove {} from a task checkout: {}", target, exc)


def unfinished_state(checkout: Checkout) -> str | None:
    """The merge, rebase, cherry-pick or revert the agent left half done, named, or None."""
    left = [name for name in UNFINISHED_STATE if os.path.lexists(checkout.git_dir / name)]
    if not left:
        return None
    return (f"the checkout was left in the middle of a merge or rebase "
            f"(.git/{', .git/'.join(left)})")
