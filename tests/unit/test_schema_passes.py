"""The property check's memory of values that passed (issue 14 item 4: under 2 µs a record):
a value judged once is taken by one set lookup after, and only values that pass unchanged are
remembered."""

from __future__ import annotations

from asyncbatch._schema import (
    _PASSES_KEPT,
    PropertyDefinition,
    PropertyOption,
    PropertySchema,
    _check_properties,
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
