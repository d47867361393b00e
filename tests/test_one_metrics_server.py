"""One server of /metrics: the front's app. The worker's routes have none; the single-process layout
(bench/fleet.py's comparison) and the in-process tests run the front's app in front of the exporter."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from leo_exporter.cli import SINGLE_PROCESS_ENV
from leo_exporter.web import build_app
from tests.inprocess import front_client, poll_all, simulated_exporter
from tests.processes import run_module, samples_by_name, wait_for


@pytest.mark.anyio
async def test_the_workers_routes_serve_no_metrics_and_the_front_app_serves_its_rendering() -> None:
    exporter, _ = simulated_exporter(accounts=1, terminals=4)
    try:
        await poll_all(exporter)
        rendered = await exporter.render_now()
        worker = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(exporter)), base_url="http://w")
        async with worker:
            assert (await worker.get("/metrics")).status_code == 404
        async with front_client(exporter) as http:
            plain = await http.get("/metrics")
            gzipped = await http.get("/metrics", headers={"Accept-Encoding": "gzip"})
            jobs = await http.get("/api/jobs")  # the rest goes to the worker's routes
    finally:
        await exporter.aclose()
    assert plain.status_code == 200 and plain.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert plain.text.startswith(rendered.plain.decode())  # the rendering, then the front's own families
    assert gzipped.headers["content-encoding"] == "gzip" and gzipped.text == plain.text
    assert samples_by_name(plain.text)["leo_exporter_worker_up"][0].value == 1.0
    assert jobs.status_code == 200 and jobs.json()["jobs"]


def test_the_single_process_layout_serves_metrics_through_the_front_app(tmp_path: Path) -> None:
    env = {SINGLE_PROCESS_ENV: "1"}
    with run_module(["--simulator.terminals", "8"], tmp_path / "exporter.log", env=env) as exporter:
        wait_for(f"{exporter.url}/readyz", exporter)
        children = list(Path(f"/proc/{exporter.popen.pid}/task").glob("*/children"))
        assert not any(task.read_text().split() for task in children)  # no worker process
        text = httpx.get(f"{exporter.url}/metrics", timeout=10).text
        status = httpx.get(f"{exporter.url}/api/status", timeout=10)
    samples = samples_by_name(text)
    assert samples["leo_exporter_worker_up"][0].value == 1.0  # the front's own family: the front's app served it
    assert "leo_terminal_info" in samples
    assert status.status_code == 200
