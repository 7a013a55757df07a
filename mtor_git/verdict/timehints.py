"""Read the waiting hints agents print: a Retry-After ("retry after 30s", "try again in 20 seconds")
and a usage limit's reset time ("resets 3pm", "usage limit reached|1712345678"). Pure text in."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

_UNITS = {"ms": 0.001, "millisecond": 0.001, "s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0,
          "min": 60.0, "minute": 60.0, "h": 3600.0, "hr": 3600.0, "hour": 3600.0,
          "d": 86400.0, "day": 86400.0}
_UNIT = r"(?:ms|milliseconds?|secs?|seconds?|s|mins?|minutes?|m|hrs?|hours?|h|days?|d)(?![a-z])"
_PART = rf"\d+(?:\.\d+)?\s*{_UNIT}"
_COMPOUND = rf"{_PART}(?:\s*,?\s*(?:and\s+)?{_PART})*"

_RETRY_AFTER = (
    re.compile(rf"retry[-_ ]after\W{{0,3}}({_COMPOUND}|\d+(?:\.\d+)?)", re.IGNORECASE),
    re.compile(rf"try again in\s+({_COMPOUND})", re.IGNORECASE),
)
_EPOCH = re.compile(r"limit reached\s*\|\s*(\d{9,11})\b", re.IGNORECASE)
_RESETS_IN = re.compile(rf"(?:resets|try again) in\s+({_COMPOUND})", re.IGNORECASE)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_CLOCK = re.compile(
    r"(?:resets|try again)(?: at)?\s+"
    r"(?:(?P<mon>[a-z]{3})[a-z]*\.? (?P<day>\d{1,2}),?\s+(?:at\s+)?)?"
    r"(?P<h>\d{1,2})(?::(?P<min>\d\d))?\s*(?P<ampm>[ap]\.?m\.?)?"
    r"(?:\s*\((?P<tz>[A-Za-z_]+(?:/[A-Za-z0-9_+-]+)*)\))?", re.IGNORECASE)


def parse_duration(text: str) -> float | None:
    """Seconds in '1m30s', '20 seconds', '2 days 3 hours', '30' (bare: seconds)."""
    parts = re.findall(rf"(\d+(?:\.\d+)?)\s*({_UNIT})?", text, re.IGNORECASE)
    if not parts:
        return None
    total = 0.0
    for number, unit in parts:
        key = unit.lower().rstrip("s") if unit.lower() not in ("s", "ms") else unit.lower()
        total += float(number) * _UNITS.get(key, 1.0)
    return total if math.isfinite(total) else None


def retry_after_hint(texts: Iterable[str]) -> float | None:
    """The longest wait any line asks for, in seconds; None when none does."""
    found: list[float] = []
    for text in texts:
        for rx in _RETRY_AFTER:
            for m in rx.finditer(text):
                seconds = parse_duration(m.group(1))
                if seconds is not None:
                    found.append(seconds)
    return max(found) if found else None


def reset_time(texts: Iterable[str], now: float) -> float | None:
    """Epoch seconds at which a usage limit resets, from the first line that names one."""
    for text in texts:
        when = _reset_in_line(text, now)
        if when is not None:
            return when
    return None


def _reset_in_line(text: str, now: float) -> float | None:
    m = _EPOCH.search(text)
    if m:
        return float(m.group(1))
    m = _RESETS_IN.search(text)
    if m:
        seconds = parse_duration(m.group(1))
        return now + seconds if seconds is not None else None
    for m in _CLOCK.finditer(text):
        if m.group("ampm") or m.group("min"):  # a bare number is not a clock time
            when = _next_clock(m, now)
            if when is not None:
                return when
    return None


def _zone(name: str | None, now: float) -> tzinfo | None:
    if name:
        try:
            return ZoneInfo(name)
        except (ValueError, KeyError, OSError):
            pass  # an unknown zone: fall back to the worker's local time
    return datetime.fromtimestamp(now).astimezone().tzinfo


def _next_clock(m: re.Match[str], now: float) -> float | None:
    """The first moment after `now` that reads as the matched clock time (and date, if named)."""
    hour, minute = int(m.group("h")), int(m.group("min") or 0)
    ampm = (m.group("ampm") or "").lower().replace(".", "")
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    try:
        base = datetime.fromtimestamp(now, _zone(m.group("tz"), now))
        when = base.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if m.group("mon"):
            month = _MONTHS.index(m.group("mon").lower()) + 1
            when = when.replace(month=month, day=int(m.group("day")))
            if when.timestamp() <= now:
                when = when.replace(year=when.year + 1)
        elif when.timestamp() <= now:
            when += timedelta(days=1)
        return when.timestamp()
    except (ValueError, OverflowError, OSError):
        return None
