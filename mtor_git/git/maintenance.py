"""Keep the worker's clone from growing a pack per fetch and loose objects per task for ever.

libgit2 keeps every fetched pack as it came (git would unpack a small one) and has no gc: a
worker's clone gained a pack per fetch and ~14 loose objects per task (claims, results, done
records), and a long-running daemon a file descriptor per pack: after 300 tasks, 301 packs,
4,198 loose objects and 308 descriptors (bench/clone_growth.py), every object lookup asking each
pack's index in turn. When the clone holds more packs or loose objects than git's own `gc
--auto` limits, `git gc --auto` runs on it, as a user maintains a repository (libgit2 cannot
repack): 1 pack, 9 loose objects and 59 descriptors after the same 300.

It runs with those limits spelled out (a user's gc.auto=0 does not apply to the worker's own
clone), in the foreground (its caller is a thread of its own), and without packing refs: that
would hold `packed-refs.lock` while the worker's threads create and delete refs. It keeps what it
must: unreachable objects stay loose for two weeks (`-A`, as gc does), so a task checkout that
borrows a commit no ref reaches any more (a base force-pushed away) keeps it; git and libgit2 both
look for an object again in the new pack when the one they had open is gone.
"""

from __future__ import annotations

import os
from pathlib import Path

from mtor_git.git.cli import run_git

PACK_LIMIT = 50  # git's gc.autoPackLimit
LOOSE_LIMIT = 6700  # git's gc.auto
_SAMPLE = "17"  # git estimates the loose objects from this one of the 256 folders, as here

GC_TIMEOUT = 600.0


def untidy(clone: Path) -> bool:
    """Whether the repository at `clone` (a bare one) holds more than PACK_LIMIT packs or, by
    git's own estimate, more than LOOSE_LIMIT loose objects."""
    objects = clone / "objects"
    try:
        packs = sum(1 for name in os.listdir(objects / "pack") if name.endswith(".pack"))
    except OSError:
        packs = 0
    if packs > PACK_LIMIT:
        return True
    try:
        sample = sum(1 for name in os.listdir(objects / _SAMPLE) if len(name) == 38)
    except OSError:
        return False
    return sample > -(-LOOSE_LIMIT // 256)  # as git rounds it


def tidy(clone: Path) -> None:
    """`git gc --auto` on the worker's clone (see above); GitOpError when git fails or is
    missing."""
    run_git(clone, "-c", f"gc.autoPackLimit={PACK_LIMIT}", "-c", f"gc.auto={LOOSE_LIMIT}",
            "-c", "gc.autoDetach=false", "-c", "gc.packRefs=false",
            "gc", "--auto", "--quiet", timeout=GC_TIMEOUT)
