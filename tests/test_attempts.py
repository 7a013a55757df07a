"""AttemptRecord: the attempt as files carry it reads its typed fields and writes back exactly
the JSON object it read, fields of a newer version included."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtor_git.agent.evidence import Attempt, Captured, Classification, Report, Run
from mtor_git.attempts import AttemptRecord, records

_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8)
                     | st.floats(allow_nan=False), lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=10)


def _attempt() -> Attempt:
    run = Run(argv=("claude", "-p"), cwd="/w", env_names=("PATH",), started_at=1.0,
              duration=2.5, exit_code=1, stdout=Captured(3, "abc"))
    report = Report("claude-json", parsed=True, num_turns=2, cost_usd=0.25)
    return Attempt(2, "claude", run, report, Classification("rate_limited", True, "r", "429"))


def test_a_record_reads_the_fields_the_worker_uses() -> None:
    record = _attempt().record()
    assert (record.number, record.profile, record.exit_code, record.duration) == \
        (2, "claude", 1, 2.5)
    assert (record.kind, record.transient, record.cost_usd, record.model_invoked) == \
        ("rate_limited", True, 0.25, True)


def test_a_record_writes_back_the_attempt_json_unchanged() -> None:
    attempt = _attempt()
    assert json.dumps(attempt.record().to_json()) == json.dumps(attempt.to_json())


@given(st.dictionaries(st.text(max_size=10), _JSON, max_size=6))
def test_fields_of_a_newer_version_survive_a_round_trip(extra: dict[str, Any]) -> None:
    data = {**_attempt().to_json(), **{f"new_{k}": v for k, v in extra.items()}}
    assert json.dumps(AttemptRecord.from_json(data).to_json()) == json.dumps(data)


def test_missing_or_mistyped_fields_read_as_none() -> None:
    record = AttemptRecord.from_json({"number": "one", "classification": [], "report": None})
    assert (record.number, record.kind, record.cost_usd, record.model_invoked) == \
        (None, None, None, None)


def test_an_attempt_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(TypeError):
        records([{"number": 1}, "not an attempt"])
