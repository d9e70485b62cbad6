"""One batch request against the store: parse, validate, apply, answer. No I/O.

``process`` takes a parsed JSON body and returns an ``Answer`` (status and body, as HubSpot
would send them in the request's API version); it mutates the store and nothing else. Time and
randomness come in through ``BatchContext`` so the outcome is reproducible. Reads and archives
are in ``_read``.

Order of the checks (each a whole-request refusal that leaves the store untouched): object type
and operation, body shape, ``idProperty`` and duplicate keys, property values, admin rules
(API ``2026-09``), then (strict) unique-value conflicts. Only then is anything written; update
ids that match no record come back as ``OBJECT_NOT_FOUND`` errors (a 207, or inside the 200 in
``2026-09``).

Multi-status create: "For the object APIs' batch create endpoints, you can enable multi status
responses that include partial failures ... include a unique objectWriteTraceId value" for each
input (HubSpot's error-handling reference, "Multi-status errors"). So a create whose inputs all
carry distinct trace ids gets invalid values as per-input errors (207; in ``2026-09`` inside
the 201), the valid inputs created; update and upsert do so only with
``EmulatorConfig.validation_errors_as_207``. Admin-rule violations stay a whole-request 400 in
every case: HubSpot's changelog says 400, and nothing says a trace id changes that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import attrs
import orjson

from .._convert import format_datetime
from ._admin_rules import rule_issues
from ._context import BatchContext, batch_body, not_found_errors
from ._inputs import MAX_INPUTS, Answer, Input, Invalid, check_keys, parse_inputs
from ._properties import Schema
from ._read import archive_batch, read_batch, refuse_archive_keys
from ._rules import conflict_body, id_property_body, unique_properties
from ._shapes import (
    JSON,
    error_body,
    error_detail,
    property_values_body,
    standard_error,
    unknown_type_body,
)
from ._store import READ_UPDATE_ONLY, Record, Store, TypeStore, canonical_type
from ._validation import Issue, check_properties

__all__ = ["MAX_INPUTS", "OPERATIONS", "Answer", "BatchContext", "check_target", "process"]

OPERATIONS = ("archive", "create", "read", "update", "upsert")


_Issues = dict[int, list[Issue]]


def _issues_of(item: Input, object_type: str, operation: str, ctx: BatchContext) -> list[Issue]:
    if ctx.strict:
        properties = dict(item.properties)
        if operation == "upsert" and item.id_property and item.id is not None:
            properties.setdefault(item.id_property, item.id)  # the key is a written value too
        return check_properties(ctx.schema.of(object_type), properties, strict=True)
    return check_properties(
        ctx.declared.get(canonical_type(object_type)),
        item.properties,
        strict=False,
        reject_unknown=ctx.reject_unknown,
        extra_names=[item.id_property] if item.id_property else [],
    )


def _per_input(inputs: Sequence[Input], operation: str, ctx: BatchContext) -> bool:
    """Whether invalid values become per-input errors (multi-status) instead of a 400: every
    input carries a distinct ``objectWriteTraceId`` (see the module docstring)."""
    if operation != "create" and not ctx.validation_errors_as_207:
        return False
    traces = [item.trace for item in inputs]
    return None not in traces and len(set(traces)) == len(traces)


def _validate(
    inputs: Sequence[Input], object_type: str, operation: str, ctx: BatchContext
) -> _Issues:
    """Invalid inputs by index, for per-input errors; raises ``Invalid`` for a whole-request
    400."""
    bad = {
        item.index: issues
        for item in inputs
        if (issues := _issues_of(item, object_type, operation, ctx))
    }
    if bad and not _per_input(inputs, operation, ctx):
        raise _refusal(inputs, bad, ctx)
    return bad


def _refusal(inputs: Sequence[Input], bad: _Issues, ctx: BatchContext) -> Invalid:
    """The whole-request 400 for the inputs ``bad`` names."""
    if ctx.strict:
        # HubSpot's 400 names properties, never inputs. Whether it lists the problems of every
        # input is not public; the stricter reading reports the first invalid input's only.
        first = bad[min(bad)]
        return Invalid(Answer(400, property_values_body(first, portal_id=ctx.portal_id)))
    return Invalid(Answer(400, _lenient_validation_body(inputs, bad)))


def _check_rules(
    inputs: Sequence[Input], writes: Sequence[_Write], object_type: str, ctx: BatchContext
) -> None:
    """Raise the 400 of the admin rules (``2026-09`` on) that a write breaks."""
    if not ctx.version.enforces_rules:
        return
    rules = ctx.rules.get(canonical_type(object_type), ())
    if not rules:
        return
    bad = {
        write.item.index: issues
        for write in writes
        if (
            issues := rule_issues(
                rules, write.properties, None if write.record is None else write.record.properties
            )
        )
    }
    if bad:
        raise _refusal(inputs, bad, ctx)


def _lenient_validation_body(inputs: Sequence[Input], bad: _Issues) -> JSON:
    """The lenient mode's 400: the emulator's old body, which names the inputs."""
    by_index = {item.index: item for item in inputs}
    issues = [(by_index[i], *issue) for i in sorted(bad) for issue in bad[i]]
    return error_body(
        "VALIDATION_ERROR",
        _named_message(issues),
        context={
            "ids": list(dict.fromkeys(item.key for item, *_ in issues)),
            "propertyName": list(dict.fromkeys(name for _, name, _c, _m in issues)),
        },
        errors=_named_details(issues),
    )


def _named_message(issues: Sequence[tuple[Input, str, str, str]]) -> str:
    parts = [
        {"isValid": False, "message": message, "error": code, "name": name, "id": item.key}
        for item, name, code, message in issues
    ]
    return "Property values were not valid: " + orjson.dumps(parts).decode()


def _named_details(issues: Sequence[tuple[Input, str, str, str]]) -> list[JSON]:
    details = []
    for item, name, code, message in issues:
        context = {"propertyName": [name], "ids": [item.key]}
        if item.trace is not None:
            context["objectWriteTraceId"] = [item.trace]
        details.append(error_detail(message, code=code, in_=name, context=context))
    return details


def _invalid_input_error(item: Input, issues: list[Issue]) -> JSON:
    """A 207 ``errors`` entry for one invalid input (``validation_errors_as_207``)."""
    named = [(item, *issue) for issue in issues]
    context = {"ids": [item.key], "propertyName": [name for name, _c, _m in issues]}
    if item.trace is not None:
        context["objectWriteTraceId"] = [item.trace]
    return standard_error(
        "VALIDATION_ERROR",
        _named_message(named),
        context=context,
        errors=_named_details(named),
    )


@attrs.frozen
class _Write:
    """One valid input about to be written: its record (``None``: a new one) and values."""

    item: Input
    record: Record | None
    properties: dict[str, str]


def _plan_writes(
    types: TypeStore, operation: str, inputs: Sequence[Input]
) -> tuple[list[_Write], list[Input]]:
    """The writes of ``inputs``, and the update inputs whose record does not exist."""
    writes: list[_Write] = []
    missing: list[Input] = []
    for item in inputs:
        props = {k: v.strip() if k in types.folded else v for k, v in item.properties.items()}
        found = None
        if operation != "create":
            assert item.id is not None
            found = types.find(item.id, item.id_property)
            if found is None and operation == "update":
                missing.append(item)
                continue
        if operation == "upsert" and item.id_property is not None and item.id is not None:
            props[item.id_property] = _key_value(types, item.id_property, item.id, found)
        writes.append(_Write(item, found, props))
    return writes, missing


def _key_value(types: TypeStore, id_property: str, key: str, found: Record | None) -> str:
    """What an upsert writes to its ``idProperty``: the key, or the found record's own spelling
    of it (a folded e-mail address keeps the case it was stored with)."""
    if found is not None and id_property in types.folded:
        return found.properties.get(id_property, key.strip())
    return key.strip() if id_property in types.folded else key


def _apply(
    store: Store, object_type: str, operation: str, writes: Sequence[_Write], started: datetime
) -> tuple[list[JSON], list[str]]:
    now = format_datetime(started)
    types = store.of(object_type)
    results: list[JSON] = []
    written: list[str] = []
    for write in writes:
        record = write.record
        if record is None:
            record = store.create(object_type, dict(write.properties), started)
        else:
            types.write(record, write.properties, now)
        result = record.to_dict(write.properties)
        if operation == "upsert":
            result["new"] = write.record is None
        if write.item.trace is not None:
            result["objectWriteTraceId"] = write.item.trace
        results.append(result)
        written.append(record.id)
    return results, written


def _write(
    store: Store, object_type: str, operation: str, inputs: list[Input], ctx: BatchContext
) -> Answer:
    started = ctx.clock()
    types = store.of(object_type)
    bad = _validate(inputs, object_type, operation, ctx)
    writes, missing = _plan_writes(types, operation, [i for i in inputs if i.index not in bad])
    _check_rules(inputs, writes, object_type, ctx)
    if ctx.strict:
        unique = unique_properties(ctx.schema, types, object_type)
        conflict = conflict_body(
            types, unique, [(w.record.id if w.record else None, w.properties) for w in writes]
        )
        if conflict is not None:
            return Answer(409, conflict)
    results, written = _apply(store, object_type, operation, writes, started)
    errors = [_invalid_input_error(i, bad[i.index]) for i in inputs if i.index in bad]
    errors.extend(not_found_errors(missing, object_type))
    status = ctx.version.batch_status(operation, has_errors=bool(errors))
    return Answer(status, batch_body(results, errors, started, ctx), tuple(written))


def check_target(object_type: str, operation: str, schema: Schema | None) -> Answer | None:
    """The answer refusing ``operation`` on ``object_type`` before the body is read, or ``None``.

    With a ``schema`` (strict mode) an object type it does not know gets HubSpot's 400 with no
    category; then an operation the type lacks gets a 404.
    """
    if schema is not None and not schema.knows(object_type):
        return Answer(400, unknown_type_body(object_type))
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

    Whole-request failures (see the module docstring) leave the store untouched and answer with
    HubSpot's ``Error`` body.
    """
    refused = check_target(object_type, operation, ctx.schema if ctx.strict else None)
    if refused is not None:
        return refused
    types = store.of(object_type)
    try:
        inputs = parse_inputs(payload, operation)
        if operation == "archive":
            refuse_archive_keys(payload, inputs)
        check_keys(
            inputs,
            operation,
            refuse_key=_key_refusal(object_type, operation, ctx) if ctx.strict else None,
            fold=types.key,
        )
        if operation == "read":
            return read_batch(types, object_type, payload, inputs, ctx)
        if operation == "archive":
            return archive_batch(types, inputs, ctx)
        return _write(store, object_type, operation, inputs, ctx)
    except Invalid as invalid:
        return invalid.answer


def _key_refusal(
    object_type: str, operation: str, ctx: BatchContext
) -> Callable[[str], JSON | None]:
    def refuse(id_property: str) -> JSON | None:
        return id_property_body(ctx.schema, object_type, operation, id_property, ctx.portal_id)

    return refuse
