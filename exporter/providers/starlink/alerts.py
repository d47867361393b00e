"""Alert names the exporter already knows (reference/starlink.md §1.5).

Names outside these sets are still exported; they are also logged once and counted in
`leo_exporter_unknown_fields_total{kind="alert"}` so that rules and dashboards can be updated.
Codes are never mapped here: each response's own `metadata.enums` is the only source.
"""

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
