"""Hypothesis-generated hostile records: planning either accepts them or raises exactly one
``InvalidInputError`` naming the record's position and the problem. Pure: no event loop."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from asyncbatch import BatchInput, InvalidInputError
from asyncbatch._plan import plan_chunks

odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=50),
    # huge strings: a few characters of mixed width repeated to 100k+ characters
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=4), st.integers(25_000, 40_000)),
    st.binary(max_size=10),
    st.dates(),
    st.datetimes(timezones=st.one_of(st.none(), st.timezones())),
    st.lists(st.text(max_size=5), max_size=4),
    st.tuples(st.integers()),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sets(st.integers(), max_size=2),
    st.just(object()),
)
ids = st.one_of(
    st.text(max_size=12),
    st.integers(),
    st.none(),
    st.just(""),
    st.just("   "),
    st.floats(),
    st.booleans(),
)
properties = st.one_of(
    st.dictionaries(st.one_of(st.text(max_size=10), st.integers()), odd_values, max_size=4),
    st.lists(st.integers(), max_size=2),
    st.none(),
    st.text(max_size=5),
)


@st.composite
def records(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["dict", "batch_input", "junk"]))
    if kind == "junk":
        return draw(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.none())))
    if kind == "batch_input":
        return BatchInput(
            id=draw(ids),
            properties=draw(properties),
            id_property=draw(st.one_of(st.none(), st.sampled_from(["email", "ext", ""]))),
            object_write_trace_id=draw(st.one_of(st.none(), st.text(max_size=5))),
        )
    record: dict[Any, Any] = {}
    if draw(st.booleans()) or draw(st.booleans()):
        record["id"] = draw(ids)
    if draw(st.booleans()) or draw(st.booleans()):
        record["properties"] = draw(properties)
    if draw(st.booleans()):
        record["idProperty"] = draw(st.one_of(st.sampled_from(["email", "ext_key"]), st.integers()))
    if draw(st.integers(0, 9)) == 0:
        record[draw(st.sampled_from(["idproperty", "props", 3]))] = "typo"
    return record


@settings(max_examples=400, deadline=None)
@given(
    batch=st.lists(records(), max_size=8),
    operation=st.sampled_from(["update", "upsert"]),
    id_property=st.one_of(st.none(), st.just("email")),
)
def test_hostile_records_pass_or_name_position_and_problem(
    batch: list[Any], operation: Any, id_property: str | None
) -> None:
    try:
        plan = plan_chunks(batch, operation=operation, id_property=id_property, chunk_size=3)
    except InvalidInputError as error:
        assert error.position is not None and 0 <= error.position < len(batch)
        assert f"record {error.position}" in str(error)
        assert error.problem and error.problem in str(error)
        return
    # Accepted: every property value became a string, every record kept.
    assert plan.inputs == len(batch)
    for item in plan.items:
        assert all(isinstance(v, str) for v in item.input.properties.values())
        assert item.input.id.strip()
        if operation == "upsert":
            assert item.input.id_property


def test_naive_datetime_and_nested_dict_are_named() -> None:
    naive = dt.datetime(2024, 1, 1)
    for value, words in (
        (naive, "naive datetime"),
        ({"a": 1}, "dict"),
        (b"x", "bytes"),
        (Decimal("NaN"), "not a number"),
    ):
        try:
            plan_chunks(
                [{"id": "1", "properties": {}}, {"id": "2", "properties": {"p": value}}],
                operation="update",
            )
        except InvalidInputError as error:
            assert error.position == 1 and error.field == "p"
            assert words in str(error)
        else:
            raise AssertionError(f"{value!r} was accepted")
