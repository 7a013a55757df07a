"""TCP_NODELAY on the connection a push writes to.

libgit2 sends a push's commands, then its pack in many small writes, on a socket with Nagle's
algorithm on. The pack's first write waits for the server to acknowledge the commands, and the
server delays that acknowledgement (40 ms on Linux) because it has nothing to send yet. strace
showed the 12-byte `PACK` header leaving 0.2 ms after the commands and reaching git-receive-pack
40 ms later. Every push that updates a ref sends a pack, so each one paid 40 ms: 57 ms per push
against `git daemon` on loopback, 16 ms with TCP_NODELAY (bench/git_ops.py). Only deletions send
no pack. libgit2 has no option for it, and pygit2 does not show the socket, so this sets it on
the process's TCP sockets from the push's negotiation callback. That callback runs after the
connection is made and before anything is sent.

TCP_NODELAY changes only when small writes leave, never what is sent. Python's own http.client
sets it on every connection it makes. Other TCP sockets of this process get it too.
"""

from __future__ import annotations

import os
import socket
import stat

_FDS = "/proc/self/fd"


def no_delay() -> int:
    """Set TCP_NODELAY on every TCP socket this process holds; how many. A descriptor closed
    or reused by another thread meanwhile is skipped. Without /proc (not Linux), nothing."""
    try:
        names = os.listdir(_FDS)
    except OSError:
        return 0
    done = 0
    for name in names:
        try:
            fd = int(name)
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            sock = socket.socket(fileno=os.dup(fd))  # the copy shares the socket's options
        except (OSError, ValueError):
            continue
        try:
            if sock.family in (socket.AF_INET, socket.AF_INET6) \
                    and sock.type == socket.SOCK_STREAM:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                done += 1
        except OSError:
            pass
        finally:
            sock.close()  # the copy only: the connection stays open
    return done
