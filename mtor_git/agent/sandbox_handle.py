"""The host side of one running attempt sandbox: which pid is the namespace's init (bwrap's
`--info-fd`), signals that reach only that namespace, the wait for its end, and the agent's exit
status as bwrap reports it."""

from __future__ import annotations

import json
import os
import select
import signal
from pathlib import Path


def decode_status(returncode: int | None) -> tuple[int | None, int | None]:
    """(exit code, signal) of the agent from bwrap's status. bwrap reports a child killed by
    signal N as exit 128+N (measured, bwrap 0.8), so that range is read as the signal."""
    if returncode is None:
        return None, None
    if returncode < 0:
        return None, -returncode
    if returncode > 128 and _is_signal(returncode - 128):
        return None, returncode - 128
    return returncode, None


def _is_signal(number: int) -> bool:
    try:
        signal.Signals(number)
    except ValueError:
        return False
    return True


class Handle:
    """The host side of one running sandbox: bwrap writes its init's pid and PID namespace to
    `--info-fd` once the sandbox is set up; every signal is checked against that namespace, so
    a reused pid is never hit."""

    def __init__(self, info_fd: int) -> None:
        self.fd: int | None = info_fd
        self.buffer = b""
        self.pid: int | None = None
        self.pidns: int | None = None

    def init_pid(self) -> int | None:
        """The namespace's PID 1 (host pid), once bwrap has reported it; never blocks."""
        if self.pid is None and self.fd is not None:
            os.set_blocking(self.fd, False)
            try:
                while chunk := os.read(self.fd, 4096):
                    self.buffer += chunk
                self.close()  # EOF: bwrap wrote all it will write
            except BlockingIOError:
                pass
            except OSError:
                self.close()
            self._parse()
        return self.pid

    def _parse(self) -> None:
        try:
            info = json.loads(self.buffer.decode("utf-8"))
            self.pid, self.pidns = int(info["child-pid"]), int(info["pid-namespace"])
        except (ValueError, KeyError, TypeError):
            return

    def terminate(self) -> bool:
        """SIGTERM to the agent's session inside (bwrap's init ignores it): the agent gets its
        grace. False when the sandbox is not set up (yet) or already gone."""
        pid = self.init_pid()
        if pid is None or not self.alive():
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            return False
        return True

    def kill(self) -> bool:
        """SIGKILL to the namespace's init: the kernel then kills every process inside."""
        pid = self.init_pid()
        if pid is None or not self.alive():
            return False
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            return False
        return True

    def alive(self) -> bool:
        """Whether the namespace's init still runs. Once it is a zombie, the kernel has already
        killed and reaped every other process of the namespace."""
        if self.pid is None:
            return False
        try:
            if os.stat(f"/proc/{self.pid}/ns/pid").st_ino != self.pidns:
                return False
            stat = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return False
        return stat[0] not in ("Z", "X")

    def wait_gone(self, timeout: float) -> bool:
        """Block until the namespace's init has exited (at most `timeout` seconds), woken by
        its pidfd rather than by polling; True when it is gone. bwrap itself may exit a moment
        before its init has killed the rest of the namespace."""
        if self.pid is None or not self.alive():
            return True
        try:
            pidfd = os.pidfd_open(self.pid)
        except OSError:
            return not self.alive()
        try:
            if self.alive():  # still the same process, now held by the pidfd
                select.select([pidfd], [], [], timeout)
        finally:
            os.close(pidfd)
        return not self.alive()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
