"""Check many specs at once: files on disk, the git index (what a commit would record), or the
specs a push would send. Each check yields one Checked per spec file."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mtor_git.errors import Problem, SpecError
from mtor_git.git import Repository, staged
from mtor_git.spec.graph import cycle_problems
from mtor_git.spec.parse import DEFAULT_MAX_BYTES, Spec, is_spec_path, parse_spec, read_spec_file

_SYMLINK = 0o120000


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
    return with_cycles(results)


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


def check_index(repo: Repository, tasks_dir: str = "tasks",
                max_bytes: int = DEFAULT_MAX_BYTES,
                index_file: str | None = None, changed_only: bool = False) -> list[Checked]:
    """Check the specs exactly as staged: what `git commit` would record, not the work tree.

    `index_file` is git's GIT_INDEX_FILE: `git commit -a` and `git commit <paths>` stage into a
    temporary index and run the hook against it; libgit2 ignores that variable, so pass it on.
    With `changed_only` (the pre-commit hook), specs staged exactly as HEAD has them are
    skipped: a commit is judged by what it changes, not by a spec that is already in history.
    """
    entries = staged.staged(repo, lambda path: is_spec_path(path, tasks_dir),
                            index_file=index_file, changed_only=changed_only)
    return with_cycles([_check_entry(repo, entry, max_bytes) for entry in entries])


def check_push(repo: Repository, updates: Iterable[tuple[str, str]],
               tasks_dir: str = "tasks", max_bytes: int = DEFAULT_MAX_BYTES) -> list[Checked]:
    """Check specs added or changed by each (remote_old, local_new) commit pair of a push."""
    results: dict[str, Checked] = {}
    for entry in staged.pushed(repo, updates, lambda path: is_spec_path(path, tasks_dir)):
        results[entry.path] = _check_entry(repo, entry, max_bytes)
    return with_cycles(list(results.values()))


def with_cycles(results: list[Checked]) -> list[Checked]:
    """`results` with every spec on a dependency cycle among them turned into a problem: each
    spec alone is valid, but together they could never start."""
    problems = cycle_problems(c.spec for c in results if c.spec is not None)
    if not problems:
        return results
    by_path: dict[str, list[Problem]] = {}
    for problem in problems:
        by_path.setdefault(problem.path, []).append(problem)
    return [Checked(c.path, None, tuple(by_path[c.path])) if c.path in by_path else c
            for c in results]


def _check_entry(repo: Repository, entry: staged.Entry, max_bytes: int) -> Checked:
    data = staged.blob_bytes(repo, entry.oid)
    if data is None:  # a submodule (gitlink) named like a spec
        return Checked(entry.path, None, (Problem(entry.path, 1, "file", "is not a regular file"),))
    return check_bytes(data, entry.path, symlink=entry.mode == _SYMLINK, max_bytes=max_bytes)


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
