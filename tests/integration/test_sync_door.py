"""``asyncbatch.sync.BatchClient`` against the emulator on 127.0.0.1 (issue 18 item 5).

The sync client blocks its caller, so the emulator runs in a thread of its own with its own
event loop (``emulator`` below), or in the test's loop with the sync client called through
``asyncio.to_thread``. Nothing here sleeps to wait: threads meet on events and barriers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import asyncbatch
import asyncbatch.sync
from asyncbatch.emulator import Emulator, EmulatorConfig
from tests.invariants import assert_accounted

TOKEN = "sync-token-0123456789"
LEVELS = ("beginner", "intermediate", "advanced")


def _courses(n: int, prefix: str = "S") -> list[dict[str, Any]]:
    """Upsert inputs keyed by ``course_code`` (the unique property of ``0-410``)."""
    return [{"id": f"{prefix}{i:04d}", "properties": {"level": LEVELS[i % 3]}} for i in range(n)]


def _new_courses(n: int, prefix: str) -> list[dict[str, Any]]:
    """Create inputs (no id)."""
    return [
        {"properties": {"course_code": f"{prefix}{i:04d}", "level": "beginner"}} for i in range(n)
    ]


def _client(emu: Emulator, **kwargs: Any) -> asyncbatch.sync.BatchClient:
    kwargs.setdefault("rate_limit", asyncbatch.RateLimit(1000, 1.0))
    return asyncbatch.sync.BatchClient(TOKEN, base_url=emu.url, **kwargs)


def _sync_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "asyncbatch-sync"]


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """The emulator in its own thread and loop, so that the test's thread may block."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="emulator-loop")
    thread.start()
    emu = Emulator(EmulatorConfig(token=TOKEN))
    try:
        asyncio.run_coroutine_threadsafe(emu.start(), loop).result()
        yield emu
        asyncio.run_coroutine_threadsafe(emu.stop(), loop).result()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def test_the_verbs_block_and_answer(emulator: Emulator) -> None:
    before = set(threading.enumerate())
    with _client(emulator) as client:
        upserted = client.upsert("0-410", iter(_courses(250)), id_property="course_code")
        assert_accounted(upserted, 250)
        assert not upserted.failed and all(r.new for r in upserted.results)
        ids = [r.id for r in upserted.results]
        update = [{"id": code, "properties": {"level": "advanced"}} for code in ("S0001", "S0002")]
        updated = client.update("0-410", update, id_property="course_code")
        assert [r.properties["level"] for r in updated.results] == ["advanced", "advanced"]
        read = client.read("0-410", [*ids[:3], "999999"], properties=["level"])
        assert [r.id for r in read.results] == ids[:3]
        assert [f.input.id for f in read.failed] == ["999999"]
        created = client.create("0-410", _new_courses(5, prefix="C"))
        assert_accounted(created, 5)
        archived = client.archive("0-410", ids[:10])
        assert [r.id for r in archived.results] == ids[:10]
        assert "level" in client.properties("0-410").properties
        streamed = list(client.stream_read("0-410", iter(ids[10:60]), properties=["level"]))
        assert sum(len(r.results) for r in streamed) == 50
        made = list(client.stream_create("0-410", iter(_new_courses(150, prefix="D"))))
        assert [len(r.results) for r in made] == [100, 50]
        made_ids = [r.id for chunk in made for r in chunk.results]
        gone = list(client.stream_archive("0-410", iter(made_ids[:120])))
        assert sum(len(r.results) for r in gone) == 120 and not any(r.failed for r in gone)
        with pytest.raises(asyncbatch.InvalidInputError, match="archive takes record ids only"):
            next(client.stream_archive("0-410", made_ids, id_property="course_code"))
        assert len(_sync_threads()) == 1
    assert client.closed
    assert len(emulator.records("0-410")) == 245 + 30
    assert set(threading.enumerate()) == before  # the loop's thread (and executor) are gone


def test_eight_threads_share_one_client(emulator: Emulator) -> None:
    n_threads, per_thread = 8, 130
    barrier = threading.Barrier(n_threads)
    results: dict[int, asyncbatch.BatchResult] = {}
    errors: list[BaseException] = []

    with _client(emulator, chunk_size=25, max_concurrency=4) as client:

        def work(k: int) -> None:
            try:
                records = _courses(per_thread, prefix=f"T{k}-")
                barrier.wait()  # all at once
                results[k] = client.upsert("0-410", records, id_property="course_code")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []
    for k in range(n_threads):
        assert_accounted(results[k], per_thread)
        assert not results[k].failed
        codes = [r.properties["course_code"] for r in results[k].results]
        assert sorted(codes) == sorted(f"T{k}-{i:04d}" for i in range(per_thread))
    stored = emulator.records("0-410")
    assert len(stored) == n_threads * per_thread  # each record once, none lost, none doubled
    assert all(emulator.stats.writes_to("0-410", r["id"]) == 1 for r in stored)
    assert emulator.stats.max_in_flight <= 4  # one shared concurrency cap
    assert _sync_threads() == []


@pytest.mark.asyncio
async def test_called_from_async_code_through_to_thread() -> None:
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        client = await asyncio.to_thread(_client, emu)
        try:
            result = await asyncio.to_thread(
                client.upsert, "0-410", _courses(120), id_property="course_code"
            )
            assert_accounted(result, 120)
            assert len(emu.records("0-410")) == 120
        finally:
            await asyncio.to_thread(client.close)
    assert _sync_threads() == []


def test_close_twice_then_use_raises(emulator: Emulator) -> None:
    client = _client(emulator)
    client.close()
    client.close()
    assert client.closed and _sync_threads() == []
    with pytest.raises(asyncbatch.ClientClosedError):
        client.upsert("0-410", _courses(1), id_property="course_code")
    with pytest.raises(asyncbatch.ClientClosedError):
        client.stream_upsert("0-410", _courses(1), id_property="course_code")
    with pytest.raises(asyncbatch.ClientClosedError):
        client.properties("0-410")
    with pytest.raises(asyncbatch.ClientClosedError), client:
        pass


def test_exceptions_come_through_unchanged(emulator: Emulator) -> None:
    with pytest.raises(asyncbatch.InvalidInputError):
        asyncbatch.sync.BatchClient(TOKEN, base_url="ftp://example.com")
    assert _sync_threads() == []  # a refused constructor leaves no thread behind
    with _client(emulator) as client:
        with pytest.raises(asyncbatch.InvalidInputError, match=r"id property|idProperty"):
            client.upsert("0-410", _courses(3))  # an upsert needs an id property
        with pytest.raises(asyncbatch.InvalidInputError):
            client.update("0-410", "not records")  # type: ignore[arg-type]
        with pytest.raises(asyncbatch.InvalidInputError):
            list(client.stream_update("not a type!", [{"id": "1", "properties": {}}]))
        # The client is still usable after each.
        assert not client.upsert("0-410", _courses(2), id_property="course_code").failed


def test_a_stream_reads_records_in_the_calling_thread_and_passes_their_error(
    emulator: Emulator,
) -> None:
    readers: set[int] = set()
    boom = ValueError("row 150 is unreadable")

    def rows() -> Iterator[dict[str, Any]]:
        for i, record in enumerate(_courses(200)):
            readers.add(threading.get_ident())  # a Django queryset needs its own thread
            if i == 150:
                raise boom
            yield record

    seen: list[asyncbatch.BatchResult] = []
    with _client(emulator, chunk_size=20) as client:
        stream = client.stream_upsert("0-410", rows(), id_property="course_code")
        with pytest.raises(ValueError) as raised:
            seen.extend(stream)
    assert raised.value is boom
    assert readers == {threading.get_ident()}
    assert sum(len(r.results) for r in seen) == 150  # what was read before it, all written
    assert len(emulator.records("0-410")) == 150


def test_a_stream_closed_early_stops(emulator: Emulator) -> None:
    read = 0

    def rows() -> Iterator[dict[str, Any]]:
        nonlocal read
        for record in _courses(5000):
            read += 1
            yield record

    with _client(emulator, chunk_size=10, max_concurrency=2) as client:
        stream = client.stream_upsert("0-410", rows(), id_property="course_code")
        first = [next(stream), next(stream)]
        assert all(len(r.results) == 10 for r in first)
        stream.close()  # returns once the stream's work in the loop has ended
        assert not client._streams  # its pump (and the async stream) are gone
        with pytest.raises(StopIteration):
            next(stream)
        assert read < 1000  # read only as fast as it was sent
        # The client goes on serving.
        assert not client.upsert("0-410", _courses(3, prefix="X"), id_property="course_code").failed
    assert _sync_threads() == []


class _TimeLimitExceeded(Exception):
    """Like Celery's SoftTimeLimitExceeded: raised by a signal handler in the waiting thread."""


def test_an_exception_in_the_waiting_thread_cancels_the_call() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    started, cancelled = threading.Event(), threading.Event()

    async def hang(url: str, body: bytes) -> asyncbatch.RawResponse:
        started.set()
        try:
            await asyncio.Event().wait()  # an answer that never comes
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    def raise_limit(signum: int, frame: object) -> None:
        raise _TimeLimitExceeded

    def send_signal() -> None:
        started.wait()
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)

    previous = signal.signal(signal.SIGUSR1, raise_limit)
    sender = threading.Thread(target=send_signal)
    try:
        with asyncbatch.sync.BatchClient(
            transport=asyncbatch.MockTransport(hang), check_properties="off"
        ) as client:
            sender.start()
            with pytest.raises(_TimeLimitExceeded):
                client.update("0-410", [{"id": "1", "properties": {"level": "beginner"}}])
            assert cancelled.wait(timeout=10)  # the request in the loop was cancelled
    finally:
        with contextlib.suppress(RuntimeError):
            sender.join()
        signal.signal(signal.SIGUSR1, previous)
    assert _sync_threads() == []


def test_close_during_a_call_in_another_thread_reports_its_inputs() -> None:
    started = threading.Event()

    async def hang(url: str, body: bytes) -> asyncbatch.RawResponse:
        started.set()
        await asyncio.Event().wait()  # an answer that never comes
        raise AssertionError("unreachable")

    client = asyncbatch.sync.BatchClient(
        transport=asyncbatch.MockTransport(hang), check_properties="off"
    )
    outcome: list[asyncbatch.BatchResult | BaseException] = []

    def call() -> None:
        try:
            outcome.append(
                client.update("0-410", [{"id": str(i), "properties": {}} for i in range(3)])
            )
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    started.wait()
    client.close()
    caller.join()
    (result,) = outcome
    assert isinstance(result, asyncbatch.BatchResult)
    assert_accounted(result, 3)
    assert len(result.failed) == 3 and "closed" in result.failed[0].reason
    assert _sync_threads() == []


def test_on_chunk_runs_in_the_calling_thread(emulator: Emulator) -> None:
    seen: list[tuple[int, int]] = []

    def progress(chunk: asyncbatch.BatchResult) -> None:
        seen.append((threading.get_ident(), chunk.stats.inputs))

    with _client(emulator, chunk_size=25) as client:
        result = client.upsert("0-410", _courses(110), id_property="course_code", on_chunk=progress)
        assert_accounted(result, 110)
        streamed = list(
            client.stream_upsert(
                "0-410",
                iter(_courses(60, prefix="Q")),
                id_property="course_code",
                on_chunk=progress,
            )
        )
    assert {thread for thread, _ in seen} == {threading.get_ident()}
    assert sorted(n for _, n in seen) == [10, 10, 25, 25, 25, 25, 25, 25]  # 110 and 60 by 25
    assert sum(len(r.results) for r in streamed) == 60


def test_a_client_made_before_a_fork_refuses_to_work_after_it(emulator: Emulator) -> None:
    client = _client(emulator)
    try:
        client._pid = -1  # as in a child process: its loop's thread stayed in the parent
        with pytest.raises(RuntimeError, match="fork"):
            client.properties("0-410")
    finally:
        client._pid = os.getpid()
        client.close()
    assert _sync_threads() == []
