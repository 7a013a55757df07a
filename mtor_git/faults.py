"""Test-only fault points: with `MTOR_GIT_FAULT=<name>` in its environment the worker SIGKILLs
itself on reaching point `<name>`, so crash-recovery tests hit one stage exactly. A no-op otherwise.

Points (in the order a task reaches them):
    after_claim    the claim is pushed; no worktree, no agent yet
    after_commit   the result is committed locally; not yet in the outbox
    before_push    the result is in the outbox; its push has not started
    after_push     the remote has the result; the outbox entry and the claim are still there
"""

from __future__ import annotations

import os
import signal

ENV = "MTOR_GIT_FAULT"
POINTS = ("after_claim", "after_commit", "before_push", "after_push")


def point(name: str) -> None:
    """Die here, as by `kill -9` (no cleanup, no flush), when MTOR_GIT_FAULT names this point."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
