"""Checking and converting values against property definitions (issue 14). Pure."""

from __future__ import annotations

from typing import Any

import pytest

from asyncbatch import PropertyDefinition, PropertyOption, PropertySchema
from asyncbatch._plan import plan_chunks
from asyncbatch._schema import ValueRefused, check_id_property, check_items, check_value

LEVEL = PropertyDefinition(
    "level",
    "enumeration",
    "select",
    (PropertyOption("beginner", "Beginner"), PropertyOption("advanced", "Advanced")),
)
TOPICS = PropertyDefinition(
    "topics", "enumeration", "checkbox", (PropertyOption("a", "Alpha"), PropertyOption("b", "B"))
)


@pytest.mark.parametrize(
    ("definition", "value", "stored"),
    [
        (LEVEL, "beginner", "beginner"),
        (LEVEL, "Advanced", "advanced"),  # an option's label, unambiguous
        (LEVEL, " ADVANCED ", "advanced"),
        (TOPICS, "a;B", "a;b"),
        (TOPICS, "Alpha;b", "a;b"),
        (PropertyDefinition("n", "number"), "1.5", "1.5"),
        (PropertyDefinition("n", "number"), "-3", "-3"),
        (PropertyDefinition("ok", "bool"), "Yes", "true"),
        (PropertyDefinition("ok", "bool"), "0", "false"),
        (PropertyDefinition("ok", "bool"), "TRUE", "true"),
        (PropertyDefinition("d", "date"), "2024-05-01", "2024-05-01"),
        (PropertyDefinition("d", "date"), "2024-05-01T00:00:00.000Z", "2024-05-01"),
        (PropertyDefinition("d", "date"), "2024-05-01T02:00:00+02:00", "2024-05-01"),
        (
            PropertyDefinition("t", "datetime"),
            "2024-05-01T10:00:00+02:00",
            "2024-05-01T08:00:00.000Z",
        ),
        (PropertyDefinition("t", "datetime"), "1714550400000", "1714550400000"),
        (PropertyDefinition("s", "string"), "anything", "anything"),
        (LEVEL, "", ""),  # an empty value clears the property
    ],
)
def test_values_converted_to_hubspots_form(
    definition: PropertyDefinition, value: str, stored: str
) -> None:
    assert check_value(definition, value) == stored


@pytest.mark.parametrize(
    ("definition", "value", "code", "words"),
    [
        (LEVEL, "expert", "INVALID_OPTION", "expert was not one of the allowed options"),
        (TOPICS, "a;zzz", "INVALID_OPTION", "zzz was not one of"),
        (PropertyDefinition("n", "number"), "1,000", "INVALID_LONG", "not a valid long"),
        (PropertyDefinition("n", "number"), "1.2.3", "INVALID_LONG", "not a valid long"),
        (PropertyDefinition("n", "number"), "NaN", "INVALID_LONG", "not a valid long"),
        (PropertyDefinition("ok", "bool"), "maybe", "INVALID_BOOLEAN", "not a boolean"),
        # HubSpot's own words for a date that is not at midnight (SPEC §1).
        (
            PropertyDefinition("d", "date"),
            "2024-05-01T22:18:55Z",
            "INVALID_DATE",
            "is at 22:18:55 UTC, not midnight!",
        ),
        (
            PropertyDefinition("t", "datetime"),
            "2024-05-01T10:00:00",
            "INVALID_LONG",
            "no time zone",
        ),
    ],
)
def test_values_hubspot_would_refuse(
    definition: PropertyDefinition, value: str, code: str, words: str
) -> None:
    with pytest.raises(ValueRefused) as refused:
        check_value(definition, value)
    assert refused.value.code == code
    assert words in refused.value.message


def test_allowed_options_listed_at_most_ten() -> None:
    many = PropertyDefinition(
        "x", "enumeration", "select", tuple(PropertyOption(f"v{i}") for i in range(30))
    )
    with pytest.raises(ValueRefused) as refused:
        check_value(many, "nope")
    assert "v9, …]" in refused.value.message and "v10" not in refused.value.message


def test_external_options_are_left_to_hubspot() -> None:
    # Pipeline stages and owners come back with no options (botpress/botpress #15354).
    stage = PropertyDefinition("dealstage", "enumeration", "select", external_options=True)
    assert check_value(stage, "whatever") == "whatever"


SCHEMA = PropertySchema.from_json(
    "0-410",
    {
        "results": [
            {"name": "course_code", "type": "string", "hasUniqueValue": True},
            {
                "name": "level",
                "type": "enumeration",
                "fieldType": "select",
                "options": [{"value": "beginner", "label": "Beginner"}],
            },
            {"name": "hs_object_id", "type": "number", "calculated": True},
            {
                "name": "hs_lastmodifieddate",
                "type": "datetime",
                "modificationMetadata": {"readOnlyValue": True},
            },
            {"name": "title", "type": "string"},
        ]
    },
)


def _items(*props: dict[str, Any]) -> Any:
    records = [{"id": str(i), "properties": p} for i, p in enumerate(props)]
    return plan_chunks(records, operation="update").items


def test_check_items_refuses_and_converts() -> None:
    items = _items(
        {"level": "Beginner", "title": "t"},
        {"levle": "x"},
        {"hs_object_id": "5"},
        {"hs_lastmodifieddate": "2024-01-01T00:00:00Z"},
        {"level": "expert"},
    )
    ok, refused = check_items(items, SCHEMA)
    assert [i.input.properties for i in ok] == [{"level": "beginner", "title": "t"}]
    problems = [(i.input.id, p.property, p.code) for i, p in refused]
    assert problems == [
        ("1", "levle", "PROPERTY_DOESNT_EXIST"),
        ("2", "hs_object_id", "READ_ONLY_VALUE"),
        ("3", "hs_lastmodifieddate", "READ_ONLY_VALUE"),
        ("4", "level", "INVALID_OPTION"),
    ]
    assert "calculated" in refused[1][1].message


def test_id_property_must_be_unique() -> None:
    assert check_id_property(SCHEMA, None, operation="update") is None
    assert check_id_property(SCHEMA, "course_code", operation="upsert") is None
    assert "not a unique-value property" in str(
        check_id_property(SCHEMA, "title", operation="upsert")
    )
    assert "record id" in str(check_id_property(SCHEMA, "hs_object_id", operation="update"))
    contacts = PropertySchema("contacts", {})
    assert check_id_property(contacts, "email", operation="upsert") is None
