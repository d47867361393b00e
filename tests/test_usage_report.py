"""The monthly usage report (`usage-report`, `/usage.csv`, `/api/usage`): one row per line per
billing cycle, with figures that equal the simulator's own billing model, at an ordinary date and
on a cycle's first day, when OneWeb's lagging report still belongs to the cycle that just ended.

Expected figures are computed from the simulators' models (their usage functions and fleets),
never from the exporter's output. The exporter judges billing dates by the simulated calendar
(`Exporter(calendar=...)`), as the demo does.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml

from leo_exporter.cli import build_parser
from leo_exporter.config import ConfigError
from leo_exporter.providers import built_in, parse_config
from leo_exporter.providers.kognitive.simulator.fleet import line_usage as kognitive_usage
from leo_exporter.providers.starlink.simulator.usage import line_usage as starlink_usage
from leo_exporter.simulator.app import build_app, demo_config
from leo_exporter.simulator.calendar import parse_instant
from leo_exporter.usagereport import run
from tests.inprocess import SIM_URL, front_client, poll_all, simulated_exporter
from tests.processes import samples_by_name

ORDINARY = "2027-03-15T12:00:00Z"
FIRST_DAY = "2027-03-01T00:30:00Z"  # lines anchored on the 1st begin a cycle; OneWeb's report lags
GB = 1e9


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day_iso(text: str) -> str:
    """A simulator date (`2027-02-01` or `2027-02-01T00:00:00Z`) as the report writes it."""
    return iso(parse_instant(text if "T" in text else f"{text}T00:00:00Z"))


# ---- what the simulators' models say ------------------------------------------------------------


def expected_cycles(app: Any, cycles: int) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(provider, service line) -> its newest `cycles` cycles by the simulators' own models:
    start, end, GB by class (and for OneWeb the report's one cycle)."""
    now = app.state.calendar()
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for acc in app.state.starlink.accounts:
        for line in acc.service_lines:
            model = starlink_usage(acc, line, now, previous_cycles=cycles - 1)
            out[("starlink", line.number)] = [
                {
                    "start": c["startDate"],
                    "end": c["endDate"],
                    "gb": {
                        "priority": c["totalPriorityGB"],
                        "standard": c["totalStandardGB"],
                        "opt_in_priority": c["totalOptInPriorityGB"],
                        "non_billable": c["totalNonBillableGB"],
                    },
                    "overage_gb": sum(o["overageAmountGB"] for o in c["overageLines"]),
                    "mobile": line.plan.mobile,
                }
                for c in model["billingCycles"][-cycles:]
            ]
    kognitive = app.state.kognitive
    for acc in kognitive.accounts():
        for line in acc.lines:
            plan = next((p for p in acc.products if p.reference_id == line.product), None)
            model = kognitive_usage(kognitive.seed, line, plan.limit_gb if plan else None, now)
            out[("kognitive", line.number)] = [
                {
                    "start": c["startDate"],
                    "end": c["endDate"],
                    "gb": {
                        "priority": float(c["totalPriorityGB"]),
                        "standard": float(c["totalStandardGB"]),
                        "opt_in_priority": float(c["totalOptInPriorityGB"]),
                        "non_billable": float(c["totalNonBillableGB"]),
                    },
                }
                for c in model["billingCycles"][-cycles:]
            ]
    oneweb = app.state.oneweb
    when = oneweb._usage_time()
    for acc in oneweb.accounts:
        for p in acc.products:
            if p.imei and p.status == "active":
                start, end = oneweb._cycle(p, when)
                out[("oneweb", p.product_id)] = [
                    {"start": iso(start), "end": iso(end), "total_gb": oneweb.used_bytes(p, when) / GB}
                ]
    return out


# ---- running the command -----------------------------------------------------------------------


def config_file(tmp_path: Path, app: Any, **account_extra: Any) -> Path:
    data = demo_config(SIM_URL, app)
    for account in data["accounts"]:
        account.update(account_extra)
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def report(app: Any, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    args = build_parser().parse_args(["usage-report", *argv])
    code = run(args, transport=httpx.ASGITransport(app=app), calendar=app.state.calendar)
    out, err = capsys.readouterr()
    return code, out, err


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def check_rows(rows: list[dict[str, Any]], app: Any, cycles: int, *, json_rows: bool) -> None:
    """Every line of every provider, with its cycles' figures as the models say."""
    now = app.state.calendar()
    expected = expected_cycles(app, cycles)
    got: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        got[(row["provider"], row["service_line"])].append(row)
    assert set(got) == set(expected)
    assert {p for p, _ in got} == {"starlink", "kognitive", "oneweb"}
    full = [k for k, v in got.items() if k[0] != "oneweb" and len(v) == cycles]
    assert len(full) > 0.8 * sum(1 for k in got if k[0] != "oneweb")  # all but lines younger than N cycles

    def gb(row: dict[str, Any], cls: str) -> float:
        value = row["usage_gb"].get(cls) if json_rows else row.get(f"{cls}_gb")
        return float(value or 0)

    for key, want in expected.items():
        have = got[key]
        assert [r["cycle_start"] for r in have] == [day_iso(c["start"]) for c in want], key
        assert [r["cycle_end"] for r in have] == [day_iso(c["end"]) for c in want], key
        for row, cycle in zip(have, want, strict=True):
            complete = parse_instant(day_iso(cycle["end"])) <= now
            assert row["complete"] in (complete, "true" if complete else "false"), key
            if key[0] == "oneweb":
                usage_columns = [k for k in row if k.endswith("_gb") and k not in ("limit_gb", "overage_gb")]
                classes = row["usage_gb"].values() if json_rows else [row[k] for k in usage_columns]
                used = [float(v) for v in classes if v not in ("", None)]
                assert sum(used) == pytest.approx(cycle["total_gb"], abs=1e-3), key
                continue
            for cls, value in cycle["gb"].items():
                assert gb(row, cls) == pytest.approx(value, abs=1e-6), (key, cls)
            if key[0] == "starlink":
                mobility = "mobile" if cycle["mobile"] else "fixed"
                assert row["mobile_or_fixed"] == mobility
                if cycle["overage_gb"]:
                    assert float(row["overage_gb"]) == pytest.approx(cycle["overage_gb"], abs=1e-6)
                    assert row["currency"] == "USD" and float(row["overage_cost"]) > 0


@pytest.mark.parametrize("date", [ORDINARY, FIRST_DAY])
def test_usage_report_csv_has_every_lines_last_three_cycles(
    date: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = build_app(now=parse_instant(date), only=built_in())
    code, out, err = report(app, ["--config.file", str(config_file(tmp_path, app)), "--cycles", "3"], capsys)
    assert code == 0, err
    rows = csv_rows(out)
    assert list(rows[0])[:8] == [
        "provider",
        "account",
        "provider_account",
        "service_line",
        "nickname",
        "tags",
        "cycle_start",
        "cycle_end",
    ]
    assert list(rows[0])[8:12] == ["priority_gb", "standard_gb", "opt_in_priority_gb", "non_billable_gb"]
    assert list(rows[0])[-6:] == ["limit_gb", "overage_gb", "overage_cost", "currency", "mobile_or_fixed", "complete"]
    check_rows(rows, app, 3, json_rows=False)
    assert all(r["tags"].startswith("customer=") for r in rows)  # the demo's tags
    assert "wrote" in err


def test_usage_report_json_to_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = build_app(now=parse_instant(ORDINARY), only=built_in())
    out_file = tmp_path / "usage.json"
    argv = ["--config.file", str(config_file(tmp_path, app)), "--cycles", "3", "--format", "json"]
    code, out, err = report(app, [*argv, "--output", str(out_file)], capsys)
    assert code == 0, err
    assert out == "" and str(out_file) in err
    doc = json.loads(out_file.read_text())
    assert doc["cycles"] == 3
    check_rows(doc["rows"], app, 3, json_rows=True)
    assert not list(tmp_path.glob(".usage.json.*"))  # written atomically: no temporary file left


def test_on_a_cycles_first_day_a_lagging_oneweb_report_is_the_previous_cycles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At 00:30 on the 1st, OneWeb's newest report of a line anchored on the 1st still covers
    February: the report shows February, complete; the exposition has no usage of the running
    cycle for it, and February's figures as the previous cycle's."""
    app = build_app(now=parse_instant(FIRST_DAY), only=built_in())
    now = app.state.calendar()
    oneweb = app.state.oneweb
    when = oneweb._usage_time()
    lagging = {
        p.product_id: p
        for acc in oneweb.accounts
        for p in acc.products
        if p.imei and p.status == "active" and oneweb._cycle(p, when)[1] <= now
    }
    assert lagging and all(p.product_id.startswith("SC-") for p in lagging.values())

    code, out, err = report(app, ["--config.file", str(config_file(tmp_path, app))], capsys)
    assert code == 0, err
    rows = {r["service_line"]: r for r in csv_rows(out) if r["provider"] == "oneweb"}
    for pid, p in lagging.items():
        start, end = oneweb._cycle(p, when)
        assert (rows[pid]["cycle_start"], rows[pid]["cycle_end"]) == (iso(start), iso(end))
        assert iso(end) == "2027-03-01T00:00:00Z" and rows[pid]["complete"] == "true"

    async def exposition() -> dict[str, list[Any]]:
        exporter, _ = simulated_exporter(app)
        await poll_all(exporter)
        return samples_by_name((await exporter.render_now()).plain.decode())

    m = anyio.run(exposition)
    current = {s.labels["service_line"] for s in m["leo_service_line_usage_bytes"]}
    starts = {s.labels["service_line"] for s in m["leo_service_line_billing_cycle_start_timestamp_seconds"]}
    previous = defaultdict(float)
    for s in m["leo_service_line_previous_cycle_usage_bytes"]:
        previous[s.labels["service_line"]] += s.value
    prev_end = {s.labels["service_line"]: s.value for s in m["leo_service_line_previous_cycle_end_timestamp_seconds"]}
    for pid, p in lagging.items():
        assert pid not in current and pid not in starts  # absent until a report of March arrives
        assert previous[pid] == pytest.approx(oneweb.used_bytes(p, when), abs=1e6)
        assert prev_end[pid] == parse_instant("2027-03-01T00:00:00Z")
    # the other OneWeb lines' reports are of their running cycle: current, as before
    running = {p.product_id for acc in oneweb.accounts for p in acc.products if p.imei and p.status == "active"}
    assert running - set(lagging) <= current


@pytest.mark.anyio
async def test_oneweb_history_builds_up_as_the_exporter_runs() -> None:
    """OneWeb reports only the running cycle: the exporter keeps the last report of each cycle, so
    after a cycle's end the report has both, and the previous-cycle series is the kept one."""
    app = build_app(now=parse_instant("2027-02-27T12:00:00Z"), only=built_in())
    exporter, app = simulated_exporter(app)
    await poll_all(exporter)
    oneweb = app.state.oneweb
    first = oneweb._usage_time()
    line = next(p for acc in oneweb.accounts for p in acc.products if p.imei and p.status == "active" and not p.pool)
    app.state.calendar.offset += 31 * 86400.0  # a month later: the line is in its next cycle
    await poll_all(exporter)
    second = oneweb._usage_time()
    async with front_client(exporter) as http:
        doc = (await http.get("/api/usage", params={"cycles": "3"})).json()
    rows = [r for r in doc["rows"] if r["service_line"] == line.product_id]
    assert [r["cycle_start"] for r in rows] == [iso(oneweb._cycle(line, first)[0]), iso(oneweb._cycle(line, second)[0])]
    assert [r["complete"] for r in rows] == [True, False]
    assert sum(rows[0]["usage_gb"].values()) == pytest.approx(oneweb.used_bytes(line, first) / GB, abs=1e-3)
    m = samples_by_name((await exporter.render_now()).plain.decode())
    prev = [s for s in m["leo_service_line_previous_cycle_usage_bytes"] if s.labels["service_line"] == line.product_id]
    assert [s.value for s in prev] == [pytest.approx(oneweb.used_bytes(line, first), abs=1e6)]
    await exporter.aclose()


@pytest.mark.anyio
async def test_usage_csv_and_api_usage_on_the_status_routes() -> None:
    app = build_app(now=parse_instant(ORDINARY), only=built_in())
    exporter, app = simulated_exporter(app)
    await poll_all(exporter)
    async with front_client(exporter) as http:
        got_csv = await http.get("/usage.csv")
        got_json = await http.get("/api/usage", params={"cycles": "3"})
        by = await http.get("/usage.csv", params={"by": "tag:customer"})
        by_json = await http.get("/api/usage", params={"by": "tag:customer"})
        bad = [
            await http.get("/api/usage", params={"cycles": "0"}),
            await http.get("/api/usage", params={"cycles": "x"}),
            await http.get("/usage.csv", params={"by": "customer"}),
            await http.get("/usage.csv", params={"by": "tag:nope"}),
        ]
    await exporter.aclose()
    assert got_csv.status_code == 200 and got_csv.headers["content-type"].startswith("text/csv")
    assert "usage.csv" in got_csv.headers["content-disposition"]
    check_rows(csv_rows(got_csv.text), app, 3, json_rows=False)  # default: billing_cycles_kept, 3
    check_rows(got_json.json()["rows"], app, 3, json_rows=True)
    assert [r.status_code for r in bad] == [400, 400, 400, 400]
    assert "cycles must be a whole number" in bad[0].json()["error"]
    assert "tag:<key>" in bad[2].text and "'nope' is not a tag key" in bad[3].text

    # totals per customer and billing month are the sums of the rows
    rows = csv_rows(got_csv.text)
    sums: dict[tuple[str, str], float] = defaultdict(float)
    lines: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in rows:
        customer = dict(t.split("=", 1) for t in r["tags"].split(";") if t).get("customer", "")
        key = (customer, r["cycle_start"][:7])
        sums[key] += float(r["priority_gb"] or 0) + float(r["standard_gb"] or 0)
        lines[key].add(r["service_line"])
    totals = csv_rows(by.text)
    assert list(totals[0])[:3] == ["tag:customer", "billing_month", "lines"]
    assert {(t["tag:customer"], t["billing_month"]) for t in totals} == set(sums)
    for t in totals:
        key = (t["tag:customer"], t["billing_month"])
        assert int(t["lines"]) == len(lines[key])
        assert float(t["priority_gb"]) + float(t["standard_gb"]) == pytest.approx(sums[key], abs=1e-3)
    assert by_json.json()["by"] == "tag:customer" and len(by_json.json()["totals"]) == len(totals)


def test_usage_report_by_tag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = build_app(now=parse_instant(ORDINARY), only=built_in())
    path = str(config_file(tmp_path, app))
    code, out, err = report(app, ["--config.file", path, "--by", "tag:customer", "--format", "json"], capsys)
    assert code == 0, err
    totals = json.loads(out)["totals"]
    customers = {t["value"] for t in totals}
    assert len(customers) >= 2 and all(t["lines"] > 0 for t in totals)
    months = {t["billing_month"] for t in totals}
    assert {"2027-01", "2027-02", "2027-03"} <= months


def test_more_cycles_are_asked_for_and_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--cycles 5 raises what each account asks for: Starlink's query sends previousBillingCycles 4."""
    app = build_app(now=parse_instant(ORDINARY), only=built_in())
    code, out, err = report(app, ["--config.file", str(config_file(tmp_path, app)), "--cycles", "5"], capsys)
    assert code == 0, err
    rows = csv_rows(out)
    per_line: dict[str, int] = defaultdict(int)
    for r in rows:
        if r["provider"] == "starlink":
            per_line[r["service_line"]] += 1
    assert max(per_line.values()) == 5
    starlink = expected_cycles(app, 5)
    assert all(per_line[sln] == len(c) for (p, sln), c in starlink.items() if p == "starlink")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--cycles", "0"], "--cycles: must be a whole number from 1 to 25"),
        (["--cycles", "three"], "--cycles: must be a whole number from 1 to 25"),
        (["--format", "xml"], "invalid choice: 'xml'"),
        (["--by", "customer"], "--by: must be tag:<key>"),
    ],
)
def test_bad_flags_exit_2_with_a_clear_message(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["usage-report", "--config.file", "x.yml", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_config_values_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = build_app(now=parse_instant(ORDINARY), only=built_in())
    path = str(config_file(tmp_path, app))
    code, _, err = report(app, ["--config.file", path, "--cycles", "14"], capsys)
    assert code == 2 and "accounts[0]" in err and "at most 13 for Starlink" in err
    code, _, err = report(app, ["--config.file", path, "--by", "tag:site"], capsys)
    assert code == 2 and "'site' is not a tag key" in err
    bad = config_file(tmp_path, app, billing_cycles_kept=0)
    code, _, err = report(app, ["--config.file", str(bad)], capsys)
    assert code == 2 and "billing_cycles_kept" in err
    with pytest.raises(ConfigError) as problem:
        parse_config({"accounts": [{**demo_config(SIM_URL, app)["accounts"][0], "billing_cycles_kept": 26}]})
    assert "accounts[0].billing_cycles_kept" in str(problem.value.problems)


def test_a_failed_job_or_an_unwritable_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = build_app(now=parse_instant(ORDINARY), only=built_in())
    data = demo_config(SIM_URL, app)
    data["accounts"][0]["api_url"] = SIM_URL + "/nowhere"
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    code, out, err = report(app, ["--config.file", str(path)], capsys)
    assert code == 1 and "job failed:" in err
    assert csv_rows(out)  # the other accounts' rows are written
    code, _, err = report(
        app, ["--config.file", str(config_file(tmp_path, app)), "--output", "/nonexistent/u.csv"], capsys
    )
    assert code == 1 and "cannot write /nonexistent/u.csv" in err


def test_an_exporter_pointed_at_a_simulator_judges_billing_dates_by_its_calendar() -> None:
    """With --config.file, --simulator.now (or LEO_SIMULATOR_NOW, which the tests set for every
    process) gives the exporter the simulator's calendar, so no outcome depends on today's date."""
    from leo_exporter.cli import _billing_calendar

    assert _billing_calendar(None) is None
    calendar = _billing_calendar(parse_instant(FIRST_DAY))
    assert calendar is not None and abs(calendar() - parse_instant(FIRST_DAY)) < 60
    args = build_parser().parse_args(["--config.file", "x.yml", "--simulator.now", FIRST_DAY])
    assert args.sim_now == parse_instant(FIRST_DAY)
