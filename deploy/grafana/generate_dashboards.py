#!/usr/bin/env python3
"""Writes the leo-exporter Grafana dashboards to deploy/grafana/dashboards/*.json.

The dashboards are code, built with Grafana's own typed builder, the Grafana Foundation SDK
(`grafana-foundation-sdk`, pinned in pyproject's `dashboards` extra): panels, queries, variables
and links are the SDK's models, so the JSON follows Grafana's dashboard schema. Edit this file, then

    python deploy/grafana/generate_dashboards.py          # rewrite the JSON
    python deploy/grafana/generate_dashboards.py --check  # exit 1 if the JSON is out of date

Every panel queries the data source chosen by the `datasource` variable (no data source UIDs),
and every metric is either in leo_exporter/catalog.py or a recording rule of
deploy/prometheus/rules/leo-exporter.rules.yml (tests/test_dashboards.py holds both).
Panels whose series only OneWeb exposes say "OneWeb only" in their description; the demo simulates
Starlink, Kognitive and OneWeb, and tests/test_prometheus_e2e.py requires every query to return data.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import bargauge as bargauge_builder
from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.builders import geomap as geomap_builder
from grafana_foundation_sdk.builders import prometheus as prometheus_builder
from grafana_foundation_sdk.builders import stat as stat_builder
from grafana_foundation_sdk.builders import statetimeline as statetimeline_builder
from grafana_foundation_sdk.builders import table as table_builder
from grafana_foundation_sdk.builders import timeseries as timeseries_builder
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import geomap
from grafana_foundation_sdk.models import prometheus as pm

OUT = Path(__file__).resolve().parent / "dashboards"
DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
TAGS = ["leo-exporter"]
# Grafana 10.4's schema: the dashboards need 10.4 or later (cellOptions, showLegend); the SDK's
# 10.4 models default to an older number, which would make Grafana re-run migrations on load.
SCHEMA_VERSION = 39
ONEWEB_ONLY = "OneWeb only: Starlink and Kognitive have no such series, so this stays empty for them."
POOLS_OF_BOTH = "Starlink data pools (pre-release API) and OneWeb sub-pools; Kognitive reports none."
STARLINK_BILLING = (
    "Starlink (direct accounts) only: Kognitive and OneWeb report no overage lines, previous cycles "
    "or data pools, so this stays empty for them."
)
STARLINK_ONLY = (
    "Starlink telemetry (direct accounts): Kognitive passes on no telemetry and OneWeb reports "
    "link availability and signal instead, so this stays empty for their terminals."
)

Json = dict[str, Any]
Target = prometheus_builder.Dataquery
Override = dashboard_builder.DashboardFieldConfigSourceOverrides
Thresholds = dashboard_builder.ThresholdsConfig
# the panel builders the helpers below configure alike
AnyPanel = (
    stat_builder.Panel
    | timeseries_builder.Panel
    | table_builder.Panel
    | bargauge_builder.Panel
    | statetimeline_builder.Panel
    | geomap_builder.Panel
)


# --------------------------------------------------------------------------- building blocks


def target(expr: str, legend: str = "", *, instant: bool = False, table: bool = False) -> Target:
    t = prometheus_builder.Dataquery().datasource(DS).expr(expr).legend_format(legend or "__auto")
    t = t.instant() if instant else t.range()
    if table:
        t.format(pm.PromQueryFormat.TABLE)
    return t


def thresholds(*steps: tuple[float | None, str]) -> Thresholds:
    return (
        dashboard_builder.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=v, color=c) for v, c in steps])
    )


def green() -> Thresholds:
    return thresholds((None, "green"))


def value_map(values: dict[str, tuple[str, str | None]]) -> list[dm.ValueMapping]:
    """A value mapping: raw value -> (text, colour); the order gives Grafana's index."""
    options = {
        raw: dm.ValueMappingResult(text=text, color=color, index=i)
        for i, (raw, (text, color)) in enumerate(values.items())
    }
    return [dm.ValueMap(options=options)]


def color(mode: dm.FieldColorModeId) -> dashboard_builder.FieldColor:
    return dashboard_builder.FieldColor().mode(mode)


class Layout:
    """Places panels left to right on Grafana's 24-column grid, numbering them. A row that starts
    collapsed holds its panels (Grafana's schema); an open row is followed by them."""

    def __init__(self) -> None:
        self.items: list[AnyPanel | dashboard_builder.Row] = []
        self.row_builder: dashboard_builder.Row | None = None
        self.count = 0
        self.x = 0
        self.y = 0
        self.row_h = 0

    def add(self, panel: AnyPanel, w: int, h: int) -> AnyPanel:
        if self.x + w > 24:
            self.newline()
        self.count += 1
        panel.id(self.count).grid_pos(dm.GridPos(x=self.x, y=self.y, w=w, h=h))
        if self.row_builder is not None:
            self.row_builder.with_panel(panel)
        else:
            self.items.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)
        return panel

    def newline(self) -> None:
        self.y += self.row_h
        self.x = 0
        self.row_h = 0

    def row(self, title: str, *, collapsed: bool = False) -> None:
        self.newline()
        self.count += 1
        row = dashboard_builder.Row(title).id(self.count).collapsed(collapsed)
        row.grid_pos(dm.GridPos(x=0, y=self.y, w=24, h=1))
        self.items.append(row)
        self.row_builder = row if collapsed else None
        self.y += 1


def configure(
    p: AnyPanel,
    title: str,
    targets: list[Target],
    *,
    description: str = "",
    unit: str | None = None,
    steps: Thresholds | None = None,
    color_mode: dm.FieldColorModeId = dm.FieldColorModeId.PALETTE_CLASSIC,
    mappings: list[dm.ValueMapping] | None = None,
    overrides: list[Override] | None = None,
    transformations: list[dm.DataTransformerConfig] | None = None,
) -> AnyPanel:
    """What every panel shares: title, queries (refIds A, B, …), the data source variable, colours."""
    for ref, t in zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", targets, strict=False):
        t.ref_id(ref)
    p.title(title).description(description).datasource(DS).targets(targets)
    p.color_scheme(color(color_mode)).thresholds(steps or green())
    if unit:
        p.unit(unit)
    if mappings is not None:
        p.mappings(mappings)
    p.overrides(overrides or [])
    if transformations:
        p.transformations(transformations)
    return p


def stat(
    title: str,
    expr: str,
    *,
    unit: str = "short",
    description: str = "",
    legend: str = "",
    steps: Thresholds | None = None,
    mappings: list[dm.ValueMapping] | None = None,
    text_mode: str = "value",
    color_mode: str = "value",
) -> stat_builder.Panel:
    p = (
        stat_builder.Panel()
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False))
        .color_mode(cm.BigValueColorMode(color_mode))
        .graph_mode(cm.BigValueGraphMode.NONE)
        .text_mode(cm.BigValueTextMode(text_mode))
        .justify_mode(cm.BigValueJustifyMode.AUTO)
        .orientation(cm.VizOrientation.AUTO)
    )
    configure(
        p,
        title,
        [target(expr, legend, instant=True)],
        description=description,
        unit=unit,
        steps=steps,
        color_mode=dm.FieldColorModeId.THRESHOLDS,
        mappings=mappings or [],
    )
    return p


def timeseries(
    title: str,
    targets: list[Target],
    *,
    unit: str = "short",
    description: str = "",
    stack: bool = False,
    bars: bool = False,
    threshold: float | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    interval: str | None = None,
    overrides: list[Override] | None = None,
    repeat: str | None = None,
    time_from: str | None = None,
) -> timeseries_builder.Panel:
    p = (
        timeseries_builder.Panel()
        .draw_style(cm.GraphDrawStyle.BARS if bars else cm.GraphDrawStyle.LINE)
        .line_width(1)
        .fill_opacity(80 if bars else (30 if stack else 10))
        .show_points(cm.VisibilityMode.NEVER)
        .span_nulls(False)
        .stacking(
            common_builder.StackingConfig().mode(cm.StackingMode.NORMAL if stack else cm.StackingMode.NONE).group("A")
        )
        .axis_soft_min(0)
        .thresholds_style(
            common_builder.GraphThresholdsStyleConfig().mode(
                cm.GraphThresholdsStyleMode.OFF if threshold is None else cm.GraphThresholdsStyleMode.LINE_AND_AREA
            )
        )
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(cm.LegendDisplayMode.TABLE if len(targets) > 1 or stack else cm.LegendDisplayMode.LIST)
            .placement(cm.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["sum"] if bars else ["lastNotNull", "max"])
        )
        .tooltip(common_builder.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING))
    )
    steps = None if threshold is None else thresholds((None, "transparent"), (threshold, "red"))
    configure(p, title, targets, description=description, unit=unit, steps=steps, overrides=overrides)
    if minimum is not None:
        p.min(minimum)
    if maximum is not None:
        p.max(maximum)
    if interval:
        p.interval(interval)
    if repeat:
        p.repeat(repeat).repeat_direction("h").max_per_row(4)
    if time_from:
        p.time_from(time_from)
    return p


def state_timeline(
    title: str,
    targets: list[Target],
    *,
    steps: Thresholds,
    mappings: list[dm.ValueMapping],
    description: str = "",
    row_height: float = 0.8,
) -> statetimeline_builder.Panel:
    p = (
        statetimeline_builder.Panel()
        .fill_opacity(80)
        .line_width(0)
        .show_value(cm.VisibilityMode.NEVER)
        .merge_values(True)
        .row_height(row_height)
        .align_value(cm.TimelineValueAlignment.LEFT)
        .legend(
            common_builder.VizLegendOptions()
            .show_legend(False)
            .display_mode(cm.LegendDisplayMode.LIST)
            .placement(cm.LegendPlacement.BOTTOM)
        )
    )
    configure(
        p,
        title,
        targets,
        description=description,
        steps=steps,
        color_mode=dm.FieldColorModeId.THRESHOLDS,
        mappings=mappings,
    )
    return p


def bar_gauge(
    title: str,
    targets: list[Target],
    *,
    unit: str,
    description: str = "",
    steps: Thresholds | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    display: cm.BarGaugeDisplayMode = cm.BarGaugeDisplayMode.GRADIENT,
    links: list[dashboard_builder.DashboardLink] | None = None,
) -> bargauge_builder.Panel:
    p = (
        bargauge_builder.Panel()
        .orientation(cm.VizOrientation.HORIZONTAL)
        .display_mode(display)
        .show_unfilled(True)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False))
        .value_mode(cm.BarGaugeValueMode.COLOR)
        .name_placement(cm.BarGaugeNamePlacement.AUTO)
        .sizing(cm.BarGaugeSizing.AUTO)
        .min_viz_height(10)
        .min_viz_width(0)
        .max_viz_height(300)
    )
    configure(
        p,
        title,
        targets,
        description=description,
        unit=unit,
        steps=steps,
        color_mode=dm.FieldColorModeId.THRESHOLDS if steps else dm.FieldColorModeId.PALETTE_CLASSIC,
    )
    if minimum is not None:
        p.min(minimum)
    if maximum is not None:
        p.max(maximum)
    if links:
        p.data_links(links)
    return p


def table(
    title: str,
    targets: list[Target],
    *,
    description: str = "",
    rename: dict[str, str] | None = None,
    hide: list[str] | None = None,
    order: list[str] | None = None,
    overrides: list[Override] | None = None,
    sort_by: str | None = None,
    ascending: bool = False,
    unit: str | None = None,
) -> table_builder.Panel:
    """A table of instant queries merged on their labels. `order` names the columns as shown (after
    `rename`); Grafana's organize transformation orders by the fields' own names, so they are mapped back."""
    rename = rename or {}
    original = {shown: field for field, shown in rename.items()}
    fields = [original.get(name, name) for name in order or []]
    excluded = {"Time": True, "__name__": True, "instance": True, "job": True}
    for h in hide or []:
        excluded[h] = True
    transformations: list[dm.DataTransformerConfig] = []
    if len(targets) > 1:
        transformations.append(dm.DataTransformerConfig(id_val="merge", options={}))
    organize = {
        "excludeByName": excluded,
        "renameByName": rename,
        "indexByName": {name: i for i, name in enumerate(fields)},
    }
    transformations.append(dm.DataTransformerConfig(id_val="organize", options=organize))
    p = (
        table_builder.Panel()
        .align(cm.FieldTextAlignment.AUTO)
        .filterable(True)
        .show_header(True)
        .cell_height(cm.TableCellHeight.SM)
        .sort_by([common_builder.TableSortByFieldState().display_name(sort_by).desc(not ascending)] if sort_by else [])
    )
    linked = _drill_down_links(overrides or [], fields, excluded, rename)
    configure(p, title, targets, description=description, unit=unit, overrides=linked, transformations=transformations)
    return p


def _drill_down_links(overrides: list[Override], fields: list[str], excluded: Json, rename: Json) -> list[Override]:
    """Every table column of terminal ids links to the terminal dashboard, every column of service
    lines to the data usage dashboard filtered to that line (unless the table already links it)."""
    linked = {o.build().matcher.options for o in overrides if any(p.id_val == "links" for p in o.build().properties)}
    added = []
    for field, link in (("terminal_id", terminal_link), ("service_line", service_line_link)):
        shown = rename.get(field, field)
        if field in fields and not excluded.get(field) and shown not in linked:
            added.append(link(shown))
    return overrides + added


def override(matcher: str, options: str, props: dict[str, Any]) -> Override:
    """Field overrides; a property may be an SDK builder (thresholds) or plain JSON (cell options)."""
    values = [
        dm.DynamicConfigValue(id_val=k, value=v.build() if isinstance(v, Builder) else v) for k, v in props.items()
    ]
    return (
        dashboard_builder.DashboardFieldConfigSourceOverrides()
        .matcher(dm.MatcherConfig(id_val=matcher, options=options))
        .properties(values)
    )


def by_name(name: str, **props: Any) -> Override:
    return override("byName", name, props)


def by_regexp(pattern: str, **props: Any) -> Override:
    return override("byRegexp", pattern, props)


def fixed_color(name: str, fixed: str) -> Override:
    return by_name(name, color={"mode": "fixed", "fixedColor": fixed})


DASHED = {"fill": "dash", "dash": [10, 10]}
DOTTED = {"fill": "dot", "dash": [0, 10]}


def drill_down_url(uid: str, variable: str, value: str) -> str:
    """A link to another dashboard for the row's provider and account, keeping data source and time."""
    return (
        f"/d/{uid}/{uid}?${{datasource:queryparam}}"
        f"&var-provider=${{__data.fields.provider}}&var-account=${{__data.fields.account}}"
        f"&var-{variable}={value}&${{__url_time_range}}"
    )


TERMINAL_URL = drill_down_url("leo-terminal-detail", "terminal", "${__data.fields.terminal_id}")
SERVICE_LINE_URL = drill_down_url("leo-data-usage", "service_line", "${__data.fields.service_line}")
# bar gauges have no table rows: a bar is a series, its labels give provider, account and line
SERVICE_LINE_BAR_URL = (
    "/d/leo-data-usage/leo-data-usage?${datasource:queryparam}"
    "&var-provider=${__field.labels.provider}&var-account=${__field.labels.account}"
    "&var-service_line=${__field.labels.service_line}&${__url_time_range}"
)


def terminal_link(field: str = "terminal_id") -> Override:
    return by_name(field, links=[{"title": "Terminal detail", "url": TERMINAL_URL}])


def service_line_link(field: str = "service_line") -> Override:
    """Drill down from a service line to its usage: the data usage dashboard filtered to that line."""
    return by_name(field, links=[{"title": "Service line usage", "url": SERVICE_LINE_URL}])


def data_link(title: str, url: str) -> dashboard_builder.DashboardLink:
    return dashboard_builder.DashboardLink(title).type(dm.DashboardLinkType.LINK).url(url)


SERVICE_LINE_BAR_LINKS = [data_link("Service line usage", SERVICE_LINE_BAR_URL)]


def variable(
    name: str, label: str, query: str, *, multi: bool = True, hide: int = 0, regex: str = ""
) -> dashboard_builder.QueryVariable:
    v = (
        dashboard_builder.QueryVariable(name)
        .label(label)
        .datasource(DS)
        .query(query)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .hide(dm.VariableHide(hide))
        .multi(multi)
        .include_all(multi)
        .options([])
        .regex(regex)
    )
    if multi:
        v.all_value(".*").current(dm.VariableOption(selected=True, text=["All"], value=["$__all"]))
    return v


class _PrometheusAnnotationModel(dm.AnnotationQuery):
    """The SDK's annotation model has the query (`expr`) but not the Prometheus data source's own
    options (step, title format, tag labels): they are added to its JSON."""

    def __init__(self, prometheus: dict[str, object], **fields: Any) -> None:
        super().__init__(**fields)
        self.prometheus = prometheus

    def to_json(self) -> dict[str, object]:
        return {**super().to_json(), **self.prometheus}


class PrometheusAnnotation(Builder[dm.AnnotationQuery]):
    """An annotation from a Prometheus query, titled and tagged from the series' labels."""

    def __init__(self, name: str, expr: str, *, icon_color: str, step: str, title_format: str, tag_keys: str) -> None:
        options: dict[str, object] = {
            "step": step,
            "titleFormat": title_format,
            "tagKeys": tag_keys,
            "textFormat": "",
            "useValueForTime": False,
        }
        self.model = _PrometheusAnnotationModel(
            options, name=name, datasource=DS, enable=True, hide=False, icon_color=icon_color, expr=expr
        )

    def build(self) -> dm.AnnotationQuery:
        return self.model


BUILT_IN_ANNOTATIONS = (
    dashboard_builder.AnnotationQuery()
    .name("Annotations & Alerts")
    .datasource(dm.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
    .enable(True)
    .hide(True)
    .icon_color("rgba(0, 211, 255, 1)")
    .type("dashboard")
    .built_in(1)
)


def dashboard(
    uid: str,
    title: str,
    description: str,
    variables: list[dashboard_builder.QueryVariable],
    layout: Layout,
    *,
    time_from: str = "now-6h",
    refresh: str = "1m",
    annotations: list[PrometheusAnnotation] | None = None,
) -> dm.Dashboard:
    d = (
        dashboard_builder.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .editable()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .version(1)
        .time(time_from, "now")
        .timepicker(dashboard_builder.TimePicker())
        .timezone("utc")
        .refresh(refresh)
        .fiscal_year_start_month(0)
        .live_now(False)
        .week_start("")
        .link(
            dashboard_builder.DashboardLink("LEO dashboards")
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags(TAGS)
            .as_dropdown(True)
            .include_vars(False)
            .keep_time(True)
            .icon("external link")
            .target_blank(False)
            .tooltip("")
            .url("")
        )
        .annotations([BUILT_IN_ANNOTATIONS, *(annotations or [])])
        .variables(
            [dashboard_builder.DatasourceVariable("datasource").label("Data source").type("prometheus"), *variables]
        )
    )
    for item in layout.items:
        if isinstance(item, dashboard_builder.Row):
            d.with_row(item)
        else:
            d.with_panel(item)
    model = d.build()
    model.schema_version = SCHEMA_VERSION
    return model


STATE_MAPPINGS = value_map({"0": ("Offline", "red"), "1": ("Online", "green"), "2": ("Online, device alert", "orange")})
STATE_STEPS = thresholds((None, "red"), (1, "green"), (2, "orange"))


def terminal_map(title: str, targets: list[Target], *, description: str) -> geomap_builder.Panel:
    """Terminals as markers coloured by state (the first query), placed by the latitude and longitude
    queries; each marker's tooltip links to the terminal's dashboard."""
    markers = (
        common_builder.MapLayerOptions()
        .type("markers")
        .name("Terminals")
        .tooltip(True)
        .location(
            common_builder.FrameGeometrySource()
            .mode(cm.FrameGeometrySourceMode.COORDS)
            .latitude("latitude")
            .longitude("longitude")
        )
        .config(
            {
                "showLegend": True,
                "style": {
                    "color": {"field": "state", "fixed": "dark-green"},
                    "size": {"fixed": 6, "min": 4, "max": 12},
                    "opacity": 0.8,
                    "symbol": {"mode": "fixed", "fixed": "img/icons/marker/circle.svg"},
                },
            }
        )
    )
    p = (
        geomap_builder.Panel()
        .view(geomap_builder.MapViewConfig().id("fit").lat(0).lon(0).zoom(2).all_layers(True))
        .controls(geomap_builder.ControlsOptions().show_zoom(True).mouse_wheel_zoom(True).show_attribution(True))
        .basemap(common_builder.MapLayerOptions().type("default").name("Basemap").config({}))
        .tooltip(geomap_builder.TooltipOptions().mode(geomap.TooltipMode.DETAILS))
        .layers([markers])
        .data_links([data_link("Terminal detail", TERMINAL_URL)])
    )
    renamed = {"Value #A": "state", "Value #B": "latitude", "Value #C": "longitude"}
    organize = {"excludeByName": {"Time": True}, "renameByName": renamed}
    configure(
        p,
        title,
        targets,
        description=description,
        steps=STATE_STEPS,
        color_mode=dm.FieldColorModeId.THRESHOLDS,
        mappings=STATE_MAPPINGS,
        transformations=[
            dm.DataTransformerConfig(id_val="merge", options={}),
            dm.DataTransformerConfig(id_val="organize", options=organize),
        ],
    )
    return p


PA = 'provider=~"$provider",account=~"$account"'
JOIN_NAME = "* on (provider, account, terminal_id) group_left (name, service_line) terminal:leo_terminal_info:max"
# Groups (docs/dashboards.md, "Groups"): `group_key` is a label of the terminals' info or tags series
# (account, provider_account, organization, or tag_<key> from the config's tags) and `group_value`
# its chosen values; "All" keeps every terminal, tagged or not.
GROUP_SERIES = '{__name__=~"leo_terminal_info|leo_terminal_tags",$group_key=~"$group_value"}'
IN_GROUP = f"and on (provider, account, terminal_id) {GROUP_SERIES}"
LINE_IN_GROUP = (
    'and on (provider, account, service_line) {__name__=~"leo_service_line_info|leo_service_line_tags",'
    '$group_key=~"$group_value"}'
)
JOIN_NAME_IN_GROUP = f"{JOIN_NAME} {IN_GROUP}"


def group_variables() -> list[dashboard_builder.QueryVariable]:
    """`group_key` (one label) and `group_value` (its values), on every fleet dashboard."""
    return [
        variable(
            "group_key",
            "Group by",
            "label_names()",
            multi=False,
            regex="/^(account|provider_account|organization|tag_.+)$/",
        ),
        variable("group_value", "Group", 'label_values({__name__=~"leo_terminal_info|leo_terminal_tags"}, $group_key)'),
    ]


# --------------------------------------------------------------------------- fleet overview


def position(axis: str) -> str:
    """A terminal's last known latitude or longitude within a day; terminals without one of their own
    (Kognitive) take their service line's registered address."""
    return (
        f"max by (provider, account, terminal_id) (last_over_time(leo_terminal_{axis}_degrees{{{PA}}}[1d])) "
        f"or max by (provider, account, terminal_id) (terminal:leo_terminal_info:max{{{PA}}} "
        f"* on (provider, account, service_line) group_left () max by (provider, account, service_line) "
        f"(last_over_time(leo_service_line_{axis}_degrees{{{PA}}}[1d])))"
    )


def fleet_overview() -> dm.Dashboard:
    lay = Layout()
    lay.add(
        stat(
            "Terminals",
            f"count(max by (provider, account, terminal_id) (leo_terminal_online{{{PA}}}) {IN_GROUP}) or vector(0)",
            description="Terminals known from the providers' inventories.",
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Online",
            f"sum(max by (provider, account, terminal_id) (leo_terminal_online{{{PA}}}) {IN_GROUP}) or vector(0)",
            description="Starlink: telemetry within the last 3 minutes; Kognitive and OneWeb: as the provider reports.",
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Offline",
            f"count(max by (provider, account, terminal_id) (leo_terminal_online{{{PA}}}) == 0 {IN_GROUP}) "
            "or vector(0)",
            steps=thresholds((None, "green"), (1, "yellow")),
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Offline, service line active",
            f"count(terminal:leo_terminal_online:state{{{PA}}} == 0 and on (provider, account, terminal_id) "
            f"terminal:leo_service_line_active:max == 1 {IN_GROUP}) or vector(0)",
            description="Offline although their service line is active: the ones that need attention.",
            steps=thresholds((None, "green"), (1, "red")),
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "With device alerts",
            f"count(terminal:leo_terminal_online:state{{{PA}}} == 2 {IN_GROUP}) or vector(0)",
            steps=thresholds((None, "green"), (1, "orange")),
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Firing alerts",
            f'count(ALERTS{{alertstate="firing",alertname=~"Leo.+",{PA}}}) or vector(0)',
            description="Prometheus alerts from deploy/prometheus/rules (before Alertmanager's "
            "silences and inhibitions).",
            steps=thresholds((None, "green"), (1, "red")),
        ),
        4,
        4,
    )

    lay.row("Online and offline per provider and account")
    lay.add(
        table(
            "Terminals per account",
            [
                target(f"provider_account:leo_terminals:count{{{PA}}}", instant=True, table=True),
                target(f"provider_account:leo_terminals_online:sum{{{PA}}}", instant=True, table=True),
                target(f"provider_account:leo_terminals_offline:sum{{{PA}}}", instant=True, table=True),
                target(
                    f"provider_account:leo_terminals_offline_active_service_line:sum{{{PA}}}", instant=True, table=True
                ),
                target(f"provider_account:leo_terminals_alerting:sum{{{PA}}}", instant=True, table=True),
            ],
            description="`account` is the name the config gives the account; the provider's own accounts behind "
            "it are in the table Provider accounts.",
            rename={
                "Value #A": "Terminals",
                "Value #B": "Online",
                "Value #C": "Offline",
                "Value #D": "Offline (service line active)",
                "Value #E": "With device alerts",
            },
            order=["provider", "account"],
            overrides=[
                by_name(
                    "Offline (service line active)",
                    **{
                        "custom.cellOptions": {"type": "color-background"},
                        "thresholds": thresholds((None, "green"), (1, "red")),
                    },
                )
            ],
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Offline terminals with an active service line",
            [
                target(
                    f"provider_account:leo_terminals_offline_active_service_line:sum{{{PA}}}",
                    "{{provider}} {{account}}",
                )
            ],
            description="Per account; LeoTerminalOffline fires after 10 minutes offline.",
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Online terminals per provider",
            [
                target(f"sum by (provider) (provider_account:leo_terminals_online:sum{{{PA}}})", "{{provider}} online"),
                target(
                    f"sum by (provider) (provider_account:leo_terminals_offline:sum{{{PA}}})", "{{provider}} offline"
                ),
            ],
            stack=True,
        ),
        12,
        8,
    )
    lay.add(
        table(
            "Provider accounts",
            [
                target(
                    f"max by (provider, account, provider_account, provider_account_name) "
                    f'(leo_account_info{{{PA},provider_account!=""}})',
                    instant=True,
                    table=True,
                )
            ],
            description="The provider's own accounts behind each configured account: Starlink ACC-… and its name, "
            "every Starlink account a Kognitive key covers, the OneWeb distribution partner.",
            hide=["Value"],
            rename={"provider_account": "Provider account", "provider_account_name": "Provider account name"},
            order=["provider", "account", "provider_account", "provider_account_name"],
        ),
        12,
        8,
    )
    org = f"terminal:leo_terminal_organization:max{{{PA}}}"
    lay.add(
        table(
            "Terminals per customer",
            [
                target(
                    f"count by (provider, account, organization) ({org}) * on (provider, account, organization) "
                    f"group_left (customer) max by (provider, account, organization, customer) (label_replace("
                    f'leo_organization_info{{{PA}}}, "customer", "$1", "name", "(.*)"))',
                    instant=True,
                    table=True,
                ),
                target(
                    f"sum by (provider, account, organization) ({org} * on (provider, account, terminal_id) "
                    f"group_left () max by (provider, account, terminal_id) (leo_terminal_online))",
                    instant=True,
                    table=True,
                ),
                target(
                    f"sum by (provider, account, organization) ({org} * on (provider, account, terminal_id) "
                    f"group_left () (1 - max by (provider, account, terminal_id) (leo_terminal_online)))",
                    instant=True,
                    table=True,
                ),
                target(
                    f"sum by (provider, account, organization) ({org} * on (provider, account, terminal_id) "
                    f"group_left () ((1 - max by (provider, account, terminal_id) (leo_terminal_online)) "
                    f"* on (provider, account, terminal_id) terminal:leo_service_line_active:max))",
                    instant=True,
                    table=True,
                ),
            ],
            description=ONEWEB_ONLY + " Customers are the organizations that own the terminals' sites "
            "(leo_site_info), named from leo_organization_info.",
            rename={
                "customer": "Customer",
                "organization": "Organization",
                "Value #A": "Terminals",
                "Value #B": "Online",
                "Value #C": "Offline",
                "Value #D": "Offline (service line active)",
            },
            order=["customer", "organization", "provider", "account"],
            overrides=[
                by_name(
                    "Offline (service line active)",
                    **{
                        "custom.cellOptions": {"type": "color-background"},
                        "thresholds": thresholds((None, "green"), (1, "red")),
                    },
                )
            ],
            sort_by="Terminals",
        ),
        12,
        8,
    )

    lay.row("Map")
    lay.add(
        terminal_map(
            "Terminals by state",
            [
                target(f"terminal:leo_terminal_online:state{{{PA}}} {JOIN_NAME_IN_GROUP}", instant=True, table=True),
                target(f"({position('latitude')}) {IN_GROUP}", instant=True, table=True),
                target(f"({position('longitude')}) {IN_GROUP}", instant=True, table=True),
            ],
            description="Last known position within a day (offline terminals keep theirs). Green online, "
            "orange online with a device alert, red offline. Starlink positions are the centre of "
            "the terminal's H3 cell, not its exact location; OneWeb reports the terminal's location; "
            "Kognitive terminals without a position of their own are drawn at their service line's "
            "registered address.",
        ),
        14,
        12,
    )
    lay.add(
        table(
            "Offline terminals with an active service line",
            [
                target(
                    f"(max by (provider, account, terminal_id) (leo_terminal_online{{{PA}}}) == 0 "
                    "and on (provider, account, terminal_id) terminal:leo_service_line_active:max == 1) "
                    f"{JOIN_NAME_IN_GROUP}",
                    instant=True,
                    table=True,
                )
            ],
            hide=["Value"],
            order=["name", "terminal_id", "service_line", "provider", "account"],
            overrides=[terminal_link()],
        ),
        10,
        12,
    )

    lay.row("Worst terminals over the time range")
    for title, metric, unit, label in [
        ("Highest PoP latency", "leo_terminal_pop_ping_latency_seconds", "s", "Mean latency"),
        ("Highest ping drop", "leo_terminal_pop_ping_drop_ratio", "percentunit", "Mean drop"),
        ("Most obstructed", "leo_terminal_obstruction_ratio", "percentunit", "Mean obstruction"),
    ]:
        lay.add(
            table(
                title,
                [
                    target(
                        f"topk(10, max by (provider, account, terminal_id) "
                        f"(avg_over_time({metric}{{{PA}}}[$__range])) {JOIN_NAME_IN_GROUP})",
                        instant=True,
                        table=True,
                    )
                ],
                description=f"Ten worst terminals by mean {metric} over the dashboard's time range. " + STARLINK_ONLY,
                rename={"Value": label},
                order=["name", "terminal_id", label],
                overrides=[
                    terminal_link(),
                    by_name(
                        label, unit=unit, **{"custom.cellOptions": {"type": "color-background", "mode": "gradient"}}
                    ),
                ],
                sort_by=label,
            ),
            6,
            9,
        )
    lay.add(
        table(
            "Lowest link availability",
            [
                target(
                    f"bottomk(10, max by (provider, account, terminal_id) "
                    f"(avg_over_time(leo_terminal_link_availability_ratio{{{PA}}}[$__range])) {JOIN_NAME_IN_GROUP})",
                    instant=True,
                    table=True,
                )
            ],
            description="Ten worst terminals by mean link availability over the dashboard's time range. " + ONEWEB_ONLY,
            rename={"Value": "Mean availability"},
            order=["name", "terminal_id", "Mean availability"],
            overrides=[
                terminal_link(),
                by_name(
                    "Mean availability",
                    unit="percentunit",
                    **{"custom.cellOptions": {"type": "color-background", "mode": "gradient"}},
                ),
            ],
            sort_by="Mean availability",
            ascending=True,
        ),
        6,
        9,
    )

    lay.row("Alerts")
    lay.add(
        table(
            "Firing alerts",
            [target(f'ALERTS{{alertstate="firing",alertname=~"Leo.+",{PA}}}', instant=True, table=True)],
            description="Prometheus alerts of deploy/prometheus/rules, before Alertmanager's silences and "
            "inhibitions. Thresholds: docs/alerting.md.",
            hide=["Value", "alertstate"],
            order=[
                "severity",
                "alertname",
                "provider",
                "account",
                "name",
                "terminal_id",
                "service_line",
                "sub_pool",
                "alert",
            ],
            overrides=[
                by_name(
                    "severity",
                    **{
                        "custom.cellOptions": {"type": "color-text"},
                        "mappings": [
                            {
                                "type": "value",
                                "options": {
                                    "critical": {"color": "red", "index": 0},
                                    "warning": {"color": "orange", "index": 1},
                                    "info": {"color": "blue", "index": 2},
                                },
                            }
                        ],
                    },
                )
            ],
        ),
        14,
        9,
    )
    lay.add(
        table(
            "Device alerts active on terminals",
            [target(f"leo_terminal_alert{{{PA}}} {JOIN_NAME_IN_GROUP}", instant=True, table=True)],
            description="Alerts the terminals report themselves (Starlink alert names; Kognitive and OneWeb "
            "report none). software_update_reboot_pending is reported falsely by firmware 2025.06.05 "
            "and later.",
            hide=["Value"],
            order=["alert", "name", "terminal_id", "provider", "account", "service_line"],
            overrides=[terminal_link()],
        ),
        10,
        9,
    )
    lay.add(
        timeseries(
            "Device alerts by name",
            [target(f"count by (alert) (leo_terminal_alert{{{PA}}})", "{{alert}}")],
            stack=True,
            description="Terminals reporting each device alert.",
        ),
        24,
        7,
    )

    return dashboard(
        "leo-fleet-overview",
        "LEO fleet overview",
        "Online/offline terminals per provider and account, map, worst terminals and active alerts.",
        [
            variable("provider", "Provider", "label_values(leo_terminal_info, provider)"),
            variable("account", "Account", 'label_values(leo_terminal_info{provider=~"$provider"}, account)'),
            *group_variables(),
        ],
        lay,
    )


# --------------------------------------------------------------------------- terminal detail

T = 'provider="$provider",account="$account",terminal_id="$terminal"'
R = 'provider="$provider",account="$account"'
ROUTER_OF_TERMINAL = f"and on (provider, account, router_id) leo_router_info{{{T}}}"
SL_OF_TERMINAL = f"and on (provider, account, service_line) terminal:leo_terminal_info:max{{{T}}}"


def terminal_detail() -> dm.Dashboard:
    lay = Layout()
    lay.add(
        stat(
            "Terminal",
            f"terminal:leo_terminal_info:max{{{T}}}",
            legend="{{name}}",
            text_mode="name",
            description="Name the provider knows the terminal by.",
        ),
        5,
        4,
    )
    lay.add(
        stat(
            "State",
            f"terminal:leo_terminal_online:state{{{T}}}",
            steps=STATE_STEPS,
            mappings=STATE_MAPPINGS,
            color_mode="background",
        ),
        4,
        4,
    )
    lay.add(stat("Uptime", f"leo_terminal_uptime_seconds{{{T}}}", unit="dtdurations"), 4, 4)
    lay.add(
        stat(
            "Last seen",
            f"time() - leo_terminal_last_seen_timestamp_seconds{{{T}}}",
            unit="s",
            description="Starlink: age of the newest telemetry (device time); a terminal is offline after "
            "3 minutes without it. OneWeb: since the provider last saw the terminal "
            "(lastSeenDate). Kognitive reports no such time.",
            steps=thresholds((None, "green"), (60, "yellow"), (180, "red")),
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Active device alerts",
            f"leo_terminal_active_alerts{{{T}}}",
            steps=thresholds((None, "green"), (1, "orange")),
        ),
        3,
        4,
    )
    lay.add(
        stat(
            "Service line active",
            f"terminal:leo_service_line_active:max{{{T}}}",
            mappings=value_map({"0": ("No", "red"), "1": ("Yes", "green")}),
            steps=thresholds((None, "red"), (1, "green")),
        ),
        4,
        4,
    )
    lay.add(
        table(
            "Attributes",
            [target(f"leo_terminal_info{{{T}}}", instant=True, table=True)],
            description="What the provider knows about the terminal: Starlink kit and dish serials; the provider's "
            "own account (provider_account: Starlink ACC-…, the OneWeb partner); OneWeb serial, IMSI, "
            "manufacturer, hardware, site.",
            hide=["Value"],
            order=[
                "name",
                "terminal_id",
                "service_line",
                "kit_serial",
                "serial",
                "software_version",
                "provider_account",
                "manufacturer",
                "hardware_version",
                "site",
            ],
        ),
        16,
        4,
    )
    lay.add(
        table(
            "Public addresses",
            [target(f"leo_terminal_ip_info{{{T}}}", instant=True, table=True)],
            description="Public IPv4 addresses and IPv6 prefixes currently allocated to the terminal, where the "
            "provider reports them.",
            hide=["Value", "provider", "account", "terminal_id"],
        ),
        8,
        4,
    )

    lay.row("Link")
    lay.add(
        timeseries(
            "Throughput",
            [
                target(f"leo_terminal_downlink_throughput_bytes_per_second{{{T}}}", "downlink"),
                target(f"leo_terminal_uplink_throughput_bytes_per_second{{{T}}}", "uplink"),
            ],
            unit="Bps",
            description=STARLINK_ONLY,
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "PoP ping latency",
            [target(f"leo_terminal_pop_ping_latency_seconds{{{T}}}", "latency")],
            unit="s",
            threshold=0.1,
            description="Mean over each 15 s report. LeoTerminalPopLatencyHigh: 10-minute mean "
            "above 100 ms for 10 minutes. " + STARLINK_ONLY,
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "PoP ping drop",
            [target(f"leo_terminal_pop_ping_drop_ratio{{{T}}}", "drop")],
            unit="percentunit",
            threshold=0.05,
            minimum=0,
            description="LeoTerminalPingDropHigh: 10-minute mean above 5% for 10 minutes. " + STARLINK_ONLY,
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Obstruction",
            [target(f"leo_terminal_obstruction_ratio{{{T}}}", "obstructed")],
            unit="percentunit",
            threshold=0.01,
            minimum=0,
            description="Share of time the sky view was obstructed. LeoTerminalObstructionHigh: "
            "15-minute mean above 1% for 15 minutes. " + STARLINK_ONLY,
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Signal quality",
            [target(f"leo_terminal_signal_quality_ratio{{{T}}}", "signal")],
            unit="percentunit",
            minimum=0,
            maximum=1,
            description="Starlink maps 0-10 dB of SNR to 0-100%. LeoTerminalSignalQualityLow: "
            "15-minute mean below 50% for 15 minutes. " + STARLINK_ONLY,
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Uptime",
            [target(f"leo_terminal_uptime_seconds{{{T}}}", "uptime")],
            unit="dtdurations",
            description="Drops to zero are reboots. " + STARLINK_ONLY,
        ),
        12,
        7,
    )
    lay.add(
        state_timeline(
            "Online state",
            [target(f"terminal:leo_terminal_online:state{{{T}}}", "state")],
            steps=STATE_STEPS,
            mappings=STATE_MAPPINGS,
            row_height=0.9,
        ),
        12,
        7,
    )

    lay.row("OneWeb signal, traffic and product", collapsed=True)
    lay.add(
        stat(
            "Data as of",
            f"leo_terminal_report_timestamp_seconds{{{T}}} * 1000",
            unit="dateTimeFromNow",
            legend="{{report}}",
            text_mode="value_and_name",
            description=ONEWEB_ONLY + " The time each kind of performance report refers to (never the time "
            "it was fetched). OneWeb reports quarter-hours, 20-45 minutes late; "
            "LeoTerminalReportsStale fires when the newest is over 2 hours old.",
        ),
        8,
        4,
    )
    lay.add(
        stat(
            "Product data as of",
            f"leo_service_line_report_timestamp_seconds{{{R}}} * 1000 {SL_OF_TERMINAL}",
            unit="dateTimeFromNow",
            legend="{{report}}",
            text_mode="value_and_name",
            description=ONEWEB_ONLY + " The time the newest performance report of the terminal's product "
            "(service line) refers to.",
        ),
        4,
        4,
    )
    lay.add(
        table(
            "Components",
            [target(f"leo_terminal_component_info{{{T}}}", instant=True, table=True)],
            description=ONEWEB_ONLY + " Hardware and software components of the terminal and their versions.",
            hide=["Value", "provider", "account", "terminal_id"],
            order=["component", "partition", "version"],
        ),
        12,
        4,
    )
    for title, metric, unit in [
        ("Link availability", "leo_terminal_link_availability_ratio", "percentunit"),
        ("SINR", "leo_terminal_sinr_decibels", "dB"),
        ("RSRP", "leo_terminal_rsrp_dbm", "dBm"),
        ("RSSI", "leo_terminal_rssi_dbm", "dBm"),
    ]:
        lay.add(
            timeseries(
                title,
                [target(f"{metric}{{{T}}}", title)],
                unit=unit,
                description=ONEWEB_ONLY + " One value per report period; it holds until the next report arrives.",
            ),
            6,
            7,
        )
    lay.add(
        timeseries(
            "Traffic per hour by type",
            [
                target(
                    f'increase(leo_terminal_receive_bytes_total{{{T},traffic=~"cnx|mgmt|wan"}}[1h])',
                    "{{traffic}} receive",
                ),
                target(
                    f'increase(leo_terminal_transmit_bytes_total{{{T},traffic=~"cnx|mgmt|wan"}}[1h])',
                    "{{traffic}} transmit",
                ),
            ],
            unit="decbytes",
            description=ONEWEB_ONLY + " Bytes over the last hour by traffic type (cnx: user traffic, "
            "mgmt: management, wan). The counters step once per quarter-hour "
            "report, so shorter windows would show steps, not traffic.",
        ),
        12,
        7,
    )
    lay.add(
        timeseries(
            "Report age",
            [target(f"time() - leo_terminal_report_timestamp_seconds{{{T}}}", "{{report}}")],
            unit="s",
            threshold=7200,
            description=ONEWEB_ONLY + " Age of the newest report of each kind: a sawtooth between about 20 and 45 "
            "minutes when healthy. LeoTerminalReportsStale: over 2 hours for an online "
            "terminal.",
        ),
        12,
        7,
    )
    for direction in ("downlink", "uplink"):
        lay.add(
            timeseries(
                f"Product {direction} by class",
                [
                    target(
                        f"leo_service_line_{direction}_throughput_bytes_per_second{{{R}}} {SL_OF_TERMINAL}", "{{class}}"
                    ),
                    target(
                        f"leo_service_line_max_{direction}_throughput_bytes_per_second{{{R}}} {SL_OF_TERMINAL}",
                        "plan maximum",
                    ),
                ],
                unit="Bps",
                stack=True,
                description=ONEWEB_ONLY + f" {direction.capitalize()} throughput of the terminal's product by traffic "
                "class (expedited forwarding, assured forwarding, best effort), stacked, "
                "averaged over each report period; the dashed line is the plan's maximum.",
                overrides=[
                    by_name(
                        "plan maximum",
                        **{
                            "custom.stacking": {"mode": "none", "group": "A"},
                            "custom.fillOpacity": 0,
                            "custom.lineStyle": {"fill": "dash", "dash": [10, 10]},
                        },
                    )
                ],
            ),
            12,
            7,
        )

    lay.row("Alerts")
    lay.add(
        state_timeline(
            "Device alert timeline",
            [target(f"leo_terminal_alert{{{T}}}", "{{alert}}")],
            description="One row per alert the terminal reported during the time range.",
            steps=thresholds((None, "red")),
            mappings=value_map({"1": ("active", "red")}),
        ),
        14,
        8,
    )
    lay.add(
        table(
            "Prometheus alerts for this terminal",
            [target(f'ALERTS{{alertname=~"Leo.+",{T}}}', instant=True, table=True)],
            hide=["Value", "provider", "account", "terminal_id", "name", "service_line"],
            order=["alertstate", "severity", "alertname", "alert"],
        ),
        10,
        8,
    )

    lay.row("Service line")
    lay.add(
        table(
            "Service line",
            [
                target(f"leo_service_line_info{{{R}}} {SL_OF_TERMINAL}", instant=True, table=True),
                target(
                    f"max by (provider, account, service_line) (leo_service_line_active{{{R}}}) {SL_OF_TERMINAL}",
                    instant=True,
                    table=True,
                ),
            ],
            description="The terminal's service line: plan (product), Kognitive's Starlink account, subscription "
            "status and service address, OneWeb's site, customer and service grade.",
            hide=["Value #A", "provider", "account"],
            rename={"Value #B": "Active"},
            order=["service_line", "name", "product", "Active"],
            overrides=[
                by_name(
                    "Active",
                    **{
                        "custom.cellOptions": {"type": "color-background"},
                        "thresholds": thresholds((None, "red"), (1, "green")),
                        "mappings": [
                            {
                                "type": "value",
                                "options": {"0": {"text": "no", "index": 0}, "1": {"text": "yes", "index": 1}},
                            }
                        ],
                    },
                )
            ],
        ),
        24,
        4,
    )
    lay.add(
        timeseries(
            "Service line usage this billing cycle",
            [
                target(
                    f"service_line:leo_service_line_usage_bytes:counted{{{R}}} {SL_OF_TERMINAL}",
                    "{{service_line}} counted",
                ),
                target(f"leo_service_line_usage_limit_bytes{{{R}}} {SL_OF_TERMINAL}", "{{service_line}} limit"),
                target(
                    f"service_line:leo_service_line_usage_bytes:forecast_cycle_end{{{R}}} {SL_OF_TERMINAL}",
                    "{{service_line}} forecast at cycle end",
                ),
                target(
                    f"leo_service_line_usage_remaining_bytes{{{R}}} {SL_OF_TERMINAL}",
                    "{{service_line}} {{class}} remaining",
                ),
            ],
            unit="decbytes",
            description="Usage counted against the plan limit (priority data on Starlink and "
            "Kognitive, every billable bucket on OneWeb). OneWeb also reports what is left "
            "of each bucket; for a product in a shared pool that is the pool's, and the "
            "product has no limit of its own. Details on the LEO data usage dashboard.",
            overrides=[by_regexp(".* limit", **{"custom.lineStyle": DASHED})],
        ),
        24,
        7,
    )

    lay.row("Router", collapsed=True)
    lay.add(
        table(
            "Router",
            [
                target(f"leo_router_info{{{T}}}", instant=True, table=True),
                target(f"leo_router_online{{{R}}} {ROUTER_OF_TERMINAL}", instant=True, table=True),
                target(f"leo_router_uptime_seconds{{{R}}} {ROUTER_OF_TERMINAL}", instant=True, table=True),
            ],
            description="Starlink routers report which terminal they hang off; other providers have no routers.",
            hide=["Value #A"],
            rename={"Value #B": "Online", "Value #C": "Uptime"},
            order=["router_id", "name", "software_version", "hardware_version", "Online", "Uptime"],
            overrides=[by_name("Uptime", unit="dtdurations")],
        ),
        24,
        4,
    )
    lay.add(
        timeseries(
            "Router clients", [target(f"leo_router_clients{{{R}}} {ROUTER_OF_TERMINAL}", "{{band}}")], stack=False
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Router ping latency",
            [target(f"leo_router_ping_latency_seconds{{{R}}} {ROUTER_OF_TERMINAL}", "{{target}}")],
            unit="s",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Router ping drop",
            [target(f"leo_router_ping_drop_ratio{{{R}}} {ROUTER_OF_TERMINAL}", "{{target}}")],
            unit="percentunit",
            minimum=0,
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Router WAN traffic",
            [
                target(
                    f"rate(leo_router_wan_receive_bytes_total{{{R}}}[$__rate_interval]) {ROUTER_OF_TERMINAL}", "receive"
                ),
                target(
                    f"rate(leo_router_wan_transmit_bytes_total{{{R}}}[$__rate_interval]) {ROUTER_OF_TERMINAL}",
                    "transmit",
                ),
            ],
            unit="Bps",
        ),
        24,
        7,
    )
    lay.add(
        timeseries(
            "Router Wi-Fi client link rates",
            [
                target(
                    f'leo_router_wifi_client_receive_rate_bytes_per_second{{{R},stat="avg"}} {ROUTER_OF_TERMINAL}',
                    "receive {{band}}",
                ),
                target(
                    f'leo_router_wifi_client_transmit_rate_bytes_per_second{{{R},stat="avg"}} {ROUTER_OF_TERMINAL}',
                    "transmit {{band}}",
                ),
            ],
            unit="Bps",
            description="Average link rate of the router's Wi-Fi clients per band (min and max are "
            "exported too); empty while no client is connected, and unless the exporter runs with "
            "--collector.router_wifi (off by default since issue 29: 18 series a router).",
        ),
        12,
        7,
    )
    lay.add(
        timeseries(
            "Router Wi-Fi client signal",
            [target(f"leo_router_wifi_client_signal_strength_dbm{{{R}}} {ROUTER_OF_TERMINAL}", "{{band}} {{stat}}")],
            unit="dBm",
            description="Signal strength of the router's Wi-Fi clients per band: min, avg and max. "
            "Needs --collector.router_wifi (off by default).",
        ),
        12,
        7,
    )

    ip_changed = PrometheusAnnotation(
        "IP allocation changed",
        f'ALERTS{{alertname="LeoTerminalIpAllocationChanged",alertstate="firing",{T}}}',
        icon_color="blue",
        step="1m",
        title_format="Public {{kind}} allocation changed",
        tag_keys="kind",
    )
    return dashboard(
        "leo-terminal-detail",
        "LEO terminal detail",
        "One terminal of any provider: state, Starlink link performance and router, OneWeb signal, traffic and "
        "product throughput, alerts and its service line.",
        [
            variable("provider", "Provider", "label_values(leo_terminal_info, provider)", multi=False),
            variable(
                "account", "Account", 'label_values(leo_terminal_info{provider="$provider"}, account)', multi=False
            ),
            # shows terminal names (the id where the provider has none), selects terminal ids (what alert
            # links pass as var-terminal)
            variable(
                "terminal",
                "Terminal",
                'query_result(terminal:leo_terminal_info:max{provider="$provider",account="$account",name!=""} '
                'or label_replace(terminal:leo_terminal_info:max{provider="$provider",account="$account",name=""}, '
                '"name", "$1", "terminal_id", "(.*)"))',
                multi=False,
                regex='/name="(?<text>[^"]*)".*terminal_id="(?<value>[^"]*)"/',
            ),
        ],
        lay,
        time_from="now-6h",
        refresh="30s",
        annotations=[ip_changed],
    )


# --------------------------------------------------------------------------- data usage

U = 'provider=~"$provider",account=~"$account",service_line=~"$service_line"'
PRIORITY = ',class="priority"'
SL_NAME = (
    "* on (provider, account, service_line) group_left (name) "
    "max by (provider, account, service_line, name) (leo_service_line_info)"
)
CLASS_COLORS = [
    by_name("priority", color={"mode": "fixed", "fixedColor": "blue"}),
    by_name("opt_in_priority", color={"mode": "fixed", "fixedColor": "purple"}),
    by_name("standard", color={"mode": "fixed", "fixedColor": "green"}),
    by_name("non_billable", color={"mode": "fixed", "fixedColor": "text"}),
    by_name("monthly_data", color={"mode": "fixed", "fixedColor": "orange"}),
    by_name("shared_pool_data", color={"mode": "fixed", "fixedColor": "yellow"}),
]
PLAN_CLASS_COLORS = [
    by_regexp(f"^{plan} {cls}$", color={"mode": "fixed", "fixedColor": shade})
    for plan, palette in (
        ("fixed", {"priority": "dark-blue", "opt_in_priority": "dark-purple", "standard": "dark-green"}),
        ("mobile", {"priority": "light-blue", "opt_in_priority": "light-purple", "standard": "light-green"}),
    )
    for cls, shade in palette.items()
]
DAILY_DESC = (
    "Stacked by class. Classes do not overlap here: priority is the plan's priority data and "
    "opt_in_priority the priority data bought beyond it. Starlink and Kognitive: each bar is the newest "
    "day the provider had reported by the end of that day (usage is reported about a day late). "
    "OneWeb reports no daily figures: its bars (bucket classes such as monthly_data) are how much the "
    "cycle's usage grew that day."
)
# Providers without daily figures (OneWeb): the day's growth of the cycle usage, or on the day the cycle
# resets (usage falls) the usage since the reset.
_CYCLE = "last_over_time(service_line:leo_service_line_usage_bytes:disjoint{%s}[$__interval]%s)"
DAILY_FROM_CYCLE = (
    f"sum by (class) (((({_CYCLE % (U, '')} - {_CYCLE % (U, ' offset $__interval')}) >= 0) "
    f"or ({_CYCLE % (U, '')} < {_CYCLE % (U, ' offset $__interval')})) "
    f"unless on (provider, account, service_line) leo_service_line_daily_usage_bytes)"
)
# Each selected line's plan type as a `plan` label, from leo_service_line_info{mobile} (Starlink's
# servicePlan.isMobilePlan): fixed, mobile, or "not reported" (Kognitive and OneWeb say neither).
PLAN_TYPE = (
    "label_replace(label_replace(label_replace(max by (provider, account, service_line, mobile) "
    f'(leo_service_line_info{{{U}}}), "plan", "fixed", "mobile", "false"), "plan", "mobile", "mobile", "true"), '
    '"plan", "not reported", "mobile", "")'
)
BY_PLAN = f"* on (provider, account, service_line) group_left (plan) {PLAN_TYPE}"
PLAN_DESC = (
    "Stacked by plan type and class, as the providers' documents show usage: fixed or mobile (Starlink's "
    "servicePlan.isMobilePlan, on leo_service_line_info{mobile}) by priority, opt-in priority, standard and "
    "non-billable (classes do not overlap here). 'not reported': Kognitive and OneWeb lines, whose providers "
    "do not say."
)
BILLING_MONTHS_DESC = (
    "The last billing cycles of the line, by class (classes do not overlap): bars are each day's usage of the "
    "cycle to date, so each tooth is one billing month and its top the month's total; the dashed line is the "
    "provider's total of the cycle before the current one (leo_service_line_previous_cycle_usage_bytes, Starlink "
    "and Kognitive). Days before the exporter ran appear once backfilled (leo-exporter backfill-usage, README "
    "'Usage history (backfill)'), with the provider's cycle total on each cycle's last day."
)
BLOCKS_DESC = (
    "Starlink (direct accounts): data blocks raise the line's limit. Recurring: blocks the plan adds every "
    "cycle (count by data each); top-ups: blocks bought for this cycle, by hand (one_time, e.g. "
    "leo-exporter starlink-top-up) or automatically when the line ran out of data while opted in (opt_in). "
    "Kognitive and OneWeb report none."
)
YES_NO = value_map({"0": ("no", None), "1": ("yes", "orange")})
POOL = 'provider=~"$provider",account=~"$account"'
# pools with a member among the selected service lines
POOL_OF_SELECTION = f'and on (provider, account, sub_pool) leo_service_line_usage_bucket_info{{{U},sub_pool!=""}}'


def data_usage() -> dm.Dashboard:
    lay = Layout()
    lay.add(
        stat(
            "Used this cycle",
            f"sum(service_line:leo_service_line_usage_bytes:sum{{{U}}})",
            unit="decbytes",
            description="All classes, selected service lines, current billing cycles. A line whose provider has "
            "not yet reported its running cycle is not counted (see 'Awaiting this cycle's report').",
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Counted against limits",
            f"sum(service_line:leo_service_line_usage_bytes:counted{{{U}}})",
            unit="decbytes",
            description="Priority data on Starlink and Kognitive plans; every billable bucket on OneWeb.",
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Above 90% of limit",
            f"count(service_line:leo_service_line_usage_limit:ratio{{{U}}} > 0.9) or vector(0)",
            steps=thresholds((None, "green"), (1, "orange")),
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Forecast to exceed limit",
            f"count(service_line:leo_service_line_usage_bytes:forecast_cycle_end{{{U}}} > on (provider, account, "
            f"service_line) max by (provider, account, service_line) "
            f"(leo_service_line_usage_limit_bytes{{{U}}})) or vector(0)",
            steps=thresholds((None, "green"), (1, "orange")),
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Shared pools below 10% left",
            f"count(sub_pool:leo_service_line_usage_remaining:ratio{{{POOL}}} < 0.1 {POOL_OF_SELECTION}) or vector(0)",
            description="Shared usage pools (OneWeb sub-pools) with a selected service line and less than 10% "
            "of their entitlement left (LeoUsagePoolLow).",
            steps=thresholds((None, "green"), (1, "orange")),
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Usage data age",
            f"time() - max(leo_service_line_usage_updated_timestamp_seconds{{{U}}})",
            unit="s",
            description="Since the provider last refreshed usage (the newest refresh of the selection).",
            steps=thresholds((None, "green"), (129600, "yellow"), (259200, "red")),
        ),
        4,
        4,
    )

    lay.add(
        stat(
            "Awaiting this cycle's report",
            f"count(max by (provider, account, service_line) (leo_service_line_previous_cycle_usage_bytes{{{U}}}) "
            f"unless on (provider, account, service_line) leo_service_line_usage_bytes) or vector(0)",
            description="Service lines whose newest usage report still belongs to a billing cycle that has "
            "ended (OneWeb's reports lag: at a cycle's first hours it is still last month's). Their usage this "
            "cycle is absent, not zero, until the provider reports the running cycle; last cycle's figures "
            "are in the previous-cycle series and the billing months panels.",
            steps=thresholds((None, "green"), (1, "blue")),
        ),
        4,
        4,
    )

    lay.row("Daily usage")
    lay.add(
        timeseries(
            "Daily usage by class, selected service lines",
            [
                target(
                    f"sum by (class) (last_over_time(service_line:leo_service_line_daily_usage_bytes:disjoint{{{U}}}"
                    f"[$__interval]))",
                    "{{class}}",
                ),
                target(DAILY_FROM_CYCLE, "{{class}}"),
            ],
            unit="decbytes",
            stack=True,
            bars=True,
            interval="1d",
            description=DAILY_DESC,
            overrides=CLASS_COLORS,
        ),
        24,
        9,
    )
    lay.add(
        timeseries(
            "Daily usage by class: $service_line",
            [
                target(
                    f"sum by (class) (last_over_time(service_line:leo_service_line_daily_usage_bytes:disjoint{{{U}}}"
                    f"[$__interval]))",
                    "{{class}}",
                ),
                target(DAILY_FROM_CYCLE, "{{class}}"),
            ],
            unit="decbytes",
            stack=True,
            bars=True,
            interval="1d",
            description=DAILY_DESC,
            overrides=CLASS_COLORS,
            repeat="service_line",
        ),
        8,
        8,
    )

    lay.row("Fixed and mobile plans")
    lay.add(
        timeseries(
            "Daily usage by plan type and class",
            [
                target(
                    f"sum by (plan, class) (last_over_time(service_line:leo_service_line_daily_usage_bytes:disjoint"
                    f"{{{U}}}[$__interval]) {BY_PLAN})",
                    "{{plan}} {{class}}",
                ),
            ],
            unit="decbytes",
            stack=True,
            bars=True,
            interval="1d",
            description=PLAN_DESC + " Each bar is the newest day reported by the end of that day.",
            overrides=PLAN_CLASS_COLORS,
        ),
        12,
        9,
    )
    lay.add(
        timeseries(
            "Usage this cycle by plan type and class",
            [
                target(
                    f"sum by (plan, class) (last_over_time(service_line:leo_service_line_usage_bytes:disjoint"
                    f"{{{U}}}[$__interval]) {BY_PLAN})",
                    "{{plan}} {{class}}",
                ),
            ],
            unit="decbytes",
            stack=True,
            bars=True,
            interval="1d",
            description=PLAN_DESC + " Each bar is the billing cycle to date on that day (each line's own cycle).",
            overrides=PLAN_CLASS_COLORS,
        ),
        12,
        9,
    )

    lay.row("Billing months")
    lay.add(
        timeseries(
            "Billing months: $service_line",
            [
                target(
                    f"sum by (class) (last_over_time(service_line:leo_service_line_usage_bytes:disjoint{{{U}}}"
                    f"[$__interval]))",
                    "{{class}}",
                ),
                target(
                    f"sum(max by (provider, account, service_line, class) "
                    f'(leo_service_line_previous_cycle_usage_bytes{{{U},class!="opt_in_priority"}}))',
                    "previous cycle total",
                ),
            ],
            unit="decbytes",
            stack=True,
            bars=True,
            interval="1d",
            description=BILLING_MONTHS_DESC,
            overrides=[
                *CLASS_COLORS,
                by_name(
                    "previous cycle total",
                    **{
                        "custom.drawStyle": "line",
                        "custom.stacking": {"mode": "none", "group": "A"},
                        "custom.lineStyle": DASHED,
                        "custom.fillOpacity": 0,
                        "color": {"mode": "fixed", "fixedColor": "red"},
                    },
                ),
            ],
            repeat="service_line",
            time_from="95d",
        ),
        8,
        8,
    )

    lay.row("Billing cycle")
    lay.add(
        bar_gauge(
            "Usage against limit",
            [
                target(
                    f"sort_desc(service_line:leo_service_line_usage_limit:ratio{{{U}}} {SL_NAME})",
                    "{{service_line}} {{name}}",
                    instant=True,
                )
            ],
            description="Counted usage over the plan limit, service lines whose plan has a limit (products in a "
            "shared pool have none: see the pools below). LeoServiceLineUsageHigh fires above 90%.",
            unit="percentunit",
            minimum=0,
            maximum=1,
            steps=thresholds((None, "green"), (0.75, "yellow"), (0.9, "orange"), (1, "red")),
            links=SERVICE_LINE_BAR_LINKS,
        ),
        10,
        10,
    )
    lay.add(
        table(
            "Service lines this cycle",
            [
                target(
                    f"max by (provider, account, service_line, name, product) (leo_service_line_info{{{U}}})",
                    instant=True,
                    table=True,
                ),
                target(f"service_line:leo_service_line_usage_bytes:sum{{{U}}}", instant=True, table=True),
                target(f"service_line:leo_service_line_usage_bytes:counted{{{U}}}", instant=True, table=True),
                target(
                    f"max by (provider, account, service_line) (leo_service_line_usage_limit_bytes{{{U}}})",
                    instant=True,
                    table=True,
                ),
                target(
                    f"service_line:leo_service_line_usage_bytes:forecast_cycle_end{{{U}}}", instant=True, table=True
                ),
                target(
                    f"max by (provider, account, service_line) "
                    f"(leo_service_line_billing_cycle_end_timestamp_seconds{{{U}}}) * 1000",
                    instant=True,
                    table=True,
                ),
                target(f"service_line:leo_service_line_billing_cycle_elapsed:ratio{{{U}}}", instant=True, table=True),
                target(
                    f"sum by (provider, account, service_line) (leo_service_line_recurring_data_blocks{{{U}}} "
                    f"* on (provider, account, service_line, product) "
                    f"leo_service_line_recurring_data_block_size_bytes{{{U}}})",
                    instant=True,
                    table=True,
                ),
                target(
                    f"sum by (provider, account, service_line) (leo_service_line_top_up_data_bytes{{{U}}})",
                    instant=True,
                    table=True,
                ),
                target(
                    f"max by (provider, account, service_line) (leo_service_line_overage_opted_in{{{U}}})",
                    instant=True,
                    table=True,
                ),
            ],
            description="Forecast: counted usage plus the last 3 days' trend until the cycle ends. 'limit unknown': "
            "the provider does not say which plan the line is on (Kognitive accounts offering several plans), "
            "or the line shares a data pool; unlimited plans have no limit either. Beside the limit, what raised "
            "it (Starlink): recurring data blocks and this cycle's top-ups; and whether the line is opted into "
            "overage (priority data beyond the limit billed per GB).",
            hide=["Value #A"],
            rename={
                "Value #B": "Total",
                "Value #C": "Counted",
                "Value #D": "Limit",
                "Value #E": "Forecast at end",
                "Value #F": "Cycle ends",
                "Value #G": "Cycle elapsed",
                "Value #H": "Recurring blocks",
                "Value #I": "Top-ups",
                "Value #J": "Overage opt-in",
            },
            order=[
                "service_line",
                "name",
                "product",
                "provider",
                "account",
                "Total",
                "Counted",
                "Limit",
                "Recurring blocks",
                "Top-ups",
                "Overage opt-in",
                "Forecast at end",
                "Cycle ends",
                "Cycle elapsed",
            ],
            overrides=[by_name(n, unit="decbytes") for n in ("Total", "Counted", "Forecast at end")]
            + [by_name("Limit", unit="decbytes", noValue="limit unknown")]
            + [by_name(n, unit="decbytes") for n in ("Recurring blocks", "Top-ups")]
            + [by_name("Overage opt-in", mappings=YES_NO)]
            + [by_name("Cycle ends", unit="dateTimeAsIsoNoDateIfToday"), by_name("Cycle elapsed", unit="percentunit")],
            sort_by="Counted",
        ),
        14,
        10,
    )
    lay.add(
        timeseries(
            "Counted usage, limit and forecast",
            [
                target(f"service_line:leo_service_line_usage_bytes:counted{{{U}}}", "{{service_line}} used"),
                target(
                    f"max by (provider, account, service_line) (leo_service_line_usage_limit_bytes{{{U}}})",
                    "{{service_line}} limit",
                ),
                target(
                    f"service_line:leo_service_line_usage_bytes:forecast_cycle_end{{{U}}}", "{{service_line}} forecast"
                ),
            ],
            unit="decbytes",
            description="The forecast is where the 3-day trend puts usage at the end of the billing cycle.",
            overrides=[
                by_regexp(".* limit", **{"custom.lineStyle": DASHED}),
                by_regexp(".* forecast", **{"custom.lineStyle": DOTTED}),
            ],
        ),
        12,
        9,
    )
    lay.add(
        timeseries(
            "Usage this cycle by class",
            [target(f"sum by (class) (service_line:leo_service_line_usage_bytes:disjoint{{{U}}})", "{{class}}")],
            unit="decbytes",
            stack=True,
            overrides=CLASS_COLORS,
        ),
        12,
        9,
    )
    lay.add(
        table(
            "Usage this cycle per provider account",
            [
                target(
                    f"sum by (provider, account, provider_account, class) "
                    f"(provider_account_id:leo_service_line_usage_bytes:sum{{{POOL}}})",
                    instant=True,
                    table=True,
                )
            ],
            description="The provider's own accounts behind each configured account (Starlink ACC-…; every Starlink "
            "account a Kognitive key covers; the OneWeb distribution partner), joined from "
            "leo_service_line_info{provider_account} by the recording rule "
            "provider_account_id:leo_service_line_usage_bytes:sum.",
            rename={"provider_account": "Provider account", "Value": "Used"},
            order=["provider", "account", "provider_account", "class", "Used"],
            overrides=[by_name("Used", unit="decbytes")],
            sort_by="Used",
        ),
        24,
        8,
    )

    lay.row("Usage buckets and shared pools")
    lay.add(
        bar_gauge(
            "Shared pools: entitlement left",
            [
                target(
                    f"sort(sub_pool:leo_service_line_usage_remaining:ratio{{{POOL}}} {POOL_OF_SELECTION})",
                    "{{sub_pool}} ({{account}})",
                    instant=True,
                )
            ],
            description=ONEWEB_ONLY + " Share of each shared pool's entitlement left this cycle, once per pool (the "
            "remaining figure repeats on every member and is never summed). LeoUsagePoolLow "
            "fires below 10%, LeoUsagePoolExhausted at 0.",
            unit="percentunit",
            minimum=0,
            maximum=1,
            steps=thresholds((None, "red"), (0.1, "orange"), (0.25, "yellow"), (0.5, "green")),
        ),
        8,
        8,
    )
    lay.add(
        table(
            "Shared pools",
            [
                target(f"sub_pool:leo_service_lines:count{{{POOL}}} {POOL_OF_SELECTION}", instant=True, table=True),
                target(
                    f"sub_pool:leo_service_line_usage_bytes:sum{{{POOL}}} {POOL_OF_SELECTION}", instant=True, table=True
                ),
                target(
                    f"sub_pool:leo_service_line_usage_entitlement_bytes:max{{{POOL}}} {POOL_OF_SELECTION}",
                    instant=True,
                    table=True,
                ),
                target(
                    f"sub_pool:leo_service_line_usage_remaining_bytes:min{{{POOL}}} {POOL_OF_SELECTION}",
                    instant=True,
                    table=True,
                ),
                target(
                    f"sub_pool:leo_service_line_usage_remaining:ratio{{{POOL}}} {POOL_OF_SELECTION}",
                    instant=True,
                    table=True,
                ),
            ],
            description=ONEWEB_ONLY + " Used is the sum of the members' own usage; entitlement and remaining are the "
            "pool's.",
            rename={
                "sub_pool": "Pool",
                "Value #A": "Service lines",
                "Value #B": "Used",
                "Value #C": "Entitlement",
                "Value #D": "Remaining",
                "Value #E": "Left",
            },
            order=["Pool", "provider", "account", "Service lines", "Used", "Entitlement", "Remaining", "Left"],
            overrides=[by_name(n, unit="decbytes") for n in ("Used", "Entitlement", "Remaining")]
            + [by_name("Left", unit="percentunit")],
            sort_by="Left",
            ascending=True,
        ),
        16,
        8,
    )
    lay.add(
        table(
            "Usage buckets",
            [
                target(
                    f"max by (provider, account, service_line, class, bucket_name, sub_pool) "
                    f"(leo_service_line_usage_bucket_info{{{U}}})",
                    instant=True,
                    table=True,
                )
            ]
            + [
                target(f"max by (provider, account, service_line, class) ({metric}{{{U}}})", instant=True, table=True)
                for metric in (
                    "leo_service_line_usage_bytes",
                    "leo_service_line_usage_entitlement_bytes",
                    "leo_service_line_usage_remaining_bytes",
                    "leo_service_line_usage_overage_blocks",
                )
            ],
            description=ONEWEB_ONLY + " Each product's usage buckets this cycle. For a bucket in a shared pool "
            "(sub-pool), entitlement and remaining are the pool's. Overage blocks are "
            "billed on top of the plan (LeoServiceLineOverageBlocksUsed).",
            hide=["Value #A"],
            rename={
                "service_line": "Service line",
                "class": "Class",
                "bucket_name": "Bucket",
                "sub_pool": "Pool",
                "Value #B": "Used",
                "Value #C": "Entitlement",
                "Value #D": "Remaining",
                "Value #E": "Overage blocks",
            },
            order=[
                "Service line",
                "Class",
                "Bucket",
                "Pool",
                "provider",
                "account",
                "Used",
                "Entitlement",
                "Remaining",
                "Overage blocks",
            ],
            overrides=[by_name(n, unit="decbytes") for n in ("Used", "Entitlement", "Remaining")],
            sort_by="Used",
        ),
        16,
        9,
    )
    lay.add(
        timeseries(
            "Shared pool usage",
            [
                target(f"sub_pool:leo_service_line_usage_bytes:sum{{{POOL}}} {POOL_OF_SELECTION}", "{{sub_pool}} used"),
                target(
                    f"sub_pool:leo_service_line_usage_entitlement_bytes:max{{{POOL}}} {POOL_OF_SELECTION}",
                    "{{sub_pool}} entitlement",
                ),
            ],
            unit="decbytes",
            description=ONEWEB_ONLY + " The members' usage added up, against the pool's entitlement.",
            overrides=[by_regexp(".* entitlement", **{"custom.lineStyle": DASHED})],
        ),
        8,
        9,
    )

    lay.row("Overage, previous cycle and data pools")
    lay.add(
        stat(
            "Overage cost this cycle",
            f"sum by (currency) (leo_service_line_overage_cost{{{U}}})",
            legend="{{currency}}",
            unit="none",
            description=STARLINK_BILLING + " Priority data beyond plan limits, billed per GB (before taxes "
            "and fees), in each currency.",
        ),
        4,
        8,
    )
    lay.add(
        table(
            "Overage this cycle",
            [
                target(
                    f"max by (provider, account, service_line, name) (leo_service_line_info{{{U}}})",
                    instant=True,
                    table=True,
                ),
                target(
                    f"sum by (provider, account, service_line, product) (leo_service_line_overage_bytes{{{U}}})",
                    instant=True,
                    table=True,
                ),
                target(
                    f"max by (provider, account, service_line, product) (leo_service_line_overage_limit_bytes{{{U}}})",
                    instant=True,
                    table=True,
                ),
                target(
                    f"sum by (provider, account, service_line, product, currency) "
                    f"(leo_service_line_overage_cost{{{U}}})",
                    instant=True,
                    table=True,
                ),
            ],
            description=STARLINK_BILLING + " Lines opted into overage that went past their limit: data beyond it, "
            "the limit, and the cost so far (LeoServiceLineOverageStarted).",
            hide=["Value #A"],
            rename={
                "service_line": "Service line",
                "name": "Name",
                "product": "Overage product",
                "Value #B": "Overage",
                "Value #C": "Limit",
                "Value #D": "Cost",
                "currency": "Currency",
            },
            order=[
                "Service line",
                "Name",
                "Overage product",
                "provider",
                "account",
                "Overage",
                "Limit",
                "Cost",
                "Currency",
            ],
            overrides=[by_name(n, unit="decbytes") for n in ("Overage", "Limit")],
            sort_by="Overage",
        ),
        20,
        8,
    )
    lay.add(
        table(
            "Data blocks and top-ups this cycle",
            [
                target(
                    f"max by (provider, account, service_line, name) (leo_service_line_info{{{U}}})",
                    instant=True,
                    table=True,
                ),
                target(
                    f"label_replace(max by (provider, account, service_line, product) "
                    f'(leo_service_line_recurring_data_blocks{{{U}}}), "purchase", "recurring", "", "") '
                    f"or max by (provider, account, service_line, product, purchase) "
                    f"(leo_service_line_top_up_data_blocks{{{U}}})",
                    instant=True,
                    table=True,
                ),
                target(
                    f"label_replace(sum by (provider, account, service_line, product) "
                    f"(leo_service_line_recurring_data_blocks{{{U}}} * on (provider, account, service_line, product) "
                    f'leo_service_line_recurring_data_block_size_bytes{{{U}}}), "purchase", "recurring", "", "") '
                    f"or max by (provider, account, service_line, product, purchase) "
                    f"(leo_service_line_top_up_data_bytes{{{U}}})",
                    instant=True,
                    table=True,
                ),
                target(
                    f"max by (provider, account, service_line) (leo_service_line_usage_limit_bytes{{{U}}})",
                    instant=True,
                    table=True,
                ),
            ],
            description=BLOCKS_DESC + " Limit: the line's limit this cycle, which these blocks are part of.",
            hide=["Value #A"],
            rename={
                "service_line": "Service line",
                "name": "Name",
                "product": "Block product",
                "purchase": "Bought",
                "Value #B": "Blocks",
                "Value #C": "Data",
                "Value #D": "Limit",
            },
            order=["Service line", "Name", "Block product", "Bought", "provider", "account", "Blocks", "Data", "Limit"],
            overrides=[by_name(n, unit="decbytes") for n in ("Data", "Limit")],
            sort_by="Data",
        ),
        24,
        8,
    )
    lay.add(
        table(
            "Previous billing cycle",
            [
                target(
                    f"max by (provider, account, service_line, name) (leo_service_line_info{{{U}}})",
                    instant=True,
                    table=True,
                )
            ]
            + [
                # a class the line used in neither cycle is not exported: 0 where the line has a cycle
                target(
                    f"max by (provider, account, service_line) "
                    f"(leo_service_line_previous_cycle_usage_bytes{{{U}{sel}}})"
                    + (
                        ""
                        if sel == PRIORITY
                        else f" or 0 * max by (provider, account, service_line) "
                        f"(leo_service_line_previous_cycle_usage_bytes{{{U}{PRIORITY}}})"
                    ),
                    instant=True,
                    table=True,
                )
                for sel in (PRIORITY, ',class="standard"', ',class="non_billable"')
            ]
            + [
                target(
                    f"max by (provider, account, service_line) "
                    f"(leo_service_line_previous_cycle_end_timestamp_seconds{{{U}}}) * 1000",
                    instant=True,
                    table=True,
                )
            ],
            description="Starlink and Kognitive (OneWeb reports no previous cycle): the cycle that just closed, by "
            "class (priority includes opt-in priority), so the first day of a cycle is not blank. Older cycles: "
            "the 'Billing months' row.",
            hide=["Value #A"],
            rename={
                "service_line": "Service line",
                "name": "Name",
                "Value #B": "Priority",
                "Value #C": "Standard",
                "Value #D": "Non-billable",
                "Value #E": "Ended",
            },
            order=["Service line", "Name", "provider", "account", "Priority", "Standard", "Non-billable", "Ended"],
            overrides=[by_name(n, unit="decbytes") for n in ("Priority", "Standard", "Non-billable")]
            + [by_name("Ended", unit="dateTimeAsIso")],
            sort_by="Priority",
        ),
        12,
        9,
    )
    lay.add(
        bar_gauge(
            "Data pools: capacity used",
            [target(f"sort_desc(pool:leo_data_pool_usage:ratio{{{POOL}}})", "{{pool}} ({{account}})", instant=True)],
            description=POOLS_OF_BOTH + " Each shared data pool's use over its capacity this period "
            "(LeoDataPoolUsageHigh above 80%, LeoDataPoolUsageCritical above 95%).",
            unit="percentunit",
            minimum=0,
            maximum=1,
            steps=thresholds((None, "green"), (0.8, "orange"), (0.95, "red")),
        ),
        12,
        9,
    )
    lay.add(
        table(
            "Data pools",
            [
                target(
                    f"max by (provider, account, pool, name, product, type) (leo_data_pool_info{{{POOL}}})",
                    instant=True,
                    table=True,
                ),
                target(
                    f"max by (provider, account, pool) (leo_data_pool_capacity_bytes{{{POOL}}})",
                    instant=True,
                    table=True,
                ),
                target(
                    f"max by (provider, account, pool) (leo_data_pool_usage_bytes{{{POOL}}})", instant=True, table=True
                ),
                target(f"pool:leo_data_pool_usage_bytes:forecast_period_end{{{POOL}}}", instant=True, table=True),
                target(
                    f"max by (provider, account, pool) (leo_data_pool_period_end_timestamp_seconds{{{POOL}}}) * 1000",
                    instant=True,
                    table=True,
                ),
                target(
                    f"max by (provider, account, pool) (leo_data_pool_automatic_top_up_enabled{{{POOL}}})",
                    instant=True,
                    table=True,
                ),
            ],
            description=POOLS_OF_BOTH + " Capacity and use of the pool this period, where the "
            "3-day trend puts its use when the period ends, and whether the pool buys top-ups by itself when it "
            "runs out (Starlink automaticTopUpEnabled).",
            hide=["Value #A"],
            rename={
                "pool": "Pool",
                "name": "Name",
                "product": "Product",
                "type": "Type",
                "Value #B": "Capacity",
                "Value #C": "Used",
                "Value #D": "Forecast at end",
                "Value #E": "Period ends",
                "Value #F": "Automatic top-up",
            },
            order=[
                "Pool",
                "Name",
                "Product",
                "Type",
                "provider",
                "account",
                "Capacity",
                "Used",
                "Forecast at end",
                "Period ends",
                "Automatic top-up",
            ],
            overrides=[by_name(n, unit="decbytes") for n in ("Capacity", "Used", "Forecast at end")]
            + [by_name("Period ends", unit="dateTimeAsIso"), by_name("Automatic top-up", mappings=YES_NO)],
            sort_by="Used",
        ),
        12,
        8,
    )
    lay.add(
        bar_gauge(
            "Data pool use by service line",
            [
                target(
                    f"sort_desc(max by (provider, account, pool, service_line) "
                    f"(leo_data_pool_service_line_usage_bytes{{{U}}}))",
                    "{{service_line}} ({{pool}})",
                    instant=True,
                )
            ],
            description=POOLS_OF_BOTH + " What each service line drew from its pool this period.",
            unit="decbytes",
            links=SERVICE_LINE_BAR_LINKS,
        ),
        12,
        8,
    )

    lay.row("Top consumers")
    lay.add(
        bar_gauge(
            "Top 10 service lines this cycle",
            [
                target(
                    f"topk(10, service_line:leo_service_line_usage_bytes:sum{{{U}}} {SL_NAME})",
                    "{{service_line}} {{name}}",
                    instant=True,
                )
            ],
            unit="decbytes",
            display=cm.BarGaugeDisplayMode.BASIC,
            links=SERVICE_LINE_BAR_LINKS,
        ),
        12,
        9,
    )
    lay.add(
        bar_gauge(
            "Top 10 service lines on the newest reported day",
            [
                target(
                    f"topk(10, sum by (provider, account, service_line) "
                    f"(service_line:leo_service_line_daily_usage_bytes:disjoint{{{U}}}) {SL_NAME})",
                    "{{service_line}} {{name}}",
                    instant=True,
                )
            ],
            unit="decbytes",
            display=cm.BarGaugeDisplayMode.BASIC,
            links=SERVICE_LINE_BAR_LINKS,
        ),
        12,
        9,
    )

    return dashboard(
        "leo-data-usage",
        "LEO data usage",
        "Daily usage by class as stacked bars, usage against plan limits, forecast to the end of the billing "
        "cycle, OneWeb usage buckets and shared pools, and top consumers.",
        [
            variable("provider", "Provider", "label_values(leo_service_line_info, provider)"),
            variable("account", "Account", 'label_values(leo_service_line_info{provider=~"$provider"}, account)'),
            *group_variables(),
            variable(
                "service_line",
                "Service line",
                "query_result(max by (service_line) "
                f'(leo_service_line_info{{provider=~"$provider",account=~"$account"}} {LINE_IN_GROUP}))',
                regex='/service_line="(?<value>[^"]+)"/',
            ).all_value(""),  # "All" is the group's lines, not every line
        ],
        lay,
        time_from="now-30d",
        refresh="5m",
    )


# --------------------------------------------------------------------------- exporter health

J = 'provider=~"$provider",account=~"$account"'
OK_FAILING = value_map({"0": ("failing", "red"), "1": ("ok", "green")})
SJ = 'job=~"$scrape_job"'
JOB_LEGEND = "{{provider}}/{{account}}/{{call}}"


def exporter_health() -> dm.Dashboard:
    lay = Layout()
    lay.add(
        stat(
            "Exporter up",
            f"min(up{{{SJ}}})",
            mappings=value_map({"0": ("Down", "red"), "1": ("Up", "green")}),
            steps=thresholds((None, "red"), (1, "green")),
            color_mode="background",
        ),
        4,
        4,
    )
    lay.add(stat("Version", f"leo_exporter_build_info{{{SJ}}}", legend="{{version}}", text_mode="name"), 4, 4)
    lay.add(
        stat(
            "Jobs failing",
            f"count(leo_exporter_job_up{{{J}}} == 0) or vector(0)",
            steps=thresholds((None, "green"), (1, "red")),
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Accounts not authenticated",
            f"count(leo_exporter_account_authenticated{{{J}}} == 0) or vector(0)",
            steps=thresholds((None, "green"), (1, "red")),
        ),
        4,
        4,
    )
    lay.add(
        stat(
            "Scrape duration",
            f"max(scrape_duration_seconds{{{SJ}}})",
            unit="s",
            description="Prometheus' own measure of the scrape; the exporter serves a cached rendering.",
            steps=thresholds((None, "green"), (5, "yellow"), (10, "red")),
        ),
        4,
        4,
    )
    lay.add(stat("Series per scrape", f"sum(scrape_samples_scraped{{{SJ}}})"), 4, 4)

    lay.row("Polling jobs")
    lay.add(
        table(
            "Jobs",
            [
                target(f"max by (provider, account, call) (leo_exporter_job_up{{{J}}})", instant=True, table=True),
                target(f"max by (provider, account, call) (leo_exporter_job_enabled{{{J}}})", instant=True, table=True),
                target(
                    f"max by (provider, account, call) (leo_exporter_job_interval_seconds{{{J}}})",
                    instant=True,
                    table=True,
                ),
                target(
                    f"max by (provider, account, call) (leo_exporter_job_duration_seconds{{{J}}})",
                    instant=True,
                    table=True,
                ),
                target(
                    f"max by (provider, account, call) (leo_exporter_job_last_success_timestamp_seconds{{{J}}} > 0)"
                    f" * 1000",
                    instant=True,
                    table=True,
                ),
                target(
                    f"time() - max by (provider, account, call) "
                    f"(leo_exporter_job_last_success_timestamp_seconds{{{J}}} > 0)",
                    instant=True,
                    table=True,
                ),
                target(
                    f'sum by (provider, account, call) (increase(leo_exporter_job_runs_total{{result="error",{J}}}'
                    f"[$__range])) or sum by (provider, account, call) "
                    f"(increase(leo_exporter_job_runs_total{{{J}}}[$__range])) * 0",
                    instant=True,
                    table=True,
                ),
            ],
            description="Each job polls one provider API call for one account on its own timer. Data age is the time "
            "since the last success; LeoExporterDataStale fires beyond 3 intervals (at least 5 min).",
            rename={
                "call": "Call",
                "Value #A": "Up",
                "Value #B": "Enabled",
                "Value #C": "Interval",
                "Value #D": "Last duration",
                "Value #E": "Last success",
                "Value #F": "Data age",
                "Value #G": "Failed runs (range)",
            },
            order=[
                "provider",
                "account",
                "Call",
                "Up",
                "Enabled",
                "Interval",
                "Last duration",
                "Last success",
                "Data age",
                "Failed runs (range)",
            ],
            overrides=[
                by_name(
                    "Up",
                    **{
                        "custom.cellOptions": {"type": "color-background"},
                        "thresholds": thresholds((None, "red"), (1, "green")),
                        "mappings": [
                            {
                                "type": "value",
                                "options": {"0": {"text": "failing", "index": 0}, "1": {"text": "ok", "index": 1}},
                            }
                        ],
                    },
                ),
                by_name("Interval", unit="s"),
                by_name("Last duration", unit="s"),
                by_name("Data age", unit="s"),
                by_name("Last success", unit="dateTimeFromNow"),
            ],
        ),
        24,
        9,
    )
    lay.add(
        state_timeline(
            "Job status",
            [target(f"max by (provider, account, call) (leo_exporter_job_up{{{J}}})", JOB_LEGEND)],
            steps=thresholds((None, "red"), (1, "green")),
            mappings=OK_FAILING,
        ),
        12,
        9,
    )
    lay.add(
        timeseries(
            "Job duration",
            [target(f"max by (provider, account, call) (leo_exporter_job_duration_seconds{{{J}}})", JOB_LEGEND)],
            unit="s",
        ),
        12,
        9,
    )
    lay.add(
        timeseries(
            "Data age",
            [
                target(
                    f"time() - max by (provider, account, call) "
                    f"(leo_exporter_job_last_success_timestamp_seconds{{{J}}} > 0)",
                    JOB_LEGEND,
                )
            ],
            unit="s",
            description="Time since each job last succeeded: a sawtooth up to the job's interval when healthy.",
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Job interval",
            [target(f"max by (provider, account, call) (leo_exporter_job_interval_seconds{{{J}}})", JOB_LEGEND)],
            unit="s",
            description="Configured interval between runs.",
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Job runs by result",
            [
                target(
                    f"sum by (result) (rate(leo_exporter_job_runs_total{{{J}}}[$__rate_interval])) * 60", "{{result}}"
                )
            ],
            unit="short",
            stack=True,
            description="Runs per minute.",
        ),
        12,
        8,
    )
    lay.add(
        state_timeline(
            "Provider authentication",
            [
                target(
                    f"max by (provider, account) (leo_exporter_account_authenticated{{{J}}})",
                    "{{provider}} {{account}}",
                )
            ],
            steps=thresholds((None, "red"), (1, "green")),
            mappings=OK_FAILING,
        ),
        12,
        8,
    )

    lay.row("Provider APIs")
    lay.add(
        timeseries(
            "API requests by status code",
            [
                target(
                    f"sum by (code) (rate(leo_exporter_api_requests_total{{{J}}}[$__rate_interval])) * 60", "{{code}}"
                )
            ],
            unit="short",
            stack=True,
            description="Requests per minute; code is 'error' when no response came.",
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "API requests per account",
            [
                target(
                    f"sum by (provider, account) (rate(leo_exporter_api_requests_total{{{J}}}[$__rate_interval])) * 60",
                    "{{provider}} {{account}}",
                )
            ],
            unit="short",
            threshold=250,
            description="Requests per minute. Starlink allows 250 per minute per account, shared by every "
            "integration using the account; Kognitive and OneWeb publish no limit (the exporter keeps "
            "within each account's request_budget_per_minute).",
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "API requests by endpoint",
            [
                target(
                    f"sum by (endpoint) (rate(leo_exporter_api_requests_total{{{J}}}[$__rate_interval])) * 60",
                    "{{endpoint}}",
                )
            ],
            unit="short",
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Rate limited (HTTP 429)",
            [
                target(
                    f"sum by (provider, account) (rate(leo_exporter_rate_limited_total{{{J}}}[$__rate_interval])) * 60"
                    f" or sum by (provider, account) "
                    f"(rate(leo_exporter_api_requests_total{{{J}}}[$__rate_interval])) * 0",
                    "{{provider}} {{account}}",
                )
            ],
            unit="short",
            description="429 responses per minute. LeoProviderRateLimited fires above 5% of requests for 15 minutes.",
        ),
        12,
        8,
    )

    lay.row("Freshness and rendering")
    lay.add(
        timeseries(
            "Terminal telemetry age",
            [
                target(
                    f"quantile by (provider, account) (0.5, time() - leo_terminal_last_seen_timestamp_seconds{{{J}}})",
                    "{{provider}} {{account}} median",
                ),
                target(
                    f"max by (provider, account) (time() - (leo_terminal_last_seen_timestamp_seconds{{{J}}} "
                    f"and on (provider, account, terminal_id) leo_terminal_online == 1))",
                    "{{provider}} {{account}} oldest online",
                ),
            ],
            unit="s",
            description="Age of the newest telemetry per terminal (Starlink: device time; OneWeb: when the "
            "provider last saw the terminal). Kognitive reports no such time.",
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Provider report age",
            [
                target(
                    f"time() - max by (provider, account, report) (leo_terminal_report_timestamp_seconds{{{J}}})",
                    "{{provider}} {{account}} terminal {{report}}",
                ),
                target(
                    f"time() - max by (provider, account, report) (leo_service_line_report_timestamp_seconds{{{J}}})",
                    "{{provider}} {{account}} product {{report}}",
                ),
            ],
            unit="s",
            threshold=7200,
            description="Age of the newest performance report of each kind per account (OneWeb: quarter-hourly "
            "reports served 20-45 minutes late, so a sawtooth in that band is healthy). "
            "LeoTerminalReportsStale fires per online terminal beyond 2 hours.",
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Usage data age",
            [
                target(
                    f"time() - max by (provider, account) (leo_service_line_usage_updated_timestamp_seconds{{{J}}})",
                    "{{provider}} {{account}}",
                )
            ],
            unit="s",
            description="Since the provider last refreshed usage figures; about a day is normal.",
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Telemetry rows received",
            [
                target(
                    f"sum by (provider, account, device_type) "
                    f"(rate(leo_exporter_telemetry_rows_total{{{J}}}[$__rate_interval])) * 60",
                    "{{provider}} {{account}} {{device_type}}",
                )
            ],
            unit="short",
            description="Rows per minute.",
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Render and scrape",
            [
                target(f"max(leo_exporter_render_duration_seconds{{{SJ}}})", "render"),
                target(f"max(scrape_duration_seconds{{{SJ}}})", "scrape"),
            ],
            unit="s",
            description="Rendering happens once per state change; scrapes serve the cached bytes.",
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Exposition size", [target(f"max(leo_exporter_exposition_bytes{{{SJ}}})", "uncompressed")], unit="decbytes"
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Exporter memory",
            [target(f"max by (instance) (process_resident_memory_bytes{{{SJ}}})", "{{instance}} resident")],
            unit="bytes",
            description="Resident memory of each exporter process (process_resident_memory_bytes); "
            "it grows with the fleet, about 1.3 GiB at 50,000 terminals.",
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Exporter CPU",
            [target(f"max by (instance) (rate(process_cpu_seconds_total{{{SJ}}}[$__rate_interval]))", "{{instance}}")],
            unit="percentunit",
            description="CPU seconds per second of each exporter process; restarts show as gaps "
            "and a new process_start_time_seconds.",
        ),
        12,
        8,
    )

    return dashboard(
        "leo-exporter-health",
        "LEO exporter health",
        "leo-exporter itself: polling jobs, provider API requests, rate limiting and data freshness.",
        [
            variable("scrape_job", "Scrape job", "label_values(leo_exporter_build_info, job)", multi=False, hide=2),
            variable("provider", "Provider", "label_values(leo_exporter_job_up, provider)"),
            variable("account", "Account", 'label_values(leo_exporter_job_up{provider=~"$provider"}, account)'),
        ],
        lay,
        time_from="now-3h",
        refresh="30s",
    )


# --------------------------------------------------------------------------- availability

# Panels reading the hourly availability rules (deploy/prometheus/rules/leo-exporter.availability.yml,
# generated by `leo-exporter availability-rules`): they fill after the rules' first evaluations.
NEEDS_HISTORY = "Needs hours of history"
HOURLY = (
    f"{NEEDS_HISTORY}: from the hourly availability rules (leo-exporter.availability.yml), which count "
    "online and observed samples while a terminal's service line is active; exporter downtime counts "
    'neither way (docs/alerting.md, "Availability and outages").'
)
GROUP_SEL = 'group_key="$group_key",group_value=~"$group_value"'


def ratio(level: str, selector: str = "", window: str = "$__range", by: str = "") -> str:
    """Online samples over observed samples of a level's hourly sums over `window`."""
    agg = f"sum by ({by}) " if by else "sum "
    return (
        f"{agg}(sum_over_time({level}:leo_terminal_online:sum1h{{{selector}}}[{window}]))"
        f" / {agg}(sum_over_time({level}:leo_terminal_online:count1h{{{selector}}}[{window}]))"
    )


TERMINAL_RATIO = (
    "sum_over_time(terminal:leo_terminal_online:sum1h[$__range]) "
    "/ sum_over_time(terminal:leo_terminal_online:count1h[$__range])"
)
# the group's label as a fixed column `group`, and the terminal's name
GROUP_LABEL = (
    "* on (provider, account, terminal_id) group_left (group) label_replace(max by (provider, account, "
    f'terminal_id, $group_key) ({GROUP_SERIES[:-1]},$group_key!=""}}), "group", "$1", "$group_key", "(.*)")'
)
PERCENT_CELLS = {"custom.cellOptions": {"type": "color-background", "mode": "gradient"}}
AVAILABILITY_STEPS = thresholds((None, "red"), (0.99, "orange"), (0.999, "green"))


def availability() -> dm.Dashboard:
    lay = Layout()
    lay.add(
        stat(
            "Fleet availability",
            ratio("provider"),
            unit="percentunit",
            description=HOURLY,
            steps=AVAILABILITY_STEPS,
        ),
        6,
        4,
    )
    lay.add(
        stat(
            "Availability of the selected groups",
            ratio("group", GROUP_SEL),
            unit="percentunit",
            description=HOURLY,
            steps=AVAILABILITY_STEPS,
        ),
        6,
        4,
    )
    lay.add(
        stat(
            "Outages in the selected groups",
            f"sum(sum_over_time(group:leo_terminal_outages:count1h{{{GROUP_SEL}}}[$__range]))",
            description="Outages that started in the time range. " + HOURLY,
            steps=thresholds((None, "green"), (1, "orange")),
        ),
        6,
        4,
    )
    lay.add(
        stat(
            "Terminals offline now in the selected groups",
            f"count(terminal:leo_terminal_outage_start:timestamp_seconds {IN_GROUP}) or vector(0)",
            description="Terminals of an active service line in an outage now.",
            steps=thresholds((None, "green"), (1, "red")),
        ),
        6,
        4,
    )
    lay.add(
        bar_gauge(
            "Availability by group",
            [target(f"sort({ratio('group', GROUP_SEL, by='group_value')})", "{{group_value}}", instant=True)],
            unit="percentunit",
            description="Each value of the chosen group (a tag such as tag_customer, or provider_account, "
            "organization, account) over the time range. " + HOURLY,
            steps=AVAILABILITY_STEPS,
            maximum=1,
        ),
        12,
        9,
    )
    lay.add(
        timeseries(
            "Availability per day",
            [target(ratio("group", GROUP_SEL, window="1d", by="group_value"), "{{group_value}}")],
            unit="percentunit",
            description="Each day's availability (the 24 hourly steps up to each point). " + HOURLY,
            interval="1d",
            maximum=1,
        ),
        12,
        9,
    )
    lay.add(
        table(
            "The 20 worst terminals",
            [
                target(
                    f"bottomk(20, ({TERMINAL_RATIO}) {IN_GROUP}) {JOIN_NAME} {GROUP_LABEL}",
                    instant=True,
                    table=True,
                ),
                target(
                    "sum_over_time(terminal:leo_terminal_outages:count1h[$__range]) "
                    f"and on (provider, account, terminal_id) bottomk(20, ({TERMINAL_RATIO}) {IN_GROUP})",
                    instant=True,
                    table=True,
                ),
            ],
            description="Lowest availability over the time range, with the outages that started in it. " + HOURLY,
            rename={"Value #A": "Availability", "Value #B": "Outages"},
            order=["name", "terminal_id", "group", "Availability", "Outages", "service_line", "provider", "account"],
            overrides=[by_name("Availability", unit="percentunit", **PERCENT_CELLS)],
            sort_by="Availability",
            ascending=True,
        ),
        12,
        10,
    )
    lay.add(
        timeseries(
            "Outages per day",
            [
                target(
                    f"sum by (group_value) (sum_over_time(group:leo_terminal_outages:count1h{{{GROUP_SEL}}}[1d]))",
                    "{{group_value}}",
                )
            ],
            description="Outages that started each day (the 24 hourly steps up to each bar). " + HOURLY,
            bars=True,
            stack=True,
            interval="1d",
        ),
        12,
        10,
    )
    lay.add(
        outage_table(),
        24,
        10,
    )
    return dashboard(
        "leo-availability",
        "LEO availability",
        "Availability and outages of the fleet and of groups of terminals (tags, provider accounts, "
        "organizations, accounts): the worst terminals, every outage with its duration, outages per day.",
        group_variables(),
        lay,
        time_from="now-30d",
        refresh="5m",
    )


def outage_table() -> table_builder.Panel:
    """Every outage in the time range: one row per (terminal, start), its end the last time the
    outage-start series was seen (to the query step), its duration the difference."""
    expr = f"last_over_time(terminal:leo_terminal_outage_start:timestamp_seconds[$__interval]) {JOIN_NAME_IN_GROUP}"
    p = table(
        "Outages",
        [target(f"{expr} {GROUP_LABEL}", table=True)],
        description="Terminals of an active service line, from their first offline sample to the last step "
        "they were still offline (the end is precise to the query step: narrow the time range for minutes). "
        "Empty while no terminal had an outage. " + NEEDS_HISTORY + " for long ranges.",
        order=["name", "terminal_id", "group", "Start", "End", "Duration", "service_line", "provider", "account"],
        overrides=[
            by_name("Start", unit="dateTimeAsIso"),
            by_name("End", unit="dateTimeAsIso"),
            by_name("Duration", unit="ms", **PERCENT_CELLS),
        ],
        sort_by="Start",
    )
    keys = ["provider", "account", "terminal_id", "name", "service_line", "group", "Value"]
    grouped = {
        "fields": {
            **{key: {"aggregations": [], "operation": "groupby"} for key in keys},
            "Time": {"aggregations": ["max"], "operation": "aggregate"},
        }
    }
    start = {
        "alias": "Start",
        "mode": "binary",
        "binary": {"left": "Value", "operator": "*", "right": "1000"},
        "replaceFields": False,
    }
    duration = {
        "alias": "Duration",
        "mode": "binary",
        "binary": {"left": "Time (max)", "operator": "-", "right": "Start"},
        "replaceFields": False,
    }
    organize = {
        "excludeByName": {"Value": True},
        "renameByName": {"Time (max)": "End"},
        "indexByName": {},
    }
    p.transformations(
        [
            dm.DataTransformerConfig(id_val="groupBy", options=grouped),
            dm.DataTransformerConfig(id_val="calculateField", options=start),
            dm.DataTransformerConfig(id_val="calculateField", options=duration),
            dm.DataTransformerConfig(id_val="organize", options=organize),
        ]
    )
    return p


DASHBOARDS = {
    "leo-fleet-overview.json": fleet_overview,
    "leo-terminal-detail.json": terminal_detail,
    "leo-data-usage.json": data_usage,
    "leo-exporter-health.json": exporter_health,
    "leo-availability.json": availability,
}


def render() -> dict[str, str]:
    return {
        name: json.dumps(build(), cls=JSONEncoder, indent=2, ensure_ascii=False) + "\n"
        for name, build in DASHBOARDS.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the JSON files are out of date")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = OUT / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)}; run {Path(__file__).name}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
