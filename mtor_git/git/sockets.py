"""TCP_NODELAY on the connection a push writes to, and TCP_QUICKACK while a fetch reads.

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

A fetch meets the same two mechanisms the other way round. The server (git-upload-pack behind
`git daemon`, which leaves Nagle's algorithm on) answers the negotiation in small writes: an
`ACK` line, more `ACK`s, then the pack. Its second write waits for our acknowledgement of the
first, and our kernel delays that acknowledgement by 40 ms: having just sent the wants, the
connection counts as interactive ("pingpong"), so it waits to ride the ACK on our next write,
which never comes. strace showed two such waits in one fetch (ACK lines 43 ms apart, then the
pack 53 ms later). A fetch of one new commit took ~50 ms against `git daemon` on loopback, and
~8 ms with immediate acknowledgements (bench/fetch_quickack.py). TCP_QUICKACK does that, but
Linux clears it again as the connection's traffic goes on, and libgit2 has no callback between
its last write and the server's answer. So while a fetch runs on the connection a cycle's
listing of a git:// server made, a helper thread sets the option on the process's sockets every
millisecond (`quick_acks`): a delayed acknowledgement then leaves within a millisecond. A fetch
that connects by itself, and ssh and https, measured no such wait.

The option is set on each descriptor by setsockopt(2) itself (ctypes), never through a Python
socket object: wrapping libgit2's descriptor in one would make it non-blocking whenever some code
set socket.setdefaulttimeout, and a copy (dup) of a number another thread just reused for a pipe
would hold that pipe open.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import cast

_FDS = "/proc/self/fd"
_ON = ctypes.c_int(1)


def no_delay() -> int:
    """Set TCP_NODELAY on every TCP socket this process holds; how many."""
    return len(_on_every_tcp_socket(socket.TCP_NODELAY))


# How often `quick_acks` acknowledges at once: the longest a delayed acknowledgement then waits;
# and for how long at most (a negotiation is over by then; the pack's full-sized segments are
# acknowledged at once anyway), so a long transfer does not keep a thread ticking.
QUICK_ACK_EVERY = 0.001
QUICK_ACK_FOR = 5.0


@contextlib.contextmanager
def quick_acks(every: float = QUICK_ACK_EVERY, limit: float = QUICK_ACK_FOR) -> Iterator[None]:
    """While the block runs, set TCP_QUICKACK on the TCP sockets this process holds as it starts
    (the transfer's connection must be made by then): at once, then every `every` seconds from
    a thread of its own, for `limit` seconds at most. The sockets are found once: a tick costs a
    call per socket, not a look at every descriptor of the process (one per pack file too).
    Nothing where the option does not exist (not Linux)."""
    option = getattr(socket, "TCP_QUICKACK", None)
    setsockopt = _setsockopt()
    if option is None or setsockopt is None or not (fds := _on_every_tcp_socket(option)):
        yield
        return
    stop = threading.Event()

    def keep() -> None:
        deadline = time.monotonic() + limit
        while not stop.wait(every) and time.monotonic() < deadline:
            for fd in fds:  # a number reused meanwhile: any other descriptor refuses it
                setsockopt(fd, socket.IPPROTO_TCP, option, ctypes.byref(_ON), ctypes.sizeof(_ON))

    thread = threading.Thread(target=keep, name="quick-acks", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _on_every_tcp_socket(option: int) -> list[int]:
    """Set the TCP `option` on every TCP socket this process holds; their descriptors. Any other
    descriptor refuses it (not a socket, not TCP) and is left as it is, whatever another thread
    made of its number meanwhile. Without /proc (not Linux), nothing."""
    try:
        names = os.listdir(_FDS)
    except OSError:
        return []
    setsockopt = _setsockopt()
    if setsockopt is None:
        return []
    return [int(name) for name in names
            if name.isdigit() and setsockopt(int(name), socket.IPPROTO_TCP, option,
                                             ctypes.byref(_ON), ctypes.sizeof(_ON)) == 0]


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
