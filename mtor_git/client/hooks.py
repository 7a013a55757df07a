"""Install mtor-git's client-side git hooks without losing the user's own, and run them.

An existing foreign hook is kept as `<name>.legacy` and run first by ours (as pre-commit does);
`--force` replaces it, keeping a copy as `<name>.mtor-backup`.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from mtor_git.errors import HookError, UsageError
from mtor_git.git import Repository

MARKER = "# mtor-git hook: installed by `mtor-git hooks install`"
CLIENT_HOOKS = ("pre-commit", "pre-push")

_TEMPLATE = """#!/bin/sh
{marker}
# The user's earlier hook, if any, is kept beside this one as {name}.legacy and runs first.
here=$(dirname "$0")
{legacy}
py={python}
if [ -x "$py" ] && "$py" -c "import mtor_git" 2>/dev/null; then
{run_py}
elif command -v mtor-git >/dev/null 2>&1; then
{run_cli}
fi
echo "mtor-git {name} hook: mtor-git is not installed any more (tried $py and PATH);" \\
     "reinstall it or delete $0" >&2
exit 1
"""

# pre-push gets the pushed refs on stdin: both hooks must see them.
_LEGACY_STDIN = """input=$(cat)
if [ -x "$here/{name}.legacy" ]; then
  printf '%s\\n' "$input" | "$here/{name}.legacy" "$@" || exit $?
fi"""
_LEGACY_PLAIN = """if [ -x "$here/{name}.legacy" ]; then
  "$here/{name}.legacy" "$@" || exit $?
fi"""


@dataclass(frozen=True)
class Installed:
    """What `install` did to one hook: `action` is installed, updated, chained or replaced."""

    name: str
    path: Path
    action: str


def hooks_dir(repo: Repository) -> Path:
    """The directory git runs hooks from: `core.hooksPath`, else `<common git dir>/hooks`."""
    try:
        configured = repo.config["core.hooksPath"]
    except KeyError:
        configured = None
    if configured:
        base = Path(repo.workdir or repo.path)
        return (base / os.path.expanduser(configured)).resolve()
    common = Path(repo.path)
    commondir = common / "commondir"
    if commondir.is_file():  # a linked worktree: hooks live in the main repository
        common = (common / commondir.read_text().strip()).resolve()
    return common / "hooks"


def render(name: str, python: str = sys.executable) -> str:
    legacy = (_LEGACY_STDIN if name == "pre-push" else _LEGACY_PLAIN).format(name=name)
    feed = 'printf \'%s\\n\' "$input" | ' if name == "pre-push" else ""
    run_py = f'  {feed}"$py" -m mtor_git hook {name} "$@"; exit $?'
    run_cli = f'  {feed}mtor-git hook {name} "$@"; exit $?'
    return _TEMPLATE.format(marker=MARKER, name=name, legacy=legacy, python=shlex.quote(python),
                            run_py=run_py, run_cli=run_cli)


def install(repo: Repository, *, force: bool = False,
            names: tuple[str, ...] = CLIENT_HOOKS) -> list[Installed]:
    """Install each hook; refuse (HookError) rather than lose a user's hook."""
    folder = hooks_dir(repo)
    folder.mkdir(parents=True, exist_ok=True)
    plans = [_plan(folder / name, force) for name in names]  # refuse before writing anything
    done = []
    for name, (path, action) in zip(names, plans, strict=True):
        if action == "chained":
            path.rename(path.with_name(f"{name}.legacy"))
        elif action == "replaced":
            path.replace(path.with_name(f"{name}.mtor-backup"))
        _write_executable(path, render(name))
        done.append(Installed(name, path, action))
    return done


SERVER_MARKER = "# mtor-git hook: installed by `mtor-git hooks install-server`"


def install_server(repo: Repository, text: str, *, force: bool = False) -> Installed:
    """Install `text` as the post-receive hook of a (bare) server repository; a foreign hook is
    kept as post-receive.legacy and still runs (as for the client hooks)."""
    if not repo.is_bare:
        raise UsageError(f"{repo.path} is not a bare repository: install-server is for the "
                         "repository a git server serves (a clone has `mtor-git hooks install`)")
    folder = hooks_dir(repo)
    folder.mkdir(parents=True, exist_ok=True)
    path, action = _plan(folder / "post-receive", force, marker=SERVER_MARKER)
    if action == "chained":
        path.rename(path.with_name("post-receive.legacy"))
    elif action == "replaced":
        path.replace(path.with_name("post-receive.mtor-backup"))
    _write_executable(path, text)
    return Installed("post-receive", path, action)


def _plan(path: Path, force: bool, *, marker: str = MARKER) -> tuple[Path, str]:
    if not path.exists() and not path.is_symlink():
        return path, "installed"
    if _is_ours(path, marker):
        return path, "updated"
    legacy = path.with_name(f"{path.name}.legacy")
    if force:
        return path, "replaced"
    if legacy.exists():
        raise HookError(f"{path} is not mtor-git's and {legacy.name} already exists, so it "
                        "cannot be chained; merge them by hand, or rerun with --force to "
                        f"replace it (a copy is kept as {path.name}.mtor-backup)")
    return path, "chained"


def _is_ours(path: Path, marker: str = MARKER) -> bool:
    try:
        return marker in path.read_text(errors="replace")
    except OSError:
        return False


def _write_executable(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(0o755)
    tmp.replace(path)


def read_push_updates(stdin_text: str) -> list[tuple[str, str]]:
    """(remote_old, local_new) pairs from a pre-push hook's stdin."""
    updates = []
    for line in stdin_text.splitlines():
        if not line.strip():
            continue  # an up-to-date push sends nothing; the chained hook's echo adds a newline
        parts = line.split()
        if len(parts) != 4:
            raise UsageError(f"pre-push: unexpected input line {line!r}")
        _local_ref, local_sha, _remote_ref, remote_sha = parts
        updates.append((remote_sha, local_sha))
    return updates
