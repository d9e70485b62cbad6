"""``batch/read`` and ``batch/archive`` against the store. No I/O.

Shapes from HubSpot's OpenAPI files (``BatchReadInputSimplePublicObjectId``,
``BatchInputSimplePublicObjectId``), the same in ``v3``, ``2026-03`` and ``2026-09``:

- read: ``inputs[].id``, and at the top level ``properties`` (names; none: every stored
  property), ``propertiesWithHistory`` (names; then at most 50 inputs), ``idProperty``; the
  query ``?archived=true`` reads only archived records ("Whether to return only results that
  have been archived"). An id that matches no record is an ``OBJECT_NOT_FOUND`` error: a 207
  in ``v3``/``2026-03``, inside the 200 in ``2026-09``.
- archive: ``inputs[].id`` (a record id) and nothing else; 204 with no body, whether or not
  the records exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._convert import format_datetime
from ._context import BatchContext, batch_body, not_found_errors
from ._inputs import Answer, Input, fail
from ._shapes import JSON, error_detail
from ._store import Record, TypeStore

__all__ = ["MAX_HISTORY_INPUTS", "archive_batch", "parse_archived", "read_batch"]

# HubSpot's limit for a batch read with property history, as issue 17 states it (the OpenAPI
# files do not give it). The wording of its 400 is not public: this one follows the 100-input
# one.
MAX_HISTORY_INPUTS = 50


def parse_archived(value: str | None) -> bool:
    """A batch read's ``?archived=`` query: ``true``/``false`` (any case), default false.

    Anything else is refused with a 400: HubSpot's parameter is a boolean, and the stricter
    reading refuses what is not one rather than read it as false.
    """
    if value is None or value.lower() == "false":
        return False
    if value.lower() == "true":
        return True
    raise fail(
        400,
        "VALIDATION_ERROR",
        f"Invalid value for query parameter archived: '{value}' is not a boolean.",
        errors=[error_detail("archived must be true or false", code="INVALID_TYPE", in_="query")],
    )


def _names(payload: dict[str, Any], field: str) -> tuple[str, ...]:
    """Property names of ``field`` (absent: none). HubSpot's schema marks ``properties`` and
    ``propertiesWithHistory`` required, but its own examples omit them: absence is accepted,
    anything but an array of strings is not."""
    value = payload.get(field)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise fail(
            400,
            "VALIDATION_ERROR",
            f"Invalid input JSON: {field} must be an array of property names.",
            errors=[error_detail(f"{field} must be an array", code="INVALID_TYPE", in_=field)],
        )
    return tuple(value)


def _history_json(record: Record, names: Sequence[str]) -> JSON:
    """``propertiesWithHistory``: ``ValueWithTimestamp`` entries, newest first, of the named
    properties the record has. ``sourceType`` of a write made through the API: ``API``."""
    return {
        name: [
            {"value": value, "timestamp": at, "sourceType": "API"}
            for value, at in record.history(name)
        ]
        for name in names
        if name in record.properties
    }


def _result(record: Record, names: Sequence[str], history: Sequence[str]) -> JSON:
    stored = record.properties
    props = {n: stored[n] for n in names if n in stored} if names else None
    result = record.to_dict(props)
    if history:
        result["propertiesWithHistory"] = _history_json(record, history)
    return result


def read_batch(
    types: TypeStore, object_type: str, payload: JSON, inputs: list[Input], ctx: BatchContext
) -> Answer:
    """Answer a ``batch/read``: one result per record found (an id named twice, once)."""
    started = ctx.clock()
    names = _names(payload, "properties")
    history = _names(payload, "propertiesWithHistory")
    if history and len(inputs) > MAX_HISTORY_INPUTS:
        raise fail(
            400,
            "VALIDATION_ERROR",
            f"Batch input limit exceeded: {len(inputs)} inputs were provided, the maximum is "
            f"{MAX_HISTORY_INPUTS} when propertiesWithHistory is requested.",
            context={"inputs": [str(len(inputs))], "maxInputs": [str(MAX_HISTORY_INPUTS)]},
        )
    find = types.find_archived if ctx.archived else types.find
    results: list[JSON] = []
    missing: list[Input] = []
    seen: set[str] = set()
    for item in inputs:
        assert item.id is not None
        record = find(item.id, item.id_property)
        if record is None:
            missing.append(item)
        elif record.id not in seen:
            seen.add(record.id)
            results.append(_result(record, names, history))
    errors = not_found_errors(missing, object_type)
    status = ctx.version.batch_status("read", has_errors=bool(errors))
    return Answer(status, batch_body(results, errors, started, ctx))


def refuse_archive_keys(payload: JSON, inputs: Sequence[Input]) -> None:
    """Raise a 400 if an archive names records by anything but their id.

    ``SimplePublicObjectId`` has ``id`` alone in every version's OpenAPI file. Nothing public
    says whether HubSpot ignores an ``idProperty`` there; if it did, a unique value would be
    read as a record id and the wrong record (or none) archived. The stricter reading refuses
    it, in the words of HubSpot's JSON reader ("Invalid input JSON ...", HubSpot.NET #23).
    """
    where = "idProperty" if payload.get("idProperty") is not None else None
    where = where or next((f"inputs[{i.index}].idProperty" for i in inputs if i.id_property), None)
    if where is None:
        return
    raise fail(
        400,
        "VALIDATION_ERROR",
        f'Invalid input JSON: Unrecognized field "idProperty" ({where}): batch/archive takes '
        "record ids only.",
        errors=[error_detail('Unrecognized field "idProperty"', code="INVALID_FIELD", in_=where)],
    )


def archive_batch(types: TypeStore, inputs: Sequence[Input], ctx: BatchContext) -> Answer:
    """Archive the records named by id; 204 with no body (ids that match none included)."""
    now = format_datetime(ctx.clock())
    written = []
    for item in inputs:
        assert item.id is not None
        record = types.find(item.id)
        if record is not None:
            types.archive(record, now)
            written.append(record.id)
    return Answer(204, None, tuple(written))
