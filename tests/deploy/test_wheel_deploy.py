"""A wheel installed into a fresh venv carries its whole deployment: with no source checkout in
sight, `mtor-git deploy systemd --write D` writes units that `systemd-analyze verify` accepts
without a single complaint, and `deploy config` / `hooks install-server` work."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _run(argv: list[str], cwd: Path, env: dict[str, str],
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh venv with only the built wheel of this source tree installed (--no-deps); its
    dependencies come from the test runner's site-packages through a .pth line, so no network
    is needed beyond what building the wheel needs."""
    base = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(base / "dist"),
          str(ROOT)], base, env)
    wheel = next((base / "dist").glob("mtor_git-*.whl"))
    _run([sys.executable, "-m", "venv", "--without-pip", str(base / "venv")], base, env)
    python = base / "venv" / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
          "--no-deps", "--no-index", str(wheel)], base, env)
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                   base, env).stdout.strip()
    # A plain path line: the runner's .pth files (its editable mtor_git) are NOT processed.
    Path(purelib, "runner-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    home = base / "nowhere"  # no checkout: cwd is an empty folder
    home.mkdir()
    yield base / "venv", env | {"HOME": str(home)}


def test_the_installed_package_is_the_wheel_not_a_checkout(
        venv: tuple[Path, dict[str, str]]) -> None:
    prefix, env = venv
    code = "import mtor_git; print(mtor_git.__file__)"
    where = _run([str(prefix / "bin" / "python"), "-c", code], Path(env["HOME"]),
                 env).stdout.strip()
    assert where.startswith(str(prefix)), where


@pytest.mark.parametrize("user", [False, True], ids=["system", "user"])
def test_deploy_systemd_from_the_wheel_verifies_clean(venv: tuple[Path, dict[str, str]],
                                                      user: bool) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is not installed (Debian package systemd); .ci/run "
                    "installs it", pytrace=False)
    prefix, env = venv
    cwd = Path(env["HOME"])
    out = cwd / ("user" if user else "system")
    _run([str(prefix / "bin" / "mtor-git"), "deploy", "systemd", *(["--user"] if user else []),
          "--write", str(out)], cwd, env)
    unit = out / "mtor-git.service"
    text = unit.read_text()
    assert f"ExecStart={prefix / 'bin' / 'mtor-git'} daemon --config " in text
    runtime = cwd / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    check_env = env | {"XDG_RUNTIME_DIR": str(runtime), "SYSTEMD_LOG_LEVEL": "info"}
    check_env.pop("SYSTEMD_UNIT_PATH", None)
    done = subprocess.run([analyze, *(["--user"] if user else []), "verify", str(unit)],
                          cwd=cwd, env=check_env, capture_output=True, text=True, timeout=60)
    # verify exits 0 on most problems: its stderr is the verdict.
    assert done.stderr.strip() == "", done.stderr
    assert done.returncode == 0, done.stdout


def test_deploy_config_and_server_hook_from_the_wheel(venv: tuple[Path, dict[str, str]]) -> None:
    prefix, env = venv
    cwd = Path(env["HOME"])
    program = str(prefix / "bin" / "mtor-git")
    config = cwd / "etc" / "config.yaml"
    _run([program, "deploy", "config", "--write", str(config)], cwd, env)
    assert "allowed_signers:" in config.read_text()
    bare = cwd / "srv.git"
    _run(["git", "init", "--quiet", "--bare", str(bare)], cwd, env)
    _run([program, "hooks", "install-server", str(bare), "--config", str(config)], cwd, env)
    hook = (bare / "hooks" / "post-receive").read_text()
    assert f"{program} poke --quiet --config {config}" in hook
