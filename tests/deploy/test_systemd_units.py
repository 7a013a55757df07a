"""The shipped systemd units load cleanly (`systemd-analyze verify`, judged by its stderr, since
it exits 0 on most problems), and their restart policy really stops a crash loop."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mtor_git.config.load import Config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
SYSTEM_UNIT = DEPLOY / "mtor-git.service"
USER_UNIT = DEPLOY / "user" / "mtor-git.service"
GUIDE = DEPLOY / "INSTALL.md"

# A daemon that dies this long after each start must still trip the start limit.
TOLERATED_RUN_SECONDS = 60.0

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian/Ubuntu package: systemd)",
)

Unit = dict[str, dict[str, list[str]]]


def parse_unit(text: str) -> Unit:
    """Sections -> key -> every value in order (systemd keys may repeat)."""
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        assert section is not None, f"assignment outside a section: {raw!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not an assignment: {raw!r}"
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def one(unit: Unit, section: str, key: str) -> str:
    values = unit[section].get(key)
    assert values, f"[{section}] {key}= is missing"
    return values[-1]


def seconds(value: str) -> float:
    """A systemd time span (`10s`, `5min`, `600`, `1min 30s`) in seconds."""
    scale = {"": 1.0, "s": 1.0, "sec": 1.0, "ms": 0.001, "m": 60.0, "min": 60.0, "h": 3600.0,
             "hr": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value)
    assert parts and all(u in scale for _, u in parts), f"unreadable time span {value!r}"
    return sum(float(n) * scale[u] for n, u in parts)


def fake_binary(tmp_path: Path) -> Path:
    binary = tmp_path / "bin" / "mtor-git"
    binary.parent.mkdir(exist_ok=True)
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    return binary


def with_exec_start(text: str, binary: Path) -> str:
    """The unit with ExecStart's program replaced by `binary` (verify exits 1 on a missing
    binary); its arguments are kept."""
    pattern = re.compile(r"^(ExecStart=[-@:+!]*)(\S+)", re.M)
    assert pattern.search(text), "no ExecStart= line"
    return pattern.sub(lambda m: m.group(1) + str(binary), text)


def verify(unit_text: str, tmp_path: Path, *, user: bool) -> subprocess.CompletedProcess[str]:
    folder = tmp_path / ("user" if user else "system")
    folder.mkdir(exist_ok=True)
    unit = folder / "mtor-git.service"
    unit.write_text(with_exec_start(unit_text, fake_binary(tmp_path)))
    unit.chmod(0o644)  # systemd warns about a world-writable unit, whatever the umask
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "SYSTEMD_LOG_LEVEL": "info"}
    env.pop("SYSTEMD_UNIT_PATH", None)
    argv = ["systemd-analyze", *(["--user"] if user else []), "verify", str(unit)]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    assert result.stderr.strip() == "", f"systemd-analyze verify complained:\n{result.stderr}"
    assert result.returncode == 0, result.stdout


@needs_analyze
def test_system_unit_verifies_without_a_single_complaint(tmp_path: Path) -> None:
    assert_clean(verify(SYSTEM_UNIT.read_text(), tmp_path, user=False))


@needs_analyze
def test_user_unit_verifies_without_a_single_complaint(tmp_path: Path) -> None:
    assert_clean(verify(USER_UNIT.read_text(), tmp_path, user=True))


@needs_analyze
def test_verify_check_catches_an_unknown_key(tmp_path: Path) -> None:
    bad = SYSTEM_UNIT.read_text().replace("[Service]\n", "[Service]\nRestartFrobnicate=yes\n", 1)
    result = verify(bad, tmp_path, user=False)
    assert "RestartFrobnicate" in result.stderr
    with pytest.raises(AssertionError):
        assert_clean(result)


@needs_analyze
def test_verify_check_catches_a_bad_value(tmp_path: Path) -> None:
    bad = re.sub(r"^RestartSec=.*$", "RestartSec=ten seconds", SYSTEM_UNIT.read_text(),
                 flags=re.M)
    line = bad.splitlines().index("RestartSec=ten seconds") + 1
    result = verify(bad, tmp_path, user=False)
    assert result.returncode == 0  # the reason the stderr must be read
    assert f"mtor-git.service:{line}:" in result.stderr and "ten seconds" in result.stderr


@pytest.mark.parametrize("path", [SYSTEM_UNIT, USER_UNIT], ids=["system", "user"])
def test_restart_policy_trips_the_start_limit(path: Path) -> None:
    unit = parse_unit(path.read_text())
    assert one(unit, "Service", "Restart") == "on-failure"
    restart_sec = seconds(one(unit, "Service", "RestartSec"))
    burst = int(one(unit, "Unit", "StartLimitBurst"))
    interval = seconds(one(unit, "Unit", "StartLimitIntervalSec"))
    assert restart_sec >= 1 and burst >= 2
    # the start after `burst` starts is refused only if it comes within the interval; each cycle
    # is one run (up to TOLERATED_RUN_SECONDS) plus the restart delay
    assert burst * (TOLERATED_RUN_SECONDS + restart_sec) <= interval, (
        f"{burst} restarts x ({TOLERATED_RUN_SECONDS:g}s run + {restart_sec:g}s delay) do not fit "
        f"in {interval:g}s: a crash loop would never stop")


@pytest.mark.parametrize("path", [SYSTEM_UNIT, USER_UNIT], ids=["system", "user"])
def test_configuration_errors_are_not_restarted(path: Path) -> None:
    unit = parse_unit(path.read_text())
    statuses = " ".join(unit["Service"].get("RestartPreventExitStatus", [])).split()
    assert "78" in statuses


@pytest.mark.parametrize("path", [SYSTEM_UNIT, USER_UNIT], ids=["system", "user"])
def test_stop_timeout_outlasts_the_shutdown_grace(path: Path) -> None:
    unit = parse_unit(path.read_text())
    grace = next(f.default for f in dataclasses.fields(Config) if f.name == "shutdown_grace")
    assert isinstance(grace, float)
    assert one(unit, "Service", "KillMode") in ("mixed", "control-group")
    assert seconds(one(unit, "Service", "TimeoutStopSec")) >= grace + 30


def test_system_unit_is_hardened_but_can_write_its_workspace() -> None:
    service = parse_unit(SYSTEM_UNIT.read_text())["Service"]
    expected = {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
        "ProtectHome": "yes", "ProtectKernelModules": "yes",  # Tunables/Logs: see the sandbox
        "ProtectControlGroups": "yes", "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes", "RestrictRealtime": "yes", "SystemCallArchitectures": "native",
    }
    assert {k: service.get(k, [""])[-1] for k in expected} == expected
    for writable in ("StateDirectory", "CacheDirectory", "LogsDirectory", "RuntimeDirectory"):
        assert service.get(writable) == ["mtor-git"], writable
    # node's JIT needs writable+executable memory: the agents would crash under this
    assert "MemoryDenyWriteExecute" not in service
    assert one(parse_unit(SYSTEM_UNIT.read_text()), "Service", "User") == "mtor-git"


def test_user_unit_keeps_the_hardening_a_user_manager_allows() -> None:
    service = parse_unit(USER_UNIT.read_text())["Service"]
    assert service["NoNewPrivileges"] == ["yes"]
    assert "MemoryDenyWriteExecute" not in service
    # mount namespacing needs root: in a user unit it would fail the start
    assert "ProtectSystem" not in service and "PrivateTmp" not in service


def test_no_directive_newer_than_systemd_252() -> None:
    for path in (SYSTEM_UNIT, USER_UNIT):
        keys = {k for section in parse_unit(path.read_text()).values() for k in section}
        assert not keys & {"RestartSteps", "RestartMaxDelaySec", "OpenFile", "RestartMode"}


def test_guide_uses_the_units_paths() -> None:
    guide = GUIDE.read_text()
    service = parse_unit(SYSTEM_UNIT.read_text())["Service"]
    exec_start = service["ExecStart"][-1].split()
    env_file = service["EnvironmentFile"][-1].lstrip("-")
    config = exec_start[exec_start.index("--config") + 1]
    for needle in (exec_start[0], env_file, config, "useradd", "systemctl enable --now",
                   "journalctl -u mtor-git", f"--env-file {env_file}", "chmod 600"):
        assert needle in guide, needle
