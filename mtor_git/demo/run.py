"""`mtor-git demo`: the whole loop in a sandbox, with no account, key or network. A bare
repository plays the remote, a clone plays the user, a worker runs the shipped demo agent."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mtor_git import git
from mtor_git.client import hooks
from mtor_git.config.load import load_config
from mtor_git.config.model import Config
from mtor_git.git import refs
from mtor_git.worker.cycle import Worker

SPECS: dict[str, str] = {
    "add-greeting": "---\ntitle: Add a greeting to DEMO.md\nagent: demo\ntimeout: 1m\n---\n"
                    "- Add a short greeting to DEMO.md.\n- Keep it friendly.\n",
    "misconfigured-flag": "---\ntitle: A profile with a flag the CLI does not know\n"
                          "agent: demo-misconfigured\n---\nThis never reaches a model: the "
                          "profile passes a flag the agent CLI rejects.\n",
    "rate-limited-once": "---\ntitle: Survive one rate limit\nagent: demo-flaky\n"
                         "max_attempts: 3\n---\nAppend a note to DEMO.md; the provider answers "
                         "429 once first.\n",
    "checked-greeting": "---\ntitle: A greeting that must pass its check\nagent: demo\n"
                        "verify: grep -q '^Checked:' DEMO.md\nfix_rounds: 1\n---\nAdd a "
                        "second greeting to DEMO.md. The check fails after the first round; "
                        "the demo agent fixes it in the fix round it is given.\n",
    "greeting-follow-up": "---\ntitle: Sign the greeting\nagent: demo\n"
                          "continues: add-greeting\n---\nSign the greeting in DEMO.md: a "
                          "follow-up on the same branch and pull request.\n",
}
FOLLOW_UPS = {"greeting-follow-up": "add-greeting"}  # runs on mtor/add-greeting

_CONFIG = """\
worker_id: demo-worker
workspace: {root}/worker/workspace
state_dir: {root}/worker/state
runtime_dir: {root}/worker/run
poll_interval: 1s
max_parallel: 2
claim_lease: 30s
repos:
  - url: {root}/remote.git
    branch: main
default_agent: demo
agents:
  demo:
    command: [{python}, -m, mtor_git.demo.agent, -p, --output-format, json]
    report: claude-json
    env: {{PYTHONPATH: {package_root}}}
    sandbox_paths: {python_paths}
  demo-misconfigured:
    command: [{python}, -m, mtor_git.demo.agent, -p, --output-format, json, --permision-mode]
    report: claude-json
    sandbox_paths: {python_paths}
  demo-flaky:
    command: [{python}, -m, mtor_git.demo.agent, -p, --output-format, json]
    report: claude-json
    env: {{DEMO_RATE_LIMIT_ONCE: "1", PYTHONPATH: {package_root}}}
    sandbox_paths: {python_paths}
retry: {{max_attempts: 3, initial_backoff: 0.5s, max_backoff: 2s, min_model_call: 0.1s,
         min_spacing: 0.2s}}
log: {{file: {root}/worker/mtor-git.log}}
"""


def python_paths() -> list[str]:
    """What the demo agent (this Python, running mtor_git.demo.agent) needs to see inside the
    attempt sandbox, which hides the users' homes: the interpreter's installation, the virtual
    environment and the package itself, wherever they live (often under a home)."""
    import mtor_git
    places = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent,
              Path(mtor_git.__file__).resolve().parent.parent]
    return list(dict.fromkeys(str(p.resolve()) for p in places))


def package_root() -> str:
    """The folder this mtor_git package is imported from: the demo agent runs the same code as
    the demo (a checkout run with PYTHONPATH, not only an installed copy)."""
    import mtor_git
    return str(Path(mtor_git.__file__).resolve().parent.parent)


@dataclass(frozen=True)
class Sandbox:
    root: Path
    remote: Path
    clone: Path
    config_path: Path


def build(root: Path) -> Sandbox:
    """Create the remote, the user's clone (hooks installed) and the worker's config."""
    root.mkdir(parents=True, exist_ok=True)
    remote, clone = root / "remote.git", root / "clone"
    bare = git.init_repository(remote, bare=True)
    user = git.init_repository(clone)
    user.config["user.name"] = "Demo User"
    user.config["user.email"] = "demo@example.invalid"
    user.remotes.create("origin", str(remote))
    hooks.install(user)
    (clone / "README.md").write_text("# demo project\n")
    (clone / "tasks").mkdir()
    _commit(user, ["README.md"], "initial commit")
    _push(user)
    del bare
    config_path = root / "worker" / "config.yaml"
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(_CONFIG.format(root=root, python=sys.executable,
                                          python_paths=json.dumps(python_paths()),
                                          package_root=json.dumps(package_root())))
    return Sandbox(root, remote, clone, config_path)


def dispatch_all(box: Sandbox) -> list[str]:
    """Commit and push the demo specs as the user would."""
    user = git.open_repository(box.clone)
    for task_id, text in SPECS.items():
        (box.clone / "tasks" / f"{task_id}.md").write_text(text)
    _commit(user, [f"tasks/{t}.md" for t in SPECS], "dispatch the demo tasks")
    _push(user)
    return list(SPECS)


def run_worker(box: Sandbox, *, deadline: float = 60.0) -> Config:
    """Run worker cycles until every demo task has a result on the remote."""
    environ = dict(os.environ)
    config = load_config(box.config_path, environ=environ)
    worker = Worker(config, environ)
    stop_at = time.monotonic() + deadline
    try:
        while time.monotonic() < stop_at:
            worker.run_once()
            if _all_done(box):
                break
            time.sleep(0.2)
    finally:
        worker.stop(5.0)
    return config


def _all_done(box: Sandbox) -> bool:
    remote = git.open_repository(box.remote)
    own = all(refs.branch_ref(t) in remote.references for t in SPECS if t not in FOLLOW_UPS)
    return own and all(_has_result(remote, refs.branch_ref(target), task)
                       for task, target in FOLLOW_UPS.items())


def _has_result(repo: git.Repository, ref: str, task_id: str) -> bool:
    """Whether `ref` exists and holds `task_id`'s result (a follow-up's is on its target's)."""
    tip = git.resolve(repo, ref)
    return tip is not None and git.read_blob(repo, tip, refs.result_json(task_id)) is not None


def _commit(repo: git.Repository, paths: list[str], message: str) -> None:
    index = repo.index
    for path in paths:
        index.add(path)
    index.write()
    tree = index.write_tree()
    sig = repo.default_signature
    parents = [] if repo.head_is_unborn else [repo.head.target]
    repo.create_commit("HEAD", sig, sig, message, tree, parents)


def _push(repo: git.Repository) -> None:
    repo.remotes["origin"].push(["refs/heads/main:refs/heads/main"])
