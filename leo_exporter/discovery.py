"""`/http_sd`: this exporter's scrape targets for Prometheus' `http_sd_configs`, one per account.

A large exporter scraped as one target is parsed by Prometheus in one piece; listed as one target
per account (and one for the exporter's own figures), Prometheus scrapes and parses them in
parallel. A target's query parameters come from `__param_<name>` labels, and a label name cannot
hold `[]`: so each target asks `account=<name>` and `collect=<group>,<group>` (the aliases of
`account[]` and `collect[]` on the metrics path). The account targets ask every group but the
exporter's own, and the exporter's target only that one (the exporter's figures carry no account,
or are per job): each series comes from exactly one target, so none collide when the target label
`scrape_account` is dropped from the scraped series (deploy/prometheus/prometheus-http-sd.yml).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable

from leo_exporter import catalog

TARGET_LABEL = "scrape_account"  # tells the targets' `up` apart; dropped from the scraped series
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$")


def collectors(values: Iterable[str]) -> list[str]:
    """Collector groups given as repeated and/or comma-separated values (`collect=a,b&collect=c`)."""
    return [name for value in values for name in value.split(",") if name]


def unknown_collectors(groups: Iterable[str], asked: str) -> str | None:
    """The message of a 400 for the names among `groups` that are no collector group (`asked`: the
    query parameter that named them), or None when all are."""
    known = (*catalog.COLLECTORS, catalog.ALWAYS_ON)
    unknown = sorted(set(groups) - set(known))
    if not unknown:
        return None
    return f"unknown collector {', '.join(map(repr, unknown))} in {asked}; there are: {', '.join(known)}"


def http_sd(query: bytes, host: str | None, accounts: Iterable[str], metrics_path: str) -> tuple[int, bytes]:
    """The status and body of an `/http_sd` request: the target groups as JSON, or a 400's message.

    `?collect=` narrows the groups the targets ask for (the exporter's target only when `exporter`
    is one of them); `?target=host:port` names the address Prometheus scrapes (default: the Host
    this request was sent to)."""
    params = urllib.parse.parse_qs(query.decode("latin-1"), keep_blank_values=True)
    groups = collectors(params.get("collect", [])) or [*catalog.COLLECTORS, catalog.ALWAYS_ON]
    problem = unknown_collectors(groups, "collect")
    if problem is not None:
        return 400, f"{problem}\n".encode()
    address = (params.get("target") or [host or ""])[-1]
    if not _HOST.match(address):
        return 400, b"no usable target address: send a Host header, or ?target=host:port\n"
    shared = {"__metrics_path__": metrics_path}
    account_groups = ",".join(g for g in groups if g != catalog.ALWAYS_ON)
    found: list[dict[str, object]] = []
    if account_groups:
        found += [
            {
                "targets": [address],
                "labels": {**shared, "__param_account": name, "__param_collect": account_groups, TARGET_LABEL: name},
            }
            for name in sorted(accounts)
        ]
    if catalog.ALWAYS_ON in groups:
        found.append({"targets": [address], "labels": {**shared, "__param_collect": catalog.ALWAYS_ON}})
    return 200, json.dumps(found, indent=1).encode() + b"\n"
