"""Hostile answers of the fault book (issue #25): bodies no client should read whole.

`HOSTILE` names every such mode with its description and default `size`; the book serves the
transport-level ones (`gzip_bomb`, `huge_error`) for every provider, and a simulator that lists a
`STREAM_HOSTILE` mode among its `SimulatorSpec.fault_modes` acts on it itself (Starlink's telemetry stream).
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from functools import cache

import anyio.to_thread
from starlette.responses import Response, StreamingResponse

MIB = 1024 * 1024
HOSTILE: dict[str, tuple[str, int]] = {
    "gzip_bomb": ("200 with a gzip body of `size` MiB of zeros (default 1024), a thousandth on the wire", 1024),
    "huge_error": ("HTTP 500 with a `size` MiB text body (default 200), streamed", 200),
    "name_flood": ("Starlink stream: `size` new metadata.enums keys and column names per answer (default 2000)", 2000),
    "future_rows": ("Starlink stream: one row per answer stamped ten years ahead", 1),
    "bad_alerts": ("Starlink stream: one row per answer with ActiveAlerts [[1]]", 1),
}
STREAM_HOSTILE = ("name_flood", "future_rows", "bad_alerts")


@cache
def gzip_bomb(mib: int) -> bytes:
    """`mib` MiB of zeros, gzipped (made once per size: about 1 KiB per MiB)."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MIB)
    return b"".join(squeeze.compress(zeros) for _ in range(mib)) + squeeze.flush()


async def _text(mib: int) -> AsyncIterator[bytes]:
    piece = b"upstream failure " * (MIB // 17) + b"\n"
    for _ in range(mib):
        yield piece


async def hostile_answer(mode: str, size: int) -> Response:
    """The book's answer for a transport-level hostile mode."""
    if mode == "gzip_bomb":
        body = await anyio.to_thread.run_sync(gzip_bomb, size)
        return Response(body, 200, headers={"Content-Encoding": "gzip"}, media_type="application/json")
    if mode == "huge_error":
        return StreamingResponse(_text(size), 500, media_type="text/plain")
    raise AssertionError(f"{mode} is acted on by a simulator, not served by the book")
