"""The maintenance pass a worker runs first in every cycle of a repository, before it looks for
new work (the way rq's worker cleans its registries): what a killed process left behind is
recovered here, in one place, not inline in the cycle.

- First cycle of this process: sweep the git lock files and the partial packs a killed process
  left in the workspace clone (`git.sweep_stale_locks`, `git.sweep_partial_writes`), and adopt
  the results it committed but never queued (`outbox.adopt`), so they are pushed rather than
  run again.
- Every cycle: push the results that wait in the outbox (`outbox.flush`; all of them at start-up,
  else those whose wait after a refusal is over, never one its task's thread is publishing) and
  hand each that landed to `on_landed`.

Claims need no pass of their own: the claim step (`queue.acquire`) takes over a claim whose lease
lapsed, whose holder's process is gone or that cannot be read, with the same compare-and-swap
push as a new claim; the cycle deletes a claim it finds beside a done run (docs/DESIGN.md §3).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from mtor_git import git
from mtor_git.git import Repository
from mtor_git.queue import outbox, protocol
from mtor_git.queue.state import OutboxEntry, RepoState

# Lock and temporary files older than this process were left by a killed one (the workspace is
# ours alone).
PROCESS_START = time.time()


def recover(path: Path, open_repo: Callable[[], Repository], state: RepoState, *, branch: str,
            worker: str, first: bool, probe: outbox.Probe | None = None,
            on_landed: Callable[[Repository, OutboxEntry], None],
            in_flight: Callable[[OutboxEntry], bool] = lambda entry: False) -> Repository:
    """Run the pass for the repository cloned at `path`; the repository, opened. `probe` tells
    when a remote that refused every push accepts again (outbox.flush)."""
    if first:
        git.sweep_stale_locks(path, older_than=PROCESS_START)
        git.sweep_partial_writes(path, older_than=PROCESS_START)
    repo = open_repo()
    if first:
        outbox.adopt(repo, state, protocol.read_view(repo, branch), worker)
    for entry in outbox.flush(repo, state, due_only=not first, probe=probe,
                              in_flight=in_flight):
        on_landed(repo, entry)
    return repo
