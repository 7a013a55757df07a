"""One CLI contract for every verb: the README's exit codes (0 ok, 1 the task failed or is
unknown, 2 usage, 78 configuration, 124 timed out, 130 interrupted), `--json` on every verb with
errors as a JSON object on stdout, no literal `None` in text, hidden verbs hidden, and a cancel
that reaches a running agent at once after a poke, its reason kept in the result and history."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemonfixtures import DAEMON_ENV, Site, kill_group, mtor, site, spec, wait_for

from mtor_git.cli.main import COMMANDS

# Verbs without --json, on purpose: the daemon logs, demo narrates a sandbox, deploy prints files
# (units, YAML) that are their own format, and `hook` is what git runs.
NO_JSON = {"daemon", "demo", "deploy", "hook", "hooks"}
READING = ("status", "result", "history", "pr", "watch", "retry", "cancel")


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A remote with one finished task (`done`, run by the real daemon) and one pending."""
    with site(tmp_path_factory.mktemp("contract")) as s:
        s.push_specs({"done": spec()})
        s.run_once(s.config("w1"))
        s.push_specs({"pending": spec()})
        yield s


def cli(s: Site, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(mtor(*args), cwd=s.user, env=DAEMON_ENV, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("verb", READING)
def test_an_unknown_task_exits_1_for_every_verb(place: Site, verb: str) -> None:
    done = cli(place, verb, "ghost", *(["--timeout", "5s"] if verb == "watch" else []))
    assert done.returncode == 1, done.stderr
    assert "no task" in done.stderr and "ghost" in done.stderr


@pytest.mark.parametrize("verb", READING)
def test_an_unknown_task_under_json_is_a_json_error_on_stdout(place: Site, verb: str) -> None:
    done = cli(place, verb, "ghost", "--json")
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert data["ok"] is False and data["version"] == 1
    assert data["error"]["kind"] == "unknown_task" and data["error"]["exit"] == 1
    assert "ghost" in data["error"]["message"]


@pytest.mark.parametrize("verb", [v for v in READING if v != "status"])
def test_a_malformed_id_is_a_usage_error(place: Site, verb: str) -> None:
    done = cli(place, verb, "Bad..Id")
    assert done.returncode == 2, done.stderr
    assert "not a valid id" in done.stderr


def test_a_usage_error_under_json_is_a_json_error(place: Site) -> None:
    done = cli(place, "retry", "Bad..Id", "--json")
    assert done.returncode == 2
    assert json.loads(done.stdout)["error"] == {
        "kind": "usage", "exit": 2, "message": json.loads(done.stdout)["error"]["message"]}


def test_a_configuration_error_exits_78_with_a_json_error(place: Site, tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text("repos: []\nagents: {x: {command: [/bin/true]}}\n")
    done = cli(place, "poke", "--config", str(bad), "--json")
    assert done.returncode == 78
    assert json.loads(done.stdout)["error"]["kind"] == "config"


def test_watch_timeout_exits_124(place: Site) -> None:
    done = cli(place, "watch", "pending", "--timeout", "1s", "--interval", "0.2s", "--json")
    assert done.returncode == 124, done.stderr
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["error"]["kind"] == "timed_out" and last["error"]["exit"] == 124


def test_every_verb_but_the_listed_ones_takes_json(place: Site) -> None:
    for verb in sorted(set(COMMANDS) - NO_JSON):
        done = cli(place, verb, "--help")
        assert done.returncode == 0, (verb, done.stderr)
        assert "--json" in done.stdout, f"`mtor-git {verb}` has no --json"
    for action in ("install", "install-server"):
        assert "--json" in cli(place, "hooks", action, "--help").stdout


def test_steering_verbs_print_json(place: Site, tmp_path: Path) -> None:
    retry = json.loads(cli(place, "retry", "done", "--json").stdout)
    assert retry["ok"] and retry["run"] == 2 and retry["result_branch"] == "mtor/done-r2"
    cancel = json.loads(cli(place, "cancel", "pending", "--reason", "dup", "--json").stdout)
    assert cancel["requested"] is True and cancel["reason"] == "dup"
    again = json.loads(cli(place, "cancel", "pending", "--json").stdout)
    assert again["ok"] and again["already_requested"] is True
    new = json.loads(cli(place, "new", "fresh-one", "--json").stdout)
    assert new["task"] == "fresh-one" and Path(new["path"]).is_file()
    dispatched = json.loads(cli(place, "dispatch", new["path"], "--json").stdout)
    assert dispatched["task"] == "fresh-one" and dispatched["result_branch"] == "mtor/fresh-one"
    init = json.loads(cli(place, "init", "--json").stdout)
    assert {h["name"] for h in init["hooks"]} == {"pre-commit", "pre-push"}


def test_poke_quiet_exits_0_without_a_daemon_and_loud_poke_exits_1(place: Site,
                                                                   tmp_path: Path) -> None:
    config = place.config("nobody-listens")
    assert cli(place, "poke", "--quiet", "--config", str(config)).returncode == 0
    loud = cli(place, "poke", "--config", str(config), "--json")
    assert loud.returncode == 1
    assert json.loads(loud.stdout)["poked"] is False


def test_hidden_verbs_are_hidden_but_callable(place: Site) -> None:
    text = cli(place, "--help").stdout + cli(place, "--help").stderr
    assert "SUPPRESS" not in text
    assert not re.search(r"^\s+hook\s", text, re.M)
    assert cli(place, "hook", "pre-commit").returncode == 0


def test_no_literal_none_in_text_output(place: Site) -> None:
    for argv in (("result", "done"), ("history", "done"), ("status", "done"), ("status",),
                 ("pr", "done")):
        done = cli(place, *argv)
        assert done.returncode == 0, (argv, done.stderr)
        assert not re.search(r"\bNone\b", done.stdout), (argv, done.stdout)


# -- cancel ---------------------------------------------------------------------------------------
def test_cancel_reaches_a_running_agent_at_once_after_a_poke_with_its_reason(
        tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.push_specs({"long": spec(agent="hang")})
        # Heartbeat every 40 s, poll every 60 s: only the poke can make it fast.
        config = s.config("w1", claim_lease="120s", poll_interval="60s")
        daemon = s.start(config)
        try:
            wait_for(lambda: s.host_pids(), 30, "the agent to start")
            assert cli(s, "cancel", "long", "--reason", "wrong approach").returncode == 0
            assert cli(s, "poke", "--config", str(config)).returncode == 0
            wait_for(lambda: s.results().get("long") == "cancelled", 15,
                     "the cancelled result (well before the next heartbeat or poll)")
        finally:
            kill_group(daemon)
        result: dict[str, Any] = s.result("long")
        assert "wrong approach" in result["failure"]["message"]
        history = cli(s, "history", "long")
        assert "wrong approach" in history.stdout
