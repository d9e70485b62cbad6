"""The main job on the embedded emulator: upsert the bundled 10,000+ course sample.

Does I/O: starts an emulator on a loopback port, sends the records through the public API,
prints a summary. No account is needed; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from collections.abc import Iterator
from importlib import resources
from typing import Any, TextIO

from .. import BatchClient, BatchResult, RateLimit, SimplePublicUpsertObject
from ..emulator import Emulator, EmulatorConfig, PropertyDef

__all__ = ["load_sample", "run_demo"]

SAMPLE = "courses_sample.jsonl.gz"
# The demo account: HubSpot's higher tier (190 requests per 10 s), a course level enumeration
# the sample breaks a dozen times, and ~20 ms of latency per request.
DEMO_RATE = RateLimit(190, 10.0)
DEMO_PROPERTIES = {
    "0-410": (
        PropertyDef("level", "enumeration", ("beginner", "intermediate", "advanced")),
        PropertyDef("duration_hours", "number"),
        PropertyDef("price", "number"),
        PropertyDef("start_date", "date"),
    )
}


def load_sample() -> Iterator[dict[str, Any]]:
    """The bundled course records, one dict per line of the sample file."""
    raw = resources.files("asyncbatch").joinpath("_data", SAMPLE).read_bytes()
    for line in gzip.decompress(raw).splitlines():
        if line.strip():
            yield json.loads(line)


async def run_demo(out: TextIO = sys.stdout) -> BatchResult:
    """Start an emulator, upsert the sample through ``BatchClient``, print the summary."""
    config = EmulatorConfig(
        token="demo-token",
        rate_limit_requests=DEMO_RATE.requests,
        rate_limit_window_seconds=DEMO_RATE.per_seconds,
        latency_seconds=0.02,
        jitter_seconds=0.01,
        properties=DEMO_PROPERTIES,
    )
    records = list(load_sample())
    async with Emulator(config) as emulator:
        started = time.perf_counter()
        async with BatchClient(
            "demo-token", base_url=emulator.url, rate_limit=DEMO_RATE, max_concurrency=10
        ) as client:
            result = await client.upsert("0-410", records, id_property="course_code")
        elapsed = time.perf_counter() - started
        stored = len(emulator.records("0-410"))
        server_429s = emulator.stats.rate_limited_total
    created = sum(1 for r in result.results if isinstance(r, SimplePublicUpsertObject) and r.new)
    s = result.stats
    rows = [
        ("inputs", f"{s.inputs:,}"),
        ("coalesced duplicates", f"{s.coalesced:,}"),
        ("records written", f"{len(result.results):,} ({created:,} new)"),
        ("records failed", f"{len(result.failed):,}"),
        ("status", result.status),
        (
            "requests",
            f"{s.requests:,} ({s.chunks} chunks, {s.split_requests} to isolate bad records)",
        ),
        ("retries", f"{s.retries:,}"),
        ("429s", f"{s.rate_limited} seen by the client, {server_429s} sent by the server"),
        ("stored in emulator", f"{stored:,} courses"),
        ("elapsed", f"{elapsed:.2f} s"),
        ("throughput", f"{s.inputs / elapsed:,.0f} records/s"),
    ]
    print(
        "asyncbatch demo: upsert of the bundled course sample (0-410) into the emulator", file=out
    )
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}", file=out)
    if result.failed:
        print("  first failures:", file=out)
        for failed in result.failed[:3]:
            print(
                f"    input {failed.position} ({failed.input.id}): {failed.reason[:110]}", file=out
            )
    return result
