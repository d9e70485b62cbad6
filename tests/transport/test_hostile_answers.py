"""Hostile answers through the real aiohttp transport: each becomes a clear APIError or a
retry, never an unhandled exception or a hang."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aioresponses import CallbackResult, aioresponses

import asyncbatch
from asyncbatch import _transport
from tests.fakes import FakeClock, batch_body, echo_results, inputs_of

BASE = "https://api.example.test"
URL = re.compile(r"^https://api\.example\.test/crm/v3/objects/contacts/batch/update$")
RECORDS = [{"id": str(i), "properties": {"n": i}} for i in range(3)]


@pytest_asyncio.fixture
async def client() -> AsyncIterator[asyncbatch.BatchClient]:
    clock = FakeClock()
    async with asyncbatch.BatchClient(
        "tok",
        base_url=BASE,
        clock=clock,
        sleep=clock.sleep,
        retry=asyncbatch.RetryPolicy(max_attempts=2),
    ) as c:
        yield c


async def run_with(client: asyncbatch.BatchClient, **answer: Any) -> asyncbatch.BatchResult:
    with aioresponses() as m:
        m.post(URL, repeat=True, **answer)
        return await client.update("contacts", RECORDS)


def assert_all_failed_clearly(result: asyncbatch.BatchResult, fragment: str) -> None:
    assert len(result.failed) == len(RECORDS)
    assert result.stats.requests == 2  # retried once, then reported
    assert all(fragment in f.reason for f in result.failed), result.failed[0].reason
    assert result.status == "CANCELED"


@pytest.mark.asyncio
async def test_truncated_json(client: asyncbatch.BatchClient) -> None:
    result = await run_with(client, status=200, body='{"status": "COMPLETE", "results": [{"id"')
    assert_all_failed_clearly(result, "not a JSON object")


@pytest.mark.asyncio
async def test_200_with_html(client: asyncbatch.BatchClient) -> None:
    result = await run_with(client, status=200, body="<html>oops</html>", content_type="text/html")
    assert_all_failed_clearly(result, "<html>oops</html>")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "body",
    [
        {"status": "COMPLETE", "results": "nope"},
        {"status": "COMPLETE", "results": [{"id": "0", "properties": "x"}]},
        {"status": "COMPLETE", "results": [17]},
        {"status": "COMPLETE", "errors": [{"context": "ids=0"}]},
        [1, 2, 3],
    ],
)
async def test_wrong_types_in_fields(client: asyncbatch.BatchClient, body: Any) -> None:
    result = await run_with(client, status=200, payload=body)
    assert_all_failed_clearly(result, "HTTP 200")


@pytest.mark.asyncio
async def test_enormous_body_is_not_read(
    client: asyncbatch.BatchClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_transport, "MAX_BODY_BYTES", 100_000)
    result = await run_with(client, status=200, body="[" + "1," * 200_000 + "1]")
    assert_all_failed_clearly(result, "body over 100000 bytes")


@pytest.mark.asyncio
async def test_nonsense_rate_limit_headers_are_ignored(client: asyncbatch.BatchClient) -> None:
    def callback(url: Any, **kwargs: Any) -> CallbackResult:
        body = batch_body(echo_results(inputs_of(kwargs["data"])))
        headers = {
            "X-HubSpot-RateLimit-Max": "lots",
            "X-HubSpot-RateLimit-Remaining": "-4",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "0",
            "X-HubSpot-RateLimit-Daily": "1e99",
            "Retry-After": "tomorrow",
        }
        return CallbackResult(status=200, payload=body, headers=headers)

    with aioresponses() as m:
        m.post(URL, callback=callback)
        result = await client.update("contacts", RECORDS)
    assert result.ok


@pytest.mark.asyncio
async def test_answer_that_omits_inputs_reports_them(client: asyncbatch.BatchClient) -> None:
    def callback(url: Any, **kwargs: Any) -> CallbackResult:
        results = echo_results(inputs_of(kwargs["data"]))
        return CallbackResult(status=200, payload=batch_body(results[:1]))  # drops two

    with aioresponses() as m:
        m.post(URL, callback=callback)
        result = await client.update("contacts", RECORDS)
    assert len(result.results) == 1 and len(result.failed) == 2
    assert all(f.error.category == "MISSING_FROM_RESPONSE" for f in result.failed)


@pytest.mark.asyncio
async def test_429_without_body_waits_and_retries(client: asyncbatch.BatchClient) -> None:
    def ok(url: Any, **kwargs: Any) -> CallbackResult:
        return CallbackResult(
            status=200, payload=batch_body(echo_results(inputs_of(kwargs["data"])))
        )

    with aioresponses() as m:
        m.post(URL, status=429, body="")
        m.post(URL, callback=ok)
        result = await client.update("contacts", RECORDS)
    assert result.ok and result.stats.rate_limited == 1


@pytest.mark.asyncio
async def test_207_naming_unknown_ids_does_not_misattribute(client: asyncbatch.BatchClient) -> None:
    def callback(url: Any, **kwargs: Any) -> CallbackResult:
        results = echo_results(inputs_of(kwargs["data"]))
        errors = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "?",
                "context": {"ids": ["not-ours"]},
            }
        ]
        return CallbackResult(status=207, payload=batch_body(results, errors))

    with aioresponses() as m:
        m.post(URL, callback=callback)
        result = await client.update("contacts", RECORDS)
    assert len(result.results) == 3 and result.failed == []
    assert result.num_errors == 1  # HubSpot's error is kept in the aggregate, attributed to none
