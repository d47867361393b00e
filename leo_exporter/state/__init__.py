"""The fleet state: what every account's terminals, routers and service lines look like now.

Values are stored by metric family and entity id, and each entity's label string is built once
(when the entity first appears), so the renderer only concatenates. The `account` label is the
config account's name, fixed before any API call: the provider's own account ids are attributes
(`provider_account`) on info series, never identity. The big
tables are changed only inside the state worker (see `StateWorker`), which also runs the
renderer, so a render never sees a table half-updated. Small counters (requests, job status)
are changed on the event loop; the renderer copies those dicts, which CPython does atomically.

Providers measure through the catalogue's typed handles (`table.set(TERMINAL_UPTIME_SECONDS, id,
value)`, `table.set_labelled(ROUTER_CLIENTS, id, {("2ghz",): 3})`); only this package turns them
into names and escaped label text. A measurement that does not fit the catalogue (a family that
is not in it or is of another entity kind, labels missing or extra) is a bug in the exporter:
with LEO_EXPORTER_STRICT_MEASUREMENTS=1 (the test suite sets it) it raises InvalidMeasurement;
otherwise it is dropped, counted in `leo_exporter_invalid_measurements_total{family}` and logged
once per family and account, so a slip costs one series, never a job.

One module per job: `tables` (an entity kind's values and label text), `account` (one configured
account), `billing` (usage, pool, product and balance records -> figures), `checks` (measurements
against the catalogue), `fleet` (all accounts and jobs; the state worker). The names providers,
the renderer and the tests use are imported here.
"""

from leo_exporter.state.account import AccountState
from leo_exporter.state.checks import STRICT_ENV, InvalidMeasurement, strict_measurements
from leo_exporter.state.fleet import FleetState, StateWorker
from leo_exporter.state.tables import EntityTable

__all__ = [
    "STRICT_ENV",
    "AccountState",
    "EntityTable",
    "FleetState",
    "InvalidMeasurement",
    "StateWorker",
    "strict_measurements",
]
