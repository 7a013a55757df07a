"""The files an agent left in its checkout, as the worker reads them: no symlink followed, each
size checked before the file is opened, ignore rules evaluated by a scratch repository of the
worker's (the checkout's `.gitignore` files and `info/exclude` count, its config does not)."""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pygit2
from pygit2.enums import FileMode

from mtor_git.git.checkout import Checkout, Entry, file_mode
from mtor_git.git.read import folders_of

if TYPE_CHECKING:
    from mtor_git.git.collect import Tally


def read_small(path: Path, limit: int) -> bytes | None:
    """A regular file's bytes when it holds at most `limit`; None otherwise (missing, a symlink,
    a FIFO, a folder, too large). Never reads more than `limit` + 1 bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        chunks, total = [], 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # it grew after fstat
                return None
        return b"".join(chunks)
    finally:
        os.close(fd)


def _kind(st: os.stat_result) -> str:
    if stat.S_ISLNK(st.st_mode):
        return "a symlink"
    return "a folder" if stat.S_ISDIR(st.st_mode) else "a file"


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


class Reserved:
    """What belongs to the worker: its results folder as a folder, and every `<name>.json` and
    `<name>.md` directly in it (a result file of some task) with anything below such a name.
    The agent's other files under the folder are its own."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        # A file's path covered: the folder itself, or a result's (or anything below one).
        self._file = re.compile(rf"{re.escape(folder)}(?:/[^/]+\.(?:json|md)(?:/.*)?)?",
                                re.S).fullmatch

    def covers(self, rel: str, is_dir: bool = False) -> bool:
        """Whether `rel` is the worker's; the results folder itself only as a file."""
        return self._file(rel) is not None and not (is_dir and rel == self.folder)

    def among(self, files: Iterable[str]) -> list[str]:
        """Those of the paths of `files` this covers (10,000 of them: one C loop)."""
        return list(filter(self._file, files))

    def working_notes(self, checkout: Checkout) -> list[str]:
        """What the agent left (or removed) at these paths in its files: all discarded."""
        found: list[str] = []
        st = _lstat(checkout.path / self.folder)
        if st is not None and not stat.S_ISDIR(st.st_mode):
            found.append(f"{_kind(st)} at {self.folder}")
        elif st is not None:
            with os.scandir(checkout.path / self.folder) as it:
                for entry in sorted(it, key=lambda e: e.name):
                    rel, now = f"{self.folder}/{entry.name}", entry.stat(follow_symlinks=False)
                    if self.covers(rel) and checkout.unchanged(rel, now, racy_ok=True) is None:
                        found.append(f"{_kind(now)} at {rel}")
        found += [f"nothing at {p} (deleted)" for p in sorted(self.among(checkout.seen))
                  if _lstat(checkout.path / p) is None]
        return _discarded("the agent left", found, self.folder)

    def committed_notes(self, tracked: Mapping[str, Entry], base: Mapping[str, Entry]) -> list[str]:
        """What the agent's own commits changed at these paths (undone on top of them)."""
        if tracked is base or tracked == base:  # no commit of the agent's, or none changed a file
            return []
        changed = sorted({p for p in self.among(tracked) if base.get(p) != tracked[p]}
                         | {p for p in self.among(base) if p not in tracked})
        return _discarded("the agent's commits changed", changed, self.folder)


def _discarded(what: str, items: list[str], folder: str) -> list[str]:
    if not items:
        return []
    shown = ", ".join(items[:10]) + (f" and {len(items) - 10} more" if len(items) > 10 else "")
    return [f"{what} {shown}; discarded: result files in {folder}/ are the worker's"]


@contextlib.contextmanager
def ignore_rules(checkout: Checkout) -> Iterator[Callable[[str], bool]]:
    """`is_ignored(path)` by a scratch repository whose work tree is the checkout: the
    checkout's `.gitignore` files and `.git/info/exclude` apply, nothing else of its `.git`."""
    with tempfile.TemporaryDirectory(prefix="mtor-ignore-") as tmp:
        scratch = pygit2.init_repository(tmp, bare=True)
        exclude = read_small(checkout.git_dir / "info" / "exclude", 1 << 20)
        if exclude is not None:
            (Path(tmp) / "info").mkdir(exist_ok=True)
            (Path(tmp) / "info" / "exclude").write_bytes(exclude)
        scratch.workdir = str(checkout.path)
        yield scratch.path_is_ignored


class WorkingFiles:
    """The tree of the checkout's files over the agent's HEAD, built in the worker's clone."""

    def __init__(self, repo: pygit2.Repository, checkout: Checkout, tally: Tally,
                 reserved: Reserved) -> None:
        self.repo, self.checkout, self.tally, self.reserved = repo, checkout, tally, reserved
        self.notes: list[str] = []
        self.unreadable: list[str] = []  # folders whose tracked files are kept as they were

    @property
    def base(self) -> Mapping[str, Entry]:
        """The base's entries."""
        return self.checkout.entries

    def tree_over(self, head: str) -> tuple[pygit2.Oid, Mapping[str, Entry]]:
        """The tree id of HEAD's tree with the files as they are now; HEAD's entries."""
        index = pygit2.Index()
        index.read_tree(self.repo[head].peel(pygit2.Commit).tree)
        tracked: Mapping[str, Entry]
        folders: Container[str]
        if head == self.checkout.base:  # the base's files, each looked up when asked
            tracked, folders = self.base, _BaseFolders(self.checkout)
        else:
            tracked = {e.path: (file_mode(e.mode), str(e.id)) for e in index}
            folders = folders_of(tracked)
        with ignore_rules(self.checkout) as ignored:
            work = dict(self._walk(tracked, folders, ignored))
        self.notes = self.reserved.working_notes(self.checkout) + self.notes
        # Absent from the work tree, and not left out of it by the checkout: deleted. (Of the
        # base, the files the checkout wrote are those not left out.) A name that is not UTF-8
        # is never read from the work tree: its file stays as it was, not deleted.
        gone = self.checkout.seen.keys() - work.keys() if tracked is self.base \
            else tracked.keys() - work.keys() - self.checkout.skipped
        for path in gone:
            if _encodable(path) and not self.reserved.covers(path) and not any(
                    path.startswith(f"{folder}/".lstrip("/")) for folder in self.unreadable):
                index.remove(path)
        for path, (mode, oid) in work.items():
            if tracked.get(path) != (mode, oid):
                self._add(index, path, mode, oid)
        self._restore_reserved(index, tracked)
        return index.write_tree(self.repo), tracked

    def _restore_reserved(self, index: pygit2.Index, tracked: Mapping[str, Entry]) -> None:
        """The worker's paths exactly as in the base, whatever the agent's commits did there
        (its results folder made a file, another task's result forged)."""
        if tracked is self.base or tracked == self.base:  # no commit of the agent's changed a thing
            return
        base = {p: self.base[p] for p in self.reserved.among(self.base)}
        for path in self.reserved.among(tracked):
            # (gone already when a file of the work tree took its place: a file `results` of
            # the agent's commit gives way to the folder's files in the index)
            if base.get(path) != tracked[path] and path in index:
                index.remove(path)
        for path, (mode, oid) in base.items():
            if tracked.get(path) != (mode, oid):
                self._add(index, path, mode, oid)

    def _add(self, index: pygit2.Index, path: str, mode: int, oid: str) -> None:
        try:
            index.add(pygit2.IndexEntry(path, pygit2.Oid(hex=oid), file_mode(mode)))
        except (pygit2.GitError, ValueError, OSError) as exc:
            self.notes.append(f"{path} was not committed: {exc}")

    def _walk(self, tracked: Mapping[str, Entry], folders: Container[str],
              ignored: Callable[[str], bool]) -> Iterator[tuple[str, Entry]]:
        todo = [""]  # folders to read, relative; a stack, not recursion: nesting is unbounded
        while todo:
            folder = todo.pop()
            try:
                with os.scandir(self.checkout.path / folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:  # unreadable is not deleted: its tracked files stay as they were
                self.notes.append(f"the folder {folder or '.'} could not be read ({exc}); its "
                                  "files were kept as they were")
                self.unreadable.append(folder)
                continue
            for entry in entries:
                rel = f"{folder}/{entry.name}" if folder else entry.name
                if entry.name == ".git" or not _encodable(rel):
                    continue
                st = entry.stat(follow_symlinks=False)
                is_dir = stat.S_ISDIR(st.st_mode)
                if self.reserved.covers(rel, is_dir):
                    continue
                if is_dir:
                    if rel in folders or not ignored(rel + "/"):
                        todo.append(rel)
                elif rel in tracked or not ignored(rel):
                    found = self._entry(rel, st, tracked)
                    if found is not None:
                        yield rel, found

    def _entry(self, rel: str, st: os.stat_result, tracked: Mapping[str, Entry]) -> Entry | None:
        big = st.st_size > self.tally.limits.max_file_bytes
        seen = self.checkout.unchanged(rel, st, racy_ok=big)
        if seen is not None:
            return seen.mode, seen.oid
        full = self.checkout.path / rel
        if stat.S_ISLNK(st.st_mode):  # stored as a symlink: its target, never what it points at
            return self._blob(rel, os.readlink(os.fsencode(full)), FileMode.LINK, tracked)
        if not stat.S_ISREG(st.st_mode):
            self.notes.append(f"the agent left a special file at {rel}; not committed")
            return None
        self.tally.check_file(rel, st.st_size)  # a 1 GB sparse file stops here, unread
        data = read_small(full, self.tally.limits.max_file_bytes)
        if data is None:
            now = _lstat(full)
            if now is not None and now.st_size > self.tally.limits.max_file_bytes:
                self.tally.check_file(rel, now.st_size)
            self.notes.append(f"the agent's file {rel} could not be read; kept as it was")
            return tracked.get(rel)
        mode = FileMode.BLOB_EXECUTABLE if st.st_mode & stat.S_IXUSR else FileMode.BLOB
        return self._blob(rel, data, mode, tracked)

    def _blob(self, rel: str, data: bytes, mode: FileMode, tracked: Mapping[str, Entry]) -> Entry:
        oid = str(pygit2.hash(data))
        if tracked.get(rel) == (mode, oid):
            return mode, oid
        self.tally.add(rel, len(data))
        return mode, str(self.repo.create_blob(data))


class _BaseFolders:
    """The folders of a checkout's base holding a file (a work tree's folder is looked up)."""

    def __init__(self, checkout: Checkout) -> None:
        self.checkout = checkout

    def __contains__(self, folder: object) -> bool:
        return isinstance(folder, str) and self.checkout.entries.holds_files_in(folder)


def _encodable(rel: str) -> bool:
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:  # a name that is not UTF-8 (surrogate-escaped by os)
        return False
    return True
