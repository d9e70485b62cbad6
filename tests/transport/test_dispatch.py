"""Dispatch through MockTransport on a fake clock: chunking, the concurrency cap, the rolling
window, splitting, security of the token, and argument checks."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest

import asyncbatch
from tests.fakes import FakeClock, batch_body, echo_results

TOKEN = "pat-na1-0123456789-very-secret"


class Recorder:
    """A MockTransport handler that answers like HubSpot and records what it saw."""

    def __init__(self, clock: FakeClock, latency: float = 0.5) -> None:
        self.clock = clock
        self.latency = latency
        self.starts: list[float] = []
        self.sizes: list[int] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.bad_ids: set[str] = set()

    async def __call__(self, url: str, body: bytes) -> asyncbatch.RawResponse:
        inputs = orjson.loads(body)["inputs"]
        self.starts.append(self.clock.now)
        self.sizes.append(len(inputs))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self.clock.sleep(self.latency)
        finally:
            self.in_flight -= 1
        bad = [i["id"] for i in inputs if i["id"] in self.bad_ids]
        if bad:
            # HubSpot's real shape (SPEC §1): it names the property, not the record.
            error = {
                "status": "error",
                "category": "VALIDATION_ERROR",
                "correlationId": "x",
                "message": "Property values were not valid",
                "errors": [
                    {
                        "message": "not a valid integer",
                        "code": "INVALID_INTEGER",
                        "context": {"propertyName": ["hs_status"]},
                    }
                ],
            }
            return asyncbatch.RawResponse(400, {}, orjson.dumps(error))
        payload = batch_body(echo_results(inputs, upsert=url.endswith("upsert")))
        return asyncbatch.RawResponse(
            200, {"Content-Type": "application/json"}, orjson.dumps(payload)
        )


def make_client(clock: FakeClock, handler: Recorder, **kwargs: Any) -> asyncbatch.BatchClient:
    return asyncbatch.BatchClient(
        transport=asyncbatch.MockTransport(handler),
        clock=clock,
        sleep=clock.sleep,
        base_url="https://api.example.test",
        **kwargs,
    )


def max_in_any_window(starts: list[float], window: float) -> int:
    return max(sum(1 for t in starts if s <= t < s + window) for s in starts)


@pytest.mark.asyncio
async def test_250_records_become_100_100_50_under_cap_and_window() -> None:
    clock = FakeClock()
    recorder = Recorder(clock)
    rate = asyncbatch.RateLimit(2, 1.0, safety_margin_seconds=0.0)
    async with make_client(clock, recorder, max_concurrency=2, rate_limit=rate) as client:
        result = await client.update(
            "goal_targets", [{"id": str(i), "properties": {"i": i}} for i in range(250)]
        )
    assert sorted(recorder.sizes, reverse=True) == [100, 100, 50]
    assert recorder.max_in_flight <= 2
    assert max_in_any_window(recorder.starts, 1.0) <= 2
    assert recorder.starts[2] - recorder.starts[0] >= 1.0  # the third waited for the window
    assert [r.id for r in result.results] == [str(i) for i in range(250)]
    assert result.stats.requests == 3 and result.stats.chunks == 3


@pytest.mark.asyncio
async def test_many_chunks_never_exceed_window_or_cap() -> None:
    clock = FakeClock()
    recorder = Recorder(clock, latency=0.05)
    rate = asyncbatch.RateLimit(10, 1.0, safety_margin_seconds=0.1)
    async with make_client(
        clock, recorder, max_concurrency=4, rate_limit=rate, chunk_size=10
    ) as client:
        result = await client.update(
            "goal_targets", [{"id": str(i), "properties": {}} for i in range(400)]
        )
    assert len(recorder.starts) == 40
    assert max_in_any_window(recorder.starts, 1.1) <= 10
    assert recorder.max_in_flight <= 4
    assert result.ok


@pytest.mark.asyncio
async def test_concurrent_calls_share_the_limiter_and_cap() -> None:
    import anyio

    clock = FakeClock()
    recorder = Recorder(clock, latency=0.2)
    rate = asyncbatch.RateLimit(3, 1.0, safety_margin_seconds=0.0)
    results: list[asyncbatch.BatchResult] = []
    async with make_client(
        clock, recorder, max_concurrency=2, rate_limit=rate, chunk_size=5
    ) as client:

        async def call(prefix: str) -> None:
            records = [{"id": f"{prefix}{i}", "properties": {}} for i in range(20)]
            results.append(await client.update("goal_targets", records))

        async with anyio.create_task_group() as group:
            for prefix in "abc":
                group.start_soon(call, prefix)
    assert len(recorder.starts) == 12
    assert max_in_any_window(recorder.starts, 1.0) <= 3
    assert recorder.max_in_flight <= 2
    assert all(r.ok and len(r.results) == 20 for r in results)


@pytest.mark.asyncio
async def test_duplicates_coalesced_and_reported() -> None:
    clock = FakeClock()
    recorder = Recorder(clock, latency=0)
    records = [
        {"id": "a", "properties": {"x": 1, "y": 1}},
        {"id": "b", "properties": {"x": 2}},
        {"id": "a", "properties": {"y": 3}},
    ]
    async with make_client(clock, recorder) as client:
        result = await client.update("goal_targets", records)
    assert recorder.sizes == [2]
    assert result.stats.coalesced == 1 and result.stats.inputs == 3
    assert result.results[0].properties == {"x": "1", "y": "3"}
    assert result.result_positions == [(0, 2), (1,)]


@pytest.mark.asyncio
async def test_bad_records_isolated_by_splitting() -> None:
    clock = FakeClock()
    recorder = Recorder(clock, latency=0)
    recorder.bad_ids = {"13", "77"}
    async with make_client(clock, recorder) as client:
        result = await client.update(
            "goal_targets",
            [{"id": str(i), "properties": {"hs_status": str(i)}} for i in range(100)],
        )
    assert [f.input.id for f in result.failed] == ["13", "77"]
    assert len(result.results) == 98
    assert result.stats.split_requests > 0
    # 2 bad records in a chunk of 100: at most about 2*k*ceil(log2(100)) = 28 extra requests
    assert result.stats.split_requests <= 28
    assert all("VALIDATION_ERROR" in f.reason for f in result.failed)


@pytest.mark.asyncio
async def test_invalid_input_raises_before_any_request() -> None:
    clock = FakeClock()
    recorder = Recorder(clock, latency=0)
    async with make_client(clock, recorder) as client:
        with pytest.raises(asyncbatch.InvalidInputError, match=r"record 2: 'when'"):
            await client.update(
                "goal_targets",
                [
                    {"id": "1", "properties": {}},
                    {"id": "2", "properties": {}},
                    {"id": "3", "properties": {"when": {"nested": 1}}},
                ],
            )
        with pytest.raises(asyncbatch.InvalidInputError, match="upsert needs an id property"):
            await client.upsert("0-410", [{"id": "1", "properties": {}}])
        with pytest.raises(asyncbatch.InvalidInputError, match="object_type"):
            await client.update("../admin", [])
    assert recorder.starts == []


def test_bad_client_arguments_are_clear() -> None:
    transport = asyncbatch.MockTransport(Recorder(FakeClock()))
    with pytest.raises(asyncbatch.InvalidInputError, match="chunk_size"):
        asyncbatch.BatchClient(transport=transport, chunk_size=101)
    with pytest.raises(asyncbatch.InvalidInputError, match="max_concurrency"):
        asyncbatch.BatchClient(transport=transport, max_concurrency=0)
    with pytest.raises(asyncbatch.InvalidInputError, match="timeout_seconds"):
        asyncbatch.BatchClient(transport=transport, timeout_seconds=0)
    with pytest.raises(asyncbatch.InvalidInputError, match=r"RateLimit\.requests"):
        asyncbatch.RateLimit(0, 10)


def test_missing_token_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    with pytest.raises(asyncbatch.InvalidInputError, match="HUBSPOT_ACCESS_TOKEN"):
        asyncbatch.BatchClient()


@pytest.mark.parametrize(
    "url",
    [
        "http://api.hubapi.com",
        "http://10.0.0.5:8080",
        "ftp://api.hubapi.com",
        "api.hubapi.com",
        "https://user:pw@api.hubapi.com",
    ],
)
def test_plain_http_refused_except_loopback(url: str) -> None:
    with pytest.raises(asyncbatch.InvalidInputError):
        asyncbatch.BatchClient(TOKEN, base_url=url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9", "https://x.test"]
)
def test_loopback_http_and_https_accepted(url: str) -> None:
    asyncbatch.BatchClient(TOKEN, base_url=url)


@pytest.mark.asyncio
async def test_closed_client_raises_clear_error() -> None:
    clock = FakeClock()
    client = make_client(clock, Recorder(clock))
    await client.aclose()
    await client.aclose()  # idempotent
    assert client.closed
    with pytest.raises(asyncbatch.ClientClosedError, match="closed"):
        await client.update("goal_targets", [{"id": "1", "properties": {}}])


@pytest.mark.asyncio
async def test_token_never_in_repr_logs_or_errors(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG)
    # A real aiohttp transport to a loopback port nobody listens on: every request fails.
    async with asyncbatch.BatchClient(
        base_url="http://127.0.0.1:9",
        retry=asyncbatch.RetryPolicy(max_attempts=2, backoff_base_seconds=0),
        timeout_seconds=2,
    ) as client:
        assert TOKEN not in repr(client)
        result = await client.update("goal_targets", [{"id": "1", "properties": {}}])
    assert len(result.failed) == 1
    texts = [repr(client), repr(result), str(result.to_dict())]
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(f.error) + f.reason for f in result.failed]
    try:
        result.raise_for_errors()
    except asyncbatch.BatchFailedError as group:
        texts += [str(group), *map(str, group.exceptions)]
    assert caplog.records, "expected DEBUG log records"
    for text in texts:
        assert TOKEN not in text
