"""``BatchClient``: the public surface (verbs, lifecycle, arguments). Does network I/O through
the dispatcher.

A call checks its arguments, plans (pure, ``_plan``), builds a ``CallContext`` and hands the
chunks to a scheduler (``_schedule``), which sends each through the one chunk sender
(``_dispatch``); the outcomes are merged (pure, ``_merge``) into one ``BatchResult``. Concurrent
calls on one client share its session, its concurrency cap and its rate limiter (the
``Engine``). ``aclose()`` during a call stops it at once: every input it had not finished is
reported, sent or not.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import random
import secrets
import ssl as ssl_module
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, TypedDict

import anyio

from ._dispatch import CallContext, ChunkHook, Engine, fetch_json, refresh_token
from ._exceptions import (
    APIError,
    ClientClosedError,
    InvalidInputError,
    MalformedResponseError,
    TransportError,
)
from ._limiters import Clock, LimiterLike, RateLimit, Sleep, as_limiter, make_limiter
from ._merge import CallMerge, ResultStore
from ._models import BatchResult
from ._observe import make_observer
from ._operations import ARCHIVE, CREATE, READ, UPDATE, UPSERT, OperationSpec
from ._plan import (
    StreamPlanner,
    check_records_argument,
    plan_steps,
    validate_chunk_size,
    validate_id_property,
    validate_object_type,
)
from ._proxies import env_proxy_secrets
from ._redact import url_secrets
from ._retry import RetryPolicy
from ._schedule import release_steps, run_list, run_stream
from ._schema import PropertySchema, check_id_property
from ._steps import cooperatively
from ._tokens import BindableTokenProvider, TokenProvider, TokenSource, check_token
from ._transport import AiohttpTransport, Network, Transport, check_base_url
from ._version import __version__
from ._writer import BatchWriter, WriteOperation

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["DEFAULT_BASE_URL", "BatchClient"]

logger = logging.getLogger("asyncbatch")

#: ``BatchClient(api_version=...)``: HubSpot's semantic v3 paths, or a date-versioned API.
ApiVersion = Literal["v3", "2026-03", "2026-09"]
API_VERSIONS: tuple[ApiVersion, ...] = ("v3", "2026-03", "2026-09")

#: ``BatchClient(check_properties=...)``: check values against the property definitions.
CheckMode = Literal["auto", "on", "off"]

DEFAULT_BASE_URL = "https://api.hubapi.com"


class _ReadOptions(TypedDict):
    """What a read adds to a call (``BatchClient._read_options``)."""

    extra: dict[str, Any]
    chunk_size: int
    query: str


def _records_of(records: object) -> AsyncIterator[object]:
    check_records_argument(records)
    if isinstance(records, AsyncIterable):
        return aiter(records)
    if isinstance(records, Iterable):

        async def from_sync() -> AsyncIterator[object]:
            for record in records:
                yield record

        return from_sync()
    raise InvalidInputError(
        f"records must be an iterable or async iterable, got {type(records).__name__}"
    )


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name} must be an int >= 1, got {value!r}")
    return value


def _proxy_secrets(proxy: str | None, *, trust_env: bool, base_url: str) -> list[str]:
    """The secrets of the proxy given, or with ``trust_env`` of those the environment names."""
    if proxy:
        return url_secrets(proxy)
    return env_proxy_secrets(base_url) if trust_env else []


def _check_reserve(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"daily_reserve must be an int >= 0, got {value!r}")
    return value


def _check_timeout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"timeout_seconds must be a number > 0, got {value!r}")
    try:
        seconds = float(value)
    except OverflowError:
        raise InvalidInputError("timeout_seconds is too large") from None
    if not (0 < seconds < float("inf")):
        raise InvalidInputError(f"timeout_seconds must be > 0, got {value!r}")
    return seconds


def _token_source(
    access_token: object, transport: AiohttpTransport, *, base_url: str, timeout: float
) -> tuple[str | None, TokenSource | None]:
    """A fixed token, or a provider to ask (at the start, after each expiry, and when a
    bound provider says its token is due)."""
    if isinstance(access_token, BindableTokenProvider):
        bound = access_token.bind(base_url=base_url, transport=transport, timeout_seconds=timeout)
        return None, TokenSource(bound)
    if callable(access_token):
        return None, TokenSource(access_token)
    token = access_token if access_token is not None else os.environ.get("HUBSPOT_ACCESS_TOKEN")
    return check_token(token), None


class BatchClient:
    """Asyncio client for HubSpot's CRM v3 batch update and upsert endpoints.

    Use it as an async context manager (or call ``aclose()``). One client may serve many
    concurrent calls; they share its connection pool, concurrency cap and rate limiter.

    Args:
        access_token: a private-app or OAuth access token; default ``$HUBSPOT_ACCESS_TOKEN``.
            Or a sync or async callable returning the current token: it is called before the
            first request and again after HubSpot answers 401 ``EXPIRED_AUTHENTICATION``
            (once per expiry, shared by every chunk in flight), and the chunk is resent, so
            an expiring OAuth token never stops a run. Every token it gives is masked. Or an
            ``OAuthRefresh`` (a public app's client id, secret and refresh token): it
            refreshes the token itself, shortly before it expires, at ``base_url`` +
            ``/oauth/v1/token`` unless given a ``token_url``; a refused refresh stops the run.
        base_url: ``https://api.hubapi.com`` by default; plain ``http://`` only to loopback.
        max_concurrency: at most this many requests in flight.
        rate_limit: at most ``requests`` starts per ``per_seconds`` rolling window.
        chunk_size: inputs per request, 1..100.
        retry: which failures retry, how often, how long to wait.
        timeout_seconds: the limit on each request, from send to the answer's last byte.
        transport: replaces the aiohttp transport (tests, dry runs).
        limiter: replaces the limiter built from ``rate_limit`` (in memory, or shared through
            Redis when ``rate_limit.redis_url`` is set).
        clock, sleep: the monotonic clock and sleep the limiter and backoff use (tests).
        seed: seeds the backoff jitter, for reproducible runs.
        api_version: ``"v3"`` (default; HubSpot retires it in September 2027), ``"2026-03"``
            or ``"2026-09"`` (date-versioned paths ``/crm/objects/{version}/...``; in
            ``2026-09`` partial failures come as errors inside a 200).
        daily_reserve: stop sending (like a ``DAILY`` 429) before the account's requests left
            today (HubSpot's ``X-HubSpot-RateLimit-Daily-Remaining``) fall to this, leaving
            room for the account's other apps; 0 (default) keeps no reserve.
        proxy, trust_env, ssl: how to reach HubSpot: a proxy URL (its credentials masked
            everywhere); or, with ``trust_env``, the proxy ``HTTPS_PROXY``/``NO_PROXY`` name
            as aiohttp reads them, with ``.netrc`` credentials for the proxy's host (never for
            HubSpot's: the Bearer token is the only authorization sent to it); and an
            ``ssl.SSLContext`` or CA bundle path.
        check_properties: ``"auto"`` (default) reads the object type's property definitions
            once per client and checks and converts values before sending (records HubSpot
            would refuse fail unsent, naming the property); if they cannot be read (403/404,
            or any failure), one warning, and the call goes on unchecked. ``"on"``: a schema
            that cannot be read is an error before anything is sent. ``"off"``: no check.
        telemetry: with OpenTelemetry installed (``asyncbatch[otel]``), a CLIENT span per HTTP
            request and request/record metrics, through the global providers (no-ops until
            the application configures them); ``False``: none. Without OpenTelemetry,
            nothing is imported or recorded. See the README, "Metrics and traces".
        tracer_provider, meter_provider: OpenTelemetry providers to use instead of the
            global ones.

    Raises:
        InvalidInputError: a bad argument, or no token anywhere (or ``redis_url`` without
            the ``redis`` extra, or a provider without OpenTelemetry installed).
    """

    def __init__(
        self,
        access_token: str | TokenProvider | BindableTokenProvider | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        max_concurrency: int = 10,
        rate_limit: RateLimit | None = None,
        chunk_size: int = 100,
        retry: RetryPolicy | None = None,
        timeout_seconds: float = 30.0,
        api_version: ApiVersion = "v3",
        daily_reserve: int = 0,
        proxy: str | None = None,
        trust_env: bool = False,
        ssl: ssl_module.SSLContext | str | None = None,
        transport: Transport | None = None,
        limiter: LimiterLike | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        seed: int | None = None,
        check_properties: CheckMode = "auto",
        telemetry: bool = True,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self._max_concurrency = _check_positive_int("max_concurrency", max_concurrency)
        self._base_url = check_base_url(base_url)
        self._chunk_size = validate_chunk_size(chunk_size)
        self._rate = rate_limit if rate_limit is not None else RateLimit()
        clock = clock or time.monotonic
        sleep = sleep or anyio.sleep
        self._owns_limiter = limiter is None
        token: str | None = None
        tokens: TokenSource | None = None
        timeout = _check_timeout(timeout_seconds)
        if transport is None:
            network = Network(proxy=proxy, trust_env=trust_env, ssl=ssl)
            network.ssl_context()  # a CA bundle that cannot be read fails here, not per chunk
            wire = AiohttpTransport(
                token="",
                max_connections=self._max_concurrency,
                user_agent=f"asyncbatch/{__version__}",
                network=network,
            )
            token, tokens = _token_source(
                access_token, wire, base_url=self._base_url, timeout=timeout
            )
            wire.set_token(token or "")
            transport = wire
        secrets = [token] if token else []
        secrets += _proxy_secrets(proxy, trust_env=trust_env, base_url=self._base_url)
        secrets += tokens.secrets() if tokens is not None else []
        self._engine = Engine(
            transport=transport,
            limiter=as_limiter(limiter)
            if limiter is not None
            else make_limiter(self._rate, clock=clock, sleep=sleep),
            capacity=anyio.CapacityLimiter(self._max_concurrency),
            policy=retry if retry is not None else RetryPolicy(),
            rng=random.Random(seed),
            timeout=timeout,
            clock=clock,
            sleep=sleep,
            secrets=[s.encode() for s in secrets],
            tokens=tokens,
            daily_reserve=_check_reserve(daily_reserve),
            observer=make_observer(
                telemetry=telemetry, tracer_provider=tracer_provider, meter_provider=meter_provider
            ),
        )
        self._calls: set[CallContext] = set()
        # Endpoints (object type and operation) a request was answered on without a
        # request-level refusal: calls to them open without a canary.
        self._proven: set[str] = set()
        if check_properties not in ("auto", "on", "off"):
            raise InvalidInputError(
                f"check_properties must be 'auto', 'on' or 'off', got {check_properties!r}"
            )
        self._check_properties: CheckMode = check_properties
        self._schemas: dict[str, PropertySchema | None] = {}
        self._schema_locks: dict[str, anyio.Lock] = {}
        if api_version not in API_VERSIONS:
            raise InvalidInputError(
                f"api_version must be one of {list(API_VERSIONS)}, got {api_version!r}"
            )
        self._api_version: ApiVersion = api_version
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"BatchClient(base_url={self._base_url!r}, max_concurrency={self._max_concurrency}, "
            f"rate_limit={self._rate!r}, chunk_size={self._chunk_size})"
        )

    @property
    def closed(self) -> bool:
        """True once ``aclose()`` has run."""
        return self._closed

    @property
    def daily_remaining(self) -> int | None:
        """The account's requests left today, as this client last knew it: HubSpot's
        ``X-HubSpot-RateLimit-Daily-Remaining`` on the latest answer that carried it, less
        the requests started since. ``None`` until an answer carried it (HubSpot leaves it
        out for OAuth-authorized requests). Read-only; sends nothing.

        A caller can weigh a job against it after one cheap first request, e.g.
        ``await client.properties(object_type)``.
        """
        return self._engine.daily.remaining

    async def __aenter__(self) -> Self:
        """Raises ``LimiterUnavailableError`` if a shared (Redis) limiter cannot be reached."""
        self._check_open()
        try:
            await self._start_limiter()
        except BaseException:
            await self.aclose()  # __aexit__ will not run
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool. Idempotent; the client cannot be used afterwards.

        Calls still running end at once: what they had not finished is reported in their
        results (sent or not), and nothing more is sent.
        """
        if self._closed:
            return
        self._closed = True
        for ctx in list(self._calls):
            ctx.cancel(ClientClosedError("the client was closed during the call"))
        with anyio.CancelScope(shield=True):
            await self._engine.transport.aclose()
            if self._owns_limiter:
                await self._engine.limiter.aclose()

    async def _start_limiter(self) -> None:
        # The Redis limiter is checked before anything is sent, so an unreachable Redis is a
        # clear error rather than a run of unsent inputs; a token provider is asked first.
        await self._engine.limiter.start()
        tokens = self._engine.tokens
        if tokens is not None and tokens.token is None:
            await refresh_token(self._engine, tokens.generation)

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("this BatchClient is closed; create a new one")

    async def update(
        self,
        object_type: str,
        records: Iterable[object],
        *,
        id_property: str | None = None,
        on_chunk: ChunkHook | None = None,
    ) -> BatchResult:
        """Update records of ``object_type`` in batches; return one aggregate ``BatchResult``.

        ``records`` are dicts in HubSpot's input shape (``{"id", "properties", "idProperty"?,
        "objectWriteTraceId"?}``) or ``BatchInput``. ``id`` is the record id, or the value of
        the unique property ``id_property`` (per call, or per record as ``idProperty``).

        Raises:
            InvalidInputError: a bad argument or record, before anything is sent.
            ClientClosedError: the client is closed.
            LimiterUnavailableError: the shared (Redis) limiter cannot be reached at the
                start, before anything is sent. If it fails mid-run, the run stops and this
                error is the result's ``stop_error``.
        """
        return await self._call(UPDATE, object_type, records, id_property, on_chunk=on_chunk)

    async def upsert(
        self,
        object_type: str,
        records: Iterable[object],
        *,
        id_property: str | None = None,
        on_chunk: ChunkHook | None = None,
    ) -> BatchResult:
        """Create or update records of ``object_type`` keyed by the unique ``id_property``.

        Every record needs an id property: ``id_property=`` for the call or ``idProperty`` in
        the record. Returns one ``BatchResult`` whose results carry ``new``.

        Raises:
            InvalidInputError: a bad argument or record, before anything is sent.
            ClientClosedError: the client is closed.
            LimiterUnavailableError: the shared (Redis) limiter cannot be reached at the
                start, before anything is sent. If it fails mid-run, the run stops and this
                error is the result's ``stop_error``.
        """
        return await self._call(UPSERT, object_type, records, id_property, on_chunk=on_chunk)

    def stream_update(
        self,
        object_type: str,
        records: Iterable[object] | AsyncIterable[object],
        *,
        id_property: str | None = None,
        on_chunk: ChunkHook | None = None,
    ) -> AsyncGenerator[BatchResult, None]:
        """Update records read from an iterable or async iterable, chunk by chunk.

        Yields one ``BatchResult`` per chunk as chunks finish (not in input order); positions
        in it count from the first record read. Input is read only as fast as it is sent, so
        memory stays bounded however long the input. Duplicates are coalesced within the
        chunk being filled, and a record is never in two requests at once.

        Use ``contextlib.aclosing`` (or exhaust the iterator) so that breaking out early
        stops the work at once.

        Raises:
            InvalidInputError: a bad record, after the chunks read before it have finished
                and been yielded (nothing read is left unaccounted for).
            ClientClosedError: the client is closed.
            LimiterUnavailableError: the shared (Redis) limiter cannot be reached at the
                start, before anything is sent. If it fails mid-run, the run stops and this
                error is the result's ``stop_error``.
        """
        return self._stream(UPDATE, object_type, records, id_property, on_chunk=on_chunk)

    def stream_upsert(
        self,
        object_type: str,
        records: Iterable[object] | AsyncIterable[object],
        *,
        id_property: str | None = None,
        on_chunk: ChunkHook | None = None,
    ) -> AsyncGenerator[BatchResult, None]:
        """Upsert records read from an iterable or async iterable, chunk by chunk.

        As ``stream_update``; every record needs an id property (``id_property=`` or the
        record's ``idProperty``).
        """
        return self._stream(UPSERT, object_type, records, id_property, on_chunk=on_chunk)

    async def create(
        self,
        object_type: str,
        records: Iterable[object],
        *,
        on_chunk: ChunkHook | None = None,
    ) -> BatchResult:
        """Create records of ``object_type`` (``{"properties": {...}}``, optionally
        ``objectWriteTraceId``; no id: HubSpot assigns it), in order, every input accounted for.

        Not idempotent: a create chunk is resent only when the failure proves nothing was
        applied (429, 423, 477, a connection never made). After a timeout, a reset or a 5xx
        its inputs fail with category ``OUTCOME_UNKNOWN``, never resent silently: read them
        back by a property, or upsert on a unique property instead.
        """
        return await self._call(CREATE, object_type, records, None, on_chunk=on_chunk)

    async def read(
        self,
        object_type: str,
        ids: Iterable[object],
        *,
        properties: Iterable[str] = (),
        properties_with_history: Iterable[str] = (),
        id_property: str | None = None,
        archived: bool = False,
        on_chunk: ChunkHook | None = None,
    ) -> BatchResult:
        """Read records by id (or by the unique ``id_property``); ``results`` in input order.

        An id HubSpot does not find is a failed input with HubSpot's reason (``failed``), not
        an exception. With ``properties_with_history``, chunks hold at most 50 ids (HubSpot's
        cap).
        """
        options = self._read_options(properties, properties_with_history, archived, id_property)
        return await self._call(READ, object_type, ids, id_property, on_chunk=on_chunk, **options)

    async def archive(
        self,
        object_type: str,
        ids: Iterable[object],
        *,
        id_property: str | None = None,
        on_chunk: ChunkHook | None = None,
    ) -> BatchResult:
        """Archive records by id; ``results`` lists the inputs archived (ids only: HubSpot
        answers 204 with no body).

        HubSpot's archive input is a record id only: ``id_property`` is refused (read the
        records by that property first, then archive their ids).
        """
        _refuse_archive_id_property(id_property)
        return await self._call(ARCHIVE, object_type, ids, id_property, on_chunk=on_chunk)

    def stream_read(
        self,
        object_type: str,
        ids: Iterable[object] | AsyncIterable[object],
        *,
        properties: Iterable[str] = (),
        properties_with_history: Iterable[str] = (),
        id_property: str | None = None,
        archived: bool = False,
        on_chunk: ChunkHook | None = None,
    ) -> AsyncGenerator[BatchResult, None]:
        """``read`` chunk by chunk from an iterable or async iterable (bounded memory)."""
        options = self._read_options(properties, properties_with_history, archived, id_property)
        return self._stream(READ, object_type, ids, id_property, on_chunk=on_chunk, **options)

    def stream_create(
        self,
        object_type: str,
        records: Iterable[object] | AsyncIterable[object],
        *,
        on_chunk: ChunkHook | None = None,
    ) -> AsyncGenerator[BatchResult, None]:
        """``create`` chunk by chunk from an iterable or async iterable (bounded memory).

        As ``create``: records are never coalesced, and a chunk whose failure may follow its
        application is not resent (its inputs fail with category ``OUTCOME_UNKNOWN``).
        """
        return self._stream(CREATE, object_type, records, None, on_chunk=on_chunk)

    def stream_archive(
        self,
        object_type: str,
        ids: Iterable[object] | AsyncIterable[object],
        *,
        id_property: str | None = None,
        on_chunk: ChunkHook | None = None,
    ) -> AsyncGenerator[BatchResult, None]:
        """``archive`` chunk by chunk from an iterable or async iterable of record ids
        (``id_property`` is refused, as by ``archive``)."""
        _refuse_archive_id_property(id_property)
        return self._stream(ARCHIVE, object_type, ids, None, on_chunk=on_chunk)

    def _read_options(
        self,
        properties: Iterable[str],
        with_history: Iterable[str],
        archived: bool,
        id_property: str | None = None,
    ) -> _ReadOptions:
        """The arguments ``read`` and ``stream_read`` hand to ``_call`` / ``_stream``: a read's
        call-wide body fields, its chunk size and its query string. Read by an
        ``id_property``, the answer must carry it (results are matched to ids by its value),
        so it joins ``properties``."""
        fields: dict[str, Any] = {}
        for name, given in (("properties", properties), ("propertiesWithHistory", with_history)):
            if isinstance(given, str):
                raise InvalidInputError(f"{name} must be a list of property names, not a str")
            names = list(given)
            if not all(isinstance(n, str) and n for n in names):
                raise InvalidInputError(f"{name} must be non-empty property names")
            if names:
                fields[name] = names
        if isinstance(id_property, str) and id_property not in fields.get("properties", []):
            fields["properties"] = [*fields.get("properties", []), id_property]
        history = "propertiesWithHistory" in fields
        chunk_size = min(self._chunk_size, 50) if history else self._chunk_size
        query = "?archived=true" if archived else "?archived=false"
        return {"extra": fields, "chunk_size": chunk_size, "query": query}

    def writer(
        self,
        object_type: str,
        operation: WriteOperation,
        *,
        id_property: str | None = None,
        max_wait_seconds: float = 0.05,
        max_pending: int = 10_000,
    ) -> BatchWriter:
        """A ``BatchWriter``: one record per call from many concurrent callers (a web
        backend's handlers), sent in shared chunks under this client's limits.

        Use it as ``async with client.writer("0-410", "upsert", id_property="course_code") as
        writer`` and ``outcome = await writer.write(record)``. A chunk leaves when it holds
        ``chunk_size`` records or its oldest has waited ``max_wait_seconds``; ``write`` waits
        while ``max_pending`` records are waiting. A client may hold several writers.

        Raises:
            InvalidInputError: a bad argument (``operation`` is ``"update"`` or ``"upsert"``).
            ClientClosedError: the client is closed.
        """
        self._check_open()
        return BatchWriter(
            self,
            object_type,
            operation,
            id_property=id_property,
            max_wait_seconds=max_wait_seconds,
            max_pending=max_pending,
        )

    async def properties(self, object_type: str) -> PropertySchema:
        """The property definitions of ``object_type``, read once per client from HubSpot's
        ``GET /crm/v3/properties/{objectType}`` (under the rate limiter, retried like any
        request) and cached for the client's life.

        Raises:
            APIError, TransportError: they could not be read (after retries).
            MalformedResponseError: the answer is not HubSpot's properties shape.
        """
        self._check_open()
        validate_object_type(object_type)
        cached = self._schemas.get(object_type)
        if cached is not None:
            return cached
        lock = self._schema_locks.setdefault(object_type, anyio.Lock())
        async with lock:  # concurrent calls read it once
            cached = self._schemas.get(object_type)
            if cached is None:
                url = f"{self._base_url}/crm/v3/properties/{object_type}"
                data = await fetch_json(self._engine, url, object_type=object_type)
                try:
                    cached = PropertySchema.from_json(object_type, data)
                except ValueError as exc:
                    raise MalformedResponseError(
                        f"the property definitions of {object_type}: {exc}", status=200
                    ) from None
                self._schemas[object_type] = cached
        return cached

    async def _schema(self, object_type: str) -> PropertySchema | None:
        """The definitions to check against, per ``check_properties``; None: unchecked."""
        if self._check_properties == "off":
            return None
        if object_type in self._schemas and self._schemas[object_type] is None:
            return None  # "auto", and reading them failed before: warned once already
        if not callable(getattr(self._engine.transport, "get", None)):
            # A caller's own Transport written before ``get`` existed cannot read them.
            if self._check_properties == "on":
                raise InvalidInputError(
                    "check_properties='on' needs a transport with get() to read the "
                    "property definitions"
                )
            self._schemas[object_type] = None
            return None
        try:
            return await self.properties(object_type)
        except (APIError, TransportError) as exc:
            if self._check_properties == "on":
                raise
            self._schemas[object_type] = None
            logger.warning(
                "the property definitions of %s could not be read (%s); values go unchecked",
                object_type,
                exc,
            )
            return None

    def _read_ahead(
        self, object_type: str, operation: OperationSpec
    ) -> asyncio.Task[PropertySchema | None] | None:
        """Start reading the definitions a call checks against while its records are planned
        (the read's round trip overlaps the planning); None when there is nothing to read."""
        if operation.shape == "id" or self._check_properties == "off":
            return None
        if object_type in self._schemas:  # read before (or known unreadable)
            return None

        async def read() -> PropertySchema | None:
            await self._start_limiter()
            return await self._schema(object_type)

        return asyncio.create_task(read(), name=f"asyncbatch-properties-{object_type}")

    async def _checked_schema(
        self,
        object_type: str,
        operation: OperationSpec,
        id_properties: Iterable[str | None],
        ahead: asyncio.Task[PropertySchema | None] | None = None,
    ) -> PropertySchema | None:
        if operation.shape == "id":  # ids carry no values to check
            return None
        schema = await (ahead if ahead is not None else self._schema(object_type))
        if schema is not None:
            for id_property in id_properties:
                problem = check_id_property(schema, id_property, operation=operation.name)
                if problem is not None:
                    raise InvalidInputError(problem, field="idProperty")
        return schema

    def _objects_url(self, object_type: str) -> str:
        """v3: ``/crm/v3/objects/{type}``; a dated version: ``/crm/objects/{version}/{type}``."""
        if self._api_version == "v3":
            return f"{self._base_url}/crm/v3/objects/{object_type}"
        return f"{self._base_url}/crm/objects/{self._api_version}/{object_type}"

    def _context(
        self,
        operation: OperationSpec,
        object_type: str,
        query: str = "",
        *,
        schema: PropertySchema | None = None,
        open_by_schema: bool = True,
    ) -> CallContext:
        """A call's context, its records checked against ``schema`` (the definitions read for
        it). Its gate is open (no canary) when the endpoint answered this client before without
        a request-level refusal, or when ``schema`` was read and ``open_by_schema``: that read
        proved the token and the object type, and ``_checked_schema`` the id property's
        uniqueness, the refusals a canary exists for (a property or value HubSpot would refuse
        fails unsent). What is left, a token without the write scope (403), then costs up to
        ``max_concurrency`` requests instead of one; the canary held every other slot idle for
        its round trip (55-75 ms of the latency-bound benchmark's 1.6-2 s)."""
        url = f"{self._objects_url(object_type)}/{operation.path}{query}"
        ctx = CallContext(self._engine, url, operation, object_type=object_type, schema=schema)
        if url in self._proven or (schema is not None and open_by_schema):
            ctx.gate.set()
        self._calls.add(ctx)
        return ctx

    def _done(self, ctx: CallContext) -> None:
        self._calls.discard(ctx)
        if ctx.proven:
            self._proven.add(ctx.url)

    async def _call(
        self,
        operation: OperationSpec,
        object_type: str,
        records: Iterable[object],
        id_property: str | None,
        *,
        extra: dict[str, Any] | None = None,
        query: str = "",
        chunk_size: int | None = None,
        on_chunk: ChunkHook | None = None,
    ) -> BatchResult:
        self._check_open()
        validate_object_type(object_type)
        steps = plan_steps(
            records,
            operation=operation,
            id_property=id_property,
            chunk_size=chunk_size or self._chunk_size,
            trace_prefix=f"ab{secrets.token_hex(4)}",
        )
        ahead = self._read_ahead(object_type, operation)
        # Made before planning, whose collections age it: the list of the answers' property
        # dicts grows through the call, and while young each collection walks all of it
        # (a 36 ms collection of the middle generation at 570,000 results, measured).
        store = ResultStore()
        try:
            plan = await cooperatively(steps)  # a turn for the loop every few ms
        except BaseException:
            await _dropped(ahead)
            raise
        await self._start_limiter()
        schema = await self._checked_schema(object_type, operation, plan.id_properties, ahead)
        ctx = self._context(operation, object_type, query, schema=schema)
        ctx.extra = extra or {}
        ctx.on_chunk = on_chunk
        started_wall = dt.datetime.now(dt.UTC)
        started = self._engine.clock()
        merge = CallMerge(plan, store)
        try:
            await run_list(ctx, plan, merge, workers=self._max_concurrency)
        finally:
            self._done(ctx)
        stats = ctx.counters.stats(
            inputs=plan.inputs,
            records=plan.records,
            chunks=plan.chunk_count,
            elapsed=self._engine.clock() - started,
        )
        result = await cooperatively(
            merge.finish(
                stop=ctx.stop.error,
                stats=stats,
                started_at=started_wall,
                completed_at=dt.datetime.now(dt.UTC),
            )
        )
        # Freeing a million planned records at once holds the loop too: a slice at a time.
        del merge, steps
        await cooperatively(release_steps(plan.release()))
        if self._engine.observer is not None:
            self._engine.observer.results(operation.name, object_type, result)
        stats = result.stats
        logger.info(
            "%s %s: %d inputs, %d written, %d failed, %d requests, %d retries, %.2f s",
            operation.name,
            object_type,
            stats.inputs,
            result._written_count(),
            len(result.failed),
            stats.requests,
            stats.retries,
            stats.elapsed_seconds,
        )
        return result

    async def _stream(
        self,
        operation: OperationSpec,
        object_type: str,
        records: Iterable[object] | AsyncIterable[object],
        id_property: str | None,
        *,
        extra: dict[str, Any] | None = None,
        query: str = "",
        chunk_size: int | None = None,
        on_chunk: ChunkHook | None = None,
    ) -> AsyncGenerator[BatchResult, None]:
        self._check_open()
        validate_object_type(object_type)
        if id_property is not None:
            validate_id_property(id_property)
        source = _records_of(records)
        await self._start_limiter()
        planner = StreamPlanner(
            operation=operation,
            id_property=id_property,
            chunk_size=chunk_size or self._chunk_size,
            trace_prefix=f"ab{secrets.token_hex(4)}",
        )
        schema = await self._checked_schema(object_type, operation, {id_property})
        ctx = self._context(operation, object_type, query, schema=schema)
        ctx.extra = extra or {}
        ctx.on_chunk = on_chunk
        send, receive = anyio.create_memory_object_stream[BatchResult](self._max_concurrency)
        # The scheduler runs in a task of its own so that nothing here yields inside a task
        # group (an async generator must not); closing the generator cancels it. anyio has no
        # task handle to await outside a task group, hence asyncio's.
        pump = asyncio.create_task(
            run_stream(ctx, source, planner, send, workers=self._max_concurrency),
            name=f"asyncbatch-stream-{operation.name}-{object_type}",
        )
        try:
            async with receive:
                async for result in receive:
                    if self._engine.observer is not None:
                        self._engine.observer.results(operation.name, object_type, result)
                    yield result
            await pump  # raises the source's own error that ended the input, if any
        finally:
            self._done(ctx)
            if not pump.done():
                pump.cancel()
                await asyncio.wait([pump])


async def _dropped(task: asyncio.Task[Any] | None) -> None:
    """Cancel a read started ahead of a call that failed before using it (its own error, if
    it ended with one, is the call's to ignore: the call's error is raised)."""
    if task is None:
        return
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved


def _refuse_archive_id_property(id_property: str | None) -> None:
    if id_property is not None:
        raise InvalidInputError(
            "archive takes record ids only (HubSpot's archive input has no idProperty): "
            "read the records by that property first, then archive their ids",
            field="id_property",
        )
