"""Property tests: whatever a provider sends, the parsers give records or a typed, explained error.

Nothing else may escape: no KeyError, TypeError, IndexError, OverflowError from our code. The
OneWeb parsers have their own property test in test_oneweb_client.py.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leo_exporter import catalog
from leo_exporter.providers.errors import ProviderError
from leo_exporter.providers.kognitive import parse as kparse
from leo_exporter.providers.kognitive.client import _items, unwrap
from leo_exporter.providers.starlink import management
from leo_exporter.providers.starlink.client import unwrap as starlink_unwrap
from leo_exporter.providers.starlink.telemetry import StreamDecoder
from leo_exporter.state import AccountState

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=25,
)

U_COLUMNS = ["DeviceType", "UtcTimestampNs", "DeviceId", "DownlinkThroughput", "PingLatencyMsAvg",
             "ObstructionPercentTime", "H3CellId", "RunningSoftwareVersion", "ActiveAlerts", "Uptime"]  # fmt: skip
R_COLUMNS = ["DeviceType", "UtcTimestampNs", "DeviceId", "Clients", "WanRxBytes", "DishId", "ActiveAlert"]
I_COLUMNS = ["DeviceType", "UtcTimestampNs", "DeviceId", "Ipv4", "Ipv6Ue", "Ipv6Cpe"]
cell_values = st.one_of(
    scalars,
    st.lists(st.one_of(st.integers(min_value=-5, max_value=100), st.text(max_size=6)), max_size=4),
    st.sampled_from(["ut01000000-00000000-008b93f2", "ip-ut1", "Router-1", 599311518063919103, 1756537212000000000]),
)


@st.composite
def stream_bodies(draw: st.DrawFn) -> Any:
    """Near-valid stream responses: real column names in any order, rows of any values and lengths."""
    columns = {}
    for code, names in (("u", U_COLUMNS), ("r", R_COLUMNS), ("i", I_COLUMNS)):
        if draw(st.booleans()):
            chosen = draw(st.permutations(names))
            extra = draw(st.lists(st.text(min_size=1, max_size=8), max_size=2))
            columns[code] = list(chosen) + extra
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        code = draw(st.sampled_from([*columns, "x", 7])) if columns else draw(st.sampled_from(["u", "d"]))
        width = len(columns.get(code, [])) if isinstance(code, str) else 3
        width = draw(st.sampled_from([width, width, max(0, width - 1), width + 1]))
        rows.append([code, *draw(st.lists(cell_values, min_size=max(0, width - 1), max_size=max(0, width - 1)))])
    enums = draw(
        st.one_of(
            st.none(),
            st.just({"AlertsByDeviceType": {"u": {"53": "actuator_motor_stuck"}, "r": {"52": "sandbox_disabled"}}}),
            json_values,
        )
    )
    return {"data": {"values": rows, "columnNamesByDeviceType": columns}, "metadata": {"enums": enums}}


def typed_or_records(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except ProviderError as exc:
        explanation = str(exc)
    assert explanation, "a provider error must explain itself"
    return None


@SETTINGS
@given(st.one_of(stream_bodies(), json_values))
def test_stream_decoder_and_state_take_anything(body: Any) -> None:
    decoder = StreamDecoder(lambda kind, name, where="": None)
    batch = typed_or_records(decoder.decode, body)
    if batch is None:
        return
    account = AccountState("starlink", "fuzz", offline_after=180, online_from_telemetry=True)
    account.terminals.apply_columns(batch.terminals, catalog.TERMINAL_ALERT)
    account.routers.apply_columns(batch.routers, catalog.ROUTER_ALERT)
    account.expire(1.8e9)
    assert batch.total_rows <= len(body["data"]["values"])


@SETTINGS
@given(json_values)
def test_starlink_management_parsers_take_anything(item: Any) -> None:
    for parse in (
        management.parse_account,
        management.parse_service_line,
        management.parse_user_terminal,
        management.parse_data_usage,
    ):
        typed_or_records(parse, item)
    typed_or_records(starlink_unwrap, item, "GET /x")


@SETTINGS
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "serviceLineNumber": st.one_of(st.text(max_size=8), scalars),
            "billingCycles": st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "startDate": st.one_of(st.text(max_size=25), scalars, st.just("2026-11-01T00:00:00Z")),
                        "totalPriorityGB": scalars,
                        "dailyDataUsage": st.lists(st.dictionaries(st.sampled_from(["date", "priorityGB"]), scalars)),
                    },
                ),
                max_size=3,
            ),
            "servicePlan": st.one_of(json_values, st.fixed_dictionaries({"usageLimitGB": scalars})),
            "lastUpdated": st.one_of(scalars, st.just("2026-11-21T23:59:59Z")),
        },
    )
)
def test_starlink_usage_parser_on_near_valid_items(item: dict[str, Any]) -> None:
    typed_or_records(management.parse_data_usage, item)


@SETTINGS
@given(json_values)
def test_kognitive_parsers_take_anything(item: Any) -> None:
    problems: list[str] = []
    typed_or_records(kparse.parse_service_line, item, kparse.StatusMap())
    typed_or_records(kparse.parse_usage, item)
    for group in (kparse.parse_terminal_group, kparse.parse_product_group, kparse.parse_address_group):
        typed_or_records(group, item, problems)
    body = typed_or_records(unwrap, item, "GET x")
    if body is not None:
        typed_or_records(_items, body, "GET x")
