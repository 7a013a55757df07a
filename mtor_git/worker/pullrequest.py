"""Propose a published result as a (draft) pull request on the forge, with its CLI: `gh`
(GitHub), `glab` (GitLab), `tea` (Gitea), or the configured argv templates. A later run of the
same task (a retry) updates the pull request an earlier run opened, with a comment, instead of
opening another. Never fatal: what happened becomes a note in the result."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from mtor_git import git, proc
from mtor_git.config.model import PullRequestConfig
from mtor_git.errors import CommandError, GitOpError
from mtor_git.git import refs
from mtor_git.queue.state import OutboxEntry
from mtor_git.task.result import Result, pr_body, pr_title

_GITHUB = re.compile(r"github\.com[:/](?P<slug>[^/\s]+/[^/\s]+?)(?:\.git)?/?$")
_FORGE_PATH = re.compile(r"^(?:[a-z+]+://(?:[^@/]+@)?(?P<host>[^/:]+)(?::\d+)?/|[^@/]+@"
                         r"(?P<scp>[^:/]+):)(?P<path>.+?)(?:\.git)?/?$")
BINARIES = {"github": "gh", "gitlab": "glab", "gitea": "tea"}
OPENED, UPDATED = "pull request opened: ", "pull request updated: "
_BODY_ARG_MAX = 60_000  # glab and tea take the body as an argument, not a file


@dataclass(frozen=True)
class PullRequest:
    opened: bool
    note: str


def repo_slug(url: str) -> str | None:
    """`owner/name` of a GitHub remote URL (https, ssh or scp-like), else None."""
    match = _GITHUB.search(url)
    return match.group("slug") if match else None


def forge_repo(pr: PullRequestConfig, url: str) -> str | None:
    """The repository as the forge's CLI names it: `repo:` when configured, else `owner/name`
    from the remote URL (github.com), or the URL's path (`group/sub/name`) for another host."""
    if pr.repo:
        return pr.repo
    if pr.forge == "github" and repo_slug(url):
        return repo_slug(url)
    match = _FORGE_PATH.match(url)
    return match.group("path").lstrip("/") if match else None


def open_argv(pr: PullRequestConfig, binary: str, *, repo: str | None, head: str, base: str,
              title: str, body: str, body_file: Path) -> list[str]:
    """The argv that opens the pull request."""
    if pr.forge == "github":
        argv = [binary, "pr", "create", "--head", head, "--base", base, "--title", title,
                "--body-file", "-", *(["--draft"] if pr.draft else []),
                *_each("--reviewer", pr.reviewers), *_each("--label", pr.labels)]
        return argv[:3] + (["--repo", repo] if repo else []) + argv[3:]
    if pr.forge == "gitlab":
        return [binary, "mr", "create", *(["--repo", repo] if repo else []), "--source-branch",
                head, "--target-branch", base, "--title", title, "--description",
                body[:_BODY_ARG_MAX], *(["--draft"] if pr.draft else []),
                *_each("--reviewer", pr.reviewers), *_each("--label", pr.labels), "--yes"]
    if pr.forge == "gitea":  # Gitea marks a draft by its title; tea has no reviewer flag
        return [binary, "pr", "create", *(["--repo", repo] if repo else []), "--head", head,
                "--base", base, "--title", f"WIP: {title}" if pr.draft else title,
                "--description", body[:_BODY_ARG_MAX],
                *(["--labels", ",".join(pr.labels)] if pr.labels else [])]
    return _template(pr.command, head=head, base=base, title=title, body_file=str(body_file),
                     repo=repo or "", draft="true" if pr.draft else "false", pr="")


def update_argv(pr: PullRequestConfig, binary: str, *, ref: str, repo: str | None, body: str,
                body_file: Path) -> list[str] | None:
    """The argv that adds a later run's summary to the pull request `ref` (None: cannot)."""
    if pr.forge == "github":  # by number and --repo: gh drops a port from a pull request's URL
        number = re.search(r"/pull/(\d+)", ref)
        return [binary, "pr", "comment", number.group(1) if number else ref,
                *(["--repo", repo] if repo and number else []), "--body-file", "-"]
    if pr.forge == "gitlab":
        return [binary, "mr", "note", ref, "--message", body[:_BODY_ARG_MAX]]
    if pr.forge == "gitea":
        return [binary, "comment", ref, body[:_BODY_ARG_MAX]]
    if not pr.comment_command:
        return None
    return _template(pr.comment_command, pr=ref, body_file=str(body_file), head="", base="",
                     title="", repo="", draft="")


def _each(flag: str, values: tuple[str, ...]) -> list[str]:
    return [word for value in values for word in (flag, value)]


def _template(argv: tuple[str, ...], **values: str) -> list[str]:
    out = []
    for word in argv:
        for key, value in values.items():
            word = word.replace("{" + key + "}", value)
        out.append(word)
    return out


def propose(pr: PullRequestConfig, repo: git.Repository, url: str, base: str, result: Result,
            environ: Mapping[str, str], *, timeout: float = 60.0) -> PullRequest:
    """Open the pull request for `result`, or update the one an earlier run opened."""
    binary = pr.command[0] if pr.forge == "command" else BINARIES[pr.forge]
    found = shutil.which(binary, path=environ.get("PATH", os.defpath))
    if found is None:
        return PullRequest(False, f"pull request not opened: `{binary}` is not on PATH")
    earlier = (continued_pull_request(repo, result) if result.task.continues
               else earlier_pull_request(repo, result.task.id, result.run))
    body = pr_body(result)
    with tempfile.TemporaryDirectory(prefix="mtor-pr-") as tmp:
        body_file = Path(tmp) / "body.md"
        body_file.write_text(body, encoding="utf-8")
        if earlier is not None:
            argv = update_argv(pr, found, ref=earlier, repo=forge_repo(pr, url), body=body,
                               body_file=body_file)
            if argv is not None:
                return _run(argv, body, environ, timeout, UPDATED, earlier,
                            "pull request not updated")
        argv = open_argv(pr, found, repo=forge_repo(pr, url), head=result.branch, base=base,
                         title=pr_title(result), body=body, body_file=body_file)
        return _run(argv, body, environ, timeout, OPENED, None, "pull request not opened")


def _run(argv: list[str], body: str, environ: Mapping[str, str], timeout: float, done: str,
         ref: str | None, failed: str) -> PullRequest:
    """Run one forge CLI call; the body also on stdin (`gh ... --body-file -`)."""
    name = Path(argv[0]).name
    try:
        ran = proc.run(argv, input=body, env=environ, timeout=timeout, check=False)
    except CommandError as exc:
        return PullRequest(False, f"{failed}: {name} failed to run: {exc}")
    out = ran.stdout.strip()
    if ran.returncode != 0:
        err = " ".join((ran.stderr.strip() or out).split())[-300:]
        return PullRequest(False, f"{failed}: {name} exited {ran.returncode}: {err}")
    printed = _reference(out)
    return PullRequest(True, done + (ref or printed or "ok"))


def _reference(out: str) -> str | None:
    """What identifies the pull request in a CLI's output: its URL, else the last line."""
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    urls = [word for line in lines for word in line.split() if word.startswith("http")]
    return urls[-1] if urls else (lines[-1] if lines else None)


def earlier_pull_request(repo: git.Repository, task_id: str, run: int) -> str | None:
    """The pull request an earlier run of this task opened (from its result's notes)."""
    for earlier in range(run - 1, 0, -1):
        ref = git.TRACKING_PREFIX + refs.branch(task_id, earlier)
        try:  # a worker keeps no tracking ref of a result branch (git.fetch_moved): fetch it
            git.fetch(repo, refspecs=[f"+{refs.branch_ref(task_id, earlier)}:{ref}"])
        except GitOpError as exc:
            logger.warning("could not fetch {}: {}", refs.branch(task_id, earlier), exc)
        head = git.resolve(repo, ref)
        raw = git.read_blob(repo, head, refs.result_json(task_id)) if head else None
        try:
            notes = json.loads(raw or b"{}").get("notes") or []
        except (ValueError, AttributeError):
            continue
        for note in reversed(notes):
            for prefix in (OPENED, UPDATED):
                if isinstance(note, str) and note.startswith(prefix):
                    return note[len(prefix):].strip() or None
    return None


def continued_pull_request(repo: git.Repository, result: Result) -> str | None:
    """The pull request of the branch a follow-up continued: the one its root task's run
    opened (from that result's notes on the branch), updated with a comment."""
    task_id, number = refs.task_of_branch(result.branch) or (result.branch, 1)
    return earlier_pull_request(repo, task_id, number + 1)


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
    ref = refs.HEADS + result.branch  # a follow-up's: the branch it continued
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


def open_and_note(config: PullRequestConfig, repo: git.Repository, url: str, branch: str,
                  result: Result, environ: Mapping[str, str], *,
                  author: tuple[str, str]) -> None:
    """Open (or, for a later run, update) the pull request on the forge; its outcome, good or
    bad, becomes a note on the result."""
    pr = propose(config, repo, url, branch, result, environ)
    logger.info("{}: {}", result.task.id, pr.note)
    add_note(repo, result, pr.note, author=author)
