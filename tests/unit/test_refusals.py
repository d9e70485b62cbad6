"""Classifying whole-request refusals (issue 13), each from a real body. Pure."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from asyncbatch import ValidationError
from asyncbatch._plan import plan_chunks
from asyncbatch._refusals import Problem, classify_refusal, triage


def _error(body: dict[str, Any], status: int = 400) -> ValidationError:
    return ValidationError(
        f"HTTP {status}", status=status, body=body, category=body.get("category")
    )


def _embedded(*entries: dict[str, Any]) -> str:
    return "Property values were not valid: " + orjson.dumps(list(entries)).decode()


# A real body, from gregorspan/csc-frodx #21 (a ticket with an invalid category).
TICKET_OPTION = {
    "status": "error",
    "message": _embedded(
        {
            "isValid": False,
            "message": "reports was not one of the allowed options: [PRODUCT_ISSUE, BILLING_ISSUE]",
            "error": "INVALID_OPTION",
            "name": "hs_ticket_category",
            "localizedErrorMessage": "reports was not one of the allowed options",
        }
    ),
    "correlationId": "c",
    "category": "VALIDATION_ERROR",
}


def test_invalid_option_names_property_and_value() -> None:
    refusal = classify_refusal(_error(TICKET_OPTION))
    assert refusal.kind == "value"
    (problem,) = refusal.problems
    assert (problem.property, problem.code, problem.value) == (
        "hs_ticket_category",
        "INVALID_OPTION",
        "reports",
    )


@pytest.mark.parametrize(
    "body",
    [
        # hubspot-api-nodejs #548: batch update keyed by a non-unique property.
        {
            "status": "error",
            "message": "Unable to perform update/upsert by non-unique 0-1 property email in "
            "portal ID 123",
            "correlationId": "c",
            "category": "VALIDATION_ERROR",
        },
        # Unknown object type: no category at all (SPEC §1).
        {"status": "error", "message": "Unable to infer object type from: widgets"},
        # A 400 that names neither a property nor a record (stricter reading: about the
        # request; nothing public says a record caused it).
        {"status": "error", "category": "VALIDATION_ERROR", "message": "Invalid input JSON"},
    ],
)
def test_request_level_refusals(body: dict[str, Any]) -> None:
    assert classify_refusal(_error(body)).kind == "request"


def test_property_doesnt_exist_is_property_level() -> None:
    body = {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": "Property values were not valid",
        "errors": [
            {
                "message": 'Property "levle" does not exist',
                "code": "PROPERTY_DOESNT_EXIST",
                "context": {"propertyName": ["levle"]},
            }
        ],
    }
    refusal = classify_refusal(_error(body))
    assert refusal.kind == "property"
    assert [p.property for p in refusal.problems] == ["levle"]


def test_calculated_property_in_words_is_property_level() -> None:
    # SPEC / issue 13: '"hs_object_id" is a calculated property; its value cannot be set'.
    body = {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": '"hs_object_id" is a calculated property; its value cannot be set',
    }
    refusal = classify_refusal(_error(body))
    assert refusal.kind == "property"
    assert refusal.problems[0] == Problem("hs_object_id", "READ_ONLY_VALUE", None, body["message"])


def test_conflict_is_isolated_and_ids_are_records() -> None:
    # Community thread "Contacts API Batch Upsert return 409 instead of 207".
    conflict = {"status": "error", "category": "CONFLICT", "message": "Contact already exists"}
    assert classify_refusal(_error(conflict, 409)).kind == "isolate"
    named = {"category": "VALIDATION_ERROR", "message": "bad", "context": {"ids": ["7"]}}
    refusal = classify_refusal(_error(named))
    assert (refusal.kind, refusal.ids) == ("records", ("7",))


def test_triage_by_value_and_by_property() -> None:
    records = [
        {"id": "1", "properties": {"hs_ticket_category": "reports"}},
        {"id": "2", "properties": {"hs_ticket_category": "BILLING_ISSUE"}},
        {"id": "3", "properties": {"other": "x"}},
    ]
    items = plan_chunks(records, operation="update").items
    value = triage(items, classify_refusal(_error(TICKET_OPTION)))
    assert [i.input.id for i, _ in value.refused] == ["1"]
    assert [i.input.id for i in value.clear] == ["2", "3"]
    assert value.suspects == ()
    unattributed = {
        "category": "VALIDATION_ERROR",
        "message": "Property values were not valid",
        "errors": [{"code": "INVALID_INTEGER", "context": {"propertyName": ["other"]}}],
    }
    sorted_ = triage(items, classify_refusal(_error(unattributed)))
    assert [i.input.id for i in sorted_.suspects] == ["3"]
    assert [i.input.id for i in sorted_.clear] == ["1", "2"]


@pytest.mark.parametrize(
    ("code", "message", "value"),
    [
        # Real HubSpot words (quoted in connector code; the strict emulator answers them).
        ("INVALID_LONG", "cheap was not a valid long.", "cheap"),
        ("INVALID_INTEGER", "12x was not a valid integer (for owner ID).", "12x"),
        ("INVALID_EMAIL", "Email address not-an-email is invalid", "not-an-email"),
    ],
)
def test_values_named_by_other_codes_are_attributed(code: str, message: str, value: str) -> None:
    entry = {"isValid": False, "message": message, "error": code, "name": "p"}
    body = {"status": "error", "category": "VALIDATION_ERROR", "message": _embedded(entry)}
    refusal = classify_refusal(_error(body))
    assert refusal.kind == "value"
    assert refusal.problems[0].value == value
