"""Cycle time of an in-process Worker with and without a silent remote (a TCP server on loopback
that accepts and never answers) listed first in `repos`, a healthy `git daemon` remote second:

  healthy only              Worker.cycle(wait=SYNC_WAIT), as the daemon polls
  silent first              the same; and when the healthy repository's sync ended
  silent first, --once      Worker.cycle() waiting for every sync (bounded by transfer_timeout)

    /work/main/.venv/bin/python bench/silent_remote_bench.py [--runs N] [--transfer-timeout S]

Prints every figure; asserts nothing (timings belong here, not in tests).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from daemonfixtures import site  # noqa: E402
from loguru import logger  # noqa: E402

from mtor_git.config.load import load_config  # noqa: E402
from mtor_git.worker.cycle import Worker  # noqa: E402
from mtor_git.worker.daemon import SYNC_WAIT  # noqa: E402


def tar_pit() -> tuple[socket.socket, int]:
    """Accept every connection, say nothing."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return sock, int(sock.getsockname()[1])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def timed_cycles(worker: Worker, runs: int, wait: float | None) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        worker.cycle(wait=wait)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--transfer-timeout", type=float, default=5.0)
    args = parser.parse_args()
    logger.remove()
    pit, port = tar_pit()
    silent = f"git://127.0.0.1:{port}/silent.git"
    with tempfile.TemporaryDirectory(prefix="mtor-bench-") as tmp, site(Path(tmp)) as s:
        extra = {"transfer_timeout": f"{args.transfer_timeout:g}s"}
        alone = Worker(load_config(s.config("alone", extra={
            **extra, "repos": [{"url": s.url, "name": "healthy"}]})), os.environ)
        alone.cycle()  # the clone
        times = timed_cycles(alone, args.runs, SYNC_WAIT)
        print(f"healthy only:             cycle median {ms(statistics.median(times))}")
        alone.stop(5)

        two = {**extra, "repos": [{"url": silent, "name": "silent"},
                                  {"url": s.url, "name": "healthy"}]}
        both = Worker(load_config(s.config("both", extra=two)), os.environ)
        t = time.perf_counter()
        both.cycle(wait=SYNC_WAIT)
        first = time.perf_counter() - t
        times = timed_cycles(both, args.runs, SYNC_WAIT)
        print(f"silent remote first:      first cycle {ms(first)} (waits at most "
              f"SYNC_WAIT = {SYNC_WAIT:g} s), then median {ms(statistics.median(times))} "
              f"(its sync still runs: skipped); status names it: {both.last_error!r}")
        both.stop(5)
        once = Worker(load_config(s.config("once", extra=two)), os.environ)
        t = time.perf_counter()
        once.cycle()
        print(f"silent first, --once:     cycle {ms(time.perf_counter() - t)} (every sync "
              f"awaited; bounded by transfer_timeout = {args.transfer_timeout:g} s); "
              f"status: {once.last_error!r}")
        once.stop(5)
    pit.close()


if __name__ == "__main__":
    main()
