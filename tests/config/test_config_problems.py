"""A bad config is reported whole (issue 16, F14): every problem, one `file:line: field:
message` line each, in file order, as `validate` reports specs; never only the first."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mtor_git.config.load import parse_config
from mtor_git.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
ENV = {"HOME": "/home/w", "PATH": "/usr/bin:/bin"}

BAD = """\
worker_id: w1
pol_interval: 5s
max_parallel: zero
repos:
  - branch: main
agents:
  claude:
    report: claude-xml
retry:
  max_backoff: soon
log:
  level: LOUD
"""


def test_the_daemon_names_every_problem_of_its_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(BAD)
    proc = subprocess.run([sys.executable, "-m", "mtor_git", "daemon", "--once", "--config",
                           str(config)], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={**ENV, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 78, proc.stderr
    text = proc.stderr.replace("mtor-git: configuration error: ", "")
    found = re.findall(rf"^{re.escape(str(config))}:(\d+): ([\w.]+): \S", text, re.MULTILINE)
    assert found == [("2", "pol_interval"), ("3", "max_parallel"), ("5", "repos.0"),
                     ("8", "agents.claude.report"), ("10", "retry.max_backoff"),
                     ("12", "log.level")], proc.stderr


# One bad value per field: each must be named whatever else is wrong beside it.
_BAD_FIELDS = {
    "poll_interval": "soon", "max_parallel": 0, "claim_lease": "-1s",
    "unknown_agents": "maybe", "sandbox": "docker", "require_signed": "yes",
    "max_spec_bytes": "big", "transfer_timeout": [1],
}


@settings(max_examples=40, deadline=None)
@given(st.sets(st.sampled_from(sorted(_BAD_FIELDS)), min_size=1))
def test_each_bad_field_is_named_whatever_else_is_wrong(bad: set[str]) -> None:
    data = {"repos": [{"url": "/srv/x.git"}], "agents": {"claude": {}},
            **{key: _BAD_FIELDS[key] for key in bad}}
    try:
        parse_config(json.dumps(data, indent=1), source="c.yaml", environ=ENV)
    except ConfigError as exc:
        lines = str(exc).splitlines()
    else:
        raise AssertionError("a bad config loaded")
    fields = {line.split(": ")[1] for line in lines}
    assert fields == bad, lines
    numbers = [int(line.split(":")[1]) for line in lines]
    assert numbers == sorted(numbers)  # file order
