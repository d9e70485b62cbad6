"""A request counts against the rolling window from when it left, over real HTTP.

HubSpot counts a request when it *arrives* (its "Rate limits" guide: a rolling window of
requests made; the emulator counts at arrival too). The limiter lets a request start before
the transport has a connection, and a new connection (TCP, TLS) or a busy loop can hold its
headers back by more than the safety margin. Before this was counted, the rate-bound benchmark
(10 per 1 s, 8 in flight) sent the 9th and 10th request of each window 20-45 ms after their
limiter start, while the loop read the window's first answers, and collected 3-5 429s a run.

These tests use a clock that moves on every reading, so "left later than it started" is true of
every request and the moves can be checked exactly; they assert what the limiter was told and
counts, never how long anything took.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import pytest_asyncio

import asyncbatch
from asyncbatch import RateLimit, RateLimitInfo, RollingWindowLimiter
from asyncbatch.emulator import Emulator, EmulatorConfig, PropertyDef
from tests.fakes import batch_body, echo_results, inputs_of

pytestmark = pytest.mark.asyncio

TOKEN = "sent-token"


class Ticking:
    """A clock that moves 1 ms on every reading, and a sleep that moves it (never waits)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


class Recording(RollingWindowLimiter):
    """The in-memory limiter, recording what it was told."""

    def __init__(self, rate: RateLimit, clock: Ticking) -> None:
        super().__init__(rate, clock=clock, sleep=clock.sleep)
        self.moves: list[tuple[float, float]] = []
        self.observed: list[float | None] = []
        self.acquired: list[float] = []

    async def acquire(self) -> None:
        await super().acquire()
        self.acquired.append(self._starts[-1])

    def sent(self, started: float, at: float) -> None:
        self.moves.append((started, at))
        super().sent(started, at)

    def observe(self, info: RateLimitInfo, *, started: float | None = None) -> None:
        self.observed.append(started)
        super().observe(info, started=started)

    @property
    def starts(self) -> list[float]:
        return list(self._starts)


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[Emulator]:
    config = EmulatorConfig(
        token=TOKEN,
        rate_limit_requests=1000,
        properties={"0-410": (PropertyDef("code", has_unique_value=True),)},
    )
    async with Emulator(config) as emu:
        yield emu


def _records(count: int) -> list[dict[str, Any]]:
    return [{"id": f"c{n}", "properties": {"code": f"c{n}"}} for n in range(count)]


async def test_every_request_is_counted_from_when_its_headers_left(emulator: Emulator) -> None:
    clock = Ticking()
    limiter = Recording(RateLimit(1000, 10.0), clock)
    async with asyncbatch.BatchClient(
        TOKEN, base_url=emulator.url, limiter=limiter, clock=clock, sleep=clock.sleep
    ) as client:
        result = await client.upsert("0-410", _records(450), id_property="code")
    assert len(result.results) == 450
    requests = emulator.stats.total_requests
    assert requests == 6  # the property definitions, then 5 chunks
    # Each request left after its start. A POST was told twice: as it was sent on its
    # connection, then as its body (with the headers aiohttp buffers for it) was written,
    # which on Python 3.11 is a task of its own; the GET, which has no body, once.
    assert len(limiter.moves) == requests + 5
    assert all(at > started for started, at in limiter.moves)
    # It counts each request from when it left (its last move), and learnt from each answer
    # as of then.
    moved_again = {started for started, _ in limiter.moves}
    last = sorted(at for _, at in limiter.moves if at not in moved_again)
    assert len(last) == requests
    assert sorted(limiter.starts) == last
    assert sorted(s for s in limiter.observed if s is not None) == sorted(limiter.starts)


async def test_a_transport_that_does_not_tell_leaves_the_start_as_it_was() -> None:
    clock = Ticking()
    limiter = Recording(RateLimit(1000, 10.0), clock)

    async def answer(url: str, body: bytes) -> asyncbatch.RawResponse:
        results = echo_results(inputs_of(body), upsert=True)
        return asyncbatch.RawResponse(200, {}, orjson.dumps(batch_body(results)))

    async with asyncbatch.BatchClient(
        TOKEN,
        transport=asyncbatch.MockTransport(answer),
        limiter=limiter,
        clock=clock,
        sleep=clock.sleep,
        check_properties="off",
    ) as client:
        result = await client.upsert("0-410", _records(250), id_property="code")
    assert len(result.results) == 250
    assert limiter.moves == []
    assert len(limiter.acquired) == 3
    assert limiter.starts == limiter.acquired  # counted from the limiter's own start
