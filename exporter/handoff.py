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

    gzipped: bytes
    length: int  # bytes of plain text
    series: int
    rendered_at: float


def send(sock: socket.socket, gzipped: bytes, length: int, series: int, rendered_at: float) -> None:
    """Send one exposition and wait until the front serves it (blocking: run it on a thread)."""
    header = json.dumps({"length": length, "series": series, "rendered_at": rendered_at}).encode()
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
    body = bytes(_read_exactly(sock, body_size))
    if body[-10:-8] != _DEFLATE_END:
        raise HandoffError("the exposition does not end as the renderer ends it")
    return Body(body, int(header["length"]), int(header["series"]), float(header["rendered_at"]))


def acknowledge(sock: socket.socket) -> None:
    sock.sendall(ACK)


def extend(body: bytes, text: bytes) -> bytes:
    """`body` (the renderer's gzip: sync-flushed deflate chunks, an empty final block, trailer)
    with `text` appended inside the same gzip member: one member, so every client reads it whole
    (httpx and curl stop after a first member). Costs one copy of the body, no recompression."""
    crc, length = _TRAILER.unpack(body[-8:])
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -15)
    deflated = compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH)
    trailer = _TRAILER.pack(zlib.crc32(text, crc), (length + len(text)) & 0xFFFFFFFF)
    return b"".join([memoryview(body)[:-10], deflated, _DEFLATE_END, trailer])


class Publisher:
    """The worker's end: one exposition on the socket at a time, never an older one after a newer."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.lock = anyio.Lock()
        self.last = -1.0

    async def __call__(self, exposition: _Exposition) -> None:
        async with self.lock:
            if exposition.rendered_at < self.last:
                return
            self.last = exposition.rendered_at
            await anyio.to_thread.run_sync(
                send, self.sock, exposition.gzipped, exposition.length, exposition.series, exposition.rendered_at
            )
