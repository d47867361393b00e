"""The hostile stream answers of Starlink's simulator (`simulator/hostile.py` names the modes):
one stream answer, changed the way issue #25's probe changed it."""

from __future__ import annotations

from typing import Any

import orjson

TEN_YEARS_NS = 10 * 365 * 86400 * 10**9


def mangle(body: bytes, mode: str, size: int, answer: int) -> bytes:
    """The stream answer `body` with the fault applied; `answer` makes each flood's names new."""
    payload: dict[str, Any] = orjson.loads(body)
    data = payload["data"]
    columns: dict[str, list[str]] = data["columnNamesByDeviceType"]
    rows = [row for row in data["values"] if row and row[0] == "u"]
    if mode == "name_flood":
        names = [f"Flood{answer}x{i}" for i in range(size)]
        enums = payload["metadata"]["enums"]
        enums["DeviceType"] = {**enums.get("DeviceType", {}), **dict.fromkeys(names, "Flood")}
        enums.update({name: ["not", "codes"] for name in names})
        columns["u"] = [*columns["u"], *names]
        for row in rows:
            row.extend([None] * size)
    elif rows and mode == "future_rows":
        rows[0][columns["u"].index("UtcTimestampNs")] += TEN_YEARS_NS
    elif rows and mode == "bad_alerts":
        column = next(c for c in ("ActiveAlerts", "ActiveAlert") if c in columns["u"])
        rows[0][columns["u"].index(column)] = [[1]]
    return orjson.dumps(payload)
