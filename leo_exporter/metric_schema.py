"""The machine-readable metric schema: family -> type, unit, labels, collector, providers.

`docs/metrics-schema.json` is generated from the catalogue (type, unit, collector) and from one
exposition of the simulator with every provider (which providers emit a family, with which
label names), by `scripts/gen-metrics-schema.py`. `tests/test_metric_schema.py` renders the
simulator again and fails when the exposition disagrees, so the schema changes only on purpose.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from leo_exporter.catalog import BY_NAME, CATALOG, IDENTITY_LABEL, PROCESS_CATALOG, MetricSpec

SCHEMA_VERSION = 1

# Name suffix -> unit, longest first: the base units of docs/metrics.md.
_UNITS = (
    ("_timestamp_seconds", "seconds"),
    ("_bytes_per_second", "bytes_per_second"),
    ("_bytes_total", "bytes"),
    ("_seconds_total", "seconds"),
    ("_bytes", "bytes"),
    ("_seconds", "seconds"),
    ("_ratio", "ratio"),
    ("_degrees", "degrees"),
    ("_dbm", "dbm"),
    ("_decibels", "decibels"),
    ("_meters", "meters"),
)


def unit_of(name: str) -> str:
    """The base unit a family's name ends in ('' for counts, flags and info series)."""
    if name.endswith("_info"):
        return ""
    return next((unit for suffix, unit in _UNITS if name.endswith(suffix)), "")


def base_labels(spec: MetricSpec) -> set[str]:
    """Labels every sample of the family carries, whatever the provider."""
    identity = IDENTITY_LABEL[spec.entity]
    labels = set(spec.extra) | ({identity} if identity else set())
    if spec.entity not in ("exporter", "process"):
        labels |= {"provider", "account"}
    return labels


def observe(exposition: str) -> dict[str, dict[str, set[str]]]:
    """family -> provider ('' for the exporter's own) -> label names seen in an exposition."""
    seen: dict[str, dict[str, set[str]]] = {}
    for family in text_string_to_metric_families(exposition):
        name = family.name + "_total" if family.type == "counter" else family.name
        for sample in family.samples:
            provider = sample.labels.get("provider", "")
            seen.setdefault(name, {}).setdefault(provider, set()).update(sample.labels)
    return seen


def build(
    observed: dict[str, dict[str, set[str]]], catalogue: Sequence[MetricSpec[Any, Any]] | None = None
) -> dict[str, Any]:
    """The schema document: every catalogued family (of `catalogue`, by default all of it), in
    catalogue order."""
    families: dict[str, Any] = {}
    for spec in (*(CATALOG if catalogue is None else catalogue), *PROCESS_CATALOG):
        by_provider = observed.get(spec.name, {})
        labels = set(base_labels(spec)).union(*by_provider.values()) if by_provider else base_labels(spec)
        families[spec.name] = {
            "type": spec.type,
            "unit": unit_of(spec.name),
            "labels": sorted(labels),
            "collector": spec.collector,
            "providers": sorted(p for p in by_provider if p),
        }
    return {"version": SCHEMA_VERSION, "families": families}


def dumps(schema: dict[str, Any]) -> str:
    """JSON with one family per line, so a change to the schema is a one-line diff."""
    lines = [f"  {json.dumps(name)}: {json.dumps(entry)}" for name, entry in schema["families"].items()]
    body = ",\n".join(lines)
    return f'{{\n "version": {schema["version"]},\n "families": {{\n{body}\n }}\n}}\n'


def disagreements(schema: dict[str, Any], observed: dict[str, dict[str, set[str]]]) -> Iterable[str]:
    """What a live exposition shows that the schema does not say, one line each."""
    families = schema["families"]
    for name, by_provider in observed.items():
        entry = families.get(name)
        if entry is None:
            yield f"{name}: served but not in the schema"
            continue
        if BY_NAME[name].type != entry["type"]:
            yield f"{name}: type {BY_NAME[name].type}, schema says {entry['type']}"
        labels = set().union(*by_provider.values())
        if labels != set(entry["labels"]):
            extra, missing = sorted(labels - set(entry["labels"])), sorted(set(entry["labels"]) - labels)
            yield f"{name}: labels {extra} served but not in the schema, {missing} in the schema but not served"
        providers = sorted(p for p in by_provider if p)
        if providers != entry["providers"]:
            yield f"{name}: emitted by {providers}, schema says {entry['providers']}"
    for name, entry in families.items():
        if entry["providers"] and name not in observed:
            yield f"{name}: the schema says {entry['providers']} emit it, the simulator served none"


def series_per_terminal(exposition: str) -> dict[str, dict[str, float]]:
    """collector -> provider -> series per terminal of that provider, measured on an exposition
    (the exporter's own figures do not grow with the fleet and are left out)."""
    samples: dict[tuple[str, str], int] = {}
    terminals: dict[str, int] = {}
    for family in text_string_to_metric_families(exposition):
        name = family.name + "_total" if family.type == "counter" else family.name
        spec = BY_NAME.get(name)
        if spec is None or spec.collector == "exporter":
            continue
        for sample in family.samples:
            provider = sample.labels.get("provider", "")
            key = (spec.collector, provider)
            samples[key] = samples.get(key, 0) + 1
            if name == "leo_terminal_info":
                terminals[provider] = terminals.get(provider, 0) + 1
    out: dict[str, dict[str, float]] = {}
    for (collector, provider), count in samples.items():
        if terminals.get(provider):
            out.setdefault(collector, {})[provider] = count / terminals[provider]
    return out
