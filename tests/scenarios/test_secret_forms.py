"""Secrets in disguise, through a real daemon and a real remote (issue #12 F5, #18 item 2).

Agents write a canary of the daemon's environment into a file base64-encoded (inside a longer
base64 text), reversed, hex, percent-encoded and split over lines; a `DEPLOY_PAT` of the daemon's
env file; and a `RELEASE_HANDLE`, whose name looks like no credential at all, known as a secret
only because the env file holds it: each task ends `failed` / `secret_in_diff`, and no form of any
of these values reaches any object of the remote, a result or the log. A model name written
literally in a profile's `env` (`AIDER_MODEL: gpt-4o`) is configuration: the agent that writes it
succeeds and nothing redacts it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonfixtures import Site, site, spec
from gitfixtures import GIT_ENV, git
from hostilefixtures import CANARY_VAR, daemon_log, run_daemon_once, worker_config

from mtor_git.agent.secretforms import forms_of

pytestmark = pytest.mark.slow

AGENT = Path(__file__).resolve().parents[1] / "fake_agents" / "disguising_agent.py"
CANARY = "canary-b64-9f2c7e1a4d3b8c6e"
DEPLOY_PAT = "pat-4e8a1c9b7d2f6a3e5b"
HANDLE = "rh-71c3e9a0d5b24f86"
# task id: (form, the encoding the failure names)
FORMS = {"t-base64": ("base64", "base64"), "t-reversed": ("reversed", "reversed"),
         "t-hex": ("hex", "hex"), "t-url": ("url", "url-encoded"),
         "t-split": ("split", "split over lines")}


def profile(var: str, form: str, **extra: object) -> dict[str, object]:
    return {"command": [str(AGENT), "--var", var, "--form", form], "report": "claude-json",
            "pass_env": [var], **extra}


@pytest.fixture(scope="module")
def disguised(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Every disguise, the env-file token and the literal model name in one push and one run."""
    with site(tmp_path_factory.mktemp("forms")) as s:
        env_file = s.root / "mtor-git.env"
        env_file.write_text(f"# as systemd's EnvironmentFile=\nDEPLOY_PAT={DEPLOY_PAT}\n"
                            f"RELEASE_HANDLE={HANDLE}\n")
        env_file.chmod(0o600)
        agents: dict[str, dict[str, object]] = {
            tid: profile(CANARY_VAR, form, requires_env=[CANARY_VAR])
            for tid, (form, _) in FORMS.items()}
        agents["t-deploy-pat"] = profile("DEPLOY_PAT", "plain")
        agents["t-handle"] = profile("RELEASE_HANDLE", "hex")
        agents["t-model"] = profile("AIDER_MODEL", "plain", env={"AIDER_MODEL": "gpt-4o"})
        config = worker_config(s, "w1", agents, default_agent="t-model",
                               env_file=str(env_file))
        s.push_specs({tid: spec(agent=tid) for tid in agents})
        # The daemon's environment holds both values, as systemd gives it the env file.
        proc = run_daemon_once(s, config, {CANARY_VAR: CANARY, "DEPLOY_PAT": DEPLOY_PAT,
                                           "RELEASE_HANDLE": HANDLE})
        (s.root / "daemon-output.txt").write_text(proc.stderr + proc.stdout)
        yield s


def all_remote_objects(remote: Path) -> bytes:
    """Every object the remote stores, reachable or not."""
    return subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=remote,
                          capture_output=True, env=GIT_ENV, timeout=60, check=True).stdout


def test_each_disguise_ends_failed_secret_in_diff_naming_its_encoding(disguised: Site) -> None:
    for tid, (_, encoding) in FORMS.items():
        result = disguised.result(tid)
        assert (result["status"], result["failure"]["kind"]) == ("failed", "secret_in_diff"), tid
        assert f"holds the value of {CANARY_VAR} ({encoding})" in result["failure"]["message"]
        assert result["changes"]["files"] == [], tid
        assert "DISGUISED.txt" not in git("ls-tree", "--name-only", f"mtor/{tid}",
                                          cwd=disguised.remote)


def test_tokens_of_the_env_file_are_secrets_whatever_their_names(disguised: Site) -> None:
    for tid, var in (("t-deploy-pat", "DEPLOY_PAT"), ("t-handle", "RELEASE_HANDLE")):
        result = disguised.result(tid)
        assert (result["status"], result["failure"]["kind"]) == ("failed", "secret_in_diff")
        assert f"holds the value of {var}" in result["failure"]["message"]
        assert f"[REDACTED:{var}]" in result["attempts"][0]["stdout"]["head"]


def test_no_form_of_either_secret_reaches_the_remote_a_result_or_the_log(disguised: Site) -> None:
    s = disguised
    objects = all_remote_objects(s.remote)
    assert b"gpt-4o" in objects  # the scan sees what the succeeding agent wrote
    log = daemon_log(s, "w1") + (s.root / "daemon-output.txt").read_text()
    assert "t-base64" in log
    texts = [git("show", f"mtor/{tid}:results/{tid}.{ext}", cwd=s.remote)
             for tid in s.results() for ext in ("json", "md")]
    for value in (CANARY, DEPLOY_PAT, HANDLE):
        for form in forms_of(value):
            assert form.data not in objects, form
            assert form.data.decode() not in log, form
            assert not any(form.data.decode() in text for text in texts), form
    # The agents did print their disguises: the reader sees they were redacted.
    stdout = s.result("t-base64")["attempts"][0]["stdout"]["head"]
    assert f"[REDACTED:{CANARY_VAR}]" in stdout


def test_a_literal_model_name_in_a_profile_env_is_not_a_secret(disguised: Site) -> None:
    s = disguised
    result = s.result("t-model")
    assert result["status"] == "succeeded"
    assert git("show", "mtor/t-model:DISGUISED.txt", cwd=s.remote) == "payload:\ngpt-4o"
    attempt = result["attempts"][0]
    assert "gpt-4o" in attempt["stdout"]["head"] and "gpt-4o" in attempt["stderr"]["head"]
    log = daemon_log(s, "w1") + (s.root / "daemon-output.txt").read_text()
    assert "[REDACTED:AIDER_MODEL]" not in log + attempt["stdout"]["head"]
