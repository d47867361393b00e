"""Fleet state -> Prometheus text exposition (format 0.0.4), rendered once per change.

`prometheus_client` builds a sample object per series and escapes every label on every
scrape: about 30 µs a series, a minute for two million. Here:

- each entity's label string was built when the entity appeared, so a sample line is one
  f-string;
- the output is cached as chunks, one per (family, account), kept deflated; only the chunks of
  tables that changed since the last render are redone, so a telemetry poll of one account
  re-renders that account's terminal and router families only; the service lines, pools and
  other slow tables of accounts of a few entities share a chunk a family with their neighbours
  (TABLE_BLOCK), which the front slices by line;
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
import operator
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
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

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_M = TypeVar("_M")


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
        return cls(*deflate.piece(plain), len(plain), series)

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
    # a block's accounts, in order (the exporter's own figures of accounts, or the slow tables of
    # small accounts): an `account[]` scrape keeps only its accounts' lines of it
    # (handoff.Body.select); empty for a chunk of one account or of none
    members: tuple[str, ...] = ()
    # the series of each member in a block of tables (0: none of its lines), so that the front can
    # tell which accounts a restarted worker already has data of (handoff.carry); empty otherwise
    member_series: tuple[int, ...] = ()

    @property
    def several(self) -> bool:
        """Samples of several accounts: a block."""
        return bool(self.members)


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

    def body_pieces(self, piece_bytes: int = 1 << 20) -> Iterator[bytes]:
        """The gzip header and the chunks (no deflate end, no trailer) in pieces of about
        `piece_bytes`, made one at a time as they are taken: sending a rendering holds one piece,
        not a second copy of the body (30 MiB at 50,000 terminals, at every rendering)."""
        group: list[bytes] = [deflate.GZIP_HEADER]
        size = len(deflate.GZIP_HEADER)
        for chunk in self.chunks:
            if size + len(chunk.deflated) > piece_bytes and group:
                yield b"".join(group)
                group, size = [], 0
            group.append(chunk.deflated)
            size += len(chunk.deflated)
        if group:
            yield b"".join(group)

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


# The exporter's own figures of each account (its jobs' and its request counters: 16 families) are
# rendered in blocks of this many accounts, one chunk a family and block: they are a few lines an
# account, and a chunk each cost about 480 bytes in the worker (the chunk, its cache entry and tag)
# and an index entry in the front; at 3,000 accounts that was a third of the rendering's 126,000
# chunks. A block is made again when one of its accounts' figures changed: a few hundred lines.
EXPORTER_BLOCK = 32

# An account whose table of a slow kind (service lines, pools, sites, organizations, products: no
# live readings, changed by jobs every few minutes or hours) holds at most SMALL_TABLE entities
# shares that table's chunks with its neighbours: accounts fall into fixed slots of TABLE_BLOCK by
# their place in the config, and a slot's small accounts have one chunk per family instead of one
# each (about 500 bytes of objects a chunk in the worker besides its deflate, and an index entry
# in the front). A block is made again when one of its accounts' tables changed. Terminal and
# router tables keep a chunk an account: telemetry remakes them every few seconds, and remaking
# blocks of them at that pace raised the worker's resident memory at 3,000 accounts by 35 MiB
# (more text made and dropped at each rendering) although it held 30 MB fewer objects. In a
# restarted worker a block's tag counts each member's series, so that the front carries the last
# worker's data of an account the block lacks (handoff.carry). An account whose first runs were under way
# kept chunks of its own for that instead: at 3,000 accounts the worker's peak was 315 MiB, the
# chunks made and dropped when the accounts joined their blocks (291 MiB without).
TABLE_BLOCK = 8
SMALL_TABLE = 16
# distinct block counts held to share (bench/account_memory.py: the counts cost 357 bytes of live
# objects an account with a tuple each, 191 shared)
COUNTS_HELD = 4096

# Texts shorter than this are deflated on the rendering thread: handing one to the deflater costs
# more than deflating it here, and a Future with its lock (about 1.5 KiB) held until the rendering
# ends; at 3,000 accounts a first rendering handed over 126,000 chunks of a few hundred bytes (and
# the thread handoffs of tiny job and account chunks starved the event loop: /readyz after 43 s).
INLINE_DEFLATE_CHARS = 16_384


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


class _Entry:
    """A cached chunk of one (family, account): what it was made from (`source` and its `stamp`,
    a version that moves with every change), the chunk, and its tag (made once, not at every
    rendering: at 3,000 accounts a rendering has 126,000 chunks)."""

    __slots__ = ("chunk", "seen", "source", "stamp", "tag")

    def __init__(self, source: object, stamp: int, chunk: Chunk | Future[Chunk], tag: ChunkTag, seen: int = 0):
        self.source = source
        self.stamp = stamp
        self.chunk = chunk
        self.tag = tag
        self.seen = seen  # the last rendering that used it (Renderer.sequence)


class Renderer:
    """Builds the exposition from the state; call only from the state worker.

    A rendering allocates in proportion to what changed, not to the fleet: every (family,
    account) chunk is looked up by names and compared by an integer version, so thousands of
    unchanged accounts cost no new objects (objects made at every rendering and kept until the
    next one scatter the heap between the long-lived data that job runs add meanwhile)."""

    def __init__(
        self,
        state: FleetState,
        *,
        shard: tuple[int, int] = (0, 1),
        disabled: frozenset[str] = frozenset(),
        restarted: bool = False,
    ):
        self.state = state
        # a worker that replaces one: its front may carry the last worker's data of an account a
        # block lacks (handoff.carry), which it tells from the blocks' counts of each account's
        # series; a first start has nothing to carry, and counting cost its worker 5 to 11 MiB at
        # its peak at 3,000 accounts (three runs against four)
        self.restarted = restarted
        self.shard = shard  # (index, total) of this replica, for leo_exporter_shard_info
        self.disabled = disabled  # collector groups switched off: their families cost no series
        self._headers = {spec.name: Chunk.of(spec.header, 0) for spec in CATALOG}
        self._header_tags = {spec.name: ChunkTag(spec.name, spec.collector, None, header=True) for spec in CATALOG}
        self._cache: dict[str, dict[str, _Entry]] = {}  # family -> account -> its cached chunk
        self._jobs_of: list[JobStatus] | None = None  # the job list `_jobs` was grouped from
        self._jobs_count = 0  # its length then (the app replaces the list; a test may append to it)
        self._jobs: dict[str, list[JobStatus]] = {}  # each account's jobs, in the jobs' order
        self._deflater = _Deflater()
        self._accounts: frozenset[str] = frozenset()  # the accounts of the last rendering
        self._submitted: list[_Entry] = []  # entries whose chunk the deflater makes this rendering
        # blocks' counts, each tuple held once: most blocks count the same (a line or two an account)
        self._counts: dict[tuple[int, ...], tuple[int, ...]] = {}
        self._build_info = build_info_labels()
        # read /proc at every render (at least every render_interval): no second registry to scrape
        self._process = ProcessCollector(registry=None)
        self._process_tag = ChunkTag("process", ALWAYS_ON, None)
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
        unsettled = frozenset(j.account.name for j in self.state.jobs if j.enabled and j.last_success is None)
        names = frozenset(self.state.accounts)
        if names != self._accounts:  # departed accounts: their chunks go (a scan only when one went)
            for family in self._cache.values():
                for name in [n for n in family if n not in names]:
                    del family[name]
            self._accounts = names
        jobs = self.state.jobs
        if jobs is not self._jobs_of or len(jobs) != self._jobs_count:  # jobs added or removed
            self._jobs_of, self._jobs_count = jobs, len(jobs)
            self._jobs = _jobs_by_account(jobs)
        self._submitted = []
        pending: list[Chunk | Future[Chunk]] = []
        tags: list[ChunkTag] = []
        for spec in CATALOG:
            if self.disabled and spec.collector in self.disabled:
                continue
            entries = self._family(spec, accounts)
            if entries:
                header = self._headers.get(spec.name)
                if header is None:  # a family the registry installed after this renderer was made
                    header = self._headers[spec.name] = Chunk.of(spec.header, 0)
                    self._header_tags[spec.name] = ChunkTag(spec.name, spec.collector, None, header=True)
                pending.append(header)
                tags.append(self._header_tags[spec.name])
                pending.extend([entry.chunk for entry in entries])
                tags.extend([entry.tag for entry in entries])
        process = self._process_chunk()
        if process is not None:
            pending.append(process)
            tags.append(self._process_tag)
        parts = [p.result() if isinstance(p, Future) else p for p in pending]
        for entry in self._submitted:  # the cache keeps chunks, not the futures of this rendering
            if isinstance(entry.chunk, Future):
                entry.chunk = entry.chunk.result()
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
            unsettled=tuple(sorted(unsettled)),
        )

    def _family(self, spec: MetricSpec, accounts: list[AccountState]) -> list[_Entry]:
        """The family's chunks, in the accounts' order: cached ones while their source's version
        is the same, else made again (an account with no series in it has no entry)."""
        entity = spec.entity
        if entity == "exporter":
            text = self._exporter_text(spec)
            tag = ChunkTag(spec.name, spec.collector, None)
            return [_Entry(None, 0, Chunk.of(text, 1), tag)] if text else []
        cache = self._cache.setdefault(spec.name, {})
        entries: list[_Entry] = []
        if entity == "job":  # made again only after one of the block's jobs ran or was changed
            lists = list(self._jobs.values())
            stamps = [sum([job.version for job in jobs]) for jobs in lists]  # versions only grow
            names = [jobs[0].account.name for jobs in lists]
            return self._blocks(spec, cache, lists, stamps, names, lambda jobs: self._job_text(spec, jobs))
        if entity == "account" and spec.collector == ALWAYS_ON:  # the exporter's figures of each account
            stamps = [account.version for account in accounts]  # read before the texts (see below)
            names = [account.name for account in accounts]
            return self._blocks(spec, cache, accounts, stamps, names, lambda account: self._account_text(spec, account))
        if entity == "account":  # made again only after the account's own series changed
            for account in accounts:
                stamp = account.version  # read before the text: the event loop counts requests meanwhile
                entry = cache.get(account.name)
                if entry is None or entry.source is not account or entry.stamp != stamp:
                    found = self._account_text(spec, account)
                    entry = self._made(spec, cache, account.name, account, stamp, found)
                if entry is not None:
                    entries.append(entry)
        else:  # an entity table: made again after the table changed
            entries = self._tables(spec, cache, accounts)
        return entries

    def _tables(self, spec: MetricSpec, cache: dict[str, _Entry], accounts: list[AccountState]) -> list[_Entry]:
        """A table family's chunks in the accounts' order. The accounts fall into fixed slots of
        TABLE_BLOCK by their place in the config, so one account's change of size reshapes only
        its own slot's blocks; in a slot, a run of small accounts' tables of a slow kind shares a
        chunk (its tag says each account's series in it), any other table has its own (the same
        text in the same order either way). Chunks no longer used (an account that joined a
        block, a block that is gone) are dropped, so none is held twice."""
        entity = spec.entity
        sequence = self.sequence
        entries: list[_Entry] = []
        run: list[EntityTable] = []  # small accounts' tables waiting for their block
        names: list[str] = []

        def text(table: EntityTable) -> tuple[str, int] | None:
            return _table_text(spec, table)

        def close_run(key: str, stamp: int) -> None:
            entry = self._block(spec, cache, key, run, stamp, names, text, counted=self.restarted)
            if entry is not None:
                entries.append(entry)
            run.clear()
            names.clear()

        for slot in range(0, len(accounts), TABLE_BLOCK):
            part = stamp = 0
            for index in range(slot, min(slot + TABLE_BLOCK, len(accounts))):
                account = accounts[index]
                table = account.tables.get(entity)
                if table is None:  # the account never had such an entity
                    continue
                if not table.live_families and len(table.labels) <= SMALL_TABLE:
                    run.append(table)
                    names.append(account.name)
                    stamp += table.version
                    continue
                if run:
                    close_run(f"\x00block {slot}.{part}", stamp)
                    part, stamp = part + 1, 0
                entry = cache.get(account.name)
                if entry is None or entry.source is not table or entry.stamp != table.version:
                    entry = self._made(spec, cache, account.name, table, table.version, _table_text(spec, table))
                else:
                    entry.seen = sequence
                if entry is not None:
                    entries.append(entry)
            if run:
                close_run(f"\x00block {slot}.{part}", stamp)
        if len(cache) > len(entries):  # a chunk this rendering did not use
            for key in [key for key, entry in cache.items() if entry.seen != sequence]:
                del cache[key]
        return entries

    def _blocks(
        self,
        spec: MetricSpec,
        cache: dict[str, _Entry],
        members: Sequence[_M],
        stamps: list[int],
        names: list[str],
        text: Callable[[_M], tuple[str, int]],
    ) -> list[_Entry]:
        """A family's chunks of `members` (each account's jobs, or each account; `names`: their
        accounts) in blocks of EXPORTER_BLOCK, in order."""
        entries: list[_Entry] = []
        for start in range(0, len(members), EXPORTER_BLOCK):
            end = start + EXPORTER_BLOCK
            key = f"\x00block {start // EXPORTER_BLOCK}"  # no account is named so (config names are printable)
            entry = self._block(spec, cache, key, members[start:end], sum(stamps[start:end]), names[start:end], text)
            if entry is not None:
                entries.append(entry)
        return entries

    def _block(
        self,
        spec: MetricSpec,
        cache: dict[str, _Entry],
        key: str,
        sources: Sequence[_M],
        stamp: int,
        accounts: Sequence[str],
        text: Callable[[_M], tuple[str, int] | None],
        *,
        counted: bool = False,
    ) -> _Entry | None:
        """One block's chunk, cached while its members are the same objects and the sum of their
        versions (which only grow) is the same; a cached one costs no new object. `counted`: its
        tag says each member's series (tables, whose data the front may carry after a restart)."""
        entry = cache.get(key)
        if entry is not None and entry.stamp == stamp:
            held = entry.source
            if isinstance(held, tuple) and len(held) == len(sources) and all(map(operator.is_, held, sources)):
                entry.seen = self.sequence
                return entry
        found = [text(member) for member in sources]
        texts = [one for one in found if one is not None]
        joined = "".join([t for t, _ in texts]), sum([n for _, n in texts])
        counts: tuple[int, ...] = ()
        if counted:
            if len(self._counts) > COUNTS_HELD:  # a fleet whose blocks all count differently: start again
                self._counts.clear()
            counts = tuple([0 if one is None else one[1] for one in found])
            counts = self._counts.setdefault(counts, counts)
        return self._made(spec, cache, key, tuple(sources), stamp, joined, members=tuple(accounts), counts=counts)

    def _made(
        self,
        spec: MetricSpec,
        cache: dict[str, _Entry],
        account: str,
        source: object,
        stamp: int,
        found: tuple[str, int] | None,
        members: tuple[str, ...] = (),
        counts: tuple[int, ...] = (),
    ) -> _Entry | None:
        """The entry of a chunk made again from `found` (its text and series): deflated here when
        short (INLINE_DEFLATE_CHARS: an account's job and account chunks, the tables of small
        accounts), else on the deflater's thread. None, and no entry kept, without series."""
        if found is None or not found[1]:
            cache.pop(account, None)
            return None
        short = len(found[0]) < INLINE_DEFLATE_CHARS
        chunk = Chunk.of(*found) if short else self._deflater.submit(*found)
        entry = cache.get(account)
        if entry is None or entry.tag.members != members or entry.tag.member_series != counts:  # new, or reshaped
            tag = ChunkTag(
                spec.name, spec.collector, None if members else account, members=members, member_series=counts
            )
            entry = cache[account] = _Entry(source, stamp, chunk, tag, self.sequence)
        else:
            entry.source, entry.stamp, entry.chunk, entry.seen = source, stamp, chunk, self.sequence
        if not short:
            self._submitted.append(entry)
        return entry

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
                (f'{_job_labels(job)},result="{result}"', count) for job in jobs for result, count in job.runs.items()
            ]
        else:
            attr = _JOB_FIELDS[name]
            samples = [(_job_labels(job), float(value)) for job in jobs if (value := getattr(job, attr)) is not None]
        return _lines(name, samples), len(samples)


def _jobs_by_account(jobs: list[JobStatus]) -> dict[str, list[JobStatus]]:
    """Each account's jobs, in the jobs' order."""
    by_account: dict[str, list[JobStatus]] = {}
    for job in jobs:
        by_account.setdefault(job.account.name, []).append(job)
    return by_account
