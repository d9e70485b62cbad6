"""``python -m benchmarks.telemetry_overhead``: what OpenTelemetry costs per HTTP request
(issue 18 item 4), three ways: telemetry off (``telemetry=False``: one ``is None`` check), on
with no provider configured (the API's no-op proxies: the default once OpenTelemetry is
installed), and on with the SDK (in-memory span exporter and metric reader).

Two measurements, each the best of five rounds: the observer alone around an answered
coroutine (per request), and whole ``update()`` calls in 10- and 100-record chunks through an
in-process ``MockTransport`` (the client's CPU per request, all else equal). The SDK row needs
``opentelemetry-sdk`` (the dev extra).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any

import orjson

import asyncbatch
from asyncbatch._observe import Observer, Request, make_observer

ANSWER = asyncbatch.RawResponse(200, {}, b"{}")
REQUEST = Request(
    method="POST",
    url="https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert",
    operation="upsert",
    object_type="contacts",
    inputs=100,
    attempt=1,
    chunk=0,
)


async def _answered() -> asyncbatch.RawResponse:
    return ANSWER


def _sdk() -> dict[str, Any] | None:
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    except ImportError:
        return None
    tracer_provider = TracerProvider()
    spans = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return {"tracer_provider": tracer_provider, "meter_provider": meter_provider, "_spans": spans}


async def _observer_alone(observer: Observer | None, n: int) -> float:
    """Seconds per request: awaiting an answered coroutine, observed or not."""
    started = time.perf_counter()
    for _ in range(n):
        if observer is None:
            await _answered()
        else:
            await observer.around(_answered(), REQUEST)
    return (time.perf_counter() - started) / n


async def _echo(url: str, body: bytes) -> asyncbatch.RawResponse:
    inputs = orjson.loads(body)["inputs"]
    results = [
        {
            "id": i["id"],
            "properties": i["properties"],
            "objectWriteTraceId": i["objectWriteTraceId"],
        }
        for i in inputs
    ]
    payload = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": "2024-01-01T00:00:00Z",
        "completedAt": "2024-01-01T00:00:01Z",
    }
    return asyncbatch.RawResponse(200, {}, orjson.dumps(payload))


async def _calls(options: dict[str, Any], records: int, chunk_size: int) -> float:
    """Seconds per request of one ``update()`` of ``records`` in ``chunk_size`` chunks."""
    rows = [{"id": str(i), "properties": {"level": "beginner"}} for i in range(records)]
    async with asyncbatch.BatchClient(
        "T",
        transport=asyncbatch.MockTransport(_echo),
        chunk_size=chunk_size,
        max_concurrency=4,
        rate_limit=asyncbatch.RateLimit(10**9, 1.0),
        check_properties="off",
        **options,
    ) as client:
        started = time.perf_counter()
        result = await client.update("contacts", rows)
    return (time.perf_counter() - started) / result.stats.requests


def _best(measure: Callable[[], Coroutine[Any, Any, float]], spans: Any) -> float:
    """The fastest of five rounds (the in-memory exporter emptied after each)."""
    times = []
    for _ in range(5):
        times.append(asyncio.run(measure()))
        if spans is not None:
            spans.clear()
    return min(times)


def main() -> None:
    sdk = _sdk()
    modes: list[tuple[str, dict[str, Any] | None]] = [
        ("off", {"telemetry": False}),
        ("on, no provider (no-op)", {}),
        ("on, SDK (in memory)", sdk),
    ]
    print(f"{'telemetry':<26}{'observer alone':>16}{'10-record requests':>20}{'100-record':>12}")
    for label, options in modes:
        if options is None:
            print(f"{label:<26}{'(no opentelemetry-sdk)':>48}")
            continue
        options = dict(options)
        spans = options.pop("_spans", None)
        observer = make_observer(
            telemetry=options.get("telemetry", True),
            tracer_provider=options.get("tracer_provider"),
            meter_provider=options.get("meter_provider"),
        )
        alone = _best(functools.partial(_observer_alone, observer, 20_000), spans)
        small = _best(functools.partial(_calls, options, 5_000, 10), spans)
        large = _best(functools.partial(_calls, options, 20_000, 100), spans)
        print(f"{label:<26}{alone * 1e6:>13.2f} us{small * 1e6:>17.1f} us{large * 1e6:>9.0f} us")


if __name__ == "__main__":
    main()
