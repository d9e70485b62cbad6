"""OpenTelemetry (issue 18 item 4, the metrics part): a CLIENT span per HTTP request and the
request and record metrics, read with the SDK's in-memory exporters, against the emulator on
127.0.0.1. Names and attributes follow OpenTelemetry's semantic conventions for HTTP clients
(https://opentelemetry.io/docs/specs/semconv/http/http-spans/ and .../http-metrics/).

Waits (a 429's window, backoff) run on a fake clock: nothing here sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import Counter
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import asyncbatch
import asyncbatch.sync
from asyncbatch._telemetry import DURATION_BUCKETS
from asyncbatch.emulator import Emulator, EmulatorConfig, PropertyDef
from tests.fakes import FakeClock
from tests.invariants import assert_accounted

pytestmark = pytest.mark.asyncio

TOKEN = "otel-secret-token-0123456789"
UPSERT_PATH = "/crm/v3/objects/0-410/batch/upsert"


class Telemetry:
    """SDK providers whose spans and metrics stay in memory."""

    def __init__(self) -> None:
        self.spans_out = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans_out))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def kwargs(self) -> dict[str, Any]:
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_out.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]

    def total(self, name: str, **where: object) -> int:
        """The sum of counter ``name`` over the points whose attributes match ``where``."""
        return sum(
            p.value
            for p in self.points(name)
            if all(p.attributes.get(k.replace("__", ".")) == v for k, v in where.items())
        )


@pytest.fixture
def otel() -> Telemetry:
    return Telemetry()


def _courses(n: int, prefix: str = "T") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i:04d}", "properties": {"level": "beginner"}} for i in range(n)]


def _client(emu: Emulator, otel: Telemetry | None, **kwargs: Any) -> asyncbatch.BatchClient:
    clock = FakeClock()
    kwargs.setdefault("rate_limit", asyncbatch.RateLimit(1000, 1.0))
    return asyncbatch.BatchClient(
        TOKEN,
        base_url=emu.url,
        clock=clock,
        sleep=clock.sleep,
        **(otel.kwargs() if otel else {}),
        **kwargs,
    )


def _attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


async def test_a_span_per_request_and_a_429_resend(otel: Telemetry) -> None:
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        emu.inject("429_secondly")  # the first batch request is turned away, then resent
        base = emu.url
        async with _client(emu, otel) as client:
            result = await client.upsert("0-410", _courses(250), id_property="course_code")
    assert_accounted(result, 250)
    assert result.ok and result.stats.requests == 4
    assert (result.stats.retries, result.stats.rate_limited) == (1, 1)

    spans = otel.spans()
    port = int(base.rsplit(":", 1)[1])
    gets = [s for s in spans if s.name == "GET"]
    posts = [s for s in spans if s.name == "POST"]
    assert len(gets) == 1 and len(posts) == result.stats.requests == len(spans) - 1
    for span in spans:
        attributes = _attrs(span)
        assert span.kind is SpanKind.CLIENT
        assert attributes["http.request.method"] == span.name
        assert (attributes["server.address"], attributes["server.port"]) == ("127.0.0.1", port)
        assert attributes["asyncbatch.object_type"] == "0-410"
    get = _attrs(gets[0])
    assert get["url.full"] == f"{base}/crm/v3/properties/0-410"
    assert (get["asyncbatch.operation"], get["http.response.status_code"]) == ("properties", 200)

    by_status = {_attrs(s)["http.response.status_code"]: s for s in posts}
    assert sorted(_attrs(s)["http.response.status_code"] for s in posts) == [200, 200, 200, 429]
    refused = by_status[429]
    (resent,) = [s for s in posts if _attrs(s).get("http.request.resend_count") == 1]
    assert _attrs(refused)["error.type"] == "429"
    assert refused.status.status_code is StatusCode.ERROR
    assert "http.request.resend_count" not in _attrs(refused)
    assert _attrs(resent)["asyncbatch.attempt"] == 2
    assert _attrs(resent)["asyncbatch.chunk"] == _attrs(refused)["asyncbatch.chunk"]
    assert resent.status.status_code is StatusCode.UNSET and "error.type" not in _attrs(resent)
    assert refused.end_time is not None and resent.start_time is not None
    assert refused.end_time <= resent.start_time
    for span in posts:
        attributes = _attrs(span)
        assert attributes["url.full"] == base + UPSERT_PATH
        assert attributes["asyncbatch.operation"] == "upsert"
    answered = [_attrs(s) for s in posts if _attrs(s)["http.response.status_code"] == 200]
    assert sum(a["asyncbatch.inputs"] for a in answered) == 250
    assert sorted(a["asyncbatch.chunk"] for a in answered) == [0, 1, 2]


async def test_metrics_match_the_run(otel: Telemetry) -> None:
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        emu.inject("429_secondly", count=2)
        emu.inject("503")
        async with _client(emu, otel, chunk_size=50) as client:
            result = await client.upsert("0-410", _courses(230), id_property="course_code")
            ids = ["T0001", "nope-1", "nope-2"]
            missing = await client.read("0-410", ids, id_property="course_code")
    stats = result.stats
    assert result.ok and (stats.rate_limited, stats.retries) == (2, 3)
    assert len(missing.results) == 1 and len(missing.failed) == 2
    upsert = {"asyncbatch__operation": "upsert"}

    assert otel.total("asyncbatch.requests", **upsert) == stats.requests == 5 + 3
    assert otel.total("asyncbatch.requests", http__request__method="GET") == 1
    assert otel.total("asyncbatch.retries", **upsert) == stats.retries
    assert otel.total("asyncbatch.rate_limited", **upsert) == stats.rate_limited
    assert otel.total("asyncbatch.requests", http__response__status_code=503) == 1
    assert otel.total("asyncbatch.records.written", **upsert) == len(result.results) == 230
    assert otel.total("asyncbatch.records.failed", **upsert) == 0
    assert otel.total("asyncbatch.records.written", asyncbatch__operation="read") == 1
    categories = Counter(f.category for f in missing.failed)
    for category, count in categories.items():
        assert otel.total("asyncbatch.records.failed", error__type=category) == count

    durations = otel.points("http.client.request.duration")
    assert sum(p.count for p in durations) == stats.requests + missing.stats.requests + 1
    assert all(tuple(p.explicit_bounds) == DURATION_BUCKETS for p in durations)
    assert all(p.sum > 0 for p in durations)
    for point in durations:
        attributes = dict(point.attributes)
        assert {"http.request.method", "server.address", "server.port"} <= set(attributes)
        assert "url.full" not in attributes  # high cardinality: spans only
        if attributes["http.response.status_code"] >= 400:
            assert attributes["error.type"] == str(attributes["http.response.status_code"])


async def test_a_transport_failure_is_an_error_type(otel: Telemetry) -> None:
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        emu.inject("reset")  # the connection drops before the request is processed
        async with _client(emu, otel) as client:
            result = await client.upsert("0-410", _courses(10), id_property="course_code")
    assert result.ok and result.stats.retries == 1
    (dropped,) = [s for s in otel.spans() if "http.response.status_code" not in _attrs(s)]
    assert _attrs(dropped)["error.type"] == "asyncbatch.ConnectionFailedError"
    assert dropped.status.status_code is StatusCode.ERROR
    assert dropped.events == ()  # no exception event: its message is not recorded
    assert otel.total("asyncbatch.requests", error__type="asyncbatch.ConnectionFailedError") == 1


async def test_split_requests_are_their_own_spans(otel: Telemetry) -> None:
    # check_properties="off": HubSpot's own 400 refuses the chunk and names no record, so the
    # client bisects it (as in test_client_e2e); each part is a request with its own span.
    config = EmulatorConfig(
        token=TOKEN,
        properties={
            "goal_targets": (
                PropertyDef("hs_status", "enumeration", ("on", "off")),
                PropertyDef("ext_goal", has_unique_value=True),
            )
        },
    )
    records = [{"id": f"G{i}", "properties": {"hs_status": "on"}} for i in range(16)]
    records[5]["properties"]["hs_status"] = "sideways"
    async with Emulator(config) as emu:
        async with _client(emu, otel, check_properties="off") as client:
            result = await client.upsert("goal_targets", records, id_property="ext_goal")
    assert [f.position for f in result.failed] == [5]
    parts = [s for s in otel.spans() if _attrs(s).get("asyncbatch.split_depth", 0) > 0]
    assert len(parts) == result.stats.split_requests > 0
    assert all(_attrs(s)["asyncbatch.attempt"] == 1 for s in parts)  # new requests, not resends
    assert len(otel.spans()) == result.stats.requests
    assert otel.total("asyncbatch.records.failed", error__type="VALIDATION_ERROR") == 1


async def test_no_secret_reaches_the_telemetry(otel: Telemetry) -> None:
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        emu.inject("429_secondly")
        async with _client(emu, otel) as client:
            await client.upsert("0-410", _courses(120), id_property="course_code")
    seen = []
    for span in otel.spans():
        seen += [span.name, *map(str, _attrs(span).values())]
        seen += [str(v) for event in span.events for v in (event.attributes or {}).values()]
        seen += [str(v) for v in span.resource.attributes.values()]
    data = otel.reader.get_metrics_data()
    assert data is not None
    seen.append(data.to_json())
    assert seen and not any(TOKEN in text or "Bearer" in text for text in seen)


async def test_the_callers_span_is_the_parent(otel: Telemetry) -> None:
    tracer = otel.tracer_provider.get_tracer("the-application")
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        async with _client(emu, otel, max_concurrency=4, chunk_size=10) as client:
            with tracer.start_as_current_span("nightly-sync") as job:
                await client.upsert("0-410", _courses(100), id_property="course_code")
            assert trace.get_current_span() is trace.INVALID_SPAN  # every attach was undone
    requests = [s for s in otel.spans() if s.name != "nightly-sync"]
    assert len(requests) == 11
    job_id = job.get_span_context().span_id
    assert all(s.parent is not None and s.parent.span_id == job_id for s in requests)


async def test_streams_and_writers_count_each_chunk(otel: Telemetry) -> None:
    seen: list[int] = []
    handed = 0
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        async with _client(emu, otel, chunk_size=40) as client:
            async for chunk in client.stream_upsert(
                "0-410", _courses(100, "S"), id_property="course_code"
            ):
                handed += len(chunk.results)
                seen.append(otel.total("asyncbatch.records.written"))
                assert seen[-1] == handed  # each chunk counted as it reaches the caller
            async with client.writer("0-410", "upsert", id_property="course_code") as writer:
                outcomes = await asyncio.gather(
                    *(writer.write(course) for course in _courses(7, "W"))
                )
    assert len(seen) == 3 and seen[-1] == 100 and seen == sorted(seen)
    assert all(outcome.ok for outcome in outcomes)
    assert otel.total("asyncbatch.records.written") == 107


async def test_the_sync_client_takes_the_providers(otel: Telemetry) -> None:
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:

        def run() -> asyncbatch.BatchResult:
            with asyncbatch.sync.BatchClient(TOKEN, base_url=emu.url, **otel.kwargs()) as client:
                return client.upsert("0-410", _courses(30), id_property="course_code")

        result = await asyncio.to_thread(run)
    assert result.ok
    assert otel.total("asyncbatch.records.written") == 30
    assert len([s for s in otel.spans() if s.name == "POST"]) == 1


async def test_telemetry_that_fails_never_fails_a_request(
    otel: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenTracer:
        def start_span(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("the exporter pipeline is broken")

    class BrokenProvider:
        def get_tracer(self, *args: object, **kwargs: object) -> BrokenTracer:
            return BrokenTracer()

    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        async with _client(
            emu, None, tracer_provider=BrokenProvider(), meter_provider=otel.meter_provider
        ) as client:
            with caplog.at_level(logging.ERROR, logger="asyncbatch"):
                result = await client.upsert("0-410", _courses(20), id_property="course_code")
    assert result.ok and len(result.results) == 20
    assert "could not start a request span" in caplog.text
    assert otel.total("asyncbatch.records.written") == 20


async def test_telemetry_off_and_bad_arguments(otel: Telemetry) -> None:
    with pytest.raises(asyncbatch.InvalidInputError, match="telemetry=False"):
        asyncbatch.BatchClient(TOKEN, telemetry=False, tracer_provider=otel.tracer_provider)
    with pytest.raises(asyncbatch.InvalidInputError, match="meter_provider must be"):
        asyncbatch.BatchClient(TOKEN, meter_provider=object())  # type: ignore[arg-type]
    with pytest.raises(asyncbatch.InvalidInputError, match="telemetry must be"):
        asyncbatch.BatchClient(TOKEN, telemetry="no")  # type: ignore[arg-type]
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        async with _client(emu, None, telemetry=False) as client:
            assert client._engine.observer is None
            result = await client.upsert("0-410", _courses(20), id_property="course_code")
    assert result.ok


def _block_opentelemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import opentelemetry`` fail, as when it is not installed."""
    for name in [n for n in sys.modules if n == "opentelemetry" or n.startswith("opentelemetry.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.delitem(sys.modules, "asyncbatch._telemetry", raising=False)


async def test_without_opentelemetry_the_client_works(monkeypatch: pytest.MonkeyPatch) -> None:
    _block_opentelemetry(monkeypatch)
    with pytest.raises(ImportError):
        import opentelemetry  # noqa: F401
    with pytest.raises(asyncbatch.InvalidInputError, match=r"asyncbatch\[otel\]"):
        asyncbatch.BatchClient(TOKEN, tracer_provider=object())  # type: ignore[arg-type]
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        async with _client(emu, None) as client:  # telemetry=True, the default
            assert client._engine.observer is None
            result = await client.upsert("0-410", _courses(120), id_property="course_code")
    assert result.ok and len(result.results) == 120
    assert "asyncbatch._telemetry" not in sys.modules
