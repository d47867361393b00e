"""Alert names the exporter already knows (reference/starlink.md §1.5).

Names outside these sets are still exported; they are also logged once and counted in
`leo_exporter_unknown_fields_total{kind="alert"}` so that rules and dashboards can be updated.
Codes are never mapped here: each response's own `metadata.enums` is the only source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

KNOWN_TERMINAL_ALERTS = frozenset(
    {
        "ethernet_slow_10mbps",
        "ethernet_slow_100mbps",
        "power_supply_thermal_throttling",
        "actuator_motor_stuck",
        "mast_not_vertical",
        "disabled_no_active_service_line",
        "disabled_no_active_account",
        "disabled_too_far_from_service_address",
        "disabled_no_service_in_ocean",
        "disabled_invalid_country",
        "moving_while_not_mobile",
        "disabled_moving_too_fast",
        "power_disconnect_detected",
        "pop_change",
        "unable_to_align",
        "high_sky_obstruction",
        "high_sky_obstruction_mobile",
        "high_time_obstruction",
        "high_time_obstruction_mobile",
        "software_update_reboot_pending",
        "thermal_shutdown",
        "thermal_throttling",
        "disabled_blocked_country",
        "disabled_data_usage_exceeded_quota",
        "disabled_cell_is_disabled",
        "disabled_unlicensed_country",
        "disabled_roam_restricted",
        "disabled_unknown_location",
        "disabled_account_disabled",
        "disabled_unsupported_version",
        "data_overage_rate_limited",
    }
)

KNOWN_ROUTER_ALERTS = frozenset({"sandbox_disabled", "geo_fenced", "offline_networks_disabled"})


Problem = tuple[str, str]  # (field, what is wrong with it): counted as invalid values


def _code_names(mapping: dict[Any, Any]) -> dict[str, str]:
    return {str(code): name for code, name in mapping.items() if isinstance(name, str)}


def _nested_codes(dt: str, value: Any) -> dict[str, str] | None:
    """Alert codes of device type `dt` found at `enums[dt]`: either `{dt: {code: name}}` (the
    nesting of the 2025-08 real sample, `enums.r.r`) or `{code: name}`. None when neither."""
    if not isinstance(value, dict):
        return None
    if list(value) == [dt] and isinstance(value[dt], dict):
        value = value[dt]
    if value and all(isinstance(name, str) for name in value.values()):
        return _code_names(value)
    return None


def read_alert_enums(
    enums: dict[str, Any], note_unknown: Callable[[str, str, str], Any]
) -> tuple[dict[str, dict[str, str]], list[Problem]]:
    """Alert code -> name per device type from one response's `metadata.enums`.

    The documented place is `AlertsByDeviceType.<dt>`. Real responses also nest codes elsewhere
    (the 2025-08 sample: router codes at `enums.r.r`, and terminal codes repeated loose under
    `AlertsByDeviceType`). A nesting is used when it can only mean one thing and does not
    contradict the documented block; otherwise it is left out and reported as a problem, so a
    router alert is never named with a terminal's code table.
    """
    problems: list[Problem] = []
    result: dict[str, dict[str, str]] = {}
    block = enums.get("AlertsByDeviceType", {})
    if not isinstance(block, dict):
        return result, [("metadata.enums.AlertsByDeviceType", "not an object")]
    loose: dict[str, str] = {}
    for key, value in block.items():
        if isinstance(value, dict):
            result[str(key)] = _code_names(value)
        elif isinstance(value, str):
            loose[str(key)] = value
        else:
            problems.append(("metadata.enums.AlertsByDeviceType", "an entry that is neither codes nor a name"))
    if loose:
        owners = {dt for dt, codes in result.items() if any(codes.get(c) == n for c, n in loose.items())}
        repeated = all(any(codes.get(c) == n for codes in result.values()) for c, n in loose.items())
        if repeated and len(owners) == 1:
            note_unknown("enum_nesting", "AlertsByDeviceType.<code>", f"repeats of device type {owners.pop()!r}")
        else:
            problems.append(("metadata.enums.AlertsByDeviceType", "alert codes outside any device type"))
    device_types = set(enums.get("DeviceType", {}) if isinstance(enums.get("DeviceType"), dict) else ()) | {"u", "r"}
    for key, value in enums.items():
        if key in ("DeviceType", "AlertsByDeviceType"):
            continue
        if key not in device_types:
            note_unknown("enum", str(key), "metadata.enums entry not read")
            continue
        codes = _nested_codes(key, value)
        where = f"metadata.enums.{key}"
        if codes is None:  # the field is the block, not the key: keys are the provider's to multiply
            problems.append(("metadata.enums", "alert codes nested in a shape that is not understood"))
            continue
        documented = result.get(key)
        if documented is None or all(documented.get(c, n) == n for c, n in codes.items()):
            note_unknown("enum_nesting", where, f"read as the alert codes of device type {key!r}")
            result[key] = {**codes, **(documented or {})}
        else:
            problems.append(("metadata.enums", "alert codes contradict AlertsByDeviceType"))
    return result, problems
