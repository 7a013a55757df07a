"""Extra tools for fault-injection tests on top of daemonfixtures' site: daemons that SIGKILL
themselves at a named stage (mtor_git/faults.py), result-commit counting, the worker's local
files, log reading, and a small tmpfs for a workspace that runs out of space."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from daemonfixtures import DAEMON_ENV, Site, mtor
from gitfixtures import git

REPO = "remote"  # the folder name workers derive from the site's URL (…/remote.git)


def run_daemon(s: Site, config: Path, *, fault: str | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`mtor-git daemon --once`, optionally dying at fault point `fault`; never raises on its
    exit code (a fault's is -9)."""
    env = {**DAEMON_ENV, **({"MTOR_GIT_FAULT": fault} if fault else {})}
    return subprocess.run(mtor("daemon", "--once", "--config", str(config)), env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=s.root)


def start_daemon(s: Site, config: Path, *, fault: str | None = None) -> subprocess.Popen[bytes]:
    """A long-running daemon (own process group, killed at teardown), optionally with a fault."""
    env = {**DAEMON_ENV, **({"MTOR_GIT_FAULT": fault} if fault else {})}
    log = (config.parent / "stderr.log").open("ab")
    proc = subprocess.Popen(mtor("daemon", "--config", str(config)), env=env, stdout=log,
                            stderr=log, cwd=s.root, start_new_session=True)
    log.close()
    s.procs.append(proc)
    return proc


# -- what the remote holds -----------------------------------------------------------------------
def result_commits(s: Site, task_id: str, branch: str | None = None) -> list[str]:
    """Subjects of the result commits (`mtor: <id> <status>`) on the remote's mtor/<id>."""
    ref = f"refs/heads/{branch or 'mtor/' + task_id}"
    if ref not in s.refs():
        return []
    subjects = git("log", "--format=%s", ref, cwd=s.remote).splitlines()
    pattern = re.compile(rf"^mtor: {re.escape(task_id)} (succeeded|failed|exhausted|rejected"
                         r"|cancelled)$")
    return [line for line in subjects if pattern.match(line)]


# -- the worker's local files --------------------------------------------------------------------
def worker_dir(s: Site, name: str) -> Path:
    return s.root / "workers" / name


def clone_path(s: Site, name: str) -> Path:
    return worker_dir(s, name) / "ws" / REPO / "repo.git"


def worktrees_dir(s: Site, name: str) -> Path:
    return worker_dir(s, name) / "ws" / REPO / "worktrees"


def state_file(s: Site, name: str) -> Path:
    return s.state_dir(name) / REPO / "state.json"


def outbox_entries(s: Site, name: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in s.outbox(name)]


def log_text(s: Site, name: str) -> str:
    """The daemon's log file plus whatever reached its stderr, every process of worker `name`."""
    parts = []
    for file in ("daemon.log", "stderr.log"):
        with contextlib.suppress(FileNotFoundError):
            parts.append((worker_dir(s, name) / file).read_text(errors="replace"))
    return "\n".join(parts)


def occurrences(text: str, needle: str) -> int:
    """How many times a message containing `needle` was logged, counting the repeats the log
    collapsed into `... (repeated N times in the last Ns)` lines."""
    total = 0
    for line in text.splitlines():
        if needle not in line:
            continue
        repeated = re.search(r"\(repeated (\d+) times? in the last \d+s\)$", line)
        total += int(repeated.group(1)) if repeated else 1
    return total


def status(s: Site, name: str) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((s.state_dir(name) / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data


def truncate(path: Path, keep: float = 0.5) -> None:
    """Cut `path` to a fraction of its bytes, as a crash mid-write on a filesystem without
    atomic rename would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


# -- a workspace that runs out of space ----------------------------------------------------------
def can_mount_tmpfs() -> bool:
    return os.geteuid() == 0 and Path("/proc/filesystems").read_text().find("tmpfs") >= 0


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "4m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` (root only), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                   check=True, capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def fill(path: Path) -> Path:
    """Write zeros into `path`/filler until the filesystem is full; the filler file."""
    filler = path / "filler"
    chunk = b"\0" * 65536
    with contextlib.suppress(OSError), open(filler, "wb") as handle:
        while True:
            handle.write(chunk)
            handle.flush()
    # Whatever is left is smaller than a chunk: take it byte by byte.
    with contextlib.suppress(OSError), open(filler, "ab") as handle:
        while True:
            handle.write(b"\0")
            handle.flush()
    return filler
