"""The worker hands each finished exposition to the front process over a Unix socket pair.

One frame per rendering: a fixed header (magic, header length, body length), a small JSON header
(plain length, series, when rendered) and the complete gzip body. The front answers one byte once
it serves the new body, so whatever the worker reports as rendered (`/readyz?verbose`) is what
a scrape gets. A pipe or socket needs no file: the image runs with a read-only root.
"""

from __future__ import annotations

import json
import socket
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

if TYPE_CHECKING:
    from exporter.render import Exposition as _Exposition

_MAGIC = b"LEO1"
_FRAME = struct.Struct("<4sIQ")
ACK = b"\x06"
_DEFLATE_END = b"\x03\x00"  # the empty final block our renderer closes its deflate stream with
_TRAILER = struct.Struct("<II")  # gzip trailer: CRC-32 and length (mod 2**32) of the text
GZIP_LEVEL = 1


class HandoffError(Exception):
    """The other side closed the socket or sent something that is no frame."""


@dataclass(frozen=True, slots=True)
class Body:
    """A worker's gzip exposition as received, with what the front needs to extend it."""

    gzipped: bytearray  # as received: never copied, never changed
    length: int  # bytes of plain text
    series: int
    rendered_at: float
    complete: bool  # rendered after every job's first run


def send(sock: socket.socket, exposition: _Exposition, complete: bool) -> None:
    """Send one exposition and wait until the front has it (blocking: run it on a thread).
    `complete`: rendered after every job's first run."""
    gzipped = exposition.gzipped
    fields = {"length": exposition.length, "series": exposition.series, "rendered_at": exposition.rendered_at}
    header = json.dumps({**fields, "complete": complete}).encode()
    sock.sendall(_FRAME.pack(_MAGIC, len(header), len(gzipped)) + header)
    sock.sendall(gzipped)
    if sock.recv(1) != ACK:
        raise HandoffError("the front closed the handoff socket")


def _read_exactly(sock: socket.socket, size: int) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:], min(size - got, 1 << 22))
        if n == 0:
            raise HandoffError("the worker closed the handoff socket")
        got += n
    return buffer


def receive(sock: socket.socket) -> Body:
    """Read one frame (blocking); the caller swaps it in, then calls `acknowledge`."""
    magic, header_size, body_size = _FRAME.unpack(_read_exactly(sock, _FRAME.size))
    if magic != _MAGIC:
        raise HandoffError("the handoff socket sent something that is no exposition frame")
    header = json.loads(bytes(_read_exactly(sock, header_size)))
    body = _read_exactly(sock, body_size)
    if body[-10:-8] != _DEFLATE_END:
        raise HandoffError("the exposition does not end as the renderer ends it")
    return Body(body, int(header["length"]), int(header["series"]), float(header["rendered_at"]), header["complete"])


def acknowledge(sock: socket.socket) -> None:
    sock.sendall(ACK)


def tail(body: bytes | bytearray, text: bytes) -> bytes:
    """What replaces the last 10 bytes of `body` (the renderer's gzip: sync-flushed deflate chunks,
    an empty final block, the trailer) to append `text` inside the same gzip member: one member,
    so every client reads it whole (httpx and curl stop after a first member). The body itself is
    neither copied nor recompressed: a scrape sends body[:-10], then this."""
    crc, length = _TRAILER.unpack(body[-8:])
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -15)
    deflated = compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return deflated + _DEFLATE_END + _TRAILER.pack(zlib.crc32(text, crc), (length + len(text)) & 0xFFFFFFFF)


class Publisher:
    """The worker's end: one exposition on the socket at a time, never an older one after a newer."""

    def __init__(self, sock: socket.socket, complete: Callable[[_Exposition], bool]):
        self.sock = sock
        self.complete = complete
        self.lock = anyio.Lock()
        self.last = -1.0

    async def __call__(self, exposition: _Exposition) -> None:
        async with self.lock:
            if exposition.rendered_at < self.last:
                return
            self.last = exposition.rendered_at
            await anyio.to_thread.run_sync(send, self.sock, exposition, self.complete(exposition))
