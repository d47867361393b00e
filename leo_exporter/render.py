"""Fleet state -> Prometheus text exposition (format 0.0.4), rendered once per change.

`prometheus_client` builds a sample object per series and escapes every label on every
scrape: about 30 µs a series, a minute for two million. Here:

- each entity's label string was built when the entity appeared, so a sample line is one
  f-string;
- the output is cached as chunks, one per (family, account), kept deflated; only the chunks of
  tables that changed since the last render are redone, so a telemetry poll of one account
  re-renders that account's terminal and router families only;
- the gzip body is the cached deflate chunks between a gzip header and trailer (like pigz), so
  compressing is paid once per change, not once per scrape, and the body is never held twice
  (the chunks are sent as they are); a plain-text scrape inflates the chunks as it sends them.

Output looks like this (families in catalogue order, families without samples left out):

    # HELP leo_terminal_online 1 if the terminal is online, ...
    # TYPE leo_terminal_online gauge
    leo_terminal_online{provider="starlink",account="fleet-north",terminal_id="01000000-..."} 1.0
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from prometheus_client.exposition import generate_latest
from prometheus_client.process_collector import ProcessCollector

from leo_exporter import deflate
from leo_exporter import version as build
from leo_exporter.catalog import ALWAYS_ON, CATALOG, TAG_FAMILIES, MetricSpec
from leo_exporter.jobstatus import JobStatus
from leo_exporter.labeltext import escape_label
from leo_exporter.samples import Samples
from leo_exporter.state import AccountState, EntityTable, FleetState

S = TypeVar("S")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Chunk:
    """One (family, account) piece of the exposition, kept only deflated: 13x smaller than text."""

    deflated: bytes  # raw deflate ending in a sync flush: chunks concatenate into one stream
    crc: int  # CRC-32 of the text, and of as many zero bytes (to combine CRCs without the text)
    zeros_crc: int
    length: int
    series: int

    @classmethod
    def of(cls, text: str, series: int) -> Chunk:
        plain = text.encode()
        deflated = deflate.deflate_chunk(plain)
        return cls(deflated, deflate.crc32(plain), deflate.crc32_of_zeros(len(plain), 0), len(plain), series)

    def plain(self) -> bytes:
        return deflate.inflate_chunk(self.deflated)


def combined_crc(chunks: list[Chunk]) -> int:
    """CRC-32 of the chunks' texts one after the other: crc(A+B) = crc(B) ^ crc(0*|B|, crc(A)) ^ crc(0*|B|)."""
    crc = 0
    for chunk in chunks:
        crc = deflate.combine_crc(crc, chunk.crc, chunk.zeros_crc, chunk.length)
    return crc


@dataclass(frozen=True, slots=True)
class ChunkTag:
    """What one chunk of an exposition holds, so the front can serve a `collect[]` or `account[]`
    scrape by slicing the chunks it already has (no render): the family, its collector group, the
    account whose samples it is (None: the family's header, or a chunk of no account: the
    exporter's own figures)."""

    family: str
    group: str
    account: str | None
    header: bool = False


@dataclass(frozen=True, slots=True)
class Exposition:
    """One rendering: the deflated chunks, sent between a gzip header and trailer as they are (no
    joined copy of the body is kept: that would be a second copy of every chunk, and the previous
    rendering's while the next is made); plain text is inflated from the chunks on demand
    (Prometheus always asks for gzip; keeping hundreds of MB of text for curl is not worth it)."""

    chunks: tuple[Chunk, ...]
    crc: int  # CRC-32 of the plain text
    length: int
    series: int
    rendered_at: float  # the state's (wall) clock: for display only, it may step either way
    duration: float = 0.0  # seconds the rendering took
    sequence: int = 0  # the order of renderings (Renderer.sequence): what the handoff orders by
    tags: tuple[ChunkTag, ...] = ()  # one per chunk, in the same order (empty: not sliceable)
    accounts: tuple[str, ...] = ()  # the accounts this rendering covers, data or not
    # accounts with an enabled job that has not succeeded yet in this process: after a restart the
    # front carries the last worker's data of theirs that this rendering lacks
    unsettled: tuple[str, ...] = ()

    @property
    def trailer(self) -> bytes:
        """The end of the deflate stream and the gzip trailer (CRC and length of the text)."""
        return deflate.gzip_end(self.crc, self.length)

    @property
    def gzip_size(self) -> int:
        body = sum(len(c.deflated) for c in self.chunks)
        return len(deflate.GZIP_HEADER) + body + len(deflate.DEFLATE_END) + deflate.TRAILER_SIZE

    def gzip_pieces(self, piece_bytes: int = 1 << 20) -> list[bytes]:
        """The gzip body in pieces of about `piece_bytes` (small chunks joined, large ones as they are)."""
        pieces: list[bytes] = []
        group: list[bytes] = [deflate.GZIP_HEADER]
        size = len(deflate.GZIP_HEADER)
        for chunk in self.chunks:
            if size + len(chunk.deflated) > piece_bytes and group:
                pieces.append(b"".join(group))
                group, size = [], 0
            group.append(chunk.deflated)
            size += len(chunk.deflated)
        group.append(self.trailer)
        pieces.append(b"".join(group))
        return pieces

    @property
    def gzipped(self) -> bytes:
        """The whole gzip body as one bytes object (joined on each call: tests and tools)."""
        return b"".join([deflate.GZIP_HEADER, *(c.deflated for c in self.chunks), self.trailer])

    @property
    def plain(self) -> bytes:
        return b"".join(chunk.plain() for chunk in self.chunks)


def format_value(value: float) -> str:
    """Go-compatible float text, as Prometheus parses it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _simple_text(name: str, labels: dict[str, str], values: dict[str, float]) -> str:
    """The hot path: samples with identity labels only. Tables hold finite floats only (the
    state refuses the others), so repr() is the Go-compatible text."""
    pre = name + "{"
    return "".join([f"{pre}{labels[eid]}}} {value!r}\n" for eid, value in values.items()])


def _labelled_text(name: str, labels: dict[str, str], values: dict[str, Samples]) -> str:
    pre = name + "{"
    return "".join(
        [
            f"{pre}{labels[eid]},{frag}}} {v!r}\n"
            for eid, samples in values.items()
            for frag, v in zip(samples.fragments, samples.numbers)  # noqa: B905 (equal lengths by construction)
        ]
    )


def _table_text(spec: MetricSpec, table: EntityTable) -> tuple[str, int] | None:
    """The samples of one family for one account's table, and how many there are."""
    name = spec.name
    if spec.type == "info":
        infos, labels = (table.tags if spec in TAG_FAMILIES else table.info_extra), table.labels
        if not infos:
            return None
        return "".join([f"{name}{{{labels[eid]}{extra}}} 1.0\n" for eid, extra in infos.items()]), len(infos)
    if spec.extra:
        labelled = table.labelled.get(name)
        if not labelled:
            return None
        return _labelled_text(name, table.labels, labelled), sum([len(s.fragments) for s in labelled.values()])
    values = table.simple.get(name)
    if not values:
        return None
    return _simple_text(name, table.labels, values), len(values)


class _Deflater:
    """Compresses chunks on a thread while the renderer builds the next text (ISA-L releases the
    GIL), with few chunks in flight so a full render never holds all its text at once."""

    def __init__(self, workers: int = 1, in_flight: int = 8):
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deflate")
        self.slots = threading.BoundedSemaphore(in_flight)

    def submit(self, text: str, series: int) -> Future[Chunk]:
        self.slots.acquire()
        future = self.pool.submit(Chunk.of, text, series)
        future.add_done_callback(lambda _: self.slots.release())
        return future


_JOB_FIELDS = {
    "leo_exporter_job_up": "up",
    "leo_exporter_job_enabled": "enabled",
    "leo_exporter_job_last_run_timestamp_seconds": "last_run",
    "leo_exporter_job_last_success_timestamp_seconds": "last_success",
    "leo_exporter_job_duration_seconds": "duration",
    "leo_exporter_job_interval_seconds": "interval",
    "leo_exporter_job_configured_enabled": "configured_enabled",
    "leo_exporter_job_configured_interval_seconds": "configured_interval",
}


def build_info_labels() -> str:
    """`version`, `revision`, `python_version` of leo_exporter_build_info (leo_exporter/version.py:
    from the git tags and commit at build time, or the image's build arguments)."""
    pairs = (("version", build.version), ("revision", build.revision), ("python_version", build.python_version))
    return ",".join(f'{name}="{escape_label(value)}"' for name, value in pairs)


def _job_labels(job: JobStatus) -> str:
    """provider, account and the bare `call`: never `job`, which belongs to Prometheus' targets."""
    return f'{job.account.base},call="{escape_label(job.call)}"'


def _lines(name: str, samples: list[tuple[str, float]]) -> str:
    return "".join(f"{name}{{{labels}}} {format_value(value)}\n" for labels, value in samples)


class Renderer:
    """Builds the exposition from the state; call only from the state worker."""

    def __init__(self, state: FleetState, *, shard: tuple[int, int] = (0, 1), disabled: frozenset[str] = frozenset()):
        self.state = state
        self.shard = shard  # (index, total) of this replica, for leo_exporter_shard_info
        self.disabled = disabled  # collector groups switched off: their families cost no series
        self._headers = {spec.name: Chunk.of(spec.header, 0) for spec in CATALOG}
        # (family, account) -> (what the chunk was made from, the chunk): a table's version and
        # labels, or the figures of the account's jobs
        self._cache: dict[tuple[str, str], tuple[Hashable, Chunk | Future[Chunk] | None]] = {}
        self._jobs: dict[str, tuple[list[JobStatus], Hashable]] = {}  # this rendering's jobs by account
        self._deflater = _Deflater()
        self._accounts: frozenset[str] = frozenset()  # the accounts of the last rendering
        self._submitted: list[tuple[str, str]] = []  # cache keys given to the deflater this rendering
        self._build_info = build_info_labels()
        # read /proc at every render (at least every render_interval): no second registry to scrape
        self._process = ProcessCollector(registry=None)
        self.sequence = 0  # renderings begun: each one's number, whatever the wall clock does

    def invalidate(self) -> None:
        """Forget every cached chunk: the next render is a full one (benchmarks time that)."""
        self._cache.clear()

    def render(self) -> Exposition:
        """The exposition of the state as it is: reads only (the caller ticks the state first)."""
        started = time.perf_counter()
        self.sequence += 1
        sequence = self.sequence
        now = self.state.clock()
        accounts = list(self.state.accounts.values())
        names = frozenset(self.state.accounts)
        if names != self._accounts:  # departed accounts: their chunks go (a scan only when one went)
            for key in [k for k in self._cache if k[1] not in names]:
                del self._cache[key]
            self._accounts = names
        self._submitted = []
        self._jobs = _jobs_by_account(self.state.jobs)
        pending: list[Chunk | Future[Chunk]] = []
        tags: list[ChunkTag] = []
        for spec in CATALOG:
            if self.disabled and spec.collector in self.disabled:
                continue
            samples = self._family(spec, accounts)
            if samples:
                header = self._headers.get(spec.name)
                if header is None:  # a family the registry installed after this renderer was made
                    header = self._headers[spec.name] = Chunk.of(spec.header, 0)
                pending.append(header)
                tags.append(ChunkTag(spec.name, spec.collector, None, header=True))
                pending.extend(chunk for _, chunk in samples)
                tags.extend(ChunkTag(spec.name, spec.collector, account) for account, _ in samples)
        process = self._process_chunk()
        if process is not None:
            pending.append(process)
            tags.append(ChunkTag("process", ALWAYS_ON, None))
        parts = [p.result() if isinstance(p, Future) else p for p in pending]
        for key in self._submitted:  # the cache keeps chunks, not the futures of this rendering
            stamp, value = self._cache[key]
            if isinstance(value, Future):
                self._cache[key] = (stamp, value.result())
        return Exposition(
            chunks=tuple(parts),
            crc=combined_crc(parts),
            length=sum(c.length for c in parts),
            series=sum(c.series for c in parts),
            rendered_at=now,
            duration=time.perf_counter() - started,
            sequence=sequence,
            tags=tuple(tags),
            accounts=tuple(a.name for a in accounts),
            unsettled=tuple(sorted({j.account.name for j in self.state.jobs if j.enabled and j.last_success is None})),
        )

    def _family(self, spec: MetricSpec, accounts: list[AccountState]) -> list[tuple[str | None, Chunk | Future[Chunk]]]:
        """The family's sample chunks, each with the account it belongs to (None: no account's)."""
        entity = spec.entity
        if entity == "exporter":
            text = self._exporter_text(spec)
            return [(None, Chunk.of(text, 1))] if text else []
        if entity == "job":  # one chunk per account, in the jobs' order; made again only after a run
            statuses = ((name, stamp, jobs) for name, (jobs, stamp) in self._jobs.items())
            return self._cached(spec, statuses, partial(self._job_text, spec), inline=True)
        if entity == "account":  # one chunk per account, like the tables; deflated again only when its text changed
            texts = ((a.name, made, made) for a in accounts if (made := self._account_text(spec, a))[1])
            return self._cached(spec, texts, _as_is, inline=True)
        tables = ((a.name, (a.tables[entity].version, a.base), a.tables[entity]) for a in accounts)
        return self._cached(spec, tables, partial(_table_text, spec))

    def _cached(
        self,
        spec: MetricSpec,
        sources: Iterable[tuple[str, Hashable, S]],
        text_of: Callable[[S], tuple[str, int] | None],
        inline: bool = False,
    ) -> list[tuple[str | None, Chunk | Future[Chunk]]]:
        """Each account's chunk of the family: the cached one while what it was made from (`stamp`)
        is the same, else made again from `source`: deflated on the deflater's thread, or here when
        `inline` (the few hundred bytes of an account's job or account chunk: thousands of thread
        handoffs at start, when every job has just run, starved the event loop at 3,000 accounts)."""
        chunks: list[tuple[str | None, Chunk | Future[Chunk]]] = []
        for name, stamp, source in sources:
            key = (spec.name, name)
            cached = self._cache.get(key)
            if cached is None or cached[0] != stamp:
                found = text_of(source)
                if found is None or not found[1]:  # no entry for a pair without series: finding that out
                    self._cache.pop(key, None)  # is one lookup, and most of an account's 82 families have none
                    continue
                cached = (stamp, Chunk.of(*found) if inline else self._deflater.submit(*found))
                self._cache[key] = cached
                self._submitted.append(key)
            if cached[1] is not None:
                chunks.append((name, cached[1]))
        return chunks

    def _process_chunk(self) -> Chunk | None:
        """The standard process_* families, in prometheus_client's own text."""
        text = generate_latest(self._process).decode()
        series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        return Chunk.of(text, series) if series else None

    def _exporter_text(self, spec: MetricSpec) -> str:
        if spec.name == "leo_exporter_shard_info":
            if self.state.shard_leases:  # shards by lease: no one index (leo_exporter_shard_leader)
                return ""
            index, total = self.shard
            return f'{spec.name}{{index="{index}",total="{total}"}} 1.0\n'
        if spec.name == "leo_exporter_shard_leader":
            leases = sorted(self.state.shard_leases.items())
            return "".join(f'{spec.name}{{shard="{i}"}} {format_value(float(lead))}\n' for i, (lead, _) in leases)
        if spec.name == "leo_exporter_shard_transitions_total":
            leases = sorted(self.state.shard_leases.items())
            return "".join(f'{spec.name}{{shard="{i}"}} {format_value(float(n))}\n' for i, (_, n) in leases)
        if spec.type == "info":
            return f"{spec.name}{{{self._build_info}}} 1.0\n"
        value = self.state.exporter_values.get(spec.name)
        return "" if value is None else f"{spec.name} {format_value(value)}\n"

    def _account_text(self, spec: MetricSpec, account: AccountState) -> tuple[str, int]:
        lines = self._account_lines(spec, account)
        return "".join(lines), len(lines)

    def _account_lines(self, spec: MetricSpec, account: AccountState) -> list[str]:
        name = spec.name
        if spec.type == "info":
            return [f"{name}{{{labels}}} 1.0\n" for labels in account.info_labels()]
        if name in account.counters:
            samples = account.counters[name].copy()
            return [
                f"{name}{{{account.base}{',' + frag if frag else ''}}} {format_value(v)}\n"
                for frag, v in samples.items()
            ]
        if name in account.values:
            return [f"{name}{{{account.base}}} {format_value(account.values[name])}\n"]
        return []

    def _job_text(self, spec: MetricSpec, jobs: list[JobStatus]) -> tuple[str, int]:
        name = spec.name
        if name == "leo_exporter_job_runs_total":
            samples = [
                (f'{_job_labels(job)},result="{result}"', count)
                for job in jobs
                for result, count in job.runs.copy().items()
            ]
        else:
            attr = _JOB_FIELDS[name]
            samples = [(_job_labels(job), float(value)) for job in jobs if (value := getattr(job, attr)) is not None]
        return _lines(name, samples), len(samples)


def _as_is(found: tuple[str, int]) -> tuple[str, int]:
    return found


def _jobs_by_account(jobs: list[JobStatus]) -> dict[str, tuple[list[JobStatus], Hashable]]:
    """Each account's jobs, with what their series are made of: the same until one of them runs
    or is changed (thousands of accounts' job chunks are not made again at every rendering)."""
    by_account: dict[str, list[JobStatus]] = {}
    for job in jobs:
        by_account.setdefault(job.account.name, []).append(job)
    return {name: (js, (js[0].account.base, *map(_job_figures, js))) for name, js in by_account.items()}


def _job_figures(job: JobStatus) -> tuple[object, ...]:
    return (
        job.call,
        job.up,
        job.enabled,
        job.last_run,
        job.last_success,
        job.duration,
        job.interval,
        job.configured_enabled,
        job.configured_interval,
        *job.runs.items(),
    )
