"""The post-receive hook's fast path (issue 14): a bare interpreter writes the datagram to the
socket the config named at install time; the full CLI runs only when that fails."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

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
    hook.parent.mkdir(parents=True)
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
