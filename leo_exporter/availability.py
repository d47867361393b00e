"""`availability-rules`: the availability and outage rules, generated for a config's tag keys.

Why generated (and not one fixed file with a threshold series): PromQL cannot take a label name
or a range duration from a series. "Availability per customer" aggregates `by (tag_customer)`,
and the SLO window is the `[30d]` of a range selector; both differ per installation. So, as the
monitoring mixins (kubernetes-mixin, node-mixin) and the SLO generators (Sloth, Pyrra) do, the
rule file is rendered from parameters: the tag keys (from the config's `tags.keys`), the
objective, the window and the flapping threshold. `deploy/prometheus/rules/leo-exporter.availability.yml`
is this output for the demo's keys (customer, vessel) and the defaults; tests hold it to that.

What the rules compute (definitions in docs/alerting.md, "Availability and outages"): per
terminal and per hour, the online samples and the observed samples of `leo_terminal_online`
while the terminal's service line was active the whole hour, and the outages that started in it
(a 1 -> 0 step of two consecutive samples, the one before the hour included). Sums of samples, not
ratios, so that any window and any group is one exact division: availability =
sum(online) / sum(observed). Exporter downtime has no samples: it is neither online nor offline.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from leo_exporter.config import ConfigError
from leo_exporter.durations import parse_duration
from leo_exporter.providers import load_config
from leo_exporter.tags import tag_label

__all__ = ["add_command", "generate"]

STEP = 3600  # seconds: the per-terminal step (one sample per terminal and hour for a month-long question)
DEFAULT_OBJECTIVE = 0.99
DEFAULT_WINDOW = 30 * 86400
DEFAULT_FLAPPING = 5
NATIVE_GROUPS = ("account", "provider_account", "organization")  # labels of leo_terminal_info
ID = "provider, account, terminal_id"


def closed_range(seconds: int) -> str:
    """A range selector that covers `seconds` worth of steps exactly: one second shorter, because
    Prometheus 2.x ranges include both ends and the step's samples lie exactly `step` apart."""
    rest = seconds - 1
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.strip("\n").splitlines())


def _active(step: str) -> str:
    """Terminals whose service line was active for every sample of the step (1), else absent."""
    return f"""\
max by ({ID}) (
  last_over_time(leo_terminal_info[{step}])
  * on (provider, account, service_line) group_left ()
  (min by (provider, account, service_line) (min_over_time(leo_service_line_active[{step}])) == 1)
)"""


def _group_expr(metric: str, keys: Sequence[str]) -> str:
    """`metric` summed per group: `group_key` (a label name) and `group_value` (its value)."""
    parts = []
    for key in (*NATIVE_GROUPS, *(tag_label(k) for k in keys)):
        if key == "account":
            joined = metric
        else:
            source = "leo_terminal_tags" if key.startswith("tag_") else "leo_terminal_info"
            joined = f'{metric}\n* on ({ID}) group_left ({key})\ntopk by ({ID}) (1, {source}{{{key}!=""}})'
        parts.append(
            f"sum by (group_key, group_value) (\n"
            f"  label_replace(\n"
            f'    label_replace(\n{_indent(joined, 6)},\n      "group_value", "$1", "{key}", "(.+)"\n    ),\n'
            f'    "group_key", "{key}", "", ""\n'
            f"  )\n"
            f")"
        )
    return "\nor\n".join(parts)


def _rule(record: str, expr: str, comment: str = "") -> str:
    head = "".join(f"      # {line}\n" for line in comment.splitlines())
    return f"{head}      - record: {record}\n        expr: |\n{_indent(expr, 10)}\n"


def generate(
    keys: Sequence[str],
    *,
    objective: float = DEFAULT_OBJECTIVE,
    window: int = DEFAULT_WINDOW,
    flapping: int = DEFAULT_FLAPPING,
) -> str:
    """The rule file's text for these tag keys and parameters."""
    step = _duration(STEP)
    day = closed_range(86400)
    win = closed_range(window)
    win_text = _duration(window)
    active = _active(step)
    online = "leo_terminal_online"
    first = f"last_over_time({online}[{step}]) + 2 * resets({online}[{step}]) - changes({online}[{step}])"
    rules = [
        _rule(
            "terminal:leo_terminal_online:sum1h",
            f"sum by ({ID}) (sum_over_time({online}[{step}]))\nand on ({ID})\n{active}",
            "Online samples of the hour, for terminals whose line was active all hour.",
        ),
        _rule(
            "terminal:leo_terminal_online:count1h",
            f"sum by ({ID}) (count_over_time({online}[{step}]))\nand on ({ID})\n{active}",
            "Observed samples of the hour (online or offline): the time the exporter saw the terminal.",
        ),
        _rule(
            "terminal:leo_terminal_outages:count1h",
            f"""\
sum by ({ID}) (
  resets({online}[{step}])
  + (
      ({online} offset {step}) * (1 - ({first}))
    or
      resets({online}[{step}]) * 0
  )
)
and on ({ID})
{active}""",
            "Outages that started in the hour: 1 -> 0 steps between consecutive samples, the last\n"
            "sample before the hour included (a 0/1 series' first sample is last + 2*resets - changes).",
        ),
        _rule(
            "terminal:leo_terminal_outages:count1d",
            f"sum_over_time(terminal:leo_terminal_outages:count1h[{day}])",
            "Outages that started in the last 24 hourly steps.",
        ),
    ]
    sums = ("leo_terminal_online:sum1h", "leo_terminal_online:count1h", "leo_terminal_outages:count1h")
    rules.extend(
        _rule(f"{level}:{metric}", f"sum by ({by}) (terminal:{metric})")
        for level, by in (("provider_account", "provider, account"), ("provider", "provider"))
        for metric in sums
    )
    group_note = (
        "Per group: group_key is the label (account, provider_account, organization, tag_<key>),\n"
        "group_value its value."
    )
    rules.extend(
        _rule(f"group:{metric}", _group_expr(f"terminal:{metric}", keys), group_note if index == 0 else "")
        for index, metric in enumerate(sums)
    )
    percent = f"{objective * 100:g}%"
    board = "/d/leo-availability/leo-availability?var-group_key="
    alerts = f"""\
      - alert: LeoGroupAvailabilityBelowObjective
        # Accounts have their own alert (LeoAccountAvailabilityBelowObjective, routed by account).
        expr: |
          (
            sum_over_time(group:leo_terminal_online:sum1h{{group_key!="account"}}[{win}])
            / (sum_over_time(group:leo_terminal_online:count1h{{group_key!="account"}}[{win}]) > 0)
          ) < {objective}
        labels:
          severity: warning
        annotations:
          summary: A group of LEO terminals is below its availability objective.
          description: >-
            Terminals with {{{{ $labels.group_key }}}}="{{{{ $labels.group_value }}}}" were online
            {{{{ $value | humanizePercentage }}}} of the time their service lines were active over
            the last {win_text}, below the objective of {percent}.
          runbook_url: docs/runbooks.md#leogroupavailabilitybelowobjective
          dashboard: {board}{{{{ $labels.group_key }}}}&var-group_value={{{{ $labels.group_value }}}}

      - alert: LeoAccountAvailabilityBelowObjective
        expr: |
          (
            sum_over_time(provider_account:leo_terminal_online:sum1h[{win}])
            / (sum_over_time(provider_account:leo_terminal_online:count1h[{win}]) > 0)
          ) < {objective}
        labels:
          severity: warning
        annotations:
          summary: The terminals of a LEO account are below their availability objective.
          description: >-
            The {{{{ $labels.provider }}}} terminals of account {{{{ $labels.account }}}} were online
            {{{{ $value | humanizePercentage }}}} of the time their service lines were active over
            the last {win_text}, below the objective of {percent}.
          runbook_url: docs/runbooks.md#leoaccountavailabilitybelowobjective
          dashboard: {board}account&var-group_value={{{{ $labels.account }}}}

      - alert: LeoTerminalFlapping
        expr: |
          (terminal:leo_terminal_outages:count1d > {flapping})
          * on ({ID}) group_left (name, service_line)
          topk by ({ID}) (1, leo_terminal_info)
        labels:
          severity: warning
        annotations:
          summary: LEO terminal keeps dropping offline.
          description: >-
            {{{{ $labels.provider }}}} terminal {{{{ $labels.name }}}} ({{{{ $labels.terminal_id }}}}) on
            service line {{{{ $labels.service_line }}}} of account {{{{ $labels.account }}}} had
            {{{{ $value }}}} outages in the last 24 hours (more than {flapping}) while its line was active.
          runbook_url: docs/runbooks.md#leoterminalflapping
          dashboard: {board}account&var-group_value={{{{ $labels.account }}}}
"""
    offline_now = f"""\
max by ({ID}) (timestamp({online} == 0))
and on ({ID})
max by ({ID}) (
  leo_terminal_info
  * on (provider, account, service_line) group_left ()
  (max by (provider, account, service_line) (leo_service_line_active) == 1)
)"""
    start = "terminal:leo_terminal_outage_start:timestamp_seconds"
    outage_table = _rule(
        start,
        f"({start}\n and on ({ID})\n{_indent(offline_now, 1)})\nor\n{offline_now}",
        "While an active-line terminal is offline: when its outage started (the time of the first\n"
        "offline sample this group saw); no series otherwise. It refers to itself: an ongoing\n"
        "outage keeps its start. The Availability dashboard's outage table reads its runs.",
    )
    keys_text = ", ".join(keys) or "none"
    return f"""\
# GENERATED by `leo-exporter availability-rules` (leo_exporter/availability.py): do not edit.
# Tag keys: {keys_text}; objective {objective} over {win_text}; flapping: more than {flapping} outages a day.
# Regenerate for your own tag keys and objective:
#   leo-exporter availability-rules --config.file config.yml --objective 0.995 --window 28d \\
#     --output /etc/prometheus/rules/leo-exporter.availability.yml
# Definitions and costs: docs/alerting.md ("Availability and outages"), docs/performance.md.
groups:
  - name: leo-exporter.availability
    # One evaluation an hour: a month is 720 samples per series, whatever the scrape interval.
    interval: {step}
    rules:
{"".join(rules)}
{alerts}
  - name: leo-exporter.outages
    interval: 1m
    rules:
{outage_table}"""


def add_command(sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "availability-rules",
        help="write the availability and outage Prometheus rules for the config's tag keys",
    )
    p.add_argument("--config.file", dest="config_file", default=None, help="take the tag keys from this config")
    p.add_argument("--tag-key", dest="tag_keys", action="append", default=[], help="a tag key (repeatable)")
    p.add_argument("--objective", type=float, default=DEFAULT_OBJECTIVE, help="availability objective, 0-1")
    p.add_argument("--window", default="30d", help="SLO window (default 30d)")
    p.add_argument(
        "--flapping-outages", dest="flapping", type=int, default=DEFAULT_FLAPPING, help="outages a day that flap"
    )
    p.add_argument("--output", default="-", help="the rule file to write (default: standard output)")
    p.set_defaults(handler=run)
    common(p)


def run(args: argparse.Namespace) -> int:
    keys = list(args.tag_keys)
    if args.config_file:
        try:
            keys = [*load_config(args.config_file).tags.keys, *keys]
        except ConfigError as err:
            err.report(args.config_file)
            return 2
    try:
        window = round(parse_duration(args.window))
    except ValueError as exc:
        print(f"--window: {exc}", file=sys.stderr)
        return 2
    if not 0 < args.objective < 1 or window < STEP or window % STEP or args.flapping < 0:
        print("--objective must be between 0 and 1, --window whole hours (at least 1h)", file=sys.stderr)
        return 2
    text = generate(keys, objective=args.objective, window=window, flapping=args.flapping)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
    return 0
