"""One batch request against the store: parse, validate, apply, answer. No I/O.

``process`` takes a parsed JSON body and returns an ``Answer`` (status and body, as HubSpot
would send them); it mutates the store and nothing else. Time and randomness come in through
``BatchContext`` so the outcome is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs
import orjson

from .._convert import format_datetime
from ._config import PropertyDef
from ._shapes import JSON, error_body, error_detail, standard_error
from ._store import READ_UPDATE_ONLY, RECORD_ID_PROPERTY, Store, canonical_type, check_properties

MAX_INPUTS = 100
OPERATIONS = ("archive", "create", "read", "update", "upsert")


@attrs.frozen
class Answer:
    """What to send back: ``body`` is ``None`` for a 204. ``written`` are the record ids written."""

    status: int
    body: JSON | None
    written: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class BatchContext:
    """What ``process`` needs besides the store and the request."""

    definitions: Mapping[str, Mapping[str, PropertyDef]]  # canonical type -> name -> def
    strict: bool
    validation_errors_as_207: bool
    clock: Callable[[], datetime]
    shuffle: random.Random | None
    requested_at: datetime | None = None


@attrs.frozen
class _Input:
    index: int
    id: str | None
    properties: dict[str, str]
    id_property: str | None
    trace: str | None


class _Invalid(Exception):
    """A whole-request failure, carrying the answer to send."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


def _fail(status: int, category: str, message: str, **kwargs: Any) -> _Invalid:
    return _Invalid(Answer(status, error_body(category, message, **kwargs)))


def _to_str(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return ""
    raise _fail(
        400,
        "VALIDATION_ERROR",
        f"Invalid input JSON: {where} must be a string, number or boolean.",
        errors=[error_detail(f"{where} must be a string", code="INVALID_TYPE", in_=where)],
    )


def _parse_inputs(payload: Any, operation: str) -> list[_Input]:
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise _fail(
            400,
            "VALIDATION_ERROR",
            "Invalid input JSON on line 1, column 1: Missing required property 'inputs' "
            "(an array of batch inputs).",
            errors=[error_detail("inputs is required", code="REQUIRED_FIELD", in_="inputs")],
        )
    raw_inputs: list[Any] = payload["inputs"]
    if len(raw_inputs) > MAX_INPUTS:
        raise _fail(
            400,
            "VALIDATION_ERROR",
            f"Batch input limit exceeded: {len(raw_inputs)} inputs were provided, "
            f"the maximum is {MAX_INPUTS}.",
            context={"inputs": [str(len(raw_inputs))], "maxInputs": [str(MAX_INPUTS)]},
        )
    needs_id = operation in ("update", "upsert", "read", "archive")
    needs_props = operation in ("update", "upsert", "create")
    inputs: list[_Input] = []
    for i, raw in enumerate(raw_inputs):
        where = f"inputs[{i}]"
        if not isinstance(raw, dict):
            raise _fail(400, "VALIDATION_ERROR", f"Invalid input JSON: {where} must be an object.")
        record_id: str | None = None
        if needs_id:
            if raw.get("id") is None or isinstance(raw["id"], dict | list):
                raise _fail(
                    400,
                    "VALIDATION_ERROR",
                    f"Invalid input JSON: {where}.id is required.",
                    errors=[error_detail("id is required", code="REQUIRED_FIELD", in_="id")],
                )
            record_id = _to_str(raw["id"], f"{where}.id")
        props: dict[str, str] = {}
        if needs_props:
            raw_props = raw.get("properties")
            if not isinstance(raw_props, dict):
                raise _fail(
                    400,
                    "VALIDATION_ERROR",
                    f"Invalid input JSON: {where}.properties is required and must be an object.",
                    errors=[
                        error_detail(
                            "properties is required", code="REQUIRED_FIELD", in_="properties"
                        )
                    ],
                )
            props = {str(k): _to_str(v, f"{where}.properties.{k}") for k, v in raw_props.items()}
        id_property = raw.get("idProperty") if operation != "read" else payload.get("idProperty")
        if id_property is not None and not isinstance(id_property, str):
            raise _fail(400, "VALIDATION_ERROR", f"Invalid input JSON: {where}.idProperty.")
        if operation == "upsert" and not id_property:
            raise _fail(
                400,
                "VALIDATION_ERROR",
                f"idProperty is required for upsert ({where}, id {record_id}).",
                context={"ids": [record_id or ""]},
                errors=[
                    error_detail("idProperty is required", code="REQUIRED_FIELD", in_="idProperty")
                ],
            )
        if operation == "upsert" and id_property == RECORD_ID_PROPERTY:
            raise _fail(
                400,
                "VALIDATION_ERROR",
                f"{RECORD_ID_PROPERTY} cannot be used as the idProperty of an upsert.",
                context={"ids": [record_id or ""]},
            )
        trace = raw.get("objectWriteTraceId")
        inputs.append(
            _Input(
                index=i,
                id=record_id,
                properties=props,
                id_property=id_property or None,
                trace=None if trace is None else _to_str(trace, f"{where}.objectWriteTraceId"),
            )
        )
    return inputs


def _check_duplicates(inputs: list[_Input]) -> None:
    seen: set[tuple[str, str]] = set()
    duplicates: list[str] = []
    for item in inputs:
        if item.id is None:
            continue
        key = (item.id_property or RECORD_ID_PROPERTY, item.id)
        if key in seen and item.id not in duplicates:
            duplicates.append(item.id)
        seen.add(key)
    if duplicates:
        raise _fail(
            400,
            "VALIDATION_ERROR",
            f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]. IDs must be unique",
            context={"ids": duplicates},
        )


def _input_key(item: _Input) -> str:
    return item.id if item.id is not None else f"inputs[{item.index}]"


def _validation_message(issues: list[tuple[_Input, str, str, str]]) -> str:
    # HubSpot embeds a JSON list of property results in the message; "id" names the input.
    parts = [
        {"isValid": False, "message": message, "error": code, "name": name, "id": _input_key(item)}
        for item, name, code, message in issues
    ]
    return "Property values were not valid: " + orjson.dumps(parts).decode()


def _validation_details(issues: list[tuple[_Input, str, str, str]]) -> list[JSON]:
    details = []
    for item, name, code, message in issues:
        context = {"propertyName": [name], "ids": [_input_key(item)]}
        if item.trace is not None:
            context["objectWriteTraceId"] = [item.trace]
        details.append(error_detail(message, code=code, in_=name, context=context))
    return details


def _validate(
    inputs: list[_Input], object_type: str, ctx: BatchContext
) -> dict[int, list[tuple[_Input, str, str, str]]]:
    """Invalid inputs by index; raises for a whole-request failure."""
    definitions = ctx.definitions.get(canonical_type(object_type))
    if not definitions:
        return {}
    bad: dict[int, list[tuple[_Input, str, str, str]]] = {}
    for item in inputs:
        extra = [item.id_property] if item.id_property else []
        for name, code, message in check_properties(
            definitions, item.properties, strict=ctx.strict, extra_names=extra
        ):
            bad.setdefault(item.index, []).append((item, name, code, message))
    if not bad:
        return {}
    all_traced = all(item.trace is not None for item in inputs)
    if ctx.validation_errors_as_207 and all_traced:
        return bad
    issues = [issue for group in bad.values() for issue in group]
    raise _fail(
        400,
        "VALIDATION_ERROR",
        _validation_message(issues),
        context={
            "ids": list(dict.fromkeys(_input_key(i[0]) for i in issues)),
            "propertyName": list(dict.fromkeys(i[1] for i in issues)),
        },
        errors=_validation_details(issues),
    )


def _not_found_errors(missing: list[_Input], object_type: str) -> list[JSON]:
    message = (
        f"Could not get some {object_type} objects, they may be deleted or not exist. "
        "Check that ids are valid."
    )
    if not missing:
        return []
    if any(item.trace is not None for item in missing):
        errors = []
        for item in missing:
            context = {"ids": [_input_key(item)]}
            if item.trace is not None:
                context["objectWriteTraceId"] = [item.trace]
            errors.append(standard_error("OBJECT_NOT_FOUND", message, context=context))
        return errors
    ids = [_input_key(item) for item in missing]
    return [standard_error("OBJECT_NOT_FOUND", message, context={"ids": ids})]


def _batch_body(
    results: list[JSON], errors: list[JSON], started: datetime, ctx: BatchContext
) -> JSON:
    if ctx.shuffle is not None:
        ctx.shuffle.shuffle(results)
    body: JSON = {"status": "COMPLETE", "results": results}
    if ctx.requested_at is not None:
        body["requestedAt"] = format_datetime(ctx.requested_at)
    body["startedAt"] = format_datetime(started)
    body["completedAt"] = format_datetime(ctx.clock())
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    return body


def _write(
    store: Store, object_type: str, operation: str, inputs: list[_Input], ctx: BatchContext
) -> Answer:
    started = ctx.clock()
    now = format_datetime(started)
    types = store.of(object_type)
    bad = _validate(inputs, object_type, ctx)
    results: list[JSON] = []
    errors: list[JSON] = []
    written: list[str] = []
    missing: list[_Input] = []
    for item in inputs:
        if item.index in bad:
            issues = bad[item.index]
            context = {
                "ids": [_input_key(item)],
                "propertyName": [issue[1] for issue in issues],
            }
            if item.trace is not None:
                context["objectWriteTraceId"] = [item.trace]
            errors.append(
                standard_error(
                    "VALIDATION_ERROR",
                    _validation_message(issues),
                    context=context,
                    errors=_validation_details(issues),
                )
            )
            continue
        is_new = False
        props = dict(item.properties)
        if operation == "create":
            record = store.create(object_type, props, started)
        else:
            assert item.id is not None
            found = types.find(item.id, item.id_property)
            if found is None and operation == "update":
                missing.append(item)
                continue
            if operation == "upsert":
                assert item.id_property is not None
                props[item.id_property] = item.id
            if found is None:
                record = store.create(object_type, dict(props), started)
                is_new = True
            else:
                record = found
                types.write(record, props, now)
        result = record.to_dict(props)
        if operation == "upsert":
            result["new"] = is_new
        if item.trace is not None:
            result["objectWriteTraceId"] = item.trace
        results.append(result)
        written.append(record.id)
    errors.extend(_not_found_errors(missing, object_type))
    status = 207 if errors else (201 if operation == "create" else 200)
    return Answer(status, _batch_body(results, errors, started, ctx), tuple(written))


def _read(
    store: Store, object_type: str, payload: JSON, inputs: list[_Input], ctx: BatchContext
) -> Answer:
    started = ctx.clock()
    types = store.of(object_type)
    wanted = payload.get("properties")
    names = [str(p) for p in wanted] if isinstance(wanted, list) and wanted else None
    results: list[JSON] = []
    missing: list[_Input] = []
    seen: set[str] = set()
    for item in inputs:
        assert item.id is not None
        record = types.find(item.id, item.id_property)
        if record is None:
            missing.append(item)
            continue
        if record.id in seen:
            continue
        seen.add(record.id)
        props = (
            None
            if names is None
            else {n: record.properties[n] for n in names if n in record.properties}
        )
        results.append(record.to_dict(props))
    errors = _not_found_errors(missing, object_type)
    return Answer(207 if errors else 200, _batch_body(results, errors, started, ctx))


def _archive(store: Store, object_type: str, inputs: list[_Input]) -> Answer:
    types = store.of(object_type)
    written = []
    for item in inputs:
        assert item.id is not None
        record = types.find(item.id)
        if record is not None:
            types.delete(record)
            written.append(record.id)
    return Answer(204, None, tuple(written))


def check_operation(object_type: str, operation: str) -> Answer | None:
    """A 404 answer if ``object_type`` has no batch ``operation``, else ``None``."""
    if operation in OPERATIONS and not (
        object_type.lower() in READ_UPDATE_ONLY and operation not in ("read", "update")
    ):
        return None
    return Answer(
        404,
        error_body(
            "OBJECT_NOT_FOUND",
            f"Unable to find a batch '{operation}' operation for object type {object_type}.",
            context={"objectType": [object_type], "operation": [operation]},
        ),
    )


def process(
    store: Store, object_type: str, operation: str, payload: Any, ctx: BatchContext
) -> Answer:
    """Run one batch ``operation`` on ``object_type`` with the parsed JSON ``payload``.

    Whole-request failures (bad shape, more than 100 inputs, duplicate ids, invalid property
    values) leave the store untouched and answer with HubSpot's ``Error`` body.
    """
    unsupported = check_operation(object_type, operation)
    if unsupported is not None:
        return unsupported
    try:
        inputs = _parse_inputs(payload, operation)
        if operation in ("update", "upsert"):
            _check_duplicates(inputs)
        if operation == "read":
            return _read(store, object_type, payload, inputs, ctx)
        if operation == "archive":
            return _archive(store, object_type, inputs)
        return _write(store, object_type, operation, inputs, ctx)
    except _Invalid as invalid:
        return invalid.answer
