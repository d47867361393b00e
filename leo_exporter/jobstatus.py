"""What the scheduler knows about one job (last run, success, error, interval); the renderer
and the status page read it. One job is one (account, API call).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol


class JobAccount(Protocol):
    """The account a job polls, as its status needs it: names for the key, the label text for series."""

    provider: str
    name: str
    base: str


@dataclass(slots=True)
class JobStatus:
    """What the scheduler knows about one job; read by the renderer and the status page."""

    account: JobAccount
    call: str
    interval: float
    timeout: float
    enabled: bool = True
    up: float | None = None
    last_run: float | None = None
    last_success: float | None = None
    duration: float | None = None
    next_run: float | None = None
    last_error: str = ""
    successes: float = 0.0  # runs that succeeded (two floats, not a dict: 0.4 KiB less an account)
    errors: float = 0.0
    # What the config file says; `enabled` and `interval` may differ after a change at run time
    # (the admin API), and the rules compare with these so such a change cannot hide a dead job.
    configured_interval: float = 0.0
    configured_enabled: bool = True

    # Bumped by every change of a field, so the renderer remakes an account's job series only
    # after one of its jobs changed (read before the figures: a change while they are read leaves
    # the chunk stale, to be made again).
    version: int = field(default=0, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.configured_interval = self.configured_interval or self.interval
        self.configured_enabled = self.enabled

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)
        if name != "version":
            object.__setattr__(self, "version", getattr(self, "version", 0) + 1)

    @property
    def runs(self) -> Mapping[str, float]:
        """Runs by result, as `leo_exporter_job_runs_total` counts them (read-only: count a run
        in `successes` or `errors`)."""
        return MappingProxyType({"success": self.successes, "error": self.errors})

    @property
    def key(self) -> str:
        return f"{self.account.provider}/{self.account.name}/{self.call}"
