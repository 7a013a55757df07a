"""The files an agent left in its checkout, as the worker reads them: no symlink followed, each
size checked before the file is opened, ignore rules evaluated by a scratch repository of the
worker's (the checkout's `.gitignore` files and `info/exclude` count, its config does not)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pygit2
from pygit2.enums import FileMode

from mtor_git.git.checkout import Checkout

if TYPE_CHECKING:
    from mtor_git.git.collect import Tally

Entry = tuple[FileMode, str]  # (mode, blob id)


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
    """Paths only the worker writes (its result files) and their folder, which must stay one."""

    def __init__(self, paths: tuple[str, ...]) -> None:
        self.paths = paths
        self.roots = tuple(sorted({p.rsplit("/", 1)[0] for p in paths if "/" in p}))

    def covers(self, rel: str, is_dir: bool) -> bool:
        if rel in self.roots:
            return not is_dir
        return any(rel == p or rel.startswith(p + "/") for p in self.paths)

    def working_notes(self, checkout: Checkout) -> list[str]:
        """What the agent left at these paths in its files, discarded."""
        notes = []
        for root in self.roots:
            st = _lstat(checkout.path / root)
            if st is not None and not stat.S_ISDIR(st.st_mode):
                notes.append(f"the agent left {_kind(st)} at {root}; discarded: {root}/ "
                             "belongs to the worker")
                continue
            for path in (p for p in self.paths if p.startswith(root + "/")):
                st = _lstat(checkout.path / path)
                if st is not None and checkout.unchanged(path, st, racy_ok=True) is None:
                    notes.append(f"the agent left {_kind(st)} at {path}; discarded: the worker "
                                 "writes its own result there")
        return notes

    def committed_notes(self, tracked: dict[str, Entry], base: dict[str, Entry]) -> list[str]:
        """What the agent's own commits wrote at these paths (the result commit replaces it)."""
        changed = sorted(p for p, entry in tracked.items()
                         if self.covers(p, False) and base.get(p) != entry)
        if not changed:
            return []
        return [f"the agent's commits wrote {', '.join(changed[:10])}; replaced by the "
                "worker's result"]


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

    def tree_over(self, head: str) -> tuple[pygit2.Oid, dict[str, Entry]]:
        """The tree id of HEAD's tree with the files as they are now; HEAD's entries."""
        index = pygit2.Index()
        index.read_tree(self.repo[head].peel(pygit2.Commit).tree)
        tracked = {e.path: (FileMode(e.mode), str(e.id)) for e in index}
        folders = {p.rsplit("/", i)[0] for p in tracked for i in range(1, p.count("/") + 1)}
        with ignore_rules(self.checkout) as ignored:
            work = dict(self._walk(tracked, folders, ignored))
        self.notes = self.reserved.working_notes(self.checkout) + self.notes
        for path in tracked:
            if path not in work and not self.reserved.covers(path, False) and not any(
                    path.startswith(f"{folder}/".lstrip("/")) for folder in self.unreadable):
                index.remove(path)
        for path, (mode, oid) in work.items():
            if tracked.get(path) != (mode, oid):
                try:
                    index.add(pygit2.IndexEntry(path, pygit2.Oid(hex=oid), mode))
                except (pygit2.GitError, ValueError, OSError) as exc:
                    self.notes.append(f"{path} was not committed: {exc}")
        return index.write_tree(self.repo), tracked

    def _walk(self, tracked: dict[str, Entry], folders: set[str],
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

    def _entry(self, rel: str, st: os.stat_result, tracked: dict[str, Entry]) -> Entry | None:
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

    def _blob(self, rel: str, data: bytes, mode: FileMode, tracked: dict[str, Entry]) -> Entry:
        oid = str(pygit2.hash(data))
        if tracked.get(rel) == (mode, oid):
            return mode, oid
        self.tally.add(rel, len(data))
        return mode, str(self.repo.create_blob(data))


def _encodable(rel: str) -> bool:
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:  # a name that is not UTF-8 (surrogate-escaped by os)
        return False
    return True
