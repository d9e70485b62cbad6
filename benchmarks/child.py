"""One client under test, in its own process: ``python -m benchmarks.child SPEC_JSON``.

Protocol with the runner (``benchmarks.__main__``): the child builds its records, prints
``READY`` on stdout, waits for a ``GO`` line on stdin (so several children can start together
and imports/record building are not timed), runs its tool once, and prints one line
``RESULT {json}`` with its own figures: wall time, CPU time (``getrusage(RUSAGE_SELF)``, all
threads) and peak RSS of this process, records written/lost as the tool saw them.

SPEC_JSON keys: tool, url, token, object_type, id_property, records, properties, prefix,
concurrency, rate, window, and optionally profile (a path: cProfile the timed call to it);
for asyncbatch also redis_url and key (share one rate budget through Redis:
``RateLimit(rate, window, redis_url=..., key=...)``), operation (``upsert``, the default, or
``update``), flaw (a refusals case: ``invalid-option``, ``non-unique-key``,
``misspelt-property``), expect_message (the text HubSpot's refusal carries) and
check_properties (``BatchClient(check_properties=...)``, passed where the client has it).

Every tool's RESULT also carries ``t_call``, ``time.monotonic()`` (the host's
CLOCK_MONOTONIC) when its call began, which the runner compares with the emulator's
``first_request_at`` / ``first_write_at`` on the same clock, and the cyclic garbage collector's
time and collections during the call (``gc_s``, ``gc_collections``, timed through
``gc.callbacks``). asyncbatch adds ``check_s`` / ``check_records``: the CPU time of the
property check (``_schema.all_pass`` and ``check_items``) and the records it judged.
``profile_timer: "cpu"`` profiles with ``time.thread_time`` (CPU, not wall: the cpu-bound
client waits on the emulator) and ``profile_gc: false`` turns the collector off while
profiling, so that its pauses are not charged to whatever function ran when it started (the
runner times the collector in runs that are not profiled).

``peer`` is issue 19's hand-written script (``run_peer``): its records are built in the
request's shape, ``idProperty`` included, before the clock starts.

The web-backend tools (``writer``, ``per-record-upsert``, ``sdk-basic-threads``) write each
record from a task (or thread) of its own, all started at once, and add ``answered``, ``ok``
and ``p50_ms`` / ``p99_ms`` / ``max_ms``: each record's time from its call to its answer.

The records are courses (``0-410``) whose values are valid for the strict emulator's property
definitions: the defaults of ``asyncbatch/emulator/_properties.py`` plus ``CUSTOM_PROPERTIES``,
which the runner declares (``--properties``). The tool ``bisection`` is asyncbatch as it was
before issue 13 (see ``run_bisection``).
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import math
import resource
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

CHUNK = 100
REQUEST_TIMEOUT = 60.0

LEVELS = ("beginner", "intermediate", "advanced")
TOPICS = ("analytics", "apis", "cloud", "crm", "etl", "python", "security", "sql")
CUSTOM_NAMES = ("description", "owner", "region", "status")


def _custom(name: str) -> Callable[[int], str]:
    return lambda n: f"{LEVELS[n % 3]} {name} {n}"


# The properties written after the id property, in order, each with a value its definition
# accepts (level and topics are enumerations, duration_hours and price numbers, start_date a
# date at midnight UTC). The last four, CUSTOM_NAMES, are the portal's own: CUSTOM_PROPERTIES.
PROPERTY_VALUES: tuple[tuple[str, Callable[[int], str]], ...] = (
    ("hs_course_name", lambda n: f"Course {n}: batch APIs in practice"),
    ("level", lambda n: LEVELS[n % 3]),
    ("duration_hours", lambda n: str(n % 40 + 1)),
    ("start_date", lambda n: f"2026-{n % 12 + 1:02d}-{n % 28 + 1:02d}"),
    ("price", lambda n: f"{n % 900 + 99}.50"),
    ("topics", lambda n: f"{TOPICS[n % 8]};{TOPICS[(n + 3) % 8]}"),
    *((name, _custom(name)) for name in CUSTOM_NAMES),
)
CUSTOM_PROPERTIES: dict[str, list[dict[str, Any]]] = {
    "0-410": [{"name": name, "type": "string"} for name in CUSTOM_NAMES]
}
"""Declared to the emulator (its ``--properties`` JSON): HubSpot's courses do not have them."""

# The refusals scenario's flaws (issue 13 item 2), each as HubSpot answers it.
BAD_OPTION = "expert"  # level is a select of LEVELS: 400 INVALID_OPTION naming level and value
BAD_EVERY = 100  # one bad record per chunk of 100
BAD_AT = 37  # its place in the chunk
MISSPELT = ("level", "levle")  # a misspelt column, on every record: 400 PROPERTY_DOESNT_EXIST
NON_UNIQUE_KEY = "hs_course_name"  # not unique: 400 "... by non-unique 0-410 property ..."


def course_name(key: str) -> str:
    """The ``hs_course_name`` of the non-unique-key case's record ``key`` (the runner preloads
    these courses; the updates name them by it)."""
    return f"Course {key}"


def make_records(
    count: int, properties: int, prefix: str, id_property: str, *, keyed: bool = False
) -> list[dict[str, Any]]:
    """``count`` distinct upsert inputs in HubSpot's shape, each with ``properties`` values
    (the ``id_property`` value counts as one of them); ``keyed``: each also names its
    ``idProperty``, as HubSpot's upsert body needs (the peer sends them as they are)."""
    records: list[dict[str, Any]] = []
    values = PROPERTY_VALUES[: max(0, properties - 1)]
    for n in range(count):
        key = f"{prefix}-{n:07d}"
        props = {id_property: key}
        for name, value in values:
            props[name] = value(n)
        record: dict[str, Any] = {"id": key, "properties": props}
        if keyed:
            record["idProperty"] = id_property
        records.append(record)
    return records


def make_flawed_records(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The refusals scenario's records: ``make_records`` with the case's flaw."""
    flaw = spec["flaw"]
    if flaw == "non-unique-key":
        # Updates of existing courses, each named by its (not unique) course name.
        records = make_records(spec["records"], spec["properties"], spec["prefix"], "course_code")
        for record in records:
            record["properties"].pop("course_code")
            record["properties"].pop("hs_course_name", None)
            record["id"] = course_name(record["id"])
        return records
    records = make_records(spec["records"], spec["properties"], spec["prefix"], spec["id_property"])
    if flaw == "invalid-option":
        for record in records[BAD_AT::BAD_EVERY]:
            record["properties"]["level"] = BAD_OPTION
    elif flaw == "misspelt-property":
        right, wrong = MISSPELT
        for record in records:
            record["properties"][wrong] = record["properties"].pop(right)
    else:
        raise ValueError(f"unknown flaw {flaw!r}")
    return records


def chunks(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [records[i : i + CHUNK] for i in range(0, len(records), CHUNK)]


class Tally:
    """What a peer saw: written records, lost records, requests it made, exceptions by kind."""

    def __init__(self) -> None:
        self.written = 0
        self.lost = 0
        self.requests = 0
        self.rate_limited = 0
        self.errors: Counter[str] = Counter()

    def fail(self, count: int, reason: str) -> None:
        self.lost += count
        self.errors[reason] += 1


# -- the tools -----------------------------------------------------------------------------------


async def run_asyncbatch(
    spec: dict[str, Any], records: list[dict[str, Any]], *, retry: Any = None
) -> dict[str, Any]:
    import asyncbatch

    # What a user sets: the account's limit and the concurrency (and, to share the budget
    # with other processes, a Redis and a budget key). The safety margin and the retry policy
    # stay the library's defaults.
    shared: dict[str, Any] = {}
    if spec.get("redis_url"):
        shared = {"redis_url": spec["redis_url"], "key": spec.get("key") or "default"}
    options: dict[str, Any] = {}
    # The refusals scenario lets HubSpot be the one refusing: a client that checks values
    # against the property definitions first (issue 14) is told not to.
    check = spec.get("check_properties")
    if check and "check_properties" in inspect.signature(asyncbatch.BatchClient).parameters:
        options["check_properties"] = check
    async with asyncbatch.BatchClient(
        spec["token"],
        base_url=spec["url"],
        rate_limit=asyncbatch.RateLimit(spec["rate"], spec["window"], **shared),
        max_concurrency=spec["concurrency"],
        retry=retry,
        **options,
    ) as client:
        call = client.update if spec.get("operation") == "update" else client.upsert
        check = PropertyCheckClock.install()
        with Timed.from_spec(spec) as timed:
            result = await call(spec["object_type"], records, id_property=spec["id_property"])
    reasons = Counter(f.reason.split(":")[0][:60] for f in result.failed)
    expected = spec.get("expect_message")
    return {
        **timed.figures(),
        "written": len(result.results),
        "lost": sum(len(f.positions) for f in result.failed),
        "failed": sum(len(f.positions) for f in result.failed),
        "failed_with_message": (
            sum(len(f.positions) for f in result.failed if expected in f.reason)
            if expected
            else None
        ),
        "client_requests": result.stats.requests,
        "client_429s": result.stats.rate_limited,
        "retries": result.stats.retries,
        "split_requests": result.stats.split_requests,
        "check_properties": options.get("check_properties"),
        **check.figures(),
        "errors": dict(reasons),
    }


class PropertyCheckClock:
    """The CPU time of the property check (issue 14 item 4): ``_schema.all_pass`` (the quick
    check of a chunk's values) and ``_schema.check_items`` (the full one, when a value is
    refused or converted), wrapped wherever asyncbatch imported them, timed per call (a chunk)
    on the thread's CPU clock (``time.thread_time``: see ``Sampler``). Records are counted
    once per chunk: by the first of the two the library has."""

    NAMES = ("all_pass", "check_items")

    def __init__(self) -> None:
        self.seconds = 0.0
        self.records = 0
        self.calls = 0

    @classmethod
    def install(cls) -> PropertyCheckClock:
        clock = cls()
        try:
            from asyncbatch import _schema
        except ImportError:  # pragma: no cover - the library moved it: no figure
            return clock
        counted = False
        for name in cls.NAMES:
            original = getattr(_schema, name, None)
            if original is not None:
                clock._wrap(name, original, count=not counted)
                counted = True
        return clock

    def _wrap(self, name: str, original: Any, *, count: bool) -> None:
        def timed(values: Any, schema: Any) -> Any:
            started = time.thread_time()
            try:
                return original(values, schema)
            finally:
                self.seconds += time.thread_time() - started
                if count:
                    self.records += len(values)
                    self.calls += 1

        for module_name, module in list(sys.modules.items()):
            if module_name.startswith("asyncbatch") and getattr(module, name, None) is original:
                setattr(module, name, timed)

    def figures(self) -> dict[str, Any]:
        return {"check_s": self.seconds, "check_records": self.records, "check_calls": self.calls}


async def run_bisection(spec: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """asyncbatch as it was before issue 13 (the refusals scenario's comparison): every
    whole-request 400 split in halves until single records stand alone, no split budget.

    The same client, with its refusal classifier replaced by one that attributes nothing:
    every refusal is "isolate" (bisect every input of the chunk, and never stop the call), and
    with a split budget no chunk can spend. The pre-issue-13 client (36a47be) against the same
    emulator made the same requests: 390, 1,990 and 1,990 for the three full-size cases.
    """
    import asyncbatch
    from asyncbatch import _dispatch, _refusals

    def attribute_nothing(_error: object) -> Any:
        return _refusals.Refusal("isolate")

    if not hasattr(_dispatch, "classify_refusal"):
        raise RuntimeError(
            "asyncbatch._dispatch no longer calls classify_refusal: update run_bisection"
        )
    _dispatch.classify_refusal = attribute_nothing
    unbounded = asyncbatch.RetryPolicy(
        max_split_requests_per_chunk=10**9, max_split_requests_per_call=10**9
    )
    return await run_asyncbatch(spec, records, retry=unbounded)


def _sdk_client(spec: dict[str, Any], retry: Any = None) -> Any:
    from hubspot import Client

    kwargs: dict[str, Any] = {"access_token": spec["token"], "host": spec["url"]}
    if retry is not None:
        kwargs["retry"] = retry
    # One BatchApi (one ApiClient, one urllib3 PoolManager) shared by every thread:
    # each ``client.crm.objects.batch_api`` access builds a new ApiClient.
    return Client.create(**kwargs).crm.objects.batch_api


def _sdk_send(api: Any, spec: dict[str, Any], chunk: list[dict[str, Any]], tally: Tally) -> None:
    from hubspot.crm.objects import (
        BatchInputSimplePublicObjectBatchInputUpsert,
        SimplePublicObjectBatchInputUpsert,
    )
    from hubspot.crm.objects.exceptions import ApiException

    body = BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[
            SimplePublicObjectBatchInputUpsert(
                id=r["id"], id_property=spec["id_property"], properties=r["properties"]
            )
            for r in chunk
        ]
    )
    tally.requests += 1
    try:
        response = api.upsert(
            spec["object_type"],
            batch_input_simple_public_object_batch_input_upsert=body,
            _request_timeout=REQUEST_TIMEOUT,
        )
    except ApiException as exc:
        if exc.status == 429:
            tally.rate_limited += 1
        tally.fail(len(chunk), f"ApiException {exc.status}")
    except Exception as exc:
        tally.fail(len(chunk), type(exc).__name__)
    else:
        written = len(response.results or [])
        tally.written += written
        if written < len(chunk):
            tally.fail(len(chunk) - written, "207 errors")


def run_sdk_sequential(spec: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    api = _sdk_client(spec)
    tally = Tally()
    with Timed.from_spec(spec) as timed:
        for chunk in chunks(records):
            _sdk_send(api, spec, chunk, tally)
    return {**timed.figures(), **_tally_figures(tally)}


def sdk_retry(window: float) -> Any:
    """The urllib3 retry a careful SDK user mounts: it covers POST (``allowed_methods=None``)
    and honours Retry-After. Backoff tuned on the rate-bound scenario (README): short, jittered,
    never longer than the rate window; ``total`` high enough that no chunk runs out."""
    from urllib3.util.retry import Retry

    return Retry(
        total=30,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,
        respect_retry_after_header=True,
        backoff_factor=0.1,
        backoff_jitter=0.1,
        backoff_max=window,
        raise_on_status=False,
    )


def run_sdk_threads(spec: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    from concurrent.futures import ThreadPoolExecutor

    api = _sdk_client(spec, retry=sdk_retry(spec["window"]))
    tally = Tally()
    lock = threading.Lock()

    def send(chunk: list[dict[str, Any]]) -> None:
        local = Tally()
        _sdk_send(api, spec, chunk, local)
        with lock:
            tally.written += local.written
            tally.lost += local.lost
            tally.requests += local.requests
            tally.rate_limited += local.rate_limited
            tally.errors.update(local.errors)

    with Timed.from_spec(spec) as timed, ThreadPoolExecutor(spec["concurrency"]) as pool:
        for future in [pool.submit(send, c) for c in chunks(records)]:
            future.result(timeout=3600)
    figures = _tally_figures(tally)
    # urllib3 retries inside the pool: the SDK never sees them. The emulator counts them.
    figures["client_requests"] = None
    return {**timed.figures(), **figures}


async def run_aiohttp(spec: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """aiohttp-aiolimiter: a hand-written gather like the peer's, each request behind
    ``aiolimiter.AsyncLimiter(R, W)``, counting what it wrote and lost; no retry."""
    import aiohttp
    from aiolimiter import AsyncLimiter

    limiter = AsyncLimiter(spec["rate"], spec["window"])
    url = f"{spec['url']}/crm/v3/objects/{spec['object_type']}/batch/upsert"
    tally = Tally()
    id_property = spec["id_property"]

    async def send(session: aiohttp.ClientSession, chunk: list[dict[str, Any]]) -> None:
        body = {"inputs": [{**r, "idProperty": id_property} for r in chunk]}
        await limiter.acquire()
        tally.requests += 1
        try:
            async with session.post(url, json=body) as response:
                answer = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            tally.fail(len(chunk), type(exc).__name__)
            return
        if status in (200, 207) and isinstance(answer, dict):
            written = len(answer.get("results") or [])
            tally.written += written
            if written < len(chunk):
                tally.fail(len(chunk) - written, f"HTTP {status} errors")
        else:
            if status == 429:
                tally.rate_limited += 1
            tally.fail(len(chunk), f"HTTP {status}")

    connector = aiohttp.TCPConnector(limit=spec["concurrency"])
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    headers = {"Authorization": f"Bearer {spec['token']}"}
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers
    ) as session:
        with Timed.from_spec(spec) as timed:
            await asyncio.gather(*(send(session, c) for c in chunks(records)))
    return {**timed.figures(), **_tally_figures(tally)}


async def run_peer(spec: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """Issue 19's peer, what a user writes by hand: one session with ``TCPConnector(limit=C)``,
    ``asyncio.gather`` of one ``session.post(url, json={"inputs": chunk})`` per chunk of 100,
    each answer read with ``await r.json()``; no validation, limiter, retry or accounting (the
    records already name their ``idProperty``). What it wrote is counted after the clock
    stops."""
    import aiohttp

    url = f"{spec['url']}/crm/v3/objects/{spec['object_type']}/batch/upsert"
    headers = {"Authorization": f"Bearer {spec['token']}"}

    async def post(session: aiohttp.ClientSession, chunk: list[dict[str, Any]]) -> Any:
        async with session.post(url, json={"inputs": chunk}) as r:
            return r.status, await r.json()

    connector = aiohttp.TCPConnector(limit=spec["concurrency"])
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        with Timed.from_spec(spec) as timed:
            answers = await asyncio.gather(*(post(session, c) for c in chunks(records)))
    written = sum(
        len(answer.get("results") or ())
        for status, answer in answers
        if status in (200, 207) and isinstance(answer, dict)
    )
    statuses = Counter(f"HTTP {status}" for status, _ in answers if status not in (200, 207))
    return {
        **timed.figures(),
        "written": written,
        "lost": len(records) - written,
        "client_requests": len(answers),
        "client_429s": statuses.get("HTTP 429", 0),
        "errors": dict(statuses),
    }


def _tally_figures(tally: Tally) -> dict[str, Any]:
    return {
        "written": tally.written,
        "lost": tally.lost,
        "client_requests": tally.requests,
        "client_429s": tally.rate_limited,
        "errors": dict(tally.errors),
    }


# -- the web backend (issue 16 item 3): one record per task ---------------------------------------


def _web_client(spec: dict[str, Any]) -> Any:
    import asyncbatch

    return asyncbatch.BatchClient(
        spec["token"],
        base_url=spec["url"],
        rate_limit=asyncbatch.RateLimit(spec["rate"], spec["window"]),
        max_concurrency=spec["concurrency"],
    )


def percentiles(seconds: list[float]) -> dict[str, float | None]:
    """p50, p99 and the longest of ``seconds``, in milliseconds (nearest rank)."""
    if not seconds:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(seconds)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000

    return {"p50_ms": rank(0.50), "p99_ms": rank(0.99), "max_ms": ordered[-1] * 1000}


def _per_record_figures(reasons: list[str | None], seconds: list[float]) -> dict[str, Any]:
    """What the tasks saw: one reason per record (None: written) and one latency each."""
    failed = [r for r in reasons if r is not None]
    return {
        "written": len(reasons) - len(failed),
        "ok": len(reasons) - len(failed),
        "lost": len(failed),
        "failed": len(failed),
        "answered": len(reasons),
        "errors": dict(Counter(r.split(":")[0][:60] for r in failed)),
        **percentiles(seconds),
    }


async def run_writer(spec: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """One client and one writer, as a web app holds them; each record written by a task of
    its own, all started at once. The writer's start (its property definitions read) is
    the app's start-up, not timed."""
    seconds: list[float] = []

    async with _web_client(spec) as client:
        async with client.writer(
            spec["object_type"], "upsert", id_property=spec["id_property"]
        ) as writer:

            async def one(record: dict[str, Any]) -> str | None:
                started = time.perf_counter()
                outcome = await writer.write(record)
                seconds.append(time.perf_counter() - started)
                return None if outcome.ok else outcome.failed.reason

            with Timed.from_spec(spec) as timed:
                reasons = await asyncio.gather(*(one(r) for r in records))
    return {**timed.figures(), **_per_record_figures(list(reasons), seconds)}


async def run_per_record(spec: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """The same tasks, each calling ``client.upsert([record])``: one request per record."""
    seconds: list[float] = []

    async with _web_client(spec) as client:
        await client.properties(spec["object_type"])  # read at start-up, as the writer does

        async def one(record: dict[str, Any]) -> str | None:
            started = time.perf_counter()
            result = await client.upsert(
                spec["object_type"], [record], id_property=spec["id_property"]
            )
            seconds.append(time.perf_counter() - started)
            return None if result.ok else result.failed[0].reason

        with Timed.from_spec(spec) as timed:
            reasons = await asyncio.gather(*(one(r) for r in records))
    return {**timed.figures(), **_per_record_figures(list(reasons), seconds)}


def run_sdk_basic(spec: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """HubSpot's SDK, one ``basic_api.update`` per record (``PATCH
    /crm/v3/objects/{objectType}/{id}?idProperty=``) from a thread pool of C threads, with
    the urllib3 retry of sdk-threads. A record's time runs from its submission (all at once)
    to its answer."""
    from concurrent.futures import ThreadPoolExecutor

    from hubspot import Client
    from hubspot.crm.objects import SimplePublicObjectInput
    from hubspot.crm.objects.exceptions import ApiException

    api = Client.create(
        access_token=spec["token"], host=spec["url"], retry=sdk_retry(spec["window"])
    ).crm.objects.basic_api

    def one(record: dict[str, Any], submitted: float) -> tuple[str | None, float]:
        reason: str | None = None
        try:
            api.update(
                spec["object_type"],
                record["id"],
                SimplePublicObjectInput(properties=record["properties"]),
                id_property=spec["id_property"],
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as exc:
            reason = f"ApiException {exc.status}"
        except Exception as exc:
            reason = type(exc).__name__
        return reason, time.perf_counter() - submitted

    with Timed.from_spec(spec) as timed, ThreadPoolExecutor(spec["concurrency"]) as pool:
        submitted = time.perf_counter()
        futures = [pool.submit(one, record, submitted) for record in records]
        answers = [future.result(timeout=3600) for future in futures]
    figures = _per_record_figures([r for r, _ in answers], [s for _, s in answers])
    figures["client_requests"] = None  # urllib3 retries inside the pool: the emulator counts
    return {**timed.figures(), **figures}


# -- measuring -----------------------------------------------------------------------------------


class GcClock:
    """The cyclic garbage collector's CPU time (the collecting thread's, ``time.thread_time``:
    see ``Sampler``) and collections per generation while installed (``gc.callbacks``: called
    at each collection's start and stop)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started: float | None = None

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        elif self._started is not None:
            self.seconds += time.thread_time() - self._started
            self.collections[info["generation"]] += 1
            self._started = None


class Sampler:
    """A statistical profiler of the main thread: ``SIGPROF`` at each ``INTERVAL`` of this
    process's CPU time (``ITIMER_PROF``, user + sys; the kernel sends it at its tick, about
    250 per CPU second here), each keeping the interrupted Python stack, weighted by the CPU
    time since the previous sample. Its cost is one short handler per sample (well under 1 %
    of the CPU), the same per second of CPU whatever the code does, so that the shares are not
    skewed towards code of many small calls as cProfile's are.

    Python runs a signal's handler between bytecodes, so time in C (orjson, epoll, the
    collector) is charged to the Python frame that called it; a collection, to the collector's
    stop callback (``GcClock.__call__``), where the pending handler runs first. The weight
    matters there: signals that arrive during one long stretch of C (a full collection) merge
    into one handler call, which then carries the whole stretch.

    Weights are the main thread's CPU (``time.thread_time``), where the clients under test do
    all their work: while a process-wide CPU timer is armed, Linux reads the process's CPU
    clock (``time.process_time``) from a total it updates at its tick, so short intervals
    measured with it come out as 0 or 4 ms (measured: the property check read 1.2 to 8
    µs/record on it, against 4.3 on the thread's clock and without the sampler)."""

    INTERVAL = 0.0005

    def __init__(self) -> None:
        self.stacks: Counter[tuple[Any, ...]] = Counter()
        self.weights: dict[tuple[Any, ...], float] = {}
        self._previous: Any = None
        self._last = 0.0

    def _handle(self, _signum: int, frame: Any) -> None:
        now = time.thread_time()
        weight, self._last = now - self._last, now
        codes = []
        while frame is not None:
            codes.append(frame.f_code)
            frame = frame.f_back
        key = tuple(codes)
        self.stacks[key] += 1
        self.weights[key] = self.weights.get(key, 0.0) + weight

    def start(self) -> None:
        self._previous = signal.signal(signal.SIGPROF, self._handle)
        self._last = time.thread_time()
        signal.setitimer(signal.ITIMER_PROF, self.INTERVAL, self.INTERVAL)

    def stop(self) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, self._previous or signal.SIG_DFL)

    def figures(self) -> dict[str, Any]:
        """CPU seconds sampled per bucket (``benchmarks._breakdown``), and the 15 functions
        (innermost frames) that carried the most, for a look at what a bucket holds."""
        from benchmarks._breakdown import GC, bucket_of_stack

        gc_code = GcClock.__call__.__code__
        buckets: dict[str, float] = {}
        functions: dict[str, float] = {}
        for codes, weight in self.weights.items():
            frames = [(c.co_filename, c.co_firstlineno, c.co_name) for c in codes]
            bucket = GC if codes and codes[0] is gc_code else bucket_of_stack(frames)
            buckets[bucket] = buckets.get(bucket, 0.0) + weight
            if codes:
                name = f"{codes[0].co_filename.rsplit('/', 1)[-1]}:{codes[0].co_name}"
                functions[name] = functions.get(name, 0.0) + weight
        top = sorted(functions.items(), key=lambda kv: -kv[1])[:15]
        return {
            "samples": sum(self.stacks.values()),
            "sample_buckets": buckets,
            "sample_functions": {name: round(seconds, 4) for name, seconds in top},
        }


class Timed:
    """Wall and CPU time (this process, all threads) of a block, the garbage collector's share,
    and the monotonic time the block began; optionally cProfile it (``cpu_timer``: on CPU
    time; ``gc_off``: with the collector off meanwhile) or sample it (``sample``)."""

    def __init__(
        self,
        profile: str | None = None,
        *,
        cpu_timer: bool = False,
        gc_off: bool = False,
        sample: bool = False,
    ) -> None:
        self._profile_path = profile
        self._profiler: Any = None
        self._cpu_timer = cpu_timer
        self._gc_off = gc_off and bool(profile)
        self._gc = GcClock()
        self._sampler = Sampler() if sample else None

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Timed:
        return cls(
            spec.get("profile"),
            cpu_timer=spec.get("profile_timer") == "cpu",
            gc_off=spec.get("profile_gc") is False,
            sample=bool(spec.get("sample")),
        )

    def __enter__(self) -> Timed:
        if self._profile_path:
            import cProfile

            timer = (time.thread_time,) if self._cpu_timer else ()
            self._profiler = cProfile.Profile(*timer)
        if self._gc_off:
            gc.disable()
        gc.callbacks.append(self._gc)
        self.t_start = time.time()
        self._usage = resource.getrusage(resource.RUSAGE_SELF)
        self._start = time.perf_counter()
        self.t_call = time.monotonic()
        if self._profiler is not None:
            self._profiler.enable()
        if self._sampler is not None:
            self._sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sampler is not None:
            self._sampler.stop()
        if self._profiler is not None:
            self._profiler.disable()
        self.wall = time.perf_counter() - self._start
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.t_end = time.time()
        gc.callbacks.remove(self._gc)
        if self._gc_off:
            gc.enable()
        if self._profiler is not None:
            self._profiler.dump_stats(self._profile_path)
        self.user = usage.ru_utime - self._usage.ru_utime
        self.sys = usage.ru_stime - self._usage.ru_stime

    def figures(self) -> dict[str, Any]:
        return {
            "wall_s": self.wall,
            "cpu_user_s": self.user,
            "cpu_sys_s": self.sys,
            "t_start": self.t_start,
            "t_end": self.t_end,
            "t_call": self.t_call,
            "gc_s": self._gc.seconds,
            "gc_collections": self._gc.collections,
            **(self._sampler.figures() if self._sampler is not None else {}),
        }


async def run_unchecked(spec: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """asyncbatch without the property-definitions read (``check_properties="off"``): only
    its batches count against the rate limit."""
    return await run_asyncbatch({**spec, "check_properties": "off"}, records)


#: the tools that import asyncbatch (before the clock starts)
ASYNCBATCH_TOOLS = (
    "asyncbatch",
    "asyncbatch-unchecked",
    "bisection",
    "writer",
    "per-record-upsert",
)

TOOLS: dict[str, Callable[[dict[str, Any], list[dict[str, Any]]], Any]] = {
    "asyncbatch": run_asyncbatch,
    "asyncbatch-unchecked": run_unchecked,
    "bisection": run_bisection,
    "sdk-sequential": run_sdk_sequential,
    "sdk-threads": run_sdk_threads,
    "peer": run_peer,
    "aiohttp-aiolimiter": run_aiohttp,
    "writer": run_writer,
    "per-record-upsert": run_per_record,
    "sdk-basic-threads": run_sdk_basic,
}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    runner = TOOLS[spec["tool"]]
    if spec.get("flaw"):
        records = make_flawed_records(spec)
    else:
        records = make_records(
            spec["records"],
            spec["properties"],
            spec["prefix"],
            spec["id_property"],
            keyed=spec["tool"] == "peer",
        )
    # Import the tool's libraries before the clock starts.
    if spec["tool"] in ASYNCBATCH_TOOLS:
        import asyncbatch  # noqa: F401

        if spec.get("redis_url"):
            # The Redis limiter imports redis-py when the client is built (~40 ms of CPU):
            # after GO that would land, in every process at once, on the first requests.
            import redis.asyncio
            import redis.asyncio.retry
            import redis.backoff  # noqa: F401
    elif spec["tool"].startswith("sdk"):
        import hubspot.crm.objects  # noqa: F401
    else:
        import aiohttp  # noqa: F401
    print("READY", flush=True)
    if sys.stdin.readline().strip() != "GO":
        return 3
    outcome = runner(spec, records)
    if asyncio.iscoroutine(outcome):
        outcome = asyncio.run(outcome)
    outcome["tool"] = spec["tool"]
    outcome["records"] = len(records)
    outcome["requests_needed"] = math.ceil(len(records) / CHUNK)
    # ru_maxrss is in KiB on Linux.
    outcome["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(outcome), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
