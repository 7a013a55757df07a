"""The git identity the worker gives every agent, through the environment only: author and
committer variables for `git commit`, and the same as `user.name`/`user.email` configuration
(GIT_CONFIG_COUNT/KEY/VALUE) for tools that ask `git config` first (aider writes a placeholder
identity into the repository's config when that question has no answer)."""

from __future__ import annotations

# What build_env copies from the environment the worker hands to an attempt.
IDENTITY_ENV: tuple[str, ...] = (
    "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
    "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0", "GIT_CONFIG_KEY_1",
    "GIT_CONFIG_VALUE_1",
)


def identity_env(name: str, email: str) -> dict[str, str]:
    """The variables that make `name <email>` the agent's identity for every git command it
    runs, without touching any config file."""
    return {
        "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email,
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": "user.name", "GIT_CONFIG_VALUE_0": name,
        "GIT_CONFIG_KEY_1": "user.email", "GIT_CONFIG_VALUE_1": email,
    }
