"""Static checks of the Grafana dashboards and their provisioning."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml

from leo_exporter.catalog import BY_NAME
from tests.promstack import (
    DASHBOARDS_DIR,
    GRAFANA_DIR,
    ONEWEB_ONLY_MARK,
    PROMETHEUS_BUILTINS,
    dashboards,
    grafana_variables_used,
    metric_names,
    panels,
    recorded_names,
    rules,
)

GRAFANA_BUILTIN_VARS = {"__rate_interval", "__range", "__interval", "__interval_ms", "__range_s"}
EXPECTED = {
    "leo-fleet-overview.json",
    "leo-terminal-detail.json",
    "leo-data-usage.json",
    "leo-exporter-health.json",
    "leo-availability.json",
}

DASHBOARDS = dashboards()


def walk(node: Any, path: str = "") -> Any:
    """(path, key, value) for every key of every dict in a JSON tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


def variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def test_the_five_dashboards_exist_as_valid_json() -> None:
    assert set(DASHBOARDS) == EXPECTED
    for path in DASHBOARDS_DIR.glob("*.json"):
        json.loads(path.read_text())


@pytest.mark.e2e
def test_generated_json_is_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(GRAFANA_DIR / "generate_dashboards.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_uids_and_titles_are_unique_and_stable() -> None:
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert len(set(uids)) == len(uids)
    for name, d in DASHBOARDS.items():
        assert d["uid"] == name.removesuffix(".json"), "the uid is the file name: alert links rely on it"
        assert d["title"]
        assert d.get("id") is None, "no instance-specific dashboard id"
        assert "leo-exporter" in d["tags"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_datasource_is_a_variable(name: str) -> None:
    d = DASHBOARDS[name]
    ds = variables(d).get("datasource")
    assert ds and ds["type"] == "datasource" and ds["query"] == "prometheus"
    assert "__inputs" not in d and "__requires" not in d


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_hard_coded_datasource_uids(name: str) -> None:
    for path, key, value in walk(DASHBOARDS[name]):
        if key != "datasource" or path.endswith("templating.list[0]"):
            continue
        if isinstance(value, str):
            assert value in ("${datasource}", "$datasource"), f"{path}: datasource {value!r}"
            continue
        if value.get("type") == "grafana":  # the built-in annotations source
            assert value.get("uid") == "-- Grafana --", f"{path}: {value}"
            continue
        assert value == {"type": "prometheus", "uid": "${datasource}"}, f"{path}: datasource {value}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_panel_has_queries(name: str) -> None:
    ids = set()
    for p in panels(DASHBOARDS[name]):
        assert p["id"] not in ids, f"duplicate panel id {p['id']}"
        ids.add(p["id"])
        targets = p.get("targets") or []
        assert targets, f"{p['title']}: no queries"
        for t in targets:
            assert t.get("expr", "").strip(), f"{p['title']}: empty query {t.get('refId')}"
            assert t.get("datasource") == {"type": "prometheus", "uid": "${datasource}"}
        assert len({t["refId"] for t in targets}) == len(targets)
        grid = p["gridPos"]
        assert grid["x"] + grid["w"] <= 24, f"{p['title']}: wider than the grid"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_expressions_use_catalogued_metrics_and_recording_rules(name: str) -> None:
    known = set(BY_NAME) | recorded_names() | PROMETHEUS_BUILTINS
    exprs = [(p["title"], t["expr"]) for p in panels(DASHBOARDS[name]) for t in p["targets"]]
    exprs += [
        (f"variable {v['name']}", v["query"]) for v in variables(DASHBOARDS[name]).values() if v["type"] == "query"
    ]
    for title, expr in exprs:
        unknown = metric_names(expr) - known
        assert not unknown, f"{name} / {title}: {sorted(unknown)} neither in leo_exporter.catalog nor recorded"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_expressions_use_only_defined_variables(name: str) -> None:
    d = DASHBOARDS[name]
    defined = set(variables(d)) | GRAFANA_BUILTIN_VARS
    for p in panels(d):
        for text in [p["title"], *(t["expr"] for t in p["targets"])]:
            missing = grafana_variables_used(text) - defined
            assert not missing, f"{name} / {p['title']}: undefined variables {missing}"
        if "repeat" in p:
            assert p["repeat"] in defined


def test_terminal_detail_has_oneweb_signal_panels() -> None:
    d = DASHBOARDS["leo-terminal-detail.json"]
    oneweb = [p for p in panels(d) if ONEWEB_ONLY_MARK in p.get("description", "")]
    used = set().union(*(metric_names(t["expr"]) for p in oneweb for t in p["targets"]))
    for metric in (
        "leo_terminal_sinr_decibels",
        "leo_terminal_rsrp_dbm",
        "leo_terminal_rssi_dbm",
        "leo_terminal_link_availability_ratio",
        "leo_terminal_report_timestamp_seconds",
        "leo_terminal_component_info",
        "leo_terminal_receive_bytes_total",
        "leo_terminal_transmit_bytes_total",
        "leo_service_line_downlink_throughput_bytes_per_second",
        "leo_service_line_uplink_throughput_bytes_per_second",
    ):
        assert metric in used, f"no OneWeb panel for {metric}"
    # the variables give provider, account and terminal
    assert {"provider", "account", "terminal"} <= set(variables(d))


def test_data_usage_has_stacked_daily_bars_by_class() -> None:
    d = DASHBOARDS["leo-data-usage.json"]
    bars = [
        p
        for p in panels(d)
        if p["type"] == "timeseries" and p["fieldConfig"]["defaults"]["custom"]["drawStyle"] == "bars"
    ]
    assert bars
    for p in bars:
        assert p["fieldConfig"]["defaults"]["custom"]["stacking"]["mode"] == "normal"
        assert re.search(r"by \((\w+, )*class\)", p["targets"][0]["expr"]), f"{p['title']}: not split by class"
    daily = [p for p in bars if "daily_usage_bytes" in p["targets"][0]["expr"]]
    assert any(p.get("repeat") == "service_line" for p in daily), "no per-service-line daily bars"


def _usage_panel(title: str) -> dict[str, Any]:
    (panel,) = [p for p in panels(DASHBOARDS["leo-data-usage.json"]) if p["title"] == title]
    return panel


@pytest.mark.parametrize("title", ["Daily usage by plan type and class", "Usage this cycle by plan type and class"])
def test_usage_is_split_by_fixed_and_mobile_plans_and_class_as_stacked_bars(title: str) -> None:
    """The documents' stacked bars: usage per day or per cycle, fixed or mobile x priority or standard."""
    p = _usage_panel(title)
    custom = p["fieldConfig"]["defaults"]["custom"]
    assert custom["drawStyle"] == "bars" and custom["stacking"]["mode"] == "normal"
    (t,) = p["targets"]
    assert "sum by (plan, class)" in t["expr"] and t["legendFormat"] == "{{plan}} {{class}}"
    # the plan type comes from leo_service_line_info{mobile}: true is mobile, false fixed, none "not reported"
    for replace in ('"plan", "fixed", "mobile", "false"', '"plan", "mobile", "mobile", "true"'):
        assert replace in t["expr"]
    assert "leo_service_line_info" in t["expr"] and 'service_line=~"$service_line"' in t["expr"]


def test_billing_months_show_the_last_cycles_per_line_from_previous_cycles_and_history() -> None:
    p = _usage_panel("Billing months: $service_line")
    assert p["repeat"] == "service_line"  # per line; "All" is the group's lines (group_key/group_value)
    assert p["timeFrom"] == "95d"  # about three billing cycles
    exprs = [t["expr"] for t in p["targets"]]
    # the cycle to date (live or backfilled: the same series) and the provider's previous-cycle total
    assert "service_line:leo_service_line_usage_bytes:disjoint" in exprs[0]
    assert "leo_service_line_previous_cycle_usage_bytes" in exprs[1]
    assert "backfill-usage" in p["description"]


def test_data_blocks_sit_next_to_the_limit_they_raise() -> None:
    table = _usage_panel("Service lines this cycle")
    renamed = next(t["options"] for t in table["transformations"] if t["id"] == "organize")
    order = sorted(renamed["indexByName"], key=renamed["indexByName"].get)
    shown = [renamed["renameByName"].get(f, f) for f in order]
    limit = shown.index("Limit")
    assert shown[limit + 1 : limit + 4] == ["Recurring blocks", "Top-ups", "Overage opt-in"]
    used = set().union(*(metric_names(t["expr"]) for t in table["targets"]))
    assert {
        "leo_service_line_recurring_data_blocks",
        "leo_service_line_recurring_data_block_size_bytes",
        "leo_service_line_top_up_data_bytes",
        "leo_service_line_overage_opted_in",
    } <= used
    detail = _usage_panel("Data blocks and top-ups this cycle")
    used = set().union(*(metric_names(t["expr"]) for t in detail["targets"]))
    assert {"leo_service_line_top_up_data_blocks", "leo_service_line_usage_limit_bytes"} <= used
    pools = _usage_panel("Data pools")
    assert any("leo_data_pool_automatic_top_up_enabled" in t["expr"] for t in pools["targets"])


def test_the_usage_dashboard_keeps_its_group_variables() -> None:
    d = DASHBOARDS["leo-data-usage.json"]
    assert {"group_key", "group_value", "service_line"} <= set(variables(d))
    assert "$group_key" in variables(d)["service_line"]["query"]


def test_fleet_overview_has_a_geomap_coloured_by_state() -> None:
    d = DASHBOARDS["leo-fleet-overview.json"]
    (geomap,) = [p for p in panels(d) if p["type"] == "geomap"]
    layer = geomap["options"]["layers"][0]
    assert layer["config"]["style"]["color"]["field"] == "state"
    assert {"latitude", "longitude"} == {layer["location"]["latitude"], layer["location"]["longitude"]}


def test_provisioning_points_at_the_dashboards() -> None:
    dash = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "leo-exporter.yml").read_text())
    (provider,) = dash["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
    ds = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = ds["datasources"]
    assert source["type"] == "prometheus"
    # $__rate_interval needs to know the scrape interval of deploy/prometheus/prometheus.yml
    assert re.fullmatch(r"\d+s", source["jsonData"]["timeInterval"])


def _all_exprs() -> list[tuple[str, str]]:
    return [
        (f"{name} / {p['title']}", t["expr"]) for name, d in DASHBOARDS.items() for p in panels(d) for t in p["targets"]
    ]


def test_report_counters_use_windows_of_30_minutes_or_more() -> None:
    """OneWeb's traffic counters step once per quarter-hour report: a shorter window shows steps."""
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    for where, expr in _all_exprs():
        for m in re.finditer(r"leo_terminal_(?:receive|transmit)_bytes_total\{[^}]*\}\[([^\]]+)\]", expr):
            window = re.fullmatch(r"(\d+)([smhd])", m.group(1))
            assert window, f"{where}: {m.group(1)} is not a fixed window of at least 30m"
            assert int(window.group(1)) * seconds[window.group(2)] >= 1800, f"{where}: window {m.group(1)}"


def test_no_query_selects_a_provider() -> None:
    """Every dashboard serves Starlink, Kognitive and OneWeb alike: provider comes from the variable."""
    for where, expr in _all_exprs():
        for m in re.finditer(r'\bprovider\s*(=~|!~|=|!=)\s*"([^"]*)"', expr):
            assert m.group(2) == "$provider", f"{where}: selects provider {m.group(0)}"


def test_pool_remaining_and_entitlement_are_never_summed() -> None:
    """Remaining and entitlement of a shared pool repeat on every member: a sum counts the pool once per
    member. Dashboards and rules take them per bucket (max/min) or from the sub_pool:* rules."""
    pool_figures = {
        "leo_service_line_usage_remaining_bytes",
        "leo_service_line_usage_entitlement_bytes",
        "leo_service_line_usage_balance_bytes",
    }
    exprs = _all_exprs() + [(r.get("record") or r["alert"], r["expr"]) for r in rules()]
    for where, expr in exprs:
        if metric_names(expr) & pool_figures:
            assert not re.search(r"\bsum\s*(?:by|without)?\s*\(", expr), f"{where}: sums {pool_figures}"


# --------------------------------------------------------------------------- drill-down links


def _links(panel: dict[str, Any]) -> dict[str, list[str]]:
    """Data link URLs of a panel: by overridden field name, and under "" for the panel's defaults."""
    out: dict[str, list[str]] = {"": [link["url"] for link in panel["fieldConfig"]["defaults"].get("links", [])]}
    for override in panel["fieldConfig"].get("overrides", []):
        for prop in override["properties"]:
            if prop["id"] == "links":
                out.setdefault(override["matcher"]["options"], []).extend(link["url"] for link in prop["value"])
    return out


def _shown_columns(panel: dict[str, Any]) -> dict[str, str]:
    """field -> displayed name of a table's columns (organize's order, minus hidden, after renames)."""
    [organize] = [t["options"] for t in panel.get("transformations", []) if t["id"] == "organize"]
    hidden = {k for k, v in organize["excludeByName"].items() if v}
    return {f: organize["renameByName"].get(f, f) for f in organize["indexByName"] if f not in hidden}


def test_the_map_links_each_terminal_to_its_dashboard() -> None:
    (geomap,) = [p for p in panels(DASHBOARDS["leo-fleet-overview.json"]) if p["type"] == "geomap"]
    [url] = _links(geomap)[""]
    assert url.startswith("/d/leo-terminal-detail/") and "var-terminal=${__data.fields.terminal_id}" in url


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_terminal_and_service_line_column_drills_down(name: str) -> None:
    checked = 0
    for panel in panels(DASHBOARDS[name]):
        if panel["type"] != "table":
            continue
        columns, links = _shown_columns(panel), _links(panel)
        if "terminal_id" in columns:
            assert any("/d/leo-terminal-detail/" in u for u in links.get(columns["terminal_id"], [])), panel["title"]
            checked += 1
        if "service_line" in columns:
            urls = links.get(columns["service_line"], [])
            assert any("/d/leo-data-usage/" in u and "var-service_line=" in u for u in urls), panel["title"]
            checked += 1
    assert checked or name == "leo-exporter-health.json"


def test_drill_down_links_reach_existing_dashboards_and_variables() -> None:
    for name, dashboard in DASHBOARDS.items():
        for panel in panels(dashboard):
            for urls in _links(panel).values():
                for url in urls:
                    uid = re.match(r"/d/([\w-]+)/", url)
                    assert uid, url
                    target = DASHBOARDS[f"{uid.group(1)}.json"]
                    for var in re.findall(r"var-(\w+)=", url):
                        assert var in variables(target), f"{name}, {panel['title']}: {url} sets no variable {var}"


def test_bar_gauges_of_service_lines_drill_down() -> None:
    """A bar per service line (top consumers, usage against limit) opens that line's usage."""
    bars = [
        p
        for p in panels(DASHBOARDS["leo-data-usage.json"])
        if p["type"] == "bargauge" and any("{{service_line}}" in t["legendFormat"] for t in p["targets"])
    ]
    assert len(bars) == 4
    for p in bars:
        [url] = _links(p)[""]
        assert url.startswith("/d/leo-data-usage/") and "var-service_line=${__field.labels.service_line}" in url


# --------------------------------------------------------------------------- provider-specific rows


def _rows(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["title"]: p for p in dashboard["panels"] if p["type"] == "row"}


def test_oneweb_and_router_rows_start_collapsed_on_the_terminal_dashboard() -> None:
    """Grafana cannot hide a row that has no data (a repeat needs at least one value: Grafana's docs,
    grafana/grafana#23080), so the rows only some terminals fill start collapsed: they do not open
    empty for the others and run no queries until opened. Everything else starts open."""
    rows = _rows(DASHBOARDS["leo-terminal-detail.json"])
    collapsed = {title for title, row in rows.items() if row["collapsed"]}
    assert collapsed == {"OneWeb signal, traffic and product", "Router"}
    oneweb = rows["OneWeb signal, traffic and product"]["panels"]
    assert oneweb and all(ONEWEB_ONLY_MARK in p["description"] for p in oneweb)
    router = rows["Router"]["panels"]
    assert router and all(
        metric_names(t["expr"]) & {n for n in BY_NAME if n.startswith("leo_router_")}
        for p in router
        for t in p["targets"]
    )
    # no router or OneWeb-only panel outside them
    for p in panels(DASHBOARDS["leo-terminal-detail.json"]):
        if p in oneweb or p in router:
            continue
        assert ONEWEB_ONLY_MARK not in p.get("description", ""), p["title"]
        assert not any(m.startswith("leo_router_") for t in p["targets"] for m in metric_names(t["expr"])), p["title"]


# --------------------------------------------------------------------------- Grafana's schema


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dashboards_follow_the_grafana_schema(name: str) -> None:
    """Read back through the Grafana Foundation SDK's models, every dashboard comes out unchanged: no
    key the schema does not know, no value of the wrong shape. The one exception is the Prometheus
    options of annotations (step, title format, tag labels), which the SDK's annotation model lacks."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    original = DASHBOARDS[name]
    read_back = json.loads(json.dumps(Dashboard.from_json(original), cls=JSONEncoder))
    prometheus_options = {"step", "titleFormat", "tagKeys", "textFormat", "useValueForTime"}
    for annotation in original["annotations"]["list"]:
        annotation = {k: v for k, v in annotation.items() if k not in prometheus_options}
        assert annotation in read_back["annotations"]["list"]
    assert {**original, "annotations": None} == {**read_back, "annotations": None}
