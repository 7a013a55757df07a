"""Wake a daemon on this host: one datagram to `<runtime_dir>/poke.sock`. Standard library only,
so that `mtor-git poke` (and the post-receive hook that runs it) starts in milliseconds."""

from __future__ import annotations

import socket
from pathlib import Path

SOCKET_NAME = "poke.sock"


def socket_path(runtime_dir: Path) -> Path:
    return runtime_dir / SOCKET_NAME


def poke(runtime_dir: Path) -> bool:
    """Ask a daemon on this host to poll now; False when none is listening."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(b"poke", str(socket_path(runtime_dir)))
        except (FileNotFoundError, ConnectionRefusedError):
            return False
    return True
