"""Kognitive OrbitPlans API calls: the auth key header, the `{success, message, data}` envelope,
and paging to the end in both of the API's styles (`page`/`limit` and `page_number`/`page_limit`).

Paging stops at `totalPages` when the response gives it, otherwise at the first empty page (the
maximum page size is not documented, so a short page proves nothing). A page identical to the one
before (a server that ignores the page parameter) also ends the listing. `Listing.total` keeps
the declared item count so callers can tell a listing that lost items while it was being read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from leo_exporter.providers.errors import AuthenticationFailed, BadResponse, PermissionDenied, RequestRejected
from leo_exporter.providers.http import ApiClient, decode_json
from leo_exporter.providers.kognitive import fields as F

MAX_PAGES = 10000  # a safety stop for a server that never runs out of pages


def unwrap(body: Any, what: str) -> dict[str, Any]:
    """The checked envelope: `success: false` carries the provider's message, `data` must be there."""
    if not isinstance(body, dict):
        raise BadResponse(f"{what}: expected a JSON object, got {type(body).__name__}")
    success = body.get(F.SUCCESS)
    message = body.get(F.MESSAGE)
    said = " ".join(message.split())[:300] if isinstance(message, str) and message.strip() else "no message"
    if success is False:
        raise RequestRejected(f"{what}: provider answered success=false: {said}")
    if success is not None and success is not True:
        raise BadResponse(f"{what}: 'success' should be true or false, got {type(success).__name__}")
    if body.get(F.DATA) is None:
        raise BadResponse(f"{what}: response has no 'data' (message: {said})")
    return body


def _count(value: Any) -> int | None:
    """A paging count that may arrive as a number or a numeric string ("4"); None when unusable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


@dataclass
class Listing:
    """One paged listing: what was asked, and what the server said about its size."""

    endpoint: str
    pages: int = 0
    total: int | None = None  # the declared number of items, when the server gives one
    items_seen: int = 0
    notes: list[str] = field(default_factory=list)


class KognitiveClient:
    def __init__(self, api: ApiClient, header: str):
        self.api = api
        self.header = header  # the name of the auth key header, for hints in error messages

    async def get(self, path: str, *, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One GET; the envelope is checked and returned whole (paging fields live beside `data`)."""
        endpoint = "/" + path
        try:
            response = await self.api.request("GET", path, endpoint=endpoint, params=params)
        except (AuthenticationFailed, PermissionDenied) as exc:
            self.api.authenticated(False)
            raise type(exc)(
                f"{exc}; check auth_key, and auth_header (now {self.header!r}): the API documentation "
                f"names both X-Auth-Key and auth-key"
            ) from None
        self.api.authenticated(True)
        body = await decode_json(response.content, f"GET {endpoint}")
        return unwrap(body, f"GET {endpoint}")

    async def pages(
        self,
        path: str,
        style: F.PageStyle,
        limit: int,
        listing: Listing,
        params: dict[str, Any] | None = None,
    ) -> AsyncIterator[list[Any]]:
        """Yield the item list of each page from the first to the last."""
        previous: list[Any] | None = None
        counted = self.api.item_count("GET", "/" + path)
        for number in range(F.FIRST_PAGE, F.FIRST_PAGE + MAX_PAGES):
            body = await self.get(path, params={**(params or {}), style.page: number, style.limit: limit})
            what = f"GET /{path} page {number}"
            items, meta = _items(body, what)
            listing.pages += 1
            total = _count(meta.get(F.META_TOTAL))
            if total is not None:
                listing.total = total
            if not items:
                return
            if items == previous:
                listing.notes.append(f"page {number} repeated page {number - 1}; taken as the end")
                return
            listing.items_seen += len(items)
            counted.add(len(items))
            yield items
            previous = items
            total_pages = _count(meta.get(F.META_TOTAL_PAGES))
            if total_pages is not None and total_pages > 0:
                if number >= total_pages:
                    return
                continue
            # Without totalPages: a page shorter than the limit the server says it used is the last.
            echoed = _count(meta.get(F.META_LIMIT))
            if echoed and len(items) < echoed:
                return
        raise BadResponse(f"GET /{path}: still more pages after {MAX_PAGES}")


def _items(body: dict[str, Any], what: str) -> tuple[list[Any], dict[str, Any]]:
    """The page's items and its paging fields, from `data: [...]` or `data: {results: [...]}`."""
    data = body[F.DATA]
    meta = {k: body[k] for k in (F.META_TOTAL, F.META_TOTAL_PAGES, F.META_LIMIT) if k in body}
    if isinstance(data, list):
        return data, meta
    if isinstance(data, dict) and F.RESULTS in data and isinstance(data[F.RESULTS], list | None):
        inner = {k: data[k] for k in (F.META_TOTAL, F.META_TOTAL_PAGES, F.META_LIMIT) if k in data}
        return data[F.RESULTS] or [], {**meta, **inner}  # `results: null` is an empty page
    raise BadResponse(f"{what}: 'data' should be a list (or an object with a 'results' list)")
