"""``client.writer``: one record per call from many concurrent callers (issue 16 item 1), against
the strict emulator on 127.0.0.1 (courses ``0-410`` keyed by ``course_code``).

Waits are events, never sleeps: a gate in front of the emulator's batch endpoint says when a
request has arrived and holds it until the test lets it go, and ``wait_all_tasks_blocked``
says when every caller has done what it can (its record buffered, or it waits for room).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from aiohttp import web
from anyio import wait_all_tasks_blocked

import asyncbatch
from asyncbatch.emulator import Emulator, EmulatorConfig

pytestmark = pytest.mark.asyncio
TOKEN = "writer-token-0123456789"
COURSES = "0-410"
KEY = "course_code"
LEVELS = ("beginner", "intermediate", "advanced")
LONG_WAIT = 3600.0  # max_wait_seconds that never elapses in a test: only size, flush, exit


def course(n: int, **properties: str) -> dict[str, Any]:
    return {
        "id": f"W{n:05d}",
        "properties": {"hs_course_name": f"Course {n}", "level": LEVELS[n % 3], **properties},
    }


class Gate:
    """An aiohttp middleware in front of the emulator's batch endpoint: ``arrived`` is set
    when a batch request comes, which then waits for ``release``."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()
        self.sizes: list[int] = []

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if "/batch/" in request.path:
            self.sizes.append(len(orjson.loads(await request.read())["inputs"]))
            self.arrived.set()
            await self.release.wait()
        return await handler(request)


@asynccontextmanager
async def emulator(gate: Gate | None = None, **config: Any) -> AsyncIterator[Emulator]:
    emu = Emulator(EmulatorConfig(token=TOKEN, **config))
    if gate is not None:
        emu.app.middlewares.append(gate.middleware)  # before start: the app freezes then
    else:
        gate = Gate()
        gate.release.set()
        emu.app.middlewares.append(gate.middleware)
    async with emu:
        try:
            yield emu
        finally:
            gate.release.set()


async def test_500_concurrent_writers_share_five_requests_and_get_their_own_record() -> None:
    async with emulator() as emu:
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url) as client:
            async with client.writer(COURSES, "upsert", id_property=KEY) as writer:
                outcomes = await asyncio.gather(*(writer.write(course(n)) for n in range(500)))
        assert emu.stats.total_requests <= 6  # the schema read and five chunks of 100
        assert emu.stats.rate_limited_total == 0
        for n, outcome in enumerate(outcomes):
            assert outcome.ok and outcome.failed is None
            assert isinstance(outcome.result, asyncbatch.SimplePublicUpsertObject)
            assert outcome.result.properties[KEY] == f"W{n:05d}"
            assert outcome.result.properties["hs_course_name"] == f"Course {n}"
            assert outcome.result.new
            stored = emu.record(COURSES, f"W{n:05d}", KEY)
            assert stored["id"] == outcome.result.id


async def test_two_writes_to_one_record_coalesce_and_both_callers_get_it() -> None:
    async with emulator() as emu:
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url) as client:
            async with client.writer(COURSES, "upsert", id_property=KEY) as writer:
                first, second, other = await asyncio.gather(
                    writer.write(course(1, level="beginner", price="10")),
                    writer.write(course(1, level="advanced")),
                    writer.write(course(2)),
                )
        assert first.ok and second.ok and other.ok
        assert first.result is second.result  # one record written once, answered to both
        assert first.result is not None and first.result.properties["level"] == "advanced"
        stored = emu.record(COURSES, "W00001", KEY)["properties"]
        assert (stored["level"], stored["price"]) == ("advanced", "10")  # later values win
        assert emu.stats.writes_to(COURSES, first.result.id) == 1
        assert emu.stats.total_requests == 2  # schema read, one chunk


async def test_a_value_hubspot_refuses_fails_only_its_caller() -> None:
    async with emulator() as emu:
        # check_properties="off": HubSpot (the strict emulator) is the one refusing, with its
        # whole-request 400 that names the value and not the record.
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url, check_properties="off") as c:
            async with c.writer(COURSES, "upsert", id_property=KEY) as writer:
                records = [course(n) for n in range(20)]
                records[7]["properties"]["level"] = "expert"
                outcomes = await asyncio.gather(*(writer.write(r) for r in records))
    bad = outcomes[7]
    assert not bad.ok and bad.result is None and bad.failed is not None
    assert (bad.failed.code, bad.failed.property_name) == ("INVALID_OPTION", "level")
    assert bad.failed.sent and bad.failed.final
    assert bad.failed.input.id == "W00007"
    assert all(o.ok for n, o in enumerate(outcomes) if n != 7)


async def test_a_value_the_schema_refuses_fails_only_its_caller_unsent() -> None:
    async with emulator() as emu:
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url) as client:
            async with client.writer(COURSES, "upsert", id_property=KEY) as writer:
                records = [course(n) for n in range(5)]
                records[2]["properties"]["level"] = "expert"
                outcomes = await asyncio.gather(*(writer.write(r) for r in records))
        assert emu.stats.total_requests == 2  # the schema read and one chunk of four
    failed = outcomes[2].failed
    assert failed is not None and not failed.sent and failed.final
    assert failed.code == "INVALID_OPTION"
    assert [o.ok for o in outcomes] == [True, True, False, True, True]


async def test_a_malformed_record_raises_in_its_caller_only() -> None:
    async with emulator() as emu:
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url) as client:
            async with client.writer(COURSES, "upsert", id_property=KEY) as writer:
                results = await asyncio.gather(
                    writer.write(course(1)),
                    writer.write({"properties": {"level": "beginner"}}),  # no id
                    writer.write({**course(2), "idProperty": "level"}),  # not unique
                    writer.write(course(3)),
                    return_exceptions=True,
                )
                assert writer.pending == 0
    ok1, missing, not_unique, ok3 = results
    assert isinstance(missing, asyncbatch.InvalidInputError) and missing.field == "id"
    assert missing.position is None  # the caller wrote one record: no position to name
    assert isinstance(not_unique, asyncbatch.InvalidInputError)
    assert not_unique.field == "idProperty"
    assert isinstance(ok1, asyncbatch.WriteOutcome) and ok1.ok
    assert isinstance(ok3, asyncbatch.WriteOutcome) and ok3.ok


async def test_a_caller_cancelled_in_flight_does_not_lose_its_record() -> None:
    gate = Gate()
    async with emulator(gate) as emu:
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url) as client:
            async with client.writer(COURSES, "upsert", id_property=KEY) as writer:
                mine = asyncio.create_task(writer.write(course(1)))
                other = asyncio.create_task(writer.write(course(2)))
                await gate.arrived.wait()  # their chunk is at HubSpot
                mine.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await mine
                gate.release.set()
                answer = await other
                assert writer.pending == 0
        assert answer.ok
        assert gate.sizes == [2]
        assert emu.record(COURSES, "W00001", KEY)["properties"]["hs_course_name"] == "Course 1"


async def test_a_caller_cancelled_while_buffered_does_not_lose_its_record() -> None:
    async with emulator() as emu:
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url) as client:
            writer = client.writer(COURSES, "upsert", id_property=KEY, max_wait_seconds=LONG_WAIT)
            async with writer:
                mine = asyncio.create_task(writer.write(course(1)))
                other = asyncio.create_task(writer.write(course(2)))
                await wait_all_tasks_blocked()
                assert writer.pending == 2
                mine.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await mine
                await writer.flush()
                assert (await other).ok
        assert emu.record(COURSES, "W00001", KEY)["properties"]["level"] == LEVELS[1]


async def test_flush_sends_what_is_buffered_and_leaving_waits_for_every_outcome() -> None:
    gate = Gate()
    gate.release.set()
    async with emulator(gate) as emu:
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url) as client:
            writer = client.writer(COURSES, "upsert", id_property=KEY, max_wait_seconds=LONG_WAIT)
            async with writer:
                first = [asyncio.create_task(writer.write(course(n))) for n in range(3)]
                await wait_all_tasks_blocked()
                assert gate.sizes == [] and not any(t.done() for t in first)  # size, no time
                await writer.flush()
                assert gate.sizes == [3] and writer.pending == 0
                assert all(outcome.ok for outcome in await asyncio.gather(*first))
                later = [asyncio.create_task(writer.write(course(n))) for n in range(3, 5)]
                await wait_all_tasks_blocked()
                assert writer.pending == 2
            assert writer.pending == 0  # leaving flushed and waited for every outcome
            assert all(outcome.ok for outcome in await asyncio.gather(*later))
            assert gate.sizes == [3, 2]
            with pytest.raises(asyncbatch.ClientClosedError, match="BatchWriter is closed"):
                await writer.write(course(9))
            await writer.aclose()  # idempotent


async def test_write_waits_while_max_pending_records_wait() -> None:
    gate = Gate()
    gate.release.set()
    async with emulator(gate) as emu:
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url) as client:
            writer = client.writer(
                COURSES, "upsert", id_property=KEY, max_wait_seconds=LONG_WAIT, max_pending=2
            )
            async with writer:
                tasks = [asyncio.create_task(writer.write(course(n))) for n in range(3)]
                await wait_all_tasks_blocked()
                assert writer.pending == 2  # the third waits for room, not buffered
                await writer.flush()
                assert gate.sizes == [2]
                assert (await tasks[0]).ok and (await tasks[1]).ok
                await wait_all_tasks_blocked()
                assert writer.pending == 1 and not tasks[2].done()  # it got the room
            assert tasks[2].result().ok
            assert gate.sizes == [2, 1]


async def test_a_daily_stop_fails_every_waiting_caller_with_its_reason() -> None:
    async with emulator(daily_limit=1) as emu:
        client = asyncbatch.BatchClient(
            TOKEN, base_url=emu.url, chunk_size=2, check_properties="off"
        )
        writer = client.writer(COURSES, "upsert", id_property=KEY, max_wait_seconds=LONG_WAIT)
        async with client, writer:
            outcomes = await asyncio.gather(*(writer.write(course(n)) for n in range(5)))
            # The first chunk opens alone (the canary) and uses the day's one request; the
            # next is refused with DAILY; the fifth record, still buffered, is not sent.
            assert [o.ok for o in outcomes] == [True, True, False, False, False]
            for outcome in outcomes[2:]:
                failed = outcome.failed
                assert failed is not None and failed.stopped_run and not failed.final
                assert failed.category == "RATE_LIMIT" and "daily limit" in failed.reason
            assert outcomes[2].failed.sent and not outcomes[4].failed.sent  # type: ignore[union-attr]
            task = asyncio.create_task(writer.write(course(9)))
            await wait_all_tasks_blocked()
            await writer.flush()
            later = await task  # a later write is sent again (a new day?) and told
            assert later.failed is not None and later.failed.stopped_run and later.failed.sent
        assert emu.stats.rate_limited["DAILY"] == 2


async def test_closing_the_client_fails_every_waiting_caller() -> None:
    gate = Gate()
    async with emulator(gate) as emu:
        client = asyncbatch.BatchClient(TOKEN, base_url=emu.url, chunk_size=2)
        async with client:
            writer = client.writer(COURSES, "upsert", id_property=KEY)
            async with writer:
                tasks = [asyncio.create_task(writer.write(course(n))) for n in range(5)]
                await gate.arrived.wait()  # the first chunk is in flight, the rest wait
                await client.aclose()
                outcomes = [await t for t in tasks]
                assert writer.pending == 0
                with pytest.raises(asyncbatch.ClientClosedError):
                    await writer.write(course(9))
                with pytest.raises(asyncbatch.ClientClosedError):
                    await writer.flush()
        with pytest.raises(asyncbatch.ClientClosedError):
            client.writer(COURSES, "upsert", id_property=KEY)
    assert not any(o.ok for o in outcomes)
    for outcome in outcomes:
        assert outcome.failed is not None and outcome.failed.stopped_run
        assert "client was closed" in outcome.failed.reason
    assert outcomes[0].failed.sent and not outcomes[4].failed.sent  # type: ignore[union-attr]


async def test_several_writers_on_one_client() -> None:
    async with emulator() as emu:
        ids = emu.preload(COURSES, [{KEY: f"U{n}", "level": "beginner"} for n in range(3)])
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url) as client:
            async with (
                client.writer(COURSES, "update") as updates,
                client.writer(COURSES, "upsert", id_property=KEY) as upserts,
            ):
                outcomes = await asyncio.gather(
                    *(updates.write({"id": i, "properties": {"level": "advanced"}}) for i in ids),
                    *(upserts.write(course(n)) for n in range(3)),
                )
        assert all(o.ok for o in outcomes)
        assert {emu.record(COURSES, i)["properties"]["level"] for i in ids} == {"advanced"}
        assert emu.stats.total_requests == 3  # the schema read, one chunk per writer


async def test_arguments_and_lifecycle_are_checked() -> None:
    client = asyncbatch.BatchClient(TOKEN, base_url="http://127.0.0.1:1")
    bad: list[dict[str, Any]] = [
        {"operation": "create"},
        {"operation": "archive"},
        {"max_wait_seconds": 0},
        {"max_wait_seconds": -1.0},
        {"max_wait_seconds": float("nan")},
        {"max_wait_seconds": True},
        {"max_pending": 0},
        {"max_pending": 1.5},
        {"id_property": ""},
        {"object_type": "no/slash"},
    ]
    for override in bad:
        arguments: dict[str, Any] = {"object_type": COURSES, "operation": "upsert", **override}
        with pytest.raises(asyncbatch.InvalidInputError):
            client.writer(arguments.pop("object_type"), arguments.pop("operation"), **arguments)
    writer = client.writer(COURSES, "upsert", id_property=KEY)
    with pytest.raises(asyncbatch.ClientClosedError, match="async with"):
        await writer.write(course(1))
    await client.aclose()
    with pytest.raises(asyncbatch.ClientClosedError):
        async with writer:
            pass


async def test_only_the_first_context_opens_on_the_definitions_read() -> None:
    # The definitions read proves the token and the object type, so the writer's first
    # context opens without a canary (issue 19); one started after a stop (a 401, the day's
    # limit) checks against the same definitions but opens with a canary again.
    async with emulator() as emu:
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url, check_properties="on") as client:
            async with client.writer(COURSES, "upsert", id_property=KEY) as writer:
                assert (await writer.write(course(1))).ok
                first = writer._ctx
                later = writer._new_context()
                try:
                    assert first.schema is not None and first.gate.is_set()
                    assert later.schema is first.schema and not later.gate.is_set()
                finally:
                    client._done(later)
