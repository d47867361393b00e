"""Flags every Prometheus exporter has: `--log.level` with `warn`, `--web.telemetry-path`."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from leo_exporter.cli import build_parser
from leo_exporter.logs import setup_logging
from tests.processes import run_module, wait_for


@pytest.mark.parametrize(
    ("flag", "level"), [("debug", 10), ("info", 20), ("warn", 30), ("WARN", 30), ("warning", 30), ("error", 40)]
)
def test_log_level_accepts_what_prometheus_exporters_accept(flag: str, level: int) -> None:
    args = build_parser().parse_args([f"--log.level={flag}"])
    setup_logging(args.log_level, args.log_format)
    try:
        assert logging.getLogger().level == level
    finally:
        setup_logging("info")


def test_an_unknown_log_level_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["--log.level=trace"])
    assert exit_.value.code == 2
    assert "invalid choice: 'trace'" in capsys.readouterr().err


@pytest.mark.parametrize("path", ["metrics", "/", "/healthz", "/api/status"])
def test_telemetry_path_must_not_hide_other_endpoints(path: str) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([f"--web.telemetry-path={path}"])


@pytest.mark.e2e
def test_metrics_are_served_under_the_telemetry_path_only(tmp_path: Path) -> None:
    with run_module(["--web.telemetry-path", "/probe/leo", "--log.level", "warn"], tmp_path / "log") as exporter:
        wait_for(f"{exporter.url}/readyz", exporter, timeout=60)
        text = wait_for(f"{exporter.url}/probe/leo", exporter).text
        assert "leo_exporter_build_info{" in text
        assert httpx.get(f"{exporter.url}/metrics", timeout=5).status_code == 404
    log = exporter.log()
    assert "level=info" not in log, "--log.level=warn drops info lines"
    assert "SIMULATION MODE" in log, "warnings still come through"
