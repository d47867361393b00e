"""deploy/compose/compose.yaml: every file it mounts exists, every port and address lines up with
the files it mounts, and the exporter is built from the repository's Dockerfile.

Checked by reading the files (no Docker engine or compose plugin in CI): what `docker compose
config` would catch about paths and ports, plus the links between the mounted configs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.processes import ROOT
from tests.test_deploy_image import read_dockerfile

COMPOSE = ROOT / "deploy" / "compose" / "compose.yaml"


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of the bind mounts (named volumes left out)."""
    out = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith((".", "/")):
            out[target] = (COMPOSE.parent / source).resolve()
    return out


def flag(service: dict[str, Any], name: str) -> str:
    [value] = [c.split("=", 1)[1] for c in service["command"] if c.startswith(f"--{name}=")]
    return value


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def test_every_bind_mount_exists_in_the_repository() -> None:
    for name, service in compose()["services"].items():
        for target, host in mounts(service).items():
            assert host.exists(), f"{name}: {host} (mounted at {target}) does not exist"
            assert ROOT in host.parents, f"{name}: {host} is outside the repository"


def test_exporter_is_built_from_the_repository_dockerfile_and_runs_hardened() -> None:
    exporter = compose()["services"]["exporter"]
    context = (COMPOSE.parent / exporter["build"]["context"]).resolve()
    assert context == ROOT
    assert (context / exporter["build"]["dockerfile"]).resolve() == ROOT / "Dockerfile"
    assert exporter["read_only"] is True and exporter["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in exporter["security_opt"]
    assert "command" not in exporter, "no config: the image's simulator demo"


def test_published_ports_are_unique_and_each_is_served() -> None:
    services = compose()["services"]
    published = [p for s in services.values() for p in s.get("ports", [])]
    hosts = [int(p.split(":")[0]) for p in published]
    assert len(hosts) == len(set(hosts)), f"host port published twice: {published}"
    assert all(p.split(":")[0] == p.split(":")[1] for p in published)
    # the other services share the exporter's network namespace: ports are published there only
    for name, service in services.items():
        if name != "exporter":
            assert service["network_mode"] == "service:exporter", name
            assert "ports" not in service, f"{name}: publish on the exporter (shared network namespace)"
    _, stages = read_dockerfile()
    listening = {
        "exporter": int(stages[-1].all("EXPOSE")[0]),
        "prometheus": port_of(flag(services["prometheus"], "web.listen-address")),
        "alertmanager": port_of(flag(services["alertmanager"], "web.listen-address")),
        "grafana": int(services["grafana"]["environment"]["GF_SERVER_HTTP_PORT"]),
    }
    assert sorted(listening.values()) == sorted(hosts)
    assert len(set(listening.values())) == len(listening), "two services on one port in one namespace"


def test_prometheus_uses_the_shipped_config_and_rules_and_reaches_the_exporter_and_alertmanager() -> None:
    services = compose()["services"]
    prometheus = services["prometheus"]
    config_path = flag(prometheus, "config.file")
    bound = mounts(prometheus)
    assert bound[config_path] == ROOT / "deploy" / "prometheus" / "prometheus.yml"
    config = yaml.safe_load(bound[config_path].read_text())
    # rule_files are relative to the config file: they must land on the mounted rules directory
    for pattern in config["rule_files"]:
        container_dir = str(Path(config_path).parent / Path(pattern).parent)
        assert bound[container_dir] == ROOT / "deploy" / "prometheus" / "rules"
        assert list(bound[container_dir].glob(Path(pattern).name))
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "leo-exporter"]
    [target] = job["static_configs"][0]["targets"]
    _, stages = read_dockerfile()
    assert target == f"localhost:{stages[-1].all('EXPOSE')[0]}"
    [am] = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert am == f"localhost:{port_of(flag(services['alertmanager'], 'web.listen-address'))}"


def test_alertmanager_uses_the_shipped_config() -> None:
    alertmanager = compose()["services"]["alertmanager"]
    assert (
        mounts(alertmanager)[flag(alertmanager, "config.file")] == ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
    )


def test_grafana_provisions_the_shipped_data_source_and_dashboards() -> None:
    services = compose()["services"]
    grafana = services["grafana"]
    bound = mounts(grafana)
    datasources = [h for t, h in bound.items() if t.startswith("/etc/grafana/provisioning/datasources/")]
    assert datasources == [ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"]
    [ds] = yaml.safe_load(datasources[0].read_text())["datasources"]
    assert port_of(ds["url"]) == port_of(flag(services["prometheus"], "web.listen-address"))
    providers = [h for t, h in bound.items() if t.startswith("/etc/grafana/provisioning/dashboards/")]
    assert providers == [ROOT / "deploy" / "grafana" / "provisioning" / "dashboards" / "leo-exporter.yml"]
    [provider] = yaml.safe_load(providers[0].read_text())["providers"]
    dashboards = bound[provider["options"]["path"]]
    assert dashboards == ROOT / "deploy" / "grafana" / "dashboards"
    assert len(list(dashboards.glob("*.json"))) >= 4


@pytest.mark.parametrize("service", ["prometheus", "alertmanager", "grafana"])
def test_third_party_images_are_pinned(service: str) -> None:
    image = compose()["services"][service]["image"]
    assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", image), f"{image}: pin a release"
