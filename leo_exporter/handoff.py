"""The worker hands each finished exposition to the front process over a Unix socket pair.

One frame per rendering: a fixed header (magic, header length, index length, body length), a
small JSON header (plain length, series, when rendered, the names the index refers to, the
blocks' accounts and each one's series in a block), the chunk
index (each chunk's family, group, account, sizes and CRCs: INDEX_FIELDS integers a chunk, in one
array, not a JSON list each: at 3,000 accounts a rendering has about 50,000 chunks, and lists of
them made and parsed at every rendering came and went by the tens of MB in both processes) and
the complete gzip body. The chunk index lets the front answer a `collect[]` or `account[]`
scrape by slicing the body it holds (`Body.select`): no render, no recompression. The front answers one byte once
it serves the new body, so whatever the worker reports as rendered (`/readyz?verbose`) is what
a scrape gets. A pipe or socket needs no file: the image runs with a read-only root.

Between renderings the worker sends a heartbeat (an empty frame, not acknowledged) every
HEARTBEAT_EVERY seconds from a thread of its own, from its first second on: a worker that is
stopped (SIGSTOP) or hung sends none, and the front restarts it (front.py). Renderings go out in
the order they were made (`Exposition.sequence`), never by their wall-clock time: a clock stepped
back must not hold every newer rendering back.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import socket
import struct
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from leo_exporter import deflate
from leo_exporter.labeltext import escape_label

if TYPE_CHECKING:
    from leo_exporter.render import Exposition as _Exposition

_MAGIC = b"LEO2"
_FRAME = struct.Struct("<4sIQQ")  # magic, then the sizes of the JSON header, the index and the body
ACK = b"\x06"
HEARTBEAT = _FRAME.pack(_MAGIC, 0, 0, 0)  # a frame with no header and no body
# A chunk in the index: family, group, account (name numbers, -1: none), header (0 or 1), bytes of
# deflate, bytes of text, CRC, CRC of as many zeros, series, members (a block's list number, -1: none)
INDEX_FIELDS = 10
_INDEX_TYPE = "q"  # signed 64-bit, in this machine's order: both ends are processes of one machine
HEARTBEAT_EVERY = 1.0  # seconds between two heartbeats of the worker


class HandoffError(Exception):
    """The other side closed the socket or sent something that is no frame."""


@dataclass(frozen=True, slots=True)
class Piece:
    """One chunk of a received body: where its deflate is in `Body.prefix`, and what it holds."""

    family: str
    group: str
    account: str | None  # None: the family's header, or a chunk of no account
    header: bool
    offset: int
    size: int  # bytes of deflate
    length: int  # bytes of text
    crc: int  # CRC-32 of the text, and of as many zero bytes (to combine CRCs without the text)
    zeros_crc: int
    series: int = 0  # samples in the chunk
    members: tuple[str, ...] = ()  # a block's accounts (render.py): its lines are filtered by account
    member_series: tuple[int, ...] = ()  # each member's series in a block of tables (empty: not counted)

    @property
    def several(self) -> bool:
        """Samples of several accounts: a block."""
        return bool(self.members)


@dataclass(frozen=True, slots=True)
class _Kept:
    """The lines of some accounts out of a chunk of several, deflated anew for one selection."""

    deflated: bytes
    crc: int
    zeros_crc: int
    length: int


# The account of a sample line: every account's series begins with its provider and account labels.
_ACCOUNT_LABEL = re.compile(rb'\{provider="(?:[^"\\]|\\.)*",account="((?:[^"\\]|\\.)*)"')


def _kept_lines(text: bytes, accounts: frozenset[bytes]) -> bytes:
    """The lines of `text` whose account label (as escaped in the text) is one of `accounts`."""
    kept = []
    for line in text.splitlines(keepends=True):
        match = _ACCOUNT_LABEL.search(line)
        if match is not None and match.group(1) in accounts:
            kept.append(line)
    return b"".join(kept)


@dataclass(frozen=True, slots=True)
class Selection:
    """A filtered scrape's gzip member: the selected chunks' deflate as views of the body (never
    copied), the CRC and length of their text (the front's tail continues them)."""

    views: tuple[memoryview, ...]
    crc: int
    length: int


@dataclass(frozen=True, slots=True)
class Body:
    """A worker's gzip exposition as received: all of it but the deflate end and the trailer, so
    the front appends its own families without copying it (a scrape sends `prefix`, then a tail)."""

    prefix: bytes  # gzip header and the sync-flushed deflate chunks; a bytes object, never copied
    crc: int  # CRC-32 of the plain text
    length: int  # bytes of plain text
    series: int
    rendered_at: float
    complete: bool  # rendered after every job's first run
    pieces: tuple[Piece, ...] = ()  # the chunk index (empty: a body that cannot be sliced)
    accounts: frozenset[str] = frozenset()  # the accounts the rendering covers
    unsettled: frozenset[str] = frozenset()  # those with a job that has not succeeded yet in that worker

    def select(self, groups: frozenset[str] | None, accounts: frozenset[str] | None) -> Selection:
        """The chunks of the collector `groups` and of the `accounts` (None: no filter on it), with
        each family's header when any of its chunks is in; chunks of no account pass `accounts`,
        and of a chunk of several accounts' samples only their lines (inflated and deflated anew).
        Costs a CRC of as many zero bytes as the selected text (ISA-L, about 10 GB/s): run it
        on a thread."""
        chosen: list[Piece | _Kept] = []
        header: Piece | None = None
        escaped = None if accounts is None else frozenset(escape_label(name).encode() for name in accounts)
        for piece in self.pieces:
            if groups is not None and piece.group not in groups:
                continue
            if piece.header:
                header = piece
                continue
            if accounts is not None and piece.account is not None and piece.account not in accounts:
                continue
            if accounts is not None and piece.members and accounts.isdisjoint(piece.members):
                continue
            item: Piece | _Kept = piece
            if escaped is not None and piece.several:  # the block's lines of the accounts asked for
                text = _kept_lines(
                    deflate.inflate_chunk(self.prefix[piece.offset : piece.offset + piece.size]), escaped
                )
                if not text:
                    continue
                item = _Kept(*deflate.piece(text), len(text))
            if header is not None and header.family == piece.family:
                chosen.append(header)
                header = None
            chosen.append(item)
        crc = length = 0
        whole = memoryview(self.prefix)
        views: list[memoryview] = []
        ranges = [[0, len(deflate.GZIP_HEADER)]]  # of the body: neighbours in one view, fewer sends
        for item in chosen:
            crc = deflate.combine_crc(crc, item.crc, item.zeros_crc, item.length)
            length += item.length
            if isinstance(item, _Kept):
                views += [whole[start:end] for start, end in ranges] + [memoryview(item.deflated)]
                ranges = []
            elif ranges and ranges[-1][1] == item.offset:
                ranges[-1][1] = item.offset + item.size
            else:
                ranges.append([item.offset, item.offset + item.size])
        views += [whole[start:end] for start, end in ranges]
        return Selection(tuple(views), crc, length)


class Channel:
    """The worker's end of the socket: whole frames only (renderings and heartbeats come from
    different threads), and the heartbeat thread."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.writing = threading.Lock()

    def send_frame(self, parts: Iterable[bytes | memoryview]) -> None:
        """Send `parts` whole, taking each only when the one before is sent."""
        with self.writing:
            for part in parts:
                self.sock.sendall(part)

    def start_heartbeat(self, every: float = HEARTBEAT_EVERY) -> None:
        """Send a heartbeat every `every` seconds until the front goes (a daemon thread)."""

        def beat() -> None:
            try:
                while True:
                    self.send_frame((HEARTBEAT,))
                    time.sleep(every)
            except OSError:  # the front is gone; PR_SET_PDEATHSIG ends this process
                return

        threading.Thread(target=beat, name="heartbeat", daemon=True).start()


def send(channel: Channel | socket.socket, exposition: _Exposition, complete: bool) -> None:
    """Send one exposition and wait until the front has it (blocking: run it on a thread).
    `complete`: rendered after every job's first run."""
    if isinstance(channel, socket.socket):
        channel = Channel(channel)
    end = len(deflate.DEFLATE_END) + deflate.TRAILER_SIZE  # the front makes its own end
    fields = {"length": exposition.length, "series": exposition.series, "rendered_at": exposition.rendered_at}
    # without its tags an exposition has no index: it is served whole, never sliced
    names, members, counts, index = (
        _index(exposition) if len(exposition.tags) == len(exposition.chunks) else ([], [], [], array(_INDEX_TYPE))
    )
    extra = {
        "names": names,
        "members": members,
        "member_series": counts,
        "accounts": list(exposition.accounts),
        "unsettled": list(exposition.unsettled),
    }
    header = json.dumps({**fields, "crc": exposition.crc, "complete": complete, **extra}).encode()
    packed = memoryview(index).cast("B")
    start = _FRAME.pack(_MAGIC, len(header), len(packed), exposition.gzip_size - end) + header
    channel.send_frame(itertools.chain((start, packed), exposition.body_pieces()))  # about 1 MiB each
    if channel.sock.recv(1) != ACK:
        raise HandoffError("the front closed the handoff socket")


def _index(exposition: _Exposition) -> tuple[list[str], list[list[str]], list[list[int]], array[int]]:
    """The names the chunks refer to (each once), the blocks' member lists (each once) with each
    member's series where the block counts them (else an empty list), and the chunk index,
    INDEX_FIELDS integers a chunk."""
    numbers: dict[str, int] = {}
    blocks: dict[tuple[int, int], int] = {}  # ids of a block's members and counts (held by its tag) -> its number
    members: list[list[str]] = []
    counts: list[list[int]] = []
    index = array(_INDEX_TYPE)
    add = index.extend
    for tag, chunk in zip(exposition.tags, exposition.chunks, strict=True):
        family = numbers.setdefault(tag.family, len(numbers))
        group = numbers.setdefault(tag.group, len(numbers))
        account = -1 if tag.account is None else numbers.setdefault(tag.account, len(numbers))
        block = -1
        if tag.members:
            block = blocks.setdefault((id(tag.members), id(tag.member_series)), len(members))
            if block == len(members):
                members.append(list(tag.members))
                counts.append(list(tag.member_series))
        size = len(chunk.deflated)
        add((family, group, account, tag.header, size, chunk.length, chunk.crc, chunk.zeros_crc, chunk.series, block))
    return list(numbers), members, counts, index


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    """`size` bytes as one bytes object: one allocation, filled by the kernel (MSG_WAITALL)."""
    data = sock.recv(size, socket.MSG_WAITALL) if size else b""
    if len(data) == size:
        return data
    parts = [data]  # a signal cut the wait short, or the worker went away
    got = len(data)
    while got < size:
        more = sock.recv(min(size - got, 1 << 22))
        if not more:
            raise HandoffError("the worker closed the handoff socket")
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def receive(sock: socket.socket) -> Body | None:
    """Read one frame (blocking): a rendering, which the caller swaps in, then calls
    `acknowledge`, or None for a heartbeat (not acknowledged)."""
    magic, header_size, index_size, body_size = _FRAME.unpack(_read_exactly(sock, _FRAME.size))
    if magic != _MAGIC:
        raise HandoffError("the handoff socket sent something that is no exposition frame")
    if header_size == 0:
        return None
    header = json.loads(_read_exactly(sock, header_size))
    index = array(_INDEX_TYPE)
    if index_size % (index.itemsize * INDEX_FIELDS):
        raise HandoffError("the exposition's chunk index is cut short")
    index.frombytes(_read_exactly(sock, index_size))
    prefix = _read_exactly(sock, body_size)
    fields = (int(header["crc"]), int(header["length"]), int(header["series"]), float(header["rendered_at"]))
    pieces = _pieces(
        index, header.get("names", []), header.get("members", []), header.get("member_series"), len(prefix)
    )
    accounts = frozenset(str(name) for name in header.get("accounts", []))
    unsettled = frozenset(str(name) for name in header.get("unsettled", []))
    return Body(
        prefix, *fields, complete=bool(header["complete"]), pieces=pieces, accounts=accounts, unsettled=unsettled
    )


def _pieces(
    index: array[int], names: list[Any], members: list[Any], counts: list[Any] | None, prefix_size: int
) -> tuple[Piece, ...]:
    """The chunk index of a frame, with each chunk's offset in the body; refused (HandoffError) if
    it refers to a name or block it lacks, if a block's counts do not match its members, or if its
    sizes do not add up to the body."""
    # names and blocks shared by every chunk that refers to them, not a copy a chunk
    strings = [sys.intern(str(name)) for name in names]
    blocks = [tuple(sys.intern(str(name)) for name in block) for block in members]
    counts_of = [tuple(int(n) for n in block) for block in counts] if counts is not None else [()] * len(blocks)
    if len(counts_of) != len(blocks) or any(n and len(n) != len(b) for n, b in zip(counts_of, blocks, strict=True)):
        raise HandoffError("the exposition's block counts do not match its blocks")
    pieces = []
    offset = len(deflate.GZIP_HEADER)
    try:
        for at in range(0, len(index), INDEX_FIELDS):
            family, group, account, header, size, length, crc, zeros_crc, series, block = index[at : at + INDEX_FIELDS]
            if min(family, group, size, length) < 0:
                raise IndexError(at)
            pieces.append(
                Piece(
                    strings[family],
                    strings[group],
                    None if account < 0 else strings[account],
                    bool(header),
                    offset,
                    size,
                    length,
                    crc,
                    zeros_crc,
                    series,
                    () if block < 0 else blocks[block],
                    () if block < 0 else counts_of[block],
                )
            )
            offset += size
    except IndexError:
        raise HandoffError("the exposition's chunk index refers to a name or block it does not hold") from None
    if pieces and offset != prefix_size:
        raise HandoffError("the exposition's chunk index does not match its body")
    return tuple(pieces)


def data_accounts(body: Body, config_groups: frozenset[str]) -> frozenset[str]:
    """The accounts with provider data in `body`: a chunk of theirs in a group not among
    `config_groups` (those a worker has for every configured account from its start: its own
    figures, the account's info); a block's accounts are its members."""
    found = set()
    for piece in body.pieces:
        if piece.header or piece.group in config_groups:
            continue
        if piece.account is not None:
            found.add(piece.account)
        found.update(piece.members)
    return frozenset(found)


def _split(prefix: bytes, piece: Piece, accounts: frozenset[str]) -> list[tuple[bytes, Piece]]:
    """The lines of each of `accounts` in a block `piece` of `prefix`, as a piece of its own (its
    deflate at offset 0 of the bytes beside it); an account with no line in it has none."""
    text = deflate.inflate_chunk(prefix[piece.offset : piece.offset + piece.size])
    split = []
    for name in piece.members:
        if name not in accounts:
            continue
        lines = _kept_lines(text, frozenset((escape_label(name).encode(),)))
        if lines:
            deflated, crc, zeros_crc = deflate.piece(lines)
            series = lines.count(b"\n")
            one = Piece(piece.family, piece.group, name, False, 0, len(deflated), len(lines), crc, zeros_crc, series)
            split.append((deflated, one))
    return split


def carry(new: Body, old: Body, accounts: frozenset[str], own_group: str) -> Body:
    """`new` with `old`'s chunks of `accounts` (those with a job the new worker has not yet run
    with success) where `new` lacks them or holds fewer series (a family only partly filled yet:
    the terminals a Kognitive service line listing names, before the terminal listing answers),
    under each family's header: the last good data of a restarted worker's accounts, not a gap
    while their providers fail. Never a family's chunk of an account twice, never `own_group`
    (the exporter's figures: the new worker's are the true ones). What `new` holds of an account
    in a block (small accounts' slow tables: render.TABLE_BLOCK) its tag counts. Chunks are
    joined as they are (each ends on a byte boundary of the deflate stream), never recompressed,
    but for an account's lines of an old block, which are inflated and deflated apart, as an
    `account[]` scrape takes them, and a new block holding fewer series of an account than the
    old body, whose other accounts' lines are; the CRC is combined.
    `series` stays the new worker's count. A body without its chunk index cannot be spliced
    and is returned as is."""
    if not new.pieces or not old.pieces:
        return new
    present: dict[tuple[str, str | None], int] = {}  # (family, account) -> its series in `new`
    for piece in new.pieces:
        if piece.header:
            continue
        if piece.member_series:  # a block of tables: each account's series in it
            present.update(
                {(piece.family, name): n for name, n in zip(piece.members, piece.member_series, strict=True) if n}
            )
        else:
            present[(piece.family, piece.account)] = piece.series
    # (where its deflate is, the piece): the old body's own chunks, or an account's lines of a block
    carried: dict[str, list[tuple[bytes, Piece]]] = {}
    replaced: dict[tuple[str, str | None], tuple[bytes, Piece]] = {}  # the new worker's, fuller in the old
    headers: dict[str, Piece] = {}
    for piece in old.pieces:
        if piece.header:
            headers[piece.family] = piece
            continue
        if piece.group == own_group:
            continue
        if piece.account in accounts:
            found = [(old.prefix, piece)]
        elif piece.members and not accounts.isdisjoint(piece.members):  # a block: its accounts' lines
            found = _split(old.prefix, piece, accounts)
        else:
            continue
        for source, one in found:
            key = (one.family, one.account)
            if key not in present:
                carried.setdefault(one.family, []).append((source, one))
            elif one.series > present[key]:
                replaced[key] = (source, one)
    if not carried and not replaced:
        return new
    order: list[tuple[bytes, Piece]] = []
    for index, piece in enumerate(new.pieces):
        fuller = None if piece.header else replaced.get((piece.family, piece.account))
        emptied = [name for name in piece.members if (piece.family, name) in replaced] if piece.member_series else []
        if emptied:  # a block with fewer series of some of `accounts` than the old body: theirs from it
            others = frozenset(piece.members) - frozenset(emptied)
            order += _split(new.prefix, piece, others) + [replaced[(piece.family, name)] for name in emptied]
        else:
            order.append((new.prefix, piece) if fuller is None else fuller)
        following = new.pieces[index + 1] if index + 1 < len(new.pieces) else None
        if following is None or following.family != piece.family:  # the family's last chunk
            order += carried.pop(piece.family, [])
    for family, kept in carried.items():  # families only the old worker had (of these accounts)
        order += [(old.prefix, headers[family])] if family in headers else []
        order += kept
    parts: list[bytes | memoryview] = [deflate.GZIP_HEADER]
    pieces: list[Piece] = []
    offset, crc, length = len(deflate.GZIP_HEADER), 0, 0
    for source, piece in order:
        parts.append(memoryview(source)[piece.offset : piece.offset + piece.size])
        pieces.append(dataclasses.replace(piece, offset=offset))
        offset += piece.size
        crc = deflate.combine_crc(crc, piece.crc, piece.zeros_crc, piece.length)
        length += piece.length
    return dataclasses.replace(new, prefix=b"".join(parts), crc=crc, length=length, pieces=tuple(pieces))


def acknowledge(sock: socket.socket) -> None:
    sock.sendall(ACK)


def tail(body: Body, text: bytes) -> bytes:
    """What follows `body.prefix` to append `text` inside the same gzip member: its deflate, the
    empty final block, the CRC continued and the length. One member, so every client reads it
    whole (httpx stops after a first member); the body is neither copied nor recompressed."""
    return deflate.deflate_chunk(text) + deflate.gzip_end(deflate.crc32(text, body.crc), body.length + len(text))


class Publisher:
    """The worker's end: one exposition on the socket at a time, never an older one after a newer
    (older by the order of rendering: the wall clock may step either way)."""

    def __init__(self, channel: Channel, complete: Callable[[_Exposition], bool]):
        self.channel = channel
        self.complete = complete
        self.lock = anyio.Lock()
        self.last = -1

    async def __call__(self, exposition: _Exposition) -> None:
        async with self.lock:
            if exposition.sequence < self.last:
                return
            self.last = exposition.sequence
            await anyio.to_thread.run_sync(send, self.channel, exposition, self.complete(exposition))
