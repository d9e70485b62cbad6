"""Pure HubSpot wire protocol: build a request body, read an answer. No I/O.

``decipher_response(status, headers, body)`` turns one raw HTTP answer into a ``Reply``: either
the chunk's ``BatchResponse`` (200/207) or the ``APIError`` HubSpot's answer amounts to, plus the
rate-limit information its headers carried. It never raises for anything the server sends.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import attrs
import orjson

from ._convert import parse_datetime, structure
from ._exceptions import (
    APIError,
    AuthenticationError,
    MalformedResponseError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from ._models import (
    BatchInput,
    BatchResponse,
    Error,
    SimplePublicObject,
    SimplePublicUpsertObject,
    StandardError,
)

__all__ = [
    "RETRYABLE_STATUSES",
    "RateLimitInfo",
    "Reply",
    "decipher_response",
    "encode_inputs",
    "parse_retry_after",
]

#: 423 Locked, 477 Migration in Progress, 5xx and Cloudflare's 521/523/524: pause and retry.
RETRYABLE_STATUSES = frozenset({423, 477, 500, 502, 503, 504, 521, 523, 524})
_BODY_EXCERPT = 500


def encode_inputs(inputs: list[BatchInput]) -> bytes:
    """The JSON body of one batch update/upsert request."""
    wire = []
    for item in inputs:
        entry: dict[str, Any] = {"id": item.id, "properties": item.properties}
        if item.id_property is not None:
            entry["idProperty"] = item.id_property
        if item.object_write_trace_id is not None:
            entry["objectWriteTraceId"] = item.object_write_trace_id
        wire.append(entry)
    return orjson.dumps({"inputs": wire})


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        return None
    return number if number >= 0 else None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds only); None when absent or absurd."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, 3600.0)


@attrs.frozen
class RateLimitInfo:
    """What HubSpot's ``X-HubSpot-RateLimit-*`` headers said; None where absent or nonsense."""

    max: int | None = None
    remaining: int | None = None
    interval_ms: int | None = None
    daily: int | None = None
    daily_remaining: int | None = None
    secondly: int | None = None
    secondly_remaining: int | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitInfo:
        """Read the headers (case-insensitively when given a CIMultiDict-like mapping)."""
        h = (
            {k.lower(): v for k, v in headers.items()}
            if not hasattr(headers, "getall")
            else headers
        )
        p = "x-hubspot-ratelimit-"
        interval = _header_int(h, p + "interval-milliseconds")
        return cls(
            max=_header_int(h, p + "max"),
            remaining=_header_int(h, p + "remaining"),
            interval_ms=interval if interval else None,
            daily=_header_int(h, p + "daily"),
            daily_remaining=_header_int(h, p + "daily-remaining"),
            secondly=_header_int(h, p + "secondly"),
            secondly_remaining=_header_int(h, p + "secondly-remaining"),
        )


@attrs.frozen
class Reply:
    """One answer, read: ``response`` on 200/207, else ``error``."""

    status: int
    response: BatchResponse | None
    error: APIError | None
    rate: RateLimitInfo


def _excerpt(body: bytes) -> str:
    text = body[:_BODY_EXCERPT].decode("utf-8", "replace")
    return text + ("..." if len(body) > _BODY_EXCERPT else "")


def _error_from(status: int, headers: Mapping[str, str], data: Any, body: bytes) -> APIError:
    error: Error | None = None
    if isinstance(data, dict):
        try:
            error = structure(data, Error)
        except Exception:  # lenient: a body of the wrong shape still yields an APIError
            error = None
    message = (error.message if error and error.message else "") or _excerpt(body).strip()
    category = error.category if error else None
    shown_body: Any = data if isinstance(data, dict) else _excerpt(body)
    summary = (
        f"HTTP {status}"
        + (f" {category}" if category else "")
        + (f": {message}" if message else "")
    )
    lowered = {k.lower(): v for k, v in headers.items()}
    retry_after = parse_retry_after(lowered.get("retry-after"))
    if status == 429:
        policy = error.policy_name if error else None
        return RateLimitError(
            summary,
            body=shown_body,
            category=category or "RATE_LIMIT",
            policy=policy,
            retry_after=retry_after,
        )
    if status in (401, 403):
        return AuthenticationError(summary, status=status, body=shown_body, category=category)
    if status in RETRYABLE_STATUSES or 500 <= status <= 599:
        return ServerError(
            summary, status=status, body=shown_body, category=category, retry_after=retry_after
        )
    if 400 <= status <= 499:
        return ValidationError(summary, status=status, body=shown_body, category=category)
    return APIError(summary, status=status, body=shown_body, category=category)


def decipher_response(
    status: int, headers: Mapping[str, str], body: bytes, *, upsert: bool
) -> Reply:
    """Read one HubSpot batch answer. Never raises for anything the server sends.

    200 and 207 with a readable body give ``Reply.response``; every other status, and a
    200/207 whose body is not HubSpot's shape, give ``Reply.error`` (a
    ``MalformedResponseError`` for the latter, which is safe to retry: update and upsert are
    idempotent).
    """
    rate = RateLimitInfo.from_headers(headers)
    data: Any
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    if status in (200, 207):
        if not isinstance(data, dict):
            err: APIError = MalformedResponseError(
                f"HTTP {status} with a body that is not a JSON object: {_excerpt(body)!r}",
                status=status,
                body=_excerpt(body),
            )
            return Reply(status, None, err, rate)
        try:
            response = _read_batch(data, upsert=upsert)
        except Exception as exc:  # any shape problem, reported not raised
            err = MalformedResponseError(
                f"HTTP {status} with a body not in HubSpot's batch shape: {exc}",
                status=status,
                body=data,
            )
            return Reply(status, None, err, rate)
        return Reply(status, response, None, rate)
    return Reply(status, None, _error_from(status, headers, data, body), rate)


def _read_batch(data: dict[str, Any], *, upsert: bool) -> BatchResponse:
    results = data.get("results", [])
    errors = data.get("errors", [])
    if not isinstance(results, list) or not isinstance(errors, list):
        raise TypeError("'results' and 'errors' must be lists")
    head = {k: v for k, v in data.items() if k not in ("results", "errors")}
    response = structure(head, BatchResponse)
    cls: type[SimplePublicObject] = SimplePublicUpsertObject if upsert else SimplePublicObject
    stamps: dict[str, dt.datetime] = {}
    return attrs.evolve(
        response,
        results=[_read_object(r, cls, stamps) or structure(r, cls) for r in results],
        errors=[structure(e, StandardError) for e in errors],
    )


# The keys a result object has in HubSpot's usual answer; anything else goes through cattrs.
_PLAIN_KEYS = frozenset(
    {"id", "properties", "createdAt", "updatedAt", "archived", "objectWriteTraceId", "new"}
)


def _read_object(
    raw: Any, cls: type[SimplePublicObject], stamps: dict[str, dt.datetime]
) -> SimplePublicObject | None:
    """The fast reading of one result in HubSpot's usual shape, or None to leave it to cattrs.

    It accepts exactly what the converter would read the same way (strings where strings are
    due, booleans, ISO timestamps) and declines everything else, so the converter stays the one
    definition of lenient reading and of the errors. ``stamps`` caches parsed timestamps: the
    results of one answer mostly share them.
    """
    if type(raw) is not dict or not raw.keys() <= _PLAIN_KEYS:
        return None
    record_id = raw.get("id")
    properties = raw.get("properties", _NO_PROPERTIES)
    archived = raw.get("archived", False)
    trace = raw.get("objectWriteTraceId")
    if (
        type(record_id) is not str
        or type(properties) is not dict
        or type(archived) is not bool
        or (trace is not None and type(trace) is not str)
    ):
        return None
    for value in properties.values():
        if value is not None and type(value) is not str:
            return None
    try:
        created_at = _stamp(raw.get("createdAt"), stamps)
        updated_at = _stamp(raw.get("updatedAt"), stamps)
    except (TypeError, ValueError):
        return None
    if properties is _NO_PROPERTIES:
        properties = {}
    if cls is SimplePublicUpsertObject:
        new = raw.get("new", False)
        if type(new) is not bool:
            return None
        return SimplePublicUpsertObject(
            id=record_id,
            properties=properties,
            created_at=created_at,
            updated_at=updated_at,
            archived=archived,
            object_write_trace_id=trace,
            new=new,
        )
    return SimplePublicObject(
        id=record_id,
        properties=properties,
        created_at=created_at,
        updated_at=updated_at,
        archived=archived,
        object_write_trace_id=trace,
    )


_NO_PROPERTIES: dict[str, str | None] = {}


def _stamp(value: Any, stamps: dict[str, dt.datetime]) -> dt.datetime | None:
    if value is None:
        return None
    if type(value) is not str:
        raise TypeError("not an ISO timestamp")
    parsed = stamps.get(value)
    if parsed is None:
        parsed = stamps[value] = parse_datetime(value)
    return parsed
