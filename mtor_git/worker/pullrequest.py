"""Open a pull request for a published result with the GitHub CLI, when the worker is configured
to (`pull_request: gh`). Never fatal: what happened becomes a note in the result."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass

from loguru import logger

from mtor_git import git, proc
from mtor_git.errors import CommandError, GitOpError
from mtor_git.git import refs
from mtor_git.queue.state import OutboxEntry
from mtor_git.task.result import Result, pr_body

_GITHUB = re.compile(r"github\.com[:/](?P<slug>[^/\s]+/[^/\s]+?)(?:\.git)?/?$")


@dataclass(frozen=True)
class PullRequest:
    opened: bool
    note: str


def repo_slug(url: str) -> str | None:
    """`owner/name` of a GitHub remote URL (https, ssh or scp-like), else None."""
    match = _GITHUB.search(url)
    return match.group("slug") if match else None


def open_with_gh(url: str, *, head: str, base: str, title: str, body: str,
                 environ: Mapping[str, str], timeout: float = 60.0) -> PullRequest:
    gh = shutil.which("gh", path=environ.get("PATH", os.defpath))
    if gh is None:
        return PullRequest(False, "pull request not opened: `gh` is not on PATH")
    slug = repo_slug(url)
    argv = [gh, "pr", "create", "--head", head, "--base", base, "--title", title,
            "--body-file", "-"]
    if slug:
        argv[3:3] = ["--repo", slug]
    try:
        done = proc.run(argv, input=body, env=environ, timeout=timeout, check=False)
    except CommandError as exc:
        return PullRequest(False, f"pull request not opened: gh failed to run: {exc}")
    out = done.stdout.strip()
    if done.returncode != 0:
        err = (done.stderr.strip() or out)[-300:]
        return PullRequest(False, f"pull request not opened: gh exited {done.returncode}: {err}")
    return PullRequest(True, f"pull request opened: {out.splitlines()[-1] if out else 'ok'}")


def published_result(repo: git.Repository, entry: OutboxEntry) -> Result | None:
    """The Result committed for an outbox entry (None when it cannot be read back)."""
    raw = git.read_blob(repo, entry.commit, refs.result_json(entry.task_id))
    try:
        return Result.from_json(json.loads(raw or b"null"))
    except (KeyError, TypeError, ValueError):
        return None


def add_note(repo: git.Repository, result: Result, note: str, *,
             author: tuple[str, str]) -> bool:
    """Record `note` in a published result with a follow-up commit on its branch (a fast-forward
    push); False when it could not be pushed (the note is then only in the log)."""
    updated = dataclasses.replace(result, notes=(*result.notes, note))
    ref = refs.branch_ref(result.task.id, result.run)
    try:
        parent = git.resolve(repo, ref)
        git.commit_files(
            repo, ref=ref, parent=parent,
            files={refs.result_json(result.task.id): updated.dumps().encode(),
                   refs.result_md(result.task.id): pr_body(updated).encode()},
            message=f"mtor: {result.task.id} note\n\n{note}\n", author_name=author[0],
            author_email=author[1])
        git.push(repo, [f"{ref}:{ref}"])
    except GitOpError as exc:
        logger.warning("could not record a note on {}: {} ({})", result.task.id, note, exc)
        return False
    return True
