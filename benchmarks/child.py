"""One client under test, in its own process: ``python -m benchmarks.child SPEC_JSON``.

Protocol with the runner (``benchmarks.__main__``): the child builds its records, prints
``READY`` on stdout, waits for a ``GO`` line on stdin (so several children can start together
and imports/record building are not timed), runs its tool once, and prints one line
``RESULT {json}`` with its own figures: wall time, CPU time (``getrusage(RUSAGE_SELF)``, all
threads) and peak RSS of this process, records written/lost as the tool saw them.

SPEC_JSON keys: tool, url, token, object_type, id_property, records, properties, prefix,
concurrency, rate, window, and optionally profile (a path: cProfile the timed call to it);
for asyncbatch also redis_url and key (share one rate budget through Redis:
``RateLimit(rate, window, redis_url=..., key=...)``).
"""

from __future__ import annotations

import asyncio
import json
import math
import resource
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

CHUNK = 100
REQUEST_TIMEOUT = 60.0

PROPERTY_NAMES = (
    "hs_course_name",
    "level",
    "duration_hours",
    "start_date",
    "price",
    "topics",
    "description",
    "owner",
    "region",
    "status",
)
LEVELS = ("beginner", "intermediate", "advanced")


def make_records(
    count: int, properties: int, prefix: str, id_property: str
) -> list[dict[str, Any]]:
    """``count`` distinct upsert inputs in HubSpot's shape, each with ``properties`` values
    (the ``id_property`` value counts as one of them)."""
    records: list[dict[str, Any]] = []
    extra = max(0, properties - 1)
    for n in range(count):
        key = f"{prefix}-{n:07d}"
        props = {id_property: key}
        for i, name in enumerate(PROPERTY_NAMES[:extra]):
            props[name] = f"{LEVELS[(n + i) % 3]} {name} {n}"
        records.append({"id": key, "properties": props})
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


async def run_asyncbatch(spec: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    import asyncbatch

    # What a user sets: the account's limit and the concurrency (and, to share the budget
    # with other processes, a Redis and a budget key). The safety margin and the retry policy
    # stay the library's defaults.
    shared: dict[str, Any] = {}
    if spec.get("redis_url"):
        shared = {"redis_url": spec["redis_url"], "key": spec.get("key") or "default"}
    async with asyncbatch.BatchClient(
        spec["token"],
        base_url=spec["url"],
        rate_limit=asyncbatch.RateLimit(spec["rate"], spec["window"], **shared),
        max_concurrency=spec["concurrency"],
    ) as client:
        with Timed(spec.get("profile")) as timed:
            result = await client.upsert(
                spec["object_type"], records, id_property=spec["id_property"]
            )
    reasons = Counter(f.reason.split(":")[0][:60] for f in result.failed)
    return {
        **timed.figures(),
        "written": len(result.results),
        "lost": sum(len(f.positions) for f in result.failed),
        "client_requests": result.stats.requests,
        "client_429s": result.stats.rate_limited,
        "retries": result.stats.retries,
        "errors": dict(reasons),
    }


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
    with Timed(spec.get("profile")) as timed:
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

    with Timed(spec.get("profile")) as timed, ThreadPoolExecutor(spec["concurrency"]) as pool:
        for future in [pool.submit(send, c) for c in chunks(records)]:
            future.result(timeout=3600)
    figures = _tally_figures(tally)
    # urllib3 retries inside the pool: the SDK never sees them. The emulator counts them.
    figures["client_requests"] = None
    return {**timed.figures(), **figures}


async def run_aiohttp(
    spec: dict[str, Any], records: list[dict[str, Any]], *, limited: bool
) -> dict[str, Any]:
    import aiohttp

    limiter: Any = None
    if limited:
        from aiolimiter import AsyncLimiter

        limiter = AsyncLimiter(spec["rate"], spec["window"])
    url = f"{spec['url']}/crm/v3/objects/{spec['object_type']}/batch/upsert"
    tally = Tally()
    id_property = spec["id_property"]

    async def send(session: aiohttp.ClientSession, chunk: list[dict[str, Any]]) -> None:
        body = {"inputs": [{**r, "idProperty": id_property} for r in chunk]}
        if limiter is not None:
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
        with Timed(spec.get("profile")) as timed:
            await asyncio.gather(*(send(session, c) for c in chunks(records)))
    return {**timed.figures(), **_tally_figures(tally)}


def _tally_figures(tally: Tally) -> dict[str, Any]:
    return {
        "written": tally.written,
        "lost": tally.lost,
        "client_requests": tally.requests,
        "client_429s": tally.rate_limited,
        "errors": dict(tally.errors),
    }


# -- measuring -----------------------------------------------------------------------------------


class Timed:
    """Wall and CPU time (this process, all threads) of a block; optionally cProfile it."""

    def __init__(self, profile: str | None = None) -> None:
        self._profile_path = profile
        self._profiler: Any = None

    def __enter__(self) -> Timed:
        if self._profile_path:
            import cProfile

            self._profiler = cProfile.Profile()
        self.t_start = time.time()
        self._usage = resource.getrusage(resource.RUSAGE_SELF)
        self._start = time.perf_counter()
        if self._profiler is not None:
            self._profiler.enable()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._profiler is not None:
            self._profiler.disable()
            self._profiler.dump_stats(self._profile_path)
        self.wall = time.perf_counter() - self._start
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.t_end = time.time()
        self.user = usage.ru_utime - self._usage.ru_utime
        self.sys = usage.ru_stime - self._usage.ru_stime

    def figures(self) -> dict[str, Any]:
        return {
            "wall_s": self.wall,
            "cpu_user_s": self.user,
            "cpu_sys_s": self.sys,
            "t_start": self.t_start,
            "t_end": self.t_end,
        }


TOOLS: dict[str, Callable[[dict[str, Any], list[dict[str, Any]]], Any]] = {
    "asyncbatch": run_asyncbatch,
    "sdk-sequential": run_sdk_sequential,
    "sdk-threads": run_sdk_threads,
    "aiohttp-gather": lambda s, r: run_aiohttp(s, r, limited=False),
    "aiohttp-aiolimiter": lambda s, r: run_aiohttp(s, r, limited=True),
}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    runner = TOOLS[spec["tool"]]
    records = make_records(spec["records"], spec["properties"], spec["prefix"], spec["id_property"])
    # Import the tool's libraries before the clock starts.
    if spec["tool"] == "asyncbatch":
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
