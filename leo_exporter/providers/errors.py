"""Typed provider failures. Each names what went wrong in words an operator can act on.

`reason` is a short, fixed word for logs and metrics; messages never contain secrets
(the HTTP layer builds them from status codes, endpoint names and provider error texts).
"""

from __future__ import annotations


class ProviderError(Exception):
    reason = "error"

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class AuthenticationFailed(ProviderError):
    """Credentials refused (401), or the token endpoint said no."""

    reason = "auth"


class PermissionDenied(ProviderError):
    """403: the credential works but lacks a permission the job needs."""

    reason = "permission"


class NotFound(ProviderError):
    reason = "not_found"


class RateLimited(ProviderError):
    """429: the account's request budget at the provider is spent."""

    reason = "rate_limited"


class ServerError(ProviderError):
    reason = "server_error"


class RequestRejected(ProviderError):
    """Another 4xx, or a well-formed response that says the request was invalid."""

    reason = "rejected"


class TransportFailed(ProviderError):
    """No HTTP response at all: timeout, refused or reset connection, TLS failure."""

    reason = "transport"


class ConnectionDropped(TransportFailed):
    """The connection closed or reset under the request: most often one the server closed while
    it sat idle in the pool (its keep-alive timeout shorter than ours, or its event loop late)."""


class BadResponse(ProviderError):
    """A response we cannot use: malformed JSON, or valid JSON of the wrong shape."""

    reason = "bad_response"
