"""Reading a provider's response body within a size limit, whatever its encoding says.

httpx inflates a gzip body in whole network chunks, and a response's `.content` is all of it:
a 1 MiB gzip bomb becomes a gigabyte before any check could run, and an HTTP 500 with a 200 MB
text body was read whole to build a one-line error message. Here the raw bytes are inflated
piece by piece with zlib's `max_length`, so no more than the limit (plus one piece) is ever
held: a success body up to the account's `max_response_size` (else `ResponseTooLarge`), an
error body only up to `ERROR_BODY_BYTES` (the rest is never read; the connection is closed).
A body that decodes to more than `BOMB_RATIO` times what came over the wire is refused once past
`BOMB_FLOOR` (a decompression bomb), so a bomb costs 16 MiB, not the whole limit: the soak's
bombs, read by several jobs at once, took the worker from about 450 to 840 MiB.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator

import httpx

from leo_exporter.config import DEFAULT_MAX_ITEMS_PER_RUN, DEFAULT_MAX_RESPONSE_SIZE
from leo_exporter.providers.errors import BadResponse

DEFAULT_MAX_RESPONSE_BYTES = DEFAULT_MAX_RESPONSE_SIZE
DEFAULT_MAX_ITEMS = DEFAULT_MAX_ITEMS_PER_RUN
ERROR_BODY_BYTES = 4096  # an error answer's explanation fits in far less
ACCEPT_ENCODING = "gzip, deflate"  # asked for explicitly: the only encodings read here
_GZIP_OR_ZLIB = 47  # zlib.MAX_WBITS | 32: a gzip or a zlib header, detected
_RAW_DEFLATE = -15
PIECE = 1024 * 1024  # the most one inflate step produces
# Decoded bytes per encoded byte past which a body is a decompression bomb (deflate's own maximum
# is about 1,000; provider JSON compresses 3 to 30 times), judged once BOMB_FLOOR has come out.
BOMB_RATIO = 200
BOMB_FLOOR = 16 * PIECE


class ResponseTooLarge(BadResponse):
    """A response body beyond the account's `max_response_size` once decoded."""

    reason = "too_large"


class TooManyItems(BadResponse):
    """A paged listing past the account's `max_items_per_run`: a provider that never stops paging."""

    reason = "too_many_items"


class ItemCount:
    """The items one run has read across the pages of a listing, held to a limit: each page is
    bounded by `max_response_size`, but the number of pages only by what the provider says, so
    a provider paging for ever (or claiming a million pages) would grow the run without end."""

    def __init__(self, limit: int, what: str, exceeded: Callable[[], None]):
        self.limit = limit
        self.what = what
        self.exceeded = exceeded  # counts it (`leo_exporter_api_requests_total{code="too_many_items"}`)
        self.total = 0

    def add(self, count: int) -> None:
        self.total += count
        if self.total > self.limit:
            self.exceeded()
            raise TooManyItems(
                f"{self.what}: more than {self.limit:,} items across its pages in one run; the rest was "
                "not read and nothing of this run applies (the account's `max_items_per_run` sets this limit)"
            )


def format_size(size: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} bytes"


class _Inflater:
    """Decodes one Content-Encoding in bounded pieces (`feed` returns at most `room + 1` bytes)."""

    def __init__(self, encoding: str, what: str):
        self.encoding = encoding
        self.what = what
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise BadResponse(f"{what}: the body's Content-Encoding {encoding[:40]!r} is not one we asked for")
        self.plain = encoding in ("", "identity")
        self.wbits = _GZIP_OR_ZLIB
        self.zlib = None if self.plain else zlib.decompressobj(self.wbits)
        self.started = False

    def feed(self, data: bytes, room: int) -> Iterator[bytes]:
        """The decoded bytes of `data` in pieces of at most PIECE bytes, stopping once more than
        `room` came out (which means the limit is passed)."""
        if self.zlib is None:
            yield data
            return
        out = 0
        while data and out <= room:
            try:
                piece = self.zlib.decompress(data, min(room + 1 - out, PIECE))
            except zlib.error:
                if self.encoding == "deflate" and not self.started and self.wbits != _RAW_DEFLATE:
                    self.wbits = _RAW_DEFLATE  # servers that send raw deflate, without the zlib header
                    self.zlib = zlib.decompressobj(self.wbits)
                    continue
                raise BadResponse(f"{self.what}: the body is not valid {self.encoding} data") from None
            self.started = True
            out += len(piece)
            yield piece
            if self.zlib.unconsumed_tail:
                data = self.zlib.unconsumed_tail  # more to come from this input
            elif self.zlib.eof and self.zlib.unused_data:
                data = self.zlib.unused_data  # a second gzip member follows
                self.zlib = zlib.decompressobj(self.wbits)
            else:
                data = b""


async def read_body(response: httpx.Response, limit: int, what: str, *, truncate: bool = False) -> bytes:
    """The decoded body of a streamed `response`, at most `limit` bytes of it.

    Beyond the limit: with `truncate` the first `limit` bytes (an error answer's start is all
    its message needs), else `ResponseTooLarge`. The raw (encoded) bytes are held to the same
    limit, so a stream of empty deflate blocks cannot go on for ever either."""
    if response.is_stream_consumed:  # read before it came here (a mock transport): held already
        if len(response.content) > limit and not truncate:
            raise too_large(what, limit)
        return response.content[:limit]
    inflater = _Inflater(response.headers.get("content-encoding", "").strip().lower(), what)
    declared = response.headers.get("content-length", "")
    if inflater.plain and not truncate and declared.isdigit() and int(declared) > limit:
        raise too_large(what, limit)
    pieces: list[bytes] = []  # joined once at the end: a growing buffer would copy itself as it grows
    size = raw = 0
    async for chunk in response.aiter_raw():
        raw += len(chunk)
        ceiling = min(limit, max(BOMB_FLOOR, BOMB_RATIO * raw))
        for piece in inflater.feed(chunk, ceiling - size):
            pieces.append(piece)
            size += len(piece)
        if size > ceiling or raw > limit:
            if truncate:
                return b"".join(pieces)[:limit]
            if size > limit or raw > limit:
                raise too_large(what, limit)
            raise ResponseTooLarge(
                f"{what}: the response decodes to more than {BOMB_RATIO} times its {format_size(raw)} on the "
                "wire; refused as a decompression bomb"
            )
    return b"".join(pieces)


def too_large(what: str, limit: int) -> ResponseTooLarge:
    return ResponseTooLarge(
        f"{what}: the response is larger than {format_size(limit)} once decoded; it was not read "
        "(the account's `max_response_size` sets this limit)"
    )


def rebuilt(response: httpx.Response, body: bytes) -> httpx.Response:
    """A complete response holding the decoded `body` (no Content-Encoding left to apply)."""
    skip = {"content-encoding", "content-length", "transfer-encoding"}
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in skip]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        extensions=response.extensions,
    )
