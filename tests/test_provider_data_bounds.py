"""Provider data that cannot grow the exporter without bound (issue #25, findings 6, 7 and 8): names
folded past a bound and counted, warnings rate-limited, rows from the future rejected, a malformed
row costing that row only."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from leo_exporter import catalog
from leo_exporter.providers.common import parse_items, timestamp
from leo_exporter.providers.errors import BadResponse
from leo_exporter.providers.names import MAX_FIELDS, MAX_REMEMBERED, OTHER, WARNINGS_PER_MINUTE, UnknownNames
from leo_exporter.providers.starlink.telemetry import FUTURE_TOLERANCE, MAX_ALERT_NAMES, StreamDecoder
from leo_exporter.state import AccountState
from tests.conftest import FakeClock
from tests.test_telemetry_decoder import ENUMS, T0, U_COLUMNS, payload, u_row

NOW = T0 / 1e9 + 30.0  # our clock: half a minute after the rows' stamps


class Logged(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def names(clock: FakeClock | None = None) -> tuple[UnknownNames, AccountState, Logged]:
    account = AccountState("starlink", "north", offline_after=180, online_from_telemetry=True)
    logger = logging.getLogger(f"test.bounds.{id(account)}")
    logger.propagate = False
    handler = Logged()
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    unknown = UnknownNames(account, logging.LoggerAdapter(logger, {}), clock=clock or FakeClock(0.0))
    return unknown, account, handler


def counter(account: AccountState, family: Any) -> dict[str, float]:
    return account.counters.get(family.name, {})


def decode_into(decoder: StreamDecoder, unknown: UnknownNames, body: dict[str, Any]) -> Any:
    """What the Starlink telemetry job does with one answer: decode it, count its unreadable values."""
    batch = decoder.decode(body)
    for (column, problem), count in batch.invalid_values.items():
        unknown.invalid(column, problem, count)
    return batch


def test_new_enum_keys_in_every_answer_make_no_new_series() -> None:
    """2,000 new `metadata.enums` keys per answer made 2,000 new `field` label values per answer."""
    unknown, account, log = names()
    decoder = StreamDecoder(unknown.note, clock=lambda: NOW)
    for answer in range(30):
        keys = [f"k{answer}-{i}" for i in range(2000)]
        enums = {**ENUMS, "DeviceType": {**ENUMS["DeviceType"], **dict.fromkeys(keys, "x")}}
        enums.update({key: ["not", "codes"] for key in keys})
        body = payload([u_row()])
        body["metadata"] = {"enums": enums}
        decode_into(decoder, unknown, body)
    invalid = counter(account, catalog.EXPORTER_INVALID_VALUES_TOTAL)
    assert invalid == {'field="metadata.enums"': 60_000.0}
    assert len(unknown.seen) <= MAX_REMEMBERED
    assert len(log.lines) <= WARNINGS_PER_MINUTE


def test_field_labels_beyond_the_bound_are_folded_into_other_and_still_counted() -> None:
    unknown, account, _ = names()
    for i in range(1000):
        unknown.invalid(f"Column{i}", "not a number", 2)
    invalid = counter(account, catalog.EXPORTER_INVALID_VALUES_TOTAL)
    assert len(invalid) == MAX_FIELDS + 1
    assert invalid[f'field="{OTHER}"'] == 2.0 * (1000 - MAX_FIELDS)
    assert sum(invalid.values()) == 2000.0
    unknown.invalid("x" * 500, "not a number")  # a name no label should carry, however few there are
    assert counter(account, catalog.EXPORTER_INVALID_VALUES_TOTAL)[f'field="{OTHER}"'] == 2.0 * (1000 - MAX_FIELDS) + 1


def test_new_column_names_in_every_answer_cost_bounded_memory_and_log_lines() -> None:
    """20,000 new column names per answer wrote 600,000 warnings a minute and kept every name."""
    clock = FakeClock(0.0)
    unknown, account, log = names(clock)
    decoder = StreamDecoder(unknown.note, clock=lambda: NOW)
    for answer in range(10):
        extra = [f"New{answer}x{i}" for i in range(20_000)]
        columns = {"u": [*U_COLUMNS, *extra]}
        body = payload([u_row(**dict.fromkeys(extra, 1))], columns)
        batch = decode_into(decoder, unknown, body)
        assert batch.terminals.ids == ["01000000-00000000-008b93f2"]  # the data itself still comes through
        clock.now += 6.0
    assert len(unknown.seen) <= MAX_REMEMBERED
    assert len(log.lines) == WARNINGS_PER_MINUTE
    clock.now += 60.0
    unknown.invalid("H3CellId", "not an H3 cell")  # the next warning, a minute later, says what was held
    assert len(log.lines) == WARNINGS_PER_MINUTE + 2
    assert any("more warnings about provider data in the last minute were not logged" in line for line in log.lines)
    unknown_fields = counter(account, catalog.EXPORTER_UNKNOWN_FIELDS_TOTAL)
    assert unknown_fields['kind="column"'] >= 200_000 - MAX_REMEMBERED  # every new name counted
    assert all(len(line) < 400 for line in log.lines)


def test_alert_names_beyond_the_bound_are_folded_into_other() -> None:
    unknown, account, _ = names()
    decoder = StreamDecoder(unknown.note, clock=lambda: NOW)
    alerts: set[str] = set()
    for answer in range(10):
        codes = {str(1000 + i): f"made_up_{answer}_{i}" for i in range(100)}
        enums = {**ENUMS, "AlertsByDeviceType": {"u": codes}}
        rows = [u_row(f"ut{answer}-{i}", ActiveAlerts=[int(c)]) for i, c in enumerate(codes)]
        body = payload(rows)
        body["metadata"] = {"enums": enums}
        batch = decode_into(decoder, unknown, body)
        alerts.update(name for names_ in batch.terminals.alerts for name in names_)
    assert len(alerts) == MAX_ALERT_NAMES + 1 and OTHER in alerts
    assert counter(account, catalog.EXPORTER_UNKNOWN_FIELDS_TOTAL) == {'kind="alert"': 1000.0}


def test_a_row_stamped_ten_years_ahead_is_rejected_and_later_rows_still_apply() -> None:
    """One row ten years ahead froze its terminal: every later row counted as older."""
    unknown, account, _ = names()
    clock = FakeClock(NOW)
    decoder = StreamDecoder(unknown.note, clock=clock)
    ten_years = int(10 * 365 * 86400 * 1e9)
    batch = decode_into(decoder, unknown, payload([u_row(ts=T0 + ten_years, Uptime=1)]))
    assert batch.invalid_rows == 1 and batch.terminals.ids == []
    account.terminals.apply_columns(batch.terminals, catalog.TERMINAL_ALERT)
    invalid = counter(account, catalog.EXPORTER_INVALID_VALUES_TOTAL)
    assert invalid == {'field="UtcTimestampNs"': 1.0}
    # a row a little ahead (a device clock a few minutes fast) is taken
    ahead = int((FUTURE_TOLERANCE - 60) * 1e9)
    for ts, uptime in ((T0 + 30_000_000_000 + ahead, 2), (T0 + 60_000_000_000 + ahead, 3)):
        clock.now += 30
        batch = decode_into(decoder, unknown, payload([u_row(ts=ts, Uptime=uptime)]))
        account.terminals.apply_columns(batch.terminals, catalog.TERMINAL_ALERT)
        assert account.terminals.get(catalog.TERMINAL_UPTIME_SECONDS, "01000000-00000000-008b93f2") == uptime


@pytest.mark.parametrize(
    "alerts",
    [[[1]], [{"code": 1}], [1, [2]], [True], [1.5]],
    ids=["nested-list", "object", "mixed", "boolean", "fraction"],
)
def test_a_malformed_alert_list_costs_that_row_its_alerts_only(alerts: list[Any]) -> None:
    """`ActiveAlerts: [[1]]` raised TypeError (unhashable) and dropped every terminal's rows."""
    unknown, account, _ = names()
    decoder = StreamDecoder(unknown.note, clock=lambda: NOW)
    rows = [u_row("utA", ActiveAlerts=[50]), u_row("utB", ActiveAlerts=alerts), u_row("utC", ActiveAlerts=[])]
    batch = decode_into(decoder, unknown, payload(rows))
    assert batch.terminals.ids == ["A", "B", "C"]
    assert batch.terminals.alerts == [("ethernet_slow_10mbps",), None, ()]
    assert batch.terminals.measures[catalog.TERMINAL_UPTIME_SECONDS] == [676628.0] * 3
    assert counter(account, catalog.EXPORTER_INVALID_VALUES_TOTAL) == {'field="ActiveAlerts"': 1.0}


def test_a_row_whose_device_type_is_no_name_costs_that_row_only() -> None:
    unknown, _, _ = names()
    decoder = StreamDecoder(unknown.note, clock=lambda: NOW)
    body = payload([u_row("utA")])
    body["data"]["values"] += [[[1], T0, "utB"], [{"u": 1}, T0, "utC"]]  # type: ignore[index]
    batch = decoder.decode(body)
    assert batch.terminals.ids == ["A"] and batch.invalid_rows == 2


def test_an_item_of_a_shape_no_parser_expected_costs_that_item_only() -> None:
    """Every provider's item lists (`parse_items`): an exception other than BadResponse from a
    parser skips the item and says so; it does not end the page."""

    def parse(item: Any) -> str:
        if item == "bad":
            raise BadResponse("item 2: no id")
        return {"a": "A"}[item["key"]]  # a list here: TypeError; a missing key: KeyError

    skipped: list[str] = []
    out = parse_items([{"key": "a"}, "bad", ["key"], {"key": "z"}, {"key": "a"}], parse, skipped)
    assert out == ["A", "A"]
    assert skipped[0] == "item 2: no id"
    assert skipped[1].startswith("an item of a shape not understood (TypeError")
    assert skipped[2].startswith("an item of a shape not understood (KeyError")


def test_an_accounts_counter_family_has_a_bounded_number_of_label_sets() -> None:
    """The state's backstop, whatever a provider hands over: new label sets beyond the bound are
    counted under `other`."""
    from leo_exporter.state.account import MAX_COUNTER_SERIES

    account = AccountState("starlink", "north", offline_after=180, online_from_telemetry=True)
    for i in range(MAX_COUNTER_SERIES + 500):
        account.count(catalog.EXPORTER_API_REQUESTS_TOTAL, (f"/e{i}", "200"))
    account.count(catalog.EXPORTER_API_REQUESTS_TOTAL, ("/e0", "200"))  # one it holds still counts as itself
    requests = counter(account, catalog.EXPORTER_API_REQUESTS_TOTAL)
    assert len(requests) == MAX_COUNTER_SERIES + 1
    assert requests['endpoint="other",code="other"'] == 500.0
    assert requests['endpoint="/e0",code="200"'] == 2.0


def test_a_date_is_read_as_unix_seconds_and_a_bad_one_fails_every_time_it_comes() -> None:
    """Dates are parsed once per text and shared (a fleet's usage repeats a few dates over every
    line): the same text always reads the same, and a bad one is not remembered as good."""
    for _ in range(2):
        assert timestamp("2025-11-01", "startDate") == 1761955200.0
        assert timestamp(" 2025-11-01T12:00:00+02:00 ", "endDate") == 1761991200.0
        with pytest.raises(BadResponse, match=r"startDate: '2025-13-01' is not an ISO 8601 date"):
            timestamp("2025-13-01", "startDate")
