"""``python -m benchmarks.loop_stall [--freeze] [--warm] [--control] [N ...]``: the longest
stall of a 1 ms ticker while one ``upsert()`` of N records (10 properties each) runs (issue 16
item 2; goal < 10 ms for 1,000,000). The transport is in-process (``MockTransport`` echoing
each chunk), so the figure is the client's own hold of the loop: planning, encoding, reading
answers, merging.

A stall is how much later than 1 ms the ticker woke (its sleep's overshoot). The garbage
collector's full collections during the call are counted and timed too: they are the stalls
the library cannot cut into slices (a full collection walks the whole heap, the caller's
records included). Then the same ticker runs while ``await result.load()`` builds the
result objects (``load_max_stall_ms``; reading ``result.results`` builds them at once). One
JSON line per N on stdout; ``python -m benchmarks --scenario loop-stall`` runs each N in a
fresh process of this module and puts the figures in the table.

``--warm``: the client writes one record first, so the measured call goes to an endpoint that
has answered (it opens without the canary, whose queue is the first call's). The transport
answers in the caller's own callback, so there nothing of a chunk's journey waits: the turns
the loop gets come from the library alone.

``--control``: the same ticker and records with no library code: a loop that does what any
client of the records must (copies each record's properties and keeps the copy, encodes each
chunk of 100 and decodes an echo of it) and gives the loop a turn after each millisecond of
that work, as the library does. Its longest stall is what this host allows such a loop; when
it is over the goal too, the host, not the library, sets the figure.

``--holds`` (a diagnostic, not used by the table): each JSON line also lists every hold of the
loop over ``HOLD_MS`` during the call (``holds``): the loop callbacks that ran in it for over
0.5 ms (asyncio's ``Handle._run`` timed; a task's callback named by its chain of awaits), the
collections (generation, length), and, where Linux has ``/proc/thread-self/schedstat``, how
long the guest kept the thread waiting on its run queue and how often it switched it out
during each callback. It costs a few microseconds per callback. benchmarks/README.md ("Where
the holds over 10 ms come from") reads it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import sys
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import orjson

import asyncbatch

T = TypeVar("T")


async def _echo(url: str, body: bytes) -> asyncbatch.RawResponse:
    inputs = orjson.loads(body)["inputs"]
    results = [
        {"id": str(n), "properties": i["properties"], "objectWriteTraceId": i["objectWriteTraceId"]}
        for n, i in enumerate(inputs)
    ]
    payload = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": "2024-01-01T00:00:00Z",
        "completedAt": "2024-01-01T00:00:01Z",
    }
    return asyncbatch.RawResponse(200, {}, orjson.dumps(payload))


#: Holds of the loop (a tick this much later than 1 ms) that ``--holds`` reports.
HOLD_MS = 10.0
#: Callbacks shorter than this are not kept (a million-record call runs ~100,000).
_CALLBACK_MS = 0.5


class HoldTracer:
    """``--holds``: times every loop callback (by wrapping asyncio's ``Handle._run``, which
    runs each one) and the collector, and reports what ran in each hold the ticker saw."""

    def __init__(self) -> None:
        self.holds: list[tuple[float, float]] = []  # (tick before, tick after), perf_counter
        # (start, seconds, what, guest run-queue wait ns, context switches)
        self.callbacks: list[tuple[float, float, str, int | None, int | None]] = []
        self.collections: list[tuple[float, int, float]] = []  # (start, generation, seconds)
        self._gc_start = 0.0
        self._schedstat = _open_schedstat()
        self._run = asyncio.events.Handle._run
        tracer = self

        def timed_run(handle: asyncio.events.Handle) -> None:
            tracer.timed(handle)

        asyncio.events.Handle._run = timed_run  # type: ignore[method-assign, assignment]
        gc.callbacks.append(self._on_gc)

    def stop(self) -> None:
        asyncio.events.Handle._run = self._run  # type: ignore[method-assign]
        gc.callbacks.remove(self._on_gc)

    def timed(self, handle: asyncio.events.Handle) -> None:
        before = self._sched()
        started = time.perf_counter()
        self._run(handle)
        seconds = time.perf_counter() - started
        if seconds * 1000 > _CALLBACK_MS:
            after = self._sched()
            wait = switches = None
            if before is not None and after is not None:
                wait, switches = after[1] - before[1], after[2] - before[2]
            self.callbacks.append((started, seconds, _what(handle), wait, switches))

    def _sched(self) -> tuple[int, ...] | None:
        if self._schedstat is None:
            return None
        return tuple(int(f) for f in os.pread(self._schedstat, 100, 0).split())

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            seconds = time.perf_counter() - self._gc_start
            self.collections.append((self._gc_start, info["generation"], seconds))

    def report(self) -> list[dict[str, Any]]:
        """Each hold: its length, the callbacks over 0.5 ms and the collections in it."""
        out = []
        for before, after in self.holds:
            ms = (after - before) * 1000 - 1

            def at(t: float, before: float = before) -> float:
                return round((t - before) * 1000, 1)

            out.append(
                {
                    "ms": round(ms, 1),
                    "callbacks": [
                        {
                            "at_ms": at(t),
                            "ms": round(s * 1000, 1),
                            "what": what,
                            "guest_wait_ms": None if wait is None else round(wait / 1e6, 1),
                            "switches": switches,
                        }
                        for t, s, what, wait, switches in self.callbacks
                        if before <= t <= after
                    ],
                    "collections": [
                        [at(t), generation, round(s * 1000, 1)]
                        for t, generation, s in self.collections
                        if before <= t <= after
                    ],
                }
            )
        return out


def _open_schedstat() -> int | None:
    try:
        return os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    except OSError:
        return None


def _what(handle: asyncio.events.Handle) -> str:
    """A callback, by name; a task's by its chain of awaits (outermost first)."""
    callback = handle._callback  # type: ignore[attr-defined]
    task = getattr(callback, "__self__", None)
    if not isinstance(task, asyncio.Task):
        return getattr(callback, "__qualname__", type(callback).__name__)
    names: list[str] = []
    coro: Any = task.get_coro()
    while coro is not None and len(names) < 8:
        names.append(getattr(coro, "__qualname__", type(coro).__name__))
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return " > ".join(names)


def _records(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"k{i}", "properties": {f"p{j}": str(i + j) for j in range(10)}} for i in range(n)
    ]


#: ``--control``'s slice: the library's (``asyncbatch._steps.SLICE_SECONDS``).
_CONTROL_SLICE = 0.001


async def _minimum(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    """``--control``'s work: per chunk of 100, copy each record's properties (kept, as a
    client keeps what it plans), encode the request, decode an echo of it; a turn for the
    loop after each ``_CONTROL_SLICE`` of work."""
    kept: list[dict[str, str]] = []
    deadline = time.perf_counter() + _CONTROL_SLICE
    for start in range(0, len(records), 100):
        chunk = records[start : start + 100]
        copies = [dict(record["properties"]) for record in chunk]
        kept += copies
        inputs = [{"id": r["id"], "properties": c} for r, c in zip(chunk, copies, strict=True)]
        body = orjson.dumps({"inputs": inputs})
        orjson.loads(orjson.dumps({"results": orjson.loads(body)["inputs"]}))
        if time.perf_counter() >= deadline:
            await asyncio.sleep(0)
            deadline = time.perf_counter() + _CONTROL_SLICE
    return kept


async def control(n: int) -> dict[str, Any]:
    """``--control``: the ticker's stalls while ``_minimum`` runs over ``n`` records."""
    records = _records(n)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    kept, gaps = await _stalls_while(_minimum(records))
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime
    return {
        "records": n,
        "gc_freeze": False,
        "warm": False,
        "control": True,
        "written": len(kept),
        "elapsed_s": round(elapsed, 2),
        "cpu_s": round(cpu, 2),
        "ticks": len(gaps),
        "max_stall_ms": round(gaps[-1] * 1000, 1),
        "p99_stall_ms": round(gaps[int(len(gaps) * 0.99)] * 1000, 2),
        "max_rss_mb": round(after.ru_maxrss / 1024),
        "minor_faults": after.ru_minflt - usage.ru_minflt,
        "full_collections": None,
        "longest_full_collection_ms": None,
        "load_max_stall_ms": None,
    }


async def measure(
    n: int, *, freeze: bool = False, holds: bool = False, warm: bool = False
) -> dict[str, Any]:
    records = _records(n)
    if freeze:
        gc.collect()
        gc.freeze()
    full: list[float] = []  # the full collections during the call, in seconds
    began = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            full.append(time.perf_counter() - began[0])

    client = asyncbatch.BatchClient(
        transport=asyncbatch.MockTransport(_echo),
        rate_limit=asyncbatch.RateLimit(10**9, 1.0),
        check_properties="off",
    )

    async def upsert() -> tuple[asyncbatch.BatchResult, float, Any, Any]:
        gc.callbacks.append(on_gc)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        result = await client.upsert("0-410", records, id_property="code")
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        gc.callbacks.remove(on_gc)
        return result, elapsed, usage, after

    tracer = HoldTracer() if holds else None
    async with client:
        if warm:
            await client.upsert(
                "0-410", [{"id": "warm", "properties": {"p0": "0"}}], id_property="code"
            )
        (result, elapsed, usage, after), gaps = await _stalls_while(upsert(), tracer)
    if tracer is not None:
        tracer.stop()
    _, load_gaps = await _stalls_while(result.load())
    cpu = after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime
    return {
        "records": n,
        "gc_freeze": freeze,
        "warm": warm,
        "written": len(result.results),
        "elapsed_s": round(elapsed, 2),
        "cpu_s": round(cpu, 2),  # the ticker's wake-ups included
        "ticks": len(gaps),
        "max_stall_ms": round(gaps[-1] * 1000, 1),
        "p99_stall_ms": round(gaps[int(len(gaps) * 0.99)] * 1000, 2),
        "max_rss_mb": round(after.ru_maxrss / 1024),
        # fresh pages the call touched: on the benchmark VM a page fault is where the guest
        # sometimes stops executing for 5-21 ms (benchmarks/README.md, "Loop stall")
        "minor_faults": after.ru_minflt - usage.ru_minflt,
        "full_collections": len(full),
        "longest_full_collection_ms": round(max(full, default=0.0) * 1000, 1),
        "load_max_stall_ms": round(load_gaps[-1] * 1000, 1) if load_gaps else None,
        **({"holds": tracer.report()} if tracer is not None else {}),
    }


async def _stalls_while(
    work: Awaitable[T], tracer: HoldTracer | None = None
) -> tuple[T, list[float]]:
    """``work``'s value, and the overshoots of a 1 ms ticker while it ran, sorted; each hold
    over ``HOLD_MS`` is also told to ``tracer``."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last - 0.001)
            if tracer is not None and now - last - 0.001 > HOLD_MS / 1000:
                tracer.holds.append((last, now))
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # the ticker is running
    value = await work
    done.set()
    await tick
    return value, sorted(gaps)


def main(argv: list[str]) -> int:
    """``--freeze``: ``gc.freeze()`` after building the records, as an application may (the
    library never changes the process-global collector). ``--holds``: report each hold over
    ``HOLD_MS`` (``HoldTracer``). ``--warm``: measure a call to an endpoint that answered."""
    freeze, holds, warm = "--freeze" in argv, "--holds" in argv, "--warm" in argv
    sizes = [int(a) for a in argv if not a.startswith("--")] or [100_000, 1_000_000]
    for n in sizes:
        if "--control" in argv:
            figures = asyncio.run(control(n))
        else:
            figures = asyncio.run(measure(n, freeze=freeze, holds=holds, warm=warm))
        print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
