"""Real git remotes for tests: bare repositories, a `git daemon` serving them over git://, and a
user's working clone driven by the git CLI (the user's side is played by real git, never pygit2).

Plain helpers, usable from bench scripts too; the pytest fixtures wrapping them are in conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

USER_NAME = "Test User"
USER_EMAIL = "user@example.org"

# Isolated from whoever runs the tests: no global/system config, no prompts, fixed identity.
GIT_ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": USER_NAME,
    "GIT_AUTHOR_EMAIL": USER_EMAIL,
    "GIT_COMMITTER_NAME": USER_NAME,
    "GIT_COMMITTER_EMAIL": USER_EMAIL,
}


class GitCommandError(RuntimeError):
    def __init__(self, argv: list[str], returncode: int, stdout: str, stderr: str) -> None:
        self.argv, self.returncode, self.stdout, self.stderr = argv, returncode, stdout, stderr
        super().__init__(f"{' '.join(argv)} exited {returncode}: {stderr.strip()}")


def git(*args: str | os.PathLike[str], cwd: Path | None = None, input: bytes | None = None,
        check: bool = True, timeout: float = 60) -> str:
    """Run the git CLI; its stdout (stripped of the final newline). Raises with stderr."""
    argv = ["git", *(str(a) for a in args)]
    proc = subprocess.run(argv, cwd=cwd, input=input, capture_output=True, env=GIT_ENV,
                          timeout=timeout)
    out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    if check and proc.returncode != 0:
        raise GitCommandError(argv, proc.returncode, out, err)
    return out.removesuffix("\n")


def fast_import(repo: Path, commands: bytes) -> None:
    """Feed a `git fast-import` stream into `repo` (bare or not)."""
    git("fast-import", "--quiet", "--done", cwd=repo, input=commands + b"done\n", timeout=300)


def import_commit(repo: Path, branch: str, files: Mapping[str, bytes], message: str = "initial",
                  *, parent: str | None = None) -> str:
    """One commit on `branch` with exactly `files` (on top of `parent` when given); its oid."""
    ref = f"refs/heads/{branch}"
    stream = [_commit_header(ref, message, 1_700_000_000)]
    if parent is not None:
        stream.append(f"from {parent}\n".encode())
    else:
        stream.append(b"deleteall\n")
    for path, data in files.items():
        stream.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
    fast_import(repo, b"".join(stream) + b"\n")
    return git("rev-parse", ref, cwd=repo)


def _commit_header(ref: str, message: str, when: int) -> bytes:
    msg = message.encode()
    who = f"{USER_NAME} <{USER_EMAIL}> {when} +0000"
    return (f"commit {ref}\nauthor {who}\ncommitter {who}\ndata {len(msg)}\n".encode()
            + msg + b"\n")


def make_bare_remote(path: Path, *, branch: str = "main",
                     files: Mapping[str, bytes] | None = None) -> Path:
    """A bare repository at `path` with one commit on `branch` (a README unless `files`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    git("init", "--quiet", "--bare", "-b", branch, path)
    import_commit(path, branch, files or {"README.md": b"# demo\n"})
    return path


def user_clone(url: str | Path, path: Path) -> Path:
    """A user's working clone of `url`, with an identity configured."""
    git("clone", "--quiet", url, path)
    git("config", "user.name", USER_NAME, cwd=path)
    git("config", "user.email", USER_EMAIL, cwd=path)
    return path


def write_commit(clone: Path, files: Mapping[str, bytes | None], message: str = "change", *,
                 push: bool = True, branch: str = "HEAD") -> str:
    """As the user: write (bytes) or delete (None) files, commit, push; the new commit's oid."""
    for rel, data in files.items():
        target = clone / rel
        if data is None:
            git("rm", "--quiet", "-r", rel, cwd=clone)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        git("add", rel, cwd=clone)
    git("commit", "--quiet", "-m", message, cwd=clone)
    if push:
        git("push", "--quiet", "origin", branch, cwd=clone)
    return git("rev-parse", "HEAD", cwd=clone)


def crafted_tree(repo: Path, entries: Iterable[tuple[int, str | bytes, str]]) -> str:
    """As a hostile agent: a tree object holding `entries` (mode, name, object id) in the order
    given, duplicates, names with "/" and names that are not UTF-8 included (git never writes
    one; `hash-object --literally` does). Its id."""
    raw = b"".join(f"{mode:o} ".encode() + (name if isinstance(name, bytes) else name.encode())
                   + b"\0" + bytes.fromhex(oid) for mode, name, oid in entries)
    return git("hash-object", "-t", "tree", "--literally", "-w", "--stdin", cwd=repo, input=raw)


def install_hook(bare: Path, name: str, script: str) -> Path:
    """Install an executable server-side hook (e.g. pre-receive) in a bare repository."""
    hook = bare / "hooks" / name
    hook.write_text(script)
    hook.chmod(0o755)
    return hook


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class GitDaemon:
    """A running `git daemon` serving `base_path`; `url(repo)` is a repository's git:// URL."""

    base_path: Path
    prefix: str  # git://127.0.0.1:<port>/
    pid: int

    def url(self, repo: Path) -> str:
        return self.prefix + str(repo.relative_to(self.base_path))


@contextlib.contextmanager
def git_daemon(base_path: Path, *, timeout: float = 10) -> Iterator[GitDaemon]:
    """`git daemon` with push enabled on a free loopback port; killed (with every connection
    child it forked) on exit."""
    base_path.mkdir(parents=True, exist_ok=True)
    for _ in range(5):  # a free port can be taken between probe and bind: try another
        port = free_port()
        proc = subprocess.Popen(
            ["git", "daemon", "--enable=receive-pack", "--listen=127.0.0.1", f"--port={port}",
             "--export-all", f"--base-path={base_path}", "--reuseaddr", "--informative-errors",
             str(base_path)],
            env=GIT_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)  # its own process group: teardown reaches its children
        try:
            if _wait_listening(proc, port, timeout):
                yield GitDaemon(base_path, f"git://127.0.0.1:{port}/", proc.pid)
                return
        finally:
            _kill_group(proc)
    raise RuntimeError("git daemon did not start")


def _wait_listening(proc: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.02)
    return False


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


# -- counting connections ------------------------------------------------------------------------
class Relay:
    """A loopback TCP relay to `port`, counting the connections made through it. With
    `stall_after`, each connection passes that many bytes of the server's answer, then nothing
    more (a server that hangs in the middle of a pack)."""

    def __init__(self, port: int, *, stall_after: int | None = None) -> None:
        self.port = port
        self.stall_after = stall_after
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, url: str) -> str:
        """`url` (of the server on `port`) through this relay."""
        return url.replace(f"127.0.0.1:{self.port}", f"127.0.0.1:{self.listener.getsockname()[1]}")

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.accepted += 1
            upstream = socket.create_connection(("127.0.0.1", self.port))
            for src, dst, limit in ((client, upstream, None),
                                    (upstream, client, self.stall_after)):
                threading.Thread(target=_pump, args=(src, dst, limit), daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(OSError):  # wakes the accept: a close alone would not
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()


def _pump(src: socket.socket, dst: socket.socket, limit: int | None = None) -> None:
    left = limit
    with contextlib.suppress(OSError):
        while data := src.recv(65536 if left is None else min(65536, left)):
            dst.sendall(data)
            if left is not None:
                left -= len(data)
                if not left:
                    return  # stalled: the connection stays open, silent
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def relay(port: int, *, stall_after: int | None = None) -> Iterator[Relay]:
    r = Relay(port, stall_after=stall_after)
    try:
        yield r
    finally:
        r.close()
