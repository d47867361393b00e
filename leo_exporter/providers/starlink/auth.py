"""OAuth2 client-credentials tokens for a Starlink V2 service account.

Minting goes through the account's request budget like any call (a revoked account must not
hammer the token endpoint). A token lives about 15 minutes. It is reused until shortly before `expires_in` runs out and
minted again at once when the API answers 401; concurrent jobs share one mint.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from leo_exporter.providers.errors import AuthenticationFailed, BadResponse, RequestRejected
from leo_exporter.providers.http import ApiClient, decode_json
from leo_exporter.providers.idlelock import IdleLock

RENEW_BEFORE = 60.0  # seconds before expiry to mint a new token (or 10% of a shorter lifetime)


class TokenSource:
    def __init__(
        self,
        api: ApiClient,
        auth_url: str,
        client_id: str,
        client_secret: str,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.api = api
        self.auth_url = auth_url
        self.client_id = client_id
        self._secret = client_secret
        self.clock = clock
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = IdleLock()
        self.mints = 0

    async def token(self) -> str:
        async with self._lock:
            if self._token is None or self.clock() >= self._renew_at:
                await self._mint()
            assert self._token is not None
            return self._token

    def invalidate(self, token: str) -> None:
        """The API refused this token: the next call mints a new one (unless another job already did)."""
        if self._token == token:
            self._token = None

    async def _mint(self) -> None:
        form = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self._secret}
        try:
            response = await self.api.request("POST", self.auth_url, endpoint="token", data=form, query=True)
        except (AuthenticationFailed, RequestRejected) as exc:
            self.api.authenticated(False)
            raise AuthenticationFailed(
                f"token endpoint refused the client credentials of client_id {self.client_id!r}: {exc}"
            ) from None
        body = await decode_json(response.content, "POST token")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise BadResponse("POST token: response has no access_token")
        expires_in = body.get("expires_in", 900)
        lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 900.0
        self._token = token
        self._renew_at = self.clock() + lifetime - min(RENEW_BEFORE, lifetime * 0.1)
        self.mints += 1
        self.api.authenticated(True)
