"""What every state-changing request of the operator tools shares: the same-origin check, the
refusal of a switched-off feature, and the body (a form or a JSON object, bounded)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from starlette.requests import Request

MAX_BODY = 16 * 1024
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400, code: str = ""):
        super().__init__(message)
        self.message, self.status, self.code = message, status, code


def is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() in FORM_TYPES


def same_origin(request: Request) -> bool:
    """False for a request a browser made on behalf of another origin (a forged form post).

    Browsers say where a request comes from: `Sec-Fetch-Site` (only `same-origin`, or `none` for
    what the user did themselves, passes: `same-site` is another port or a sibling subdomain), or,
    from older browsers, `Origin` (it must name this host). A client that sends neither is no
    browser (curl, a script): nobody can make it send a request on someone else's behalf."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    hosts = {request.headers.get("host", ""), request.headers.get("x-forwarded-host", "")} - {""}
    return urlsplit(origin).netloc in hosts


def change_refused(request: Request, enabled: bool, flag: str) -> str | None:
    """Why a state-changing request is refused (403), or None: the feature must be switched on
    with its flag, and the request must be same-origin."""
    if not enabled:
        return f"this exporter is read-only: start it with {flag} to allow this"
    if not same_origin(request):
        return "cross-origin request refused"
    return None


async def read_body(request: Request) -> dict[str, Any]:
    """Form fields or a JSON object; at most MAX_BODY bytes."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        raise BadRequest("request body too large", 413)
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise BadRequest("request body too large", 413)
    if not raw.strip():
        return {}
    if is_form(request):
        if request.headers.get("content-type", "").lower().startswith("multipart/"):
            raise BadRequest("send the form as application/x-www-form-urlencoded", 415)
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("the body must be a JSON object or a urlencoded form") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body
