"""Regression tests of issue 12 ("Nothing lost, really") for the client's call path, each
against a real HTTP server on 127.0.0.1: the emulator, or a scripted aiohttp server that
answers what the test tells it to. Each failed on the code before the fix.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp.web
import anyio
import anyio.lowlevel
import pytest
import pytest_asyncio

import asyncbatch
from asyncbatch.emulator import Emulator, EmulatorConfig
from tests.invariants import assert_accounted
from tests.scripted import Scripted, echo, scripted_server

pytestmark = pytest.mark.asyncio

TOKEN = "sekret-token-0123456789"


@pytest_asyncio.fixture
async def scripted() -> AsyncIterator[Scripted]:
    async with scripted_server() as server:
        yield server


def _client(url: str, **kwargs: Any) -> asyncbatch.BatchClient:
    kwargs.setdefault("rate_limit", asyncbatch.RateLimit(1000, 1.0))
    return asyncbatch.BatchClient(TOKEN, base_url=url, **kwargs)


# --- item 8: duplicates HubSpot sees and the plan does not ------------------------------------


async def test_duplicate_ids_400_is_coalesced_and_resent_once(scripted: Scripted) -> None:
    # SPEC §1: "Duplicate IDs found in batch input: [..]. IDs must be unique" with context.ids.
    async def handler(body: dict[str, Any]) -> aiohttp.web.Response:
        ids = [i["id"] for i in body["inputs"]]
        folded = [i.casefold() for i in ids]
        dupes = sorted({i for i in ids if folded.count(i.casefold()) > 1})
        if dupes:
            message = (
                f"Duplicate IDs found in batch input: [{', '.join(dupes)}]. IDs must be unique"
            )
            return aiohttp.web.json_response(
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": message,
                    "context": {"ids": dupes},
                    "correlationId": "c",
                },
                status=400,
            )
        return echo(body)

    scripted.handler = handler
    records = [
        {"id": "AB-1", "properties": {"v": "1", "w": "keep"}},
        {"id": "b-2", "properties": {"v": "b"}},
        {"id": "ab-1", "properties": {"v": "2"}},
    ]
    async with _client(scripted.url) as client:
        result = await client.upsert("0-410", records, id_property="course_code")
    assert len(scripted.bodies) == 2  # one refusal, one resend: no splitting
    resent = scripted.bodies[1]["inputs"]
    assert [i["id"] for i in resent] == ["AB-1", "b-2"]
    assert resent[0]["properties"] == {"v": "2", "w": "keep"}  # the later value wins
    assert not result.failed
    assert_accounted(result, 3)
    assert result.result_positions[0] == (0, 2)


async def test_split_halves_naming_one_record_go_in_input_order(scripted: Scripted) -> None:
    # A 400 that names no record is bisected; halves that may name one record (as HubSpot
    # compares e-mails) must not race, or the earlier value can land last.
    async def handler(body: dict[str, Any]) -> aiohttp.web.Response:
        if len(body["inputs"]) > 1:
            problem = {
                "message": "bad",
                "code": "INVALID_INTEGER",
                "context": {"propertyName": ["v"]},
            }
            return aiohttp.web.json_response(
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": "Property values were not valid",
                    "errors": [problem],
                },
                status=400,
            )
        await anyio.lowlevel.checkpoint()  # let a concurrently sent half overtake
        return echo(body)

    scripted.handler = handler
    records = [
        {"id": "AB-1", "properties": {"v": "1"}},
        {"id": "ab-1 ", "properties": {"v": "2"}},
    ]
    async with _client(scripted.url, max_concurrency=4) as client:
        result = await client.upsert("0-410", records, id_property="course_code")
    singles = [b["inputs"][0]["properties"]["v"] for b in scripted.bodies if len(b["inputs"]) == 1]
    assert singles == ["1", "2"]
    assert_accounted(result, 2)


# --- item 14: a server that echoes the token ---------------------------------------------------


async def test_an_echoed_token_is_masked_everywhere(
    scripted: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    async def handler(body: dict[str, Any]) -> aiohttp.web.Response:
        nonlocal calls
        calls += 1
        echoed = f"Bearer {TOKEN}"
        if calls == 1:
            return aiohttp.web.json_response(
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": f"bad header Authorization: {echoed}",
                },
                status=400,
            )
        inputs = body["inputs"]
        return aiohttp.web.json_response(
            {
                "status": "COMPLETE",
                "results": [],
                "errors": [
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": f"refused for {echoed}",
                        "context": {"ids": [i["id"] for i in inputs]},
                    }
                ],
            },
            status=207,
        )

    scripted.handler = handler
    caplog.set_level(logging.DEBUG, logger="asyncbatch")
    async with _client(scripted.url, retry=asyncbatch.RetryPolicy(split_bad_chunks=False)) as c:
        first = await c.update("contacts", [{"id": "1", "properties": {}}])
        second = await c.update("contacts", [{"id": "2", "properties": {}}])
    for result in (first, second):
        assert result.failed
        texts = [repr(result), str(result.to_dict()), *(f.reason for f in result.failed)]
        assert all(TOKEN not in text for text in texts)
        assert "***" in result.failed[0].reason
    assert TOKEN not in caplog.text


# --- item 13: aclose() during a call ------------------------------------------------------------


async def test_aclose_during_a_call_stops_it_and_reports_everything(scripted: Scripted) -> None:
    arrived = anyio.Event()
    release = anyio.Event()

    async def handler(body: dict[str, Any]) -> aiohttp.web.Response:
        if len(scripted.bodies) >= 3:
            arrived.set()
            await release.wait()  # held until the test ends
        return echo(body)

    scripted.handler = handler
    records = [{"id": str(i), "properties": {"n": str(i)}} for i in range(500)]
    client = _client(scripted.url, max_concurrency=1, chunk_size=10)
    try:
        async with anyio.create_task_group() as group:
            results: list[asyncbatch.BatchResult] = []

            async def call() -> None:
                results.append(await client.update("contacts", records))

            group.start_soon(call)
            await arrived.wait()
            await client.aclose()
        (result,) = results
        assert len(scripted.bodies) == 3  # nothing sent after aclose()
        assert_accounted(result, 500)
        assert len(result.results) == 20
        on_the_wire = [f for f in result.failed if f.sent]
        assert [f.position for f in on_the_wire] == list(range(20, 30))
        assert all(f.stopped_run and not f.final for f in result.failed)
        assert isinstance(result.stop_error, asyncbatch.ClientClosedError)
    finally:
        release.set()
        await client.aclose()


# --- item 2: a stream whose source fails ---------------------------------------------------------


async def test_a_failing_source_keeps_what_was_sent_and_raises_its_own_error() -> None:
    async with Emulator(EmulatorConfig(token=TOKEN, rate_limit_requests=1000, strict=False)) as emu:

        async def source() -> AsyncIterator[dict[str, Any]]:
            for i in range(250):
                yield {"id": f"c{i}", "properties": {"n": str(i)}}
            raise OSError("the database went away")

        seen: list[int] = []
        async with _client(emu.url) as client:
            with pytest.raises(OSError, match="the database went away"):
                async for chunk in client.stream_upsert("0-410", source(), id_property="code"):
                    seen.extend(p for ps in chunk.result_positions for p in ps)
                    assert not chunk.failed
        assert sorted(seen) == list(range(250))
        assert len(emu.records("0-410")) == 250


# --- item 15: clear errors at construction ---------------------------------------------


@pytest.mark.parametrize("token", ["ab\x00cd", "ab\x7fcd", "a\r\nb"])
async def test_a_token_with_control_characters_is_refused_at_once(token: str) -> None:
    with pytest.raises(asyncbatch.InvalidInputError, match="access_token"):
        asyncbatch.BatchClient(token)


@pytest.mark.parametrize("records", [None, 5, object()])
async def test_records_that_are_not_an_iterable_are_invalid_input(records: Any) -> None:
    async with _client("http://127.0.0.1:9") as client:
        with pytest.raises(asyncbatch.InvalidInputError, match="records"):
            await client.update("contacts", records)


@pytest.mark.parametrize(
    "base_url",
    [
        "https://[::1",
        "https://exa mple.com",
        "https://host:99999",
        "https://host:abc",
        "https://h/\x00",
        "https://h?x=1",
        "https://h#frag",
        "https://h\n",
    ],
)
async def test_a_malformed_base_url_is_refused_at_construction(base_url: str) -> None:
    # Issue 12 item 15: these were accepted, then failed every chunk (or raised ValueError).
    with pytest.raises(asyncbatch.InvalidInputError, match="base_url"):
        asyncbatch.BatchClient("token", base_url=base_url)


@pytest.mark.parametrize(
    "base_url",
    [
        "https://api.hubapi.com",
        "http://127.0.0.1:8080/",
        "http://[::1]:80",
        "https://a-b.example/x/",
    ],
)
async def test_usual_base_urls_are_accepted(base_url: str) -> None:
    asyncbatch.BatchClient("token", base_url=base_url)


async def test_the_transport_never_reopens_after_aclose() -> None:
    from asyncbatch._transport import AiohttpTransport

    transport = AiohttpTransport(token="t", max_connections=1, user_agent="test")
    await transport.aclose()
    with pytest.raises(asyncbatch.ConnectionFailedError, match="closed"):
        await transport.post("http://127.0.0.1:9/x", b"{}", timeout_seconds=1.0)
