"""``BatchWriter``: one record per call from many concurrent callers, written in shared chunks.
Does network I/O (through ``_dispatch.send_chunk``) and waits (on the client's clock and sleep).

An async web backend writes one record per web request. ``await writer.write(record)`` checks
the record (pure, ``_plan``), puts it into the writer's buffer, which every caller shares, and
waits for that record's own outcome. A buffer becomes a chunk when it holds ``chunk_size``
distinct records or its oldest record has waited ``max_wait_seconds``; two writes to one record
in a buffer are coalesced (later properties win). Chunks go through the one chunk sender, under
the client's limiter, concurrency cap and retry rule, in tasks of the writer's own (started by
``__aenter__``), never in a caller's: a caller cancelled while waiting leaves its record, and
the others of its chunk, to be written. A record already in a request is not put into a second
one before the first is answered. Each chunk's answer is merged (pure, ``_merge``) and every
caller is handed its own part.

A stop (a ``DAILY`` 429, a 401/403, a request-level refusal) fails every record waiting at that
moment with its reason; later writes start afresh. ``aclose()`` of the client fails every
waiting record with the client's reason and ends the writer. Nothing is durable: the buffer
lives in this process's memory.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import secrets
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self

import anyio
import attrs
from anyio.abc import TaskGroup

from ._dispatch import CallContext, send_chunk
from ._exceptions import AsyncBatchError, ClientClosedError, InvalidInputError
from ._merge import ChunkOutcome, merge_outcomes, synthesize_error
from ._models import FailedInput, RunStats, SimplePublicObject
from ._operations import OperationSpec, operation_spec
from ._plan import (
    Chunk,
    Key,
    PlannedInput,
    plan_chunks,
    record_key,
    sent_trace,
    validate_id_property,
    validate_object_type,
)
from ._schedule import stop_error_for
from ._schema import PropertySchema, check_id_property

if TYPE_CHECKING:
    from ._client import BatchClient

__all__ = ["BatchWriter", "WriteOperation", "WriteOutcome"]

logger = logging.getLogger("asyncbatch")

#: The operations a writer performs (both idempotent, so a chunk may be resent).
WriteOperation = Literal["update", "upsert"]
_WRITES = ("update", "upsert")

#: A buffer this close to its deadline is cut now rather than after one more short sleep.
_EARLY_SECONDS = 0.001

_State = Literal["new", "open", "closing", "closed"]


@attrs.frozen
class WriteOutcome:
    """One record's own answer from ``BatchWriter.write``.

    Attributes:
        ok: the record was written.
        result: the record as HubSpot wrote it when ok (for an upsert a
            ``SimplePublicUpsertObject``, whose ``new`` says it was created); else None.
        failed: why it was not written when not ok (``FailedInput``: ``reason``,
            ``category``, ``code``, ``property_name``, whether it was ``sent``, whether it is
            ``final`` or a retry may succeed, whether it ``stopped_run``); else None. Its
            ``positions`` count the writer's writes from 0.
    """

    ok: bool
    result: SimplePublicObject | None = None
    failed: FailedInput | None = None


class _Entry:
    """One distinct record in a buffer: the writes that named it, their merged properties."""

    __slots__ = ("first", "positions", "properties", "trace")

    def __init__(self, item: PlannedInput, position: int) -> None:
        self.first = item.input  # its id as the first write spelt it
        self.positions = [position]
        self.properties = dict(item.input.properties)
        self.trace = None if item.trace_assigned else item.input.object_write_trace_id

    def absorb(self, item: PlannedInput, position: int) -> None:
        # HubSpot refuses a request naming one record twice: later properties are merged over
        # earlier ones, as sequential writes would leave them.
        self.positions.append(position)
        self.properties.update(item.input.properties)
        if not item.trace_assigned:
            self.trace = item.input.object_write_trace_id

    def planned(self, index: int, trace_prefix: str) -> PlannedInput:
        trace = sent_trace(self.trace, trace_prefix, index)
        item = attrs.evolve(self.first, properties=self.properties, object_write_trace_id=trace)
        return PlannedInput(index, tuple(self.positions), item, trace_assigned=self.trace is None)


@attrs.define(eq=False)
class _Buffer:
    """The records of one id property waiting to become a chunk."""

    oldest: float  # when its first record came, on the client's clock
    entries: dict[Key, _Entry] = attrs.Factory(dict)


@attrs.define(eq=False)
class _Batch:
    """A chunk on its way: its context, the chunks it must wait for (they name one of its
    records), its done signal and its outcomes."""

    chunk: Chunk
    ctx: CallContext
    after: tuple[anyio.Event, ...]
    done: anyio.Event = attrs.Factory(anyio.Event)
    sink: list[ChunkOutcome] = attrs.Factory(list)
    started: bool = False


def _check_arguments(
    operation: object, id_property: object, max_wait_seconds: object, max_pending: object
) -> OperationSpec:
    if not isinstance(operation, str) or operation not in _WRITES:
        raise InvalidInputError(f"operation must be 'update' or 'upsert', got {operation!r}")
    if id_property is not None:
        validate_id_property(id_property)
    if (
        isinstance(max_wait_seconds, bool)
        or not isinstance(max_wait_seconds, int | float)
        or not 0 < max_wait_seconds < math.inf
    ):
        raise InvalidInputError(f"max_wait_seconds must be a number > 0, got {max_wait_seconds!r}")
    if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
        raise InvalidInputError(f"max_pending must be an int >= 1, got {max_pending!r}")
    return operation_spec(operation)


class BatchWriter:
    """Writes one record per call for many concurrent callers, in shared chunks.

    Made by ``BatchClient.writer``; use it as an async context manager (one client and one
    writer per object type and operation for an application's life). Entering reads the
    property definitions (per the client's ``check_properties``) and starts the writer's own
    task; leaving sends what is buffered and waits for every outcome.

    ``write`` waits while ``max_pending`` records are waiting for their outcome, so a burst
    cannot grow the buffer without bound. The buffer is in memory: if the process dies, the
    records still waiting (at most ``max_pending``, each with a caller still waiting) are
    lost, sent or not.
    """

    _ctx: CallContext
    _schema: PropertySchema | None
    _group: TaskGroup

    def __init__(
        self,
        client: BatchClient,
        object_type: str,
        operation: WriteOperation,
        *,
        id_property: str | None = None,
        max_wait_seconds: float = 0.05,
        max_pending: int = 10_000,
    ) -> None:
        validate_object_type(object_type)
        self._operation = _check_arguments(operation, id_property, max_wait_seconds, max_pending)
        self._client = client
        self._engine = client._engine
        self._chunk_size = client._chunk_size
        self._object_type = object_type
        self._id_property = id_property
        self._max_wait = float(max_wait_seconds)
        self._room = anyio.Semaphore(max_pending)
        self._trace_prefix = f"abw{secrets.token_hex(4)}"
        self._state: _State = "new"
        self._scope = anyio.CancelScope()  # every context's: the client's aclose() cancels it
        self._pacer = anyio.CancelScope()
        self._closing = anyio.Event()
        self._wake = anyio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._buffers: dict[str | None, _Buffer] = {}
        self._batches: dict[int, _Batch] = {}
        self._in_flight: dict[Key, anyio.Event] = {}
        self._waiting: dict[int, asyncio.Future[WriteOutcome]] = {}
        self._id_checked: set[str | None] = {id_property}
        self._positions = self._indexes = self._chunks = 0

    def __repr__(self) -> str:
        return (
            f"BatchWriter(object_type={self._object_type!r}, "
            f"operation={self._operation.name!r}, pending={self.pending})"
        )

    @property
    def pending(self) -> int:
        """Records written and not yet answered (buffered or in a request)."""
        return len(self._waiting)

    async def __aenter__(self) -> Self:
        """Read the property definitions and start the writer's task.

        Raises:
            ClientClosedError: the client is closed, or this writer was entered before.
            InvalidInputError: ``id_property`` cannot key this object type's records.
        """
        if self._state != "new":
            raise ClientClosedError("a BatchWriter can be entered only once")
        client = self._client
        client._check_open()
        await client._start_limiter()
        ids = {self._id_property}
        self._schema = await client._checked_schema(self._object_type, self._operation, ids)
        self._ctx = self._new_context(first=True)
        ready = anyio.Event()
        runner = asyncio.create_task(
            self._run(ready), name=f"asyncbatch-writer-{self._operation.name}-{self._object_type}"
        )
        self._runner = runner
        try:
            await ready.wait()
        except BaseException:
            runner.cancel()
            raise
        if runner.done():  # it could not start: say why
            await runner
        self._state = "open"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Send what is buffered, wait for every outcome, and close. Idempotent.

        If the task closing it is cancelled meanwhile, the writer stops at once: every record
        still waiting fails (its caller gets that outcome) and the cancellation goes on.
        """
        runner = self._runner
        if self._state == "open":
            self._state = "closing"
        self._closing.set()
        if runner is None:
            self._state = "closed"
            return
        try:
            await asyncio.shield(runner)
        except asyncio.CancelledError:
            if not runner.done():
                runner.cancel()
                with anyio.CancelScope(shield=True):
                    await asyncio.wait([runner])
            raise

    async def write(self, record: object) -> WriteOutcome:
        """Write one record; return its own outcome once its chunk is answered.

        ``record`` is a dict in HubSpot's input shape (``{"id", "properties", "idProperty"?,
        "objectWriteTraceId"?}``) or a ``BatchInput``. A failure to write it (HubSpot refused
        it, the run stopped, retries ran out) is the outcome, not an exception. Cancelling the
        call does not take the record back: it is still written.

        Raises:
            InvalidInputError: the record is bad (this caller only; nothing is sent).
            ClientClosedError: the writer is not open (not entered, closing or closed), or its
                client is closed.
        """
        self._check_writable()
        item = self._planned(record)
        try:
            self._room.acquire_nowait()
        except anyio.WouldBlock:
            await self._room.acquire()  # back-pressure: max_pending records are waiting
            if self._state != "open":
                self._room.release()
                self._check_writable()
        position = self._positions
        self._positions += 1
        future: asyncio.Future[WriteOutcome] = asyncio.get_running_loop().create_future()
        self._waiting[position] = future
        self._add(item, position)
        return await future

    async def flush(self) -> None:
        """Send every buffered record now; return once every record written before this call
        has its outcome.

        Raises:
            ClientClosedError: the writer is not open, or its client is closed.
        """
        self._check_writable()
        self._cut_all()
        for batch in list(self._batches.values()):
            await batch.done.wait()

    # -- taking records in ---------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self._client.closed:
            raise ClientClosedError("the BatchClient of this writer is closed")
        if self._state == "new":
            raise ClientClosedError("use the writer as `async with client.writer(...) as w`")
        if self._state != "open":
            raise ClientClosedError("this BatchWriter is closed")

    def _planned(self, record: object) -> PlannedInput:
        """``record`` checked and converted, or ``InvalidInputError`` (naming no position: the
        caller wrote one record)."""
        try:
            plan = plan_chunks(
                [record], operation=self._operation, id_property=self._id_property, chunk_size=1
            )
        except InvalidInputError as exc:
            raise InvalidInputError(exc.problem, field=exc.field) from None
        item = plan.items[0]
        id_property = item.input.id_property
        if self._schema is not None and id_property not in self._id_checked:
            problem = check_id_property(self._schema, id_property, operation=self._operation.name)
            if problem is not None:
                raise InvalidInputError(problem, field="idProperty")
            self._id_checked.add(id_property)
        return item

    def _add(self, item: PlannedInput, position: int) -> None:
        id_property = item.input.id_property
        buffer = self._buffers.get(id_property)
        if buffer is None:
            buffer = self._buffers[id_property] = _Buffer(self._engine.clock())
            self._wake.set()
        key = record_key(item.input)
        entry = buffer.entries.get(key)
        if entry is None:
            buffer.entries[key] = _Entry(item, position)
        else:
            entry.absorb(item, position)
        if len(buffer.entries) >= self._chunk_size:
            self._dispatch(self._cut(id_property), self._ctx)

    def _cut(self, id_property: str | None) -> Chunk:
        """The buffer of ``id_property`` as a chunk (it leaves the buffers)."""
        buffer = self._buffers.pop(id_property)
        items = []
        for entry in buffer.entries.values():
            items.append(entry.planned(self._indexes, self._trace_prefix))
            self._indexes += 1
        chunk = Chunk(self._chunks, tuple(items))
        self._chunks += 1
        return chunk

    def _cut_all(self) -> None:
        for id_property in list(self._buffers):
            self._dispatch(self._cut(id_property), self._ctx)

    def _dispatch(self, chunk: Chunk, ctx: CallContext, *, start: bool = True) -> _Batch:
        """Register ``chunk`` (after the chunks in flight that name its records) and, unless
        told not to, start sending it in the writer's task group."""
        keys = [record_key(item.input) for item in chunk.items]
        after = tuple({id(e): e for k in keys if (e := self._in_flight.get(k))}.values())
        batch = _Batch(chunk, ctx, after)
        for key in keys:
            self._in_flight[key] = batch.done
        self._batches[id(batch)] = batch
        if start:
            self._group.start_soon(self._send, batch)
        return batch

    # -- the writer's own task -----------------------------------------------------------------

    async def _run(self, ready: anyio.Event) -> None:
        """The writer's task: its chunks and its pacer run in a task group here, until
        ``aclose()`` (then what is buffered is sent and awaited) or a cancellation."""
        try:
            with self._scope:
                async with anyio.create_task_group() as group:
                    self._group = group
                    group.start_soon(self._pace)
                    ready.set()
                    await self._closing.wait()
                    self._pacer.cancel()
                    self._cut_all()
        finally:
            ready.set()
            self._teardown()

    async def _pace(self) -> None:
        """Cut each buffer once its oldest record has waited ``max_wait_seconds``: sleep until
        the earliest deadline (or until a record comes to empty buffers), never poll."""
        clock, sleep = self._engine.clock, self._engine.sleep
        with self._pacer:
            while True:
                if not self._buffers:
                    self._wake = anyio.Event()
                    await self._wake.wait()
                    continue
                now = clock()
                due = min(buffer.oldest for buffer in self._buffers.values()) + self._max_wait
                if due > now + _EARLY_SECONDS:
                    await sleep(due - now)
                    continue
                for id_property, buffer in list(self._buffers.items()):
                    if buffer.oldest + self._max_wait <= now + _EARLY_SECONDS:
                        self._dispatch(self._cut(id_property), self._ctx)

    async def _send(self, batch: _Batch) -> None:
        for event in batch.after:
            await event.wait()
        batch.started = True
        await send_chunk(batch.ctx, batch.chunk, batch.sink)
        self._answer(batch)

    def _answer(self, batch: _Batch) -> None:
        """Hand every caller of ``batch`` its own outcome; then, if the run stopped, start
        afresh."""
        del self._batches[id(batch)]
        ctx = batch.ctx
        try:
            self._hand_out(batch)
        except Exception as exc:  # a caller is never left waiting, whatever went wrong
            logger.exception("chunk %d: unexpected error reading its outcomes", batch.chunk.number)
            error = AsyncBatchError(f"internal error while answering: {type(exc).__name__}: {exc}")
            self._fail_unanswered(batch, error)
        batch.done.set()
        for item in batch.chunk.items:
            key = record_key(item.input)
            if self._in_flight.get(key) is batch.done:
                del self._in_flight[key]
        if ctx.stop.error is not None and ctx is self._ctx and self._state == "open":
            self._restart()

    def _hand_out(self, batch: _Batch) -> None:
        now = dt.datetime.now(dt.UTC)
        result = merge_outcomes(
            batch.chunk.items,
            batch.sink,
            stats=RunStats(),
            started_at=now,
            completed_at=now,
            stop_error=stop_error_for(batch.sink, batch.ctx.stop),
        )
        observer = batch.ctx.engine.observer
        if observer is not None:
            observer.results(batch.ctx.operation.name, batch.ctx.object_type, result)
        for written, positions in zip(result.results, result.result_positions, strict=True):
            for position in positions:
                self._deliver(position, WriteOutcome(ok=True, result=written))
        for failed in result.failed:
            for position in failed.positions:
                self._deliver(position, WriteOutcome(ok=False, failed=failed))

    def _fail_unanswered(self, batch: _Batch, error: AsyncBatchError) -> None:
        for item in batch.chunk.items:
            standard = synthesize_error((item,), error, sent=batch.started)
            failed = FailedInput(
                item.positions,
                item.input,
                standard.message,
                standard,
                sent=batch.started,
                category=standard.category,
            )
            for position in item.positions:
                self._deliver(position, WriteOutcome(ok=False, failed=failed))

    def _deliver(self, position: int, outcome: WriteOutcome) -> None:
        future = self._waiting.pop(position, None)
        if future is None:
            return
        self._room.release()
        if not future.done():  # a cancelled caller's future is done (cancelled)
            future.set_result(outcome)

    def _restart(self) -> None:
        """After a stop: the records still buffered fail with its reason, unsent (their
        callers were waiting when it came), and later writes go to a fresh context."""
        stopped, self._ctx = self._ctx, self._new_context()
        self._client._done(stopped)
        for id_property in list(self._buffers):
            self._dispatch(self._cut(id_property), stopped)

    def _new_context(self, *, first: bool = False) -> CallContext:
        """The writer's context: its first opens without a canary when the definitions were
        read (``BatchClient._context``); one after a stop (a 401, the day's limit) starts with
        one again."""
        ctx = self._client._context(
            self._operation, self._object_type, schema=self._schema, open_by_schema=first
        )
        ctx.scope = self._scope
        return ctx

    def _teardown(self) -> None:
        """After the task group: account for every record still held (the writer was cut
        short by the client's ``aclose()`` or a cancellation), then retire the context."""
        self._state = "closed"
        ctx = self._ctx
        if ctx.stop.error is None and (self._batches or self._buffers):
            ctx.stop.set(AsyncBatchError("the writer stopped before this record was answered"))
        for id_property in list(self._buffers):
            self._dispatch(self._cut(id_property), ctx, start=False)
        for used in {id(b.ctx): b.ctx for b in self._batches.values()}.values():
            used.abandon()  # chunks cut short in flight: their outcomes, sent or not
        for batch in list(self._batches.values()):
            if not batch.started:
                unsent = batch.ctx.outcome(batch.chunk, error=batch.ctx.stop.error, sent=False)
                batch.sink.append(unsent)
            self._answer(batch)
        self._client._done(ctx)
