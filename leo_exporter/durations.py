"""Durations as Prometheus writes them (`15s`, `5m`, `1h30m`, `500ms`), or plain seconds."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)", re.ASCII)  # ASCII digits only
MAX_SECONDS = 366 * 86400.0  # a year is long past any useful interval, timeout or backoff
EXPECTED = "expected e.g. 500ms, 15s, 5m, 1h30m"


def parse_duration(value: object) -> float:
    """Seconds in a duration; raises ValueError with a message fit for a config error.

    The message never repeats the value: it may have come from a secret or `${VAR}`."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration (a boolean): {EXPECTED}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        pos, seconds = 0, 0.0
        for match in _PART.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos != len(text) or not text:
            raise ValueError(f"invalid duration: {EXPECTED}")
    else:
        raise ValueError(f"invalid duration: {EXPECTED}")
    if not math.isfinite(seconds):
        raise ValueError("invalid duration: must be a finite number of seconds")
    if seconds < 0:
        raise ValueError("invalid duration: cannot be negative")
    if seconds > MAX_SECONDS:
        raise ValueError("invalid duration: must be at most 366d")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest readable form, for summaries and the status page."""
    if not math.isfinite(seconds):
        return "forever"
    if seconds and seconds < 1:
        return f"{round(seconds * 1000)}ms"
    remaining = round(seconds)
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
