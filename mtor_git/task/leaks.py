"""The last check before a result is pushed: the value of a secret the agent could see, anywhere
the push would carry it (a file it changed, a file name, one of its own commits), keeps the
agent's changes on the worker (docs/DESIGN.md §3, Secrets)."""

from __future__ import annotations

from collections.abc import Mapping

from mtor_git import git
from mtor_git.agent.evidence import Failure
from mtor_git.agent.redact import Redactor
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
    found: dict[str, set[str]] = {}
    for where_, data in places:
        for var, value in secrets.items():
            if value.encode() in data:
                found.setdefault(where_, set()).add(var)
    if not found:
        return None
    redact = Redactor(secrets)  # a file name may hold the secret itself
    where = "; ".join(f"{redact.text(path)} holds the value of {', '.join(sorted(v))}"
                      for path, v in sorted(found.items()))
    return Failure("secret_in_diff", f"the agent wrote a secret into the repository: "
                   f"{where}. Nothing of the agent's changes was pushed.",
                   rule="secret_value_in_changed_file")
