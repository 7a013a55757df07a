"""Human durations (`90s`, `20m`, `1h30m`, `1.5s`, `250ms`) to seconds, and back for display."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")  # plain seconds; no exponents, signs or spaces


def parse_duration(value: object, *, allow_zero: bool = False) -> float:
    """Seconds in `value`; raises ValueError with a readable reason.

    A bare number is seconds. Strings are one or more `<number><unit>` parts with units
    ms, s, m, h, d, largest first (`1h30m`). Negative durations are refused, and zero too
    unless `allow_zero` (a floor or a spacing that may be switched off).
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration like 90s, 20m or 1h30m, not a boolean")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            raise ValueError("a duration that large is not a time") from None
    elif isinstance(value, str):
        seconds = _parse_text(value)
    else:
        raise ValueError(f"expected a duration like 90s, 20m or 1h30m, not {type(value).__name__}")
    if seconds != seconds or seconds == float("inf") or seconds < 0:
        raise ValueError("a duration must be a finite, non-negative time")
    if seconds == 0 and not allow_zero:
        raise ValueError("a duration must be positive")
    return seconds


def _parse_text(text: str) -> float:
    if not text:
        raise ValueError("empty duration")
    if _NUMBER.fullmatch(text):
        return float(text)
    pos = 0
    total = 0.0
    last_scale = float("inf")
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        scale = _UNITS[match.group(2)]
        if scale >= last_scale:
            raise ValueError(f"{text!r}: units must go from largest to smallest, once each")
        last_scale = scale
        total += float(match.group(1)) * scale
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f"{text!r} is not a duration like 90s, 20m or 1h30m")
    return total


def format_duration(seconds: float) -> str:
    """Compact human form: `850ms`, `12.3s`, `4m05s`, `2h03m`."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{(whole % 3600) // 60:02d}m"
