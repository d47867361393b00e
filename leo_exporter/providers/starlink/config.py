"""Config keys of a `provider: starlink` account (Starlink Public API V2)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from leo_exporter.config import AccountConfig, Duration, Strict
from leo_exporter.jobspec import JobSpec
from leo_exporter.providers.starlink.jobspecs import JOBS

DEFAULT_API_URL = "https://starlink.com/api/public/v2"
DEFAULT_AUTH_URL = "https://starlink.com/api/auth/connect/token"
# `previousBillingCycles` the data usage query is sent at most: the API documents no maximum, so
# the exporter keeps to a year (the simulator, like a strict server, refuses more than 24)
MAX_PREVIOUS_CYCLES = 12


MAX_BATCH_SIZE = 65000  # the stream's largest batchSize


class TelemetryOptions(Strict):
    """Stream request body: rows per response and how long the server may hold the request.

    `batch_size` is what is asked first (the provider's recommendation); a full batch means the
    account is behind, and from the next request on four times as many are asked, up to
    `max_batch_size` (set it to `batch_size` for a fixed size): a 50,000-terminal account sends
    about 65,000 rows every 15 s, which 1,000 at a time took 65 calls."""

    batch_size: int = Field(default=1000, ge=1, le=MAX_BATCH_SIZE)
    max_batch_size: int = Field(default=MAX_BATCH_SIZE, ge=1, le=MAX_BATCH_SIZE)
    max_linger: Duration = 15.0
    max_calls_per_run: int = Field(default=50, ge=1, le=10000)

    @field_validator("max_linger")
    @classmethod
    def _linger_range(cls, value: float) -> float:
        if not 0 <= value <= 65:
            raise ValueError("must be between 0s and 65s (the API's maxLingerMs limit)")
        return value


class StarlinkAccount(AccountConfig):
    provider: Literal["starlink"]
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    api_url: str = DEFAULT_API_URL
    auth_url: str = DEFAULT_AUTH_URL
    telemetry: TelemetryOptions = TelemetryOptions()
    obstruction_scale: Literal["percent", "ratio"] = Field(
        default="percent",
        description="ObstructionPercentTime: documented as percent (0-100); 'ratio' if your data says 0-1",
    )
    # one past cycle: on a cycle's first day the newest complete day is the previous cycle's last
    # (the data usage job asks for the larger of this and `billing_cycles_kept` - 1)
    previous_billing_cycles: int = Field(default=1, ge=0, le=MAX_PREVIOUS_CYCLES)

    JOBS: ClassVar[tuple[JobSpec, ...]] = JOBS

    @field_validator("billing_cycles_kept")
    @classmethod
    def _cycles_within_api(cls, value: int) -> int:
        if value - 1 > MAX_PREVIOUS_CYCLES:
            raise ValueError(
                f"at most {MAX_PREVIOUS_CYCLES + 1} for Starlink (the current cycle and "
                f"{MAX_PREVIOUS_CYCLES} previous ones, the most the data usage query is asked for)"
            )
        return value

    @property
    def previous_cycles_asked(self) -> int:
        """`previousBillingCycles` of the data usage query: enough for the report and the daily figure."""
        return max(self.previous_billing_cycles, self.billing_cycles_kept - 1)

    @field_validator("auth_url")
    @classmethod
    def _auth_http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value
