"""Doctor checks of the host and the remotes: agent binaries (on PATH, answering `--version`),
writable folders with free disk, each repository reachable and pushable, a sane clock."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from mtor_git import git, proc
from mtor_git.agent.preflight import build_env, find_binary
from mtor_git.agent.profiles import AgentProfile
from mtor_git.config.model import Config, RepoConfig
from mtor_git.doctor.clis import check_cli_settings, check_identity
from mtor_git.doctor.run import Check
from mtor_git.errors import CommandError, GitOpError, PushRejected
from mtor_git.git import refs
from mtor_git.git.transfer import (
    Credentials,
    bound_transfers,
    is_local,
    register_credentials,
    shown_url,
)

SCRATCH_PREFIX = refs.DOCTOR_PREFIX
_OUTPUT_MAX = 200
_FUTURE_SLACK = 300.0  # seconds a commit may be ahead of our clock before we call it a problem
_STEP_TOLERANCE = 1.0  # seconds wall and monotonic clocks may disagree over a short sleep


# -- agents ----------------------------------------------------------------------------------
def check_agents(config: Config, environ: Mapping[str, str], timeout: float) -> Iterator[Check]:
    for profile in config.agents.values():
        yield check_agent_binary(profile, environ, timeout)
        yield from check_cli_settings(profile, environ)
    yield check_identity(config.author_name, config.author_email, environ, timeout)


def check_agent_binary(profile: AgentProfile, environ: Mapping[str, str],
                       timeout: float) -> Check:
    """The binary the agent's own PATH resolves, asked for `--version` (bounded)."""
    name = f"agent {profile.name}"
    env = build_env(profile, environ)
    binary = profile.command[0]
    search = env.get("PATH", "")
    if os.sep in binary and not os.path.isabs(binary):
        return Check(name, "skip", f"{binary!r} is relative to each task's worktree; "
                     "not checked here", "write an absolute path to check it")
    found = find_binary(binary, env)
    if found is None:
        where = f"the agent's PATH ({search or 'PATH is not set'})" if os.sep not in binary \
            else "this host (not an executable file)"
        return Check(name, "fail", f"{binary!r} is not found on {where}",
                     "install it, or write its absolute path as the first word of the "
                     "profile's command (a service's PATH is short unless the env file sets it)")
    code, text = run_bounded([found, "--version"], env=env, timeout=timeout)
    first = _first_line(text)
    if code is None:
        return Check(name, "fail", f"{found} did not answer --version within {timeout:g} s",
                     f"run `{found} --version` by hand as the service user")
    if code != 0:
        return Check(name, "fail", f"`{found} --version` exited {code}: {first or 'no output'}",
                     f"run `{found} --version` by hand as the service user")
    return Check(name, "pass", f"{found}: {first or 'answered --version with no output'}")


def run_bounded(argv: list[str], *, env: Mapping[str, str], timeout: float,
                cwd: Path | None = None) -> tuple[int | None, str]:
    """Run `argv` with stdin closed in its own process group; (exit code, or None on the
    timeout; 126 when it cannot start, stdout+stderr)."""
    try:
        out = proc.run(argv, env=env, cwd=cwd, timeout=timeout, check=False, merge_stderr=True)
    except CommandError as exc:
        if exc.timed_out:
            return None, exc.stdout
        return 126, str(exc)
    return out.returncode, out.stdout


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:_OUTPUT_MAX]
    return ""


# -- folders ---------------------------------------------------------------------------------
def check_dirs(config: Config, warn_free: int, fail_free: int) -> Iterator[Check]:
    yield check_dir("workspace", config.workspace, warn_free, fail_free)
    yield check_dir("state dir", config.state_dir, 0, 0)
    if config.log.file is None:
        yield Check("log file", "skip", "the configuration writes no log file (stderr only)")
    else:
        yield check_dir("log file", config.log.file.parent, 0, 0)


def check_dir(name: str, path: Path, warn_free: int, fail_free: int) -> Check:
    """Writable (a real write when it exists; the parent's permission when it will be created,
    so that doctor run as root never leaves a root-owned folder behind) with free space."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing == path and not path.is_dir():
        return Check(name, "fail", f"{path} exists and is not a folder", "move it away")
    problem = _write_probe(path) if existing == path else _access_probe(existing)
    if problem is not None:
        return Check(name, "fail", f"{path}: {problem}",
                     "make it writable by the user the daemon runs as")
    where = f"{path}: writable" if existing == path else \
        f"{path}: does not exist yet; {existing} lets it be created"
    free = shutil.disk_usage(existing).free
    detail = f"{where}, {_size(free)} free"
    if fail_free and free < fail_free:
        return Check(name, "fail", detail, f"free disk space (below {_size(fail_free)}, "
                     "clones and worktrees will fail)")
    if warn_free and free < warn_free:
        return Check(name, "warn", detail, f"free disk space (below {_size(warn_free)})")
    return Check(name, "pass", detail)


def _write_probe(path: Path) -> str | None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=".mtor-doctor-", dir=path)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        return f"cannot write: {exc.strerror or exc}"
    return None


def _access_probe(parent: Path) -> str | None:
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be created: {parent} is not writable"
    return None


def _size(n: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} B"


# -- repositories ----------------------------------------------------------------------------
def check_repos(config: Config) -> Iterator[Check]:
    bound_transfers(config.transfer_timeout)  # a silent remote fails as it does for the daemon
    for repo in config.repos:
        yield check_repo(repo, config.worker_id)


def check_repo(repo: RepoConfig, worker_id: str) -> Check:
    """ls-remote, then push and delete a scratch ref under refs/mtor/doctor/, each ref's
    outcome checked (a refusal can come without an error, see FIELD-NOTES)."""
    name = f"repo {repo.name}"
    if repo.ssh_key or repo.username or repo.token:  # the credentials the daemon would use
        register_credentials(repo.url, Credentials(username=repo.username,
                                                   ssh_key=repo.ssh_key, password=repo.token))
    if is_local(repo.url) and not Path(git.normalize_url(repo.url)).exists():
        return Check(name, "fail", f"cannot reach {repo.url}: no such file or folder",
                     "fix the repository's url in the config, or clone the repository there")
    try:
        refs = git.remote_refs(repo.url)
    except GitOpError as exc:
        return Check(name, "fail", f"cannot reach {shown_url(repo.url)}: {exc}",
                     "check the URL, the network and the credentials of the user the daemon "
                     "runs as (ssh key or agent, https token)")
    head = refs.get(f"refs/heads/{repo.branch}")
    if head is None:
        return Check(name, "fail", f"{shown_url(repo.url)} is reachable but has no branch "
                     f"{repo.branch!r}",
                     "push that branch, or set `branch:` for this repository in the config")
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in worker_id)
    scratch = f"{SCRATCH_PREFIX}{safe}-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="mtor-doctor-") as tmp:
        problem = _push_scratch(name, repo.url, Path(tmp), scratch)
    if problem is not None:
        return problem
    return Check(name, "pass", f"{shown_url(repo.url)}: reachable, {repo.branch} at "
                 f"{head[:12]}; pushing "
                 f"and deleting {scratch} accepted (branch pushes are not tried: they could "
                 "start CI)")


def _push_scratch(name: str, url: str, tmp: Path, scratch: str) -> Check | None:
    local = git.init_repository(tmp / "scratch.git", bare=True)
    local.remotes.create(git.REMOTE, git.normalize_url(url))
    oid = git.commit_files(local, ref="refs/heads/doctor", parent=None,
                              files={"DOCTOR": b"mtor-git doctor scratch commit\n"},
                              message="mtor-git doctor: push check (deleted at once)")
    try:
        git.push(local, [f"refs/heads/doctor:{scratch}"])
    except PushRejected as exc:
        return Check(name, "fail", f"the remote refused {scratch}: "
                     + "; ".join(f"{r}: {m}" for r, m in exc.refused.items()),
                     "the worker must create refs under refs/mtor/ (claims): check the "
                     "server's permissions and hooks")
    except GitOpError as exc:
        return Check(name, "fail", f"reachable, but a push failed: {exc}",
                     "check write access for the daemon's user")
    if git.remote_refs(local).get(scratch) != oid:
        return Check(name, "fail", f"the push of {scratch} reported success but the remote does "
                     "not show it", "the server drops pushes silently; check its hooks")
    try:
        git.push(local, [f":{scratch}"])
    except GitOpError as exc:  # PushRejected included
        return Check(name, "warn", f"push accepted, but deleting {scratch} failed: {exc}",
                     f"delete it by hand: git push {url} :{scratch}")
    if scratch in git.remote_refs(local):
        return Check(name, "warn", f"push accepted, but {scratch} is still on the remote after "
                     "its deletion was accepted", f"delete it by hand: git push {url} :{scratch}")
    return None


# -- clock -----------------------------------------------------------------------------------
def check_clock(config: Config) -> Check:
    """What can be checked without a time server: a plausible year, a wall clock that moves with
    the monotonic one, and no commit of a watched branch dated in our future."""
    now = time.time()
    when = datetime.fromtimestamp(now, UTC)
    if not 2024 <= when.year < 2100:
        return Check("clock", "fail", f"the wall clock says {when:%Y-%m-%d %H:%M} UTC",
                     "set the clock (enable NTP: timedatectl set-ntp true)")
    wall0, mono0 = time.time(), time.monotonic()
    time.sleep(0.05)
    drift = (time.time() - wall0) - (time.monotonic() - mono0)
    if abs(drift) > _STEP_TOLERANCE:
        return Check("clock", "warn", f"the wall clock jumped {drift:+.1f} s in 50 ms",
                     "something is stepping the clock; claims and leases compare wall times")
    notes, ahead = _commit_times(config, now)
    detail = (f"{when:%Y-%m-%d %H:%M:%S} UTC; the wall clock moves with the monotonic clock; "
              "not compared with a time server (doctor works offline)")
    if notes:
        detail += "; " + "; ".join(notes)
    if ahead:
        return Check("clock", "warn", detail, "this host's clock is behind, or a committer's is "
                     "ahead; leases compare wall times across workers: enable NTP")
    return Check("clock", "pass", detail)


def _commit_times(config: Config, now: float) -> tuple[list[str], bool]:
    """For each repository whose branch tip can be read without network (the worker's clone,
    or a local remote), how old its newest commit is; True when one is from our future."""
    notes: list[str] = []
    ahead = False
    for repo in config.repos:
        when = _tip_time(config, repo)
        if when is None:
            continue
        age = now - when
        if age < -_FUTURE_SLACK:
            ahead = True
            notes.append(f"the tip of {repo.name}/{repo.branch} is dated {-age:.0f} s in the "
                         "future")
        else:
            notes.append(f"the tip of {repo.name}/{repo.branch} is {max(age, 0):.0f} s old")
    return notes, ahead


def _tip_time(config: Config, repo: RepoConfig) -> int | None:
    clone = config.workspace / repo.name / "repo.git"
    candidates = [(clone, f"{git.TRACKING_PREFIX}{repo.branch}")]
    if is_local(repo.url):
        candidates.append((Path(git.normalize_url(repo.url)), f"refs/heads/{repo.branch}"))
    for path, ref in candidates:
        try:
            when = git.commit_time(git.open_repository(path), ref)
        except GitOpError:
            continue
        if when is not None:
            return when
    return None
