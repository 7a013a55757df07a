"""The real agent CLIs for integration tests: where .ci/run installs them, a check that fails in CI
(and skips elsewhere) when one is missing, and `mtor-git daemon --once` run with the variables
such a CLI needs (its key, its config directory) in the daemon's environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from daemonfixtures import DAEMON_ENV, REPO_ROOT, mtor

NODE_BIN = REPO_ROOT / ".cache-node" / "node_modules" / ".bin"
AIDER_BIN = REPO_ROOT / ".cache-aider" / "bin"
INSTALLS = {
    "claude": "npm install --prefix .cache-node --no-audit --no-fund @anthropic-ai/claude-code",
    "codex": "npm install --prefix .cache-node --no-audit --no-fund @openai/codex",
    "aider": "python3 -m venv .cache-aider && .cache-aider/bin/pip install aider-chat",
}


def find_cli(name: str) -> Path | None:
    """The project-local install first (what .ci/run makes), then PATH."""
    for folder in (NODE_BIN, AIDER_BIN):
        local = folder / name
        if local.is_file() and os.access(local, os.X_OK):
            return local
    found = shutil.which(name)
    return Path(found) if found else None


def require_cli(name: str) -> Path:
    """The CLI's path; in CI (CI=true) a missing CLI FAILS the test by name, since .ci/run was
    meant to install it; elsewhere the test is skipped with the command that installs it."""
    path = find_cli(name)
    if path is not None:
        return path
    message = (f"the real {name} CLI is not installed (neither under .cache-node/.cache-aider nor "
               f"on PATH); .ci/run installs it with: {INSTALLS[name]}")
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI: {message}; the install failed", pytrace=False)
    pytest.skip(message)


def install_dir(cli: Path) -> str:
    """What a profile running `cli` declares in `sandbox_paths`, so that the attempt sandbox
    shows the CLI even when the repository lies under a hidden home (as .ci/run installs it)."""
    for folder, prefix in ((NODE_BIN, NODE_BIN.parent.parent), (AIDER_BIN, AIDER_BIN.parent)):
        if cli.parent == folder:
            return os.path.realpath(prefix)
    return os.path.realpath(cli.parent)


@contextmanager
def home_outside_tmp(prefix: str) -> Iterator[Path]:
    """A private config directory that is NOT under the temporary directory: Codex refuses to
    place its sandbox helper under /tmp, and then every command it runs fails."""
    base = REPO_ROOT / ".cache-test-homes"
    base.mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def daemon_once(config: Path, cwd: Path, env: Mapping[str, str], *, bin_dir: Path,
                timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """`mtor-git daemon --once` with `env` added to the daemon's environment and `bin_dir` first
    on PATH (the agent's command names the CLI by its bare name, as a user's config does)."""
    path = f"{bin_dir}{os.pathsep}{DAEMON_ENV.get('PATH', '/usr/bin:/bin')}"
    proc = subprocess.run(mtor("daemon", "--once", "--config", str(config)),
                          capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**DAEMON_ENV, **env, "PATH": path})
    if proc.returncode != 0:
        raise AssertionError(f"daemon --once exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc
