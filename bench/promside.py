"""Prometheus' side of a fleet: what scraping the exporter costs the server that reads it.

`bench/fleet.py --prometheus` calls `measure_prometheus` with the exporter's /metrics URLs (one per
shard): Debian's real Prometheus (`/usr/bin/prometheus`) is started on loopback with a config of
our own (not the shipped one: no rules, no other jobs, so its memory is the exporter's series and
nothing else), scrapes every target at the production interval (60 s by default, timeout just
under it, no sample limit) a few times, and is then asked through its API for its own figures:
`scrape_duration_seconds` (longest and last), `scrape_samples_scraped`, whether every scrape
succeeded, and its own memory (VmHWM of its pid, `process_resident_memory_bytes`).

`series_by_collector` splits an exposition into the exporter's collector groups (`--no-collector.
<group>`), which answers "which collectors to switch off to halve that": `halving_collectors`.
"""

from __future__ import annotations

import itertools
import math
import re
import shutil
import time
import urllib.parse
import zlib
from pathlib import Path
from typing import Any

import httpx
import yaml

from leo_exporter.catalog import BY_NAME, COLLECTORS
from leo_exporter.providers import providers
from tests.conftest import free_port
from tests.promstack import ProcessGroup, PromAPI, wait_http

JOB = "leo-exporter"
# Groups a fleet is monitored for; never offered for switching off.
ESSENTIAL = frozenset({"account", "terminal", "exporter"})
_TYPE_LINE = re.compile(rb"# TYPE (\S+) ")


def parse_duration(text: str) -> float:
    """Seconds of a Prometheus-style duration as the flags take it: `60s`, `2s`, `1m`, `500ms`."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text.strip())
    if match is None:
        raise ValueError(f"not a duration: {text!r} (e.g. 60s, 1m, 500ms)")
    return float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _group_of_family(name: str) -> str:
    providers()  # the providers' own families join the catalogue when the registry loads (once)
    spec = BY_NAME.get(name)
    if spec is not None:
        return spec.collector
    return "exporter" if name.startswith(("leo_exporter_", "process_", "python_")) else "other"


def series_by_collector(url: str) -> dict[str, int]:
    """Series of one /metrics answer per collector group: the gzip body inflated as it streams,
    every sample line counted under the family of the `# TYPE` line before it."""
    counts: dict[str, int] = {}
    group, carry = "other", b""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    with httpx.stream("GET", url, headers={"Accept-Encoding": "gzip"}, timeout=300) as response:
        response.raise_for_status()
        for raw in response.iter_raw(1 << 20):
            text = carry + inflate.decompress(raw)
            body, _, carry = text.rpartition(b"\n")
            for line in body.split(b"\n"):
                if line.startswith(b"#"):
                    match = _TYPE_LINE.match(line)
                    if match is not None:
                        group = _group_of_family(match.group(1).decode())
                elif line:
                    counts[group] = counts.get(group, 0) + 1
    if carry.strip() and not carry.startswith(b"#"):
        counts[group] = counts.get(group, 0) + 1
    return counts


def add_counts(parts: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in parts:
        for group, count in part.items():
            total[group] = total.get(group, 0) + count
    return dict(sorted(total.items(), key=lambda item: -item[1]))


def halving_collectors(counts: dict[str, int]) -> list[str]:
    """The fewest collector groups (never the essential ones) whose series are at least half of
    all; among equally few, the one that removes least. Empty if no such set exists."""
    total = sum(counts.values())
    optional = [g for g in counts if g in COLLECTORS and g not in ESSENTIAL]
    for size in range(1, len(optional) + 1):
        enough = [c for c in itertools.combinations(optional, size) if 2 * sum(counts[g] for g in c) >= total]
        if enough:
            return sorted(min(enough, key=lambda c: sum(counts[g] for g in c)))
    return []


def _duration(seconds: float) -> str:
    """A duration Prometheus' config takes (whole units only: `28.5s` is refused, `28500ms` is not)."""
    return f"{seconds:g}s" if float(seconds).is_integer() else f"{round(seconds * 1000)}ms"


def prometheus_config(targets: list[str], interval_s: float) -> dict[str, Any]:
    """One job scraping `targets` (host:port) as production would: the interval, a timeout just
    under it, no sample limit."""
    timeout_s = max(interval_s - max(1.0, 0.05 * interval_s), 0.5 * interval_s)
    return {
        "global": {"scrape_interval": _duration(interval_s), "evaluation_interval": _duration(interval_s)},
        "scrape_configs": [
            {
                "job_name": JOB,
                "scrape_interval": _duration(interval_s),
                "scrape_timeout": _duration(timeout_s),
                "sample_limit": 0,
                "static_configs": [{"targets": targets}],
            }
        ],
    }


SPLIT_CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "prometheus" / "prometheus-split.yml"


def _shipped_jobs(path: Path, interval_s: float | None) -> dict[str, Any]:
    """A shipped multi-job config without rules and Alertmanager, no sample limit, its jobs'
    intervals and timeouts scaled so that the first job's is `interval_s` (the others keep their ratio)."""
    config = yaml.safe_load(path.read_text())
    config.pop("rule_files", None)
    config.pop("alerting", None)
    fast = parse_duration(config["scrape_configs"][0]["scrape_interval"])
    for job in config["scrape_configs"]:
        job["sample_limit"] = 0
        if interval_s is not None:
            ratio = interval_s / fast
            job["scrape_interval"] = _duration(parse_duration(job["scrape_interval"]) * ratio)
            job["scrape_timeout"] = _duration(parse_duration(job["scrape_timeout"]) * ratio)
    return config


def split_prometheus_config(targets: list[str], interval_s: float | None = None) -> dict[str, Any]:
    """The shipped split scrape config (deploy/prometheus/prometheus-split.yml: fast and slow
    `collect[]` targets of each exporter) without its rules and Alertmanager, pointed at `targets`;
    `interval_s`: the fast job's interval instead of the file's (the slow job keeps its ratio)."""
    config = _shipped_jobs(SPLIT_CONFIG, interval_s)
    for job in config["scrape_configs"]:
        for group in job["static_configs"]:
            group["targets"] = list(targets)
    return config


HTTP_SD_CONFIG = SPLIT_CONFIG.with_name("prometheus-http-sd.yml")


def http_sd_prometheus_config(targets: list[str], interval_s: float | None = None) -> dict[str, Any]:
    """The shipped HTTP service discovery config (deploy/prometheus/prometheus-http-sd.yml: each
    exporter's /http_sd lists a target per account and one for its own figures, in a fast and a
    slow job) without rules and Alertmanager, asking every exporter of `targets`; `interval_s` as
    for `split_prometheus_config`."""
    config = _shipped_jobs(HTTP_SD_CONFIG, interval_s)
    for job in config["scrape_configs"]:
        [shipped] = job["http_sd_configs"]
        url = urllib.parse.urlsplit(shipped["url"])
        job["http_sd_configs"] = [{**shipped, "url": url._replace(netloc=target).geturl()} for target in targets]
    return config


def _discovered(config: dict[str, Any]) -> dict[str, float]:
    """Each target the exporters' /http_sd list for the config's jobs (keyed as `_per_instance`
    keys them), and its scrape interval."""
    every = {}
    for job in config["scrape_configs"]:
        collect = next(r["replacement"] for r in job["relabel_configs"] if r["target_label"] == "collect")
        for sd in job["http_sd_configs"]:
            for group in httpx.get(sd["url"], timeout=30).json():
                for target in group["targets"]:
                    key = _target_key(target, collect, group["labels"].get("scrape_account", ""))
                    every[key] = parse_duration(job["scrape_interval"])
    return every


def _listed(config: dict[str, Any]) -> dict[str, float]:
    """Each target of the config's static configs (keyed as `_per_instance` keys them), and its
    scrape interval."""
    return {
        _target_key(target, group.get("labels", {}).get("collect", "")): parse_duration(job["scrape_interval"])
        for job in config["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }


def _target_key(instance: str, collect: str = "", account: str = "") -> str:
    """How the figures name a target: its instance, then its `collect` (split and http_sd configs)
    and its `scrape_account` (http_sd config) where it has them."""
    return " ".join(label for label in (instance, collect, account) if label)


def _vmhwm_mib(pid: int) -> float:
    match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else math.nan


def _per_instance(prom: PromAPI, expr: str) -> dict[str, float]:
    """By target: its instance, its `collect` (fast, slow) under the split and http_sd configs, and
    its `scrape_account` under the http_sd one."""
    found = {}
    for r in prom.query(expr):
        labels = r["metric"]
        key = _target_key(labels.get("instance", ""), labels.get("collect", ""), labels.get("scrape_account", ""))
        found[key] = float(r["value"][1])
    return found


def measure_prometheus(
    metrics_urls: list[str], workdir: Path, interval_s: float, scrapes: int, log: Any = print, config: str = "one job"
) -> dict[str, Any]:
    """Start Prometheus on loopback scraping `metrics_urls`, wait for `scrapes` scrapes of each, and
    return its figures (keys `prometheus_*`; durations summed over targets are not meaningful, so
    the longest target's is reported). `config`: "one job"; "split", the shipped split config (two
    targets per exporter, the fast one every `interval_s`, the slow one four times less often); or
    "http_sd", the shipped HTTP service discovery config (the same two jobs, a target per account)."""
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        raise SystemExit("prometheus is not installed (scripts/install-test-tools.sh installs Debian's)")
    targets = [url.removeprefix("http://").split("/", 1)[0] for url in metrics_urls]
    if any(not url.endswith("/metrics") for url in metrics_urls):
        raise ValueError("Prometheus scrapes /metrics, the default path")
    data = workdir / "prometheus-data"
    path = workdir / "prometheus.yml"
    makers = {"one job": prometheus_config, "split": split_prometheus_config, "http_sd": http_sd_prometheus_config}
    chosen = makers[config](targets, interval_s)
    path.write_text(yaml.safe_dump(chosen))
    every = _discovered(chosen) if config == "http_sd" else _listed(chosen)
    port = free_port()
    procs = ProcessGroup()
    expr_job = f'{{job="{JOB}"}}'
    try:
        proc = procs.start(
            "prometheus",
            [
                prometheus,
                f"--config.file={path}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            workdir / "prometheus.log",
        )
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/-/ready", proc, timeout=60)
        prom = PromAPI(url)
        log(
            f"Prometheus scraping {len(every)} target(s) ({', '.join(f'{s:g}' for s in sorted(set(every.values())))} s) until each has {scrapes} scrapes"
        )
        deadline = time.monotonic() + (scrapes + 2) * max(every.values()) + 120
        while True:
            done = _per_instance(prom, f"count_over_time(scrape_duration_seconds{expr_job}[1d])")
            if len(done) == len(every) and min(done.values()) >= scrapes:
                break
            if time.monotonic() > deadline or not proc.alive():
                raise SystemExit(f"Prometheus did not scrape {scrapes} times in time ({done}); see {proc.log_path}")
            time.sleep(min(5.0, interval_s / 4))
        longest = _per_instance(prom, f"max_over_time(scrape_duration_seconds{expr_job}[1d])")
        last = _per_instance(prom, f"scrape_duration_seconds{expr_job}")
        samples = _per_instance(prom, f"scrape_samples_scraped{expr_job}")
        up = _per_instance(prom, f"min_over_time(up{expr_job}[1d])")
        own = httpx.get(f"{url}/metrics", timeout=30).text
        rss = re.search(r"^process_resident_memory_bytes (\S+)$", own, flags=re.MULTILINE)
        result = {
            "prometheus_interval_s": interval_s,
            "prometheus_scrapes": int(min(done.values())),
            "prometheus_scrape_duration_s": max(longest.values()),
            "prometheus_scrape_duration_last_s": max(last.values()),
            "prometheus_scrape_durations_s": [longest[t] for t in every],
            "prometheus_samples_scraped": int(sum(samples.values())),
            # each target's samples times its scrapes a minute: what Prometheus ingests
            "prometheus_samples_per_minute": sum(samples[t] * 60 / every[t] for t in every),
            "prometheus_all_up": min(up.values()) == 1.0,
            "prometheus_peak_rss_mib": _vmhwm_mib(proc.popen.pid),
            "prometheus_rss_mib": float(rss.group(1)) / 2**20 if rss else math.nan,
        }
        log(
            f"Prometheus: scrape_duration max {result['prometheus_scrape_duration_s']:.2f} s, "
            f"{result['prometheus_samples_scraped']:,} samples, {result['prometheus_samples_per_minute']:,.0f} a minute, "
            f"peak RSS {result['prometheus_peak_rss_mib']:.0f} MiB"
        )
        return result
    finally:
        procs.stop_all()
        shutil.rmtree(data, ignore_errors=True)
