"""Fleet state -> Prometheus text exposition (format 0.0.4), rendered once per change.

`prometheus_client` builds a sample object per series and escapes every label on every
scrape: about 30 µs a series, half a minute for a million. Here each entity's label string
was built when the entity appeared, so a sample line is one string concatenation; the result
is cached as bytes (and gzip) and every scrape is served from that cache.

Output looks like this (families in catalogue order, families without samples left out):

    # HELP leo_terminal_online 1 if the terminal is online, ...
    # TYPE leo_terminal_online gauge
    leo_terminal_online{provider="starlink",account="ACC-1",terminal_id="01000000-..."} 1.0
"""

from __future__ import annotations

import gzip
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

from exporter import __version__
from exporter.catalog import CATALOG, MetricSpec
from exporter.state import FleetState, JobStatus, escape_label

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
GZIP_LEVEL = 1  # level 1 is ~4x faster than 6 and only ~15% larger on this repetitive text


@dataclass(frozen=True, slots=True)
class Exposition:
    plain: bytes
    gzipped: bytes
    rendered_at: float
    series: int


def format_value(value: float) -> str:
    """Go-compatible float text, as Prometheus parses it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _lines(prefix: str, samples: Iterator[tuple[str, float]] | list[tuple[str, float]]) -> list[str]:
    return [f"{prefix}{{{labels}}} {format_value(value)}\n" for labels, value in samples]


def _fast_lines(prefix: str, labels: dict[str, str], values: dict[str, float]) -> list[str]:
    """The hot path: identity-labelled samples of one entity table, as one joined chunk."""
    chunk = "".join([f"{prefix}{{{labels[eid]}}} {value!r}\n" for eid, value in values.items()])
    if "inf\n" in chunk or "nan\n" in chunk:  # repr() spells these the Python way: redo them
        chunk = "".join(_lines(prefix, ((labels[eid], v) for eid, v in values.items())))
    return [chunk]


_JOB_FIELDS = {
    "leo_exporter_job_up": "up",
    "leo_exporter_job_enabled": "enabled",
    "leo_exporter_job_last_run_timestamp_seconds": "last_run",
    "leo_exporter_job_last_success_timestamp_seconds": "last_success",
    "leo_exporter_job_duration_seconds": "duration",
    "leo_exporter_job_interval_seconds": "interval",
}


def _job_labels(job: JobStatus) -> str:
    return f'{job.account.base},job="{escape_label(job.key)}"'


class Renderer:
    """Builds the exposition from the state; call only from the state worker."""

    def __init__(self, state: FleetState):
        self.state = state

    def render(self) -> Exposition:
        started = time.perf_counter()
        now = self.state.clock()
        for account in self.state.accounts.values():
            account.expire(now)
        chunks: list[bytes] = []
        series = 0
        for spec in CATALOG:
            lines = self._family(spec)
            if not lines:
                continue
            series += sum(chunk.count("\n") for chunk in lines)
            kind = spec.exposition_type
            header = f"# HELP {spec.name} {spec.help}\n# TYPE {spec.name} {kind}\n"
            chunks.append((header + "".join(lines)).encode())
        plain = b"".join(chunks)
        self.state.exporter_values["leo_exporter_render_duration_seconds"] = time.perf_counter() - started
        self.state.exporter_values["leo_exporter_exposition_bytes"] = float(len(plain))
        return Exposition(plain, gzip.compress(plain, GZIP_LEVEL, mtime=0), now, series)

    def _family(self, spec: MetricSpec) -> list[str]:
        name, entity = spec.name, spec.entity
        accounts = list(self.state.accounts.values())
        if entity == "exporter":
            if spec.type == "info":
                return [f'{name}{{version="{escape_label(__version__)}"}} 1.0\n']
            value = self.state.exporter_values.get(name)
            return [] if value is None else [f"{name} {format_value(value)}\n"]
        if entity == "job":
            return self._job_family(spec)
        if entity == "account":
            return self._account_family(spec, accounts)
        lines: list[str] = []
        for account in accounts:
            table = account.tables[entity]
            if spec.type == "info":
                lines += [f"{name}{{{labels}}} 1.0\n" for labels in table.info_labels.values()]
            elif spec.extra:
                labelled = table.labelled.get(name)
                if labelled:
                    labels = table.labels
                    lines += _lines(
                        name,
                        ((f"{labels[eid]},{frag}", v) for eid, s in labelled.items() for frag, v in s.items()),
                    )
            else:
                values = table.simple.get(name)
                if values:
                    lines += _fast_lines(name, table.labels, values)
        return lines

    def _account_family(self, spec: MetricSpec, accounts: list) -> list[str]:
        name = spec.name
        lines: list[str] = []
        for account in accounts:
            if spec.type == "info":
                lines.append(f"{name}{{{account.info_labels()}}} 1.0\n")
            elif name in account.counters:
                samples = account.counters[name].copy()
                lines += _lines(
                    name, ((f"{account.base},{frag}" if frag else account.base, v) for frag, v in samples.items())
                )
            elif name in account.values:
                lines.append(f"{name}{{{account.base}}} {format_value(account.values[name])}\n")
        return lines

    def _job_family(self, spec: MetricSpec) -> list[str]:
        name = spec.name
        if name == "leo_exporter_job_runs_total":
            return _lines(
                name,
                (
                    (f'{_job_labels(job)},result="{result}"', count)
                    for job in self.state.jobs
                    for result, count in job.runs.copy().items()
                ),
            )
        attr = _JOB_FIELDS[name]
        samples = []
        for job in self.state.jobs:
            value = getattr(job, attr)
            if value is not None:
                samples.append((_job_labels(job), float(value)))
        return _lines(name, samples)
