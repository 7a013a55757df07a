"""The last check before a result is pushed: the value of a secret the agent could see, anywhere
the push would carry it (a file it changed, a file name, one of its own commits), keeps the
agent's changes on the worker (docs/DESIGN.md §3, Secrets)."""

from __future__ import annotations

from collections.abc import Mapping

from mtor_git import git
from mtor_git.agent.evidence import Failure
from mtor_git.agent.secretscan import leak_failure
from mtor_git.git import Repository


def secret_leak(repo: Repository, base: str, head: str,
                secrets: Mapping[str, str]) -> Failure | None:
    """Why the agent's commits from `base` to `head` must not be pushed (variable name -> value
    in `secrets`), or None when no secret value is in them."""
    if head == base:
        return None
    places: list[tuple[str, bytes]] = []
    for change in git.diff_changes(repo, base, head).files:
        if change.status != "deleted":
            places.append((f"the file name {change.path}", change.path.encode()))
            places.append((change.path, git.read_blob(repo, head, change.path) or b""))
    places += [(f"the agent's commit {oid[:12]} (message or author)", raw)
               for oid, raw in git.commits_between(repo, base, head)]
    # Its commits are pushed as they are: what one of them carried and a later one removed, and
    # what a tree entry hides in its name or object id (a gitlink's id is the agent's choice).
    gitlinks: dict[str, list[str]] = {}  # commit -> its submodule entries' ids, in tree order
    for entry in git.introduced(repo, base, head):
        where = f"the agent's commit {entry.commit[:12]} ({entry.path})"
        places.append((where, entry.path.encode()))
        if entry.gitlink:
            gitlinks.setdefault(entry.commit, []).append(entry.oid)
        elif entry.data is not None:
            places.append((where, entry.data))
    for oid, ids in gitlinks.items():  # a value split over several entries' ids too
        where = f"the agent's commit {oid[:12]} (the object ids of its submodule entries)"
        places += [(where, "".join(ids).encode()), (where, bytes.fromhex("".join(ids)))]
    return leak_failure(places, secrets)  # plain, encoded, reversed or split over lines
