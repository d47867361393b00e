"""The ticketing CSV: columns, quoting, UTF-8, which terminals get a row; `GET /terminals.csv` and
`leo-exporter export-csv` against the simulator give the same rows."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest
import yaml

from leo_exporter import catalog
from leo_exporter.records import TelemetryColumns, TerminalRecord
from leo_exporter.status import csvexport
from tests.processes import ROOT, run_module, wait_for
from tests.test_status_page import NOW, client, synthetic_exporter

HEADER = (
    "provider,account,provider_account,terminal_id,kit_serial,serial,service_line,service_line_name,product,"
    "online,last_seen,latitude,longitude,active_alerts"
)


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_header_and_the_documented_columns_agree() -> None:
    assert ",".join(csvexport.COLUMNS) == HEADER
    doc = (ROOT / "docs" / "operator-tools.md").read_text()
    assert f"`{HEADER}`" in doc.replace("\n", "")
    for column in csvexport.COLUMNS:
        assert f"| `{column}` |" in doc, column


def test_rows_quoting_utf8_and_formula_guard() -> None:
    exporter = synthetic_exporter(per_account=10, accounts=1)
    account = exporter.state.accounts["fleet-0"]
    terminals = account.terminals
    terminals.update_attrs("T0-000001", {"kit_serial": 'KIT "one", the first'})
    account.service_lines.update_attrs("SL0-1", {"name": "Ålesund \u2013 Nordsjø\nline two"})
    account.service_lines.update_attrs("SL0-2", {"name": '=HYPERLINK("http://x")'})
    account.service_lines.update_attrs("SL0-5", {"name": "-5 deck"})
    account.replace_terminals(
        [
            *(
                TerminalRecord(tid, a["service_line"], a["name"], a["kit_serial"], a["serial"])
                for tid, a in terminals.attrs.items()
            ),
            TerminalRecord("T0-spare", "", "spare kit", "KITSPARE", ""),  # no service line: no row
        ]
    )
    terminals.apply_columns(
        TelemetryColumns(ids=["T0-000003"], timestamps=[NOW - 10], alerts=[("thermal_throttling", "pop_change")]),
        catalog.TERMINAL_ALERT,
    )
    exporter.state.tick()
    exporter.renderer.render()
    body = b"".join(csvexport.chunks(csvexport.snapshot(exporter.state), size=3))
    text = body.decode("utf-8")  # valid UTF-8, no byte order mark
    assert not body.startswith(b"\xef\xbb\xbf")
    assert text.startswith(HEADER + "\r\n")
    rows = parse(text)
    # 10 terminals: lines 4 and 9 are inactive (i % 5 == 4); the spare has no line
    assert [r["terminal_id"] for r in rows] == [f"T0-{i:06d}" for i in (0, 1, 2, 3, 5, 6, 7, 8)]
    by_id = {r["terminal_id"]: r for r in rows}
    assert by_id["T0-000001"]["kit_serial"] == 'KIT "one", the first'
    assert by_id["T0-000001"]["service_line_name"] == "Ålesund \u2013 Nordsjø\nline two"
    assert by_id["T0-000002"]["service_line_name"] == '\'=HYPERLINK("http://x")'
    assert by_id["T0-000005"]["service_line_name"] == "'-5 deck"
    assert by_id["T0-000003"]["active_alerts"] == "pop_change;thermal_throttling"
    assert by_id["T0-000003"]["last_seen"] == "2025-11-21T04:39:50Z"
    first = by_id["T0-000001"]
    assert first == {
        **first,
        "provider": "starlink",
        "account": "fleet-0",
        "provider_account": "ACC-0",
        "serial": "DISH0000001",
        "service_line": "SL0-1",
        "product": "PLAN-50GB",
        "online": "true",
        "last_seen": "2025-11-21T04:39:30Z",
        "latitude": "10",
        "longitude": "-20.5",
        "active_alerts": "",
    }
    offline = by_id["T0-000000"]  # no telemetry: known from inventory, offline, never seen
    assert (offline["online"], offline["last_seen"], offline["latitude"]) == ("false", "", "")


def test_alert_names_from_provider_data_cannot_start_a_formula() -> None:
    """An alert is the provider's name (a new one is exported as it comes): `=cmd|...` first in
    `active_alerts` was a formula in every spreadsheet that opened the export."""
    exporter = synthetic_exporter(per_account=4, accounts=1)
    terminals = exporter.state.accounts["fleet-0"].terminals
    hostile = ('=HYPERLINK("http://x")',), ("+1+cmd", "zz"), ("@SUM(A1)",), ("-2", "\tx")
    terminals.apply_columns(
        TelemetryColumns(ids=[f"T0-00000{i}" for i in range(4)], timestamps=[NOW - 10] * 4, alerts=list(hostile)),
        catalog.TERMINAL_ALERT,
    )
    exporter.state.tick()
    rows = parse(b"".join(csvexport.chunks(csvexport.snapshot(exporter.state))).decode("utf-8"))
    alerts = {r["terminal_id"]: r["active_alerts"] for r in rows}
    assert alerts["T0-000000"] == '\'=HYPERLINK("http://x")'
    assert alerts["T0-000001"] == "'+1+cmd;zz"
    assert alerts["T0-000002"] == "'@SUM(A1)"
    assert alerts["T0-000003"] == "'\tx;-2"  # a tab sorts first, and starts a formula too


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_http_csv_streams_every_row_in_chunks(anyio_backend: str) -> None:
    exporter = synthetic_exporter(per_account=3000, accounts=2)  # 4,800 rows: three chunks
    async with client(exporter) as http:
        response = await http.get("/terminals.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="terminals.csv"'
    rows = parse(response.text)
    assert len(rows) == 4800 and len({r["terminal_id"] for r in rows}) == 4800
    assert [r["account"] for r in rows[:1] + rows[-1:]] == ["fleet-0", "fleet-1"]


@pytest.mark.e2e
def test_export_csv_command_matches_the_running_exporters_csv(tmp_path: Path) -> None:
    sim_args = ["simulator", "--accounts", "1", "--terminals", "24", "--seed", "5"]
    with run_module(sim_args, tmp_path / "sim.log") as sim:
        wait_for(f"{sim.url}/starlink/_sim/state", sim)
        config = yaml.safe_load(httpx.get(f"{sim.url}/exporter-config.yml", timeout=10).text)
        starlink = next(a for a in config["accounts"] if a["provider"] == "starlink")
        starlink |= {"jobs": {"telemetry": {"interval": "2s"}}, "telemetry": {"max_linger": "1s"}}
        path = tmp_path / "config.yml"
        path.write_text(yaml.safe_dump(config))
        out = tmp_path / "tickets.csv"
        done = subprocess.run(
            [sys.executable, "-m", "leo_exporter", "export-csv", "--config.file", str(path), "--output", str(out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        exported = parse(out.read_text(encoding="utf-8"))
        assert f"wrote {len(exported)} terminal(s) to {out}" in done.stderr
        with run_module(["--config.file", str(path)], tmp_path / "exporter.log") as exporter:
            wait_for(f"{exporter.url}/readyz", exporter)
            served = parse(httpx.get(f"{exporter.url}/terminals.csv", timeout=10).text)
        to_stdout = subprocess.run(
            [sys.executable, "-m", "leo_exporter", "export-csv", "--config.file", str(path)],
            cwd=ROOT,
            capture_output=True,
            timeout=120,
        )
        assert to_stdout.returncode == 0
        assert to_stdout.stdout.decode("utf-8").startswith(HEADER + "\r\n")

    def identity(rows: list[dict[str, str]]) -> list[tuple[str, ...]]:
        keep = ("provider", "account", "terminal_id", "kit_serial", "serial", "service_line", "product")
        return sorted(tuple(r[k] for k in keep) for r in rows)

    assert {r["provider"] for r in exported} == {"starlink", "kognitive", "oneweb"}
    assert identity(exported) == identity(served)
    starlink_rows = [r for r in exported if r["provider"] == "starlink"]
    assert sum(r["online"] == "true" for r in starlink_rows) >= len(starlink_rows) - 2  # telemetry was read
    assert all(r["last_seen"].endswith("Z") for r in starlink_rows if r["online"] == "true")


@pytest.mark.e2e
def test_export_csv_reports_a_bad_config(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("accounts:\n  - provider: starlink\n")
    done = subprocess.run(
        [sys.executable, "-m", "leo_exporter", "export-csv", "--config.file", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "accounts[0].client_id: required key is missing" in done.stderr


def test_chunks_of_an_empty_fleet_are_just_the_header() -> None:
    assert b"".join(csvexport.chunks([])) == (HEADER + "\r\n").encode()
    assert anyio.run(_collect, []) == (HEADER + "\r\n").encode()


async def _collect(rows: list) -> bytes:
    return b"".join([chunk async for chunk in csvexport.stream(rows)])
