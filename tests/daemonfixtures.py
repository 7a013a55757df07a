"""A site for worker-daemon tests: a bare remote served by `git daemon` (restartable on the same
port, so a test can take the remote away and bring it back), the user's clone driven by the git
CLI, worker configurations, and `mtor-git daemon` run as a real subprocess.

Plain helpers, usable from bench scripts too (bench/daemon_bench.py imports this module).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitfixtures import GIT_ENV, free_port, git, make_bare_remote, user_clone, write_commit
from sandboxfixtures import with_toolchain

TESTS = Path(__file__).resolve().parent
REPO_ROOT = TESTS.parent
FAKE_AGENT = TESTS / "fake_agents" / "fake_agent.py"
COUNTING_AGENT = TESTS / "fake_agents" / "counting_agent.py"
SCHEMA = REPO_ROOT / "mtor_git" / "schemas" / "result.schema.json"

# The environment of every daemon we start: the test runner's, minus git's variables, plus the
# repository on PYTHONPATH so `python -m mtor_git` works from any cwd.
DAEMON_ENV = {**GIT_ENV, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}


# -- the remote ----------------------------------------------------------------------------------
class GitServer:
    """`git daemon --enable=receive-pack` on a fixed loopback port; stop() and start() again on
    the same port (the URL workers know stays valid)."""

    def __init__(self, base_path: Path, port: int | None = None) -> None:
        self.base_path = base_path
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, repo: Path) -> str:
        return f"git://127.0.0.1:{self.port}/{repo.relative_to(self.base_path)}"

    def start(self, timeout: float = 10) -> None:
        self.proc = subprocess.Popen(
            ["git", "daemon", "--enable=receive-pack", "--listen=127.0.0.1",
             f"--port={self.port}", "--export-all", f"--base-path={self.base_path}",
             "--reuseaddr", "--informative-errors", str(self.base_path)],
            env=GIT_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"git daemon on port {self.port} exited {self.proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.02)
        raise RuntimeError(f"git daemon on port {self.port} did not listen")

    def stop(self) -> None:
        if self.proc is None:
            return
        kill_group(self.proc, signal.SIGKILL)
        self.proc = None


def kill_group(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM,
               wait: float = 10) -> int | None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        return proc.wait(wait)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(wait)


# -- specs ---------------------------------------------------------------------------------------
def spec(body: str = "Edit AGENT_EDIT.md.\n", **frontmatter: Any) -> bytes:
    """A task spec: frontmatter (a title by default) and a Markdown body."""
    fm = {"title": "a task", **frontmatter}
    lines = [f"{k}: {json.dumps(v) if not isinstance(v, int) else v}" for k, v in fm.items()]
    return ("---\n" + "\n".join(lines) + "\n---\n" + body).encode()


# -- the site ------------------------------------------------------------------------------------
@dataclass
class Site:
    """One remote, its server, the user's clone and the file every counting agent appends to."""

    root: Path
    server: GitServer
    remote: Path
    user: Path
    count_file: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url(self.remote)

    # user's side (git CLI) ----------------------------------------------------------------------
    def push_specs(self, specs: Mapping[str, bytes | None], message: str = "tasks", *,
                   no_verify: bool = True) -> str:
        """Commit tasks/<id>.md for each id (None deletes it) and push to main; the commit."""
        files = {f"tasks/{tid}.md": data for tid, data in specs.items()}
        if not no_verify:
            return write_commit(self.user, files, message)
        for rel, data in files.items():
            target = self.user / rel
            if data is None:
                git("rm", "--quiet", rel, cwd=self.user)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            git("add", rel, cwd=self.user)
        git("commit", "--quiet", "--no-verify", "-m", message, cwd=self.user)
        git("push", "--quiet", "--no-verify", "origin", "HEAD:main", cwd=self.user)
        return git("rev-parse", "HEAD", cwd=self.user)

    # what the remote holds ----------------------------------------------------------------------
    def refs(self) -> dict[str, str]:
        out = git("for-each-ref", "--format=%(refname) %(objectname)", cwd=self.remote)
        return dict(line.split(" ", 1) for line in out.splitlines() if line)

    def result(self, task_id: str, branch: str | None = None) -> dict[str, Any]:
        ref = branch or f"mtor/{task_id}"
        data: dict[str, Any] = json.loads(git("show", f"{ref}:results/{task_id}.json",
                                              cwd=self.remote))
        return data

    def results(self) -> dict[str, str]:
        """task id -> status, for every mtor/<id> branch on the remote."""
        out: dict[str, str] = {}
        for ref in self.refs():
            if ref.startswith("refs/heads/mtor/"):
                tid = ref.removeprefix("refs/heads/mtor/")
                out[tid] = self.result(tid)["status"]
        return out

    def claims(self) -> list[str]:
        return [r.removeprefix("refs/mtor/claims/") for r in self.refs()
                if r.startswith("refs/mtor/claims/")]

    def claim_json(self, task_id: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(git("show", f"refs/mtor/claims/{task_id}:claim.json",
                                              cwd=self.remote))
        return data

    def agent_pids(self) -> list[int]:
        """This site's counting agents running now (host pids): see host_pids."""
        return self.host_pids()

    def host_pids(self, worktree: str | None = None) -> list[int]:
        """Host pids of this site's counting agents running now (in a sandbox an agent records the
        pid of its own PID namespace, meaningless here), optionally only those working in
        `worktree`. Only processes working under this site's root: other suites may run beside."""
        found: list[int] = []
        root = str(self.root.resolve())
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if "counting_agent" not in (entry / "cmdline").read_text(errors="replace"):
                    continue
                if "zombie" in (entry / "status").read_text().lower():
                    continue
                cwd = Path(os.readlink(entry / "cwd"))
                if not str(cwd).startswith(root + os.sep):
                    continue
                if worktree is None or cwd.name == worktree:
                    found.append(int(entry.name))
        return found

    def invocations(self) -> list[str]:
        """One worktree name per agent call, across every worker (see counting_agent.py)."""
        if not self.count_file.exists():
            return []
        return [line.split()[2] for line in self.count_file.read_text().splitlines() if line]

    # workers ------------------------------------------------------------------------------------
    def config(self, name: str, *, default_agent: str = "instant", max_parallel: int = 2,
               claim_lease: str = "6s", poll_interval: str = "15s",
               shutdown_grace: str = "10s", url: str | None = None,
               extra: Mapping[str, Any] | None = None) -> Path:
        """Write worker `name`'s configuration (its own workspace, state and runtime dirs)."""
        base = self.root / "workers" / name
        agents = {
            "instant": self._agent(),
            "slow": self._agent("--sleep", "1.5"),
            "hang": self._agent("--hang"),
            "hang-first": self._agent("--hang-first"),
            "committer": self._agent("--commit"),
            "committer-clean": self._agent("--commit", "--clean"),
            "fake": {"command": [str(FAKE_AGENT), "success"], "report": "claude-json"},
        }
        data: dict[str, Any] = {
            "worker_id": name, "workspace": str(base / "ws"), "state_dir": str(base / "state"),
            "runtime_dir": str(base / "run"), "repos": [{"url": url or self.url}],
            "default_agent": default_agent, "max_parallel": max_parallel,
            "claim_lease": claim_lease, "poll_interval": poll_interval,
            "shutdown_grace": shutdown_grace, "agents": agents,
            "retry": {"min_model_call": "0s", "initial_backoff": "0.1s"},
            "log": {"file": str(base / "daemon.log"), "level": "DEBUG"},
            **(extra or {}),
        }
        data["agents"] = {n: with_toolchain(a, rw=(self.count_file.parent,))
                          for n, a in data["agents"].items()}
        base.mkdir(parents=True, exist_ok=True)
        path = base / "config.yaml"
        path.write_text(json.dumps(data, indent=1))  # JSON is YAML
        return path

    def _agent(self, *args: str) -> dict[str, Any]:
        return {"command": [str(COUNTING_AGENT), *args], "report": "claude-json",
                "env": {"COUNT_FILE": str(self.count_file)}}

    def state_dir(self, name: str) -> Path:
        return self.root / "workers" / name / "state"

    def outbox(self, name: str) -> list[Path]:
        return sorted((self.state_dir(name) / "remote").glob("outbox/*.json"))

    def run_once(self, config: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`mtor-git daemon --once` as a subprocess; raises when it does not exit 0."""
        proc = subprocess.run(mtor("daemon", "--once", "--config", str(config)),
                              capture_output=True, text=True, env=DAEMON_ENV, timeout=timeout,
                              cwd=self.root)
        if proc.returncode != 0:
            raise AssertionError(f"daemon --once exited {proc.returncode}:\n{proc.stderr[-4000:]}")
        return proc

    def start(self, config: Path, *, once: bool = False) -> subprocess.Popen[bytes]:
        """A daemon in the background (its own process group); stopped at teardown."""
        log = (config.parent / "stderr.log").open("ab")
        argv = mtor("daemon", *(["--once"] if once else []), "--config", str(config))
        proc = subprocess.Popen(argv, env=DAEMON_ENV, stdout=log, stderr=log, cwd=self.root,
                                start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                kill_group(proc, signal.SIGKILL)
        for pid in self.host_pids():  # a hanging agent a killed daemon left behind
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        self.server.stop()


def mtor(*args: str) -> list[str]:
    return [sys.executable, "-m", "mtor_git", *args]


@contextlib.contextmanager
def site(root: Path) -> Iterator[Site]:
    """A fresh site under `root`: served bare remote with a README on main, the user's clone."""
    srv = root / "srv"
    remote = make_bare_remote(srv / "remote.git")
    server = GitServer(srv)
    server.start()
    # The agents' call log sits in a folder of its own, which their profiles show writable.
    (root / "calls").mkdir(exist_ok=True)
    s = Site(root, server, remote, user_clone(remote, root / "user"), root / "calls" / "count.log")
    try:
        yield s
    finally:
        s.close()


# -- waiting -------------------------------------------------------------------------------------
def wait_for(predicate: Callable[[], Any], timeout: float, what: str,
             interval: float = 0.05) -> Any:
    """Poll `predicate` until it returns something truthy; AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def load_schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA.read_text())
    return data
