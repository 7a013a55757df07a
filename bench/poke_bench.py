"""Push -> poke cost on the server (issue 14): the post-receive hook as installed with a config
(a bare interpreter writes the datagram, the CLI only as a fallback) against the hook that
starts the full `mtor-git poke` CLI, and a bare socket write in this process as the floor.

    PYTHONPATH=. python bench/poke_bench.py [--runs 20]

Prints medians and the ratio to the floor; asserts nothing.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from mtor_git.deploy import files  # noqa: E402
from mtor_git.worker.poke import poke, socket_path  # noqa: E402


def median_ms(fn: object, runs: int, sock: socket.socket) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        sock.recv(64)  # the datagram arrived
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def hook(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        runtime = tmp / "run"
        runtime.mkdir()
        config = tmp / "config.yaml"
        config.write_text(f"runtime_dir: {runtime}\nrepos: [{{url: {tmp / 'srv.git'}}}]\n"
                          "agents: {claude: {}}\n")
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
        slow = hook(tmp, "cli-hook", files.post_receive(config=config))
        fast = hook(tmp, "fast-hook", files.post_receive(config=config,
                                                         sock=socket_path(runtime)))

        def run(path: Path) -> None:
            subprocess.run([str(path)], input=b"0 1 refs/heads/main\n", env=env, check=True)

        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(str(socket_path(runtime)))
            floor = median_ms(lambda: poke(runtime), args.runs, sock)
            shell = median_ms(lambda: run(hook(tmp, "empty", "#!/bin/sh\ncat >/dev/null\n")
                                          ) or poke(runtime), args.runs, sock)
            cli = median_ms(lambda: run(slow), args.runs, sock)
            quick = median_ms(lambda: run(fast), args.runs, sock)
    print(f"bare socket write (in process)       {floor:7.2f} ms")
    print(f"an empty sh hook + that write        {shell:7.2f} ms")
    print(f"hook running the full CLI (before)   {cli:7.2f} ms  {cli / shell:5.1f}x"
          " the empty hook")
    print(f"hook with the fast path (now)        {quick:7.2f} ms  {quick / shell:5.1f}x"
          " the empty hook")


if __name__ == "__main__":
    main()
