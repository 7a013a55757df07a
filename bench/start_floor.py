"""The floor of push -> agent start (issue 14), measured beside the daemon's figure: a bare write
to a poke socket, and the agent's own start (the worker's spawn path, sandbox included, until the
counting agent's first line). bench/daemon_bench.py divides its latencies by their sum.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from gitfixtures import git

from mtor_git.agent.spawn import RunRequest, preflight, run_attempt
from mtor_git.config.load import load_config
from mtor_git.config.sandbox import resolve_sandbox
from mtor_git.worker.poke import poke, socket_path


def socket_write_ms(runtime: Path, runs: int) -> list[float]:
    """One datagram to a bound poke socket until it is read, as the hook's bare interpreter
    sends it (ms each)."""
    runtime.mkdir(parents=True, exist_ok=True)
    times = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(socket_path(runtime)))
        for _ in range(runs):
            t0 = time.perf_counter()
            poke(runtime)
            sock.recv(64)
            times.append((time.perf_counter() - t0) * 1000)
    return times


def agent_start_ms(config: Path, profile: str, count_file: Path, checkout: Path,
                   runs: int) -> tuple[list[float], list[float]]:
    """(as the worker spawns it: preflighted once, then run_attempt in the worker's sandbox;
    a plain Popen of the same command) ms from the call until the agent wrote its first line."""
    cfg = load_config(config, environ=dict(os.environ))
    git("init", "--quiet", checkout)
    sandbox = resolve_sandbox(cfg, os.environ).sandbox
    prepared = preflight(RunRequest(cfg.agents[profile], "go", checkout, environ=os.environ,
                                    sandbox=sandbox))
    env = {**os.environ, **cfg.agents[profile].env}
    boxed, plain = [], []
    for _ in range(runs):
        t0 = time.time()
        run_attempt(prepared)
        boxed.append((_last_start(count_file) - t0) * 1000)
        t0 = time.time()
        subprocess.run(list(prepared.argv), input=b"go", cwd=checkout, env=env, check=True,
                       capture_output=True)
        plain.append((_last_start(count_file) - t0) * 1000)
    return boxed, plain


def _last_start(count_file: Path) -> float:
    return float(count_file.read_text().splitlines()[-1].split()[0])
