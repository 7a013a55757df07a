"""Open a pull request for a published result with the GitHub CLI, when the worker is configured
to (`pull_request: gh`). Never fatal: what happened becomes a note in the result."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

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
        proc = subprocess.run(argv, input=body.encode(), capture_output=True, timeout=timeout,
                              env=dict(environ), check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return PullRequest(False, f"pull request not opened: gh failed to run: {exc}")
    out = proc.stdout.decode(errors="replace").strip()
    if proc.returncode != 0:
        err = (proc.stderr.decode(errors="replace").strip() or out)[-300:]
        return PullRequest(False, f"pull request not opened: gh exited {proc.returncode}: {err}")
    return PullRequest(True, f"pull request opened: {out.splitlines()[-1] if out else 'ok'}")
