"""The claim keeper against a real git:// remote: its heartbeat thread ends with its claim,
however the claim ends, a lost claim is said once, and a refused renewal is no lost claim."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from daemonfixtures import wait_for
from gitfixtures import GitDaemon, git, install_hook
from loguru import logger

from mtor_git import git as gitops
from mtor_git.git import refs
from mtor_git.queue import claims, protocol
from mtor_git.queue.lease import ClaimKeeper

AUTHOR = ("w1", "w1@example.org")
BEAT = 0.2


@dataclass
class Held:
    keeper: ClaimKeeper
    remote: Path
    errors: list[str]
    warnings: list[str]


@pytest.fixture
def held(daemon: GitDaemon, bare_remote: Path, tmp_path: Path) -> Iterator[Held]:
    url = daemon.url(bare_remote)
    clone = tmp_path / "ws" / "repo.git"
    repo = gitops.open_or_clone(url, clone, bare=True)
    claim = claims.new_claim("t1", 1, "w1", 1.0, spec_commit=None)
    oid = protocol.push_claim(repo, claim, parent=None, author=AUTHOR)
    assert oid is not None
    keeper = ClaimKeeper(lambda: gitops.open_or_clone(url, clone, bare=True), "main", claim, oid,
                         lease=1.0, interval=BEAT, author=AUTHOR)
    errors: list[str] = []
    warnings: list[str] = []
    sinks = [logger.add(lambda m: errors.append(str(m)), level="ERROR", format="{message}"),
             logger.add(lambda m: warnings.append(str(m)), level="WARNING",
                        filter=lambda r: r["level"].name == "WARNING", format="{message}")]
    keeper.start()
    try:
        yield Held(keeper, bare_remote, errors, warnings)
    finally:
        keeper.stop()
        for sink in sinks:
            logger.remove(sink)


def keeper_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "keeper-t1" and t.is_alive()]


def rival_moves_the_claim(remote: Path) -> None:
    """Another worker takes the task over: a child commit of the claim, pushed by the git CLI."""
    tip = git("rev-parse", refs.claim_ref("t1"), cwd=remote)
    tree = git("rev-parse", f"{tip}^{{tree}}", cwd=remote)
    taken = git("commit-tree", tree, "-p", tip, "-m", "mtor: claim t1 run 1 (running) by w2",
                cwd=remote)
    git("update-ref", refs.claim_ref("t1"), taken, cwd=remote)


def test_a_lost_claim_ends_its_heartbeat_and_is_said_once(held: Held) -> None:
    first = held.keeper.oid
    wait_for(lambda: held.keeper.oid != first, 10, "a first renewal")
    rival_moves_the_claim(held.remote)

    wait_for(held.keeper.lost.is_set, 10, "the keeper to notice the take-over")
    wait_for(lambda: not keeper_threads(), 10, "the heartbeat thread to end")
    time.sleep(BEAT * 8)  # eight more heartbeats' worth of time
    lost_lines = [line for line in held.errors if "lost the claim" in line]
    assert len(lost_lines) == 1, held.errors
    assert held.keeper.cancel.is_set()


def test_a_deleted_claim_ends_its_heartbeat(held: Held) -> None:
    git("update-ref", "-d", refs.claim_ref("t1"), cwd=held.remote)
    wait_for(held.keeper.lost.is_set, 10, "the keeper to notice the deletion")
    wait_for(lambda: not keeper_threads(), 10, "the heartbeat thread to end")
    assert git("for-each-ref", refs.CLAIM_PREFIX, cwd=held.remote) == "", "the claim came back"


def test_a_released_claim_ends_its_heartbeat(held: Held) -> None:
    held.keeper.release("worker stopping")
    assert not keeper_threads()
    shown = git("show", f"{refs.claim_ref('t1')}:claim.json", cwd=held.remote)
    assert '"released"' in shown


def test_a_refused_renewal_keeps_the_claim_and_says_so_once(held: Held) -> None:
    install_hook(held.remote, "pre-receive", "#!/bin/sh\necho 'maintenance'\nexit 1\n")
    time.sleep(BEAT * 10)  # the lease (1 s) lapses while every renewal is refused
    assert not held.keeper.lost.is_set()
    assert not held.keeper.cancel.is_set()
    assert keeper_threads(), "the heartbeat stopped on a refusal"
    refusals = [w for w in held.warnings if "refused to renew" in w]
    assert len(refusals) == 1, held.warnings
    seen = held.keeper.oid

    (held.remote / "hooks" / "pre-receive").unlink()
    wait_for(lambda: held.keeper.oid != seen, 10, "a renewal once the remote accepts again")
    assert git("rev-parse", refs.claim_ref("t1"), cwd=held.remote) == held.keeper.oid
    assert held.errors == []
