"""The daily spend caps of the configuration: `budget: {daily_usd: N, reset_hour: H}` at the top
level (the whole worker) and `budget: {daily_usd: N}` per agent profile. The ledger that counts
the spending against them is worker/ledger.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mtor_git.config.reader import Reader
from mtor_git.spec.yamlload import KeyPath

BUDGET_KEYS = ("daily_usd", "reset_hour")
PROFILE_BUDGET_KEYS = ("daily_usd",)


@dataclass(frozen=True)
class DailyBudget:
    """A cap on the reported cost of every attempt started in one day; the day begins at
    `reset_hour` o'clock UTC (the worker's one reset hour applies to the profiles' caps too)."""

    daily_usd: float | None = None
    reset_hour: int = 0


def parse_budget(r: Reader, value: Any, where: KeyPath, *, profile: bool = False) -> DailyBudget:
    keys = PROFILE_BUDGET_KEYS if profile else BUDGET_KEYS
    raw = r.mapping(value, where, keys)
    cap: float | None = None
    if raw.get("daily_usd") is not None:
        cap = float(r.typed(raw["daily_usd"], (*where, "daily_usd"), (int, float), "a number"))
        if cap <= 0:
            raise r.fail((*where, "daily_usd"), "must be more than 0")
    hour = 0
    if "reset_hour" in raw:
        hour = r.count(raw["reset_hour"], (*where, "reset_hour"), minimum=0)
        if hour > 23:
            raise r.fail((*where, "reset_hour"), "must be an hour of the day, 0 to 23 (UTC)")
    return DailyBudget(cap, hour)
