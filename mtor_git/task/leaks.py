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
    return leak_failure(places, secrets)  # plain, encoded, reversed or split over lines
