"""What whole-request refusals cost in requests (issue 13), against a real server on
127.0.0.1 answering HubSpot's real bodies (sources cited in tests/unit/test_refusals.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp.web
import anyio.lowlevel
import orjson
import pytest
import pytest_asyncio

import asyncbatch
import asyncbatch._operations
from tests.invariants import assert_accounted
from tests.scripted import Scripted, echo, refusal, scripted_server

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def scripted() -> AsyncIterator[Scripted]:
    async with scripted_server() as server:
        yield server


def _client(url: str, **kwargs: Any) -> asyncbatch.BatchClient:
    kwargs.setdefault("rate_limit", asyncbatch.RateLimit(10_000, 1.0))
    kwargs.setdefault("max_concurrency", 10)
    return asyncbatch.BatchClient("token", base_url=url, **kwargs)


def _option_refusal(bad: str, prop: str = "level") -> aiohttp.web.Response:
    entry = {
        "isValid": False,
        "message": f"{bad} was not one of the allowed options: [beginner, advanced]",
        "error": "INVALID_OPTION",
        "name": prop,
    }
    return refusal(
        "Property values were not valid: " + orjson.dumps([entry]).decode(),
        category="VALIDATION_ERROR",
        errors=[
            {
                "message": entry["message"],
                "code": "INVALID_OPTION",
                "context": {"propertyName": [prop]},
            }
        ],
    )


async def test_non_unique_id_property_costs_one_request(scripted: Scripted) -> None:
    # hubspot-api-nodejs #548. 1,000 updates, concurrency 10: the canary is the only request.
    async def handler(body: dict[str, Any]) -> aiohttp.web.Response:
        return refusal(
            "Unable to perform update/upsert by non-unique 0-1 property email in portal ID 1",
            category="VALIDATION_ERROR",
        )

    scripted.handler = handler
    records = [{"id": f"p{i}@x.com", "properties": {"a": "b"}} for i in range(1000)]
    async with _client(scripted.url) as client:
        result = await client.update("contacts", records, id_property="email")
    assert len(scripted.bodies) <= 2
    assert len(result.failed) == 1000 and not result.results
    assert all("non-unique" in f.reason for f in result.failed)
    assert_accounted(result, 1000)


async def test_unknown_object_type_without_category_costs_one_request(scripted: Scripted) -> None:
    async def handler(body: dict[str, Any]) -> aiohttp.web.Response:
        return refusal("Unable to infer object type from: widgets")

    scripted.handler = handler
    records = [{"id": str(i), "properties": {"a": "b"}} for i in range(500)]
    async with _client(scripted.url) as client:
        result = await client.update("widgets", records)
    assert len(scripted.bodies) == 1
    assert len(result.failed) == 500


async def test_a_401_costs_one_request_not_ten(scripted: Scripted) -> None:
    async def handler(body: dict[str, Any]) -> aiohttp.web.Response:
        return refusal(
            "Authentication credentials not found", status=401, category="INVALID_AUTHENTICATION"
        )

    scripted.handler = handler
    records = [{"id": str(i), "properties": {}} for i in range(1000)]
    async with _client(scripted.url) as client:
        result = await client.update("contacts", records)
    assert len(scripted.bodies) == 1
    assert isinstance(result.stop_error, asyncbatch.AuthenticationError)


async def test_a_misspelt_property_on_every_record_costs_one_request(scripted: Scripted) -> None:
    async def handler(body: dict[str, Any]) -> aiohttp.web.Response:
        if any("levle" in i["properties"] for i in body["inputs"]):
            return refusal(
                "Property values were not valid",
                category="VALIDATION_ERROR",
                errors=[
                    {
                        "message": 'Property "levle" does not exist',
                        "code": "PROPERTY_DOESNT_EXIST",
                        "context": {"propertyName": ["levle"]},
                    }
                ],
            )
        return echo(body)

    scripted.handler = handler
    records = [{"id": str(i), "properties": {"levle": "x"}} for i in range(1000)]
    async with _client(scripted.url) as client:
        result = await client.update("0-410", records)
    assert len(scripted.bodies) <= 2
    assert len(result.failed) == 1000
    assert {f.property_name for f in result.failed} == {"levle"}
    assert {f.code for f in result.failed} == {"PROPERTY_DOESNT_EXIST"}
    assert all(f.final for f in result.failed)
    assert sum(f.sent for f in result.failed) == 100  # only the canary's chunk left


async def test_one_bad_value_per_chunk_costs_two_requests_per_chunk(scripted: Scripted) -> None:
    # Issue 13's target: 3,000 upserts, one INVALID_OPTION value per chunk: <= 75 requests.
    async def handler(body: dict[str, Any]) -> aiohttp.web.Response:
        bad = next((i for i in body["inputs"] if i["properties"]["level"] == "expert"), None)
        return _option_refusal("expert") if bad else echo(body)

    scripted.handler = handler
    records = [
        {"id": f"C{i}", "properties": {"level": "expert" if i % 100 == 37 else "beginner"}}
        for i in range(3000)
    ]
    async with _client(scripted.url) as client:
        result = await client.upsert("0-410", records, id_property="course_code")
    assert len(scripted.bodies) <= 75
    assert len(result.results) == 2970
    assert sorted(f.position for f in result.failed) == list(range(37, 3000, 100))
    assert all(f.code == "INVALID_OPTION" and f.property_name == "level" for f in result.failed)
    assert all(f.value == "expert" and f.allowed == ("beginner", "advanced") for f in result.failed)


async def test_unattributable_value_is_bisected_under_the_budget(scripted: Scripted) -> None:
    async def handler(body: dict[str, Any]) -> aiohttp.web.Response:
        if any(i["id"] == "13" for i in body["inputs"]):
            return refusal(
                "Property values were not valid",
                category="VALIDATION_ERROR",
                errors=[
                    {
                        "message": "not a number",
                        "code": "INVALID_INTEGER",
                        "context": {"propertyName": ["n"]},
                    }
                ],
            )
        return echo(body)

    scripted.handler = handler
    records = [{"id": str(i), "properties": {"n": str(i)}} for i in range(100)]
    async with _client(scripted.url) as client:
        result = await client.update("0-410", records)
    assert [f.input.id for f in result.failed] == ["13"]
    assert result.stats.split_requests <= 14  # 2 * ceil(log2 100)
    tight = asyncbatch.RetryPolicy(max_split_requests_per_chunk=2)
    scripted.bodies.clear()
    async with _client(scripted.url, retry=tight) as client:
        result = await client.update("0-410", records)
    assert len(scripted.bodies) <= 3
    assert any("split budget" in f.reason for f in result.failed)
    assert_accounted(result, 100)


async def test_a_conflict_409_is_isolated(scripted: Scripted) -> None:
    # Community thread "Contacts API Batch Upsert return 409 instead of 207".
    async def handler(body: dict[str, Any]) -> aiohttp.web.Response:
        if any(i["id"] == "dup@x.com" for i in body["inputs"]):
            return refusal(
                "Contact already exists. Existing ID: 7", status=409, category="CONFLICT"
            )
        return echo(body)

    scripted.handler = handler
    records = [{"id": f"u{i}@x.com", "properties": {"n": str(i)}} for i in range(99)]
    records.insert(50, {"id": "dup@x.com", "properties": {"n": "x"}})
    async with _client(scripted.url) as client:
        result = await client.upsert("contacts", records, id_property="email")
    assert [f.input.id for f in result.failed] == ["dup@x.com"]
    assert len(result.results) == 99


async def test_the_canary_opens_once_per_endpoint_and_client(scripted: Scripted) -> None:
    in_flight = 0
    most = 0

    async def handler(body: dict[str, Any]) -> aiohttp.web.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            for _ in range(3):  # give concurrent requests a chance to overlap
                await anyio.lowlevel.checkpoint()
            return echo(body)
        finally:
            in_flight -= 1

    scripted.handler = handler
    records = [{"id": str(i), "properties": {}} for i in range(1000)]
    async with _client(scripted.url) as client:
        first = await client.update("0-410", records)
        assert not first.failed
        assert most > 1  # after the first answer the gate opened
        ctx = client._context(asyncbatch._operations.UPDATE, "0-410")
        assert ctx.gate.is_set()  # a later call opens without a canary
        client._done(ctx)
        other = client._context(asyncbatch._operations.UPDATE, "0-420")
        assert not other.gate.is_set()
        client._done(other)


_COURSE_DEFINITIONS = [
    {"name": "course_code", "type": "string", "fieldType": "text", "hasUniqueValue": True},
    {"name": "title", "type": "string", "fieldType": "text"},
]


async def test_definitions_read_for_the_call_open_it_without_a_canary(
    scripted: Scripted,
) -> None:
    # The read proved the token and the object type, the check the id property and every
    # value: the first requests go together, as a hand-written script's would. Each answer
    # waits until four requests arrived (a canary would send one alone and wait for its
    # answer); the bound on that wait only ends a failing run.
    scripted.definitions = _COURSE_DEFINITIONS
    four = anyio.Event()
    arrived_before_an_answer = 0

    async def handler(body: dict[str, Any]) -> aiohttp.web.Response:
        nonlocal arrived_before_an_answer
        if len(scripted.bodies) >= 4:
            four.set()
        with anyio.move_on_after(10):
            await four.wait()
        arrived_before_an_answer = arrived_before_an_answer or len(scripted.bodies)
        return echo(body)

    scripted.handler = handler
    records = [{"id": f"C{i}", "properties": {"title": f"t{i}"}} for i in range(400)]
    async with _client(scripted.url, max_concurrency=4) as client:
        result = await client.upsert("0-410", records, id_property="course_code")
    assert arrived_before_an_answer == 4
    assert len(result.results) == 400
    assert_accounted(result, 400)


async def test_a_missing_write_scope_after_a_definitions_read_costs_at_most_the_slots(
    scripted: Scripted,
) -> None:
    # What the open gate gives up: a token that may read the definitions but not write
    # (HubSpot's 403 MISSING_SCOPES, body as in hubspot-api-nodejs #268) is refused by every
    # request in flight, not one. The run still stops there: the refusal costs at most
    # max_concurrency requests.
    scripted.definitions = _COURSE_DEFINITIONS

    async def handler(body: dict[str, Any]) -> aiohttp.web.Response:
        return refusal(
            "This app hasn't been granted all required scopes to make this call. Read more "
            "about required scopes here: https://developers.hubspot.com/scopes.",
            status=403,
            category="MISSING_SCOPES",
            errors=[
                {
                    "message": "One or more of the following scopes are required.",
                    "context": {"requiredGranularScopes": ["crm.objects.custom.write"]},
                }
            ],
            links={"scopes": "https://developers.hubspot.com/scopes"},
        )

    scripted.handler = handler
    records = [{"id": f"C{i}", "properties": {"title": "t"}} for i in range(2000)]
    async with _client(scripted.url, max_concurrency=5) as client:
        result = await client.upsert("0-410", records, id_property="course_code")
    assert 1 <= len(scripted.bodies) <= 5
    assert isinstance(result.stop_error, asyncbatch.AuthenticationError)
    assert len(result.failed) == 2000 and not result.results
    assert_accounted(result, 2000)
