"""doctor's `sandbox` line: pass with bwrap, warn for `none` (configured or by default where bwrap
is missing), fail where the daemon would refuse to start."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtor_git.agent.sandbox import find_bwrap
from mtor_git.config.load import parse_config
from mtor_git.config.model import Config
from mtor_git.doctor.sandbox import check_sandbox

ENV = {"HOME": "/home/w", "PATH": "/usr/bin:/bin"}


def config(tmp_path: Path, extra: str = "") -> Config:
    return parse_config(f"workspace: {tmp_path}/ws\nstate_dir: {tmp_path}/state\n"
                        "repos: [{url: /srv/git/p.git}]\nagents: {a: {command: [/bin/true]}}\n"
                        + extra, environ=ENV)


@pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap is not installed")
def test_bwrap_passes(tmp_path: Path) -> None:
    check = check_sandbox(config(tmp_path), ENV)
    assert (check.name, check.status) == ("sandbox", "pass")


def test_configured_none_warns(tmp_path: Path) -> None:
    assert check_sandbox(config(tmp_path, "sandbox: none\n"), ENV).status == "warn"


def test_default_without_bwrap_warns(tmp_path: Path) -> None:
    check = check_sandbox(config(tmp_path), {**ENV, "PATH": str(tmp_path)})
    assert check.status == "warn" and "NO SANDBOX" in check.detail


def test_configured_bwrap_missing_fails(tmp_path: Path) -> None:
    check = check_sandbox(config(tmp_path, "sandbox: bwrap\n"), {**ENV, "PATH": str(tmp_path)})
    assert check.status == "fail" and check.hint
