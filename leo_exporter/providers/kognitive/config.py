"""Config keys of a `provider: kognitive` account (Kognitive OrbitPlans Starlink API).

Sandbox and Production keys are separate accounts in the config, each with its own `auth_key`.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from leo_exporter.config import AccountConfig, Strict
from leo_exporter.jobspec import JobSpec
from leo_exporter.providers.kognitive.fields import DEFAULT_API_URL, DEFAULT_AUTH_HEADER
from leo_exporter.providers.kognitive.jobspecs import JOBS
from leo_exporter.providers.removed import OFFLINE_AFTER_IGNORED, REMOVED_KEYS, rejecting

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token


class SubscriptionStatuses(Strict):
    """`subscription_status` values beyond the built-in ones, so a new word needs no new release."""

    active: list[str] = Field(default_factory=list)
    inactive: list[str] = Field(default_factory=list)


class KognitiveAccount(AccountConfig):
    provider: Literal["kognitive"]
    auth_key: SecretStr
    api_url: str = DEFAULT_API_URL
    auth_header: str = Field(
        default=DEFAULT_AUTH_HEADER,
        description="header that carries auth_key: X-Auth-Key (default) or auth-key, the page shows both",
    )
    starlink_account: str | None = Field(
        default=None,
        min_length=1,
        description="export only this Starlink account number (ACC-...) of the ones the key covers",
    )
    page_limit: int = Field(default=100, ge=1, le=1000, description="items asked for per page")
    subscription_statuses: SubscriptionStatuses = SubscriptionStatuses()
    terminal_location_from_address: bool = Field(
        default=False,
        description="export each terminal's service address coordinates as its latitude/longitude",
    )

    JOBS: ClassVar[tuple[JobSpec, ...]] = JOBS

    _removed = model_validator(mode="before")(
        rejecting({**REMOVED_KEYS, "offline_after": OFFLINE_AFTER_IGNORED.format(provider="Kognitive")})
    )

    @field_validator("auth_header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        if not _HEADER_NAME.match(value):
            raise ValueError("must be an HTTP header name such as X-Auth-Key or auth-key")
        if value.lower() in {"content-type", "accept", "host", "content-length"}:
            raise ValueError(f"{value} cannot carry the key")
        return value
