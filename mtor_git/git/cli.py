"""The `git` CLI, where a user would use it: the user's own clone (dispatch commits and pushes with
their identity, credentials and hooks). Every call goes through `proc.run`; failures are
`GitOpError`, refusals `PushRejected`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from mtor_git import proc
from mtor_git.errors import CommandError, GitOpError, PushRejected

GIT_TIMEOUT = 300.0


def run_git(root: Path, *args: str, timeout: float = GIT_TIMEOUT,
            env: Mapping[str, str] | None = None) -> proc.Output:
    """Run `git args...` in `root` with the user's environment (or `env`); GitOpError on a
    non-zero exit."""
    try:
        return proc.run(["git", *args], cwd=root, env=os.environ if env is None else env,
                        timeout=timeout)
    except CommandError as exc:
        raise GitOpError(str(exc)) from exc


def push_cli(root: Path, remote: str, specs: list[str], *, atomic: bool = False) -> None:
    """`git push --porcelain` of `specs`; PushRejected names every ref the remote refused."""
    argv = ["git", "push", "--porcelain", *(["--atomic"] if atomic else []), remote, *specs]
    try:
        out = proc.run(argv, cwd=root, env=os.environ, timeout=GIT_TIMEOUT, check=False)
    except CommandError as exc:
        raise GitOpError(str(exc)) from exc
    refused = porcelain_refusals(out.stdout)
    if refused:
        raise PushRejected(refused)
    if out.returncode != 0:
        raise GitOpError(f"git push to {remote} failed ({out.returncode}): "
                         f"{out.stderr.strip() or out.stdout.strip()}")


def porcelain_refusals(porcelain: str) -> dict[str, str]:
    """`!<TAB>src:dst<TAB>reason` lines of `git push --porcelain` -> {dst: reason}."""
    refused: dict[str, str] = {}
    for line in porcelain.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[0] == "!":
            refused[parts[1].rsplit(":", 1)[-1]] = parts[2]
    return refused
