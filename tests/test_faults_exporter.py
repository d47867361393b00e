"""The exporter against the simulators' fault modes, as processes on loopback with short intervals.

One simulator and one exporter serve the whole module. Per provider, account 1 takes the faults
and the other accounts are the controls, which must stay up through everything; Starlink account
2 has a small request budget for the 429 storm. Every assertion comes from the exporter's
`/metrics` (parsed with prometheus_client's parser), its log, or the simulator's own count of the
requests it received (`/_sim/requests`):

- no crash and no unhandled exception in the log;
- healthy accounts unaffected;
- `leo_exporter_job_up` and the error counters tell the truth (they match what the simulator sent);
- the last good data is kept while a job fails, and its age shows in the last-success timestamp;
- request rates stay inside the per-account budget, even during a 429 storm, and Retry-After holds;
- recovery within one interval after the fault clears.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
import yaml

from tests.processes import Process, run_module, scrape, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.serial, pytest.mark.timeout(180)]  # recovery within 3 s: quiet

TELEMETRY_INTERVAL, JOB_INTERVAL = 1.0, 1.0
FAULTED_TIMEOUT, TIMEOUT = 1.0, 5.0  # HTTP timeouts: the faulted accounts' `slow` must exceed theirs
BACKOFF_BASE, BACKOFF_MAX = 0.2, 2.0
BUDGET, STORM_BUDGET = 600, 120  # Starlink account 2 asks for ~90 a minute: close to its budget
STORM_JOB_INTERVAL = 8.0
# "Within one interval": the longest interval, plus one request's timeout (a call in flight when the
# fault clears), plus a second for the render and the scrape that show it.
RECOVERY = JOB_INTERVAL + FAULTED_TIMEOUT + 1.0
SLOW_DELAY = 4.0


@dataclass
class Stack:
    sim: Process
    exporter: Process
    config: dict[str, Any]
    faulted: dict[str, str]  # provider -> account label of the faulted account (index 1)
    controls: list[tuple[str, str]]  # (provider, account label) that must stay healthy
    storm: str  # account label of Starlink account 2 (pressing on its budget; not a control)
    sim_keys: dict[tuple[str, str], str] = field(default_factory=dict)  # (provider, label) -> simulator key

    def metrics(self) -> dict[str, list]:
        assert self.exporter.popen.poll() is None, f"the exporter died:\n{self.exporter.log()[-3000:]}"
        return scrape(self.exporter.url)

    def requests(self, provider: str, label: str, since: float = 0.0) -> list[dict[str, Any]]:
        params = {"provider": provider, "account": self.sim_keys[(provider, label)], "since": since}
        return httpx.get(self.sim.url + "/_sim/requests", params=params, timeout=10).json()["requests"]

    def sim_now(self) -> float:
        return httpx.get(self.sim.url + "/_sim/requests", params={"since": 1e12}, timeout=10).json()["now"]

    def set_faults(self, *faults: dict[str, Any]) -> None:
        response = httpx.post(self.sim.url + "/_sim/faults", json=list(faults), timeout=10)
        assert response.status_code == 200, response.text

    def clear(self) -> None:
        httpx.delete(self.sim.url + "/_sim/faults", timeout=10)

    def watch(self, done: Callable[[dict[str, list]], bool], timeout: float, what: str) -> tuple[dict, float]:
        """Scrape until `done`, checking at every scrape that the control accounts are all up."""
        started = time.monotonic()
        while True:
            families = self.metrics()
            down = [job for (p, a), jobs in job_values(families, "leo_exporter_job_up").items() if (p, a) in self.controls
                    for job, up in jobs.items() if up != 1.0]  # fmt: skip
            assert not down, f"healthy accounts affected while waiting for {what}: {down}"
            if done(families):
                return families, time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise AssertionError(f"no {what} within {timeout:g}s:\n{self.exporter.log()[-2000:]}")
            time.sleep(0.2)


def job_values(families: dict[str, list], name: str, **labels: str) -> dict[tuple[str, str], dict[str, float]]:
    """(provider, account) -> {call: value} of a per-job family."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    for sample in families.get(name, []):
        if any(sample.labels.get(k) != v for k, v in labels.items()):
            continue
        key = (sample.labels["provider"], sample.labels["account"])
        out.setdefault(key, {})[sample.labels["call"]] = sample.value
    return out


def account_sum(families: dict[str, list], name: str, provider: str, account: str, **labels: str) -> float:
    return sum(
        s.value
        for s in families.get(name, [])
        if s.labels.get("provider") == provider
        and s.labels.get("account") == account
        and all(s.labels.get(k) == v for k, v in labels.items())
    )


def terminal_ids(families: dict[str, list], provider: str, account: str) -> set[str]:
    return {
        s.labels["terminal_id"]
        for s in families.get("leo_terminal_info", [])
        if s.labels["provider"] == provider and s.labels["account"] == account
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("faults")
    sim_args = ["simulator", "--accounts", "3", "--terminals", "60", "--oneweb-accounts", "2", "--seed", "7"]
    with run_module([*sim_args, "--row-interval", "1"], workdir / "sim.log") as sim:
        wait_for(sim.url + "/", sim)
        config = yaml.safe_load(httpx.get(sim.url + "/exporter-config.yml", timeout=10).text)
        starlink = httpx.get(sim.url + "/starlink/_sim/state", timeout=10).json()["accounts"]
        kognitive = httpx.get(sim.url + "/kognitive/_sim/state", timeout=10).json()["partners"]
        oneweb = httpx.get(sim.url + "/oneweb/_sim/state", timeout=10).json()["accounts"]
        # the `account` label is the config name; the simulator knows accounts by the provider's id
        name_of = {a["client_id"]: a["name"] for a in config["accounts"] if "client_id" in a}
        numbers = [next(name_of[c] for c in a["clientIds"] if c in name_of) for a in starlink]
        keys = {("starlink", name): a["accountNumber"] for name, a in zip(numbers, starlink, strict=True)}
        keys |= {("kognitive", f"kognitive-dp-{n}"): p["name"] for n, p in enumerate(kognitive, start=1)}
        keys |= {("oneweb", f"oneweb-{a['distributionPartner']}"): a["distributionPartner"] for a in oneweb}
        for account in config["accounts"]:
            first = (
                account["name"] in ("sim-starlink-1", "kognitive-dp-1") or account.get("client_id") == "sim-oneweb-1"
            )
            storm = account["name"] == "sim-starlink-2"
            account.update(
                timeout=f"{FAULTED_TIMEOUT if first else TIMEOUT:g}s",
                backoff_base=f"{BACKOFF_BASE:g}s",
                backoff_max=f"{BACKOFF_MAX:g}s",
                request_budget_per_minute=STORM_BUDGET if storm else BUDGET,
            )
            jobs = {name: {"interval": f"{JOB_INTERVAL:g}s"} for name in account.get("jobs", {})}
            if account["provider"] == "starlink":
                jobs = {name: {"interval": f"{JOB_INTERVAL:g}s"} for name in
                        ("account", "user_terminals", "service_lines", "data_usage")}  # fmt: skip
                if storm:
                    jobs = {name: {"interval": f"{STORM_JOB_INTERVAL:g}s"} for name in jobs}
                jobs["telemetry"] = {"interval": f"{TELEMETRY_INTERVAL:g}s"}
                # the billing calls are covered in test_starlink_billing.py; here they would only
                # add load on the shared budget and token
                jobs |= {"data_pools": {"enabled": False}, "balance": {"enabled": False}}
                # Small batches on the faulted account, so that a stream 40 ticks behind takes many calls.
                account["telemetry"] = {"max_linger": "0s", "batch_size": 50 if first else 1000}
                account["telemetry"]["max_batch_size"] = account["telemetry"]["batch_size"]
            account["jobs"] = jobs
            if account["provider"] == "kognitive":
                account["page_limit"] = 100  # one page per call: 5 calls a second, inside the budget
        config["offline_after"] = "1m"
        path = workdir / "exporter.yml"
        path.write_text(yaml.safe_dump(config))
        with run_module(["--config.file", str(path)], workdir / "exporter.log") as exporter:
            wait_for(exporter.url + "/readyz", exporter, timeout=60)
            partners = [f"oneweb-{a['distributionPartner']}" for a in oneweb]
            stack = Stack(
                sim=sim,
                exporter=exporter,
                config=config,
                faulted={"starlink": numbers[0], "kognitive": "kognitive-dp-1", "oneweb": partners[0]},
                controls=[("starlink", n) for n in numbers[2:]]
                + [("kognitive", f"kognitive-dp-{n}") for n in range(2, len(kognitive) + 1)]
                + [("oneweb", p) for p in partners[1:]],
                storm=numbers[1],
                sim_keys=keys,
            )
            stack.watch(lambda f: all(v == 1.0 for v in _all_up(f)), 30, "every job up")
            yield stack


def job_events(stack: Stack, since: float, what: str) -> dict[tuple[str, str, str], float]:
    """(provider, account, job) -> when the exporter first logged `what` ("job failed", "job recovered")
    at or after `since` (wall clock)."""
    found: dict[tuple[str, str, str], float] = {}
    for line in stack.exporter.log().splitlines():
        if f'msg="{what}' not in line:
            continue
        fields = dict(part.split("=", 1) for part in line.split(" ") if "=" in part and '"' not in part)
        when = datetime.fromisoformat(fields["time"].replace("Z", "+00:00")).timestamp()
        if when >= since:
            found.setdefault((fields["provider"], fields["account"], fields["job"]), when)
    return found


def assert_recovered_in_time(
    stack: Stack,
    started: float,
    cleared: float,
    limit: float = RECOVERY,
    accounts: list[tuple[str, str]] | None = None,
) -> None:
    """Every job of the faulted accounts that failed after `started` ran successfully again within
    `limit` of the fault clearing; timed by the exporter's own log, so a slow scrape on a busy
    machine does not count against the exporter."""
    failed = job_events(stack, started, "job failed")
    recovered = job_events(stack, cleared - 0.5, "job recovered")
    ups = job_values(stack.metrics(), "leo_exporter_job_up")
    for provider, account in accounts or list(stack.faulted.items()):
        for call, up in ups[(provider, account)].items():
            assert up == 1.0, f"{provider}/{account}/{call} is still down"
            if (provider, account, call) not in failed:
                continue
            when = recovered.get((provider, account, call))
            assert when is not None, f"{provider}/{account}/{call}: no recovery logged"
            assert when - cleared <= limit, f"{provider}/{call} recovered {when - cleared:.1f}s after (> {limit:g}s)"


def _all_up(families: dict[str, list]) -> list[float]:
    return [s.value for s in families.get("leo_exporter_job_up", [])]


def _faulted_jobs(stack: Stack, families: dict[str, list]) -> dict[tuple[str, str], dict[str, float]]:
    ups = job_values(families, "leo_exporter_job_up")
    return {(p, a): ups[(p, a)] for p, a in stack.faulted.items()}


def _everywhere(mode: str, **params: Any) -> list[dict[str, Any]]:
    return [{"provider": p, "account": "1", "mode": mode, **params} for p in ("starlink", "kognitive", "oneweb")]


# The code each mode leaves in leo_exporter_api_requests_total, and whether it must match the
# simulator's own count of that status exactly.
TRANSPORT_MODES = [
    ("server_error", {"status": 503}, "503"),
    ("rate_limit", {"retry_after": 1}, "429"),
    ("reset", {}, "error"),
    ("slow", {"delay": SLOW_DELAY}, "error"),
    ("truncated", {}, "200"),
    ("malformed", {}, "200"),
    ("wrong_shape", {"shape": "top"}, "200"),
]


@pytest.mark.parametrize(("mode", "params", "code"), TRANSPORT_MODES, ids=[m[0] for m in TRANSPORT_MODES])
def test_a_faulted_account_goes_down_alone_keeps_its_data_and_recovers(
    stack: Stack, mode: str, params: dict[str, Any], code: str
) -> None:
    before = stack.metrics()
    kept = {p: terminal_ids(before, p, a) for p, a in stack.faulted.items()}
    assert all(kept.values()), kept
    errors_before = job_values(before, "leo_exporter_job_runs_total", result="error")
    codes_before = {p: account_sum(before, "leo_exporter_api_requests_total", p, a, code=code) for p, a in
                    stack.faulted.items()}  # fmt: skip
    started = time.time()
    stack.set_faults(*_everywhere(mode, **params))
    # Under 429s the whole account pauses for Retry-After, so its jobs take turns to find out: wait
    # for one job per account there; every other mode fails every job within an interval.
    wanted = any if mode == "rate_limit" else all
    try:
        down, _ = stack.watch(
            lambda f: all(wanted(v == 0.0 for v in jobs.values()) for jobs in _faulted_jobs(stack, f).values()),
            JOB_INTERVAL + SLOW_DELAY + 3,
            f"the faulted accounts' jobs down under {mode}",
        )
        seen_down = time.time()
        time.sleep(0.5)
        during = stack.metrics()
    finally:
        stack.clear()
    cleared = time.time()
    errors = job_values(during, "leo_exporter_job_runs_total", result="error")
    last_success = job_values(during, "leo_exporter_job_last_success_timestamp_seconds")
    success_when_down = job_values(down, "leo_exporter_job_last_success_timestamp_seconds")
    for provider, account in stack.faulted.items():
        assert terminal_ids(during, provider, account) == kept[provider], f"{provider}: the last good data went"
        failing = [call for call, up in _faulted_jobs(stack, down)[(provider, account)].items() if up == 0.0]
        for call in failing:
            assert errors[(provider, account)][call] > errors_before[(provider, account)][call], (
                f"{provider}/{call}: down but no failed run counted"
            )
            # The age of the data shows: the last success stays put while the job fails, in the past.
            assert last_success[(provider, account)][call] == success_when_down[(provider, account)][call], (
                f"{provider}/{call}: the last success moved while the job was failing"
            )
            assert last_success[(provider, account)][call] < seen_down
        counted = account_sum(during, "leo_exporter_api_requests_total", provider, account, code=code)
        assert counted > codes_before[provider], f"{provider}: no code={code} requests counted under {mode}"
    if mode == "rate_limit":
        for provider, account in stack.faulted.items():
            assert account_sum(during, "leo_exporter_rate_limited_total", provider, account) > 0

    after, _ = stack.watch(
        lambda f: all(v == 1.0 for jobs in _faulted_jobs(stack, f).values() for v in jobs.values()),
        RECOVERY + 10,
        f"recovery after {mode}",
    )
    assert_recovered_in_time(stack, started, cleared)
    for provider, account in stack.faulted.items():
        assert terminal_ids(after, provider, account) == kept[provider]
        if code in ("503", "429"):  # the exporter's counters say exactly what the simulator sent
            sent = sum(1 for r in stack.requests(provider, account) if r["status"] == code)
            assert account_sum(after, "leo_exporter_api_requests_total", provider, account, code=code) == sent
        if code == "429":
            assert account_sum(after, "leo_exporter_rate_limited_total", provider, account) == sent


def test_a_429_storm_stays_inside_the_budget_and_honours_retry_after(stack: Stack) -> None:
    storm, seconds = stack.storm, 6.0
    start = stack.sim_now()
    stack.set_faults({"provider": "starlink", "account": stack.sim_keys[("starlink", storm)], "mode": "rate_limit",
                      "retry_after": 1, "seconds": seconds})  # fmt: skip
    time.sleep(seconds + 0.3)
    log = stack.requests("starlink", storm, since=start)
    during = [r for r in log if r["endpoint"] != "token" and r["t"] <= start + seconds]
    refused = [r["t"] for r in during if r["status"] == "429"]
    assert len(refused) >= 3, during
    # Budget: 120 a minute is 2 a second; a storm must not spend more (plus the calls already in flight).
    allowed = STORM_BUDGET / 60 * seconds + 5
    assert len(during) <= allowed, f"{len(during)} requests in a {seconds:g}s storm (budget allows {allowed:g})"
    # Retry-After: 1 pauses the whole account; nothing is sent inside that second.
    times = sorted(r["t"] for r in log if r["endpoint"] != "token")
    for t in refused:
        early = [u - t for u in times if t + 0.3 < u < t + 0.95]
        assert not early, f"requests {early} s after a 429 with Retry-After: 1"
    families, _ = stack.watch(
        lambda f: all(v == 1.0 for v in job_values(f, "leo_exporter_job_up")[("starlink", storm)].values()),
        RECOVERY + 10,
        "recovery after the storm",
    )
    # Within the last Retry-After and one interval, plus the five jobs' turns at 2 requests a second.
    assert_recovered_in_time(stack, start, start + seconds, 1 + RECOVERY + 2.5, [("starlink", storm)])
    assert account_sum(families, "leo_exporter_rate_limited_total", "starlink", storm) == len(
        [r for r in stack.requests("starlink", storm) if r["status"] == "429"]
    )


def test_a_429_without_retry_after_backs_off_and_recovers(stack: Stack) -> None:
    account, seconds = stack.faulted["starlink"], 5.0
    start = stack.sim_now()
    stack.set_faults({"provider": "starlink", "account": "1", "mode": "rate_limit_bare", "seconds": seconds})
    seen, _ = stack.watch(
        lambda f: 0.0 in job_values(f, "leo_exporter_job_up")[("starlink", account)].values(),
        5,
        "the bare 429 seen",
    )
    jobs = len(job_values(seen, "leo_exporter_job_up")[("starlink", account)])
    time.sleep(max(0.0, start + seconds - stack.sim_now()))
    refused = sorted(r["t"] for r in stack.requests("starlink", account, since=start) if r["status"] == "429")
    # A 429 pauses every job of the account (docs/reliability.md), which then sends one probe per
    # pause (backoff 0.2, 0.4, 0.8, 1.6, 2 s ...): a 5 s storm costs a handful of probes, not a
    # request a second per job. The requests already in flight when the storm began (at most one
    # per job, and a token request) come back refused too, whenever they arrive (a busy event loop
    # may send one late); leaving those out, the refusals are at least a pause apart.
    probes: list[float] = []
    for t in refused:
        if not probes or t - probes[-1] >= BACKOFF_BASE * 0.9:
            probes.append(t)
    assert len(refused) - len(probes) <= jobs + 1, refused
    assert 1 <= len(probes) <= 10, refused
    assert "no Retry-After; pausing" in stack.exporter.log()
    stack.watch(
        lambda f: all(v == 1.0 for v in job_values(f, "leo_exporter_job_up")[("starlink", account)].values()),
        BACKOFF_MAX + RECOVERY + 10,
        "recovery after the bare 429s",
    )
    # Within the pause the backoff had reached (at most backoff_max), then one interval.
    assert_recovered_in_time(stack, start, start + seconds, BACKOFF_MAX + RECOVERY, [("starlink", account)])


def test_expired_tokens_are_minted_again_once_without_a_failed_run(stack: Stack) -> None:
    account, seconds = stack.faulted["starlink"], 6.0
    before = stack.metrics()
    errors_before = job_values(before, "leo_exporter_job_runs_total", result="error")[("starlink", account)]
    start = stack.sim_now()
    stack.set_faults({"provider": "starlink", "account": "1", "mode": "expired_token", "ttl": 1, "seconds": seconds})
    deadline = time.monotonic() + seconds + 1
    while time.monotonic() < deadline:
        families, _ = stack.watch(lambda f: True, 1, "a scrape")
        assert account_sum(families, "leo_exporter_account_authenticated", "starlink", account) == 1.0
        time.sleep(0.3)
    families = stack.metrics()
    assert job_values(families, "leo_exporter_job_runs_total", result="error")[("starlink", account)] == errors_before
    assert all(v == 1.0 for v in job_values(families, "leo_exporter_job_up")[("starlink", account)].values())
    log = stack.requests("starlink", account, since=start)
    refused = sum(1 for r in log if r["status"] == "401")
    mints = sum(1 for r in log if r["endpoint"] == "token")
    assert refused >= 3, log
    assert 1 <= mints <= refused  # one new token per refusal at most, shared by the account's jobs
    assert account_sum(families, "leo_exporter_api_requests_total", "starlink", account, code="401") >= refused


def test_revoked_credentials_show_as_unauthenticated_and_recover(stack: Stack) -> None:
    before = stack.metrics()
    kept = {p: terminal_ids(before, p, a) for p, a in stack.faulted.items()}
    started = time.time()
    stack.set_faults(*_everywhere("revoked"))
    try:
        during, _ = stack.watch(
            lambda f: all(account_sum(f, "leo_exporter_account_authenticated", p, a) == 0.0
                          for p, a in stack.faulted.items())
            and all(v == 0.0 for jobs in _faulted_jobs(stack, f).values() for v in jobs.values()),
            JOB_INTERVAL + 4,
            "every faulted account unauthenticated and down",
        )  # fmt: skip
    finally:
        stack.clear()
    cleared = time.time()
    for provider, account in stack.faulted.items():
        assert terminal_ids(during, provider, account) == kept[provider]
        assert account_sum(during, "leo_exporter_api_requests_total", provider, account, code="401") > 0
    stack.watch(
        lambda f: all(account_sum(f, "leo_exporter_account_authenticated", p, a) == 1.0
                      for p, a in stack.faulted.items())
        and all(v == 1.0 for jobs in _faulted_jobs(stack, f).values() for v in jobs.values()),
        RECOVERY + 10,
        "recovery after revocation",
    )  # fmt: skip
    assert_recovered_in_time(stack, started, cleared)


def test_a_stream_that_fell_behind_is_drained_in_one_run(stack: Stack) -> None:
    account = stack.faulted["starlink"]
    before = stack.metrics()
    rows_before = account_sum(before, "leo_exporter_telemetry_rows_total", "starlink", account, device_type="u")
    start = stack.sim_now()
    stack.set_faults({"provider": "starlink", "account": "1", "mode": "behind", "ticks": 40})
    online = len(terminal_ids(before, "starlink", account)) - 1  # one terminal of the account is offline

    def drained(families: dict[str, list]) -> bool:
        assert job_values(families, "leo_exporter_job_up")[("starlink", account)]["telemetry"] == 1.0
        rows = account_sum(families, "leo_exporter_telemetry_rows_total", "starlink", account, device_type="u")
        return rows - rows_before >= 35 * online

    stack.watch(drained, 10, "the 40 ticks read again")
    calls = [r for r in stack.requests("starlink", account, since=start) if r["endpoint"] == "/telemetry/stream"]
    assert len(calls) >= 20 and all(r["status"] == "200" for r in calls)


def test_no_crash_no_unhandled_exception_and_every_budget_held(stack: Stack) -> None:
    """Last in the module, after the exporter has been through every fault for over a minute."""
    families = stack.metrics()
    log = stack.exporter.log()
    assert "Traceback" not in log and "internal error" not in log, log[-3000:]
    errors = job_values(families, "leo_exporter_job_runs_total", result="error")
    for control in stack.controls:
        assert all(v == 0 for v in errors[control].values()), f"{control} had failed runs: {errors[control]}"
    summary = httpx.get(stack.sim.url + "/_sim/faults", timeout=10).json()["requests"]
    for (provider, label), key in stack.sim_keys.items():
        counted = summary.get(provider, {}).get(key)
        if counted is None:
            continue
        budget = STORM_BUDGET if label == stack.storm else BUDGET
        assert counted["maxPer60s"] <= budget, f"{provider}/{label}: {counted['maxPer60s']} requests in 60 s"
    assert (
        summary["starlink"][stack.sim_keys[("starlink", stack.storm)]]["maxPer60s"] >= STORM_BUDGET * 0.6
    )  # it did press on its budget
    assert stack.exporter.popen.poll() is None
