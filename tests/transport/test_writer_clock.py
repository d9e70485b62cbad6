"""``BatchWriter`` on a MockTransport and the client's injected clock (``FakeClock``: ``sleep``
advances ``now``): a lone record leaves once it has waited ``max_wait_seconds``, a full chunk
at once; an internal error answers its callers instead of leaving them waiting."""

from __future__ import annotations

import asyncio

import orjson
import pytest

import asyncbatch
import asyncbatch._writer
from tests.fakes import FakeClock, batch_body, echo_results

pytestmark = pytest.mark.asyncio


class Server:
    """Answers every upsert like HubSpot; notes when (on the fake clock) and how many inputs."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.requests: list[tuple[float, int]] = []

    async def __call__(self, url: str, body: bytes) -> asyncbatch.RawResponse:
        inputs = orjson.loads(body)["inputs"]
        self.requests.append((self.clock.now, len(inputs)))
        payload = batch_body(echo_results(inputs, upsert=True))
        return asyncbatch.RawResponse(200, {}, orjson.dumps(payload))


def client_on(clock: FakeClock, server: Server, **options: int) -> asyncbatch.BatchClient:
    return asyncbatch.BatchClient(
        transport=asyncbatch.MockTransport(server),
        base_url="https://api.example.test",
        clock=clock,
        sleep=clock.sleep,
        check_properties="off",
        **options,
    )


def record(n: int) -> dict[str, object]:
    return {"id": f"K{n}", "properties": {"name": f"n{n}"}, "idProperty": "key"}


async def test_a_lone_record_leaves_once_it_has_waited_max_wait_seconds() -> None:
    clock = FakeClock()
    server = Server(clock)
    async with client_on(clock, server) as client:
        async with client.writer("0-410", "upsert", max_wait_seconds=0.25) as writer:
            start = clock.now
            outcome = await writer.write(record(1))
    assert outcome.ok
    assert server.requests == [(start + 0.25, 1)]


async def test_a_full_chunk_leaves_without_waiting() -> None:
    clock = FakeClock()
    server = Server(clock)
    async with client_on(clock, server, chunk_size=3) as client:
        async with client.writer("0-410", "upsert", max_wait_seconds=0.25) as writer:
            start = clock.now
            outcomes = await asyncio.gather(*(writer.write(record(n)) for n in range(3)))
    assert all(o.ok for o in outcomes)
    assert server.requests == [(start, 3)]
    assert 0.25 not in clock.sleeps  # nobody waited for the deadline


async def test_an_internal_error_answers_every_caller_and_the_writer_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    server = Server(clock)
    merge = asyncbatch._writer.merge_outcomes

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("boom")

    async with client_on(clock, server) as client:
        async with client.writer("0-410", "upsert") as writer:
            monkeypatch.setattr(asyncbatch._writer, "merge_outcomes", broken)
            outcomes = await asyncio.gather(*(writer.write(record(n)) for n in range(3)))
            monkeypatch.setattr(asyncbatch._writer, "merge_outcomes", merge)
            after = await writer.write(record(9))
    for outcome in outcomes:
        assert not outcome.ok and outcome.failed is not None
        assert "internal error while answering: RuntimeError: boom" in outcome.failed.reason
        assert outcome.failed.sent  # its request left: it may have been written
    assert after.ok
