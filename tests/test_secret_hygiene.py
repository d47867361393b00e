"""Secrets never show: the exporter runs with recognisable secrets through success and failure
paths, and its log, /metrics, every page, every API answer and every error are searched for them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import httpx
import pytest
import yaml

from tests.conftest import free_port
from tests.processes import ROOT, run_module, wait_for

pytestmark = pytest.mark.e2e

WRONG = {
    "starlink": "SECRET-starlink-wrong-5b1e9d",
    "kognitive": "SECRET-kognitive-wrong-77c2a0",
    "oneweb": "SECRET-oneweb-wrong-0f4e11",
}
FROM_ENV = "SECRET-from-env-4a8f2c"
FROM_FILE = "SECRET-from-file-93d7e5"
WEB_PASSWORD = "SECRET-web-password-61aa0b"


def config_with_every_failure(sim_url: str, tmp_path: Path) -> tuple[dict, list[str]]:
    served = yaml.safe_load(httpx.get(f"{sim_url}/exporter-config.yml", timeout=10).text)["accounts"]
    good = {a["provider"]: a for a in reversed(served)}  # one working account of each provider
    secrets = [a.get("client_secret") or a.get("auth_key") for a in good.values()]
    accounts = [dict(a, jobs={}) for a in good.values()]
    for account in accounts:
        account.pop("jobs")
    # wrong credentials for every provider
    for provider, account in good.items():
        bad = dict(account, name=f"{provider}-wrong")
        bad["auth_key" if provider == "kognitive" else "client_secret"] = WRONG[provider]
        accounts.append(bad)
    # a secret from the environment, on a provider that answers 404 (wrong path)
    accounts.append(
        dict(good["starlink"], name="starlink-404", api_url=f"{sim_url}/nowhere", client_secret="${HYGIENE_SECRET}")
    )
    # a secret from a file, towards a port nobody listens on
    secret_file = tmp_path / "secret"
    secret_file.write_text(FROM_FILE + "\n")
    unreachable = f"http://127.0.0.1:{free_port()}"
    refused = dict(good["oneweb"], name="oneweb-refused", api_url=unreachable)
    refused.pop("client_secret")
    refused["client_secret_file"] = str(secret_file)
    accounts.append(refused)
    # a page that is not JSON at all
    accounts.append(dict(good["kognitive"], name="kognitive-not-json", api_url=f"{sim_url}/"))
    for account in accounts:
        account["timeout"] = "2s"
        account["backoff_base"] = "0.5s"
    return {"accounts": accounts}, [s for s in secrets if s]


def test_no_secret_in_logs_metrics_pages_or_errors(tmp_path: Path) -> None:
    env = {"HYGIENE_SECRET": FROM_ENV}
    with run_module(["simulator", "--accounts", "1", "--terminals", "12"], tmp_path / "sim.log") as sim:
        wait_for(f"{sim.url}/", sim)
        config, sim_secrets = config_with_every_failure(sim.url, tmp_path)
        secrets = [*WRONG.values(), FROM_ENV, FROM_FILE, WEB_PASSWORD, *sim_secrets]
        path = tmp_path / "config.yml"
        path.write_text(yaml.safe_dump(config))
        web = tmp_path / "web.yml"
        hashed = bcrypt.hashpw(WEB_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        web.write_text(yaml.safe_dump({"basic_auth_users": {"prom": hashed}}))
        auth = ("prom", WEB_PASSWORD)
        outputs: dict[str, str] = {}
        args = ["--config.file", str(path), "--web.config.file", str(web), "--log.level", "debug"]
        args += ["--web.enable-lifecycle", "--web.enable-admin-api"]
        with run_module(args, tmp_path / "exporter.log", env=env) as exporter:
            wait_for(f"{exporter.url}/healthz", exporter)
            time.sleep(6)  # several rounds of every failure
            for page in ("/metrics", "/", "/readyz", "/api/status", "/api/jobs", "/api/terminals", "/api/alerts",
                         "/terminals.csv", "/?page=2&state=offline&q=SECRET"):  # fmt: skip
                outputs[page] = httpx.get(f"{exporter.url}{page}", auth=auth, timeout=30).text
            outputs["401"] = httpx.get(f"{exporter.url}/metrics", auth=("prom", "nope"), timeout=30).text
            for job in ("starlink/starlink-wrong/account", "kognitive-wrong/terminal_status"):
                outputs[f"poll {job}"] = httpx.post(f"{exporter.url}/api/jobs/{job}/poll", auth=auth, timeout=30).text
            # a reload with an invalid config that carries secrets in wrong places
            bad = dict(config)
            bad["accounts"] = [*config["accounts"], {"provider": "starlink", "name": "x", "client_secret": 42,
                                                     "bogus": FROM_FILE, "client_id": WRONG["starlink"]}]  # fmt: skip
            path.write_text(yaml.safe_dump(bad))
            outputs["reload"] = httpx.post(f"{exporter.url}/-/reload", auth=auth, timeout=30).text
            time.sleep(1)
        outputs["log"] = exporter.log()

    check = subprocess.run(
        [sys.executable, "-m", "leo_exporter", "check-config", "--config.file", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, **env},
    )  # fmt: skip
    outputs["check-config"] = check.stdout + check.stderr

    # the failure paths did run
    assert "credentials" in outputs["log"]
    assert "oneweb-refused" in outputs["/metrics"]
    assert "config not reloaded" in outputs["reload"]
    assert check.returncode == 2
    assert len(secrets) >= 9
    leaks = [(where, secret) for where, text in outputs.items() for secret in secrets if secret in text]
    assert leaks == []
