"""Amounts with units, as OneWeb's screens show them, to base units (bytes, bytes per second).

The DataMiner screens show volumes in GB/MB, throughput in bps/kbps/Mbps, allowances as a
number of GB or "Unlimited"; TMF677 writes quantities as `{"amount": 42.5, "units": "GB"}`.
All of these are accepted: a bare number, a string with or without a unit ("100 GB",
"100 GB of data", "Unlimited"), or an object with `amount`/`value` and `units`/`unit`.
A bare number is in the unit the schema gives for that field. Decimal prefixes (GB = 1e9),
binary ones where spelt (GiB).
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from leo_exporter.providers.errors import BadResponse

Dimension = Literal["bytes", "rate", "count"]
UNLIMITED = math.inf

BYTE_UNITS: dict[str, float] = {
    "b": 1.0,
    "byte": 1.0,
    "bytes": 1.0,
    "kb": 1e3,
    "mb": 1e6,
    "gb": 1e9,
    "tb": 1e12,
    "pb": 1e15,
    "kib": 1024.0,
    "mib": 1024.0**2,
    "gib": 1024.0**3,
    "tib": 1024.0**4,
}
# bits per second -> bytes per second
RATE_UNITS: dict[str, float] = {
    "bps": 1 / 8,
    "bit/s": 1 / 8,
    "kbps": 1e3 / 8,
    "kbit/s": 1e3 / 8,
    "mbps": 1e6 / 8,
    "mbit/s": 1e6 / 8,
    "gbps": 1e9 / 8,
    "gbit/s": 1e9 / 8,
}
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z/]+)?")


def unit_factor(unit: str, dimension: Dimension) -> float:
    """Factor from `unit` to the base unit of `dimension`; ValueError if the unit is not one of it."""
    if dimension == "count":
        return 1.0
    table = BYTE_UNITS if dimension == "bytes" else RATE_UNITS
    factor = table.get(unit.strip().lower())
    if factor is None:
        raise ValueError(f"unknown {dimension} unit {unit!r} (known: {', '.join(sorted(table))})")
    return factor


def dimension_of(unit: str) -> Dimension:
    lowered = unit.strip().lower()
    if lowered in BYTE_UNITS:
        return "bytes"
    if lowered in RATE_UNITS:
        return "rate"
    return "count"


def quantity(raw: Any, default_unit: str, what: str) -> float | None:
    """`raw` in base units; None when absent; UNLIMITED (inf) for "Unlimited".

    `default_unit` is the unit of a bare number and fixes the dimension: a bytes unit (GB),
    a rate unit (Mbps, converted to bytes per second) or none at all (a count, e.g. blocks).
    """
    return _quantity(raw, default_unit, dimension_of(default_unit) if default_unit else "count", what)


def _factor(unit: str, dimension: Dimension, what: str) -> float:
    if dimension == "count" or not unit:
        return 1.0
    try:
        return unit_factor(unit, dimension)
    except ValueError as exc:
        raise BadResponse(f"{what}: {exc}") from None


def _quantity(raw: Any, unit: str, dimension: Dimension, what: str) -> float | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise BadResponse(f"{what}: expected an amount, got true/false")
    if isinstance(raw, int | float):
        return float(raw) * _factor(unit, dimension, what)
    if isinstance(raw, dict):
        amount = raw.get("amount", raw.get("value"))
        units = raw.get("units", raw.get("unit"))
        if units is not None and not isinstance(units, str):
            raise BadResponse(f"{what}: 'units' should be a string")
        return _quantity(amount, units or unit, dimension, what)
    if isinstance(raw, str):
        text = raw.strip()
        if text.lower().startswith("unlimited"):
            return UNLIMITED
        if text.upper() in ("N/A", "NA", "-"):
            return None
        found = _NUMBER.match(text)
        if not found:
            raise BadResponse(f"{what}: {text[:40]!r} is not an amount")
        return float(found.group(1)) * _factor(found.group(2) or unit, dimension, what)
    raise BadResponse(f"{what}: expected an amount, got {type(raw).__name__}")
