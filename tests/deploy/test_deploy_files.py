"""The deployment the package carries: `mtor-git deploy systemd|config|env` and `mtor-git hooks
install-server`. The package data is the source of truth; the copies at the top of the source
tree (deploy/, daemon/, hooks/) are generated from it, and the example config names every key
the loader accepts (read from the loader's own code, so a new key without an example fails)."""

from __future__ import annotations

import ast
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from gitfixtures import GIT_ENV, git, make_bare_remote, user_clone, write_commit

from mtor_git.config.load import load_config
from mtor_git.deploy import files
from mtor_git.worker.poke import socket_path

ROOT = Path(__file__).resolve().parents[2]
LOADER = ROOT / "mtor_git" / "config"  # the loader package: every module of it is read
ENV = {"HOME": "/home/w", "GLM_TOKEN": "g", "ANTHROPIC_API_KEY": "k", "PATH": "/usr/bin"}


def mtor(*args: str, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mtor_git", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=60)


# -- the example config names every accepted key -------------------------------------------------
def accepted_keys() -> dict[str, set[str]]:
    """Every key the loader accepts, by where it is declared: the `*_KEYS` tuples and the key
    tuples passed inline to `_Reader.mapping(...)` (e.g. author's name and email)."""
    found: dict[str, set[str]] = {}

    def strings(node: ast.AST) -> set[str] | None:
        if isinstance(node, ast.Tuple) and node.elts and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
            return {e.value for e in node.elts
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        return None

    nodes = [n for module in sorted(LOADER.glob("*.py")) for n in ast.walk(ast.parse(
        module.read_text()))]
    for node in nodes:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            keys = strings(node.value)
            if isinstance(target, ast.Name) and target.id.endswith("_KEYS") and keys:
                found[target.id] = keys
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "mapping" and len(node.args) == 3):
            keys = strings(node.args[2])
            if keys:
                found[f"mapping at line {node.lineno}"] = keys
    return found


def test_the_key_reader_finds_the_loader_declarations() -> None:
    keys = accepted_keys()
    assert {"TOP_KEYS", "REPO_KEYS", "AGENT_KEYS", "RETRY_KEYS", "LOG_KEYS"} <= set(keys)
    assert any({"name", "email"} <= v for k, v in keys.items() if k.startswith("mapping"))
    assert "token_env" in keys["REPO_KEYS"] and "max_spec_bytes" in keys["TOP_KEYS"]


def test_example_config_names_every_accepted_key() -> None:
    text = files.data("config.example.yaml")
    # Top-level keys at column 0, live or (when a live value would need a file or variable
    # the example cannot promise, like env_file) commented out.
    live_top = set(re.findall(r"^(?:# )?([a-z_]+):", text, re.M))
    mentioned = set(re.findall(r"^[ \t]*(?:#[ \t]*)?(?:-[ \t]+)?([a-z_]+):", text, re.M))
    mentioned |= set(re.findall(r"[{,][ \t]*([a-z_]+):", text))  # flow maps in comments
    keys = accepted_keys()
    assert keys["TOP_KEYS"] - live_top == set(), "top-level keys missing from the example"
    missing = {where: sorted(k - mentioned) for where, k in keys.items() if k - mentioned}
    assert missing == {}, f"keys the loader accepts but the example never shows: {missing}"


def test_example_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(files.data("config.example.yaml"))
    config = load_config(path, environ=ENV)
    assert config.agents["glm"].env["ANTHROPIC_AUTH_TOKEN"] == "g"
    assert config.retry.breaker_threshold == 5 and config.log.level == "INFO"


# -- the top-level copies are generated from the package data ------------------------------------
@pytest.mark.parametrize(("copy", "argv"), [
    ("daemon/config.example.yaml", ["deploy", "config"]),
    ("deploy/systemd/mtor-git.env.example", ["deploy", "env"]),
    ("deploy/systemd/mtor-git.service", ["deploy", "systemd", "--exec", "/usr/local/bin/mtor-git"]),
    ("deploy/systemd/user/mtor-git.service",
     ["deploy", "systemd", "--user", "--exec", "%h/.local/bin/mtor-git"]),
])
def test_top_level_copy_is_generated_from_the_package(copy: str, argv: list[str]) -> None:
    done = mtor(*argv)
    assert done.returncode == 0, done.stderr
    assert (ROOT / copy).read_text() == done.stdout, (
        f"{copy} differs from the package data; regenerate: mtor-git {' '.join(argv)} > {copy}")


def test_top_level_post_receive_points_at_install_server() -> None:
    assert "mtor-git hooks install-server" in (ROOT / "hooks" / "post-receive").read_text()


# -- deploy systemd ------------------------------------------------------------------------------
def test_unit_runs_this_installation(tmp_path: Path) -> None:
    done = mtor("deploy", "systemd", "--write", str(tmp_path))
    assert done.returncode == 0, done.stderr
    unit = (tmp_path / "mtor-git.service").read_text()
    exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M)
    assert exec_start is not None
    assert exec_start.group(1).split()[0] == files.program()[0]
    assert os.path.isabs(files.program()[0])
    assert "@MTOR_GIT@" not in unit and "@CONFIG@" not in unit
    again = mtor("deploy", "systemd", "--write", str(tmp_path))
    assert again.returncode == 2 and "--force" in again.stderr  # never overwritten silently


def test_relative_exec_is_refused() -> None:
    done = mtor("deploy", "systemd", "--exec", "mtor-git")
    assert done.returncode == 2 and "absolute" in done.stderr


def test_env_file_is_written_private(tmp_path: Path) -> None:
    target = tmp_path / "etc" / "mtor-git.env"
    assert mtor("deploy", "env", "--write", str(target)).returncode == 0
    assert target.stat().st_mode & 0o777 == 0o600
    assert target.read_text() == files.data("mtor-git.env.example")


# -- hooks install-server ------------------------------------------------------------------------
def _listen(runtime: Path) -> socket.socket:
    runtime.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(socket_path(runtime)))
    sock.settimeout(20)
    return sock


def test_server_hook_pokes_with_absolute_paths_and_no_path(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    config = tmp_path / "config.yaml"
    config.write_text(f"runtime_dir: {runtime}\nrepos: [{{url: {tmp_path / 'srv.git'}}}]\n"
                      "agents: {claude: {}}\n")
    bare = make_bare_remote(tmp_path / "srv.git")
    legacy = bare / "hooks" / "post-receive"
    legacy.write_text(f"#!/bin/sh\ncat > {tmp_path / 'legacy-saw'}\n")
    legacy.chmod(0o755)
    done = mtor("hooks", "install-server", str(bare), "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "chained" in done.stdout
    hook = (bare / "hooks" / "post-receive").read_text()
    assert files.program()[0] in hook and str(config) in hook
    clone = user_clone(bare, tmp_path / "user")
    with _listen(runtime) as sock:
        # The git server's environment: no mtor-git on PATH, no MTOR_GIT* variables.
        env = {**GIT_ENV, "PATH": "/usr/bin:/bin"}
        env = {k: v for k, v in env.items() if not k.startswith("MTOR_GIT")}
        write_commit(clone, {"tasks/a.md": b"x\n"}, push=False)
        subprocess.run(["git", "push", "--quiet", "origin", "HEAD:main"], cwd=clone, env=env,
                       check=True, timeout=60, capture_output=True)
        assert sock.recv(64) == b"poke"
    assert "refs/heads/main" in (tmp_path / "legacy-saw").read_text()  # the user's hook ran too
    assert git("rev-parse", "main", cwd=bare) == git("rev-parse", "HEAD", cwd=clone)


def test_server_hook_never_fails_a_push_without_a_daemon(tmp_path: Path) -> None:
    bare = make_bare_remote(tmp_path / "srv.git")
    assert mtor("hooks", "install-server", str(bare)).returncode == 0
    clone = user_clone(bare, tmp_path / "user")
    write_commit(clone, {"a.txt": b"a\n"})  # raises when the push fails
    again = mtor("hooks", "install-server", str(bare))
    assert again.returncode == 0 and "updated" in again.stdout


def test_install_server_refuses_a_clone(tmp_path: Path) -> None:
    clone = user_clone(make_bare_remote(tmp_path / "srv.git"), tmp_path / "user")
    done = mtor("hooks", "install-server", str(clone))
    assert done.returncode == 2 and "bare" in done.stderr


# -- the README's deploy and hooks commands (verbs with actions) exist with their flags ----------
def test_readme_deploy_and_hooks_commands_take_their_flags() -> None:
    readme = (ROOT / "README.md").read_text() + (ROOT / "deploy/systemd/INSTALL.md").read_text()
    shown = re.findall(r"mtor-git (deploy|hooks) ([a-z-]+)([^`\n]*)", readme)
    assert {(verb, action) for verb, action, _ in shown} >= {
        ("deploy", "systemd"), ("deploy", "config"), ("deploy", "env"),
        ("hooks", "install-server")}
    for verb, action, rest in shown:
        done = mtor(verb, action, "--help")
        assert done.returncode == 0, f"mtor-git {verb} {action}: {done.stderr}"
        for flag in re.findall(r"(?<![\w-])--[a-z-]+", rest):
            assert flag in done.stdout, f"`mtor-git {verb} {action}` has no {flag}"
