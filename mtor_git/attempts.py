"""One agent attempt as the result and claim files hold it (`Attempt.to_json()` wrote it), the
value that carries attempts between modules: a claim's `carried_attempts`, a job's, a result's.

The fields other modules read are typed. The JSON object is kept whole as well, so a record
another version wrote, with fields this version does not know, is written back unchanged (a
rolling upgrade loses nothing) and every file stays byte for byte what it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AttemptRecord:
    number: int | None
    profile: str | None
    exit_code: int | None
    signal: int | None
    stopped_by: str | None
    duration: float | None
    model_invoked: bool | None
    kind: str | None  # classification.kind
    transient: bool | None  # classification.transient
    cost_usd: float | None  # report.cost_usd, as the agent reported it
    document: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AttemptRecord:
        """The record of one attempt's JSON object; fields missing or of an unexpected type
        read as None. Raises TypeError when `data` is not a JSON object."""
        if not isinstance(data, Mapping):
            raise TypeError(f"an attempt is a JSON object, not {type(data).__name__}")
        verdict = _mapping(data.get("classification"))
        report = _mapping(data.get("report"))
        return cls(number=_int(data.get("number")), profile=_str(data.get("profile")),
                   exit_code=_int(data.get("exit_code")), signal=_int(data.get("signal")),
                   stopped_by=_str(data.get("stopped_by")),
                   duration=_float(data.get("duration")),
                   model_invoked=_bool(data.get("model_invoked")),
                   kind=_str(verdict.get("kind")), transient=_bool(verdict.get("transient")),
                   cost_usd=_float(report.get("cost_usd")), document=dict(data))

    def to_json(self) -> dict[str, Any]:
        """The JSON object exactly as it was read (or written by `Attempt.to_json()`)."""
        return dict(self.document)


def records(items: object) -> tuple[AttemptRecord, ...]:
    """The records of a JSON list of attempts (a file's `attempts` or `carried_attempts`);
    anything else is no attempts. Raises TypeError for an item that is not an object."""
    if not isinstance(items, list | tuple):
        return ()
    return tuple(AttemptRecord.from_json(a) for a in items)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
