"""The daily spend ledger: the reported cost of every attempt this worker ran (failed ones
included), summed per day for the worker and per profile, in `<state_dir>/ledger.json` (written
whole, atomically, so it survives a crash or a restart). A day is a UTC day that begins at the
configured `budget.reset_hour`.

A task that would start once the day's spending reached a cap (the worker's or its profile's) is
deferred, not failed: the cycle claims it and releases it at once with `reason: deferred (daily
budget ...)` and `not_before` = the next reset (worker/cycle.py), so `status` shows `deferred`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loguru import logger

from mtor_git.agent.evidence import Attempt
from mtor_git.atomic import read_json, write_json_atomic
from mtor_git.config.model import Config
from mtor_git.git import Repository
from mtor_git.queue import claims, protocol
from mtor_git.states import BoardState

LEDGER_FILE = "ledger.json"
DEFERRED = BoardState.DEFERRED  # a deferral's claim reason begins so (client/board.py reads it)
_KEEP_DAYS = 14  # days of past spending kept in the file, for the curious


@dataclass(frozen=True)
class Deferral:
    """Why a task may not start now, and when it may."""

    scope: str  # "the worker" or "profile <name>"
    cap: float
    spent: float
    resets_at: float  # epoch seconds

    @property
    def reason(self) -> str:
        """The released claim's reason (`status` shows the part in parentheses)."""
        return (f"{DEFERRED} (daily budget ${self.cap:.2f} of {self.scope} spent "
                f"(${self.spent:.4f}); resets at {iso(self.resets_at)})")


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Ledger:
    """Thread-safe; every change is written through at once."""

    def __init__(self, state_dir: Path, reset_hour: int = 0) -> None:
        self.path = state_dir / LEDGER_FILE
        self.reset_hour = reset_hour
        self._lock = threading.Lock()
        self._days = self._load()

    def day(self, now: float) -> str:
        """The ledger day `now` falls in (the UTC date of the day that began at reset_hour)."""
        start = datetime.fromtimestamp(now, UTC) - timedelta(hours=self.reset_hour)
        return start.strftime("%Y-%m-%d")

    def resets_at(self, now: float) -> float:
        """When the day `now` falls in ends."""
        begun = datetime.strptime(self.day(now), "%Y-%m-%d").replace(tzinfo=UTC)
        return (begun + timedelta(days=1, hours=self.reset_hour)).timestamp()

    def spent(self, now: float, profile: str | None = None) -> float:
        """Today's spending: the worker's, or one profile's."""
        with self._lock:
            today = self._days.get(self.day(now), {})
            if profile is None:
                return float(today.get("total", 0.0))
            return float(today.get("profiles", {}).get(profile, 0.0))

    def add(self, costs: Iterable[tuple[str, float]], now: float) -> None:
        """Book (profile, cost) pairs on today's page and write the ledger."""
        costs = [(p, c) for p, c in costs if c > 0]
        if not costs:
            return
        with self._lock:
            today = self._days.setdefault(self.day(now), {"total": 0.0, "profiles": {}})
            for profile, cost in costs:
                today["total"] = today.get("total", 0.0) + cost
                profiles = today.setdefault("profiles", {})
                profiles[profile] = profiles.get(profile, 0.0) + cost
            for old in sorted(self._days)[:-_KEEP_DAYS]:
                del self._days[old]
            try:
                write_json_atomic(self.path, {"version": 1, "reset_hour": self.reset_hour,
                                              "days": self._days})
            except OSError as exc:  # a full disk must not fail the task; memory still counts
                logger.warning("could not write the spend ledger {}: {}", self.path, exc)

    def check(self, now: float, profile: str, *, worker_cap: float | None,
              profile_cap: float | None) -> Deferral | None:
        """A Deferral when today's spending reached the worker's or the profile's cap."""
        for scope, cap, spent in (("the worker", worker_cap, self.spent(now)),
                                  (f"profile {profile}", profile_cap,
                                   self.spent(now, profile))):
            if cap is not None and spent >= cap:
                return Deferral(scope, cap, spent, self.resets_at(now))
        return None

    def snapshot(self, config: Config, now: float) -> dict[str, Any]:
        """Today's page for the status file: spending, caps and the reset."""
        with self._lock:
            today = self._days.get(self.day(now), {})
            profiles = dict(today.get("profiles", {}))
        caps = {name: p.daily_usd for name, p in config.agents.items() if p.daily_usd}
        return {"day": self.day(now), "spent": round(float(today.get("total", 0.0)), 6),
                "daily_usd": config.budget.daily_usd, "resets_at": self.resets_at(now),
                "profiles": {name: {"spent": round(profiles.get(name, 0.0), 6),
                                    "daily_usd": caps.get(name)}
                             for name in sorted({*profiles, *caps})}}

    def deferral(self, config: Config, profile: str, now: float) -> Deferral | None:
        """Whether a task of `profile` must wait for the reset (the config's caps)."""
        limits = config.agents.get(profile)
        return self.check(now, profile, worker_cap=config.budget.daily_usd,
                          profile_cap=limits.daily_usd if limits else None)

    def book(self, attempt: Attempt, now: float) -> None:
        """An attempt's reported cost, as it ends, whatever becomes of its task: the CLI's
        own figure, else (stopped mid-session) what its events said."""
        cost = attempt.report.cost_usd
        log = attempt.run.live.log if attempt.run.live is not None else None
        if cost is None and log is not None:
            cost = log.totals.cost_usd
        self.add([(attempt.profile, cost or 0.0)], now)

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = read_json(self.path)
        except OSError as exc:
            logger.warning("could not read the spend ledger {}: {}; counting from 0",
                           self.path, exc)
            return {}
        days = data.get("days") if isinstance(data, dict) else None
        if not isinstance(days, dict):
            return {}
        kept: dict[str, dict[str, Any]] = {}
        for day, page in days.items():
            if isinstance(page, dict) and isinstance(page.get("total"), int | float):
                profiles = page.get("profiles")
                kept[str(day)] = {"total": float(page["total"]), "profiles": {
                    str(k): float(v) for k, v in (profiles or {}).items()
                    if isinstance(v, int | float)}}
        if kept:
            logger.debug("ledger {}: {} day(s) read", self.path, len(kept))
        return kept


def defer(repo: Repository, claim: claims.Claim, oid: str, deferral: Deferral, *,
          author: tuple[str, str]) -> bool:
    """Hand a just-won claim straight back until the budget resets: readers see `deferred` with
    its reason, and every worker (this one too) leaves it alone until `not_before`."""
    logger.info("{}: {}", claim.task_id, deferral.reason)
    back = claims.released(claim, deferral.reason, not_before=deferral.resets_at)
    return protocol.push_claim(repo, back, parent=oid, author=author) is not None
