"""Never stall the event loop (issue 16 item 2): planning and merging give the loop a turn
every few milliseconds. Asserted as behaviour (a ticker task ran during planning and during
merging), never as a millisecond figure a slow machine could miss; the figures are in
benchmarks/."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import orjson
import pytest

import asyncbatch
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
