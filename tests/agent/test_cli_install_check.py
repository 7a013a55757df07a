"""A real-CLI test whose CLI is missing fails by name in CI (CI=true), where .ci/run was meant
to install it, and is skipped with the install command elsewhere: never a silent skip in CI."""

from __future__ import annotations

from pathlib import Path

import clifixtures
import pytest


@pytest.fixture
def nothing_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clifixtures, "NODE_BIN", tmp_path / "node-bin")
    monkeypatch.setattr(clifixtures, "AIDER_BIN", tmp_path / "aider-bin")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))


@pytest.mark.parametrize("name", ["claude", "codex", "aider"])
def test_a_missing_cli_fails_by_name_in_ci(nothing_installed: None, name: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"the real {name} CLI is not installed"):
        clifixtures.require_cli(name)


def test_a_missing_cli_is_skipped_with_its_install_command_elsewhere(
        nothing_installed: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="pip install aider-chat"):
        clifixtures.require_cli("aider")


def test_an_installed_cli_is_found(tmp_path: Path, nothing_installed: None) -> None:
    (tmp_path / "aider-bin").mkdir()
    aider = tmp_path / "aider-bin" / "aider"
    aider.write_text("#!/bin/sh\n")
    aider.chmod(0o755)
    assert clifixtures.require_cli("aider") == aider
    assert clifixtures.install_dir(aider) == str(tmp_path.resolve())
