"""A user's git repository in tmp_path, driven by the real `git` CLI and the real `mtor-git` CLI
as subprocesses, with an environment that no global git config or outer git hook can leak into."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# `python -m mtor_git` with the interpreter running the tests: works in any venv (CI's included)
# without relying on the console script being on PATH. The hooks it installs pin this interpreter.
MTOR_GIT: tuple[str, ...] = (sys.executable, "-m", "mtor_git")

GOOD = "---\ntitle: Fix the table handler\nagent: claude\ntimeout: 20m\n---\nGuard spanned cells.\n"
BAD = "---\ntitel: Fix the table handler\n---\nGuard spanned cells.\n"
BAD_MESSAGE = "titel: unknown key; did you mean 'title'?"


def clean_env(home: Path) -> dict[str, str]:
    """PATH and locale from the caller; everything git reads from the user replaced by `home`.

    GIT_* variables are dropped: when this suite itself runs inside a git hook, GIT_INDEX_FILE
    or GIT_DIR from the outer git would otherwise redirect every command here.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIT_", "PRE_COMMIT")) and k not in {"HOME", "XDG_CONFIG_HOME"}}
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test User", "GIT_AUTHOR_EMAIL": "user@example.org",
        "GIT_COMMITTER_NAME": "Test User", "GIT_COMMITTER_EMAIL": "user@example.org",
        "GIT_TERMINAL_PROMPT": "0",
    })
    return env


def run(argv: list[str] | tuple[str, ...], *, cwd: Path, env: dict[str, str],
        input: str | bytes | None = None, check: bool = False,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run argv; text in and out. With check=True a failure shows its whole output."""
    data = input.decode() if isinstance(input, bytes) else input
    proc = subprocess.run(list(argv), cwd=cwd, env=env, input=data, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{argv} exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
                             f"stderr:\n{proc.stderr}")
    return proc


@dataclass(frozen=True)
class UserRepo:
    """A non-bare repository on branch main with an isolated HOME beside it."""

    path: Path
    env: dict[str, str]

    @property
    def hooks(self) -> Path:
        return self.path / ".git" / "hooks"

    def git(self, *args: str, check: bool = True,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        return run(["git", *args], cwd=self.path, env=self.env, input=input, check=check)

    def mtor(self, *args: str, check: bool = False, cwd: Path | None = None,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
        return run([*MTOR_GIT, *args], cwd=cwd or self.path, env=self.env, input=input,
                   check=check)

    def write(self, rel: str, content: str | bytes) -> Path:
        path = self.path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode())  # no newline translation: bytes as given
        return path

    def commit(self, message: str, *extra: str) -> subprocess.CompletedProcess[str]:
        """`git commit -m message [extra...]` without raising: the hook decides."""
        return self.git("commit", "-m", message, *extra, check=False)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").stdout.strip()

    def count_commits(self) -> int:
        proc = self.git("rev-list", "--count", "HEAD", check=False)
        return int(proc.stdout.strip()) if proc.returncode == 0 else 0


def make_repo(tmp_path: Path, name: str = "work") -> UserRepo:
    """`git init -b main` in tmp_path/name with a first commit, HOME at tmp_path/home."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = clean_env(home)
    path = tmp_path / name
    run(["git", "init", "-q", "-b", "main", str(path)], cwd=tmp_path, env=env, check=True)
    repo = UserRepo(path, env)
    repo.write("README.md", "# project\n")
    repo.git("add", "README.md")
    repo.git("commit", "-q", "-m", "initial")
    return repo


def make_bare(tmp_path: Path, env: dict[str, str], name: str = "remote.git") -> Path:
    path = tmp_path / name
    run(["git", "init", "-q", "--bare", "-b", "main", str(path)], cwd=tmp_path, env=env,
        check=True)
    return path
