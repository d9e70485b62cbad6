"""``python -m benchmarks.loop_stall [--freeze] [N ...]``: the longest stall of a 1 ms ticker
while one ``upsert()`` of N records (10 properties each) runs (issue 16 item 2; goal < 10 ms
for 1,000,000). The transport is in-process (``MockTransport`` echoing each chunk), so the
figure is the client's own hold of the loop: planning, encoding, reading answers, merging.

A stall is how much later than 1 ms the ticker woke (its sleep's overshoot). The garbage
collector's full collections during the call are counted and timed too: they are the stalls
the library cannot cut into slices (a full collection walks the whole heap, the caller's
records included). Then the same ticker runs while ``await result.load()`` builds the
result objects (``load_max_stall_ms``; reading ``result.results`` builds them at once). One
JSON line per N on stdout; ``python -m benchmarks --scenario loop-stall`` runs each N in a
fresh process of this module and puts the figures in the table.
"""

from __future__ import annotations

import asyncio
import gc
import json
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


async def measure(n: int, *, freeze: bool = False) -> dict[str, Any]:
    records = [
        {"id": f"k{i}", "properties": {f"p{j}": str(i + j) for j in range(10)}} for i in range(n)
    ]
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

    async with client:
        (result, elapsed, usage, after), gaps = await _stalls_while(upsert())
    _, load_gaps = await _stalls_while(result.load())
    cpu = after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime
    return {
        "records": n,
        "gc_freeze": freeze,
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
    }


async def _stalls_while(work: Awaitable[T]) -> tuple[T, list[float]]:
    """``work``'s value, and the overshoots of a 1 ms ticker while it ran, sorted."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last - 0.001)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # the ticker is running
    value = await work
    done.set()
    await tick
    return value, sorted(gaps)


def main(argv: list[str]) -> int:
    """``--freeze``: ``gc.freeze()`` after building the records, as an application may (the
    library never changes the process-global collector)."""
    freeze = "--freeze" in argv
    sizes = [int(a) for a in argv if a != "--freeze"] or [100_000, 1_000_000]
    for n in sizes:
        print(json.dumps(asyncio.run(measure(n, freeze=freeze))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
