"""Streaming through MockTransport on a fake clock: per-chunk results as they finish,
back-pressure (bounded records in memory), coalescing, accounting, stops and bad input."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest

import asyncbatch
from tests.fakes import FakeClock, batch_body, echo_results

pytestmark = pytest.mark.asyncio


class Server:
    """Answers like HubSpot; records request sizes and the order writes were applied."""

    def __init__(self, clock: FakeClock, latency: float = 0.01) -> None:
        self.clock = clock
        self.latency = latency
        self.sizes: list[int] = []
        self.applied: list[tuple[str, dict[str, str]]] = []
        self.daily_after: int | None = None

    async def __call__(self, url: str, body: bytes) -> asyncbatch.RawResponse:
        inputs = orjson.loads(body)["inputs"]
        if self.daily_after is not None and len(self.sizes) >= self.daily_after:
            error = {
                "status": "error",
                "errorType": "RATE_LIMIT",
                "policyName": "DAILY",
                "message": "daily limit",
                "correlationId": "c",
            }
            return asyncbatch.RawResponse(429, {}, orjson.dumps(error))
        self.sizes.append(len(inputs))
        await self.clock.sleep(self.latency)
        self.applied += [(i["id"], i["properties"]) for i in inputs]
        payload = batch_body(echo_results(inputs, upsert=url.endswith("upsert")))
        return asyncbatch.RawResponse(200, {}, orjson.dumps(payload))


def client_for(server: Server, **kwargs: Any) -> asyncbatch.BatchClient:
    kwargs.setdefault("rate_limit", asyncbatch.RateLimit(10_000, 1.0))
    return asyncbatch.BatchClient(
        transport=asyncbatch.MockTransport(server),
        clock=server.clock,
        sleep=server.clock.sleep,
        base_url="https://api.example.test",
        **kwargs,
    )


def positions_of(results: list[asyncbatch.BatchResult]) -> Counter[int]:
    seen: Counter[int] = Counter()
    for r in results:
        seen.update(p for ps in r.result_positions for p in ps)
        seen.update(p for f in r.failed for p in f.positions)
    return seen


async def test_stream_yields_every_chunk_and_accounts_for_every_record() -> None:
    server = Server(FakeClock())
    records = ({"id": str(i), "properties": {"i": i}} for i in range(1050))
    async with client_for(server, max_concurrency=4) as client:
        results = [r async for r in client.stream_update("contacts", records)]
    assert len(results) == 11
    assert sorted(server.sizes) == [50] + [100] * 10
    assert positions_of(results) == Counter(range(1050))
    assert all(r.ok and r.stats.chunks == 1 and r.stats.requests == 1 for r in results)


async def test_stream_accepts_async_iterables_and_upserts() -> None:
    server = Server(FakeClock())

    async def source() -> AsyncIterator[dict[str, Any]]:
        for i in range(230):
            yield {"id": f"c{i}", "properties": {"code": f"c{i}"}}

    async with client_for(server) as client:
        results = [r async for r in client.stream_upsert("0-410", source(), id_property="code")]
    assert positions_of(results) == Counter(range(230))
    assert all(
        isinstance(x, asyncbatch.SimplePublicUpsertObject) for r in results for x in r.results
    )


async def test_memory_stays_bounded_while_streaming_100k_records() -> None:
    server = Server(FakeClock(), latency=0.001)
    read = 0
    done = 0
    most_outstanding = 0

    def source() -> Iterator[dict[str, Any]]:
        nonlocal read, most_outstanding
        for i in range(100_000):
            read += 1
            most_outstanding = max(most_outstanding, read - done)
            yield {"id": str(i), "properties": {"v": "x"}}

    async with client_for(server, max_concurrency=8) as client:
        async for result in client.stream_update("contacts", source()):
            done += result.stats.inputs
    assert done == 100_000
    # Records read but not yet answered: the chunk being filled, the one handed over, those
    # in flight (8) and the finished results waiting in the buffer (8), 100 each.
    assert most_outstanding <= (1 + 1 + 8 + 8 + 1) * 100


async def test_duplicates_coalesced_in_chunk_and_ordered_across_chunks() -> None:
    server = Server(FakeClock())
    records = [{"id": "a", "properties": {"v": "1"}}, {"id": "a", "properties": {"w": "2"}}]
    records += [{"id": f"f{i}", "properties": {}} for i in range(99)]  # fills the chunk
    records += [{"id": "a", "properties": {"v": "3"}}]  # next chunk: sent after the first
    async with client_for(server, max_concurrency=4) as client:
        results = [r async for r in client.stream_update("contacts", records)]
    assert sum(r.stats.coalesced for r in results) == 1
    writes_of_a = [props for rid, props in server.applied if rid == "a"]
    assert writes_of_a == [{"v": "1", "w": "2"}, {"v": "3"}]  # in order: later wins
    assert positions_of(results) == Counter(range(102))


async def test_bad_record_ends_the_stream_after_accounting_for_what_was_read() -> None:
    server = Server(FakeClock())
    records = [{"id": str(i), "properties": {}} for i in range(250)]
    records.insert(230, {"id": "bad", "properties": {"x": {"nested": True}}})
    results: list[asyncbatch.BatchResult] = []
    async with client_for(server) as client:
        with pytest.raises(asyncbatch.InvalidInputError, match="record 230"):
            async for result in client.stream_update("contacts", records):
                results.append(result)
    assert positions_of(results) == Counter(range(230))  # all read before the bad one


async def test_daily_stop_reports_what_was_read_and_stops_reading() -> None:
    server = Server(FakeClock())
    server.daily_after = 2
    read = 0

    def source() -> Iterator[dict[str, Any]]:
        nonlocal read
        for i in range(10_000):
            read += 1
            yield {"id": str(i), "properties": {}}

    async with client_for(server, max_concurrency=1) as client:
        results = [r async for r in client.stream_update("contacts", source())]
    written = sum(len(r.results) for r in results)
    failed = [f for r in results for f in r.failed]
    assert written == 200
    assert read < 1000  # stopped taking input
    assert positions_of(results) == Counter(range(read))  # every record read is accounted
    assert any(r.stop_error is not None for r in results)
    assert all("DAILY" in f.reason or "daily" in f.reason for f in failed)


async def test_breaking_out_early_leaves_no_task_behind() -> None:
    import asyncio

    server = Server(FakeClock())
    before = asyncio.all_tasks()
    records = ({"id": str(i), "properties": {}} for i in range(5000))
    async with client_for(server) as client:
        async with contextlib.aclosing(client.stream_update("contacts", records)) as stream:
            async for _ in stream:
                break
    assert asyncio.all_tasks() - before == set()


async def test_stream_arguments_checked_before_reading() -> None:
    server = Server(FakeClock())
    async with client_for(server) as client:
        with pytest.raises(asyncbatch.InvalidInputError, match="object_type"):
            async for _ in client.stream_update("a/b", []):
                pass
        with pytest.raises(asyncbatch.InvalidInputError, match="records must be"):
            async for _ in client.stream_update("contacts", "not records"):  # type: ignore[arg-type]
                pass
        with pytest.raises(asyncbatch.InvalidInputError, match="upsert needs an id property"):
            async for _ in client.stream_upsert("contacts", [{"id": "1", "properties": {}}]):
                pass
    assert server.sizes == []
