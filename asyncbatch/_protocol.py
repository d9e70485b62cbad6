"""Pure HubSpot wire protocol: build a request body, read an answer. No I/O.

``decipher_response(status, headers, body)`` turns one raw HTTP answer into a ``Reply``: either
the chunk's ``BatchResponse`` (200/207) or the ``APIError`` HubSpot's answer amounts to, plus the
rate-limit information its headers carried. It never raises for anything the server sends.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import orjson

from ._convert import converter, parse_datetime, structure
from ._exceptions import (
    APIError,
    MalformedResponseError,
    RateLimitError,
    ServerError,
)
from ._models import (
    BatchInput,
    BatchResponse,
    Deferred,
    Error,
    ErrorDetail,
    SimplePublicObject,
    SimplePublicUpsertObject,
    StandardError,
)
from ._operations import OperationSpec
from ._plan import Fields, fields_of
from ._retry import classify_status

__all__ = [
    "RateLimitInfo",
    "Reply",
    "decipher_error",
    "decipher_response",
    "duplicate_ids",
    "encode_body",
    "encode_fields",
    "encode_inputs",
    "parse_retry_after",
]

_BODY_EXCERPT = 500


def encode_body(fields: Fields, operation: OperationSpec, extra: Mapping[str, Any]) -> bytes:
    """The JSON body of one batch request of ``operation`` sending ``fields`` (a chunk's,
    ``Chunk.fields``); ``extra`` holds a read's call-wide fields (``properties``,
    ``propertiesWithHistory``)."""
    if operation.shape != "id":
        return encode_fields(fields)
    body: dict[str, Any] = {"inputs": [{"id": record_id} for record_id in fields.ids], **extra}
    id_property = fields.id_properties[0] if fields.ids else None
    if id_property is not None:  # a chunk's inputs share one (planning keeps them apart)
        body["idProperty"] = id_property
    return orjson.dumps(body)


def encode_inputs(inputs: Sequence[BatchInput]) -> bytes:
    """The JSON body of one batch update/upsert/create request (a create's inputs have no
    id)."""
    return encode_fields(fields_of(inputs))


def encode_fields(fields: Fields) -> bytes:
    """``encode_inputs`` from the inputs' columns."""
    wire = []
    for record_id, properties, id_property, trace in zip(*fields, strict=True):
        entry: dict[str, Any] = (
            {"id": record_id, "properties": properties} if record_id else {"properties": properties}
        )
        if id_property is not None:
            entry["idProperty"] = id_property
        if trace is not None:
            entry["objectWriteTraceId"] = trace
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
    kind = classify_status(status)
    if kind is RateLimitError:
        policy = error.policy_name if error else None
        return RateLimitError(
            summary,
            body=shown_body,
            category=category or "RATE_LIMIT",
            policy=policy,
            retry_after=retry_after,
        )
    if kind is ServerError:
        return ServerError(
            summary, status=status, body=shown_body, category=category, retry_after=retry_after
        )
    return kind(summary, status=status, body=shown_body, category=category)


# HubSpot's whole-request 400 for a batch naming one record twice (SPEC §1).
_DUPLICATES = re.compile(r"Duplicate IDs found in batch input: \[(.*?)\]")


def duplicate_ids(error: APIError) -> list[str]:
    """The ids a "Duplicate IDs found in batch input" 400 names (``context.ids``, else the
    list in its message); empty for any other error."""
    match = _DUPLICATES.search(error.message)
    if error.status != 400 or match is None:
        return []
    body = error.body if isinstance(error.body, dict) else {}
    context = body.get("context")
    ids = context.get("ids") if isinstance(context, dict) else None
    if isinstance(ids, list) and ids and all(isinstance(i, str) for i in ids):
        return ids
    return [part.strip() for part in match.group(1).split(",") if part.strip()]


def decipher_error(status: int, headers: Mapping[str, str], body: bytes) -> APIError:
    """The ``APIError`` a non-success answer amounts to (any endpoint). Never raises."""
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    return _error_from(status, headers, data, body)


def decipher_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    operation: OperationSpec,
    rate: RateLimitInfo | None = None,
) -> Reply:
    """Read one HubSpot batch answer. Never raises for anything the server sends.

    A status in ``operation.success_statuses`` with a readable body gives ``Reply.response``;
    every other status, and a success whose body is not HubSpot's shape, give
    ``Reply.error`` (a ``MalformedResponseError`` for the latter, which the retry rule
    resends only for an idempotent operation).
    """
    if rate is None:  # the caller may have read them already
        rate = RateLimitInfo.from_headers(headers)
    data: Any
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    if status in operation.success_statuses:
        if not body and not operation.answer_lists_results:
            return Reply(status, BatchResponse(), None, rate)
        if not isinstance(data, dict):
            err: APIError = MalformedResponseError(
                f"HTTP {status} with a body that is not a JSON object: {_excerpt(body)!r}",
                status=status,
                body=_excerpt(body),
            )
            return Reply(status, None, err, rate)
        try:
            response = _read_batch(data, operation.result_class)
        except Exception as exc:  # any shape problem, reported not raised
            err = MalformedResponseError(
                f"HTTP {status} with a body not in HubSpot's batch shape: {exc}",
                status=status,
                body=data,
            )
            return Reply(status, None, err, rate)
        return Reply(status, response, None, rate)
    return Reply(status, None, _error_from(status, headers, data, body), rate)


def _read_batch(data: dict[str, Any], cls: type[SimplePublicObject]) -> BatchResponse:
    """Read a batch answer, strictly where inputs are accounted for and leniently elsewhere.

    What accounts for inputs (the ``results`` and ``errors`` lists, each result's id and trace
    id, each error's ids) must be readable, or the answer is malformed. Decoration (``status``,
    timestamps, links, a result's other fields) that is unreadable is dropped, never allowed to
    throw written results away; ``numErrors`` is recomputed from ``errors``, never trusted.
    """
    results = data.get("results", [])
    errors = data.get("errors", [])
    if not isinstance(results, list) or not isinstance(errors, list):
        raise TypeError("'results' and 'errors' must be lists")
    read_errors = [_read_error(e) for e in errors]
    status = data.get("status")
    return BatchResponse(
        status=status if isinstance(status, str) else "COMPLETE",
        results=Deferred([_accounted(r) for r in results], _builder(cls)),
        errors=read_errors,
        num_errors=len(read_errors),
        requested_at=_decoration(data.get("requestedAt"), dt.datetime),
        started_at=_decoration(data.get("startedAt"), dt.datetime),
        completed_at=_decoration(data.get("completedAt"), dt.datetime),
        links=_decoration(data.get("links"), dict[str, str]),
    )


def _accounted(raw: Any) -> dict[str, Any] | tuple[Any, ...]:
    """One result, checked (and normalised in place) as far as it accounts for an input: a
    JSON object with a string ``id`` (a number is read as its text), ``properties`` of
    strings or nulls (numbers read as text; absent: none) and a string
    ``objectWriteTraceId`` or none (anything else is dropped). The rest is read when the
    result is built (``_builder``), where what is unreadable is dropped. Returns the result
    in ``_compact`` form when it has HubSpot's usual shape, else the (normalised) dict.

    Raises:
        TypeError: the result cannot account for an input (the answer is malformed).
    """
    if type(raw) is not dict:
        raise TypeError(f"a result must be an object, got {type(raw).__name__}")
    record_id = raw.get("id")
    if type(record_id) is not str:
        raw["id"] = converter.structure(record_id, str)  # numbers: their text; else raises
    properties = raw.get("properties", _NO_PROPERTIES)
    if properties is _NO_PROPERTIES:
        raw["properties"] = {}
    elif type(properties) is not dict:
        raw["properties"] = structure(properties, dict[str, str | None])
    else:
        for value in properties.values():
            if type(value) is not str and value is not None:
                raw["properties"] = structure(properties, dict[str, str | None])
                break
    trace = raw.get("objectWriteTraceId")
    if trace is not None and type(trace) is not str:
        del raw["objectWriteTraceId"]
        trace = None
    return _compact(raw, trace) or raw


def _compact(raw: dict[str, Any], trace: str | None) -> tuple[Any, ...] | None:
    """A result in HubSpot's usual shape as the tuple ``(id, trace, createdAt, updatedAt,
    archived, new, properties)`` (``_builder`` builds it; ``compact_property`` looks one
    property up); the merge keeps its fields in columns (``_merge``). None: keep the dict."""
    if not raw.keys() <= _PLAIN_KEYS:
        return None
    created, updated = raw.get("createdAt"), raw.get("updatedAt")
    archived, new = raw.get("archived", False), raw.get("new", False)
    if (
        (created is not None and type(created) is not str)
        or (updated is not None and type(updated) is not str)
        or type(archived) is not bool
        or type(new) is not bool
    ):
        return None
    return (raw["id"], trace, created, updated, archived, new, raw["properties"])


def compact_property(entry: tuple[Any, ...], name: str) -> str | None:
    """The value of property ``name`` in a result in ``_compact`` form (None: absent)."""
    return entry[6].get(name)  # type: ignore[no-any-return]


def _builder(cls: type[SimplePublicObject]) -> Callable[[Sequence[Any]], list[SimplePublicObject]]:
    def build(entries: Sequence[Any]) -> list[SimplePublicObject]:
        stamps: dict[str, dt.datetime] = {}
        return [_built(entry, cls, stamps) for entry in entries]

    return build


def _built(
    entry: Any, cls: type[SimplePublicObject], stamps: dict[str, dt.datetime]
) -> SimplePublicObject:
    if type(entry) is tuple:
        return _built_compact(entry, cls, stamps)
    if type(entry) is dict:
        return _built_result(entry, cls, stamps)
    return entry  # type: ignore[no-any-return]


def _built_compact(
    entry: tuple[Any, ...], cls: type[SimplePublicObject], stamps: dict[str, dt.datetime]
) -> SimplePublicObject:
    record_id, trace, created, updated, archived, new, properties = entry
    fields: dict[str, Any] = {
        "id": record_id,
        "properties": properties,
        "created_at": _lenient_stamp(created, stamps),
        "updated_at": _lenient_stamp(updated, stamps),
        "archived": archived,
        "object_write_trace_id": trace,
    }
    if cls is SimplePublicUpsertObject:
        fields["new"] = new
    return cls(**fields)


def _lenient_stamp(value: str | None, stamps: dict[str, dt.datetime]) -> dt.datetime | None:
    try:
        return _stamp(value, stamps)
    except (TypeError, ValueError):  # decoration: an unreadable timestamp is dropped
        return None


def _built_result(
    raw: dict[str, Any], cls: type[SimplePublicObject], stamps: dict[str, dt.datetime]
) -> SimplePublicObject:
    try:
        return _read_object(raw, cls, stamps) or _read_result(raw, cls)
    except Exception:  # checked by _accounted: what accounts for the input is readable
        return cls(
            id=raw["id"],
            properties=raw["properties"],
            object_write_trace_id=raw.get("objectWriteTraceId"),
        )


def _decoration(value: Any, kind: Any) -> Any:
    """``value`` read as ``kind``, or None if absent or unreadable (it accounts for nothing)."""
    if value is None:
        return None
    try:
        return structure(value, kind)
    except Exception:
        return None


def _read_result(raw: Any, cls: type[SimplePublicObject]) -> SimplePublicObject:
    try:
        return structure(raw, cls)
    except Exception:
        if not isinstance(raw, dict):
            raise
    # Salvage what accounts for the input; the rest is decoration.
    record_id = raw.get("id")
    if isinstance(record_id, int) and not isinstance(record_id, bool):
        record_id = str(record_id)
    if not isinstance(record_id, str):
        raise TypeError("a result without a string 'id'")
    trace = raw.get("objectWriteTraceId")
    properties = raw.get("properties", {})
    # The properties are what the caller reads back as written: never guessed at.
    properties = structure(properties, dict[str, str | None])
    fields: dict[str, Any] = {
        "id": record_id,
        "object_write_trace_id": trace if isinstance(trace, str) else None,
        "properties": properties,
        "created_at": _decoration(raw.get("createdAt"), dt.datetime),
        "updated_at": _decoration(raw.get("updatedAt"), dt.datetime),
    }
    if cls is SimplePublicUpsertObject:
        fields["new"] = raw.get("new") is True
    return cls(**fields)


def _read_error(raw: Any) -> StandardError:
    try:
        return structure(raw, StandardError)
    except Exception:
        if not isinstance(raw, dict):
            raise
    # Salvage: the ids it names (strings only) and its words; drop what cannot be read. The
    # lists that name inputs must at least be lists: a bare string would blame wrong inputs.
    context = raw.get("context")
    if context is not None and not isinstance(context, dict):
        raise TypeError("an error's 'context' must be an object")
    if isinstance(context, dict) and any(
        not isinstance(context.get(k, []), list) for k in ("ids", "objectWriteTraceId")
    ):
        raise TypeError("'context.ids' must be a list")
    return StandardError(
        status=_text_or(raw.get("status"), "error"),
        category=_text_or(raw.get("category"), ""),
        message=_text_or(raw.get("message"), ""),
        context={
            k: [v for v in values if isinstance(v, str)]
            for k, values in (context.items() if isinstance(context, dict) else ())
            if isinstance(k, str) and isinstance(values, list)
        },
        errors=[d for d in map(_read_detail, _list_or_empty(raw.get("errors"))) if d],
    )


def _read_detail(raw: Any) -> ErrorDetail | None:
    return _decoration(raw, ErrorDetail)  # type: ignore[no-any-return]


def _list_or_empty(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text_or(value: Any, default: str) -> str:
    return value if isinstance(value, str) else default


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
