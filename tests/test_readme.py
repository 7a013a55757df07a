"""The README cannot drift: its set-up commands are what CI runs, and every command, flag,
config key, spec key and failure kind it shows exists and works."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mtor_git.cli.main import COMMANDS
from mtor_git.config.load import parse_config
from mtor_git.spec.parse import parse_spec
from mtor_git.verdict.classify import KIND_DESCRIPTIONS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
sys.path.insert(0, str(ROOT / ".ci"))
from readme_commands import commands  # noqa: E402


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL)


def test_readme_opens_with_the_demo_and_the_test_command() -> None:
    demo, tests = commands(README)
    assert demo.endswith("mtor-git demo")
    assert "pytest" in tests and "'.[test]'" in tests
    ci = (ROOT / ".ci" / "run").read_text()
    assert "readme_commands.py" in ci, "CI must run the README's commands, not a copy"
    assert README.index(demo) < README.index("## Why"), "the commands open the README"


def _mentions() -> list[tuple[str, list[str]]]:
    found = []
    for span in re.findall(r"`(mtor-git [^`]+)`", README):
        words = span.split()[1:]
        if words and re.fullmatch(r"[a-z-]+", words[0]):
            found.append((words[0], [w.split("=")[0] for w in words if w.startswith("--")]))
    return found


def test_every_command_the_readme_shows_exists() -> None:
    mentioned = {command for command, _ in _mentions()}
    assert mentioned, "the README shows commands"
    assert mentioned <= set(COMMANDS), mentioned - set(COMMANDS)


@pytest.mark.parametrize("command", sorted({c for c, _ in _mentions()} - {"hooks", "deploy"}))
def test_every_flag_the_readme_shows_is_accepted(command: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "mtor_git", command, "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for shown, flags in _mentions():
        if shown == command:
            for flag in flags:
                assert flag in proc.stdout, f"`mtor-git {command}` has no {flag}"


def test_every_config_snippet_is_a_valid_config() -> None:
    base = "repos: [{url: /srv/git/project.git}]\n"
    env = {"HOME": "/home/worker", "GLM_TOKEN": "token-value", "PATH": "/usr/bin"}
    snippets = [b for b in _blocks("yaml") if "agents:" in b]  # not the pre-commit one
    assert snippets
    for snippet in snippets:
        text = snippet if "repos:" in snippet else base + snippet
        config = parse_config(text, environ=env)
        assert config.agents


def test_the_spec_example_validates() -> None:
    (example,) = [b for b in _blocks("markdown") if b.startswith("---\n")]
    spec = parse_spec(example.encode(), "tasks/fix-table-spans.md")
    assert spec.prompt.startswith("Free Markdown")


def test_every_failure_kind_is_in_the_table() -> None:
    for kind in KIND_DESCRIPTIONS:
        assert f"| `{kind}` |" in README, kind


def test_every_linked_file_exists() -> None:
    for target in re.findall(r"\]\(([^)#:]+)\)", README):
        assert (ROOT / target).exists(), target
