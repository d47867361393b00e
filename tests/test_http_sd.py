"""`/http_sd` (Prometheus' `http_sd_configs`): one target per account and one for the exporter's
own figures; scraped as Prometheus would (the `__param_*` labels as the query), they give every
series of one unfiltered scrape exactly once. `account=` and `collect=` are the aliases of
`account[]` and `collect[]` those labels need."""

from __future__ import annotations

import re
from collections import Counter

import httpx
import pytest

from tests.inprocess import front_client, poll_all, simulated_exporter

_ACCOUNT = re.compile(r'[{,]account="([^"]*)"')


def series(text: str) -> Counter[str]:
    """Each sample's name and labels (values move between scrapes: the process' own figures)."""
    return Counter(line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#"))


async def scrape_target(http: httpx.AsyncClient, group: dict[str, object]) -> str:
    """What Prometheus asks of one discovered target: its metrics path, its `__param_*` as the query."""
    labels = group["labels"]
    assert isinstance(labels, dict)
    params = [(name.removeprefix("__param_"), value) for name, value in labels.items() if name.startswith("__param_")]
    answer = await http.get(labels["__metrics_path__"], params=params)
    assert answer.status_code == 200, answer.text
    return answer.text


@pytest.mark.anyio
async def test_the_discovered_targets_together_give_every_series_of_one_scrape_once() -> None:
    exporter, _ = simulated_exporter(accounts=2, terminals=6)
    try:
        await poll_all(exporter)
        async with front_client(exporter) as http:
            whole = (await http.get("/metrics")).text
            listed = await http.get("/http_sd")
            groups = listed.json()
            answers = [await scrape_target(http, group) for group in groups]
            elsewhere = (await http.get("/http_sd", params={"target": "leo.example:9819"})).json()
    finally:
        await exporter.aclose()
    assert listed.headers["content-type"] == "application/json"
    accounts = sorted({m.group(1) for m in _ACCOUNT.finditer(whole)})
    assert len(accounts) >= 3  # Starlink, Kognitive, OneWeb
    assert [group["labels"].get("scrape_account") for group in groups] == [*accounts, None]
    assert {tuple(group["targets"]) for group in groups} == {("exporter",)}  # the Host it was asked at
    assert {tuple(group["targets"]) for group in elsewhere} == {("leo.example:9819",)}
    got = sum((series(text) for text in answers), Counter())
    assert got == series(whole)  # each series from exactly one target: none collide in Prometheus
    for account, text in zip(accounts, answers, strict=False):
        assert {m.group(1) for m in _ACCOUNT.finditer(text)} == {account}


@pytest.mark.anyio
async def test_collect_narrows_the_targets_and_the_aliases_filter_like_the_bracketed_names() -> None:
    exporter, _ = simulated_exporter(accounts=1, terminals=2)
    try:
        await poll_all(exporter)
        async with front_client(exporter) as http:
            fast = (await http.get("/http_sd", params={"collect": "terminal,router"})).json()
            own = (await http.get("/http_sd", params={"collect": "exporter"})).json()
            unknown = await http.get("/http_sd", params={"collect": "terminal,routers"})
            account = fast[0]["labels"]["__param_account"]
            bracketed = await http.get(
                "/metrics", params=[("account[]", account), ("collect[]", "terminal"), ("collect[]", "router")]
            )
            aliased = await http.get("/metrics", params=[("account", account), ("collect", "terminal,router")])
            wrong = await http.get("/metrics", params=[("account", "no-such-account")])
            wrong_group = await http.get("/metrics", params=[("collect", "terminal,routers")])
            posted = await http.post("/http_sd")
    finally:
        await exporter.aclose()
    assert {group["labels"]["__param_collect"] for group in fast} == {"terminal,router"}
    assert all("scrape_account" in group["labels"] for group in fast)  # no exporter target without `exporter`
    assert [group["labels"] for group in own] == [{"__metrics_path__": "/metrics", "__param_collect": "exporter"}]
    assert unknown.status_code == 400 and "unknown collector 'routers' in collect" in unknown.text
    assert aliased.status_code == bracketed.status_code == 200
    assert series(aliased.text) == series(bracketed.text)
    assert "leo_terminal_online{" in aliased.text and "leo_service_line_info{" not in aliased.text
    assert wrong.status_code == 400 and "unknown account 'no-such-account' in account:" in wrong.text
    assert wrong_group.status_code == 400 and "unknown collector 'routers' in collect;" in wrong_group.text
    assert posted.status_code == 405
