"""`JobSpec`: everything about one poll job of a provider, declared once in the provider's folder.

A job is one (account, API call). Its spec is the only place its name is spelled: the config's
defaults and the `jobs:` keys it accepts, the collector switches that stop it, the CSV export's
skips, the status API, the alert rules' terminal-state regex (scripts/gen-jobs.py) and the job
tables of the docs are all read from the registered providers' specs.

Plain data with no imports of the exporter, so that the config and the providers can both use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """One poll job of a provider."""

    name: str  # the `jobs:` key of the config and the `call` label
    interval: float  # default seconds between runs (the config's `interval` overrides it)
    timeout: float  # default seconds one run may take (at least the account's `timeout`)
    # the collector groups its data feeds (catalog.COLLECTORS): a job whose groups are all switched
    # off is not run, so it costs no requests; empty: it feeds the always-on figures and always runs
    collectors: frozenset[str]
    # its data is terminal state (online flags, inventory, line activity): its failure or staleness
    # pages (LeoExporterDataStale critical) and silences the account's terminal alerts
    terminal_state: bool
    # `leo-exporter export-csv` runs it: a column of the ticketing CSV needs its data
    for_csv: bool = True
    # the provider-side permission (role) its calls need, named in its 403 log line; None: none named
    permission: str | None = None
    # its interval when the exporter runs on the built-in simulator (no --config.file); None: `interval`
    demo_interval: str | None = None
    enabled: bool = True  # enabled unless the config says otherwise


def by_name(jobs: Iterable[JobSpec]) -> dict[str, JobSpec]:
    """The specs by job name, in declaration order; a name given twice is a provider's bug."""
    out: dict[str, JobSpec] = {}
    for job in jobs:
        if job.name in out:
            raise ValueError(f"job {job.name!r} is declared twice")
        out[job.name] = job
    return out
