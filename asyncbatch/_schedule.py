"""The two schedulers: a list call's workers and a stream's reader and workers, both sending
every chunk through ``_dispatch.send_chunk``. Does I/O only through the dispatcher (and reads
the caller's async iterable).

One rule says when a result carries the run's stop (``stop_error_for``): when any of its inputs
failed because of it, that is, the stop's own chunk or a chunk never sent after it.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import anyio
import attrs
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._dispatch import CallContext, Counters, Stop, send_chunk
from ._exceptions import AsyncBatchError
from ._merge import CallMerge, ChunkOutcome, merge_steps
from ._models import BatchResult
from ._plan import Chunk, Key, Plan, PlannedInput, StreamPlanner, record_key
from ._steps import LoopTurns, Steps, run_steps

logger = logging.getLogger("asyncbatch")

__all__ = [
    "merge_call",
    "release_steps",
    "run_list",
    "run_stream",
    "stop_error_for",
]


def stop_error_for(outcomes: Sequence[ChunkOutcome], stop: Stop) -> AsyncBatchError | None:
    """The run's stop, if any of ``outcomes`` failed because of it; else None."""
    error = stop.error
    if error is None:
        return None
    hit = any(not o.sent or o.error is error for o in outcomes if o.chunk.size)
    return error if hit else None


def release_steps(lists: Iterable[list[Any]]) -> Steps[None]:
    """Drop the last references to a finished call's objects (each list is emptied) in steps
    of ``_RELEASE`` items, for ``cooperatively``: freeing a million planned records' property
    dicts at once holds the loop ~0.1 s. A small call's lists go in one slice, without a
    turn for the loop (a checkpoint per list was six loop passes for an upsert of one)."""
    for held in lists:
        while held:
            del held[-_RELEASE:]
            yield


#: Items freed in one step: 2,048 of a million records' property dicts took 0.6 ms at the
#: 99th percentile and up to 0.9 ms, half of that at 1,024.
_RELEASE = 1024


def merge_call(
    ctx: CallContext,
    items: Sequence[PlannedInput],
    outcomes: Sequence[ChunkOutcome],
    *,
    inputs: int,
    chunks: int,
    started: float,
    started_wall: dt.datetime,
) -> Steps[BatchResult]:
    """The merge of ``items``' outcomes into one ``BatchResult`` with the context's counters,
    as steps: ``run_steps`` it for a chunk, drive a whole call with ``cooperatively``."""
    stats = ctx.counters.stats(
        inputs=inputs, records=len(items), chunks=chunks, elapsed=ctx.engine.clock() - started
    )
    return merge_steps(
        items,
        outcomes,
        stats=stats,
        started_at=started_wall,
        completed_at=dt.datetime.now(dt.UTC),
        stop_error=stop_error_for(outcomes, ctx.stop),
    )


async def run_list(ctx: CallContext, plan: Plan, merge: CallMerge, *, workers: int) -> None:
    """Send ``plan``'s chunks with at most ``workers`` in flight, each chunk built as a worker
    takes it and merged into ``merge`` as it ends; also when the call was cut short by
    ``ctx.cancel`` (what was on its way, and what was never sent, is merged as it stands)."""
    numbers = iter(range(plan.chunk_count))
    in_flight: dict[int, list[ChunkOutcome]] = {}

    # One for all workers: the work they do between two turns of the loop is bounded
    # together (each resumed worker would otherwise do a slice of its own first).
    turns = LoopTurns()

    async def worker() -> None:
        while True:
            await turns.give()  # first too: workers starting at once share a slice
            number = next(numbers, None)
            if number is None:
                return
            chunk = plan.chunk(number)
            sink = in_flight[number] = []
            if ctx.on_chunk is None:
                await send_chunk(ctx, chunk, sink)
            else:
                await _send_with_hook(ctx, chunk, sink)
            del in_flight[number]
            merge.add(sink, ctx.stop.error)
            merge.settled(chunk)

    # A worker more than the slots for every two: while one reads its answer, the slot it
    # freed sends the next chunk of a waiting worker (``send_chunk`` frees it before reading).
    # Never more workers than chunks.
    with ctx.scope:
        async with anyio.create_task_group() as group:
            for _ in range(min(workers + (workers + 1) // 2, plan.chunk_count)):
                group.start_soon(worker)
    if ctx.scope.cancel_called:
        ctx.abandon()  # the chunks on their way conclude into their sinks
        for sink in in_flight.values():
            merge.add(sink, ctx.stop.error)
        for number in numbers:
            await turns.give()  # the workers' rule: a turn after each slice of this too
            unsent = ctx.outcome(plan.chunk(number), error=ctx.stop.error, sent=False)
            merge.add([unsent], ctx.stop.error)


async def _send_with_hook(ctx: CallContext, chunk: Chunk, outcomes: list[ChunkOutcome]) -> None:
    """Send one chunk with counters of its own, then hand its result to ``ctx.on_chunk``."""
    own = attrs.evolve(ctx, counters=Counters())
    sink: list[ChunkOutcome] = []
    started, started_wall = ctx.engine.clock(), dt.datetime.now(dt.UTC)
    await send_chunk(own, chunk, sink)
    outcomes.extend(sink)
    ctx.counters.add(own.counters)
    inputs = sum(len(item.positions) for item in chunk.items)
    result = run_steps(
        merge_call(
            own,
            chunk.items,
            sink,
            inputs=inputs,
            chunks=1,
            started=started,
            started_wall=started_wall,
        )
    )
    await call_hook(ctx, result)


async def call_hook(ctx: CallContext, result: BatchResult) -> None:
    """Give ``result`` to the caller's ``on_chunk``; a hook that fails is logged, and the call
    goes on (its accounting must not depend on the caller's code)."""
    if ctx.on_chunk is None:
        return
    try:
        answer = ctx.on_chunk(result)
        if inspect.isawaitable(answer):
            await answer
    except Exception:
        logger.exception("on_chunk raised; the call goes on")


@attrs.define(eq=False)
class _Dispatch:
    """A streamed chunk, the chunks before it that name the same records (a record is never
    in two requests at once, so later properties still win), its done signal, its outcomes."""

    chunk: Chunk
    after: tuple[anyio.Event, ...]
    done: anyio.Event = attrs.Factory(anyio.Event)
    sink: list[ChunkOutcome] = attrs.Factory(list)
    ctx: CallContext | None = None
    started: float = 0.0
    started_wall: dt.datetime = attrs.Factory(lambda: dt.datetime.now(dt.UTC))


class _Stream:
    """One stream's state: which records are in flight, which chunks are not yet reported."""

    def __init__(
        self,
        ctx: CallContext,
        results: MemoryObjectSendStream[BatchResult],
        max_workers: int,
    ) -> None:
        self.ctx = ctx
        self.results = results
        self.max_workers = max_workers
        self.workers = 0
        self.in_flight: dict[Key, anyio.Event] = {}
        self.unreported: dict[int, _Dispatch] = {}
        self.to_send, self.to_take = anyio.create_memory_object_stream[_Dispatch](0)

    def result(self, dispatch: _Dispatch) -> BatchResult:
        ctx = dispatch.ctx or attrs.evolve(self.ctx, counters=Counters())
        inputs = sum(len(item.positions) for item in dispatch.chunk.items)
        return run_steps(
            merge_call(
                ctx,
                dispatch.chunk.items,
                dispatch.sink,
                inputs=inputs,
                chunks=1,
                started=dispatch.started or ctx.engine.clock(),
                started_wall=dispatch.started_wall,
            )
        )

    async def dispatch(self, chunk: Chunk, group: TaskGroup) -> None:
        keys = [record_key(item.input) for item in chunk.items]
        after = tuple({id(e): e for k in keys if (e := self.in_flight.get(k))}.values())
        dispatch = _Dispatch(chunk, after)
        for key in keys:
            self.in_flight[key] = dispatch.done
        self.unreported[id(dispatch)] = dispatch
        if self.workers < self.max_workers:  # never more workers than chunks
            self.workers += 1
            group.start_soon(self.worker, self.to_take.clone())
        await self.to_send.send(dispatch)

    async def worker(self, take: MemoryObjectReceiveStream[_Dispatch]) -> None:
        async with take:
            async for dispatch in take:
                try:
                    for event in dispatch.after:
                        await event.wait()
                    dispatch.ctx = attrs.evolve(self.ctx, counters=Counters())
                    dispatch.started = self.ctx.engine.clock()
                    await send_chunk(dispatch.ctx, dispatch.chunk, dispatch.sink)
                    result = self.result(dispatch)
                    await call_hook(self.ctx, result)
                    await self.results.send(result)
                    del self.unreported[id(dispatch)]
                finally:
                    self.release(dispatch)

    def release(self, dispatch: _Dispatch) -> None:
        dispatch.done.set()
        for item in dispatch.chunk.items:
            key = record_key(item.input)
            if self.in_flight.get(key) is dispatch.done:
                del self.in_flight[key]

    async def report_cut_short(self, planner: StreamPlanner) -> None:
        """After ``ctx.cancel``: every chunk read but not reported, as its outcomes stand."""
        self.ctx.abandon()
        for chunk in planner.flush():
            self.unreported[id(chunk)] = _Dispatch(chunk, ())
        for dispatch in self.unreported.values():
            if dispatch.ctx is None:  # never started
                unsent = self.ctx.outcome(dispatch.chunk, error=self.ctx.stop.error, sent=False)
                dispatch.sink.append(unsent)
            await self.results.send(self.result(dispatch))
        self.unreported.clear()


async def run_stream(
    ctx: CallContext,
    source: AsyncIterator[object],
    planner: StreamPlanner,
    results: MemoryObjectSendStream[BatchResult],
    *,
    workers: int,
) -> None:
    """Read ``source`` into chunks and send them, each chunk's result to ``results`` as it
    finishes. If reading fails (a bad record, or any error of the source), the chunks read
    before it are still sent and reported, then the source's own exception is raised."""
    stream = _Stream(ctx, results, workers)
    source_error: Exception | None = None
    async with results:
        with ctx.scope:
            async with anyio.create_task_group() as group:
                async with stream.to_take:
                    async with stream.to_send:
                        source_error = await _read(ctx, source, planner, stream, group)
                        for chunk in planner.flush():
                            await stream.dispatch(chunk, group)
        if ctx.scope.cancel_called:
            await stream.report_cut_short(planner)
    if source_error is not None:
        raise source_error


async def _read(
    ctx: CallContext,
    source: AsyncIterator[object],
    planner: StreamPlanner,
    stream: _Stream,
    group: TaskGroup,
) -> Exception | None:
    position = 0
    try:
        # The stop is checked before reading, so no record is read and then dropped.
        while ctx.stop.error is None:
            try:
                record = await anext(source)
            except StopAsyncIteration:
                break
            chunk = planner.feed(record, position)
            position += 1
            if chunk is not None:
                await stream.dispatch(chunk, group)
    except Exception as exc:  # the source's own failure, raised after what was read is sent
        return exc
    finally:
        # Close the input now (an async generator left open would be finalised later by a
        # task of its own).
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
    return None
