"""An in-process Worker on a Site (daemonfixtures), and a wait for everything it started."""

from __future__ import annotations

from daemonfixtures import DAEMON_ENV, Site

from mtor_git.config.load import load_config
from mtor_git.worker.cycle import Worker


def worker(s: Site, name: str = "w1", *, max_parallel: int = 2,
           default_agent: str = "instant") -> Worker:
    config = s.config(name, max_parallel=max_parallel, default_agent=default_agent)
    return Worker(load_config(config), DAEMON_ENV)


def settle(w: Worker) -> None:
    """Wait until every task the cycle started has finished (no sleep: the worker's wake), and
    what landed is recorded and its claim deleted (the housekeeping thread): after `cycle()`;
    `run_once()` waits for both itself."""
    while w.busy():
        w.wake.wait(0.2)
    w.housekeeping.submit(lambda: None).result()
