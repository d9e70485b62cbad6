"""A batch request body read into inputs, and the refusals that are about its shape. No I/O.

``parse_inputs`` checks the JSON shape (``inputs``, at most 100, ``id``, ``properties``);
``check_keys`` checks the ``idProperty`` of every input and that no record is named twice.
A refusal is raised as ``Invalid``, carrying the whole answer to send.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from ._shapes import JSON, error_body, error_detail

MAX_INPUTS = 100
RECORD_ID_PROPERTY = "hs_object_id"


@attrs.frozen
class Answer:
    """What to send back: ``body`` is ``None`` for a 204. ``written`` are the record ids written."""

    status: int
    body: JSON | None
    written: tuple[str, ...] = ()


@attrs.frozen
class Input:
    """One input of a batch request, its values as strings."""

    index: int
    id: str | None
    properties: dict[str, str]
    id_property: str | None
    trace: str | None

    @property
    def key(self) -> str:
        """How the input is named in answers: its id, else its position."""
        return self.id if self.id is not None else f"inputs[{self.index}]"


class Invalid(Exception):
    """A whole-request failure, carrying the answer to send."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


def fail(status: int, category: str, message: str, **kwargs: Any) -> Invalid:
    """An ``Invalid`` answering ``status`` with HubSpot's ``Error`` body."""
    return Invalid(Answer(status, error_body(category, message, **kwargs)))


def _to_str(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return ""
    raise fail(
        400,
        "VALIDATION_ERROR",
        f"Invalid input JSON: {where} must be a string, number or boolean.",
        errors=[error_detail(f"{where} must be a string", code="INVALID_TYPE", in_=where)],
    )


def _required(where: str, field: str) -> Invalid:
    return fail(
        400,
        "VALIDATION_ERROR",
        f"Invalid input JSON: {where}.{field} is required.",
        errors=[error_detail(f"{field} is required", code="REQUIRED_FIELD", in_=field)],
    )


def parse_inputs(payload: Any, operation: str) -> list[Input]:
    """The inputs of ``payload``, or ``Invalid`` for a body HubSpot would refuse."""
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise fail(
            400,
            "VALIDATION_ERROR",
            "Invalid input JSON on line 1, column 1: Missing required property 'inputs' "
            "(an array of batch inputs).",
            errors=[error_detail("inputs is required", code="REQUIRED_FIELD", in_="inputs")],
        )
    raw_inputs: list[Any] = payload["inputs"]
    if len(raw_inputs) > MAX_INPUTS:
        raise fail(
            400,
            "VALIDATION_ERROR",
            f"Batch input limit exceeded: {len(raw_inputs)} inputs were provided, "
            f"the maximum is {MAX_INPUTS}.",
            context={"inputs": [str(len(raw_inputs))], "maxInputs": [str(MAX_INPUTS)]},
        )
    return [_parse_input(payload, operation, i, raw) for i, raw in enumerate(raw_inputs)]


def _parse_input(payload: dict[str, Any], operation: str, index: int, raw: Any) -> Input:
    where = f"inputs[{index}]"
    if not isinstance(raw, dict):
        raise fail(400, "VALIDATION_ERROR", f"Invalid input JSON: {where} must be an object.")
    record_id: str | None = None
    if operation in ("update", "upsert", "read", "archive"):
        if raw.get("id") is None or isinstance(raw["id"], dict | list):
            raise _required(where, "id")
        record_id = _to_str(raw["id"], f"{where}.id")
    props: dict[str, str] = {}
    if operation in ("update", "upsert", "create"):
        raw_props = raw.get("properties")
        if not isinstance(raw_props, dict):
            raise _required(where, "properties")
        props = {str(k): _to_str(v, f"{where}.properties.{k}") for k, v in raw_props.items()}
    id_property = raw.get("idProperty") if operation != "read" else payload.get("idProperty")
    if id_property is not None and not isinstance(id_property, str):
        raise fail(400, "VALIDATION_ERROR", f"Invalid input JSON: {where}.idProperty.")
    trace = raw.get("objectWriteTraceId")
    return Input(
        index=index,
        id=record_id,
        properties=props,
        id_property=id_property or None,
        trace=None if trace is None else _to_str(trace, f"{where}.objectWriteTraceId"),
    )


KeyRefusal = Callable[[str], JSON | None]
"""Strict mode's verdict on an ``idProperty``: the 400 body refusing it, or ``None``."""


def check_keys(
    inputs: Sequence[Input],
    operation: str,
    *,
    refuse_key: KeyRefusal | None,
    fold: Callable[[str, str], str],
) -> None:
    """Raise ``Invalid`` if an input's ``idProperty`` is refused or one record is named twice.

    ``refuse_key`` is strict mode's check of each ``idProperty`` (``None``: lenient, where only
    ``hs_object_id`` as an upsert's key is refused, naming the inputs as the emulator always
    did). ``fold`` gives the compared form of a key value (contacts' e-mail addresses).
    """
    if operation == "upsert":
        _check_upsert_keys(inputs, strict=refuse_key is not None)
    if refuse_key is not None:
        for id_property in dict.fromkeys(i.id_property for i in inputs if i.id_property):
            body = refuse_key(id_property)
            if body is not None:
                raise Invalid(Answer(400, body))
    if operation in ("update", "upsert"):
        _check_duplicates(inputs, fold)


def _check_upsert_keys(inputs: Sequence[Input], *, strict: bool) -> None:
    for item in inputs:
        if not item.id_property:
            # Strict: a whole-request 400 names no input (HubSpot's wording is not public).
            message = "idProperty is required for upsert"
            raise fail(
                400,
                "VALIDATION_ERROR",
                message if strict else f"{message} (inputs[{item.index}], id {item.id}).",
                context=None if strict else {"ids": [item.id or ""]},
                errors=[
                    error_detail("idProperty is required", code="REQUIRED_FIELD", in_="idProperty")
                ],
            )
        if not strict and item.id_property == RECORD_ID_PROPERTY:
            raise fail(
                400,
                "VALIDATION_ERROR",
                f"{RECORD_ID_PROPERTY} cannot be used as the idProperty of an upsert.",
                context={"ids": [item.id or ""]},
            )


def _check_duplicates(inputs: Sequence[Input], fold: Callable[[str, str], str]) -> None:
    seen: set[tuple[str, str]] = set()
    duplicates: list[str] = []
    for item in inputs:
        if item.id is None:
            continue
        prop = item.id_property or RECORD_ID_PROPERTY
        key = (prop, fold(prop, item.id))
        if key in seen and item.id not in duplicates:
            duplicates.append(item.id)
        seen.add(key)
    if duplicates:
        # HubSpot's exact message, with the ids (SPEC §1): this one does name the inputs.
        raise fail(
            400,
            "VALIDATION_ERROR",
            f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]. IDs must be unique",
            context={"ids": duplicates},
        )
