"""The post-receive hook's fast path (issue 14): a bare interpreter writes the datagram to the
socket the config named at install time; the full CLI runs only when that fails."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from gitfixtures import make_bare_remote, user_clone, write_commit

from mtor_git.deploy import files
from mtor_git.worker.poke import socket_path

ENV = {"PATH": "/usr/bin:/bin"}  # the git server's: no mtor-git, no MTOR_GIT*


def _listen(runtime: Path) -> socket.socket:
    runtime.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(socket_path(runtime)))
    sock.settimeout(20)
    return sock


def _hook(tmp_path: Path, text: str) -> Path:
    hook = tmp_path / "hooks" / "post-receive"
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text(text)
    hook.chmod(0o755)
    return hook


def _run(hook: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(hook)], input="0 1 refs/heads/main\n", env=ENV, text=True,
                          capture_output=True, timeout=60, check=False)


def test_the_fast_path_pokes_without_starting_the_cli(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    marker = tmp_path / "cli-ran"
    cli = tmp_path / "cli"
    cli.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    cli.chmod(0o755)
    hook = _hook(tmp_path, files.post_receive(command=[str(cli)], sock=socket_path(runtime)))
    with _listen(runtime) as sock:
        done = _run(hook)
        assert sock.recv(64) == b"poke"
    assert done.returncode == 0 and done.stdout == ""
    assert not marker.exists()


def test_without_a_listener_there_the_cli_reads_the_config_anew(tmp_path: Path) -> None:
    runtime = tmp_path / "moved"  # runtime_dir changed after the hook was installed
    config = tmp_path / "config.yaml"
    config.write_text(f"runtime_dir: {runtime}\nrepos: [{{url: {tmp_path / 'srv.git'}}}]\n"
                      "agents: {claude: {}}\n")
    hook = _hook(tmp_path, files.post_receive(config=config,
                                              sock=socket_path(tmp_path / "old")))
    with _listen(runtime) as sock:
        done = _run(hook)
        assert sock.recv(64) == b"poke"
    assert done.returncode == 0 and done.stderr == ""


def test_no_daemon_at_all_never_fails_the_push(tmp_path: Path) -> None:
    hook = _hook(tmp_path, files.post_receive(command=["/bin/false"],
                                              sock=socket_path(tmp_path / "none")))
    done = _run(hook)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


ZERO = "0" * 40
OLD, NEW = "1" * 40, "2" * 40


def _poked(tmp_path: Path, lines: list[str]) -> bool:
    """Run the installed-style hook on `lines`; whether a datagram reached the socket. The hook
    writes it before it exits, so it is there when the run ends or never."""
    runtime = tmp_path / "run"
    hook = tmp_path / "hooks" / "post-receive"
    if not hook.exists():
        _hook(tmp_path, files.post_receive(command=["/bin/false"], sock=socket_path(runtime)))
    with _listen(runtime) as sock:
        done = subprocess.run([str(hook)], input="".join(f"{ln}\n" for ln in lines), env=ENV,
                              text=True, capture_output=True, timeout=60, check=False)
        assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
        sock.setblocking(False)
        try:
            return _received(sock)
        finally:
            socket_path(runtime).unlink()


def _received(sock: socket.socket) -> bool:
    """Whether a poke waits in the (non-blocking) socket: the hook sends it before it exits."""
    try:
        return sock.recv(64) == b"poke"
    except BlockingIOError:
        return False


def test_a_new_claim_and_result_branches_poke_nobody(tmp_path: Path) -> None:
    # A worker taking a task, and pushing a result branch, starts no task.
    assert not _poked(tmp_path, [f"{ZERO} {NEW} refs/mtor/claims/t1"])
    assert not _poked(tmp_path, [f"{ZERO} {NEW} refs/heads/mtor/t1",
                                 f"{ZERO} {NEW} refs/mtor/claims/t2"])
    assert not _poked(tmp_path, [f"{OLD} {ZERO} refs/heads/mtor/t1-r2"])
    assert not _poked(tmp_path, [f"{ZERO} {NEW} refs/mtor/claims/t{n}" for n in range(5000)])


def test_what_can_start_work_pokes(tmp_path: Path) -> None:
    assert _poked(tmp_path, [f"{OLD} {NEW} refs/heads/main"])
    assert _poked(tmp_path, [f"{OLD} {NEW} refs/heads/mtor/t1", f"{OLD} {NEW} refs/heads/dev"])
    # The done index (a dependency ended) and a claim released (a child commit: another worker
    # may take the task at once), renewed or deleted, in one push or alone.
    assert _poked(tmp_path, [f"{OLD} {NEW} refs/mtor/done", f"{OLD} {ZERO} refs/mtor/claims/t1"])
    assert _poked(tmp_path, [f"{OLD} {NEW} refs/mtor/claims/t1"])
    assert _poked(tmp_path, [f"{OLD} {ZERO} refs/mtor/claims/t1"])
    assert _poked(tmp_path, [*(f"{ZERO} {NEW} refs/mtor/claims/t{n}" for n in range(5000)),
                             f"{OLD} {NEW} refs/heads/main"])
    assert _poked(tmp_path, [f"{OLD} {'0' * 64} refs/mtor/claims/t1"])  # a SHA-256 repository
    assert _poked(tmp_path, [f"{ZERO} {NEW} refs/mtor/cancel/t1"])
    assert _poked(tmp_path, [f"{ZERO} {NEW} refs/mtor/retry/t1"])
    assert _poked(tmp_path, [])  # nothing read: poke rather than miss a push


def test_the_users_own_hook_sees_every_line_poke_or_not(tmp_path: Path) -> None:
    saw = tmp_path / "legacy-saw"
    legacy = tmp_path / "hooks" / "post-receive.legacy"
    _hook(tmp_path, files.post_receive(command=["/bin/false"], sock=socket_path(tmp_path / "run")))
    legacy.write_text(f"#!/bin/sh\ncat >> {saw}\n")
    legacy.chmod(0o755)
    line = f"{ZERO} {NEW} refs/mtor/claims/t1"
    assert not _poked(tmp_path, [line])
    assert saw.read_text() == f"{line}\n"


def test_real_pushes_through_git_receive_pack(tmp_path: Path) -> None:
    """The lines git itself gives the hook: a new claim wakes nobody, its update and its
    deletion do; a result branch does not, the watched branch does."""
    runtime = tmp_path / "run"
    bare = make_bare_remote(tmp_path / "srv.git")
    _hook(bare, files.post_receive(command=["/bin/false"], sock=socket_path(runtime)))
    clone = user_clone(bare, tmp_path / "user")
    write_commit(clone, {"tasks/a.md": b"x\n"}, push=False)
    with _listen(runtime) as sock:
        sock.setblocking(False)

        def poked(*refspecs: str) -> bool:
            subprocess.run(["git", "push", "--quiet", "origin", *refspecs], cwd=clone,
                           check=True, timeout=60, capture_output=True)
            return _received(sock)

        assert not poked("HEAD:refs/mtor/claims/t1")
        assert not poked("HEAD:refs/heads/mtor/t1")
        assert poked("HEAD~1:refs/mtor/claims/t1", "--force")
        assert poked(":refs/mtor/claims/t1")
        assert poked("HEAD:main")
