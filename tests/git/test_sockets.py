"""TCP_NODELAY on the connections libgit2 writes to, and TCP_QUICKACK while a fetch reads
(git/sockets.py), on real sockets: set by no_delay() and quick_acks() themselves, and by a real
push to `git daemon`, a real fetch from it and a real fetch over https (nginx + git
http-backend). A TCP connection the test holds open in this process shows it: they set every TCP
socket of the process."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gitfixtures import GitDaemon
from serverfixtures import https_server, trusting_ca

from mtor_git import git as gitops
from mtor_git.git.auth import Credentials
from mtor_git.git.sockets import no_delay, quick_acks


@pytest.fixture
def held() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected loopback TCP pair (client, server side), Nagle on, as a new socket has it."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    try:
        assert not _nodelay(client) and not _nodelay(server)
        yield client, server
    finally:
        client.close()
        server.close()


def _nodelay(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


def test_no_delay_sets_every_tcp_socket_and_leaves_the_rest_alone(
        held: tuple[socket.socket, socket.socket]) -> None:
    client, server = held
    left, right = socket.socketpair()  # AF_UNIX: no TCP option to set
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        assert no_delay() >= 2
        assert _nodelay(client) and _nodelay(server)
        client.sendall(b"still connected")  # the copies it made are closed, the socket is not
        assert server.recv(64) == b"still connected"
        left.sendall(b"x")
        assert right.recv(1) == b"x"
    finally:
        for sock in (left, right, udp):
            sock.close()


def test_no_delay_copies_no_descriptor_and_leaves_blocking_sockets_blocking(
        held: tuple[socket.socket, socket.socket], tmp_path: Path) -> None:
    """Found by a review: a copy (dup) of a number reused for a pipe held the pipe open, and one
    of an O_PATH descriptor leaked on every call; a Python socket object around libgit2's own
    descriptor would make it non-blocking once anything set a default timeout."""
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(tmp_path / "s"))
    opath = os.open(tmp_path / "s", os.O_PATH)  # fstat says socket; no socket call works on it
    reader, writer = os.pipe()
    socket.setdefaulttimeout(5)
    try:
        before = sorted(os.listdir("/proc/self/fd"))
        for _ in range(5):
            no_delay()
        assert sorted(os.listdir("/proc/self/fd")) == before
        assert held[0].getblocking() and _nodelay(held[0])
        os.close(writer)
        assert os.read(reader, 1) == b""  # no copy of the write end is left open
    finally:
        socket.setdefaulttimeout(None)
        os.close(reader)
        os.close(opath)
        unix.close()


def test_no_delay_skips_a_descriptor_closed_under_it(held: tuple[socket.socket, socket.socket],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Another thread may close (or reuse) a descriptor between the listing and the look."""
    real = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path: [*real(path), "999999", "not-a-number"])
    assert no_delay() >= 2
    assert _nodelay(held[0])


def test_a_push_to_git_daemon_sets_it(held: tuple[socket.socket, socket.socket],
                                      bare_remote: Path, daemon: GitDaemon,
                                      tmp_path: Path) -> None:
    repo = gitops.open_or_clone(daemon.url(bare_remote), tmp_path / "work.git", bare=True)
    assert not _nodelay(held[0])  # a clone has no hook before it sends: nothing set yet
    commit = gitops.commit_files(repo, ref="refs/mtor-local/c", parent=None,
                                 files={"claim.json": b"{}"}, message="claim")
    gitops.push(repo, [f"{commit}:refs/mtor/claims/c"])
    assert _nodelay(held[0]) and _nodelay(held[1])
    assert gitops.remote_refs(repo)["refs/mtor/claims/c"] == commit


@pytest.mark.slow
def test_a_fetch_over_https_sets_it(held: tuple[socket.socket, socket.socket],
                                    bare_remote: Path, tmp_path: Path) -> None:
    token = "tok-sockets-5d1e"
    with https_server(tmp_path / "nginx", bare_remote.parent, token) as httpd, \
            trusting_ca(httpd.tls.ca):
        gitops.open_or_clone(httpd.url(bare_remote), tmp_path / "work.git", bare=True,
                             credentials=Credentials(username=httpd.user, password=token))
    assert _nodelay(held[0]) and _nodelay(held[1])


def _delaying(sock: socket.socket) -> bool:
    """Whether the kernel delays this connection's acknowledgements ("pingpong" mode): reading
    TCP_QUICKACK tells the opposite; clearing it enters that mode."""
    return not sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK)


def _delay_acks(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
    assert _delaying(sock)


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        threading.Event().wait(0.001)


def _ticking() -> bool:
    return "quick-acks" in {t.name for t in threading.enumerate()}


def test_quick_acks_keeps_switching_delayed_acknowledgements_off_until_the_block_ends(
        held: tuple[socket.socket, socket.socket]) -> None:
    client = held[0]
    with quick_acks():
        assert not _delaying(client)  # set as the block starts
        # As a connection's own traffic does, mid-transfer (not asserted: the thread may set it
        # back at once); its thread switches it back.
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
        _until(lambda: not _delaying(client), "quick_acks never set TCP_QUICKACK again")
    assert not _ticking()
    _delay_acks(client)
    assert _delaying(client)  # nothing sets it after the block


def test_quick_acks_stops_ticking_after_its_limit(
        held: tuple[socket.socket, socket.socket]) -> None:
    with quick_acks(limit=0.0):
        _until(lambda: not _ticking(), "quick_acks ticked past its limit")
        _delay_acks(held[0])
        assert _delaying(held[0])


def test_a_cycles_fetch_from_git_daemon_runs_under_quick_acks(
        held: tuple[socket.socket, socket.socket], bare_remote: Path, daemon: GitDaemon,
        tmp_path: Path) -> None:
    """On the connection its listing made (where the waits were measured); a fetch that
    connects by itself goes without."""
    repo = gitops.open_or_clone(daemon.url(bare_remote), tmp_path / "work.git", bare=True)
    _delay_acks(held[0])
    gitops.fetch(repo)
    assert _delaying(held[0])
    with gitops.Listing(repo) as listing:
        gitops.fetch(repo, connected=listing.take())
    assert not _delaying(held[0])
