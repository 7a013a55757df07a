"""Hostile inputs for the worker daemon: a leaky agent, an isolated HOME, SSH signing keys, a
scan of every object the remote holds, and a snapshot of files the daemon must never touch.
Builds on daemonfixtures (the site: served remote, user clone, `mtor-git daemon --once`)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemonfixtures import DAEMON_ENV, Site, mtor
from gitfixtures import GIT_ENV, git

TESTS = Path(__file__).resolve().parent
LEAKY_AGENT = TESTS / "fake_agents" / "leaky_agent.py"
CANARY_VAR = "MTOR_CANARY"  # named like no credential: only requires_env marks it secret


def leaky_profile(s: Site, *args: str, var: str = CANARY_VAR) -> dict[str, Any]:
    return {"command": [str(LEAKY_AGENT), "--var", var, *args], "report": "claude-json",
            "env": {"COUNT_FILE": str(s.count_file)}, "requires_env": [var], "pass_env": [var]}


def counting_profile(s: Site, *args: str) -> dict[str, Any]:
    return s._agent(*args)


def worker_config(s: Site, name: str, agents: Mapping[str, dict[str, Any]], *,
                  default_agent: str, retry: Mapping[str, Any] | None = None,
                  **extra: Any) -> Path:
    """A worker configuration whose agents are exactly `agents` (site defaults otherwise)."""
    policy = {"min_model_call": "0s", "initial_backoff": "0.05s", "max_backoff": "0.1s",
              "min_spacing": "0s", **(retry or {})}
    return s.config(name, default_agent=default_agent,
                    extra={"agents": dict(agents), "retry": policy, **extra})


def isolated_home(root: Path) -> dict[str, str]:
    """HOME and XDG dirs under `root/home`, so anything the daemon writes there shows."""
    home = root / "home"
    for sub in ("", ".config", ".cache", ".local/share", ".local/state"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"), "XDG_DATA_HOME": str(home / ".local/share"),
            "XDG_STATE_HOME": str(home / ".local/state")}


def run_daemon_once(s: Site, config: Path, env: Mapping[str, str] | None = None,
                    timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`mtor-git daemon --once` with extra environment; AssertionError unless it exits 0."""
    proc = subprocess.run(mtor("daemon", "--once", "--config", str(config)),
                          capture_output=True, text=True, env={**DAEMON_ENV, **(env or {})},
                          timeout=timeout, cwd=s.root)
    if proc.returncode != 0:
        raise AssertionError(f"daemon --once exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc


def daemon_log(s: Site, name: str) -> str:
    path = s.root / "workers" / name / "daemon.log"
    return path.read_text(errors="replace") if path.exists() else ""


# -- what the remote holds -------------------------------------------------------------------
def remote_objects(remote: Path) -> bytes:
    """The raw content of every object reachable from every ref of `remote`, concatenated."""
    listing = git("rev-list", "--all", "--objects", cwd=remote)
    oids = "".join(line.split(" ", 1)[0] + "\n" for line in listing.splitlines() if line)
    proc = subprocess.run(["git", "cat-file", "--batch"], cwd=remote, input=oids.encode(),
                          capture_output=True, env=GIT_ENV, timeout=60, check=True)
    return proc.stdout


def commit_messages(remote: Path) -> str:
    return git("log", "--all", "--format=%B%x00", cwd=remote)


# -- files the daemon must not touch ---------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    kind: str
    size: int
    mtime_ns: int
    digest: str


def snapshot(root: Path) -> dict[str, Entry]:
    """Every path under `root` (symlinks not followed, FIFOs never opened) with its content hash."""
    out: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            if path.is_symlink():
                kind, digest = "link", os.readlink(path)
            elif path.is_dir():
                kind, digest = "dir", ""
            elif path.is_file():
                kind, digest = "file", hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                kind, digest = "other", ""
            out[str(path.relative_to(root))] = Entry(kind, st.st_size if kind == "file" else 0,
                                                     st.st_mtime_ns, digest)
    return out


# -- SSH signing -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SigningKey:
    private: Path
    public_line: str  # "ssh-ed25519 AAAA... comment"


def make_key(folder: Path, name: str) -> SigningKey:
    folder.mkdir(parents=True, exist_ok=True)
    private = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f",
                    str(private)], check=True, capture_output=True, timeout=30)
    return SigningKey(private, (folder / f"{name}.pub").read_text().strip())


def allowed_signers(path: Path, email: str, *keys: SigningKey) -> Path:
    path.write_text("".join(f"{email} {' '.join(k.public_line.split()[:2])}\n" for k in keys))
    return path


def push_signed(s: Site, specs: Mapping[str, bytes], key: SigningKey | None,
                message: str = "tasks") -> str:
    """Commit tasks/<id>.md as the user (signed with `key` when given, SSH format), push."""
    for tid, data in specs.items():
        target = s.user / "tasks" / f"{tid}.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        git("add", f"tasks/{tid}.md", cwd=s.user)
    sign = (["-c", "gpg.format=ssh", "-c", f"user.signingkey={key.private}", "commit", "-S"]
            if key else ["commit"])
    git(*sign, "--quiet", "--no-verify", "-m", message, cwd=s.user)
    git("push", "--quiet", "--no-verify", "origin", "HEAD:main", cwd=s.user)
    return git("rev-parse", "HEAD", cwd=s.user)
