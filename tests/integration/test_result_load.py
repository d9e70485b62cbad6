"""``BatchResult.load()`` (issue 16): a large call's result objects built without stalling the
event loop, equal to what ``results`` builds at once. In-process transport (``MockTransport``
echoing each chunk); the slice is set to zero so the loop's turns do not depend on the
machine's speed."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import orjson
import pytest

import asyncbatch
import asyncbatch._models
import asyncbatch._steps
from tests.fakes import batch_body, echo_results, inputs_of

pytestmark = pytest.mark.asyncio


async def _answer(url: str, body: bytes) -> asyncbatch.RawResponse:
    results = echo_results(inputs_of(body), upsert=True)
    return asyncbatch.RawResponse(200, {}, orjson.dumps(batch_body(results)))


def _records(n: int) -> list[dict[str, Any]]:
    return [{"id": f"c{i}", "properties": {"title": f"t{i}"}} for i in range(n)]


async def _upsert(n: int) -> asyncbatch.BatchResult:
    async with asyncbatch.BatchClient(
        transport=asyncbatch.MockTransport(_answer), check_properties="off"
    ) as client:
        return await client.upsert("0-410", _records(n), id_property="code")


async def test_load_gives_the_loop_turns_and_builds_what_results_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(asyncbatch._steps, "SLICE_SECONDS", 0.0)
    loaded, eager = await _upsert(1000), await _upsert(1000)
    ticks = 0
    done = anyio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as group:
        group.start_soon(ticker)
        await anyio.lowlevel.checkpoint()  # the ticker is running
        before = ticks
        built = await loaded.load()
        during = ticks - before
        done.set()
    assert during >= 1000 // asyncbatch._models._LOAD_STEP - 1  # a turn between slices
    assert loaded.results is built  # kept: ``results`` is the loaded list
    assert await loaded.load() is built
    assert [(r.id, r.properties, r.new) for r in built] == [
        (r.id, r.properties, r.new) for r in eager.results
    ]
    assert [r.properties["title"] for r in built] == [f"t{i}" for i in range(1000)]


async def test_results_read_while_loading_are_the_ones_load_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(asyncbatch._steps, "SLICE_SECONDS", 0.0)
    result = await _upsert(600)
    read: list[list[asyncbatch.SimplePublicObject]] = []

    async def reader() -> None:
        read.append(result.results)  # another task, while load() gives the loop a turn

    async with anyio.create_task_group() as group:
        group.start_soon(reader)
        built = await result.load()
    assert read[0] is built
    assert result.results is built
    assert len(built) == 600
