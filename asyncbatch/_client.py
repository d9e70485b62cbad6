"""``BatchClient``: the one orchestrator. Does network I/O (through a ``Transport``).

A call runs: plan (pure) -> workers in an anyio task group, each taking the next chunk ->
concurrency slot -> rate limiter -> transport -> decipher (pure) -> retry decision (pure) ->
merge (pure). A stream runs the same workers fed by a reader task through a rendezvous
channel, so input is read only as fast as chunks go out. A chunk that fails becomes a failed
outcome; it never cancels its siblings. Concurrent calls on one client share its session,
its concurrency cap and its rate limiter.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import os
import random
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable
from types import TracebackType
from typing import Self

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._exceptions import (
    APIError,
    AsyncBatchError,
    ClientClosedError,
    InvalidInputError,
    LimiterUnavailableError,
    RateLimitError,
    TransportError,
)
from ._limits import Clock, RateLimit, RateLimiter, RollingWindowLimiter, Sleep
from ._merge import ChunkOutcome, merge_outcomes
from ._models import BatchResult, RunStats
from ._plan import (
    Chunk,
    Key,
    Operation,
    StreamPlanner,
    check_records_argument,
    plan_chunks,
    record_key,
    validate_chunk_size,
    validate_id_property,
    validate_object_type,
)
from ._protocol import RateLimitInfo, decipher_response, encode_inputs
from ._redis_limiter import RedisWindowLimiter
from ._retry import Action, RetryPolicy, decide
from ._transport import AiohttpTransport, Transport, check_base_url

__all__ = ["DEFAULT_BASE_URL", "BatchClient"]

logger = logging.getLogger("asyncbatch")

DEFAULT_BASE_URL = "https://api.hubapi.com"
_VERSION = "0.1.0"


@attrs.define
class _Counters:
    """What one call (or one streamed chunk) did on the wire."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    split_requests: int = 0


@attrs.define
class _Stop:
    """Set once by the first error that must stop the whole run (DAILY 429, 401/403, the
    shared limiter's Redis gone)."""

    error: AsyncBatchError | None = None

    def set(self, error: AsyncBatchError) -> None:
        """Record ``error`` as the stop, unless an earlier one already stopped the run."""
        if self.error is None:
            self.error = error
            logger.warning("stopping the run: %s", error)


@attrs.frozen
class _Dispatch:
    """A streamed chunk, the chunks before it that name the same records, and its own done
    signal: a record is never in two requests at once, so later properties still win."""

    chunk: Chunk
    after: tuple[anyio.Event, ...]
    done: anyio.Event


def _records_of(records: object) -> AsyncIterator[object]:
    check_records_argument(records)
    if isinstance(records, AsyncIterable):
        return aiter(records)
    if isinstance(records, Iterable):

        async def from_sync() -> AsyncIterator[object]:
            for record in records:
                yield record

        return from_sync()
    raise InvalidInputError(
        f"records must be an iterable or async iterable, got {type(records).__name__}"
    )


class BatchClient:
    """Asyncio client for HubSpot's CRM v3 batch update and upsert endpoints.

    Use it as an async context manager (or call ``aclose()``). One client may serve many
    concurrent calls; they share its connection pool, concurrency cap and rate limiter.

    Args:
        access_token: a private-app or OAuth access token; default ``$HUBSPOT_ACCESS_TOKEN``.
        base_url: ``https://api.hubapi.com`` by default; plain ``http://`` only to loopback.
        max_concurrency: at most this many requests in flight.
        rate_limit: at most ``requests`` starts per ``per_seconds`` rolling window.
        chunk_size: inputs per request, 1..100.
        retry: which failures retry, how often, how long to wait.
        timeout_seconds: the limit on each request, from send to the answer's last byte.
        transport: replaces the aiohttp transport (tests, dry runs).
        limiter: replaces the limiter built from ``rate_limit`` (in memory, or shared through
            Redis when ``rate_limit.redis_url`` is set).
        clock, sleep: the monotonic clock and sleep the limiter and backoff use (tests).
        seed: seeds the backoff jitter, for reproducible runs.

    Raises:
        InvalidInputError: a bad argument, or no token anywhere (or ``redis_url`` without
            the ``redis`` extra).
    """

    def __init__(
        self,
        access_token: str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        max_concurrency: int = 10,
        rate_limit: RateLimit | None = None,
        chunk_size: int = 100,
        retry: RetryPolicy | None = None,
        timeout_seconds: float = 30.0,
        transport: Transport | None = None,
        limiter: RateLimiter | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        seed: int | None = None,
    ) -> None:
        if (
            isinstance(max_concurrency, bool)
            or not isinstance(max_concurrency, int)
            or (max_concurrency < 1)
        ):
            raise InvalidInputError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
        if not isinstance(timeout_seconds, int | float) or not (
            math.isfinite(timeout_seconds) and timeout_seconds > 0
        ):
            raise InvalidInputError(f"timeout_seconds must be > 0, got {timeout_seconds!r}")
        self._base_url = check_base_url(base_url)
        self._chunk_size = validate_chunk_size(chunk_size)
        self._max_concurrency = max_concurrency
        self._timeout = float(timeout_seconds)
        self._retry = retry if retry is not None else RetryPolicy()
        self._rate = rate_limit if rate_limit is not None else RateLimit()
        self._clock: Clock = clock or time.monotonic
        self._sleep: Sleep = sleep or anyio.sleep
        self._rng = random.Random(seed)
        self._owns_limiter = limiter is None
        if limiter is None:
            if self._rate.redis_url is not None:
                limiter = RedisWindowLimiter(self._rate, clock=self._clock, sleep=self._sleep)
            else:
                limiter = RollingWindowLimiter(self._rate, clock=self._clock, sleep=self._sleep)
        self._limiter: RateLimiter = limiter
        self._capacity = anyio.CapacityLimiter(max_concurrency)
        if transport is None:
            token = (
                access_token if access_token is not None else os.environ.get("HUBSPOT_ACCESS_TOKEN")
            )
            if not token or not isinstance(token, str) or not token.strip():
                raise InvalidInputError(
                    "no access token: pass access_token=... or set HUBSPOT_ACCESS_TOKEN"
                )
            if any(c in token for c in "\r\n"):
                raise InvalidInputError("access_token must be a single line")
            transport = AiohttpTransport(
                token=token.strip(),
                max_connections=max_concurrency,
                user_agent=f"asyncbatch/{_VERSION}",
            )
        self._transport = transport
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"BatchClient(base_url={self._base_url!r}, max_concurrency={self._max_concurrency}, "
            f"rate_limit={self._rate!r}, chunk_size={self._chunk_size})"
        )

    @property
    def closed(self) -> bool:
        """True once ``aclose()`` has run."""
        return self._closed

    async def __aenter__(self) -> Self:
        """Raises ``LimiterUnavailableError`` if a shared (Redis) limiter cannot be reached."""
        self._check_open()
        try:
            await self._start_limiter()
        except BaseException:
            await self.aclose()  # __aexit__ will not run
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool. Idempotent; the client cannot be used afterwards."""
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            await self._transport.aclose()
            limiter_aclose = getattr(self._limiter, "aclose", None)
            if self._owns_limiter and limiter_aclose is not None:
                await limiter_aclose()

    async def _start_limiter(self) -> None:
        # A limiter with a start() (the Redis one) is checked before anything is sent, so an
        # unreachable Redis is a clear error rather than a run of unsent inputs.
        start = getattr(self._limiter, "start", None)
        if start is not None:
            await start()

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("this BatchClient is closed; create a new one")

    async def update(
        self,
        object_type: str,
        records: Iterable[object],
        *,
        id_property: str | None = None,
    ) -> BatchResult:
        """Update records of ``object_type`` in batches; return one aggregate ``BatchResult``.

        ``records`` are dicts in HubSpot's input shape (``{"id", "properties", "idProperty"?,
        "objectWriteTraceId"?}``) or ``BatchInput``. ``id`` is the record id, or the value of
        the unique property ``id_property`` (per call, or per record as ``idProperty``).

        Raises:
            InvalidInputError: a bad argument or record, before anything is sent.
            ClientClosedError: the client is closed.
            LimiterUnavailableError: the shared (Redis) limiter cannot be reached at the
                start, before anything is sent. If it fails mid-run, the run stops and this
                error is the result's ``stop_error``.
        """
        return await self._call("update", object_type, records, id_property)

    async def upsert(
        self,
        object_type: str,
        records: Iterable[object],
        *,
        id_property: str | None = None,
    ) -> BatchResult:
        """Create or update records of ``object_type`` keyed by the unique ``id_property``.

        Every record needs an id property: ``id_property=`` for the call or ``idProperty`` in
        the record. Returns one ``BatchResult`` whose results carry ``new``.

        Raises:
            InvalidInputError: a bad argument or record, before anything is sent.
            ClientClosedError: the client is closed.
            LimiterUnavailableError: the shared (Redis) limiter cannot be reached at the
                start, before anything is sent. If it fails mid-run, the run stops and this
                error is the result's ``stop_error``.
        """
        return await self._call("upsert", object_type, records, id_property)

    def stream_update(
        self,
        object_type: str,
        records: Iterable[object] | AsyncIterable[object],
        *,
        id_property: str | None = None,
    ) -> AsyncGenerator[BatchResult, None]:
        """Update records read from an iterable or async iterable, chunk by chunk.

        Yields one ``BatchResult`` per chunk as chunks finish (not in input order); positions
        in it count from the first record read. Input is read only as fast as it is sent, so
        memory stays bounded however long the input. Duplicates are coalesced within the
        chunk being filled, and a record is never in two requests at once.

        Use ``contextlib.aclosing`` (or exhaust the iterator) so that breaking out early
        stops the work at once.

        Raises:
            InvalidInputError: a bad record, after the chunks read before it have finished
                and been yielded (nothing read is left unaccounted for).
            ClientClosedError: the client is closed.
            LimiterUnavailableError: the shared (Redis) limiter cannot be reached at the
                start, before anything is sent. If it fails mid-run, the run stops and this
                error is the result's ``stop_error``.
        """
        return self._stream("update", object_type, records, id_property)

    def stream_upsert(
        self,
        object_type: str,
        records: Iterable[object] | AsyncIterable[object],
        *,
        id_property: str | None = None,
    ) -> AsyncGenerator[BatchResult, None]:
        """Upsert records read from an iterable or async iterable, chunk by chunk.

        As ``stream_update``; every record needs an id property (``id_property=`` or the
        record's ``idProperty``).
        """
        return self._stream("upsert", object_type, records, id_property)

    async def _call(
        self,
        operation: Operation,
        object_type: str,
        records: Iterable[object],
        id_property: str | None,
    ) -> BatchResult:
        self._check_open()
        validate_object_type(object_type)
        plan = plan_chunks(
            records,
            operation=operation,
            id_property=id_property,
            chunk_size=self._chunk_size,
            trace_prefix=f"ab{secrets.token_hex(4)}",
        )
        await self._start_limiter()
        url = self._url(object_type, operation)
        counters = _Counters()
        stop = _Stop()
        outcomes: list[ChunkOutcome] = []
        started_wall = dt.datetime.now(dt.UTC)
        started = self._clock()
        pending = iter(plan.chunks)
        upsert = operation == "upsert"

        async def worker() -> None:
            for chunk in pending:
                outcomes.extend(await self._guarded(chunk, url, counters, stop, upsert=upsert))

        if plan.chunks:
            async with anyio.create_task_group() as group:
                for _ in range(min(self._max_concurrency, len(plan.chunks))):
                    group.start_soon(worker)
        stats = self._stats(
            counters,
            inputs=plan.inputs,
            records=len(plan.items),
            coalesced=plan.coalesced,
            chunks=len(plan.chunks),
            started=started,
        )
        result = merge_outcomes(
            plan.items,
            outcomes,
            stats=stats,
            started_at=started_wall,
            completed_at=dt.datetime.now(dt.UTC),
            stop_error=stop.error,
        )
        logger.info(
            "%s %s: %d inputs, %d written, %d failed, %d requests, %d retries, %.2f s",
            operation,
            object_type,
            plan.inputs,
            len(result.results),
            len(result.failed),
            counters.requests,
            counters.retries,
            stats.elapsed_seconds,
        )
        return result

    def _url(self, object_type: str, operation: Operation) -> str:
        return f"{self._base_url}/crm/v3/objects/{object_type}/batch/{operation}"

    def _stats(
        self,
        counters: _Counters,
        *,
        inputs: int,
        records: int,
        coalesced: int,
        chunks: int,
        started: float,
    ) -> RunStats:
        return RunStats(
            inputs=inputs,
            records=records,
            coalesced=coalesced,
            chunks=chunks,
            requests=counters.requests,
            retries=counters.retries,
            rate_limited=counters.rate_limited,
            split_requests=counters.split_requests,
            elapsed_seconds=self._clock() - started,
        )

    async def _stream(
        self,
        operation: Operation,
        object_type: str,
        records: Iterable[object] | AsyncIterable[object],
        id_property: str | None,
    ) -> AsyncGenerator[BatchResult, None]:
        self._check_open()
        validate_object_type(object_type)
        if id_property is not None:
            validate_id_property(id_property)
        source = _records_of(records)
        await self._start_limiter()
        planner = StreamPlanner(
            operation=operation,
            id_property=id_property,
            chunk_size=self._chunk_size,
            trace_prefix=f"ab{secrets.token_hex(4)}",
        )
        send, receive = anyio.create_memory_object_stream[BatchResult](self._max_concurrency)
        # The pump runs in its own task so that nothing here yields inside a task group (an
        # async generator must not); closing the generator cancels it.
        pump = asyncio.create_task(
            self._pump(operation, object_type, source, planner, send),
            name=f"asyncbatch-stream-{operation}-{object_type}",
        )
        try:
            async with receive:
                async for result in receive:
                    yield result
            await pump  # raises the InvalidInputError that ended the input, if any
        finally:
            if not pump.done():
                pump.cancel()
                await asyncio.wait([pump])

    async def _pump(
        self,
        operation: Operation,
        object_type: str,
        source: AsyncIterator[object],
        planner: StreamPlanner,
        results: MemoryObjectSendStream[BatchResult],
    ) -> None:
        url = self._url(object_type, operation)
        upsert = operation == "upsert"
        stop = _Stop()
        in_flight: dict[Key, anyio.Event] = {}
        to_send, to_take = anyio.create_memory_object_stream[_Dispatch](0)
        bad_input: InvalidInputError | None = None

        async def worker(take: MemoryObjectReceiveStream[_Dispatch]) -> None:
            async with take:
                async for dispatch in take:
                    try:
                        for event in dispatch.after:
                            await event.wait()
                        await results.send(
                            await self._one_chunk(dispatch.chunk, url, stop, upsert=upsert)
                        )
                    finally:
                        dispatch.done.set()
                        for item in dispatch.chunk.items:
                            key = record_key(item.input)
                            if in_flight.get(key) is dispatch.done:
                                del in_flight[key]

        async def dispatch(chunk: Chunk) -> None:
            keys = [record_key(item.input) for item in chunk.items]
            after = tuple({id(e): e for k in keys if (e := in_flight.get(k))}.values())
            done = anyio.Event()
            for key in keys:
                in_flight[key] = done
            await to_send.send(_Dispatch(chunk, after, done))

        async with results, anyio.create_task_group() as group:
            async with to_take:
                for _ in range(self._max_concurrency):
                    group.start_soon(worker, to_take.clone())
            async with to_send:
                position = 0
                try:
                    # The stop is checked before reading, so no record is read and then dropped.
                    while stop.error is None:
                        try:
                            record = await anext(source)
                        except StopAsyncIteration:
                            break
                        chunk = planner.feed(record, position)
                        position += 1
                        if chunk is not None:
                            await dispatch(chunk)
                except InvalidInputError as exc:
                    bad_input = exc
                finally:
                    # Close the input now (an async generator left open would be finalised
                    # later by a task of its own).
                    aclose = getattr(source, "aclose", None)
                    if aclose is not None:
                        await aclose()
                for chunk in planner.flush():
                    await dispatch(chunk)
        if bad_input is not None:
            raise bad_input

    async def _one_chunk(self, chunk: Chunk, url: str, stop: _Stop, *, upsert: bool) -> BatchResult:
        counters = _Counters()
        started_wall = dt.datetime.now(dt.UTC)
        started = self._clock()
        outcomes = await self._guarded(chunk, url, counters, stop, upsert=upsert)
        inputs = sum(len(item.positions) for item in chunk.items)
        stats = self._stats(
            counters,
            inputs=inputs,
            records=len(chunk.items),
            coalesced=inputs - len(chunk.items),
            chunks=1,
            started=started,
        )
        return merge_outcomes(
            chunk.items,
            outcomes,
            stats=stats,
            started_at=started_wall,
            completed_at=dt.datetime.now(dt.UTC),
            # The chunk whose answer stopped the run, and those never sent, carry the stop.
            stop_error=stop.error
            if any(not o.sent or (o.error is not None and o.error is stop.error) for o in outcomes)
            else None,
        )

    async def _guarded(
        self, chunk: Chunk, url: str, counters: _Counters, stop: _Stop, *, upsert: bool
    ) -> list[ChunkOutcome]:
        # Whatever goes wrong with one chunk is that chunk's outcome; cancellation
        # (BaseException) is let through untouched.
        try:
            return await self._send(chunk, url, counters, stop, upsert=upsert, depth=0)
        except Exception as exc:
            logger.exception("chunk %d: unexpected error", chunk.number)
            error = AsyncBatchError(f"internal error while sending: {type(exc).__name__}: {exc}")
            return [ChunkOutcome(chunk, error=error)]

    async def _send(
        self,
        chunk: Chunk,
        url: str,
        counters: _Counters,
        stop: _Stop,
        *,
        upsert: bool,
        depth: int,
    ) -> list[ChunkOutcome]:
        body = encode_inputs([item.input for item in chunk.items])
        attempt = 0
        rate_limit_retries = 0
        while True:
            if stop.error is not None:
                return [ChunkOutcome(chunk, error=stop.error, sent=False)]
            status: int | None = None
            error: AsyncBatchError | None
            async with self._capacity:
                try:
                    await self._limiter.acquire()
                except LimiterUnavailableError as exc:
                    # Without the shared count nothing may be sent: stop the run.
                    stop.set(exc)
                    return [ChunkOutcome(chunk, error=stop.error, sent=False)]
                if stop.error is not None:
                    self._limiter.observe(RateLimitInfo())  # nothing was sent
                    return [ChunkOutcome(chunk, error=stop.error, sent=False)]
                started = self._clock()
                counters.requests += 1
                if depth:
                    counters.split_requests += 1
                rate = RateLimitInfo()
                reply = None
                try:
                    raw = await self._transport.post(url, body, timeout_seconds=self._timeout)
                    status = raw.status
                    reply = decipher_response(raw.status, raw.headers, raw.body, upsert=upsert)
                    rate = reply.rate
                except (TransportError, APIError) as exc:
                    error = exc
                finally:
                    # On every path, cancellation included: the limiter counts on hearing of
                    # each request it let start.
                    self._limiter.observe(rate, started=started)
                if reply is not None:
                    if reply.response is not None:
                        logger.debug(
                            "chunk %d: HTTP %d, %d inputs", chunk.number, status, len(chunk.items)
                        )
                        return [ChunkOutcome(chunk, response=reply.response, status_code=status)]
                    error = reply.error
            assert error is not None
            if isinstance(error, APIError):
                error.chunk = chunk.number
            if isinstance(error, RateLimitError):
                counters.rate_limited += 1
            else:
                attempt += 1
            decision = decide(
                error,
                policy=self._retry,
                attempt=attempt,
                rate_limit_retries=rate_limit_retries,
                chunk_size=len(chunk.items),
                rng=self._rng,
            )
            logger.debug("chunk %d: %s -> %s", chunk.number, error, decision.action.value)
            if decision.action is Action.RETRY:
                counters.retries += 1
                await self._sleep(decision.delay)
            elif decision.action is Action.WAIT_WINDOW:
                counters.retries += 1
                rate_limit_retries += 1
                self._limiter.penalize(decision.delay)
            elif decision.action is Action.SPLIT:
                return await self._split(chunk, url, counters, stop, upsert=upsert, depth=depth)
            else:
                if decision.action is Action.STOP:
                    stop.set(error)
                return [ChunkOutcome(chunk, error=error, status_code=status)]

    async def _split(
        self,
        chunk: Chunk,
        url: str,
        counters: _Counters,
        stop: _Stop,
        *,
        upsert: bool,
        depth: int,
    ) -> list[ChunkOutcome]:
        middle = len(chunk.items) // 2
        halves = (
            Chunk(number=chunk.number, items=chunk.items[:middle]),
            Chunk(number=chunk.number, items=chunk.items[middle:]),
        )
        outcomes: list[ChunkOutcome] = []

        async def send_half(half: Chunk) -> None:
            outcomes.extend(
                await self._send(half, url, counters, stop, upsert=upsert, depth=depth + 1)
            )

        async with anyio.create_task_group() as group:
            for half in halves:
                group.start_soon(send_half, half)
        return outcomes
