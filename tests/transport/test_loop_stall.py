"""Never stall the event loop (issue 16 item 2): planning and merging give the loop a turn
every few milliseconds. Asserted as behaviour (a ticker task ran during planning and during
merging), never as a millisecond figure a slow machine could miss; the figures are in
benchmarks/."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.lowlevel
import orjson
import pytest

import asyncbatch
import asyncbatch._steps
from asyncbatch._plan import Plan, PlannedInput
from asyncbatch._schedule import release_steps
from asyncbatch._steps import LoopTurns, cooperatively
from tests.fakes import batch_body, echo_results

pytestmark = pytest.mark.asyncio


class _Phases:
    """Ticks counted before the first request (planning) and after the last answer."""

    def __init__(self) -> None:
        self.ticks = 0
        self.first_request_at: int | None = None
        self.requests = 0

    async def handler(self, url: str, body: bytes) -> asyncbatch.RawResponse:
        if self.first_request_at is None:
            self.first_request_at = self.ticks
        self.requests += 1
        inputs = orjson.loads(body)["inputs"]
        payload = batch_body(echo_results(inputs, upsert=True))
        return asyncbatch.RawResponse(200, {}, orjson.dumps(payload))


async def test_the_loop_runs_while_a_large_call_is_planned_and_merged() -> None:
    phases = _Phases()
    records: list[dict[str, Any]] = [
        {"id": f"k{i}", "properties": {f"p{j}": str(i + j) for j in range(10)}}
        for i in range(60_000)
    ]
    client = asyncbatch.BatchClient(
        transport=asyncbatch.MockTransport(phases.handler),
        rate_limit=asyncbatch.RateLimit(1_000_000, 1.0),
        check_properties="off",
    )
    result: list[asyncbatch.BatchResult] = []
    after_last_answer = 0

    async def ticker() -> None:
        while True:
            phases.ticks += 1
            await anyio.lowlevel.checkpoint()

    async with client, anyio.create_task_group() as group:
        group.start_soon(ticker)
        result.append(await client.upsert("0-410", records, id_property="code"))
        after_last_answer = phases.ticks
        group.cancel_scope.cancel()
    assert phases.requests == 600
    assert len(result[0].results) == 60_000
    # Planning 60,000 records takes far longer than one slice: the ticker ran meanwhile.
    assert phases.first_request_at is not None and phases.first_request_at > 5
    assert after_last_answer > phases.first_request_at


async def test_a_transport_answering_at_once_still_lets_the_loop_run_between_chunks() -> None:
    # MockTransport answers within the caller's own callback: no await of a chunk's journey
    # waits. The first call on an endpoint queues its tries behind the canary, which gave
    # the loop turns by accident; once the endpoint answered, a call opens without one, and
    # its workers sent and merged every chunk in one callback (452 ms for 100,000 records).
    ticks = 0
    at_request: list[int] = []

    async def handler(url: str, body: bytes) -> asyncbatch.RawResponse:
        at_request.append(ticks)
        inputs = orjson.loads(body)["inputs"]
        return asyncbatch.RawResponse(200, {}, orjson.dumps(batch_body(echo_results(inputs))))

    records = [
        {"id": f"k{i}", "properties": {f"p{j}": str(i + j) for j in range(10)}}
        for i in range(20_000)
    ]
    client = asyncbatch.BatchClient(
        transport=asyncbatch.MockTransport(handler),
        rate_limit=asyncbatch.RateLimit(1_000_000, 1.0),
        check_properties="off",
    )

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.lowlevel.checkpoint()

    async with client, anyio.create_task_group() as group:
        group.start_soon(ticker)
        await client.update("0-410", records[:100])  # the endpoint answers: no canary after
        at_request.clear()
        result = await client.update("0-410", records)
        group.cancel_scope.cancel()
    assert result.ok and len(at_request) == 200
    # 200 chunks, each encoded, answered, read and merged: far more than one slice of work.
    assert at_request[-1] > at_request[0]


# The longest stalls of a large call were the garbage collector's full collections (issue 16:
# 19 of them, up to 0.4 s each, in one upsert() of 1,000,000 records). What feeds them is the
# number of objects the collector must track and promote: the two properties below keep a
# call's own share of that from growing with its records. Counted, not timed.


def _tracked() -> int:
    gc.collect()
    return len(gc.get_objects())


async def test_a_large_result_keeps_no_tracked_object_per_record() -> None:
    records = [{"id": f"k{i}", "properties": {"p": str(i)}} for i in range(5_000)]
    client = asyncbatch.BatchClient(
        transport=asyncbatch.MockTransport(_Phases().handler),
        rate_limit=asyncbatch.RateLimit(1_000_000, 1.0),
        check_properties="off",
    )
    async with client:
        before = _tracked()
        result = await client.upsert("0-410", records, id_property="code")
        kept = _tracked() - before
    assert len(result.results) == 5_000  # built on access: every record is there
    # Kept unbuilt, the 5,000 results are columns of strings and untracked dicts: a few
    # objects per chunk (50 chunks) at most, not one per record.
    assert kept < 1_000, kept


async def test_young_collections_never_walk_the_calls_results() -> None:
    # A young collection walks every reference held by a young container. The results were
    # kept in pages of seven lists made as answers came in: young until the collector had
    # seen them twice, and collections are rare while a call merges (the answers' dicts
    # are freed as fast as they are made), so pages piled up young. In upsert() of
    # 1,000,000 records, collections walking them took 10-22 ms (young) and 36-100 ms
    # (middle), holding the loop. Now a full page is sealed into strings and arrays, and the
    # answers' property dicts are one list made before planning, whose collections age it.
    # Counted, not timed: the references the young containers hold at each collection
    # (the current page and the chunks in flight). With the old columns, 120,000 records:
    # 259,707 at one collection; now about 38,000.
    records = [
        {"id": f"k{i}", "properties": {f"p{j}": str(i + j) for j in range(5)}}
        for i in range(120_000)
    ]
    client = asyncbatch.BatchClient(
        transport=asyncbatch.MockTransport(_Phases().handler),
        rate_limit=asyncbatch.RateLimit(1_000_000, 1.0),
        check_properties="off",
    )
    walked: list[int] = []

    def young_references(phase: str, info: dict[str, int]) -> None:
        generation = info["generation"]
        if phase == "start" and generation < 2:
            young = [o for g in range(generation + 1) for o in gc.get_objects(g)]
            walked.append(sum(len(o) for o in young if type(o) in (list, tuple, dict)))

    async with client:
        gc.callbacks.append(young_references)
        try:
            result = await client.upsert("0-410", records, id_property="code")
        finally:
            gc.callbacks.remove(young_references)
    assert result.ok and result.result_positions[119_999] == (119_999,)
    assert walked  # the collector ran during the call
    assert max(walked) < 100_000, max(walked)


_DEFINITIONS = {  # HubSpot's property definitions (GET /crm/v3/properties/{objectType})
    "results": [
        {"name": "code", "type": "string", "fieldType": "text", "hasUniqueValue": True},
        {"name": "p", "type": "string", "fieldType": "text"},
    ]
}


async def _definitions(url: str) -> asyncbatch.RawResponse:
    return asyncbatch.RawResponse(200, {}, orjson.dumps(_DEFINITIONS))


@pytest.mark.parametrize("check", ["off", "on"])
async def test_a_chunk_in_flight_holds_no_object_per_record(check: str) -> None:
    alive: list[int] = []
    phases = _Phases()

    async def handler(url: str, body: bytes) -> asyncbatch.RawResponse:
        gc.collect()
        alive.append(sum(type(o) is PlannedInput for o in gc.get_objects()))
        return await phases.handler(url, body)

    records = [{"id": f"k{i}", "properties": {"p": str(i)}} for i in range(1_000)]
    client = asyncbatch.BatchClient(
        transport=asyncbatch.MockTransport(handler, get_handler=_definitions),
        rate_limit=asyncbatch.RateLimit(1_000_000, 1.0),
        check_properties=check,  # a chunk whose values all passed is the plan's own
        max_concurrency=1,
    )
    async with client:
        result = await client.upsert("0-410", records, id_property="code")
    assert result.ok and phases.requests == 10
    # While its request is out, a chunk has encoded its inputs and let their objects go
    # (built again to merge the answer). Checked against the definitions, the next chunk's
    # are built while it waits for the slot; no more.
    assert alive == [0] * 10 if check == "off" else max(alive) <= 100


class _StillTime:
    @staticmethod
    def perf_counter() -> float:
        return 0.0


class _Checkpoints:
    """Counts the turns the code under test gives the loop (``anyio.lowlevel.checkpoint``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._real = anyio.lowlevel.checkpoint
        monkeypatch.setattr(anyio.lowlevel, "checkpoint", self)

    async def __call__(self) -> None:
        self.count += 1
        await self._real()


async def test_a_small_call_is_released_without_a_turn_for_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each of a plan's six lists was freed with a checkpoint of its own: six loop passes at
    # the end of every call, an upsert of one record included.
    checkpoints = _Checkpoints(monkeypatch)
    # A clock that stands still: no slice ends, so any turn would be the release's own (and a
    # busy CI machine pausing this test for a millisecond cannot make one).
    monkeypatch.setattr(asyncbatch._steps, "time", _StillTime())
    lists: list[list[Any]] = [[{"p": str(n)} for n in range(10)] for _ in range(6)]
    await cooperatively(release_steps(lists))
    assert lists == [[]] * 6
    assert checkpoints.count == 0


async def test_a_large_release_gives_the_loop_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    # Freeing 300,000 dicts takes far more than one slice (1 ms) on any machine: the loop got
    # turns in between, and everything was freed.
    checkpoints = _Checkpoints(monkeypatch)
    lists: list[list[Any]] = [[{"p": str(n)} for n in range(300_000)]]
    await cooperatively(release_steps(lists))
    assert lists == [[]]
    assert checkpoints.count > 0


async def test_a_call_lets_each_chunks_records_go_once_it_is_merged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Issue 19: a call's end (after its last answer) freed every planned record at once, 2-8
    # ms of an upsert of 20,000. Each chunk's property dicts now go once it is merged, while
    # the later chunks are still on their way.
    forgotten: list[Sequence[int]] = []
    forget = Plan.forget

    def recording(plan: Plan, indexes: Sequence[int]) -> None:
        forgotten.append(indexes)
        forget(plan, indexes)

    monkeypatch.setattr(Plan, "forget", recording)
    seen: list[int] = []

    async def handler(url: str, body: bytes) -> asyncbatch.RawResponse:
        seen.append(len(forgotten))
        inputs = orjson.loads(body)["inputs"]
        return asyncbatch.RawResponse(200, {}, orjson.dumps(batch_body(echo_results(inputs))))

    client = asyncbatch.BatchClient(
        transport=asyncbatch.MockTransport(handler),
        max_concurrency=1,
        check_properties="off",
    )
    records = [{"id": str(n), "properties": {"p": str(n)}} for n in range(250)]
    async with client:
        result = await client.update("0-410", records)
    assert result.ok and len(result.results) == 250
    assert result.results[249].properties == {"p": "249"}
    assert seen == [0, 1, 2]  # the chunks before each request had been let go
    assert [list(i) for i in forgotten] == [
        list(range(0, 100)),
        list(range(100, 200)),
        list(range(200, 250)),
    ]


class _LeapingTime:
    """A clock a second later at every look: every slice is spent at once."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 1.0
        return self.now


async def test_loop_turns_cost_no_turn_while_the_slice_lasts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checkpoints = _Checkpoints(monkeypatch)
    monkeypatch.setattr(asyncbatch._steps, "time", _StillTime())
    turns = LoopTurns()
    for _ in range(10):
        await turns.give()  # work units that all fit in one slice (a clock standing still)
    assert checkpoints.count == 0


async def test_loop_turns_hold_every_sharer_until_the_loop_had_its_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two workers share one LoopTurns (a call's workers do) and every unit of work spends the
    # slice (a clock leaping a second a look). Between two passes of the loop (the ticker's
    # "|"), one unit is done in all, not one per worker: a worker resumed after the other
    # spent the slice waits for the next pass before working.
    monkeypatch.setattr(asyncbatch._steps, "time", _LeapingTime())
    turns = LoopTurns()
    log: list[str] = []

    async def worker(name: str) -> None:
        for _ in range(3):
            log.append(name)
            await turns.give()

    async def ticker() -> None:
        for _ in range(8):
            log.append("|")
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as group:
        group.start_soon(ticker)
        group.start_soon(worker, "a")
        group.start_soon(worker, "b")
    passes = "".join(log).split("|")[1:]
    assert sorted("".join(passes)) == list("aaabbb")
    # The first pass: "a" opens the slice and spends it in its second unit; "b" does its
    # first unit before its first look. After that, one unit a pass ("|aab|a||b|b|||").
    assert passes[0] == "aab", passes
    assert all(len(units) <= 1 for units in passes[1:]), passes
