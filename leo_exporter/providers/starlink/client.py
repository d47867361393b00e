"""Starlink V2 API calls: bearer token, one renewal on 401, the `{isValid, errors, content}` envelope,
and 0-based paging until `isLastPage`."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import httpx

from leo_exporter.providers.common import parse_items
from leo_exporter.providers.errors import AuthenticationFailed, BadResponse, RequestRejected
from leo_exporter.providers.http import ApiClient, decode_json, decode_json_into
from leo_exporter.providers.starlink.auth import TokenSource

T = TypeVar("T")
MAX_PAGES = 5000  # a safety stop should a provider never say isLastPage


def unwrap(body: Any, what: str) -> Any:
    """`content` of a ServiceResponse; `isValid: false` becomes an error carrying the provider's words."""
    if not isinstance(body, dict):
        raise BadResponse(f"{what}: expected a JSON object, got {type(body).__name__}")
    if body.get("isValid") is False:
        errors = body.get("errors") or []
        texts = [str(e.get("errorMessage")) for e in errors if isinstance(e, dict) and e.get("errorMessage")]
        raise RequestRejected(f"{what}: provider says the request is invalid: {'; '.join(texts) or 'no reason'}")
    if "content" not in body:
        raise BadResponse(f"{what}: response has no 'content'")
    return body["content"]


class StarlinkClient:
    def __init__(self, api: ApiClient, tokens: TokenSource):
        self.api = api
        self.tokens = tokens

    async def call(
        self, method: str, path: str, *, endpoint: str, permission: str | None, **kwargs: Any
    ) -> httpx.Response:
        """One authenticated request; on 401 the token is renewed and the request sent once more."""
        for attempt in (1, 2):
            token = await self.tokens.token()
            headers = {"Authorization": f"Bearer {token}"}
            try:
                return await self.api.request(
                    method, path, endpoint=endpoint, permission=permission, headers=headers, **kwargs
                )
            except AuthenticationFailed:
                self.tokens.invalidate(token)
                if attempt == 2:
                    self.api.authenticated(False)
                    raise
        raise AssertionError("unreachable")

    async def json(self, method: str, path: str, *, endpoint: str, permission: str | None, **kwargs: Any) -> Any:
        response = await self.call(method, path, endpoint=endpoint, permission=permission, **kwargs)
        return await decode_json(response.content, f"{method} {endpoint}")

    async def content(self, method: str, path: str, *, endpoint: str, permission: str | None, **kwargs: Any) -> Any:
        body = await self.json(method, path, endpoint=endpoint, permission=permission, **kwargs)
        return unwrap(body, f"{method} {endpoint}")

    async def pages(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        permission: str | None,
        params: dict[str, Any] | None = None,
        parse: Callable[[Any], T] | None = None,
        skipped: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[list[Any]]:
        """Yield each page's `results` from page 0 until `isLastPage` (or an empty page; `null` is one).

        With `parse`, each page yields its items parsed (a bad one skipped and its problem added
        to `skipped`), in the thread that decodes the page: a usage page of 4 MiB parses into
        60 MiB of objects, which then live only as long as that call."""
        items = self.api.item_count(method, endpoint)
        for page in range(MAX_PAGES):
            response = await self.call(
                method,
                path,
                endpoint=endpoint,
                permission=permission,
                params={**(params or {}), "page": page},
                **kwargs,
            )
            read = functools.partial(
                _page, what=f"{method} {endpoint}", page=page, parse=parse, skipped=[] if skipped is None else skipped
            )
            results, last, count = await decode_json_into(response.content, f"{method} {endpoint}", read)
            del response
            items.add(count)
            yield results
            if last:
                return
        raise BadResponse(f"{method} {endpoint}: still no isLastPage after {MAX_PAGES} pages")


def _page(
    body: Any, *, what: str, page: int, parse: Callable[[Any], T] | None, skipped: list[str]
) -> tuple[list[Any], bool, int]:
    """One page's results (parsed if `parse` is given), whether it is the last, and how many
    items it held (parsed or not)."""
    content = unwrap(body, what)
    if not isinstance(content, dict) or not isinstance(content.get("results", ()), list | None):
        raise BadResponse(f"{what} page {page}: expected a page object with a 'results' list")
    results = content.get("results") or []  # the OpenAPI document marks `results` nullable
    last = content.get("isLastPage") is True or not results
    return (parse_items(results, parse, skipped) if parse is not None else results), last, len(results)
