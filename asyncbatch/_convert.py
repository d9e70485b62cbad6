"""The one cattrs converter between asyncbatch's attrs models and HubSpot's JSON. Pure: no I/O.

camelCase on the wire, snake_case in Python; timestamps are aware datetimes (UTC when the wire
gave no offset, epoch milliseconds accepted). Structuring is lenient: unknown keys are ignored
and fields HubSpot sometimes omits take their defaults.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

import attrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.orjson import make_converter

from ._models import (
    BatchResponse,
    BatchResult,
    Deferred,
    Error,
    ErrorDetail,
    SimplePublicObject,
    SimplePublicUpsertObject,
    StandardError,
)

__all__ = ["batch_result_to_dict", "converter", "format_datetime", "parse_datetime", "structure"]

T = TypeVar("T")

converter = make_converter()


def parse_datetime(value: Any) -> dt.datetime:
    """An aware datetime from ISO 8601 text or epoch milliseconds; naive means UTC."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value / 1000, dt.UTC)
    elif isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value)
    else:
        raise TypeError(f"not a timestamp: {type(value).__name__}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def format_datetime(value: dt.datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, as HubSpot writes timestamps."""
    text = value.astimezone(dt.UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


converter.register_structure_hook(dt.datetime, lambda v, _: parse_datetime(v))


def _structure_str(value: Any, _: Any) -> str:
    # Lenient about numbers (HubSpot sometimes sends a count as 17), strict about the rest:
    # str(None) or str([...]) would silently invent ids and messages.
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise TypeError(f"expected a boolean, got {value!r}"[:80])


def _structure_str_list(value: Any, _: Any) -> list[str]:
    # A bare string would otherwise become a list of its characters (and blame wrong inputs).
    if not isinstance(value, list):
        raise TypeError(f"expected a list of strings, got {type(value).__name__}")
    return [_structure_str(v, str) for v in value]


converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(bool, _structure_bool)
converter.register_structure_hook_func(lambda t: t == list[str], _structure_str_list)
converter.register_unstructure_hook(dt.datetime, format_datetime)


def _camel(name: str) -> str:
    head, *rest = name.rstrip("_").split("_")
    return head + "".join(part.title() for part in rest)


# Fields HubSpot's schema marks required: always written by to_dict(), even when empty.
_REQUIRED: dict[type, set[str]] = {
    ErrorDetail: {"message"},
    StandardError: {"status", "category", "message", "context", "errors", "links"},
    Error: {"category", "correlation_id", "message"},
    # createdAt/updatedAt are required too, but are left out rather than written as null when
    # HubSpot's answer lacked them.
    SimplePublicObject: {"id", "properties", "archived"},
    SimplePublicUpsertObject: {"id", "properties", "archived", "new"},
    BatchResponse: {"status", "results", "started_at", "completed_at"},
}


def _register(cls: type) -> None:
    fields = attrs.fields(cls)
    # By the init name (``alias``): a private field (``_results``) is ``results`` on the wire.
    renames = {f.name: override(rename=_camel(f.alias)) for f in fields}
    converter.register_structure_hook(
        cls,
        make_dict_structure_fn(cls, converter, **renames),  # type: ignore[arg-type]
    )
    required = _REQUIRED.get(cls, set())
    unstructure = {
        f.name: override(rename=_camel(f.alias), omit_if_default=f.alias not in required)
        for f in fields
    }
    converter.register_unstructure_hook(
        cls,
        make_dict_unstructure_fn(cls, converter, **unstructure),  # type: ignore[arg-type]
    )


# Results a batch answer holds unbuilt (``Deferred``) read and write as the list they are.
_Results = list[SimplePublicObject] | Deferred[SimplePublicObject]
converter.register_structure_hook(
    _Results, lambda value, _: converter.structure(value, list[SimplePublicObject])
)
converter.register_unstructure_hook(
    Deferred, lambda value: converter.unstructure(value.build(value.entries))
)

for _cls in (
    ErrorDetail,
    StandardError,
    Error,
    SimplePublicObject,
    SimplePublicUpsertObject,
    BatchResponse,
):
    _register(_cls)


def structure(data: Any, cls: type[T]) -> T:
    """Structure wire data into ``cls`` (raises cattrs' errors on wrong types)."""
    return converter.structure(data, cls)


def batch_result_to_dict(result: BatchResult) -> dict[str, Any]:
    """HubSpot's ``BatchResponse...WithErrors`` JSON for an aggregate result."""
    out: dict[str, Any] = {
        "status": result.status,
        "results": [converter.unstructure(r) for r in result.results],
        "startedAt": format_datetime(result.started_at),
        "completedAt": format_datetime(result.completed_at),
    }
    if result.requested_at is not None:
        out["requestedAt"] = format_datetime(result.requested_at)
    out["links"] = dict(result.links)
    out["errors"] = [converter.unstructure(e) for e in result.errors]
    out["numErrors"] = result.num_errors
    return out
