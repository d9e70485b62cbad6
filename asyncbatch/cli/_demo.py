"""The demo account, shared by ``asyncbatch demo`` and ``--sandbox``, and the demo itself.

``demo_emulator(token)`` starts an emulator on 127.0.0.1 configured as the demo account
(``DEMO_RATE``, ``DEMO_PROPERTIES``, ~20 ms of latency); ``load_sample()`` reads the bundled
course sample through the command line's own reader; ``run_demo()`` upserts the sample through
the public API and prints a summary, the first failures with their parsed reasons, and whether
the failures are exactly the sample's deliberate ones (``demo_succeeded``: the demo's exit code
is 0 then). Does I/O: a loopback server, stdout. No account is needed; nothing leaves
127.0.0.1.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, TextIO

from .. import BatchClient, BatchResult, RateLimit, SimplePublicUpsertObject
from ..emulator import Emulator, EmulatorConfig, PropertyDef
from ._input import open_records, sample_source
from ._reasons import reason_of

if TYPE_CHECKING:
    from .._models import RunStats

__all__ = [
    "DEMO_PROPERTIES",
    "DEMO_RATE",
    "deliberate_failures",
    "demo_emulator",
    "demo_succeeded",
    "load_sample",
    "run_demo",
]

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


@contextlib.asynccontextmanager
async def demo_emulator(token: str) -> AsyncIterator[Emulator]:
    """An emulator on 127.0.0.1 configured as the demo account, accepting ``token``."""
    config = EmulatorConfig(
        token=token,
        rate_limit_requests=DEMO_RATE.requests,
        rate_limit_window_seconds=DEMO_RATE.per_seconds,
        latency_seconds=0.02,
        jitter_seconds=0.01,
        properties=DEMO_PROPERTIES,
    )
    async with Emulator(config) as emulator:
        yield emulator


def load_sample() -> Iterator[dict[str, Any]]:
    """The bundled course records, one dict per line of the sample (``sample:courses``)."""
    for item in open_records(sample_source()):
        assert item.record is not None, item.error  # the bundled sample is valid
        yield item.record


def deliberate_failures() -> frozenset[int]:
    """The positions of the sample's deliberately invalid courses: a level the demo account
    does not allow (``expert``), there to show a failure reported, not raised."""
    allowed = next(p.options for p in DEMO_PROPERTIES["0-410"] if p.name == "level")
    return frozenset(
        position
        for position, record in enumerate(load_sample())
        if record["properties"].get("level") not in (None, "", *allowed)
    )


def demo_succeeded(result: BatchResult) -> bool:
    """Whether exactly the sample's deliberate failures failed (and all else was written)."""
    failed = {p for f in result.failed for p in f.positions}
    return failed == deliberate_failures() and result.status == "COMPLETE"


async def run_demo(out: TextIO = sys.stdout) -> BatchResult:
    """Start the demo emulator, upsert the sample through ``BatchClient``, print the summary."""
    records = list(load_sample())
    async with demo_emulator("demo-token") as emulator:
        started = time.perf_counter()
        async with BatchClient(
            "demo-token", base_url=emulator.url, rate_limit=DEMO_RATE, max_concurrency=10
        ) as client:
            result = await client.upsert("0-410", records, id_property="course_code")
        elapsed = time.perf_counter() - started
        stored = len(emulator.records("0-410"))
        server_429s = emulator.stats.rate_limited_total
    print(
        "asyncbatch demo: upsert of the bundled course sample (0-410) into the emulator", file=out
    )
    rows = _rows(result, result.stats, elapsed=elapsed, stored=stored, server_429s=server_429s)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}", file=out)
    if result.failed:
        print("  first failures (sample line, course: reason):", file=out)
        for failed in sorted(result.failed, key=lambda f: f.position)[:3]:
            reason = reason_of(failed)
            what = f"{reason.property}: " if reason.property else ""
            line = failed.position + 1  # the sample is JSON Lines, one course a line
            print(f"    line {line}, {failed.input.id}: {what}{reason.short()}", file=out)
    print(_verdict(result), file=out)
    return result


def _verdict(result: BatchResult) -> str:
    expected = len(deliberate_failures())
    if demo_succeeded(result):
        return (
            f"asyncbatch demo: as expected, the {expected} failures are the sample's "
            "deliberately invalid courses; everything else was written (exit code 0)"
        )
    return (
        f"asyncbatch demo: unexpected: {len(result.failed):,} records failed where the "
        f"sample's {expected} deliberately invalid courses were expected (exit code 1)"
    )


def _rows(
    result: BatchResult, s: RunStats, *, elapsed: float, stored: int, server_429s: int
) -> list[tuple[str, str]]:
    created = sum(1 for r in result.results if isinstance(r, SimplePublicUpsertObject) and r.new)
    return [
        ("inputs", f"{s.inputs:,}"),
        ("coalesced duplicates", f"{s.coalesced:,}"),
        ("records written", f"{len(result.results):,} ({created:,} new)"),
        ("records failed", f"{len(result.failed):,} (see below)"),
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
