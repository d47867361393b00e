"""`collect[]` and `account[]` on /metrics (node_exporter's query parameter): a filtered scrape is
exactly the filtered families of the unfiltered exposition, plain and gzip, sliced by the front from
the body it holds (no render); a name that is not a collector or an account is a 400 that says why."""

from __future__ import annotations

import gzip
import re
import zlib

import httpx
import pytest

from leo_exporter.catalog import ALWAYS_ON, BY_NAME
from leo_exporter.providers import providers
from tests.inprocess import front_client, poll_all, simulated_exporter

_ACCOUNT = re.compile(r'[{,]account="([^"]*)"')


def families(text: str) -> dict[str, list[str]]:
    """Each family's lines (its # HELP and # TYPE, then its samples), by family name, in order."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("# HELP "):
            current = line.split()[2]
            found[current] = []
        found[current].append(line)
    return found


def group_of(family: str) -> str:
    providers()  # the providers' families join the catalogue when the registry loads
    spec = BY_NAME.get(family)
    return spec.collector if spec is not None else ALWAYS_ON  # process_*: the exporter's own


def only_groups(text: str, groups: set[str]) -> dict[str, list[str]]:
    return {name: lines for name, lines in families(text).items() if group_of(name) in groups}


def only_accounts(text: str, accounts: set[str]) -> dict[str, list[str]]:
    """Samples of those accounts, and samples of no account (the exporter's own); families left
    without a sample dropped."""
    kept = {}
    for name, lines in families(text).items():
        samples = [
            line
            for line in lines
            if not line.startswith("#") and ((m := _ACCOUNT.search(line)) is None or m.group(1) in accounts)
        ]
        if samples:
            kept[name] = [line for line in lines if line.startswith("#")] + samples
    return kept


async def raw_gzip(http: httpx.AsyncClient, params: list[tuple[str, str]]) -> bytes:
    """The body as sent (not decoded by httpx), checked to be one gzip member whose CRC and length
    match its text (gzip.decompress checks both)."""
    async with http.stream("GET", "/metrics", params=params, headers={"Accept-Encoding": "gzip"}) as response:
        assert response.status_code == 200 and response.headers["content-encoding"] == "gzip"
        body = b"".join([piece async for piece in response.aiter_raw()])
    assert int(response.headers["content-length"]) == len(body)
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    text = inflater.decompress(body)
    assert inflater.eof and inflater.unused_data == b""  # one member, nothing after it
    assert gzip.decompress(body) == text
    return text


@pytest.mark.anyio
async def test_collect_and_account_filters_slice_the_unfiltered_exposition() -> None:
    exporter, _ = simulated_exporter(accounts=2, terminals=6)
    try:
        await poll_all(exporter)
        async with front_client(exporter) as http:
            whole = (await http.get("/metrics")).text
            accounts = sorted({m.group(1) for m in _ACCOUNT.finditer(whole)})
            with_routers = next(a for a in accounts if f'leo_router_info{{provider="starlink",account="{a}"' in whole)
            asks = {
                "fast": [("collect[]", "terminal"), ("collect[]", "router")],
                "slow": [("collect[]", g) for g in ("usage", "service_line", "pool", "product", "account")],
                "own": [("collect[]", "exporter")],
                "one account": [("account[]", accounts[0])],
                "one account's routers": [("account[]", with_routers), ("collect[]", "router")],
            }
            answers = {}
            for name, params in asks.items():
                plain = await http.get("/metrics", params=params)
                assert plain.status_code == 200, plain.text
                answers[name] = (plain.text, (await raw_gzip(http, params)).decode())
            again = (await http.get("/metrics", params=asks["fast"])).text  # the kept selection
    finally:
        await exporter.aclose()
    assert len(accounts) >= 2
    expected = {
        "fast": only_groups(whole, {"terminal", "router"}),
        "slow": only_groups(whole, {"usage", "service_line", "pool", "product", "account"}),
        "own": only_groups(whole, {ALWAYS_ON}),
        "one account": only_accounts(whole, {accounts[0]}),
    }
    expected["one account's routers"] = only_groups(
        "\n".join(line for lines in only_accounts(whole, {with_routers}).values() for line in lines), {"router"}
    )
    for name, (plain, gzipped) in answers.items():
        assert gzipped == plain, name
        got = families(plain)
        assert got == expected[name], name
        assert got, name  # every ask here has something to answer
    assert "leo_exporter_worker_up" in families(answers["own"][0])  # the front's own figures are `exporter`
    assert "leo_exporter_worker_up" not in families(answers["fast"][0])
    assert again == answers["fast"][0]
    # together, the groups are the whole exposition, once each
    every = {g for name in families(whole) for g in [group_of(name)]}
    union = {name for g in every for name in only_groups(whole, {g})}
    assert union == set(families(whole))


@pytest.mark.anyio
async def test_an_unknown_collector_or_account_is_a_400_that_names_the_choices() -> None:
    exporter, _ = simulated_exporter(accounts=1, terminals=2)
    try:
        await poll_all(exporter)
        async with front_client(exporter) as http:
            collector = await http.get("/metrics", params=[("collect[]", "terminal"), ("collect[]", "routers")])
            account = await http.get("/metrics", params=[("account[]", "no-such-account")])
    finally:
        await exporter.aclose()
    assert collector.status_code == 400
    assert "unknown collector 'routers' in collect[]" in collector.text and "router, " in collector.text
    assert account.status_code == 400
    assert "unknown account 'no-such-account' in account[]" in account.text
