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

The option is set on each descriptor by setsockopt(2) itself (ctypes), never through a Python
socket object: wrapping libgit2's descriptor in one would make it non-blocking whenever some code
set socket.setdefaulttimeout, and a copy (dup) of a number another thread just reused for a pipe
would hold that pipe open.
"""

from __future__ import annotations

import ctypes
import functools
import os
import socket
from collections.abc import Callable
from typing import cast

_FDS = "/proc/self/fd"
_ON = ctypes.c_int(1)


def no_delay() -> int:
    """Set TCP_NODELAY on every TCP socket this process holds; how many. Any other descriptor
    refuses the option (not a socket, not TCP) and is left as it is, whatever another thread
    made of its number meanwhile. Without /proc (not Linux), nothing."""
    try:
        names = os.listdir(_FDS)
    except OSError:
        return 0
    setsockopt = _setsockopt()
    if setsockopt is None:
        return 0
    done = 0
    for name in names:
        if name.isdigit() and setsockopt(int(name), socket.IPPROTO_TCP, socket.TCP_NODELAY,
                                         ctypes.byref(_ON), ctypes.sizeof(_ON)) == 0:
            done += 1
    return done


@functools.cache
def _setsockopt() -> Callable[..., int] | None:
    """libc's setsockopt(2), loaded once (None where this process has none to load)."""
    try:
        call = ctypes.CDLL(None, use_errno=True).setsockopt
    except (OSError, AttributeError):
        return None
    call.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32)
    call.restype = ctypes.c_int
    return cast(Callable[..., int], call)
