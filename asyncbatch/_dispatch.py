"""One chunk's journey, and the per-call context it travels in. Does network I/O (through the
``Transport``) and waits (on the concurrency cap, the limiter and backoff sleeps).

A chunk goes: concurrency slot -> rate limiter -> transport -> decipher (pure) -> the retry rule
(pure, ``_retry.ChunkRetry``) -> wait and resend, split, or conclude. Each layer is a plain call,
as in httpx's ``send`` -> ``_send_handling_auth`` -> ... -> ``_send_single_request``. A chunk
that ends (answered, failed or never sent) becomes a ``ChunkOutcome`` appended to its sink as
soon as it ends, so a call cancelled mid-way (``aclose()``) still has every concluded outcome,
and ``CallContext.abandon`` accounts for the chunks it cut short.

Both schedulers (``_schedule``) send every chunk through ``send_chunk``.
"""

from __future__ import annotations

import logging
import operator
import random
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import orjson

from ._exceptions import (
    APIError,
    AsyncBatchError,
    AuthenticationError,
    LimiterUnavailableError,
    MalformedResponseError,
    RateLimitError,
    TransportError,
    ValidationError,
)
from ._limiters import Clock, RateLimiter, Sleep
from ._merge import ChunkOutcome
from ._models import BatchResult, RunStats
from ._observe import Observer, Request
from ._operations import OperationSpec
from ._plan import Chunk, PlannedInput, coalesce_named, may_share_a_record
from ._protocol import (
    RateLimitInfo,
    decipher_error,
    decipher_response,
    duplicate_ids,
    encode_body,
)
from ._refusals import Problem, classify_refusal, triage
from ._retry import Action, ChunkRetry, Decision, RetryPolicy, outcome_unknown
from ._schema import PropertySchema, all_pass, check_items
from ._tokens import TokenSource
from ._transport import RawResponse, Transport, on_sent

__all__ = [
    "CallContext",
    "ChunkHook",
    "Counters",
    "Engine",
    "Stop",
    "fetch_json",
    "refresh_token",
    "send_chunk",
]

_UNKNOWN_NOTE = (
    "it may have been applied: not resent, as a create sent twice makes a duplicate; read it "
    "back by a property, or use upsert on a unique property"
)

logger = logging.getLogger("asyncbatch")


#: ``on_chunk=``: a sync or async callable given each chunk's ``BatchResult``.
ChunkHook = Callable[[BatchResult], Awaitable[None] | None]


@attrs.define
class Counters:
    """What one call (or one streamed chunk) did on the wire."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    split_requests: int = 0

    def add(self, other: Counters) -> None:
        """Count ``other``'s requests too (a chunk's, into its call's)."""
        self.requests += other.requests
        self.retries += other.retries
        self.rate_limited += other.rate_limited
        self.split_requests += other.split_requests

    def stats(self, *, inputs: int, records: int, chunks: int, elapsed: float) -> RunStats:
        return RunStats(
            inputs=inputs,
            records=records,
            coalesced=inputs - records,
            chunks=chunks,
            requests=self.requests,
            retries=self.retries,
            rate_limited=self.rate_limited,
            split_requests=self.split_requests,
            elapsed_seconds=elapsed,
        )


@attrs.define
class Stop:
    """Set once by the first error that must stop the whole run (DAILY 429, 401/403, the
    shared limiter gone, the client closed)."""

    error: AsyncBatchError | None = None

    def set(self, error: AsyncBatchError) -> None:
        """Record ``error`` as the stop, unless an earlier one already stopped the run."""
        if self.error is None:
            self.error = error
            logger.warning("stopping the run: %s", error)


@attrs.frozen(kw_only=True)
class Engine:
    """What every call of one client shares: the wire, the limits, the rule, the clock."""

    transport: Transport
    limiter: RateLimiter
    capacity: anyio.CapacityLimiter
    policy: RetryPolicy
    rng: random.Random
    timeout: float
    clock: Clock
    sleep: Sleep
    #: texts the client knows are secret (the token, a token provider's secrets, a proxy's
    #: password): masked in every answer it reads
    secrets: list[bytes] = attrs.Factory(list)
    #: the caller's token provider, when the token may change during a run
    tokens: TokenSource | None = None
    #: stop sending before the account's requests left today fall below this
    daily_reserve: int = 0
    daily: DailyBudget = attrs.Factory(lambda: DailyBudget())
    #: told of each request (OpenTelemetry, ``_telemetry``); None: no telemetry
    observer: Observer | None = None


@attrs.define
class DailyBudget:
    """What HubSpot last said of the account's requests left today
    (``X-HubSpot-RateLimit-Daily-Remaining``), minus the requests started since."""

    remaining: int | None = None

    def heard(self, rate: RateLimitInfo) -> None:
        if rate.daily_remaining is not None:
            self.remaining = rate.daily_remaining

    def spend(self) -> None:
        if self.remaining is not None:
            self.remaining -= 1


def _reserve_reached(engine: Engine) -> RateLimitError | None:
    left = engine.daily.remaining
    if not engine.daily_reserve or left is None or left > engine.daily_reserve:
        return None
    return RateLimitError(
        f"daily reserve reached: {left} requests left today for the account, "
        f"daily_reserve={engine.daily_reserve} kept for its other apps",
        category="RATE_LIMIT",
        policy="DAILY",
    )


@attrs.define
class _Budget:
    """Split requests spent on one chunk of the caller's (shared by its parts)."""

    spent: int = 0


@attrs.define(eq=False)
class _Leaf:
    """A chunk (or part of one) being sent: where its outcome goes, whether it left."""

    chunk: Chunk
    sink: list[ChunkOutcome]
    attempted: bool = False
    budget: _Budget = attrs.Factory(_Budget)
    #: the token generation its last try was sent with, and its refreshes so far
    token_generation: int = 0
    refreshes: int = 0
    #: the rate-limit headers of its last answer
    rate: RateLimitInfo | None = None
    #: requests sent with this leaf's chunk so far, counted for the observer only (its
    #: resends are the later ones)
    sends: int = 0

    def part(self, items: tuple[PlannedInput, ...]) -> _Leaf:
        return _Leaf(Chunk(self.chunk.number, items), self.sink, budget=self.budget)


@attrs.define(eq=False)
class CallContext:
    """One call's context: where it sends, what operation, its counters and its stop."""

    engine: Engine
    url: str
    operation: OperationSpec
    object_type: str = ""
    counters: Counters = attrs.Factory(Counters)
    stop: Stop = attrs.Factory(Stop)
    scope: anyio.CancelScope = attrs.Factory(anyio.CancelScope)
    #: open once a request of this call was answered without a request-level refusal (or the
    #: object type and operation were proven on this client before); until then, one try at
    #: a time (the canary), so a refusal of the whole request costs one request, not ten
    gate: anyio.Event = attrs.Factory(anyio.Event)
    canary: anyio.Lock = attrs.Factory(anyio.Lock)
    proven: bool = False
    #: properties HubSpot refused for every record of the call (they do not exist, are
    #: read-only): records setting them fail without being sent
    refused: dict[str, tuple[APIError, Problem]] = attrs.Factory(dict)
    #: the object type's property definitions: records they refuse fail without being sent
    schema: PropertySchema | None = None
    #: call-wide body fields (a read's ``properties``, ``propertiesWithHistory``)
    extra: dict[str, Any] = attrs.Factory(dict)
    #: the caller's hook, given each chunk's ``BatchResult`` as the chunk finishes
    on_chunk: ChunkHook | None = None
    _active: dict[int, _Leaf] = attrs.Factory(dict)

    def cancel(self, error: AsyncBatchError) -> None:
        """Stop the call now (the client is closing): nothing more is sent or waited for."""
        self.stop_call(error)
        self.scope.cancel()

    def stop_call(self, error: AsyncBatchError) -> None:
        """Stop sending (the tries waiting behind the canary then conclude unsent)."""
        self.stop.set(error)
        self.gate.set()

    def open_gate(self) -> None:
        self.proven = True
        self.gate.set()

    def abandon(self) -> None:
        """After the call was cut short: each chunk still on its way concludes as stopped,
        sent or not as it was."""
        error = self.stop.error or AsyncBatchError("the call ended before this chunk did")
        for leaf in self._active.values():
            leaf.sink.append(self.outcome(leaf.chunk, error=error, sent=leaf.attempted))
        self._active.clear()

    def outcome(self, chunk: Chunk, **fields: object) -> ChunkOutcome:
        return ChunkOutcome(chunk, lists_results=self.operation.answer_lists_results, **fields)  # type: ignore[arg-type]


async def send_chunk(ctx: CallContext, chunk: Chunk, sink: list[ChunkOutcome]) -> None:
    """Send ``chunk`` until it concludes; append its outcomes (several if it was split) to
    ``sink``. Whatever goes wrong is the chunk's outcome; cancellation is let through."""
    try:
        if ctx.schema is not None:
            chunk = _checked(ctx, ctx.schema, chunk, sink)
            if not chunk.size:
                return
        await _send(ctx, _Leaf(chunk, sink), depth=0)
    except Exception as exc:
        logger.exception("chunk %d: unexpected error", chunk.number)
        error = AsyncBatchError(f"internal error while sending: {type(exc).__name__}: {exc}")
        sink.append(ctx.outcome(chunk, error=error))


def _checked(
    ctx: CallContext, schema: PropertySchema, chunk: Chunk, sink: list[ChunkOutcome]
) -> Chunk:
    """``chunk`` without the records the property definitions refuse (each reported, unsent,
    final), its values converted to HubSpot's form."""
    if all_pass(chunk.fields().properties, schema):
        return chunk  # the common case: no object built per record
    items = chunk.items
    ok, refused = check_items(items, schema)
    if not refused and all(map(operator.is_, ok, items)):
        return chunk  # unchanged: it can still shed its items in flight and merge quickly
    for item, problem in refused:
        error = _problem_error(problem, "checked against the account's property definitions")
        sink.append(ctx.outcome(Chunk(chunk.number, (item,)), error=error, sent=False, final=True))
    return Chunk(chunk.number, tuple(ok))


def _problem_error(problem: Problem, where: str) -> ValidationError:
    detail: dict[str, Any] = {
        "message": problem.message,
        "context": {"propertyName": [problem.property]},
    }
    if problem.code:
        detail["code"] = problem.code
    message = f"{where}: {problem.property}: {problem.message}"
    body = {"category": "VALIDATION_ERROR", "message": message, "errors": [detail]}
    return ValidationError(message, status=400, body=body, category="VALIDATION_ERROR")


async def fetch_json(engine: Engine, url: str, *, object_type: str = "") -> Any:
    """GET ``url`` under the limiter and the retry rule (as a chunk is sent); its JSON.

    Raises:
        APIError, TransportError: the final failure, once the rule gives up.
    """
    retry = ChunkRetry(engine.policy)
    attempt = 0
    refreshed = False
    while True:
        generation = await _current_token(engine)
        async with engine.capacity:
            await engine.limiter.acquire()
            left = SendClock(engine)
            rate = RateLimitInfo()
            hook = on_sent.set(left)
            try:
                send: Awaitable[RawResponse] = engine.transport.get(
                    url, timeout_seconds=engine.timeout
                )
                if engine.observer is not None:
                    attempt += 1
                    send = engine.observer.around(send, _get_request(url, object_type, attempt))
                raw = await send
                rate = RateLimitInfo.from_headers(raw.headers)
            finally:
                on_sent.reset(hook)
                engine.limiter.observe(rate, started=left.started)
                engine.daily.heard(rate)  # often a run's first answer: the budget known early
        body = _masked(raw.body, engine.secrets)
        if raw.status == 200:
            try:
                return orjson.loads(body)
            except orjson.JSONDecodeError:
                error: APIError = MalformedResponseError(
                    "HTTP 200 with a body that is not JSON", status=200
                )
        else:
            error = decipher_error(raw.status, raw.headers, body)
        if not refreshed and engine.tokens is not None and _expired(error):
            refreshed = True
            await refresh_token(engine, generation)
            continue
        decision = retry.after(error, chunk_size=1, rng=engine.rng)
        if decision.action is Action.RETRY:
            await engine.sleep(decision.delay)
        elif decision.action is Action.WAIT_WINDOW:
            engine.limiter.penalize(decision.delay)
        else:
            raise error


async def _send(ctx: CallContext, leaf: _Leaf, *, depth: int) -> None:
    ctx._active[id(leaf)] = leaf
    try:
        await _send_until_concluded(ctx, leaf, depth)
    except Exception:
        ctx._active.pop(id(leaf), None)
        raise
    # Not on cancellation: a leaf cut short stays for ``CallContext.abandon`` to report.
    ctx._active.pop(id(leaf), None)


async def _send_until_concluded(ctx: CallContext, leaf: _Leaf, depth: int) -> None:
    retry = ChunkRetry(ctx.engine.policy, resend_safe=ctx.operation.resend_safe)
    coalesced = False
    while True:
        error, status = await _try_once(ctx, leaf, depth)
        if error is None:
            return
        chunk = leaf.chunk
        if not coalesced and (merged := _coalesce_duplicates(chunk, error)) is not None:
            # HubSpot saw one record twice where the plan saw two (e.g. e-mail case):
            # merge them as sequential writes would, and resend once instead of splitting.
            coalesced = True
            ctx.counters.retries += 1
            leaf.chunk, absorbed = merged
            leaf.sink.append(ctx.outcome(Chunk(chunk.number, ()), absorbed=absorbed))
            continue
        if await _refreshed(ctx, leaf, error):
            continue  # the token had expired: resent with the new one
        decision = retry.after(error, chunk_size=chunk.size, rng=ctx.engine.rng)
        logger.debug("chunk %d: %s -> %s", chunk.number, error, decision.action.value)
        if not await _carry_out(ctx, leaf, error, status, decision, depth):
            return


async def _try_once(
    ctx: CallContext, leaf: _Leaf, depth: int
) -> tuple[AsyncBatchError | None, int | None]:
    """One try: canary, slot, limiter, post. Returns (None, status) once the leaf concluded
    (answered or never sent), else the error the try ended with."""
    # Tries still queued behind the canary when the gate opened go first (FIFO): a chunk
    # taken later must not overtake them through the free slot.
    if not ctx.gate.is_set() or ctx.canary.locked():
        async with ctx.canary:  # one try at a time until the gate opens
            if not ctx.gate.is_set():
                return await _try_open(ctx, leaf, depth)
    return await _try_open(ctx, leaf, depth)


async def _try_open(
    ctx: CallContext, leaf: _Leaf, depth: int
) -> tuple[AsyncBatchError | None, int | None]:
    if ctx.stop.error is not None or not await _token_ready(ctx):
        return _conclude_unsent(ctx, leaf)
    engine = ctx.engine
    await take_slot(engine.capacity)
    try:
        sent = await _limited_post(ctx, leaf, depth)
    finally:
        # The slot is free once the answer is in: the next chunk goes out while this one's
        # answer is read.
        handed_on = engine.capacity.statistics().tasks_waiting > 0
        engine.capacity.release()
    if sent is None:
        return _conclude_unsent(ctx, leaf) if ctx.stop.error is not None else (None, None)
    if isinstance(sent, AsyncBatchError):
        return sent, None
    if handed_on and sent.status < 300:
        # Let the next chunk take the slot and post, then let its body leave (on Python 3.11
        # aiohttp writes a body from a task of its own, queued behind whatever is ready),
        # before this answer is read: the request waits on nothing of ours. Not after a
        # refusal: read at once, it may stop the run (a daily 429, a 401) before another
        # request goes.
        await anyio.lowlevel.checkpoint()
        await anyio.lowlevel.checkpoint()
    return _read_answer(ctx, leaf, sent)


async def take_slot(capacity: anyio.CapacityLimiter) -> None:
    """Take a slot of ``capacity``: at once, without giving the loop a turn, when one is free
    and nobody waits (anyio's ``acquire`` always yields)."""
    try:
        capacity.acquire_nowait()
    except anyio.WouldBlock:
        await capacity.acquire()


async def _limited_post(
    ctx: CallContext, leaf: _Leaf, depth: int
) -> RawResponse | AsyncBatchError | None:
    """Limiter, then post: the raw answer, the transport's error, or None when nothing was
    sent (the run stopped, or every record of the leaf was dropped)."""
    engine = ctx.engine
    try:
        await engine.limiter.acquire()
    except LimiterUnavailableError as exc:
        ctx.stop.set(exc)  # without the shared count nothing may be sent: stop the run
        return None
    reserve = _reserve_reached(engine)
    if reserve is not None:
        ctx.stop_call(reserve)  # reported like HubSpot's DAILY 429: nothing more is sent
    # Checked after every wait: what the call learnt meanwhile (a stop, a refused
    # property) applies to this try.
    if ctx.stop.error is not None or not _drop_refused(ctx, leaf):
        engine.limiter.observe(RateLimitInfo())  # nothing was sent
        return None
    body = encode_body(leaf.chunk.fields(), ctx.operation, ctx.extra)
    leaf.chunk.shed()  # nothing per record waits with the request
    return await _post(ctx, leaf, body, depth)


class SendClock:
    """When a request left. ``started`` is read at once after the limiter let it start; when
    the transport says its headers are on the socket (``on_sent``), later if a connection had
    to be opened or the loop was busy, ``started`` becomes that moment and the limiter is told
    (``RateLimiter.sent``): the server counts the request when it arrives. Sent again (aiohttp
    retries on a fresh connection), it moves again: the later count is the safe one."""

    __slots__ = ("_engine", "started")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.started = engine.clock()

    def __call__(self) -> None:
        at = self._engine.clock()
        if at > self.started:
            self._engine.limiter.sent(self.started, at)
            self.started = at


def _conclude_unsent(ctx: CallContext, leaf: _Leaf) -> tuple[None, None]:
    leaf.sink.append(ctx.outcome(leaf.chunk, error=ctx.stop.error, sent=leaf.attempted))
    return None, None


async def _post(
    ctx: CallContext, leaf: _Leaf, body: bytes, depth: int
) -> RawResponse | AsyncBatchError:
    engine = ctx.engine
    left = SendClock(engine)
    ctx.counters.requests += 1
    if depth:
        ctx.counters.split_requests += 1
        leaf.budget.spent += 1
    leaf.attempted = True
    engine.daily.spend()
    if engine.tokens is not None:
        leaf.token_generation = engine.tokens.generation
    rate = RateLimitInfo()
    hook = on_sent.set(left)
    try:
        send: Awaitable[RawResponse] = engine.transport.post(
            ctx.url, body, timeout_seconds=engine.timeout
        )
        if engine.observer is not None:
            leaf.sends += 1
            send = engine.observer.around(send, _post_request(ctx, leaf, depth))
        raw = await send
        rate = RateLimitInfo.from_headers(raw.headers)
    except (TransportError, APIError) as exc:
        return exc
    finally:
        on_sent.reset(hook)
        # On every path, cancellation included: the limiter counts on hearing of each
        # request it let start.
        engine.limiter.observe(rate, started=left.started)
        engine.daily.heard(rate)
    leaf.rate = rate
    return raw


def _read_answer(
    ctx: CallContext, leaf: _Leaf, raw: RawResponse
) -> tuple[AsyncBatchError | None, int | None]:
    reply = decipher_response(
        raw.status,
        raw.headers,
        _masked(raw.body, ctx.engine.secrets),
        operation=ctx.operation,
        rate=leaf.rate,
    )
    if reply.response is None:
        assert reply.error is not None
        if not _refuses_the_request(reply.error):
            ctx.open_gate()
        return reply.error, raw.status
    ctx.open_gate()
    logger.debug("chunk %d: HTTP %d", leaf.chunk.number, raw.status)
    leaf.sink.append(ctx.outcome(leaf.chunk, response=reply.response, status_code=raw.status))
    return None, raw.status


def _post_request(ctx: CallContext, leaf: _Leaf, depth: int) -> Request:
    return Request(
        method="POST",
        url=ctx.url,
        operation=ctx.operation.name,
        object_type=ctx.object_type,
        inputs=leaf.chunk.size,
        attempt=leaf.sends,
        chunk=leaf.chunk.number,
        split_depth=depth,
    )


def _get_request(url: str, object_type: str, attempt: int) -> Request:
    return Request(
        method="GET", url=url, operation="properties", object_type=object_type, attempt=attempt
    )


#: Shorter "tokens" (tests' "T") would mask letters of every answer, not a secret.
_MIN_SECRET = 8


async def refresh_token(engine: Engine, generation: int, *, expired: bool = True) -> None:
    """Ask the token provider for a token newer than ``generation`` (``expired``: HubSpot
    refused the current one; else it is only due) and send it from now on. Every secret the
    provider holds joins the ones masked in what the client reads.

    Raises:
        AsyncBatchError: the provider gave no token, or its refresh failed.
    """
    assert engine.tokens is not None
    token = await engine.tokens.refresh(generation, expired=expired)
    for text in [token, *engine.tokens.secrets()]:
        secret = text.encode()
        if secret not in engine.secrets:
            engine.secrets.append(secret)
    set_token = getattr(engine.transport, "set_token", None)
    if set_token is not None:
        set_token(token)


async def _current_token(engine: Engine) -> int:
    """Refresh the token first if it is due (a bound provider's expiry is near); the token
    generation to send with.

    Raises:
        AsyncBatchError: the refresh failed.
    """
    tokens = engine.tokens
    if tokens is None:
        return 0
    if tokens.due():
        await refresh_token(engine, tokens.generation, expired=False)
    return tokens.generation


async def _token_ready(ctx: CallContext) -> bool:
    """Refresh the token first if it is due; False if that failed, which stops the call (the
    token will not come back by itself: every input not yet written is reported)."""
    try:
        await _current_token(ctx.engine)
    except AsyncBatchError as exc:
        ctx.stop_call(exc)
        return False
    return True


def _expired(error: AsyncBatchError) -> bool:
    return isinstance(error, AuthenticationError) and error.category == "EXPIRED_AUTHENTICATION"


async def _refreshed(ctx: CallContext, leaf: _Leaf, error: AsyncBatchError) -> bool:
    """After a 401 ``EXPIRED_AUTHENTICATION`` with a token provider: refresh (at most twice
    per chunk, so a provider handing out expired tokens still ends) and try again. A refresh
    that fails stops the call, and the try concludes the chunk with that error."""
    if ctx.engine.tokens is None or not _expired(error) or leaf.refreshes >= 2:
        return False
    leaf.refreshes += 1
    try:
        await refresh_token(ctx.engine, leaf.token_generation)
    except AsyncBatchError as exc:
        ctx.stop_call(exc)  # the next try concludes the chunk with this error, not resent
        return True
    ctx.counters.retries += 1
    return True


def _masked(body: bytes, secrets: list[bytes]) -> bytes:
    # A server or proxy that echoes the Authorization header must not put the token into
    # reasons, reprs, logs or output files.
    for secret in secrets:
        if len(secret) >= _MIN_SECRET and secret in body:
            body = body.replace(secret, b"***")
    return body


async def _carry_out(
    ctx: CallContext,
    leaf: _Leaf,
    error: AsyncBatchError,
    status: int | None,
    decision: Decision,
    depth: int,
) -> bool:
    """Do what the rule decided; True to try the chunk again."""
    if isinstance(error, APIError):
        error.chunk = leaf.chunk.number
    if isinstance(error, RateLimitError):
        ctx.counters.rate_limited += 1
    action = decision.action
    if action is Action.RETRY:
        ctx.counters.retries += 1
        await ctx.engine.sleep(decision.delay)
        return True
    if action is Action.WAIT_WINDOW:
        ctx.counters.retries += 1
        ctx.engine.limiter.penalize(decision.delay)
        return True
    if action is Action.TRIAGE:
        assert isinstance(error, APIError)
        await _triage(ctx, leaf, error, status, depth)
        return False
    if action is Action.STOP:
        ctx.stop_call(error)
    unknown = not ctx.operation.resend_safe and outcome_unknown(error)
    leaf.sink.append(
        ctx.outcome(
            leaf.chunk,
            error=error,
            status_code=status,
            note=_UNKNOWN_NOTE if unknown else decision.note,
            outcome_unknown=unknown,
        )
    )
    return False


def _refuses_the_request(error: AsyncBatchError) -> bool:
    if isinstance(error, AuthenticationError):
        return True
    return isinstance(error, ValidationError) and classify_refusal(error).kind == "request"


async def _triage(
    ctx: CallContext, leaf: _Leaf, error: APIError, status: int | None, depth: int
) -> None:
    """A whole-request refusal: stop the call, fail what it names, resend what it cannot be
    about, and bisect what it may be about (under the split budget)."""
    refusal = classify_refusal(error)
    if refusal.kind == "request":
        ctx.stop_call(error)  # nothing else of the call can succeed
        leaf.sink.append(ctx.outcome(leaf.chunk, error=error, status_code=status))
        return
    if refusal.kind == "property":
        for refused_property in refusal.problems:
            ctx.refused.setdefault(refused_property.property, (error, refused_property))
    sorted_ = triage(leaf.chunk.items, refusal)
    for problem, items in _by_problem(sorted_.refused):
        refused = leaf.part(items)
        leaf.sink.append(
            ctx.outcome(refused.chunk, error=_about(error, problem), status_code=status)
        )
    suspects, clear = sorted_.suspects, sorted_.clear
    if not sorted_.refused and not suspects:  # it named nothing here: all are suspects
        suspects, clear = leaf.chunk.items, ()
    parts = [clear] if clear else []
    if suspects:
        parts += _bisect(ctx, leaf, suspects, error, status)
    await _send_parts(ctx, leaf, parts, depth)


def _bisect(
    ctx: CallContext,
    leaf: _Leaf,
    suspects: tuple[PlannedInput, ...],
    error: APIError,
    status: int | None,
) -> list[tuple[PlannedInput, ...]]:
    policy = ctx.engine.policy
    spent = leaf.budget.spent >= policy.max_split_requests_per_chunk or (
        ctx.counters.split_requests >= policy.max_split_requests_per_call
    )
    if len(suspects) == 1 or spent:
        note = "split budget spent; not isolated further" if spent and len(suspects) > 1 else None
        part = leaf.part(suspects)
        leaf.sink.append(ctx.outcome(part.chunk, error=error, status_code=status, note=note))
        return []
    middle = len(suspects) // 2
    return [suspects[:middle], suspects[middle:]]


async def _send_parts(
    ctx: CallContext, leaf: _Leaf, parts: list[tuple[PlannedInput, ...]], depth: int
) -> None:
    """Send the parts of ``leaf``: concurrently, or one after the other when they may name
    one record (as HubSpot compares keys), so the later value lands last."""
    leaves = [leaf.part(items) for items in parts if items]
    for part in leaves:  # the parts account for its inputs from now on
        ctx._active[id(part)] = part
    ctx._active.pop(id(leaf), None)
    if not leaves:
        return
    if may_share_a_record([part.chunk for part in leaves]):
        for part in leaves:
            await _send(ctx, part, depth=depth + 1)
        return
    async with anyio.create_task_group() as group:
        for part in leaves:
            group.start_soon(_send_part, ctx, part, depth + 1)


async def _send_part(ctx: CallContext, part: _Leaf, depth: int) -> None:
    await _send(ctx, part, depth=depth)


def _drop_refused(ctx: CallContext, leaf: _Leaf) -> bool:
    """Fail, unsent, the records setting a property the call already saw refused; False when
    none is left to send."""
    if not ctx.refused:
        return True
    keep = []
    for item in leaf.chunk.items:
        hit = next((ctx.refused[p] for p in item.input.properties if p in ctx.refused), None)
        if hit is None:
            keep.append(item)
            continue
        error, problem = hit
        failed = ctx.outcome(
            Chunk(leaf.chunk.number, (item,)), error=_about(error, problem), sent=False, final=True
        )
        leaf.sink.append(failed)
    leaf.chunk = Chunk(leaf.chunk.number, tuple(keep))
    return bool(keep)


def _by_problem(
    refused: tuple[tuple[PlannedInput, Problem | None], ...],
) -> list[tuple[Problem | None, tuple[PlannedInput, ...]]]:
    groups: dict[Problem | None, list[PlannedInput]] = {}
    for item, problem in refused:
        groups.setdefault(problem, []).append(item)
    return [(problem, tuple(items)) for problem, items in groups.items()]


def _about(error: APIError, problem: Problem | None) -> APIError:
    """``error`` narrowed to one problem, so each failed input names its own property."""
    if problem is None:
        return error
    body = error.body if isinstance(error.body, dict) else {}
    detail = {
        "message": problem.message or error.message,
        "context": {"propertyName": [problem.property]},
    }
    if problem.code:
        detail["code"] = problem.code
    narrowed = {**body, "errors": [detail]}
    return ValidationError(
        error.message,
        status=error.status,
        body=narrowed,
        category=error.category,
        chunk=error.chunk,
    )


def _coalesce_duplicates(
    chunk: Chunk, error: AsyncBatchError
) -> tuple[Chunk, tuple[int, ...]] | None:
    if not isinstance(error, ValidationError):
        return None
    ids = duplicate_ids(error)
    return coalesce_named(chunk, ids) if ids else None
