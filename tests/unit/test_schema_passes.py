"""The property check's memory of values that passed (issue 14 item 4: under 2 µs a record):
a value judged once is taken by one set lookup after, and only values that pass unchanged are
remembered."""

from __future__ import annotations

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncbatch._schema import (
    _PASSES_KEPT,
    PropertyDefinition,
    PropertyOption,
    PropertySchema,
    _check_properties,
    all_pass,
)


def _schema() -> PropertySchema:
    level = PropertyDefinition(
        "level",
        type="enumeration",
        field_type="select",
        options=(PropertyOption("beginner", "Beginner"), PropertyOption("advanced", "Advanced")),
    )
    price = PropertyDefinition("price", type="number", field_type="number")
    flag = PropertyDefinition("flag", type="bool", field_type="booleancheckbox")
    return PropertySchema("0-410", {d.name: d for d in (level, price, flag)})


def test_a_select_knows_its_option_values_before_any_record() -> None:
    schema = _schema()
    assert schema.properties["level"].passes == {"beginner", "advanced"}
    assert schema.properties["price"].passes == set()


def test_only_values_that_pass_unchanged_are_remembered() -> None:
    schema = _schema()
    assert _check_properties({"price": "9.5", "flag": "true"}, schema) == (None, None)
    assert _check_properties({"flag": "yes"}, schema) == ({"flag": "true"}, None)
    converted, problem = _check_properties({"price": "1,000"}, schema)
    assert converted is None and problem is not None and problem.code == "INVALID_LONG"
    assert schema.properties["price"].passes == {"9.5"}
    assert schema.properties["flag"].passes == {"true"}  # "yes" is converted, not kept
    # Judged again, from memory or not, the answers are the same.
    assert _check_properties({"price": "9.5", "flag": "yes"}, schema) == (
        {"price": "9.5", "flag": "true"},
        None,
    )
    again = _check_properties({"price": "1,000"}, schema)[1]
    assert again is not None and again.code == "INVALID_LONG"


def test_a_label_is_converted_every_time_not_remembered_as_passing() -> None:
    schema = _schema()
    for _ in range(2):
        assert _check_properties({"level": "Advanced"}, schema) == ({"level": "advanced"}, None)
    assert "Advanced" not in schema.properties["level"].passes


def test_the_memory_is_bounded() -> None:
    schema = _schema()
    for n in range(_PASSES_KEPT + 50):
        assert _check_properties({"price": str(n)}, schema) == (None, None)
    assert len(schema.properties["price"].passes) == _PASSES_KEPT
    assert _check_properties({"price": str(_PASSES_KEPT + 10)}, schema) == (None, None)


def test_a_read_only_select_takes_none_of_its_options() -> None:
    # HubSpot refuses any value of a calculated or read-only property (READ_ONLY_VALUE), its
    # options' values included: they must not be remembered as passing before any record.
    score = PropertyDefinition(
        "score",
        type="enumeration",
        field_type="select",
        options=(PropertyOption("high", "High"),),
        calculated=True,
    )
    schema = PropertySchema("0-410", {"score": score})
    assert schema.properties["score"].passes == set()
    converted, problem = _check_properties({"score": "high"}, schema)
    assert converted is None and problem is not None and problem.code == "READ_ONLY_VALUE"
    assert not all_pass([{"score": "high"}], schema)


_NAMES = ("title", "level", "price", "flag", "start", "score", "nope")
_VALUES = ("", "beginner", "Beginner", "expert", "9.5", "1,000", "12", "true", "yes", "maybe")
_VALUES += ("2026-01-05", "2026-01-05T10:00:00Z", "05/01/2026", "x" * 3)


def _full_schema() -> PropertySchema:
    definitions = (
        PropertyDefinition("title"),
        _schema().properties["level"],
        PropertyDefinition("price", type="number", field_type="number"),
        PropertyDefinition("flag", type="bool", field_type="booleancheckbox"),
        PropertyDefinition("start", type="date", field_type="date"),
        PropertyDefinition("score", type="number", field_type="number", read_only=True),
    )
    fresh = [attrs.evolve(d) for d in definitions]  # each schema its own memory of passes
    return PropertySchema("0-410", {d.name: d for d in fresh})


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.sampled_from(_NAMES), st.sampled_from(_VALUES), max_size=4),
        max_size=6,
    ),
    st.lists(st.dictionaries(st.sampled_from(_NAMES[:5]), st.sampled_from(_VALUES)), max_size=3),
)
def test_all_pass_judges_a_chunk_as_checking_each_record_would(
    records: list[dict[str, str]], earlier: list[dict[str, str]]
) -> None:
    # ``earlier`` records judged first fill the memory of passes, as chunks before would.
    by_record, by_column = _full_schema(), _full_schema()
    for each in earlier:
        _check_properties(each, by_record)
        all_pass([each], by_column)
    expected = all(_check_properties(each, by_record) == (None, None) for each in records)
    assert all_pass(records, by_column) == expected
    assert all_pass(iter(records), _full_schema()) == expected  # memory changes no verdict
