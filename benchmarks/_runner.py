"""The scenarios, the figures derived from them, and the one table (text and JSON).

Every scenario starts its own emulator process with the scenario's limits and latency, then runs
each tool in turn in its own client process, resetting the emulator (store, counters, rate
windows) before each tool. Requests, 429s and records written are read from the emulator's
``/_emulator/stats``, not taken from the clients' word.

A scenario with ``processes > 1`` starts that many client processes together against one token
(shared-budget, scale-out); one with several ``limiters`` runs each tool once per limiter: the
"redis" one shares one budget through Redis (``RateLimit(redis_url=..., key=...)``) under a key
unique to the run, deleted afterwards.

The emulator is as strict as HubSpot (its default): the records are valid courses, and the
four custom properties they carry are declared to it (``child.CUSTOM_PROPERTIES``). The
refusals scenario runs one row per case and tool (``REFUSAL_CASES``): HubSpot's own refusals,
met by asyncbatch and by the bisection it did before issue 13. The web-backend scenario
(``run_web_backend``) writes one record per task, all at once, through one writer and through
the peers that send one request per record (those write fewer records: ``WEB_PEER_RECORDS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import platform
import pstats
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from ._breakdown import BUCKETS, GC, bucket_seconds, from_samples, scaled
from ._paired import median_row, paired_figures, paired_lines
from ._procs import ROOT, Emulator, emulator, run_children
from .child import (
    BAD_AT,
    BAD_EVERY,
    BAD_OPTION,
    CUSTOM_PROPERTIES,
    MISSPELT,
    NON_UNIQUE_KEY,
    course_name,
    make_records,
)

RESULTS = Path(__file__).resolve().parent / "results"
TOKEN = "bench-token-not-a-secret"
OBJECT_TYPE = "0-410"
ID_PROPERTY = "course_code"
CHUNK = 100
NO_LIMIT = 100_000_000  # the emulator has no "off" switch: this many per 1 s never trips
ASYNCBATCH = "asyncbatch"
IN_MEMORY = "in-memory"  # RateLimit(R, W): each process its own budget
REDIS = "redis"  # RateLimit(R, W, redis_url=..., key=...): one budget shared through Redis
REDIS_URL_ENV = "ASYNCBATCH_BENCH_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
PEER = "peer"  # issue 19's hand-written script, measured in pairs with asyncbatch
#: rate-bound: asyncbatch sending only its batches (``check_properties="off"``, no definitions
#: read), so that its share of the ceiling is measured on the same requests as before issue 14
UNCHECKED = "asyncbatch-unchecked"
PEERS = (PEER, "sdk-sequential", "sdk-threads", "aiohttp-aiolimiter")
#: asyncbatch and the peer alternate this many times (fresh process per run) by default
DEFAULT_PAIRS = 5
QUICK_PAIRS = 2
BISECTION = "bisection"  # asyncbatch before issue 13: bisect every whole-request 400
WRITER = "writer"  # web-backend: one client.writer, one task per record
WEB_PEERS = ("per-record-upsert", "sdk-basic-threads")
# At 10 requests / 1 s a peer sending one request per record needs 500 s for 5,000 records:
# the peers write this many (quick: WEB_PEER_QUICK_RECORDS), and the footer says so.
WEB_PEER_RECORDS = 500
WEB_PEER_QUICK_RECORDS = 100
#: the web-backend tools' own figures, kept in their rows: records answered, written by their
#: own word, and each record's time from its call to its answer
PER_RECORD_FIGURES = ("answered", "ok", "p50_ms", "p99_ms", "max_ms")
#: a sampled run's own figures (``child.Sampler``), kept in its row
SAMPLE_FIGURES = ("samples", "sample_buckets", "sample_functions")
WEB_GOAL_SLACK_PERCENT = 10  # issue 16: at most 55 requests for 5,000 records (50 chunks)

TOOL_NOTES = {
    "asyncbatch": "BatchClient(rate_limit=RateLimit(R, W), max_concurrency=C), default retry",
    UNCHECKED: "asyncbatch as above with check_properties='off': no property-definitions "
    "read, only the batches",
    "sdk-sequential": "hubspot-api-client, hand-chunked, one request at a time, no retry",
    "sdk-threads": "hubspot-api-client, C threads, urllib3 Retry on 429/5xx incl. POST",
    "peer": "issue 19's hand-written script: aiohttp TCPConnector(limit=C), asyncio.gather "
    "of session.post(url, json={'inputs': chunk}) per chunk, await r.json(); no validation, "
    "limiter, retry or accounting",
    "aiohttp-aiolimiter": "the peer's gather, each request behind aiolimiter.AsyncLimiter(R, "
    "W), no retry",
    "bisection": "asyncbatch with a refusal classifier that attributes nothing and no split "
    "budget: every whole-request 400 bisected to single records (the client before issue 13)",
    "writer": "asyncbatch client.writer(upsert): one task per record, all at once; "
    "RateLimit(R, W), max_concurrency=C",
    "per-record-upsert": "asyncbatch, one task per record, each await client.upsert([record])",
    "sdk-basic-threads": "hubspot-api-client basic_api.update per record, C threads, urllib3 "
    "Retry on 429/5xx",
}


@attrs.frozen
class Scenario:
    name: str
    kind: str  # "rate" | "latency" | "cpu" | "shared" | "memory" | "refusals"
    description: str
    records: int
    quick_records: int
    rate: int = NO_LIMIT
    window: float = 1.0
    latency: float = 0.0
    properties: int = 5
    concurrency: int = 8
    processes: int = 1  # client processes started together, one token
    tools: tuple[str, ...] = (ASYNCBATCH, *PEERS)
    limiters: tuple[str, ...] = (IN_MEMORY,)  # one row per tool and limiter (REDIS: asyncbatch)
    paired: bool = False  # asyncbatch and the peer alternate --pairs times (issue 19)

    def size(self, quick: bool) -> int:
        return self.quick_records if quick else self.records


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "rate-bound",
            "rate",
            "rolling 10 req / 1 s, 40 ms latency",
            records=10_000,
            quick_records=2_000,
            rate=10,
            window=1.0,
            latency=0.040,
            tools=(ASYNCBATCH, UNCHECKED, *PEERS),
            paired=True,
        ),
        Scenario(
            "latency-bound",
            "latency",
            "no rate limit, 50 ms latency, concurrency 8",
            records=20_000,
            quick_records=4_000,
            latency=0.050,
            paired=True,
        ),
        Scenario(
            "cpu-bound",
            "cpu",
            "no rate limit, no latency, 10 properties per record",
            records=100_000,
            quick_records=10_000,
            properties=10,
            tools=(ASYNCBATCH, PEER, "sdk-sequential", "sdk-threads"),
            paired=True,
        ),
        Scenario(
            "shared-budget",
            "shared",
            "2 asyncbatch processes, each RateLimit(10, 1.0), one token; rolling 10 / 1 s, 40 ms",
            records=3_000,
            quick_records=600,
            rate=10,
            window=1.0,
            latency=0.040,
            processes=2,
            tools=(ASYNCBATCH,),
        ),
        Scenario(
            "scale-out",
            "shared",
            "4 asyncbatch processes, one token, each RateLimit(10, 1.0): one budget in Redis "
            "(redis) or each its own (in-memory); rolling 10 / 1 s, 40 ms",
            records=1_500,
            quick_records=300,
            rate=10,
            window=1.0,
            latency=0.040,
            processes=4,
            tools=(ASYNCBATCH,),
            limiters=(REDIS, IN_MEMORY),
        ),
        Scenario(
            "memory",
            "memory",
            "CLI `asyncbatch upsert` of JSONL, no rate limit, no latency, concurrency 8; peak RSS",
            records=1_000_000,
            quick_records=100_000,
            tools=(ASYNCBATCH,),
        ),
        Scenario(
            "refusals",
            "refusals",
            "HubSpot's whole-request 400s from the strict emulator, no rate limit, 40 ms "
            "latency, concurrency 8; asyncbatch beside the bisection it did before issue 13",
            records=5_000,
            quick_records=1_600,
            latency=0.040,
            tools=(ASYNCBATCH, BISECTION),
        ),
        Scenario(
            "web-backend",
            "web",
            "one record per task, every task at once, records existing (preloaded); rolling "
            "10 req / 1 s, 40 ms latency, concurrency 8",
            records=5_000,
            quick_records=1_000,
            rate=10,
            window=1.0,
            latency=0.040,
            tools=(WRITER, *WEB_PEERS),
        ),
        Scenario(
            "loop-stall",
            "stall",
            "the longest stall of a 1 ms ticker during one upsert() (10 properties per "
            "record; in-process MockTransport echo, no emulator)",
            records=1_000_000,
            quick_records=100_000,
            tools=(ASYNCBATCH,),
        ),
    )
}


@attrs.frozen
class RefusalCase:
    """One mistake HubSpot refuses whole (issue 13 item 2), and the target for asyncbatch."""

    name: str
    description: str
    records: int
    quick_records: int
    operation: str
    id_property: str
    expect_message: str  # in every failed input's reason: HubSpot's own words
    one_per_chunk: bool = False  # the flaw is in one record per chunk, else in every record
    requests_per_chunk: float = 0.0  # target: at most this many requests per chunk ...
    requests_at_most: int = 0  # ... or at most this many in all

    def size(self, quick: bool) -> int:
        return self.quick_records if quick else self.records

    def bad_records(self, size: int) -> int:
        return len(range(BAD_AT, size, BAD_EVERY)) if self.one_per_chunk else size

    def target_requests(self, size: int) -> int:
        per_chunk = math.floor(self.requests_per_chunk * math.ceil(size / CHUNK))
        return max(self.requests_at_most, per_chunk)


REFUSAL_CASES: tuple[RefusalCase, ...] = (
    RefusalCase(
        "invalid-option",
        f'upserts, level "{BAD_OPTION}" (not an option) in 1 record per chunk of {BAD_EVERY}',
        records=3_000,
        quick_records=1_000,
        operation="upsert",
        id_property=ID_PROPERTY,
        expect_message="was not one of the allowed options",
        one_per_chunk=True,
        requests_per_chunk=2.5,
    ),
    RefusalCase(
        "non-unique-key",
        f"updates of existing courses keyed by {NON_UNIQUE_KEY} (not a unique property)",
        records=1_000,
        quick_records=300,
        operation="update",
        id_property=NON_UNIQUE_KEY,
        expect_message="Unable to perform update/upsert by non-unique",
        requests_at_most=2,
    ),
    RefusalCase(
        "misspelt-property",
        f'upserts, every record setting "{MISSPELT[1]}" (a misspelt "{MISSPELT[0]}" column)',
        records=1_000,
        quick_records=300,
        operation="upsert",
        id_property=ID_PROPERTY,
        expect_message="does not exist",
        requests_at_most=2,
    ),
)


# -- formulas ------------------------------------------------------------------------------------


def rate_ideal_seconds(requests: int, rate: int, window: float, latency: float) -> float:
    """Fastest finish under a rolling window counted at arrival: ``rate`` requests leave at
    t=0, the next ``rate`` at t=window, ...; the last group leaves at
    ``(ceil(requests / rate) - 1) * window`` and is answered ``latency`` later."""
    return (math.ceil(requests / rate) - 1) * window + latency


def latency_bound_per_second(concurrency: int, latency: float) -> float:
    """Records/s when ``concurrency`` full chunks are always in flight: C x 100 / latency."""
    return concurrency * CHUNK / latency


def _ideal(scenario: Scenario, total_records: int) -> dict[str, Any]:
    requests = math.ceil(total_records / CHUNK)
    if scenario.kind in ("rate", "shared"):
        ideal = rate_ideal_seconds(requests, scenario.rate, scenario.window, scenario.latency)
        return {"ideal_s": ideal, "bound_rec_per_s": total_records / ideal}
    if scenario.kind == "latency":
        bound = latency_bound_per_second(scenario.concurrency, scenario.latency)
        return {"ideal_s": total_records / bound, "bound_rec_per_s": bound}
    return {"ideal_s": None, "bound_rec_per_s": None}


# -- running -------------------------------------------------------------------------------------


def _spec(scenario: Scenario, tool: str, url: str, records: int, index: int) -> dict[str, Any]:
    # Each process its own distinct records: the prefix names the scenario, tool and process.
    return {
        "tool": tool,
        "url": url,
        "token": TOKEN,
        "object_type": OBJECT_TYPE,
        "id_property": ID_PROPERTY,
        "records": records,
        "properties": scenario.properties,
        "prefix": f"{scenario.name}-{tool}-{index}",
        "concurrency": scenario.concurrency,
        "rate": scenario.rate,
        "window": scenario.window,
    }


def _label(scenario: Scenario, tool: str, limiter: str) -> str:
    if scenario.processes == 1:
        return tool
    if scenario.limiters == (IN_MEMORY,):
        return f"{tool} x{scenario.processes} (1 token)"
    return f"{tool} x{scenario.processes} {limiter}"


def _row(
    scenario: Scenario,
    label: str,
    outcomes: list[dict[str, Any]],
    stats: dict[str, Any],
) -> dict[str, Any]:
    total = sum(o["records"] for o in outcomes)
    written = sum(len(ids) for ids in stats["writes"].values())  # distinct records
    wall = max(o["t_end"] for o in outcomes) - min(o["t_start"] for o in outcomes)
    if len(outcomes) == 1:
        wall = outcomes[0]["wall_s"]
    cpu = sum(o["cpu_user_s"] + o["cpu_sys_s"] for o in outcomes)
    ideal = _ideal(scenario, total)
    share: float | None = None
    lost = total - written
    if scenario.kind in ("rate", "shared") and lost == 0:
        share = ideal["ideal_s"] / wall
    elif scenario.kind == "latency":
        share = (written / wall) / ideal["bound_rec_per_s"]
    return {
        "scenario": scenario.name,
        "tool": label,
        "wall_s": wall,
        "records": total,
        "written": written,
        "lost": lost,
        "rec_per_s": written / wall if wall > 0 else None,
        "share": share,
        "requests": stats["total_requests"],
        "requests_needed": math.ceil(total / CHUNK),
        "http_429": stats["rate_limited_total"],
        "client_429s": _sum_known(o.get("client_429s") for o in outcomes),
        "client_requests": _sum_known(o.get("client_requests") for o in outcomes),
        "cpu_us_per_record": cpu * 1e6 / total if total else None,
        "cpu_s": cpu,
        "max_rss_mb": max(o["max_rss_mb"] for o in outcomes),
        "max_window_requests": stats["max_window_requests"],
        "max_in_flight": stats["max_in_flight"],
        "status_counts": stats["status_counts"],
        "client_errors": [o.get("errors", {}) for o in outcomes],
        "failed": _sum_known(o.get("failed") for o in outcomes),
        "failed_with_message": _sum_known(o.get("failed_with_message") for o in outcomes),
        "split_requests": _sum_known(o.get("split_requests") for o in outcomes),
        "note": None,
        **ideal,
        **{k: outcomes[0].get(k) for k in PER_RECORD_FIGURES if len(outcomes) == 1},
        **_call_figures(outcomes, stats, total),
        **{k: outcomes[0].get(k) for k in SAMPLE_FIGURES if len(outcomes) == 1},
        **_with_reads(scenario, outcomes, stats, total, wall, lost),
    }


def _with_reads(
    scenario: Scenario,
    outcomes: list[dict[str, Any]],
    stats: dict[str, Any],
    total: int,
    wall: float,
    lost: int,
) -> dict[str, Any]:
    """Requests the emulator saw that the client's own count leaves out (asyncbatch: its
    property-definitions read, issue 14), and the share of a ceiling that counts them too:
    at 10 per window, 100 chunks and one read need 11 windows, not 10."""
    counted = _sum_known(o.get("client_requests") for o in outcomes)
    if counted is None or not any(o["tool"] in (ASYNCBATCH, WRITER) for o in outcomes):
        return {"other_requests": None, "share_with_reads": None}
    other = max(0, stats["total_requests"] - counted)
    share = None
    if scenario.kind in ("rate", "shared") and lost == 0 and wall > 0:
        needed = math.ceil(total / CHUNK) + other
        share = rate_ideal_seconds(needed, scenario.rate, scenario.window, scenario.latency) / wall
    return {"other_requests": other, "share_with_reads": share}


def _call_figures(
    outcomes: list[dict[str, Any]], stats: dict[str, Any], total: int
) -> dict[str, Any]:
    """The time from the call to the emulator's first request (any, and the first write),
    both on the host's monotonic clock (None when that request came before the call: the
    writer reads the property definitions at its start-up); the collector's and the property
    check's CPU per record."""

    def since_call(key: str) -> float | None:
        arrived, called = stats.get(key), outcomes[0].get("t_call")
        if len(outcomes) != 1 or arrived is None or called is None or arrived < called:
            return None
        return (arrived - called) * 1000

    gc_s = _sum_known(o.get("gc_s") for o in outcomes)
    checked = _sum_known(o.get("check_records") for o in outcomes)
    check_s = _sum_known(o.get("check_s") for o in outcomes)
    return {
        "first_request_ms": since_call("first_request_at"),
        "first_write_ms": since_call("first_write_at"),
        "gc_us_per_record": gc_s * 1e6 / total if gc_s is not None and total else None,
        "gc_collections": [o.get("gc_collections") for o in outcomes],
        "check_records": checked,
        "check_us_per_record": check_s * 1e6 / checked if checked and check_s is not None else None,
    }


def _sum_known(values: Any) -> int | None:
    known = list(values)
    if any(v is None for v in known):
        return None
    return sum(known)


def _add_ratios(rows: list[dict[str, Any]]) -> None:
    """Each row against the asyncbatch row (of the same refusals case, if any)."""
    for case in dict.fromkeys(r.get("case") for r in rows):
        group = [r for r in rows if r.get("case") == case]
        _add_ratios_to(group, next((r for r in group if _is_asyncbatch(r)), None))


def _is_asyncbatch(row: dict[str, Any]) -> bool:
    return row.get("tool_name", row["tool"]) == ASYNCBATCH and bool(row.get("wall_s"))


def _add_ratios_to(rows: list[dict[str, Any]], base: dict[str, Any] | None) -> None:
    for row in rows:
        for key, field in (("wall_x", "wall_s"), ("requests_x", "requests"), ("cpu_x", "cpu_s")):
            mine, theirs = row.get(field), base.get(field) if base else None
            row[key] = mine / theirs if mine is not None and theirs else None


def _note_row(scenario: Scenario, tool: str, note: str) -> dict[str, Any]:
    return {"scenario": scenario.name, "tool": tool, "note": note}


def start_emulator(
    rate: int, window: float, latency: float
) -> contextlib.AbstractAsyncContextManager[Emulator]:
    """The scenario's emulator: strict (HubSpot's validation), the records' custom properties
    declared."""
    return emulator(
        token=TOKEN, rate=rate, window=window, latency=latency, properties=CUSTOM_PROPERTIES
    )


async def run_scenario(
    scenario: Scenario,
    quick: bool,
    log: Callable[[str], None],
    tools: Sequence[str] | None = None,
    pairs: int | None = None,
) -> list[dict]:
    """Run ``scenario``'s tools (those also in ``tools``, when given); one row per tool and
    limiter. In a paired scenario asyncbatch and the peer alternate ``pairs`` times (default
    ``DEFAULT_PAIRS``, ``QUICK_PAIRS`` with ``quick``) and their rows are medians."""
    if scenario.kind == "memory":
        return [await run_memory(scenario, quick, log)]
    if scenario.kind == "refusals":
        return await run_refusals(scenario, quick, log, tools)
    if scenario.kind == "web":
        return await run_web_backend(scenario, quick, log, tools)
    if scenario.kind == "stall":
        return await run_loop_stall(scenario, quick, log)
    if pairs is None:
        pairs = QUICK_PAIRS if quick else DEFAULT_PAIRS
    rows: list[dict[str, Any]] = []
    selected = [t for t in scenario.tools if not tools or t in tools]
    paired = scenario.paired and pairs > 0 and ASYNCBATCH in selected and PEER in selected
    async with start_emulator(scenario.rate, scenario.window, scenario.latency) as emu:
        if paired:
            rows.extend(await _run_pairs(scenario, quick, emu, log, pairs))
            selected = [t for t in selected if t not in (ASYNCBATCH, PEER)]
        for tool in selected:
            for limiter in scenario.limiters:
                label = _label(scenario, tool, limiter)
                if limiter != REDIS:
                    rows.append(await _run_tool(scenario, tool, label, quick, emu, log, {}))
                    continue
                url = os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL
                try:
                    async with redis_budget(url) as key:
                        shared = {"redis_url": url, "key": key}
                        rows.append(await _run_tool(scenario, tool, label, quick, emu, log, shared))
                except RedisUnavailableError as exc:
                    log(f"  {scenario.name} / {label}: skipped: {exc}")
                    rows.append(_note_row(scenario, label, f"skipped: {exc}"))
    _add_ratios(rows)
    return rows


async def _run_tool(
    scenario: Scenario,
    tool: str,
    label: str,
    quick: bool,
    emu: Emulator,
    log: Callable[[str], None],
    extra_spec: dict[str, Any],
    *,
    size: int | None = None,
    preload: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """One row: reset the emulator (and preload ``preload`` courses), start
    ``scenario.processes`` clients together, read the emulator's counts."""
    size = scenario.size(quick) if size is None else size
    timeout = 300.0 if quick else 1200.0
    await emu.reset()
    if preload:
        await emu.preload(OBJECT_TYPE, preload)
    specs = [
        {**_spec(scenario, tool, emu.url, size, i), **extra_spec} for i in range(scenario.processes)
    ]
    started = time.monotonic()
    emulator_cpu = emu.cpu_seconds()
    try:
        outcomes = await run_children(specs, timeout)
    except (RuntimeError, TimeoutError) as exc:
        log(f"  {scenario.name} / {label}: FAILED: {exc}")
        last = [x for x in str(exc).splitlines() if x.strip()] or [repr(exc)]
        return _note_row(scenario, label, f"failed: {last[-1][:160]}")
    row = _row(scenario, label, outcomes, await emu.stats())
    emulator_cpu_after = emu.cpu_seconds()
    if emulator_cpu is not None and emulator_cpu_after is not None and row["requests"]:
        row["emulator_ms_per_request"] = (
            (emulator_cpu_after - emulator_cpu) * 1000 / row["requests"]
        )
    log(
        f"  {scenario.name} / {label}: {row['wall_s']:.2f} s, {row['written']} written, "
        f"{row['requests']} requests, {row['http_429']} 429s, "
        f"max {row['max_window_requests']} in a window "
        f"({time.monotonic() - started:.1f} s with start-up)"
    )
    return row


async def _run_pairs(
    scenario: Scenario,
    quick: bool,
    emu: Emulator,
    log: Callable[[str], None],
    pairs: int,
) -> list[dict[str, Any]]:
    """asyncbatch, peer, asyncbatch, peer, ... (a fresh process each run, each sampled by
    ``child.Sampler``): two median rows, asyncbatch's carrying the paired figures
    (``paired``), each its CPU breakdown per record (``cpu_breakdown``)."""
    runs: dict[str, list[dict[str, Any]]] = {ASYNCBATCH: [], PEER: []}
    for n in range(1, pairs + 1):
        for tool in (ASYNCBATCH, PEER):
            label = f"{tool} (pair {n}/{pairs})"
            extra = {"sample": True}
            runs[tool].append(await _run_tool(scenario, tool, label, quick, emu, log, extra))
    rows = []
    for tool, done in runs.items():
        row = median_row(tool, done)
        row["pairs"] = pairs
        row["cpu_breakdown"] = _sampled_breakdown(row, done)
        rows.append(row)
    rows[0]["paired"] = paired_figures(scenario.kind, runs[ASYNCBATCH], runs[PEER])
    return rows


def _sampled_breakdown(
    row: dict[str, Any], runs: Sequence[dict[str, Any]]
) -> dict[str, Any] | None:
    """The samples of every run of a tool, summed, split ``row``'s median CPU per record."""
    seconds: dict[str, float] = {}
    for run in runs:
        for bucket, weight in (run.get("sample_buckets") or {}).items():
            seconds[bucket] = seconds.get(bucket, 0.0) + weight
    if not seconds or row.get("cpu_us_per_record") is None:
        return None
    return from_samples(
        seconds,
        samples=sum(run.get("samples") or 0 for run in runs),
        cpu_us_per_record=row["cpu_us_per_record"],
        gc_us_per_record=row.get("gc_us_per_record") or 0.0,
    )


BREAKDOWN_SCENARIOS = ("cpu-bound", "latency-bound")


def breakdown_lines(rows: Sequence[dict[str, Any]], extra: str = "") -> list[str]:
    """The CPU breakdown block: one line per bucket, a column per scenario and tool (and
    ``extra``: the row's cProfile breakdown, under that heading)."""
    columns = [
        (f"{r['scenario']} {r['tool']}", r["cpu_breakdown"])
        for name in BREAKDOWN_SCENARIOS
        for r in rows
        if r["scenario"] == name and r.get("cpu_breakdown") and r["tool"] in (ASYNCBATCH, PEER)
    ]
    if extra:
        columns += [
            (extra, r["cpu_breakdown_cprofile"]) for r in rows if r.get("cpu_breakdown_cprofile")
        ]
    if not columns:
        return []
    widths = [max(10, len(name)) for name, _ in columns]

    def line(first: str, cells: list[str]) -> str:
        padded = [c.rjust(w) for c, w in zip(cells, widths, strict=True)]
        return "  " + " | ".join([f"{first:<14}", *padded])

    lines = [
        "",
        "CPU per record (us/rec) by bucket: the median CPU of the paired runs, split by the "
        "share of each bucket in their samples (a statistical profiler, ~250 samples per CPU "
        "second); GC timed through gc.callbacks. Buckets: benchmarks/README.md.",
        line("bucket", [name for name, _ in columns]),
    ]
    for bucket in (*BUCKETS, GC):
        lines.append(
            line(bucket, [f"{f['us_per_record'].get(bucket, 0.0):.2f}" for _, f in columns])
        )
    lines.append(line("total", [f"{f['total_us_per_record']:.2f}" for _, f in columns]))
    lines.append(line("samples", [str(f.get("samples", "-")) for _, f in columns]))
    return lines


# -- Redis (scale-out's shared budget) -----------------------------------------------------------


class RedisUnavailableError(Exception):
    """The benchmark's Redis cannot be used; the message never holds a password."""


def redact(url: str) -> str:
    """``url`` without its password (a Redis URL may carry one)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.netloc.rsplit("@", 1)[1]
        return parts._replace(netloc=f"{parts.username or ''}:***@{host}").geturl()
    except ValueError:
        return "<unreadable URL>"


@contextlib.asynccontextmanager
async def redis_budget(url: str) -> AsyncIterator[str]:
    """A budget key unique to this run (``bench-<hex>``) on the Redis at ``url``; every key the
    limiter wrote under it (``asyncbatch:ratelimit:{KEY}:*``) is deleted on exit, though
    they also expire by themselves.

    Raises:
        RedisUnavailableError: redis-py is missing, or that Redis does not answer PING.
    """
    try:
        import redis.asyncio as redis_asyncio

        from asyncbatch._limiters import KEY_PREFIX
    except ImportError as exc:
        raise RedisUnavailableError(f"needs redis-py (the redis extra): {exc}") from None
    try:
        client = redis_asyncio.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0)
    except ValueError as exc:
        raise RedisUnavailableError(f"bad Redis URL {redact(url)!r}: {exc}") from None
    try:
        try:
            await client.ping()
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"[:120]
            raise RedisUnavailableError(
                f"Redis unreachable at {redact(url)} ({detail}); set {REDIS_URL_ENV}"
            ) from None
        key = f"bench-{secrets.token_hex(6)}"
        try:
            yield key
        finally:
            # Braces are literal in Redis's glob; the key has no glob characters.
            with contextlib.suppress(Exception):
                pattern = f"{KEY_PREFIX}{{{key}}}:*"
                names = [name async for name in client.scan_iter(match=pattern, count=1000)]
                if names:
                    await client.delete(*names)
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()


# -- refusals (issue 13 item 2) ------------------------------------------------------------------


async def run_refusals(
    scenario: Scenario,
    quick: bool,
    log: Callable[[str], None],
    tools: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """One row per case and tool: each case's records, from a fresh store, against the strict
    emulator; the figure is the requests the emulator saw, against the case's target."""
    rows: list[dict[str, Any]] = []
    async with start_emulator(scenario.rate, scenario.window, scenario.latency) as emu:
        for case in REFUSAL_CASES:
            size = case.size(quick)
            for tool in scenario.tools:
                if tools and tool not in tools:
                    continue
                extra = {
                    "flaw": case.name,
                    "operation": case.operation,
                    "id_property": case.id_property,
                    "expect_message": case.expect_message,
                    "check_properties": "off",  # HubSpot refuses, not the client (issue 14)
                    "prefix": f"{scenario.name}-{case.name}-{tool}",
                }
                preload = (
                    _existing_courses(extra["prefix"], size) if case.operation == "update" else None
                )
                label = f"{case.name} / {tool}"
                row = await _run_tool(
                    scenario, tool, label, quick, emu, log, extra, size=size, preload=preload
                )
                rows.append(_refusal_figures(row, case, tool, size))
    _add_ratios(rows)
    return rows


def _existing_courses(prefix: str, size: int) -> list[dict[str, str]]:
    # The courses the non-unique-key updates name (child.make_flawed_records): HubSpot refuses
    # the key whether or not they exist; they exist, as they would in a real update.
    keys = (r["id"] for r in make_records(size, 1, prefix, ID_PROPERTY))
    return [{ID_PROPERTY: key, NON_UNIQUE_KEY: course_name(key)} for key in keys]


def _refusal_figures(
    row: dict[str, Any], case: RefusalCase, tool: str, size: int
) -> dict[str, Any]:
    """``row`` with the case, its targets and whether asyncbatch met them."""
    bad = case.bad_records(size)
    figures: dict[str, Any] = {
        "case": case.name,
        "tool_name": tool,
        "case_description": case.description,
        "bad_records": bad,
        "good_records": size - bad,
        "target_requests": case.target_requests(size),
        "targets_met": None,  # the comparison row has no target
    }
    if tool == ASYNCBATCH and row.get("wall_s") is not None:
        figures["targets_met"] = (
            row["requests"] <= figures["target_requests"]
            and row["written"] == size - bad
            and row["failed"] == bad
            and row["failed_with_message"] == bad
        )
    return {**row, **figures}


def _refusal_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The footer of the refusals rows: each case's figures beside its targets."""
    lines = []
    for case in REFUSAL_CASES:
        mine = [r for r in rows if r.get("case") == case.name and r.get("wall_s") is not None]
        if not mine:
            continue
        first = mine[0]
        lines.append(f"    {case.name}: {first['records']:,} {case.description}")
        for row in mine:
            if row["targets_met"] is None:
                target = "comparison"
            else:
                met = "met" if row["targets_met"] else "NOT met"
                target = f"target <= {row['target_requests']:,}, all good written, "
                target += f"{row['bad_records']:,} failed with HubSpot's message: {met}"
            lines.append(
                f"      {row['tool_name']:<10} requests {row['requests']:,}, "
                f"good records written {row['written']:,} of {row['good_records']:,}, "
                f"failed {_count(row['failed'])} ({_count(row['failed_with_message'])} with "
                f"HubSpot's message)  [{target}]"
            )
    return lines


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


# -- web backend (issue 16 item 3) ---------------------------------------------------------------


def web_size(scenario: Scenario, tool: str, quick: bool) -> int:
    """Records a web-backend tool writes: the scenario's for the writer, a capped number for
    the peers that send one request per record."""
    if tool == WRITER:
        return scenario.size(quick)
    return WEB_PEER_QUICK_RECORDS if quick else WEB_PEER_RECORDS


def web_goal_requests(records: int) -> int:
    """Issue 16's request goal: 55 for 5,000 records (their 50 chunks, and 10 %)."""
    chunks = math.ceil(records / CHUNK)
    return chunks + chunks * WEB_GOAL_SLACK_PERCENT // 100


async def run_web_backend(
    scenario: Scenario,
    quick: bool,
    log: Callable[[str], None],
    tools: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """One row per tool: every record written by a task (or thread) of its own, all started
    at once, against records that exist (the SDK's single-record update needs them; the
    others upsert them); the figures are the emulator's requests and 429s and each record's
    time from its call to its answer."""
    rows: list[dict[str, Any]] = []
    async with start_emulator(scenario.rate, scenario.window, scenario.latency) as emu:
        for tool in scenario.tools:
            if tools and tool not in tools:
                continue
            size = web_size(scenario, tool, quick)
            prefix = f"{scenario.name}-{tool}"
            keys = [r["id"] for r in make_records(size, 1, prefix, ID_PROPERTY)]
            row = await _run_tool(
                scenario,
                tool,
                tool,
                quick,
                emu,
                log,
                {"prefix": prefix},
                size=size,
                preload=[{ID_PROPERTY: key} for key in keys],
            )
            rows.append(_web_figures(row, scenario, tool, size))
    return rows


def _web_figures(row: dict[str, Any], scenario: Scenario, tool: str, size: int) -> dict[str, Any]:
    """``row`` with its goals (the writer's) and whether every record was answered."""
    figures: dict[str, Any] = {
        "tool_name": tool,
        "records_capped": tool != WRITER and size < scenario.records,
        "goal_requests": web_goal_requests(size) if tool == WRITER else None,
        "goals_met": None,
    }
    if row.get("wall_s") is None:
        return {**row, **figures}
    # Every record answered once, written or failed, and the writes the tool reports are the
    # ones the emulator applied.
    figures["accounted"] = (
        row.get("answered") == size
        and row.get("ok") is not None
        and row["ok"] + (row.get("failed") or 0) == size
        and row["ok"] == row["written"]
    )
    if tool == WRITER:
        figures["goals_met"] = (
            row["requests"] <= figures["goal_requests"]
            and row["http_429"] == 0
            and row["lost"] == 0
            and figures["accounted"]
        )
    return {**row, **figures}


def _web_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The footer of the web-backend rows: requests and 429s against the goals, each
    record's time from its call to its answer, and the accounting."""
    lines = []
    for row in rows:
        if row["scenario"] != "web-backend" or row.get("wall_s") is None:
            continue
        size = row["records"]
        head = f"    {row['tool_name']}: {size:,} records"
        if row["records_capped"]:
            seconds = size / SCENARIOS["web-backend"].rate
            head += f" (capped: one request per record, {seconds:.0f} s at 10 req/s)"
        goal = ""
        if row["goals_met"] is not None:
            met = "met" if row["goals_met"] else "NOT met"
            goal = f"  [goal <= {row['goal_requests']:,} requests, 0 429s, all written: {met}]"
        lines.append(f"{head}, {row['requests']:,} requests, {row['http_429']:,} 429s{goal}")
        lines.append(
            f"      call to answer: p50 {_ms(row.get('p50_ms'))}, p99 {_ms(row.get('p99_ms'))}, "
            f"max {_ms(row.get('max_ms'))}; answered {_count(row.get('answered'))} of "
            f"{size:,}: written {row['written']:,}, failed {_count(row.get('failed'))}"
            f"{'' if row.get('accounted') else ' (NOT all accounted for)'}"
        )
    return lines


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


# -- loop stall (issue 16 items 2 and 3) ---------------------------------------------------------

#: upsert() sizes the loop-stall scenario measures, each in a fresh process
STALL_SIZES = (100_000, 1_000_000)
STALL_QUICK_SIZES = (100_000,)
STALL_GOAL_MS = 10.0  # issue 16 item 2, for 1,000,000 records
#: fresh processes per size (``--quick``: one). One run's longest stall is one draw: on the
#: 2-core VM the guest sometimes executes nothing for 5-21 ms (see benchmarks/README.md).
STALL_RUNS = 3


async def run_loop_stall(
    scenario: Scenario, quick: bool, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Per size three rows: the first call of a client, the same with ``gc.freeze()`` in the
    application, and a call to an endpoint that answered before (``--warm``: no canary),
    each from ``STALL_RUNS`` runs of ``python -m benchmarks.loop_stall [--freeze] [--warm]
    N`` in a process of its own; and a fourth, the host's control (``--control``: the same
    ticker and records, no library code)."""
    rows = []
    sizes = STALL_QUICK_SIZES if quick else STALL_SIZES
    runs = 1 if quick else STALL_RUNS
    flags = ("", "--freeze", "--warm", "--control")
    variants = [(size, flag) for size in sizes for flag in flags]
    for size, flag in variants:
        label = (
            f"control {size:,}: no library code"
            if flag == "--control"
            else f"asyncbatch upsert() {size:,}" + _STALL_LABELS[flag]
        )
        measured: list[dict[str, Any]] = []
        for _ in range(runs):
            figures, failure = await _one_stall_run(size, flag)
            if figures is None:
                log(f"  {scenario.name} / {label}: FAILED: {failure}")
                rows.append(_note_row(scenario, label, f"failed: {failure}"))
                break
            log(f"  {scenario.name} / {label}: longest stall {figures['max_stall_ms']} ms")
            measured.append(figures)
        else:
            rows.append(_stall_row(scenario, label, size, measured))
    return rows


#: What each variant's flag adds to a loop-stall row's label.
_STALL_LABELS = {
    "": "",
    "--freeze": ", app gc.freeze()",
    "--warm": ", endpoint answered before",
    "--control": "",
}


async def _one_stall_run(size: int, flag: str) -> tuple[dict[str, Any] | None, str]:
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "benchmarks.loop_stall", *([flag] if flag else []), str(size)],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=ROOT,
        check=False,
    )
    try:
        return json.loads(done.stdout.strip().splitlines()[-1]), ""
    except (IndexError, ValueError):
        return None, (done.stderr.strip().splitlines() or ["no output"])[-1][:160]


def _stall_row(
    scenario: Scenario, label: str, size: int, runs: list[dict[str, Any]]
) -> dict[str, Any]:
    """The run with the median longest stall stands for the row; every run's longest stall
    and load() stall are kept beside it."""
    figures = sorted(runs, key=lambda f: f["max_stall_ms"])[(len(runs) - 1) // 2]
    wall = figures["elapsed_s"]
    return {
        "scenario": scenario.name,
        "tool": label,
        "wall_s": wall,
        "records": size,
        "written": figures["written"],
        "lost": size - min(f["written"] for f in runs),
        "rec_per_s": figures["written"] / wall if wall else None,
        "share": None,
        "cpu_us_per_record": figures["cpu_s"] * 1e6 / size,
        "cpu_s": figures["cpu_s"],
        "max_rss_mb": figures["max_rss_mb"],
        "max_stall_ms": figures["max_stall_ms"],
        "max_stall_runs_ms": [f["max_stall_ms"] for f in runs],
        "p99_stall_ms": figures["p99_stall_ms"],
        "ticks": figures["ticks"],
        "minor_faults": figures.get("minor_faults"),
        "goal_ms": STALL_GOAL_MS if size >= 1_000_000 and not figures.get("control") else None,
        "control": figures.get("control", False),
        "gc_freeze": figures["gc_freeze"],
        "warm": figures.get("warm", False),
        "full_collections": figures.get("full_collections"),
        "longest_full_collection_ms": figures.get("longest_full_collection_ms"),
        "load_max_stall_ms": figures.get("load_max_stall_ms"),
        "load_max_stall_runs_ms": [f.get("load_max_stall_ms") for f in runs],
        "note": None,
    }


def _stall_lines(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for row in rows:
        if row["scenario"] != "loop-stall" or row.get("max_stall_ms") is None:
            continue
        runs = row["max_stall_runs_ms"]
        variant = ", application gc.freeze()" if row.get("gc_freeze") else ""
        variant += ", endpoint answered before (no canary)" if row.get("warm") else ""
        if row.get("control"):
            variant = ", the host's control (the same ticker, no library code)"
        each = ", ".join(f"{ms:.1f}" for ms in runs)
        collections = (
            ""
            if row.get("full_collections") is None
            else f"; {row['full_collections']} full GC collection(s), longest "
            f"{row['longest_full_collection_ms']} ms"
        )
        lines.append(
            f"    {row['records']:,} records{variant}: longest stall {row['max_stall_ms']:.1f} ms "
            f"(median of {len(runs)} run(s): {each}), p99 {row['p99_stall_ms']:.2f} ms over "
            f"{row['ticks']:,} ticks{collections}{_stall_goal(row, runs)}"
        )
        if row.get("load_max_stall_ms") is not None:
            lines.append(
                f"      then await result.load() (the result objects): longest stall "
                f"{row['load_max_stall_ms']:.1f} ms"
            )
    return lines


def _stall_goal(row: dict[str, Any], runs: list[float]) -> str:
    """Met only if every run stayed under the goal."""
    if row.get("goal_ms") is None:
        return ""
    under = sum(ms < row["goal_ms"] for ms in runs)
    met = "met" if under == len(runs) else "NOT met"
    return f"  [goal < {row['goal_ms']:g} ms (issue 16): {met}, {under} of {len(runs)} runs]"


# -- memory (issue 5's streaming CLI) ------------------------------------------------------------


def cli_has_upsert() -> bool:
    """True once ``asyncbatch upsert --help`` exits 0 (the streaming CLI has landed)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "asyncbatch", "upsert", "--help"],
            capture_output=True,
            timeout=60,
            cwd=ROOT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


# HOOK: the CLI's options are issue 5's to define. Adjust this argv when it lands; the runner
# fills {file} and {url}, and passes the token as HUBSPOT_ACCESS_TOKEN.
MEMORY_CLI_ARGV = (
    "upsert",
    OBJECT_TYPE,
    "{file}",
    "--id-property",
    ID_PROPERTY,
    "--base-url",
    "{url}",
    "--rate",
    f"{NO_LIMIT}/1s",
    "--concurrency",
    "8",
    "--progress-interval",
    "0",
)

# Runs the CLI as its only child and prints the child's peak RSS (KiB): RUSAGE_CHILDREN of a
# process that has waited for exactly one child.
_RSS_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(rc, u.ru_maxrss, u.ru_utime + u.ru_stime)\n"
)


async def run_memory(scenario: Scenario, quick: bool, log: Callable[[str], None]) -> dict:
    if not await asyncio.to_thread(cli_has_upsert):
        return _note_row(scenario, ASYNCBATCH, "pending CLI streaming (issue 5)")
    size = scenario.size(quick)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "records.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for start in range(0, size, 10_000):
                batch = make_records(min(10_000, size - start), 5, f"mem{start}", ID_PROPERTY)
                handle.writelines(json.dumps(r) + "\n" for r in batch)
        async with start_emulator(NO_LIMIT, 1.0, 0.0) as emu:
            argv = [a.format(file=path, url=emu.url) for a in MEMORY_CLI_ARGV]
            env = {**os.environ, "HUBSPOT_ACCESS_TOKEN": TOKEN}
            started = time.perf_counter()
            done = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-c", _RSS_WRAPPER, sys.executable, "-m", "asyncbatch", *argv],
                capture_output=True,
                text=True,
                timeout=1800,
                env=env,
                cwd=ROOT,
                check=False,
            )
            wall = time.perf_counter() - started
            stats = await emu.stats()
    try:
        code, rss, cpu_text = done.stdout.split()[-3:]
        rc, rss_kib, cpu = int(code), int(rss), float(cpu_text)
    except ValueError:
        return _note_row(scenario, ASYNCBATCH, f"CLI wrapper failed: {done.stderr[-200:]}")
    if rc not in (0, 1):
        return _note_row(scenario, ASYNCBATCH, f"CLI exit {rc}: {done.stderr[-200:]}")
    written = sum(len(ids) for ids in stats["writes"].values())
    log(f"  memory / asyncbatch CLI: {wall:.1f} s, peak RSS {rss_kib / 1024:.0f} MB")
    return {
        "scenario": scenario.name,
        "tool": "asyncbatch CLI",
        "wall_s": wall,
        "records": size,
        "written": written,
        "lost": size - written,
        "rec_per_s": written / wall,
        "share": None,
        "requests": stats["total_requests"],
        "http_429": stats["rate_limited_total"],
        "cpu_us_per_record": cpu * 1e6 / size,
        "cpu_s": cpu,
        "max_rss_mb": rss_kib / 1024,
        "note": "whole CLI process (start-up, file reading included); target RSS <= 150 MB",
    }


# -- the table -----------------------------------------------------------------------------------

COLUMNS: Sequence[tuple[str, str, str]] = (
    ("scenario", "scenario", "{}"),
    ("tool", "tool", "{}"),
    ("wall_s", "wall s", "{:.2f}"),
    ("rec_per_s", "rec/s", "{:,.0f}"),
    ("share", "share", "{:.3f}"),
    ("written", "written", "{:,}"),
    ("lost", "lost", "{:,}"),
    ("requests", "requests", "{:,}"),
    ("http_429", "429s", "{:,}"),
    ("cpu_us_per_record", "CPU us/rec", "{:.1f}"),
    ("first_request_ms", "1st req ms", "{:.1f}"),
    ("max_stall_ms", "stall ms", "{:.1f}"),
    ("max_rss_mb", "RSS MB", "{:.0f}"),
    ("emulator_ms_per_request", "emu ms/req", "{:.1f}"),
    ("wall_x", "wall x", "{:.2f}"),
    ("requests_x", "req x", "{:.2f}"),
    ("cpu_x", "CPU x", "{:.2f}"),
)


def _cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    return fmt.format(value)


def format_table(rows: list[dict[str, Any]], quick: bool) -> str:
    cells = [[_cell(r, k, f) for k, _, f in COLUMNS] for r in rows]
    headers = [h for _, h, _ in COLUMNS]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        out = []
        for i, v in enumerate(values):
            out.append(v.ljust(widths[i]) if i < 2 else v.rjust(widths[i]))
        return " | ".join(out).rstrip()

    text = [line(headers), "-+-".join("-" * w for w in widths)]
    for row, values in zip(rows, cells, strict=True):
        if row.get("note") and row.get("wall_s") is None:
            text.append(line([values[0], values[1]]) + " | " + row["note"])
        else:
            text.append(line(values))
    text.append("")
    text.append(
        "share: rate-bound/shared-budget/scale-out = ideal time / wall time (only when nothing "
        "was lost); latency-bound = rec/s / (C x 100 / latency)."
    )
    text.append(
        "requests and 429s: counted by the emulator. x columns: tool / asyncbatch "
        "(wall time, requests, client CPU)."
    )
    text.append(
        "1st req ms: from the call to the emulator's first request (monotonic clock). stall ms: "
        "the longest stall of a 1 ms ticker (loop-stall). Paired rows (asyncbatch, peer): "
        "medians over the pairs."
    )
    seen: set[str] = set()
    for row in rows:
        name = row["scenario"]
        if name in seen or name not in SCENARIOS:
            continue
        seen.add(name)
        sc = SCENARIOS[name]
        # The first measured row (a skipped or failed row has no figures).
        row = next((r for r in rows if r["scenario"] == name and r.get("records")), row)
        size = row.get("records") or sc.size(quick) * sc.processes
        parts = [f"{name}: {sc.description}"]
        if sc.kind != "refusals":  # its cases have sizes of their own (below)
            parts[0] += f"; {size:,} records"
        if row.get("ideal_s") is not None:
            parts.append(f"ideal {row['ideal_s']:.2f} s")
        if row.get("bound_rec_per_s") is not None:
            parts.append(f"bound {row['bound_rec_per_s']:,.0f} rec/s")
        text.append("  " + ", ".join(parts))
        windows = [
            f"{r['tool']} {r['max_window_requests']}"
            for r in rows
            if r["scenario"] == name and r.get("max_window_requests") is not None
        ]
        if sc.processes > 1 and windows:
            text.append(
                f"    most requests the emulator saw in any {sc.window:g} s window "
                f"(limit {sc.rate}): " + ", ".join(windows)
            )
        if sc.kind == "refusals":
            text.extend(_refusal_lines(rows))
        if sc.kind == "web":
            text.extend(_web_lines(rows))
        if sc.kind == "stall":
            text.extend(_stall_lines(rows))
    text.extend(paired_lines(rows))
    text.extend(breakdown_lines(rows))
    if quick:
        text.append("  (--quick sizes)")
    return "\n".join(text)


def write_json(rows: list[dict[str, Any]], quick: bool, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "scenarios": {
            name: {**attrs.asdict(sc), "description": sc.description}
            for name, sc in SCENARIOS.items()
            if any(r["scenario"] == name for r in rows)
        },
        "tools": TOOL_NOTES,
        "columns": {key: header for key, header, _ in COLUMNS},
        "rows": rows,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


# -- profile -------------------------------------------------------------------------------------


async def profile_cpu(quick: bool, top: int, pairs: int, log: Callable[[str], None]) -> str:
    """The cpu-bound scenario's asyncbatch and peer, ``pairs`` alternated pairs (sampled), then
    one cProfile run of asyncbatch (CPU timer, collector off): the breakdown per record (the
    samples', and cProfile's as a cross-check), the paired figures, and asyncbatch's top
    functions, as text."""
    scenario = SCENARIOS["cpu-bound"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{ASYNCBATCH}.prof"
        extra = {"profile": str(out), "profile_timer": "cpu", "profile_gc": False}
        async with start_emulator(NO_LIMIT, 1.0, 0.0) as emu:
            rows = await _run_pairs(scenario, quick, emu, log, max(1, pairs))
            label = f"{ASYNCBATCH} (cProfile)"
            profiled = await _run_tool(scenario, ASYNCBATCH, label, quick, emu, log, extra)
        if profiled.get("wall_s") is None or not out.exists():
            return "\n".join([*breakdown_lines(rows), *paired_lines(rows), "cProfile run failed"])
        mine = rows[0]
        mine["cpu_breakdown_cprofile"] = {
            "us_per_record": scaled(
                bucket_seconds(str(out)),
                cpu_us_per_record=mine["cpu_us_per_record"],
                gc_us_per_record=mine.get("gc_us_per_record") or 0.0,
            ),
            "total_us_per_record": mine["cpu_us_per_record"],
            "samples": f"{profiled['cpu_us_per_record']:.0f} us/rec profiled",
        }
        text = [*breakdown_lines(rows, "asyncbatch by cProfile"), *paired_lines(rows), ""]
        for order in ("cumulative", "tottime"):
            stream = _Capture()
            stats = pstats.Stats(str(out), stream=stream)  # type: ignore[arg-type]
            stats.strip_dirs().sort_stats(order).print_stats(top)
            text.append(f"== asyncbatch, top {top} by {order} (CPU time) ==\n{stream.text()}")
    return "\n".join(text)


class _Capture:
    def __init__(self) -> None:
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        self._parts.append(text)
        return len(text)

    def text(self) -> str:
        raw = "".join(self._parts)
        # Keep the table, not pstats' preamble of file names.
        start = raw.find("   ncalls")
        return raw[start:] if start >= 0 else raw
