"""JSON response helpers shared by the simulated provider APIs (orjson: the stream bodies are big)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from starlette.responses import Response


def json_response(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(obj), status_code=status, headers=headers, media_type="application/json")


def envelope(content: Any, status: int = 200) -> Response:
    """Starlink's `ServiceResponse` envelope around a successful result."""
    return json_response({"errors": [], "warnings": [], "information": [], "isValid": True, "content": content}, status)


def envelope_error(
    status: int, message: str, members: Sequence[str] = (), headers: Mapping[str, str] | None = None
) -> Response:
    """The envelope of a failed call: `isValid` false, `content` null, one error message."""
    body = {
        "errors": [{"memberNames": list(members), "errorMessage": message}],
        "warnings": [],
        "information": [],
        "isValid": False,
        "content": None,
    }
    return json_response(body, status, headers)


def paginate(items: Sequence[Any], page: int, limit: int) -> tuple[Sequence[Any], dict[str, Any]]:
    """The slice for a 0-based page and the paging fields of the content (results added by the caller)."""
    start = page * limit
    chunk = items[start : start + limit]
    meta = {
        "pageIndex": page,
        "limit": limit,
        "isLastPage": start + limit >= len(items),
        "totalCount": len(items),
    }
    return chunk, meta


def iso(dt: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, the way the Starlink API writes date-times."""
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
