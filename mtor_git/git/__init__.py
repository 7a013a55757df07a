"""The only door to git: pygit2 and the `git` CLI are used in this package and nowhere else.

Callers hold a `Repository` (the worker's bare clone, a user's clone) and pass commit ids as hex
strings; failures surface as `GitOpError`, refusals by the remote as `PushRejected`. Modules:
`refs` (every ref and path name), `read`, `write`, `transfer` (clone, fetch, push, credentials),
`listing` (ls-remote, and a listing the next fetch reuses), `localpush` (race-safe pushes to a
path remote), `checkout` (a task's standalone checkout) and `collect` (the agent's work taken out
of it), `intake` (where it waits before joining the clone), `maintenance` (the clone's repack,
and what a killed fetch or repack left).
"""

from __future__ import annotations

import pygit2
from pygit2 import Repository
from pygit2.enums import ObjectType

from mtor_git.git.checkout import BaseFiles, Checkout, LeaveOut, create_checkout, drop_checkout
from mtor_git.git.collect import Collected, Limits, collect
from mtor_git.git.intake import adopt_intake, drop_intake, open_intake, quarantine_intake
from mtor_git.git.introduced import Introduced, introduced
from mtor_git.git.listing import Listing, remote_refs
from mtor_git.git.maintenance import sweep_partial_writes, tidy, untidy
from mtor_git.git.mirror import mirror_fetch, refs_under, remote_url
from mtor_git.git.read import (
    SYMLINK_MODE,
    PathChange,
    blob_data,
    blob_size,
    changed_paths,
    commit,
    commit_of_path_addition,
    commit_signature,
    commit_time,
    diff_changes,
    discover,
    file_mode,
    file_names,
    first_parent,
    head_of,
    is_ancestor,
    is_symlink,
    list_tree,
    read_blob,
    read_blob_with_mode,
    resolve,
    top_blobs,
    worktree_changes,
)
from mtor_git.git.transfer import (
    FETCH_REFSPECS,
    REMOTE,
    TRACKING_MTOR_PREFIX,
    TRACKING_PREFIX,
    Credentials,
    FetchOutcome,
    RefUpdate,
    fetch,
    fetch_moved,
    is_local,
    normalize_url,
    open_exact,
    open_or_clone,
    open_repository,
    pick_credential,
    push,
    set_timeouts,
)
from mtor_git.git.write import (
    commit_all,
    commit_files,
    commits_between,
    compare_and_swap,
    create_worktree,
    init_repository,
    point_ref,
    prune_worktrees,
    remove_worktree,
    signature,
    sweep_stale_locks,
    worktree_head,
)

# libgit2 caches no tree over 4 KiB by default, so every `tree[path]` under a large `tasks/`
# re-inflates the whole folder (361 KiB at 10,000 specs): 1.9 ms per lookup, 8 µs with this limit.
pygit2.settings.cache_object_limit(ObjectType.TREE, 4 << 20)
# libgit2 keeps every pack it opened open (none by default is closed): a clone that gains a pack
# per fetch held a descriptor each (308 after 300 tasks). The clone is repacked when the worker
# is quiet (maintenance); a worker that never is keeps at most this many open, the least
# recently used closed first.
pygit2.settings.mwindow_file_limit = 256

__all__ = [
    "BaseFiles",
    "Checkout",
    "LeaveOut",
    "Listing",
    "Collected",
    "Limits",
    "collect",
    "create_checkout",
    "adopt_intake",
    "drop_intake",
    "open_intake",
    "quarantine_intake",
    "drop_checkout",
    "Repository",
    "blob_data",
    "blob_size",
    "commit_signature",
    "commit_time",
    "discover",
    "init_repository",
    "open_repository",
    "file_names",
    "first_parent",
    "mirror_fetch",
    "tidy",
    "untidy",
    "refs_under",
    "remote_url",
    "FETCH_REFSPECS",
    "REMOTE",
    "SYMLINK_MODE",
    "TRACKING_MTOR_PREFIX",
    "TRACKING_PREFIX",
    "Credentials",
    "FetchOutcome",
    "PathChange",
    "RefUpdate",
    "changed_paths",
    "commit",
    "commit_all",
    "commit_files",
    "commit_of_path_addition",
    "commits_between",
    "Introduced",
    "introduced",
    "compare_and_swap",
    "create_worktree",
    "diff_changes",
    "head_of",
    "worktree_changes",
    "fetch",
    "fetch_moved",
    "file_mode",
    "is_ancestor",
    "is_local",
    "is_symlink",
    "list_tree",
    "normalize_url",
    "open_exact",
    "open_or_clone",
    "pick_credential",
    "point_ref",
    "prune_worktrees",
    "push",
    "read_blob",
    "read_blob_with_mode",
    "remote_refs",
    "remove_worktree",
    "resolve",
    "set_timeouts",
    "top_blobs",
    "signature",
    "sweep_partial_writes",
    "sweep_stale_locks",
    "worktree_head",
]
