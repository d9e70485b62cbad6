"""``BatchClient``: the one orchestrator. Does network I/O (through a ``Transport``).

A call runs: plan (pure) -> workers in an anyio task group, each taking the next chunk ->
concurrency slot -> rate limiter -> transport -> decipher (pure) -> retry decision (pure) ->
merge (pure). A chunk that fails becomes a failed outcome; it never cancels its siblings.
Concurrent calls on one client share its session, its concurrency cap and its rate limiter.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import random
import secrets
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Self

import anyio
import attrs

from ._exceptions import (
    APIError,
    AsyncBatchError,
    ClientClosedError,
    InvalidInputError,
    RateLimitError,
    TransportError,
)
from ._limits import Clock, RateLimit, RateLimiter, RollingWindowLimiter, Sleep
from ._merge import ChunkOutcome, merge_outcomes
from ._models import BatchResult, RunStats
from ._plan import Chunk, Operation, plan_chunks, validate_chunk_size, validate_object_type
from ._protocol import decipher_response, encode_inputs
from ._retry import Action, RetryPolicy, decide
from ._transport import AiohttpTransport, Transport, check_base_url

__all__ = ["DEFAULT_BASE_URL", "BatchClient"]

logger = logging.getLogger("asyncbatch")

DEFAULT_BASE_URL = "https://api.hubapi.com"
_VERSION = "0.1.0"


@attrs.define
class _Run:
    """Mutable state of one call: counters and the stop signal."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    split_requests: int = 0
    stop_error: AsyncBatchError | None = None
    outcomes: list[ChunkOutcome] = attrs.Factory(list)


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
        limiter: replaces the in-memory limiter built from ``rate_limit``.
        clock, sleep: the monotonic clock and sleep the limiter and backoff use (tests).
        seed: seeds the backoff jitter, for reproducible runs.

    Raises:
        InvalidInputError: a bad argument, or no token anywhere.
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
        self._limiter: RateLimiter = limiter or RollingWindowLimiter(
            self._rate, clock=self._clock, sleep=self._sleep
        )
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
        self._check_open()
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
        """
        return await self._call("upsert", object_type, records, id_property)

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
        url = f"{self._base_url}/crm/v3/objects/{object_type}/batch/{operation}"
        run = _Run()
        started_wall = dt.datetime.now(dt.UTC)
        started = self._clock()
        pending = iter(plan.chunks)
        upsert = operation == "upsert"

        async def worker() -> None:
            for chunk in pending:
                run.outcomes.extend(await self._guarded(chunk, url, run, upsert=upsert))

        if plan.chunks:
            async with anyio.create_task_group() as group:
                for _ in range(min(self._max_concurrency, len(plan.chunks))):
                    group.start_soon(worker)
        stats = RunStats(
            inputs=plan.inputs,
            records=len(plan.items),
            coalesced=plan.coalesced,
            chunks=len(plan.chunks),
            requests=run.requests,
            retries=run.retries,
            rate_limited=run.rate_limited,
            split_requests=run.split_requests,
            elapsed_seconds=self._clock() - started,
        )
        result = merge_outcomes(
            plan.items,
            run.outcomes,
            stats=stats,
            started_at=started_wall,
            completed_at=dt.datetime.now(dt.UTC),
            canceled=run.stop_error is not None,
        )
        logger.info(
            "%s %s: %d inputs, %d written, %d failed, %d requests, %d retries, %.2f s",
            operation,
            object_type,
            plan.inputs,
            len(result.results),
            len(result.failed),
            run.requests,
            run.retries,
            stats.elapsed_seconds,
        )
        return result

    async def _guarded(
        self, chunk: Chunk, url: str, run: _Run, *, upsert: bool
    ) -> list[ChunkOutcome]:
        # Whatever goes wrong with one chunk is that chunk's outcome; cancellation
        # (BaseException) is let through untouched.
        try:
            return await self._send(chunk, url, run, upsert=upsert, depth=0)
        except Exception as exc:
            logger.exception("chunk %d: unexpected error", chunk.number)
            error = AsyncBatchError(f"internal error while sending: {type(exc).__name__}: {exc}")
            return [ChunkOutcome(chunk, error=error)]

    async def _send(
        self, chunk: Chunk, url: str, run: _Run, *, upsert: bool, depth: int
    ) -> list[ChunkOutcome]:
        body = encode_inputs([item.input for item in chunk.items])
        attempt = 0
        rate_limit_retries = 0
        while True:
            if run.stop_error is not None:
                return [ChunkOutcome(chunk, error=run.stop_error, sent=False)]
            status: int | None = None
            error: AsyncBatchError | None
            async with self._capacity:
                await self._limiter.acquire()
                if run.stop_error is not None:
                    return [ChunkOutcome(chunk, error=run.stop_error, sent=False)]
                run.requests += 1
                if depth:
                    run.split_requests += 1
                try:
                    raw = await self._transport.post(url, body, timeout_seconds=self._timeout)
                except (TransportError, APIError) as exc:
                    error = exc
                else:
                    status = raw.status
                    reply = decipher_response(raw.status, raw.headers, raw.body, upsert=upsert)
                    self._limiter.observe(reply.rate)
                    if reply.response is not None:
                        logger.debug(
                            "chunk %d: HTTP %d, %d inputs",
                            chunk.number,
                            raw.status,
                            len(chunk.items),
                        )
                        return [ChunkOutcome(chunk, response=reply.response, status_code=status)]
                    error = reply.error
            assert error is not None
            if isinstance(error, APIError):
                error.chunk = chunk.number
            if isinstance(error, RateLimitError):
                run.rate_limited += 1
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
                run.retries += 1
                await self._sleep(decision.delay)
            elif decision.action is Action.WAIT_WINDOW:
                run.retries += 1
                rate_limit_retries += 1
                self._limiter.penalize(decision.delay)
            elif decision.action is Action.SPLIT:
                return await self._split(chunk, url, run, upsert=upsert, depth=depth)
            else:
                if decision.action is Action.STOP and run.stop_error is None:
                    run.stop_error = error
                    logger.warning("stopping the run: %s", error)
                return [ChunkOutcome(chunk, error=error, status_code=status)]

    async def _split(
        self, chunk: Chunk, url: str, run: _Run, *, upsert: bool, depth: int
    ) -> list[ChunkOutcome]:
        middle = len(chunk.items) // 2
        halves = (
            Chunk(number=chunk.number, items=chunk.items[:middle]),
            Chunk(number=chunk.number, items=chunk.items[middle:]),
        )
        outcomes: list[ChunkOutcome] = []

        async def send_half(half: Chunk) -> None:
            outcomes.extend(await self._send(half, url, run, upsert=upsert, depth=depth + 1))

        async with anyio.create_task_group() as group:
            for half in halves:
                group.start_soon(send_half, half)
        return outcomes
