"""``asyncbatch.sync.BatchClient``: the blocking door, for code with no event loop of its own
(Celery tasks, Django management commands and views, scripts, notebooks).

Does network I/O and runs a thread. Each client starts one thread (``asyncbatch-sync``, a
daemon) running one asyncio event loop for the client's life; the ``asyncbatch.BatchClient``
it wraps is built, used and closed in that loop only. A blocking verb hands its coroutine to the
loop (``asyncio.run_coroutine_threadsafe``) and waits for the answer, so every thread calling
one client shares its connection pool, concurrency cap and rate limiter. Exceptions come through
unchanged. An exception raised in the waiting thread (``KeyboardInterrupt``, Celery's
``SoftTimeLimitExceeded``) cancels the call in the loop and is re-raised.

Records are read in the calling thread, never in the loop's: a lazy source (a Django queryset,
a file) may block or be bound to its thread (Django refuses database access from a thread that
runs an event loop). The blocking verbs read ``records`` into a list first (as the async verbs
plan the whole input anyway); the ``stream_*`` verbs hand records over a hundred at a time as
the loop asks for them, and pass each chunk's ``BatchResult`` back through a bounded queue.
A sync ``on_chunk`` hook runs in the calling thread as well, while it waits for the call.

``writer()`` is not offered here: a ``BatchWriter`` gathers the single-record writes of many
tasks of one event loop. Sync code with its records at hand calls ``upsert`` or
``stream_upsert``, which chunk them the same way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import os
import queue
import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
)
from types import TracebackType
from typing import Any, Concatenate, Final, ParamSpec, Self, TypeVar

import attrs

from ._client import BatchClient as AsyncBatchClient
from ._dispatch import ChunkHook
from ._exceptions import ClientClosedError
from ._models import BatchResult
from ._plan import check_records_argument
from ._schema import PropertySchema  # noqa: F401 (named by properties' annotation)

__all__ = ["BatchClient"]

_T = TypeVar("_T")
_S = TypeVar("_S")
_P = ParamSpec("_P")

#: Opens an async stream in the loop, from the records' source and the loop's ``on_chunk``.
_OpenStream = Callable[[AsyncIterable[object], ChunkHook | None], AsyncGenerator[BatchResult, None]]

#: Records handed from the calling thread to the loop per request of a stream.
_FEED_RECORDS: Final = 100
#: Chunk results a stream may hold that its caller has not taken yet.
_QUEUE_RESULTS: Final = 4
#: How long ``close()`` lets the calls still running report what they had not finished.
_CLOSE_GRACE_SECONDS: Final = 10.0


def _arguments_of(
    source: Callable[Concatenate[Any, _P], None],
) -> Callable[[Callable[Concatenate[_S, ...], None]], Callable[Concatenate[_S, _P], None]]:
    """Give the decorated ``__init__(self, *args, **kwargs)`` the signature of ``source``
    (for type checkers and ``inspect``), so the two constructors cannot drift apart."""

    def decorate(init: Callable[Concatenate[_S, ...], None]) -> Callable[Concatenate[_S, _P], None]:
        init.__signature__ = inspect.signature(source)  # type: ignore[attr-defined]
        return init

    return decorate


#: ``stream_update``'s docstring (the other ``stream_*`` verbs point to it).
_STREAM_DOC: Final = """As ``asyncbatch.BatchClient.stream_update``: a plain iterator of each
        chunk's ``BatchResult`` as chunks finish.

        ``records`` are read in the iterating thread, a hundred at a time as the stream needs
        them (bounded memory). ``close()`` the iterator (or use ``contextlib.closing``) to stop
        early: the work has stopped when it returns. A record source that raises ends the
        stream with its own error, after the chunks read before it are yielded.

        Raises:
            ClientClosedError: the client is closed (or closes during the stream).
        """
#: The names an async verb gives its records (read in the calling thread).
_RECORDS: Final = ("records", "ids")


def _given(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """A call's arguments by name, bound to the async verb's ``signature`` (all but its
    ``self``): a wrong call raises ``TypeError`` here, in the calling thread, as a call of
    the async verb would."""
    arguments = signature.bind(None, *args, **kwargs).arguments
    del arguments[next(iter(signature.parameters))]
    return arguments


def _with_hook(given: dict[str, Any], hook: ChunkHook | None) -> dict[str, Any]:
    """``given`` with the loop's ``on_chunk`` (none: the verb's default, as not every verb
    takes one)."""
    return given if hook is None else {**given, "on_chunk": hook}


def _derived(call: Callable[..., Any], name: str, signature: inspect.Signature, doc: str) -> None:
    """Name ``call`` as the sync ``BatchClient``'s verb ``name`` and give it ``signature``, the
    async verb's (for ``inspect``, ``help()``; its annotations, for ``get_type_hints``, name
    what this module imports)."""
    call.__name__ = name
    call.__qualname__ = f"BatchClient.{name}"
    call.__doc__ = doc
    call.__signature__ = signature  # type: ignore[attr-defined]
    call.__annotations__ = {
        **{p.name: p.annotation for p in signature.parameters.values() if p.name != "self"},
        "return": signature.return_annotation,
    }


def _blocking(
    verb: Callable[Concatenate[AsyncBatchClient, _P], Awaitable[_T]], *, doc: str | None = None
) -> Callable[Concatenate[BatchClient, _P], _T]:
    """The sync door's verb for the async ``verb``: its parameters (for type checkers too),
    blocking, its records read into a list here and a sync ``on_chunk`` run here."""
    signature = inspect.signature(verb)
    run_verb: Callable[..., Awaitable[_T]] = verb

    def call(self: BatchClient, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        given = _given(signature, args, kwargs)
        for name in _RECORDS:
            if name in given:
                given[name] = _listed(given[name])
        on_chunk = given.pop("on_chunk", None)
        return self._run(lambda hook: run_verb(self._client, **_with_hook(given, hook)), on_chunk)

    name = verb.__name__
    doc = doc or f"As ``asyncbatch.BatchClient.{name}``, blocking."
    _derived(call, name, signature, doc)
    return call


def _streaming(
    like: Callable[Concatenate[AsyncBatchClient, _P], Awaitable[BatchResult]], *, doc: str
) -> Callable[
    [Callable[Concatenate[AsyncBatchClient, _P], AsyncGenerator[BatchResult, None]]],
    Callable[Concatenate[BatchClient, _P], Generator[BatchResult, None, None]],
]:
    """``_streaming(like)(stream)``: the sync door's verb for the async ``stream``, taking the
    parameters of the blocking verb ``like`` (records from a plain iterable) and yielding each
    chunk's ``BatchResult``. Two steps, so that mypy checks ``stream`` takes ``like``'s
    arguments."""
    signature = inspect.signature(like).replace(
        return_annotation="Generator[BatchResult, None, None]"
    )

    def derive(
        stream: Callable[Concatenate[AsyncBatchClient, _P], AsyncGenerator[BatchResult, None]],
    ) -> Callable[Concatenate[BatchClient, _P], Generator[BatchResult, None, None]]:
        run_stream: Callable[..., AsyncGenerator[BatchResult, None]] = stream

        def call(
            self: BatchClient, /, *args: _P.args, **kwargs: _P.kwargs
        ) -> Generator[BatchResult, None, None]:
            given = _given(signature, args, kwargs)
            name = next(n for n in _RECORDS if n in given)
            records = given.pop(name)
            on_chunk = given.pop("on_chunk", None)
            return self._streamed(
                lambda source, hook: run_stream(
                    self._client, **_with_hook({**given, name: source}, hook)
                ),
                records,
                on_chunk,
            )

        _derived(call, stream.__name__, signature, doc)
        return call

    return derive


def _listed(records: Iterable[object]) -> Iterable[object]:
    """Read a lazy ``records`` into a list here, in the calling thread."""
    check_records_argument(records)
    if isinstance(records, list | tuple) or not isinstance(records, Iterable):
        return records  # nothing to read here (an async iterable is refused by the call)
    return list(records)


@attrs.define(eq=False)
class _Errand:
    """Work the loop hands to the calling thread (read records, run a sync ``on_chunk``); the
    loop awaits ``future``. An errand not run (the call is ending) is settled with
    ``abandoned``."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    work: Callable[[], Any]
    abandoned: Any

    def run(self) -> None:
        """In the calling thread. Its ``Exception`` goes to the loop; a ``BaseException``
        (``KeyboardInterrupt``) stays here, and the caller cancels the call."""
        try:
            value = self.work()
        except Exception as exc:
            self._send(self.future.set_exception, exc)
        else:
            self._send(self.future.set_result, value)

    def abandon(self) -> None:
        self._send(self.future.set_result, self.abandoned)

    def _send(self, settle: Callable[[Any], None], value: object) -> None:
        def deliver() -> None:
            if not self.future.done():  # the call may have stopped waiting
                settle(value)

        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting
            self.loop.call_soon_threadsafe(deliver)


async def _in_caller(inbox: queue.SimpleQueue[object], work: Callable[[], _T], abandoned: _T) -> _T:
    """In the loop: have the calling thread (waiting on ``inbox``) run ``work``."""
    loop = asyncio.get_running_loop()
    errand = _Errand(loop, loop.create_future(), work, abandoned)
    inbox.put(errand)
    result: _T = await errand.future
    return result


def _hook(inbox: queue.SimpleQueue[object], on_chunk: ChunkHook | None) -> ChunkHook | None:
    """``on_chunk`` run in the calling thread (an async one's coroutine is awaited in the
    loop)."""
    if on_chunk is None:
        return None

    async def hook(result: BatchResult) -> None:
        answer = await _in_caller(inbox, lambda: on_chunk(result), None)
        if inspect.isawaitable(answer):
            await answer

    return hook


@attrs.define(eq=False)
class _Item:
    result: BatchResult


@attrs.define(eq=False)
class _Channel:
    """One stream's traffic between the loop and the calling thread.

    ``inbox`` carries, to the calling thread, errands (read records, run a hook), chunk results
    (``_Item``) and finally the pump's own future when it has ended. ``credit`` bounds the
    results put and not yet taken. ``records`` is read in the calling thread only; the rest
    but ``inbox`` in the loop only.
    """

    records: Iterator[object]
    inbox: queue.SimpleQueue[object] = attrs.Factory(queue.SimpleQueue)
    credit: asyncio.Semaphore = attrs.Factory(lambda: asyncio.Semaphore(_QUEUE_RESULTS))
    task: asyncio.Task[None] | None = None
    stopped: bool = False

    def stop(self) -> None:
        self.stopped = True
        if self.task is not None:
            self.task.cancel()

    async def source(self) -> AsyncGenerator[object, None]:
        """The records, read by the calling thread when the stream asks for them."""
        end: tuple[list[object], BaseException | None] = ([], None)
        while True:
            records, error = await _in_caller(self.inbox, self._read_some, end)
            for record in records:
                yield record
            if error is not None:
                raise error
            if not records:
                return

    def _read_some(self) -> tuple[list[object], BaseException | None]:
        """Up to ``_FEED_RECORDS`` records, and the iterator's own error if it raised."""
        batch: list[object] = []
        try:
            for record in self.records:
                batch.append(record)
                if len(batch) == _FEED_RECORDS:
                    break
        except Exception as exc:  # the source's failure, reported after what it gave
            return batch, exc
        return batch, None

    async def pump(self, stream: AsyncGenerator[BatchResult, None], running: set[_Channel]) -> None:
        """Run in the loop: put each chunk's result into ``inbox``, at most ``_QUEUE_RESULTS``
        ahead of the caller."""
        self.task = asyncio.current_task()
        running.add(self)
        try:
            async with contextlib.aclosing(stream):
                if self.stopped:  # closed before it began
                    return
                async for result in stream:
                    await self.credit.acquire()
                    self.inbox.put(_Item(result))
        finally:
            running.discard(self)


def _start(
    loop: asyncio.AbstractEventLoop,
    make: Callable[[], Awaitable[_T]],
    future: concurrent.futures.Future[_T],
) -> None:
    """In the loop: run ``make()`` as a task whose outcome ``future`` gets, and which a
    cancelled ``future`` cancels (what ``asyncio.run_coroutine_threadsafe`` does, but with the
    future made by the caller first)."""
    if future.cancelled():
        return  # cancelled before it started: nothing was sent

    async def call() -> _T:
        return await make()

    task = loop.create_task(call())

    def conclude(done: asyncio.Task[_T]) -> None:
        with contextlib.suppress(concurrent.futures.InvalidStateError):  # cancelled meanwhile
            if done.cancelled():
                future.cancel()
            elif (error := done.exception()) is not None:
                future.set_exception(error)
            else:
                future.set_result(done.result())

    def cancelled(concluded: concurrent.futures.Future[_T]) -> None:
        if concluded.cancelled():
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to stop
                loop.call_soon_threadsafe(task.cancel)

    task.add_done_callback(conclude)
    future.add_done_callback(cancelled)


class BatchClient:
    """A blocking ``asyncbatch.BatchClient``: the same arguments and verbs, one event loop in a
    background thread for the client's life.

    Use it as a context manager (or call ``close()``). One client may serve many threads at
    once; they share its connection pool, concurrency cap and rate limiter. Build it once per
    process (per Celery worker process, per Django process), not per call.

    Raises:
        InvalidInputError: a bad argument, as ``asyncbatch.BatchClient`` raises it (no thread
            is left running).
    """

    @_arguments_of(AsyncBatchClient.__init__)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self._pid = os.getpid()
        self._loop: asyncio.AbstractEventLoop
        self._stop: asyncio.Event
        self._client: AsyncBatchClient
        self._streams: set[_Channel] = set()  # the streams' pumps, touched in the loop only
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run_loop, args=(started, args, kwargs), name="asyncbatch-sync", daemon=True
        )
        self._thread.start()
        try:
            started.result()  # the async client's own argument errors come through here
        except BaseException:
            self._closed = True
            if not started.done():
                raise  # interrupted while the loop started: its daemon thread is left behind
            if started.exception() is None:  # interrupted just after: the loop waits for close
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join()
            raise

    def _run_loop(
        self,
        started: concurrent.futures.Future[None],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        try:
            asyncio.run(self._serve(started, args, kwargs))
        except BaseException as exc:
            if started.done():
                raise
            started.set_exception(exc)

    async def _serve(
        self,
        started: concurrent.futures.Future[None],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        """The loop thread's one task: build the client, wait for ``close()``, close it."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            self._client = AsyncBatchClient(*args, **kwargs)
        except BaseException as exc:
            started.set_exception(exc)
            return
        started.set_result(None)
        await self._stop.wait()
        await self._client.aclose()
        # A stream's caller may not be taking its results: its pump would wait for it.
        for channel in list(self._streams):
            channel.stop()
        # Calls still running were told to end by aclose(); let them report what they had not
        # finished. asyncio.run() then cancels whatever is left.
        running = asyncio.all_tasks() - {asyncio.current_task()}
        if running:
            await asyncio.wait(running, timeout=_CLOSE_GRACE_SECONDS)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<asyncbatch.sync.{self._client!r} {state}>"

    @property
    def closed(self) -> bool:
        """True once ``close()`` has run (or begun)."""
        return self._closed

    def __enter__(self) -> Self:
        """Raises ``LimiterUnavailableError`` if a shared (Redis) limiter cannot be reached
        (the client is then closed)."""
        try:
            self._run(lambda _: self._client.__aenter__())
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the async client in its loop, then stop the loop and its thread.

        Idempotent, and safe from any thread but the loop's own: every caller returns once
        the thread has ended. Calls still running in other threads end at once, reporting
        what they had not finished (as ``aclose()`` does); later calls raise
        ``ClientClosedError``.
        """
        if os.getpid() != self._pid:  # a child after fork(): the loop stayed in the parent
            self._closed = True
            return
        self._refuse_loop_thread()
        with self._lock:
            first, self._closed = not self._closed, True
            if first:
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()

    # -- the verbs -------------------------------------------------------------------------
    #
    # Each is its async namesake, blocking, with the async verb's own parameters (one place
    # to change them). ``records`` and ``ids`` are read in the calling thread (into a list for
    # the blocking verbs); a sync ``on_chunk`` runs in the calling thread too, while it waits
    # (an async one runs in the loop). A ``stream_*`` verb takes the arguments of the blocking
    # verb it streams (records from a plain iterable: this thread reads them).

    update = _blocking(AsyncBatchClient.update)
    upsert = _blocking(AsyncBatchClient.upsert)
    create = _blocking(AsyncBatchClient.create)
    read = _blocking(AsyncBatchClient.read)
    archive = _blocking(AsyncBatchClient.archive)
    properties = _blocking(
        AsyncBatchClient.properties,
        doc="As ``asyncbatch.BatchClient.properties``, blocking (cached for the client's life).",
    )
    stream_update = _streaming(AsyncBatchClient.update, doc=_STREAM_DOC)(
        AsyncBatchClient.stream_update
    )
    stream_upsert = _streaming(
        AsyncBatchClient.upsert,
        doc="As ``stream_update``, upserting (every record needs an id property).",
    )(AsyncBatchClient.stream_upsert)
    stream_read = _streaming(
        AsyncBatchClient.read, doc="As ``stream_update``, reading (the arguments of ``read``)."
    )(AsyncBatchClient.stream_read)
    stream_create = _streaming(
        AsyncBatchClient.create,
        doc="As ``stream_update``, creating (records are never coalesced; see ``create``).",
    )(AsyncBatchClient.stream_create)
    stream_archive = _streaming(
        AsyncBatchClient.archive,
        doc="As ``stream_update``, archiving record ids (the arguments of ``archive``).",
    )(AsyncBatchClient.stream_archive)

    # -- running in the loop ---------------------------------------------------------------

    def _refuse_loop_thread(self) -> None:
        if os.getpid() != self._pid:
            raise RuntimeError(
                "this asyncbatch.sync.BatchClient was made before a fork: its loop's thread "
                "did not come along; make one in each process (after the fork)"
            )
        if threading.get_ident() == self._thread.ident:
            raise RuntimeError(
                "asyncbatch.sync.BatchClient was called from its own event loop (a callback "
                "or an async iterable run by the client?): it would wait for itself forever"
            )

    def _submit(
        self,
        make: Callable[[], Awaitable[_T]],
        into: list[concurrent.futures.Future[_T]] | None = None,
    ) -> concurrent.futures.Future[_T]:
        """Start ``make()`` in the loop (the coroutine is made there, too). Its future exists,
        and is put ``into`` the list, before anything is scheduled: a signal raised in this
        thread at any point after the call was scheduled finds the call to cancel."""
        self._refuse_loop_thread()
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()
        if into is not None:
            into.append(future)
        with self._lock:  # so that close() cannot stop the loop between the check and here
            if self._closed:
                raise ClientClosedError("this BatchClient is closed; create a new one")
            self._loop.call_soon_threadsafe(_start, self._loop, make, future)
        return future

    def _run(
        self,
        make: Callable[[ChunkHook | None], Awaitable[_T]],
        on_chunk: ChunkHook | None = None,
    ) -> _T:
        """Run ``make(hook)`` in the loop and wait for its result or exception, running the
        errands (``on_chunk``) it hands to this thread meanwhile."""
        inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        hook = _hook(inbox, on_chunk)
        started: list[concurrent.futures.Future[_T]] = []
        try:
            future = self._submit(lambda: make(hook), started)
            future.add_done_callback(inbox.put)
            while (message := inbox.get()) is not future:
                if isinstance(message, _Errand):
                    message.run()
            return future.result()
        except concurrent.futures.CancelledError:
            # Only close() cancels a call this way (when it outlives the grace period).
            raise ClientClosedError("the client was closed during the call") from None
        except BaseException:
            for call in started:
                call.cancel()  # KeyboardInterrupt, a time limit: stop the call in the loop
            raise

    def _streamed(
        self,
        open_stream: _OpenStream,
        records: Iterable[object],
        on_chunk: ChunkHook | None,
    ) -> Generator[BatchResult, None, None]:
        check_records_argument(records)
        if self._closed:
            raise ClientClosedError("this BatchClient is closed; create a new one")
        return self._stream(open_stream, records, on_chunk)

    def _stream(
        self,
        open_stream: _OpenStream,
        records: Iterable[object],
        on_chunk: ChunkHook | None,
    ) -> Generator[BatchResult, None, None]:
        channel = _Channel(iter(records))
        hook = _hook(channel.inbox, on_chunk)
        pump = self._submit(
            lambda: channel.pump(open_stream(channel.source(), hook), self._streams)
        )
        pump.add_done_callback(channel.inbox.put)  # the last message: the pump has ended
        ended = False
        try:
            while (message := channel.inbox.get()) is not pump:
                if isinstance(message, _Errand):
                    message.run()
                elif isinstance(message, _Item):
                    with contextlib.suppress(RuntimeError):  # the loop is gone
                        self._loop.call_soon_threadsafe(channel.credit.release)
                    yield message.result
            ended = True
            try:
                pump.result()  # the record source's own error, InvalidInputError...
            except concurrent.futures.CancelledError:
                raise ClientClosedError("the client was closed during the stream") from None
        finally:
            if not ended:  # closed early, or an exception in this thread
                self._stop_stream(channel, pump)

    def _stop_stream(self, channel: _Channel, pump: concurrent.futures.Future[None]) -> None:
        """Cancel the pump in the loop and wait until it has ended (and closed the stream),
        abandoning the errands it hands over meanwhile (no more records are read)."""
        if threading.get_ident() == self._thread.ident:
            return  # collected in the loop's own thread: asyncio.run() closes what is left
        with contextlib.suppress(RuntimeError):  # the loop is already gone
            self._loop.call_soon_threadsafe(channel.stop)
        while not pump.done():
            message = channel.inbox.get()
            if isinstance(message, _Errand):
                message.abandon()
