"""The front process: /metrics from the worker's handed-over exposition, the worker supervised.

A worker that dies must not take /metrics with it: the front keeps serving the last exposition,
says so (`/readyz` 503, `leo_exporter_worker_up 0`, a log line) and starts the worker again.
SIGTERM to the front ends both processes within 5 s.
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import os
import re
import signal
import socket
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from leo_exporter import deflate
from leo_exporter.app import Exporter
from leo_exporter.front import Front
from leo_exporter.handoff import Body, HandoffError, acknowledge, carry, data_accounts, receive, send, tail
from leo_exporter.render import Chunk, ChunkTag, Exposition, Renderer, combined_crc
from leo_exporter.state import FleetState
from leo_exporter.webconfig import FrontTokenGate
from tests.inprocess import poll_all, simulated_exporter
from tests.processes import Process, run_module, samples_by_name, wait_for


def children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").glob("*/children") for c in task.read_text().split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def the_worker(exporter: Process) -> int:
    [worker] = children(exporter.popen.pid)
    return worker


def worker_figures(url: str) -> tuple[float, float]:
    samples = samples_by_name(httpx.get(f"{url}/metrics", timeout=10).text)
    return samples["leo_exporter_worker_up"][0].value, samples["leo_exporter_worker_restarts_total"][0].value


def handed_over(exposition: Exposition, complete: bool = True) -> Body:
    """The exposition sent through a socket pair as the worker sends it, received as the front does."""
    worker, front = socket.socketpair()
    with worker, front:
        sender = threading.Thread(target=send, args=(worker, exposition, complete))
        sender.start()
        body = receive(front)
        acknowledge(front)
        sender.join(5)
    return body


def test_the_handoff_and_the_fronts_tail_make_one_gzip_member_every_client_reads_whole() -> None:
    exposition = Renderer(FleetState()).render()
    plain = gzip.decompress(exposition.gzipped)
    body = handed_over(exposition, complete=False)
    assert (body.length, body.series, body.rendered_at, body.complete) == (
        len(plain),
        exposition.series,
        exposition.rendered_at,
        False,
    )
    extended = body.prefix + tail(body, b"front_metric 1.0\n")
    assert gzip.decompress(extended) == plain + b"front_metric 1.0\n"
    single = zlib.decompressobj(16 + zlib.MAX_WBITS)  # what httpx does: it stops after one member
    assert single.decompress(extended) == plain + b"front_metric 1.0\n" and single.eof and not single.unused_data


def test_an_account_filter_keeps_only_its_lines_of_a_chunk_of_several_accounts() -> None:
    """A block of the exporter's own figures holds several accounts' lines; `account[]` keeps those
    of the accounts asked for (by their label as escaped in the text), in one valid gzip member,
    and none of a block with none of theirs (nor its header)."""

    def line(account: str) -> str:
        escaped = account.replace("\\", "\\\\").replace('"', '\\"')
        return f'leo_exporter_job_up{{provider="starlink",account="{escaped}",call="telemetry"}} 1.0\n'

    names = ["north", 'quote"d', "back\\slash", "northern"]
    texts = ["# HELP leo_exporter_job_up up\n", "".join(line(n) for n in names), line("other")]
    chunks = [Chunk.of(texts[0], 0), Chunk.of(texts[1], 4), Chunk.of(texts[2], 1)]
    tags = [
        ChunkTag("leo_exporter_job_up", "exporter", None, header=True),
        ChunkTag("leo_exporter_job_up", "exporter", None, members=tuple(names)),
        ChunkTag("leo_exporter_job_up", "exporter", None, members=("other",)),
    ]
    exposition = Exposition(
        chunks=tuple(chunks),
        crc=combined_crc(chunks),
        length=sum(c.length for c in chunks),
        series=5,
        rendered_at=0.0,
        tags=tuple(tags),
        accounts=(*names, "other", "idle"),
    )
    body = handed_over(exposition)

    def selected(accounts: set[str]) -> bytes:
        chosen = body.select(None, frozenset(accounts))
        return gzip.decompress(b"".join(chosen.views) + deflate.gzip_end(chosen.crc, chosen.length))

    assert selected({"north"}) == (texts[0] + line("north")).encode()
    assert selected({'quote"d', "back\\slash"}) == (texts[0] + line('quote"d') + line("back\\slash")).encode()
    assert selected({"north", "other"}) == (texts[0] + line("north") + line("other")).encode()
    assert selected({"idle"}) == b""


def exposition_of(parts: list[tuple[str, ChunkTag]]) -> Exposition:
    """An exposition of these texts and tags, as the renderer would make it."""
    chunks = [Chunk.of(text, text.count("\n") if not tag.header else 0) for text, tag in parts]
    return Exposition(
        chunks=tuple(chunks),
        crc=combined_crc(chunks),
        length=sum(c.length for c in chunks),
        series=sum(c.series for c in chunks),
        rendered_at=0.0,
        tags=tuple(tag for _, tag in parts),
        accounts=("a", "b", "c"),
    )


def test_a_restart_carries_an_accounts_lines_out_of_the_last_workers_block_of_small_accounts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Small accounts share a chunk a family (render.TABLE_BLOCK). When a restarted worker has not
    yet got an account's data, the front carries that account's lines out of the last worker's
    block (and only them: the others are in the new worker's own block), under the header, once;
    a block's members count as accounts with data. An `account[]` scrape passes over a block
    none of whose members it asks for without inflating it."""
    family, header = "leo_service_line_active", "# TYPE leo_service_line_active gauge\n"

    def line(account: str, value: float) -> str:
        return f'{family}{{provider="starlink",account="{account}",service_line="SL"}} {value}\n'

    head = ChunkTag(family, "service_line", None, header=True)
    old = handed_over(
        exposition_of(
            [
                (header, head),
                (
                    "".join(line(n, 1.0) for n in "abc"),
                    ChunkTag(family, "service_line", None, members=("a", "b", "c")),
                ),
            ]
        )
    )
    assert data_accounts(old, frozenset({"exporter"})) == {"a", "b", "c"}
    new = handed_over(  # b's first runs have not succeeded: a and c in a block, b (nothing yet) apart
        exposition_of(
            [
                (header, head),
                (
                    line("a", 2.0) + line("c", 2.0),
                    ChunkTag(family, "service_line", None, members=("a", "c")),
                ),
            ]
        )
    )
    spliced = carry(new, old, frozenset({"b"}), "exporter")
    text = gzip.decompress(spliced.prefix + deflate.gzip_end(spliced.crc, spliced.length)).decode()
    assert text == header + line("a", 2.0) + line("c", 2.0) + line("b", 1.0)
    assert [(p.account, p.members) for p in spliced.pieces if not p.header] == [(None, ("a", "c")), ("b", ())]

    inflated = []
    inflate = deflate.inflate_chunk
    monkeypatch.setattr(deflate, "inflate_chunk", lambda data: inflated.append(data) or inflate(data))
    assert new.select(None, frozenset({"zed"})).length == 0
    assert not inflated
    assert new.select(None, frozenset({"c"})).length == len(header + line("c", 2.0))
    assert len(inflated) == 1


def test_a_restarted_workers_block_counts_its_accounts_so_the_front_carries_only_what_it_lacks() -> None:
    """A restarted worker puts an account whose first runs are under way in its block at once (an
    account apart until then cost the worker 20 MiB at its peak at 3,000 accounts); the block's
    tag counts each account's series. The front carries an account the new block holds no line
    of, and one it holds fewer series of than the last worker, and neither twice."""
    family, header = "leo_service_line_active", "# TYPE leo_service_line_active gauge\n"

    def line(account: str, value: float, line_id: str = "SL") -> str:
        return f'{family}{{provider="starlink",account="{account}",service_line="{line_id}"}} {value}\n'

    head = ChunkTag(family, "service_line", None, header=True)
    old_lines = line("a", 1.0) + line("b", 1.0) + line("b", 1.0, "SL2") + line("c", 1.0)
    last = ChunkTag(family, "service_line", None, members=("a", "b", "c"), member_series=(1, 2, 1))  # b: two lines
    old = handed_over(exposition_of([(header, head), (old_lines, last)]))
    counted = ChunkTag(family, "service_line", None, members=("a", "b", "c"), member_series=(1, 0, 1))
    new = handed_over(exposition_of([(header, head), (line("a", 2.0) + line("c", 2.0), counted)]))
    assert [p.member_series for p in new.pieces] == [(), (1, 0, 1)]  # the counts cross the handoff

    def text_of(body: Body) -> str:
        return gzip.decompress(body.prefix + deflate.gzip_end(body.crc, body.length)).decode()

    # b has no line in the new block: its two lines are carried, a's and c's are the new ones
    assert text_of(carry(new, old, frozenset({"b"}), "exporter")) == (
        header + line("a", 2.0) + line("c", 2.0) + line("b", 1.0) + line("b", 1.0, "SL2")
    )
    fewer = ChunkTag(family, "service_line", None, members=("a", "b", "c"), member_series=(1, 1, 1))
    new = handed_over(exposition_of([(header, head), (line("a", 2.0) + line("b", 2.0) + line("c", 2.0), fewer)]))
    spliced = carry(new, old, frozenset({"b"}), "exporter")  # b has one of its two lines yet: both old ones
    assert text_of(spliced) == header + line("a", 2.0) + line("c", 2.0) + line("b", 1.0) + line("b", 1.0, "SL2")
    assert text_of(carry(new, old, frozenset({"a"}), "exporter")) == text_of(new)  # a has all it had: its own


def peak_of_sending(exposition: Exposition, drain: Callable[[socket.socket], None]) -> int:
    """The most memory traced while the worker's end sends `exposition` to a reader that runs
    `drain` on the front's end (it reads the frame and acknowledges it)."""
    worker, front = socket.socketpair()
    with worker, front:
        reader = threading.Thread(target=drain, args=(front,))
        gc.collect()
        tracemalloc.start()
        try:
            reader.start()
            send(worker, exposition, True)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            reader.join(5)


def test_sending_a_rendering_holds_about_one_piece_of_it_not_a_copy_of_the_body() -> None:
    """The worker joined the whole body in 1 MiB pieces before it sent the first: a second copy of
    the body at every rendering (30 MiB at 50,000 terminals). Now each piece is made as the one
    before it has been sent."""
    chunks = [Chunk.of("".join(os.urandom(32).hex() + "\n" for _ in range(4096)), 4096) for _ in range(48)]
    exposition = Exposition(
        chunks=tuple(chunks),
        crc=combined_crc(chunks),
        length=sum(c.length for c in chunks),
        series=sum(c.series for c in chunks),
        rendered_at=0.0,
    )
    body = exposition.gzip_size
    assert body > 6 << 20

    def drain(sock: socket.socket) -> None:  # reads the frame into one small buffer, then acknowledges
        buffer = bytearray(1 << 16)
        wanted = body  # at least the body (the header is a few hundred bytes more)
        while wanted > 0:
            wanted -= sock.recv_into(buffer)
        sock.settimeout(0.5)
        with contextlib.suppress(TimeoutError):
            while sock.recv_into(buffer):
                pass
        acknowledge(sock)

    peak = peak_of_sending(exposition, drain)
    assert peak < 3 << 20, peak


def many_accounts_chunks(accounts: int = 500, families: int = 40) -> Exposition:
    """An exposition of a chunk a family and account, as many small accounts make."""
    chunks, tags = [], []
    for account in (f"account-{n}" for n in range(accounts)):
        for family in (f"leo_family_number_{n}_bytes" for n in range(families)):
            chunks.append(Chunk.of(f'{family}{{provider="starlink",account="{account}"}} 1.0\n', 1))
            tags.append(ChunkTag(family, "terminal", account))
    return Exposition(
        chunks=tuple(chunks),
        crc=combined_crc(chunks),
        length=sum(c.length for c in chunks),
        series=len(chunks),
        rendered_at=0.0,
        tags=tuple(tags),
    )


def test_the_front_keeps_the_chunk_index_of_many_accounts_in_little_memory() -> None:
    """3,000 accounts make about 126,000 chunks a rendering, and the front keeps an index entry for
    each: with a copy of the family, group and account names in every entry it took 406 bytes one."""
    exposition = many_accounts_chunks()
    for tag in exposition.tags:  # the process's table of interned names grows once, not here:
        sys.intern(tag.family), sys.intern(tag.account or "")  # its resize is no cost of an entry
    gc.collect()
    tracemalloc.start()
    try:
        body = handed_over(exposition)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - len(body.prefix)
    finally:
        tracemalloc.stop()
    assert len(body.pieces) == 20_000
    assert held / len(body.pieces) < 260  # bytes an entry


def test_sending_the_chunk_index_makes_no_object_a_chunk() -> None:
    """The worker sent the index as a JSON list a chunk, made at every rendering: 449 bytes a chunk
    came and went (3,000 accounts: about 50,000 chunks, 22 MB at every rendering, between the
    worker's long-lived objects), and sending held 500 bytes a chunk at its peak. Now the index is
    one array of integers (80 bytes a chunk) and the names once each; the rest of the peak is the
    1 MiB piece of the body being sent."""
    exposition = many_accounts_chunks()
    blocks = exposition.tags[:2]  # two chunks of one block of accounts, their members listed once
    members = ("account-1", "account-2")
    exposition = Exposition(
        chunks=exposition.chunks,
        crc=exposition.crc,
        length=exposition.length,
        series=exposition.series,
        rendered_at=0.0,
        tags=(*(ChunkTag(t.family, t.group, None, members=members) for t in blocks), *exposition.tags[2:]),
    )
    frame = bytearray(exposition.gzip_size + (4 << 20))  # made before measuring: the reader's
    got = 0

    def drain(sock: socket.socket) -> None:  # the whole frame into `frame`, then the answer
        nonlocal got
        view = memoryview(frame)
        while got < 24 or got < 24 + sum(int.from_bytes(frame[a:b], "little") for a, b in ((4, 8), (8, 16), (16, 24))):
            got += sock.recv_into(view[got:])
        acknowledge(sock)

    peak = peak_of_sending(exposition, drain)
    assert peak / len(exposition.chunks) < 260, peak / len(exposition.chunks)  # bytes a chunk
    replayed, receiving = socket.socketpair()
    with replayed, receiving:  # the frame again, to the front's end (a thread: it fills the buffer)
        replay = threading.Thread(target=replayed.sendall, args=(frame[:got],))
        replay.start()
        body = receive(receiving)
        replay.join(5)
    assert body is not None and len(body.pieces) == 20_000
    assert body.pieces[0].members is body.pieces[1].members == members
    assert [(p.family, p.account) for p in body.pieces[2:4]] == [
        ("leo_family_number_2_bytes", "account-0"),
        ("leo_family_number_3_bytes", "account-0"),
    ]


def test_a_frame_whose_index_does_not_fit_its_body_is_refused() -> None:
    """A chunk index that names what the header does not hold, or whose sizes miss the body, is
    no exposition: the front refuses it (and restarts the worker) rather than serve slices of it."""
    exposition = many_accounts_chunks(accounts=2, families=2)
    worker, front = socket.socketpair()
    with worker, front:
        sender = threading.Thread(target=send, args=(worker, exposition, True))
        sender.start()
        front.settimeout(5)
        frame = b""
        while len(frame) < 24 or len(frame) < 24 + sum(
            int.from_bytes(frame[a : a + 8], "little") for a in (8, 16)
        ) + int.from_bytes(frame[4:8], "little"):
            frame += front.recv(1 << 16)
        acknowledge(front)
        sender.join(5)
    header_size = int.from_bytes(frame[4:8], "little")
    header = frame[24 : 24 + header_size]
    assert header.count(b', "account-1"]') == 1  # the last name the index refers to
    fewer_names = header.replace(b', "account-1"]', b"]")
    for broken in (
        frame[:4] + len(fewer_names).to_bytes(4, "little") + frame[8:24] + fewer_names + frame[24 + header_size :],
        frame[:16] + (int.from_bytes(frame[16:24], "little") - 1).to_bytes(8, "little") + frame[24:-1],
    ):
        sending, receiving = socket.socketpair()
        with sending, receiving:
            sending.sendall(broken)
            with pytest.raises(HandoffError, match="chunk index"):
                receive(receiving)


@pytest.mark.anyio
async def test_the_workers_internal_server_answers_only_the_front() -> None:
    app = FrontTokenGate(Starlette(routes=[Route("/api/status", lambda r: PlainTextResponse("ok"))]), "s3cret-token")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://worker") as client:
        assert (await client.get("/api/status")).status_code == 403
        assert (await client.get("/api/status", headers={"x-leo-front-token": "wrong"})).status_code == 403
        answer = await client.get("/api/status", headers={"x-leo-front-token": "s3cret-token"})
        assert answer.status_code == 200 and answer.text == "ok"


@pytest.mark.e2e
def test_a_killed_worker_is_restarted_while_the_last_exposition_is_served(tmp_path: Path) -> None:
    with run_module(["--simulator.terminals", "20"], tmp_path / "exporter.log") as exporter:
        wait_for(f"{exporter.url}/readyz", exporter)
        before = httpx.get(f"{exporter.url}/metrics", timeout=10).text
        assert "leo_terminal_info{" in before
        assert worker_figures(exporter.url) == (1.0, 0.0)
        old = the_worker(exporter)
        assert b"LEO_WORKER_RESTARTED=0" in Path(f"/proc/{old}/environ").read_bytes().split(b"\0")

        os.kill(old, signal.SIGKILL)
        seen = []  # (readyz status, worker_up, terminals served) until the new worker is ready
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:  # a /readyz proxied in the instant before the front sees the exit waits for the next worker
                ready: int | None = httpx.get(f"{exporter.url}/readyz", timeout=0.5).status_code
            except httpx.TimeoutException:
                ready = None
            served = httpx.get(f"{exporter.url}/metrics", timeout=10)
            assert served.status_code == 200
            up = samples_by_name(served.text)["leo_exporter_worker_up"][0].value
            seen.append((ready, up, served.text.count("\nleo_terminal_info{")))
            if seen[-1][:2] == (200, 1.0) and any(s[0] == 503 for s in seen):
                break
            time.sleep(0.05)
        terminals = before.count("\nleo_terminal_info{")
        assert (503, 0.0, terminals) in seen, seen  # not ready, worker down, the last exposition served
        assert all(count == terminals for _, _, count in seen), seen  # never an emptier one meanwhile

        wait_for(f"{exporter.url}/readyz", exporter, timeout=30)
        assert worker_figures(exporter.url) == (1.0, 1.0)
        new = the_worker(exporter)
        assert new != old
        # told it replaces a worker, so its budgets start without a burst (tests/test_faults_budget.py)
        assert b"LEO_WORKER_RESTARTED=1" in Path(f"/proc/{new}/environ").read_bytes().split(b"\0")
        assert httpx.get(f"{exporter.url}/api/status", timeout=10).status_code == 200  # proxied to the new one
        text = httpx.get(f"{exporter.url}/metrics", timeout=10).text
        start = samples_by_name(text)["process_start_time_seconds"][0].value  # the worker's own process
        assert start > samples_by_name(before)["process_start_time_seconds"][0].value
        assert "the worker process exited (signal SIGKILL)" in exporter.log()


@pytest.mark.e2e
def test_sigterm_ends_front_and_worker_within_five_seconds(tmp_path: Path) -> None:
    with run_module(["--simulator.terminals", "20"], tmp_path / "exporter.log") as exporter:
        wait_for(f"{exporter.url}/readyz", exporter)
        worker = the_worker(exporter)
        took = exporter.stop()
        assert exporter.popen.returncode == 0
        assert took < 5
        deadline = time.monotonic() + 1
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(worker)


@pytest.mark.e2e
def test_a_worker_that_cannot_start_ends_the_front_with_its_exit_code(tmp_path: Path) -> None:
    config = tmp_path / "bad.yml"
    config.write_text("accounts: [{provider: starlink}]\n")
    with run_module(["--config.file", str(config)], tmp_path / "exporter.log") as exporter:
        assert exporter.popen.wait(30) == 2
        assert "before its first rendering" in exporter.log()


def worker_session(front: Front, *renderings: tuple[Exposition, bool]) -> None:
    """One worker's life as the front sees it: each rendering handed over (with its `complete`
    flag) and acknowledged, then the worker gone."""
    worker, end = socket.socketpair()
    reader = threading.Thread(target=front._receive, args=(end, threading.Event()))
    reader.start()
    with worker:
        for exposition, complete in renderings:
            send(worker, exposition, complete)
    reader.join(10)
    end.close()


def served_text(front: Front) -> str:
    assert front.served is not None
    return gzip.decompress(front.served.worker.prefix + front.served.tail).decode()


def account_lines(text: str, account: str) -> set[str]:
    """The provider-data samples of one account (not the exporter's own figures, not the
    account's info, which the config gives)."""
    return {
        line
        for line in text.splitlines()
        if f'account="{account}"' in line and not line.startswith(("#", "leo_exporter_", "leo_account_info"))
    }


@contextlib.asynccontextmanager
async def a_restart(terminals: int) -> AsyncIterator[tuple[Exposition, Exporter, Starlette]]:
    """The last worker's rendering after every job ran once, and a new worker (nothing run yet) on
    the same simulated providers (two accounts of each)."""
    old, simulator = simulated_exporter(accounts=2, terminals=terminals)
    new = simulated_exporter(simulator, restarted=True)[0]
    try:
        await poll_all(old)
        yield await old.render_now(), new, simulator
    finally:
        await old.aclose()
        await new.aclose()


@pytest.mark.anyio
async def test_a_restarted_worker_whose_provider_fails_serves_that_accounts_last_good_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The soak found a restart while one provider failed dropping that account's series until
    the provider answered again. Now the front carries them from the last worker's exposition,
    spliced under each family's header (a valid exposition, no family twice, no series twice)."""
    async with a_restart(terminals=4) as (before, new, simulator):
        ok, failing = "sim-starlink-1", "sim-starlink-2"
        number = re.search(
            rf'leo_account_info{{[^}}]*account="{failing}",provider_account="([^"]+)"',
            gzip.decompress(before.gzipped).decode(),
        )
        assert number is not None
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator), base_url="http://sim") as sim:
            fault = {"provider": "starlink", "account": number.group(1), "mode": "server_error", "seconds": 600}
            assert (await sim.post("/_sim/faults", json=[fault])).status_code == 200
        await poll_all(new)  # every first run done; the failing account's all failed
        first_runs_done = await new.render_now()

        front = Front(None, "/metrics")
        worker_session(front, (before, True))
        old_text = served_text(front)
        assert account_lines(old_text, failing) and account_lines(old_text, ok)

        worker_session(front, (first_runs_done, False))  # before its first runs are done: held
        assert served_text(front) == old_text.replace("leo_exporter_worker_up 0", "leo_exporter_worker_up 1")
        monkeypatch.setattr("leo_exporter.front.FIRST_RUNS_HOLD", 0.0)  # ... for FIRST_RUNS_HOLD at most
        worker_session(front, (first_runs_done, False))
        assert served_text(front) != old_text
        assert account_lines(served_text(front), failing) == account_lines(old_text, failing)
        monkeypatch.undo()

        worker_session(front, (first_runs_done, True))
        text = served_text(front)
        own = gzip.decompress(first_runs_done.gzipped).decode()
        assert not account_lines(own, failing)  # the new worker has nothing of it
        assert account_lines(text, failing) == account_lines(old_text, failing)  # carried, whole
        assert account_lines(text, ok) == account_lines(own, ok)  # the other account: the new data
        job_up = [line for line in own.splitlines() if line.startswith("leo_exporter_job_up{") and failing in line]
        assert job_up and all(line in text.splitlines() for line in job_up)  # its jobs' figures: the new worker's
        families = [fam.name for fam in text_string_to_metric_families(text)]  # parses: valid text
        assert len(families) == len(set(families))
        samples = [line for line in text.splitlines() if not line.startswith("#")]
        assert len(samples) == len(set(samples))


@pytest.mark.anyio
async def test_a_restarted_worker_with_some_of_an_accounts_jobs_failing_still_carries_what_it_lacks() -> None:
    """The soak saw an account's 60 terminals fall to 0 a minute after a restart: its service
    lines answered again before its terminal list did, and one chunk of the account's data was
    taken for all of it. Now the carry lasts while any of the account's jobs has not succeeded in
    the new worker, and covers each family the new worker lacks."""
    async with a_restart(terminals=4) as (before, new, simulator):
        failing = "sim-starlink-2"
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=simulator), base_url="http://sim") as sim:
            fault = {"provider": "starlink", "account": "2", "mode": "server_error", "seconds": 600}
            assert (await sim.post("/_sim/faults", json=[fault])).status_code == 200
            await poll_all(new)  # every first run done; the failing account's all failed
            assert (await sim.request("DELETE", "/_sim/faults", json={})).status_code == 200
        jobs = [j for j in new.scheduler.jobs.values() if j.status.account.name == failing]
        await new.scheduler.run_once(next(j for j in jobs if j.status.call == "service_lines"))
        partly = await new.render_now()
        own = gzip.decompress(partly.gzipped).decode()
        assert any(line.startswith("leo_service_line_info{") for line in account_lines(own, failing))
        assert not any(line.startswith("leo_terminal_info{") for line in account_lines(own, failing))

        front = Front(None, "/metrics")
        worker_session(front, (before, True))
        old_terminals = {
            line for line in account_lines(served_text(front), failing) if line.startswith("leo_terminal_")
        }
        assert old_terminals
        worker_session(front, (partly, True))
        text = served_text(front)
        assert old_terminals <= account_lines(text, failing)  # carried
        service_lines = {line for line in account_lines(own, failing) if line.startswith("leo_service_line_info{")}
        assert service_lines <= account_lines(text, failing)  # the new worker's own, not the old twice
        samples = [line for line in text.splitlines() if not line.startswith("#")]
        assert len(samples) == len(set(samples))
        assert len({f.name for f in text_string_to_metric_families(text)}) == len(
            list(text_string_to_metric_families(text))
        )

        for job in jobs:  # every job of the account succeeds: the new worker's data alone
            await new.scheduler.run_once(job)
        settled = await new.render_now()
        worker_session(front, (settled, True))
        assert served_text(front).startswith(gzip.decompress(settled.gzipped).decode())


@pytest.mark.anyio
async def test_a_family_the_new_worker_holds_only_part_of_is_served_whole_from_the_last_one() -> None:
    """The soak saw a Kognitive account's terminals fall 60 -> 54 after a restart: its service
    lines (which name most terminals) answered before its terminal status listing. While the
    account has a job not yet succeeded, a family of which the last worker had more series is
    served from the last worker."""
    async with a_restart(terminals=24) as (before, new, _):
        account = "kognitive-dp-1"
        for job in new.scheduler.jobs.values():  # only its service lines have answered
            if job.status.account.name == account and job.status.call == "service_lines":
                await new.scheduler.run_once(job)
        partly = await new.render_now()

        def terminals(text: str) -> set[str]:
            return {line for line in account_lines(text, account) if line.startswith("leo_terminal_info{")}

        old_text = gzip.decompress(before.gzipped).decode()
        assert 0 < len(terminals(gzip.decompress(partly.gzipped).decode())) < len(terminals(old_text))
        front = Front(None, "/metrics")
        worker_session(front, (before, True))
        worker_session(front, (partly, True))
        text = served_text(front)
        assert terminals(text) == terminals(old_text)
        samples = [line for line in text.splitlines() if not line.startswith("#")]
        assert len(samples) == len(set(samples))
        families = [family.name for family in text_string_to_metric_families(text)]
        assert len(families) == len(set(families))


@pytest.mark.anyio
async def test_once_the_new_worker_has_every_account_nothing_is_carried() -> None:
    old, _ = simulated_exporter(accounts=2, terminals=4)
    new, _ = simulated_exporter(accounts=2, terminals=4, restarted=True)
    try:
        await poll_all(old)
        await poll_all(new)
        front = Front(None, "/metrics")
        worker_session(front, (await old.render_now(), True))
        exposition = await new.render_now()
        worker_session(front, (exposition, True))
        assert front.served is not None and front.served.worker.prefix is not None
        assert served_text(front).startswith(gzip.decompress(exposition.gzipped).decode())
    finally:
        await old.aclose()
        await new.aclose()
