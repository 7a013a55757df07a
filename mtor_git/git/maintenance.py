"""Keep the worker's clone from growing a pack per fetch and loose objects per task for ever.

libgit2 keeps every fetched pack as it came (git would unpack a small one) and has no gc: a
worker's clone gained a pack per fetch and ~14 loose objects per task (claims, results, done
records), and a long-running daemon a file descriptor per pack: after 300 tasks, 301 packs,
4,198 loose objects and 308 descriptors (bench/clone_growth.py), every object lookup asking each
pack's index in turn. Past git's own `gc --auto` limits, the clone is repacked with the git CLI,
as a user maintains a repository (libgit2 cannot repack): 1 or 2 packs after the same 300.

The repack deletes no object: `git repack -d -l --cruft` writes what the refs reach into one
pack and everything else, loose or packed, into a cruft pack that nothing expires. A task
checkout, an intake or a quarantine repository borrows objects from the clone (alternates) that
no ref of the clone may reach any more (a base force-pushed away): they stay. Only the packs the
new ones replace, and loose objects now in a pack, are removed. It is not `git gc`: no reflog
expiry, prune, commit-graph, packed refs or hooks. The user's git configuration does not apply
(no global or system file): the worker's clone is the worker's. Its caller runs it when nothing
else writes the clone (Worker._tidy): git's removal of an emptied loose-object folder could
otherwise fail libgit2's write of a new object into it.

A fetch or a repack killed half way leaves its temporary files, which nothing else ever removes:
a partial pack libgit2 was receiving (`objects/pack/pack_git2_*`; 24 and 64 MB of an 80 MB
fetch killed after 8 and 9 s, measured), git's (`tmp_pack_*`, `tmp_idx_*`, `tmp_rev_*`, a
repack's `.tmp-<pid>-pack-*`) and a loose object libgit2 was writing
(`objects/tmp_object_git2_*`). `sweep_partial_writes` deletes those a dead process left: under a
crash loop they would fill the disk.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from loguru import logger

from mtor_git.git.cli import run_git

PACK_LIMIT = 50  # git's gc.autoPackLimit
LOOSE_LIMIT = 6700  # git's gc.auto
_SAMPLE = "17"  # git estimates the loose objects from this one of the 256 folders, as here

REPACK_TIMEOUT = 600.0

# Temporary files of libgit2 and git, by folder under objects/ (see above).
PARTIAL_WRITES = (("pack", ("pack_git2_", "tmp_pack_", "tmp_idx_", "tmp_rev_", ".tmp-")),
                  ("", ("tmp_object_git2_",)))


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
    """Repack the worker's clone (see above); GitOpError when git fails or is missing."""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    run_git(clone, "repack", "-d", "-l", "--cruft", "-q", timeout=REPACK_TIMEOUT, env=env)


def sweep_partial_writes(clone: Path, *, older_than: float) -> list[Path]:
    """Delete the temporary files of a fetch, a repack or an object write (PARTIAL_WRITES) in
    the repository at `clone` (a bare one) last written before `older_than` (a time): those a
    killed process left. Only for a clone one process writes (the worker's own), and only at a
    moment when no write of its own is under way. The files deleted."""
    removed: list[Path] = []
    freed = 0
    for folder, prefixes in PARTIAL_WRITES:
        where = clone / "objects" / folder
        try:
            names = os.listdir(where)
        except OSError:
            continue
        for name in names:
            if not name.startswith(prefixes):
                continue
            path = where / name
            try:
                st = path.lstat()
                if st.st_mtime >= older_than or stat.S_ISDIR(st.st_mode):
                    continue
                path.unlink()
            except OSError:
                continue
            removed.append(path)
            freed += st.st_size
    if removed:
        logger.warning("removed {} temporary file(s) ({} bytes) a killed fetch or repack left "
                       "in {}: {}", len(removed), freed, clone,
                       ", ".join(str(p.relative_to(clone)) for p in removed))
    return removed
