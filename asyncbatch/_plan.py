"""Pure planning: validate records, convert property values, coalesce duplicates, cut chunks.

No I/O, no event loop, no clock. Everything wrong with an argument or a record is raised here
as ``InvalidInputError`` naming the record's position, before any request is sent.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Literal

import attrs

from ._exceptions import InvalidInputError
from ._models import BatchInput

__all__ = [
    "MAX_CHUNK_SIZE",
    "Chunk",
    "Operation",
    "Plan",
    "PlannedInput",
    "convert_value",
    "cut_chunks",
    "normalize_record",
    "plan_chunks",
    "validate_chunk_size",
    "validate_object_type",
]

Operation = Literal["update", "upsert"]

#: HubSpot refuses a batch request of more than 100 inputs.
MAX_CHUNK_SIZE = 100

_RECORD_KEYS = frozenset({"id", "properties", "idProperty", "objectWriteTraceId"})
# Object types are names (contacts, goal_targets) or type ids (0-410, 2-123456); the value goes
# into the URL path, so nothing else is allowed through.
_OBJECT_TYPE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


@attrs.frozen
class PlannedInput:
    """One distinct record to send.

    Attributes:
        index: its place among the call's distinct records (the order of ``results``).
        positions: the caller's positions that name this record (more than one if coalesced).
        input: the record as sent: string properties and an ``objectWriteTraceId``.
        trace_assigned: True when the client made up the trace id (the caller gave none).
    """

    index: int
    positions: tuple[int, ...]
    input: BatchInput
    trace_assigned: bool = True


@attrs.frozen
class Chunk:
    """At most ``chunk_size`` planned inputs that go out in one request."""

    number: int
    items: tuple[PlannedInput, ...]


@attrs.frozen
class Plan:
    """What one call will send."""

    items: tuple[PlannedInput, ...]
    chunks: tuple[Chunk, ...]
    inputs: int
    coalesced: int


def validate_chunk_size(chunk_size: object) -> int:
    """Return ``chunk_size`` if it is an int in 1..100, else raise ``InvalidInputError``."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise InvalidInputError(
            f"chunk_size must be an int from 1 to {MAX_CHUNK_SIZE}, got {chunk_size!r}"
        )
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise InvalidInputError(
            f"chunk_size must be from 1 to {MAX_CHUNK_SIZE} (HubSpot's batch limit), "
            f"got {chunk_size}"
        )
    return chunk_size


def validate_object_type(object_type: object) -> str:
    """Return ``object_type`` if it is a HubSpot object type name or id, else raise."""
    if not isinstance(object_type, str) or not _OBJECT_TYPE.match(object_type):
        raise InvalidInputError(
            "object_type must be a HubSpot object type name or id such as 'contacts', "
            f"'goal_targets' or '0-410', got {object_type!r}"
        )
    return object_type


def convert_value(value: object, *, position: int, name: str) -> str:
    """Convert one property value to the string HubSpot expects.

    str as is; int/float/Decimal to their text; bool to ``"true"``/``"false"``; None to ``""``
    (clears the property); date to ``YYYY-MM-DD``; aware datetime to ISO 8601 UTC; a list or
    tuple of strings to a ``;``-joined multiple-checkbox value.

    Raises:
        InvalidInputError: anything else (nested dict, bytes, naive datetime, NaN...).
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(
                f"{value!r} is not a number HubSpot can store", position=position, field=name
            )
        text = repr(value)
        # HubSpot reads plain decimals; 1e+20 would be stored as text, so spell it out.
        return format(Decimal(text), "f") if "e" in text or "E" in text else text
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidInputError(
                f"{value!r} is not a number HubSpot can store", position=position, field=name
            )
        return format(value, "f")
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidInputError(
                "naive datetime: give it a timezone so the instant is unambiguous",
                position=position,
                field=name,
            )
        text = value.astimezone(dt.UTC).isoformat(timespec="milliseconds")
        return text.replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        for item in value:
            if not isinstance(item, str):
                raise InvalidInputError(
                    "a multiple-checkbox value must be a list of strings, found "
                    f"{type(item).__name__}",
                    position=position,
                    field=name,
                )
            if ";" in item:
                raise InvalidInputError(
                    f"multiple-checkbox option {item!r} contains ';', HubSpot's separator",
                    position=position,
                    field=name,
                )
        return ";".join(value)
    raise InvalidInputError(
        f"unsupported value type {type(value).__name__}; use str, int, float, Decimal, bool, "
        "None, date, aware datetime or a list of str",
        position=position,
        field=name,
    )


def _text(value: object, *, position: int, field: str, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{what} must be a string, got {type(value).__name__}", position=position, field=field
        )
    if not value.strip():
        raise InvalidInputError(f"{what} must not be empty", position=position, field=field)
    return value


def normalize_record(
    record: object, *, position: int, operation: Operation, id_property: str | None
) -> BatchInput:
    """Validate one record (a dict in HubSpot's shape or a ``BatchInput``) and convert it.

    Returns a ``BatchInput`` whose properties are all strings and whose ``id_property`` is the
    record's own or else the call's.
    """
    if isinstance(record, BatchInput):
        raw_id: object = record.id
        raw_props: object = record.properties
        raw_idp: object = record.id_property
        raw_trace: object = record.object_write_trace_id
    elif isinstance(record, Mapping):
        unknown = set(record) - _RECORD_KEYS
        if unknown:
            raise InvalidInputError(
                f"unknown key(s) {sorted(map(str, unknown))}; a record has "
                "'id', 'properties' and optionally 'idProperty', 'objectWriteTraceId'",
                position=position,
            )
        if "id" not in record:
            raise InvalidInputError("missing 'id'", position=position, field="id")
        if "properties" not in record:
            raise InvalidInputError("missing 'properties'", position=position, field="properties")
        raw_id = record["id"]
        raw_props = record["properties"]
        raw_idp = record.get("idProperty")
        raw_trace = record.get("objectWriteTraceId")
    else:
        raise InvalidInputError(
            f"a record must be a dict or asyncbatch.BatchInput, got {type(record).__name__}",
            position=position,
        )
    record_id = _text(raw_id, position=position, field="id", what="id")
    if not isinstance(raw_props, Mapping):
        raise InvalidInputError(
            f"properties must be a mapping, got {type(raw_props).__name__}",
            position=position,
            field="properties",
        )
    properties: dict[str, str] = {}
    for name, value in raw_props.items():
        if not isinstance(name, str) or not name:
            raise InvalidInputError(
                f"property names must be non-empty strings, got {name!r}", position=position
            )
        properties[name] = convert_value(value, position=position, name=name)
    idp = id_property if raw_idp is None else raw_idp
    if idp is not None:
        idp = _text(idp, position=position, field="idProperty", what="idProperty")
    elif operation == "upsert":
        raise InvalidInputError(
            "upsert needs an id property: pass id_property=... or give the record 'idProperty'",
            position=position,
            field="idProperty",
        )
    trace = None
    if raw_trace is not None:
        trace = _text(
            raw_trace, position=position, field="objectWriteTraceId", what="objectWriteTraceId"
        )
    return BatchInput(
        id=record_id, properties=properties, id_property=idp, object_write_trace_id=trace
    )


def _coalesce(
    records: Iterable[object], *, operation: Operation, id_property: str | None, trace_prefix: str
) -> tuple[list[PlannedInput], int]:
    # Key: (idProperty, id). HubSpot rejects a request naming one record twice, so later
    # properties are merged over earlier ones, as sequential writes would leave them.
    merged: dict[tuple[str | None, str], tuple[list[int], BatchInput]] = {}
    count = 0
    for position, record in enumerate(records):
        count += 1
        item = normalize_record(
            record, position=position, operation=operation, id_property=id_property
        )
        key = (item.id_property, item.id)
        earlier = merged.get(key)
        if earlier is None:
            merged[key] = ([position], item)
        else:
            positions, previous = earlier
            positions.append(position)
            merged[key] = (
                positions,
                attrs.evolve(
                    previous,
                    properties={**previous.properties, **item.properties},
                    object_write_trace_id=item.object_write_trace_id
                    or previous.object_write_trace_id,
                ),
            )
    items = []
    for index, (positions, item) in enumerate(merged.values()):
        assigned = item.object_write_trace_id is None
        if assigned:
            item = attrs.evolve(item, object_write_trace_id=f"{trace_prefix}-{index}")
        items.append(
            PlannedInput(
                index=index, positions=tuple(positions), input=item, trace_assigned=assigned
            )
        )
    return items, count - len(items)


def cut_chunks(
    items: Iterable[PlannedInput], chunk_size: int, *, first_number: int = 0
) -> Iterator[Chunk]:
    """Cut planned inputs into chunks of at most ``chunk_size``, in order.

    Inputs with different ``idProperty`` never share a chunk, so each request names records one
    way only.
    """
    open_chunks: dict[str | None, list[PlannedInput]] = {}
    number = first_number
    for item in items:
        bucket = open_chunks.setdefault(item.input.id_property, [])
        bucket.append(item)
        if len(bucket) == chunk_size:
            yield Chunk(number=number, items=tuple(bucket))
            number += 1
            bucket.clear()
    for bucket in open_chunks.values():
        if bucket:
            yield Chunk(number=number, items=tuple(bucket))
            number += 1


def plan_chunks(
    records: Iterable[object],
    *,
    operation: Operation,
    id_property: str | None = None,
    chunk_size: int = MAX_CHUNK_SIZE,
    trace_prefix: str = "ab",
) -> Plan:
    """Validate, convert and coalesce ``records``, then cut them into chunks.

    Args:
        records: dicts in HubSpot's input shape or ``BatchInput`` objects.
        operation: ``"update"`` or ``"upsert"`` (upsert needs an id property).
        id_property: the call's id property, used by records that name none.
        chunk_size: at most this many inputs per chunk, 1..100.
        trace_prefix: prefix of the ``objectWriteTraceId`` assigned to inputs that have none.

    Raises:
        InvalidInputError: naming the first bad record's position and the problem.
    """
    validate_chunk_size(chunk_size)
    if id_property is not None:
        _text(id_property, position=None, field="id_property", what="id_property")  # type: ignore[arg-type]
    if isinstance(records, str | bytes | Mapping):
        raise InvalidInputError(
            f"records must be an iterable of records, got {type(records).__name__}"
        )
    items, coalesced = _coalesce(
        records, operation=operation, id_property=id_property, trace_prefix=trace_prefix
    )
    chunks = tuple(cut_chunks(items, chunk_size))
    return Plan(
        items=tuple(items), chunks=chunks, inputs=len(items) + coalesced, coalesced=coalesced
    )
