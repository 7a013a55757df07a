"""A user's clone mirroring a remote's mtor refs into a private namespace: one pruning fetch
through an anonymous remote (so the user's own remote-tracking refs never move), with the user's
ssh-agent keys offered a bounded number of times, and the mirrored refs read back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pygit2
from pygit2.enums import CredentialType, FetchPrune

from mtor_git.errors import GitOpError, UsageError


class _AgentCallbacks(pygit2.RemoteCallbacks):
    """The user's ssh-agent keys, offered a bounded number of times (libgit2 asks forever)."""

    def __init__(self) -> None:
        super().__init__()
        self.tries = 0

    def credentials(self, url: str, username_from_url: str | None,
                    allowed_types: CredentialType) -> Any:
        self.tries += 1
        if self.tries > 3:
            raise GitOpError(f"authentication to {url} failed (ssh-agent keys refused)")
        user = username_from_url or "git"
        if allowed_types & CredentialType.SSH_KEY:
            return pygit2.KeypairFromAgent(user)
        if allowed_types & CredentialType.USERNAME:
            return pygit2.Username(user)
        raise GitOpError(f"no usable credentials for {url} (only ssh-agent keys are offered)")


def remote_url(repo: pygit2.Repository, remote: str) -> str:
    """The URL of the user's remote `remote`; UsageError when there is no such remote."""
    try:
        return repo.remotes[remote].url or ""
    except (KeyError, ValueError):  # pygit2.InvalidSpecError (a ValueError): not a remote name
        raise UsageError(f"no remote named {remote!r} in {repo.path}") from None


def mirror_fetch(repo: pygit2.Repository, remote: str, refspecs: Sequence[str]) -> None:
    """Fetch `refspecs` (pruning) from the user's remote `remote` through an anonymous remote
    for its URL: libgit2 would otherwise also move the refs the configured refspecs match."""
    url = remote_url(repo, remote)
    try:
        anonymous = repo.remotes.create_anonymous(url)
        anonymous.fetch(list(refspecs), callbacks=_AgentCallbacks(), prune=FetchPrune.PRUNE)
    except pygit2.GitError as exc:
        raise GitOpError(f"cannot fetch from {remote} ({url}): {exc}") from exc


def refs_under(repo: pygit2.Repository, prefix: str) -> dict[str, str]:
    """Every ref whose name starts with `prefix`: the rest of its name -> target hex."""
    found: dict[str, str] = {}
    for ref in repo.references.iterator():
        if ref.name.startswith(prefix):
            found[ref.name[len(prefix):]] = str(ref.target)
    return found
