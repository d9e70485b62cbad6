"""OpenTelemetry for asyncbatch: a CLIENT span per HTTP request, and metrics of requests and
records. Does no I/O of its own (the application's providers export what is recorded). Imported
only through ``_observe.make_observer``, when ``opentelemetry-api`` is installed.

Named and attributed by OpenTelemetry's semantic conventions for HTTP clients (stable):
https://opentelemetry.io/docs/specs/semconv/http/http-spans/ (span name ``{method}``, kind
CLIENT, ``http.request.method``, ``server.address``, ``server.port`` and ``url.full`` at span
start, ``http.response.status_code``, ``error.type`` and status Error on a failure or an
answer >= 400, ``http.request.resend_count`` on each resend) and
https://opentelemetry.io/docs/specs/semconv/http/http-metrics/ (``http.client.request.duration``
in seconds, with the convention's advised bucket boundaries). ``url.full`` is masked by
``_redact.redact_url`` ("``url.full`` MUST NOT contain credentials"; query values hidden too).
No exception message is recorded: only its class, in ``error.type``.

asyncbatch's own attributes and counters are named under ``asyncbatch.``.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import attrs
from opentelemetry import context, metrics, trace
from opentelemetry.trace import Span, SpanKind, StatusCode

from ._exceptions import AsyncBatchError, InvalidInputError
from ._models import BatchResult
from ._observe import Request
from ._redact import redact_url
from ._transport import RawResponse
from ._version import __version__

__all__ = ["OpenTelemetryObserver"]

logger = logging.getLogger("asyncbatch")

#: The semantic conventions release whose names are used here.
SCHEMA_URL = "https://opentelemetry.io/schemas/1.26.0"
#: ``http.client.request.duration``'s ExplicitBucketBoundaries, as the convention advises.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)

METHOD = "http.request.method"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
URL_FULL = "url.full"
STATUS_CODE = "http.response.status_code"
ERROR_TYPE = "error.type"
RESEND_COUNT = "http.request.resend_count"
OPERATION = "asyncbatch.operation"
OBJECT_TYPE = "asyncbatch.object_type"
INPUTS = "asyncbatch.inputs"
ATTEMPT = "asyncbatch.attempt"
CHUNK = "asyncbatch.chunk"
SPLIT_DEPTH = "asyncbatch.split_depth"

Attributes = dict[str, str | int]


@attrs.frozen
class _Fixed:
    """The attributes every request to one URL shares: the span's and the metrics'."""

    span: Attributes
    metric: Attributes


def fixed_attributes(method: str, url: str, operation: str, object_type: str) -> _Fixed:
    """The attributes of a request that depend on its URL and call only (masked URL)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    server: Attributes = {
        METHOD: method,
        SERVER_ADDRESS: parts.hostname or "",
        SERVER_PORT: port,
    }
    ours: Attributes = {OPERATION: operation, OBJECT_TYPE: object_type}
    return _Fixed(span={**server, URL_FULL: redact_url(url), **ours}, metric={**server, **ours})


def error_type(exc: BaseException) -> str:
    """``error.type`` of a request that raised: asyncbatch's public exception names
    (``asyncbatch.RequestTimeoutError``...), else the fully-qualified class name."""
    cls = type(exc)
    if isinstance(exc, AsyncBatchError):
        return f"asyncbatch.{cls.__name__}"
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


#: Distinct (method, URL, operation, object type) kept; a client sees a handful.
_MAX_FIXED = 1024


class OpenTelemetryObserver:
    """The ``_observe.Observer`` over OpenTelemetry's API: the given providers, or the global
    ones (no-ops until the application configures them)."""

    def __init__(self, *, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        for name, provider, method in (
            ("tracer_provider", tracer_provider, "get_tracer"),
            ("meter_provider", meter_provider, "get_meter"),
        ):
            if provider is not None and not callable(getattr(provider, method, None)):
                raise InvalidInputError(f"{name} must be an OpenTelemetry {name}, got {provider!r}")
        self._tracer = trace.get_tracer(
            "asyncbatch", __version__, tracer_provider, schema_url=SCHEMA_URL
        )
        meter = metrics.get_meter("asyncbatch", __version__, meter_provider, schema_url=SCHEMA_URL)
        self._duration = meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP client requests.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        counter = meter.create_counter
        self._requests = counter("asyncbatch.requests", "{request}", "HTTP requests sent.")
        self._retries = counter(
            "asyncbatch.retries", "{request}", "Requests that resent a chunk (attempt > 1)."
        )
        self._rate_limited = counter("asyncbatch.rate_limited", "{response}", "429 answers.")
        self._written = counter(
            "asyncbatch.records.written", "{record}", "Records HubSpot answered as done."
        )
        self._failed = counter(
            "asyncbatch.records.failed", "{record}", "Records not done, by error.type."
        )
        self._fixed: dict[tuple[str, str, str, str], _Fixed] = {}

    def _fixed_for(self, request: Request) -> _Fixed:
        key = (request.method, request.url, request.operation, request.object_type)
        fixed = self._fixed.get(key)
        if fixed is None:
            if len(self._fixed) >= _MAX_FIXED:
                self._fixed.clear()
            fixed = self._fixed[key] = fixed_attributes(*key)
        return fixed

    async def around(self, send: Awaitable[RawResponse], request: Request) -> RawResponse:
        try:
            fixed = self._fixed_for(request)
            span = self._tracer.start_span(
                request.method, kind=SpanKind.CLIENT, attributes=_span_attributes(fixed, request)
            )
            token = context.attach(trace.set_span_in_context(span))
        except Exception:  # telemetry never fails a request
            logger.exception("OpenTelemetry: could not start a request span")
            return await send
        started = time.perf_counter()
        status: int | None = None
        error: BaseException | None = None
        try:
            raw = await send
            status = raw.status
            return raw
        except BaseException as exc:
            error = exc
            raise
        finally:
            context.detach(token)
            _guarded(
                self._finish, span, fixed, request, time.perf_counter() - started, status, error
            )

    def _finish(
        self,
        span: Span,
        fixed: _Fixed,
        request: Request,
        seconds: float,
        status: int | None,
        error: BaseException | None,
    ) -> None:
        outcome: Attributes = {}
        if status is not None:
            outcome[STATUS_CODE] = status
            if status >= 400:
                outcome[ERROR_TYPE] = str(status)
        elif error is not None:
            outcome[ERROR_TYPE] = error_type(error)
        if outcome:
            span.set_attributes(outcome)
        if ERROR_TYPE in outcome:
            span.set_status(StatusCode.ERROR)
        span.end()
        measured = {**fixed.metric, **outcome}
        self._duration.record(seconds, measured)
        self._requests.add(1, measured)
        if request.attempt > 1:
            self._retries.add(1, fixed.metric)
        if status == 429:
            self._rate_limited.add(1, fixed.metric)

    def results(self, operation: str, object_type: str, result: BatchResult) -> None:
        _guarded(self._count_records, operation, object_type, result)

    def _count_records(self, operation: str, object_type: str, result: BatchResult) -> None:
        call: Attributes = {OPERATION: operation, OBJECT_TYPE: object_type}
        written = result._written_count()  # not len(.results): that builds the objects
        if written:
            self._written.add(written, call)
        failed = collections.Counter(f.category or "_OTHER" for f in result.failed)
        for category, count in failed.items():
            self._failed.add(count, {**call, ERROR_TYPE: category})


def _span_attributes(fixed: _Fixed, request: Request) -> Attributes:
    attributes = dict(fixed.span)
    attributes[ATTEMPT] = request.attempt
    if request.attempt > 1:
        attributes[RESEND_COUNT] = request.attempt - 1
    if request.chunk is not None:
        attributes[CHUNK] = request.chunk
        attributes[INPUTS] = request.inputs
    if request.split_depth:
        attributes[SPLIT_DEPTH] = request.split_depth
    return attributes


def _guarded(function: Callable[..., None], *args: object) -> None:
    """Run ``function``; a failure of the application's telemetry pipeline is logged, and
    the request or call it describes goes on."""
    try:
        function(*args)
    except Exception:
        logger.exception("OpenTelemetry: recording failed")
