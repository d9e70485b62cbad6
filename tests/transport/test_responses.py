"""One request at a time against aioresponses: every kind of answer HubSpot can give."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aioresponses import CallbackResult, aioresponses

import asyncbatch
from tests.fakes import FakeClock, batch_body, echo_results, inputs_of

BASE = "https://api.example.test"
UPDATE = re.compile(r"^https://api\.example\.test/crm/v3/objects/goal_targets/batch/update$")
UPSERT = re.compile(r"^https://api\.example\.test/crm/v3/objects/0-410/batch/upsert$")
TOKEN = "pat-na1-secret-token-value"


def records(n: int) -> list[dict[str, Any]]:
    return [{"id": str(i), "properties": {"n": i}} for i in range(n)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest_asyncio.fixture
async def client(clock: FakeClock) -> AsyncIterator[asyncbatch.BatchClient]:
    async with asyncbatch.BatchClient(
        TOKEN,
        base_url=BASE,
        max_concurrency=2,
        clock=clock,
        sleep=clock.sleep,
        seed=1,
        retry=asyncbatch.RetryPolicy(max_attempts=3),
        timeout_seconds=5,
    ) as c:
        yield c


def echo(upsert: bool = False) -> Callable[..., CallbackResult]:
    def callback(url: Any, **kwargs: Any) -> CallbackResult:
        inputs = inputs_of(kwargs["data"])
        return CallbackResult(status=200, payload=batch_body(echo_results(inputs, upsert=upsert)))

    return callback


@pytest.mark.asyncio
async def test_200_results_in_input_order(client: asyncbatch.BatchClient) -> None:
    with aioresponses() as m:
        m.post(UPDATE, callback=echo())
        result = await client.update("goal_targets", records(5))
    assert result.status == "COMPLETE"
    assert [r.id for r in result.results] == ["0", "1", "2", "3", "4"]
    assert result.result_positions == [(0,), (1,), (2,), (3,), (4,)]
    assert result.results[2].properties["n"] == "2"
    assert result.failed == [] and result.num_errors == 0
    assert result.stats.requests == 1 and result.stats.retries == 0
    assert result.to_dict()["numErrors"] == 0


@pytest.mark.asyncio
async def test_request_carries_bearer_token_and_shape(client: asyncbatch.BatchClient) -> None:
    seen: dict[str, Any] = {}

    def callback(url: Any, **kwargs: Any) -> CallbackResult:
        seen.update(kwargs)
        return echo()(url, **kwargs)

    with aioresponses() as m:
        m.post(UPDATE, callback=callback)
        await client.update("goal_targets", [{"id": "7", "properties": {"ok": True}}])
    assert seen["headers"]["Authorization"] == f"Bearer {TOKEN}"
    (sent,) = inputs_of(seen["data"])
    assert sent["id"] == "7" and sent["properties"] == {"ok": "true"}
    assert sent["objectWriteTraceId"]
    assert seen["allow_redirects"] is False


@pytest.mark.asyncio
async def test_upsert_reads_new_flag(client: asyncbatch.BatchClient) -> None:
    with aioresponses() as m:
        m.post(UPSERT, callback=echo(upsert=True))
        result = await client.upsert("0-410", records(3), id_property="course_code")
    assert [r.properties["n"] for r in result.results] == ["0", "1", "2"]
    assert all(isinstance(r, asyncbatch.SimplePublicUpsertObject) for r in result.results)
    assert "new" in result.to_dict()["results"][0]


@pytest.mark.asyncio
async def test_207_errors_attributed_by_ids_and_trace(client: asyncbatch.BatchClient) -> None:
    def callback(url: Any, **kwargs: Any) -> CallbackResult:
        inputs = inputs_of(kwargs["data"])
        good = [i for i in inputs if i["id"] not in ("1", "3")]
        by_id = {i["id"]: i for i in inputs}
        errors = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "gone",
                "context": {"ids": ["1"]},
                "errors": [],
                "links": {},
            },
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "gone too",
                "context": {"objectWriteTraceId": [by_id["3"]["objectWriteTraceId"]]},
            },
        ]
        return CallbackResult(status=207, payload=batch_body(echo_results(good), errors))

    with aioresponses() as m:
        m.post(UPDATE, callback=callback)
        result = await client.update("goal_targets", records(5))
    assert [r.id for r in result.results] == ["0", "2", "4"]
    assert [(f.positions, f.reason) for f in result.failed] == [
        ((1,), "OBJECT_NOT_FOUND: gone"),
        ((3,), "OBJECT_NOT_FOUND: gone too"),
    ]
    assert result.num_errors == 2
    with pytest.raises(asyncbatch.BatchFailedError) as info:
        result.raise_for_errors()
    assert [e.positions for e in info.value.exceptions] == [(1,), (3,)]


@pytest.mark.asyncio
async def test_whole_chunk_400_without_split_fails_each_input() -> None:
    clock = FakeClock()
    policy = asyncbatch.RetryPolicy(split_bad_chunks=False)
    body = {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "correlationId": "c",
        "message": "Property values were not valid: amount",
    }
    async with asyncbatch.BatchClient(
        TOKEN, base_url=BASE, retry=policy, clock=clock, sleep=clock.sleep
    ) as client:
        with aioresponses() as m:
            m.post(UPDATE, status=400, payload=body)
            result = await client.update("goal_targets", records(3))
    assert result.status == "COMPLETE"  # a definitive refusal, not an unanswered chunk
    assert len(result.failed) == 3 and result.results == []
    assert all("VALIDATION_ERROR" in f.reason and "amount" in f.reason for f in result.failed)
    assert result.num_errors == 1
    assert result.errors[0].context["ids"] == ["0", "1", "2"]
    assert result.stats.requests == 1


@pytest.mark.asyncio
async def test_401_stops_the_run_and_reports_every_input(client: asyncbatch.BatchClient) -> None:
    body = {
        "status": "error",
        "category": "INVALID_AUTHENTICATION",
        "correlationId": "c",
        "message": "Authentication credentials not found.",
    }
    with aioresponses() as m:
        m.post(UPDATE, status=401, payload=body, repeat=True)
        result = await client.update("goal_targets", records(250))
    assert result.status == "CANCELED"
    assert len(result.failed) == 250
    assert result.stats.requests <= 2  # at most the chunks already in flight
    assert all("INVALID_AUTHENTICATION" in f.reason for f in result.failed)
    assert TOKEN not in repr(result) and TOKEN not in str(result.to_dict())


@pytest.mark.asyncio
@pytest.mark.parametrize("policy", ["TEN_SECONDLY_ROLLING", "SECONDLY"])
async def test_429_rolling_waits_for_window_then_succeeds(
    client: asyncbatch.BatchClient, clock: FakeClock, policy: str
) -> None:
    body = {
        "status": "error",
        "errorType": "RATE_LIMIT",
        "policyName": policy,
        "message": "You have reached your limit.",
        "correlationId": "c",
    }
    start = clock.now
    with aioresponses() as m:
        m.post(UPDATE, status=429, payload=body)
        m.post(UPDATE, callback=echo())
        result = await client.update("goal_targets", records(2))
    assert result.status == "COMPLETE" and len(result.results) == 2
    assert result.stats.rate_limited == 1 and result.stats.retries == 1
    assert clock.now - start >= 10.0  # waited at least the default 10 s window


@pytest.mark.asyncio
async def test_429_daily_cancels_and_reports_unsent(clock: FakeClock) -> None:
    body = {
        "status": "error",
        "errorType": "RATE_LIMIT",
        "policyName": "DAILY",
        "message": "You have reached your daily limit.",
        "correlationId": "c",
    }
    async with asyncbatch.BatchClient(
        TOKEN, base_url=BASE, max_concurrency=1, clock=clock, sleep=clock.sleep, chunk_size=10
    ) as client:
        with aioresponses() as m:
            m.post(UPDATE, callback=echo())
            m.post(UPDATE, status=429, payload=body, repeat=True)
            result = await client.update("goal_targets", records(50))
    assert result.status == "CANCELED"
    assert len(result.results) == 10
    assert len(result.failed) == 40
    assert result.stats.requests == 2
    unsent = [f for f in result.failed if f.error.message.startswith("not sent")]
    assert len(unsent) == 30
    assert all("DAILY" in f.reason or "daily" in f.reason for f in result.failed)


@pytest.mark.asyncio
async def test_423_waits_at_least_two_seconds(
    client: asyncbatch.BatchClient, clock: FakeClock
) -> None:
    with aioresponses() as m:
        m.post(
            UPDATE,
            status=423,
            payload={
                "status": "error",
                "category": "LOCKED",
                "message": "locked",
                "correlationId": "c",
            },
        )
        m.post(UPDATE, callback=echo())
        result = await client.update("goal_targets", records(1))
    assert result.ok
    assert clock.sleeps and clock.sleeps[0] >= 2.0


@pytest.mark.asyncio
async def test_477_honours_retry_after(client: asyncbatch.BatchClient, clock: FakeClock) -> None:
    with aioresponses() as m:
        m.post(
            UPDATE,
            status=477,
            headers={"Retry-After": "7"},
            payload={
                "status": "error",
                "category": "MIGRATION_IN_PROGRESS",
                "message": "Migration in progress",
                "correlationId": "c",
            },
        )
        m.post(UPDATE, callback=echo())
        result = await client.update("goal_targets", records(1))
    assert result.ok
    assert clock.sleeps == [7.0]


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [500, 502, 503, 504, 521, 523, 524])
async def test_5xx_then_success(client: asyncbatch.BatchClient, status: int) -> None:
    with aioresponses() as m:
        m.post(UPDATE, status=status, body="oops")
        m.post(UPDATE, callback=echo())
        result = await client.update("goal_targets", records(4))
    assert result.ok and len(result.results) == 4
    assert result.stats.requests == 2 and result.stats.retries == 1


@pytest.mark.asyncio
async def test_5xx_exhausts_attempts_then_fails_chunk(client: asyncbatch.BatchClient) -> None:
    with aioresponses() as m:
        m.post(UPDATE, status=503, body="unavailable", repeat=True)
        result = await client.update("goal_targets", records(2))
    assert result.stats.requests == 3  # max_attempts=3
    assert len(result.failed) == 2
    assert all(f.status_code == 503 for f in result.failed)


@pytest.mark.asyncio
async def test_timeout_then_success(client: asyncbatch.BatchClient) -> None:
    with aioresponses() as m:
        m.post(UPDATE, exception=TimeoutError())
        m.post(UPDATE, callback=echo())
        result = await client.update("goal_targets", records(2))
    assert result.ok and result.stats.retries == 1


@pytest.mark.asyncio
async def test_timeout_every_time_reports_transport_error(client: asyncbatch.BatchClient) -> None:
    with aioresponses() as m:
        m.post(UPDATE, exception=TimeoutError(), repeat=True)
        result = await client.update("goal_targets", records(2))
    assert len(result.failed) == 2
    assert result.failed[0].error.category == "TRANSPORT_ERROR"
    assert "no answer within 5 s" in result.failed[0].reason


@pytest.mark.asyncio
async def test_connection_reset_then_success(client: asyncbatch.BatchClient) -> None:
    with aioresponses() as m:
        m.post(UPDATE, exception=aiohttp.ServerDisconnectedError())
        m.post(UPDATE, exception=aiohttp.ClientOSError(104, "Connection reset by peer"))
        m.post(UPDATE, callback=echo())
        result = await client.update("goal_targets", records(2))
    assert result.ok and result.stats.retries == 2


@pytest.mark.asyncio
async def test_non_json_502_retries_then_reports_excerpt(client: asyncbatch.BatchClient) -> None:
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    with aioresponses() as m:
        m.post(UPDATE, status=502, body=html, content_type="text/html", repeat=True)
        result = await client.update("goal_targets", records(1))
    (failed,) = result.failed
    assert failed.status_code == 502
    assert "502 Bad Gateway" in failed.reason


@pytest.mark.asyncio
async def test_200_with_html_body_is_retried(client: asyncbatch.BatchClient) -> None:
    with aioresponses() as m:
        m.post(UPDATE, status=200, body="<html>maintenance</html>", content_type="text/html")
        m.post(UPDATE, callback=echo())
        result = await client.update("goal_targets", records(2))
    assert result.ok and result.stats.retries == 1


@pytest.mark.asyncio
async def test_large_body_is_read(client: asyncbatch.BatchClient) -> None:
    big = "x" * 5000

    def callback(url: Any, **kwargs: Any) -> CallbackResult:
        inputs = inputs_of(kwargs["data"])
        results = echo_results(inputs)
        for r in results:
            r["properties"]["blob"] = big
        return CallbackResult(status=200, payload=batch_body(results))

    with aioresponses() as m:
        m.post(UPDATE, callback=callback)
        result = await client.update("goal_targets", records(100))
    assert len(result.results) == 100  # a ~500 KiB body


@pytest.mark.asyncio
async def test_redirect_is_not_followed(client: asyncbatch.BatchClient) -> None:
    with aioresponses() as m:
        m.post(UPDATE, status=307, headers={"Location": "https://evil.example/steal"})
        result = await client.update("goal_targets", records(1))
    (failed,) = result.failed
    assert failed.status_code == 307
