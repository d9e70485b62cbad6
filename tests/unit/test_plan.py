"""Planning: value conversion, record validation, coalescing and chunking. No event loop."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from asyncbatch import BatchInput, InvalidInputError
from asyncbatch._plan import (
    MAX_CHUNK_SIZE,
    convert_value,
    plan_chunks,
    plan_steps,
    validate_chunk_size,
    validate_object_type,
)
from asyncbatch._steps import run_steps

# --- convert_value ---------------------------------------------------------------------------

BERLIN_SUMMER = dt.timezone(dt.timedelta(hours=2))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("", ""),
        (42, "42"),
        (-7, "-7"),
        (10**30, "1" + "0" * 30),
        (0.1, "0.1"),
        (2.5, "2.5"),
        (1e20, "100000000000000000000"),
        (1.5e-7, "0.00000015"),
        (Decimal("19.99"), "19.99"),
        (Decimal("1E+2"), "100"),
        (Decimal("-0.001"), "-0.001"),
        (True, "true"),
        (False, "false"),
        (None, ""),
        (dt.date(2024, 2, 29), "2024-02-29"),
        (
            dt.datetime(2024, 5, 1, 14, 30, 0, 123000, tzinfo=BERLIN_SUMMER),
            "2024-05-01T12:30:00.123Z",
        ),
        (dt.datetime(2024, 5, 1, 0, 0, tzinfo=dt.UTC), "2024-05-01T00:00:00.000Z"),
        (["a", "b", "c"], "a;b;c"),
        (("x", "y"), "x;y"),
        ([], ""),
    ],
    ids=repr,
)
def test_convert_value_supported(value: object, expected: str) -> None:
    converted = convert_value(value, position=0, name="p")
    assert converted == expected
    assert type(converted) is str


def test_convert_value_bool_is_not_an_int() -> None:
    # bool is a subclass of int: it must still become "true", not "1".
    assert convert_value(True, position=0, name="p") != "1"


@pytest.mark.parametrize(
    "value",
    [
        {"nested": "dict"},
        b"bytes",
        bytearray(b"x"),
        {"a", "b"},
        dt.datetime(2024, 5, 1, 12, 0),  # naive
        float("nan"),
        float("inf"),
        float("-inf"),
        Decimal("NaN"),
        Decimal("Infinity"),
        ["ok", 3],
        ["ok", None],
        ("a;b",),
        ["fine", "semi;colon"],
        object(),
        1 + 2j,
    ],
    ids=repr,
)
def test_convert_value_refused(value: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        convert_value(value, position=7, name="price")
    error = info.value
    assert error.position == 7
    assert error.field == "price"
    assert "record 7" in str(error)
    assert "'price'" in str(error)
    assert isinstance(error, ValueError)


# --- one record's validation and conversion, through plan_chunks -----------------------------


def _norm(
    record: object, *, operation: Any = "update", id_property: str | None = None, pos: int = 3
) -> BatchInput:
    """Plan ``record`` at position ``pos`` and return it as it would be sent."""
    # Records before it only fill the positions: each names its own id property, so it is valid
    # for update and upsert alike and never coalesces with the record under test.
    fillers = [
        {"id": f"filler-{i}", "properties": {}, "idProperty": "filler_key"} for i in range(pos)
    ]
    plan = plan_chunks([*fillers, record], operation=operation, id_property=id_property)
    (item,) = [item for item in plan.items if pos in item.positions]
    return item.input


def test_normalize_dict_and_batch_input_agree() -> None:
    as_dict = _norm({"id": "12", "properties": {"n": 1, "ok": True}, "objectWriteTraceId": "t"})
    as_input = _norm(
        BatchInput(id="12", properties={"n": 1, "ok": True}, object_write_trace_id="t")
    )
    assert as_dict == as_input
    assert as_dict == BatchInput(
        id="12", properties={"n": "1", "ok": "true"}, object_write_trace_id="t"
    )


def test_normalize_int_id_becomes_str() -> None:
    item = _norm({"id": 512, "properties": {}})
    assert item.id == "512"
    assert isinstance(item.id, str)


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"properties": {}}, "id"),
        ({"id": "1"}, "properties"),
        ({"id": "1", "properties": ["a"]}, "properties"),
        ({"id": "1", "properties": "name=x"}, "properties"),
        ({"id": "", "properties": {}}, "id"),
        ({"id": "   ", "properties": {}}, "id"),
        ({"id": None, "properties": {}}, "id"),
        ({"id": 1.5, "properties": {}}, "id"),
        ({"id": True, "properties": {}}, "id"),
        ({"id": "1", "properties": {}, "idProperty": ""}, "idProperty"),
        ({"id": "1", "properties": {}, "objectWriteTraceId": 3.5}, "objectWriteTraceId"),
        ({"id": "1", "properties": {"p": {"x": 1}}}, "p"),
    ],
    ids=repr,
)
def test_normalize_refuses_bad_fields(record: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        _norm(record, pos=11)
    assert info.value.position == 11
    assert info.value.field == field
    assert "record 11" in str(info.value)


@pytest.mark.parametrize(
    "record",
    [
        {"id": "1", "properties": {}, "idproperty": "email"},  # wrong case: a typo, not ignored
        {"id": "1", "properties": {}, "extra": 1},
        {"id": "1", "properties": {"": "empty name"}},
        {"id": "1", "properties": {5: "int name"}},
        ["1", {}],
        ("1", {}),
        "1",
        42,
        None,
    ],
    ids=repr,
)
def test_normalize_refuses_bad_records(record: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        _norm(record, pos=4)
    assert info.value.position == 4
    assert "record 4" in str(info.value)


def test_normalize_unknown_key_is_named() -> None:
    with pytest.raises(InvalidInputError, match="idproperty"):
        _norm({"id": "1", "properties": {}, "idproperty": "email"})


def test_upsert_without_id_property_raises() -> None:
    with pytest.raises(InvalidInputError) as info:
        _norm({"id": "a@b.c", "properties": {}}, operation="upsert", pos=2)
    assert info.value.position == 2
    assert info.value.field == "idProperty"


def test_upsert_with_call_level_id_property() -> None:
    item = _norm({"id": "a@b.c", "properties": {}}, operation="upsert", id_property="email")
    assert item.id_property == "email"


def test_upsert_with_record_id_property_and_record_wins() -> None:
    record = {"id": "K1", "properties": {}, "idProperty": "ext_key"}
    assert _norm(record, operation="upsert").id_property == "ext_key"
    assert _norm(record, operation="upsert", id_property="email").id_property == "ext_key"
    as_input = BatchInput(id="K1", properties={}, id_property="ext_key")
    assert _norm(as_input, operation="upsert", id_property="email").id_property == "ext_key"


def test_update_without_id_property_keeps_none() -> None:
    assert _norm({"id": "1", "properties": {}}).id_property is None


# --- plan_chunks: arguments ------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [0, -1, 101, True, False, "10", 10.0, None])
def test_bad_chunk_size(chunk_size: object) -> None:
    with pytest.raises(InvalidInputError, match="chunk_size"):
        plan_chunks([], operation="update", chunk_size=chunk_size)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError) as info:
        validate_chunk_size(chunk_size)
    assert info.value.position is None


@pytest.mark.parametrize("chunk_size", [1, 50, MAX_CHUNK_SIZE])
def test_good_chunk_size(chunk_size: int) -> None:
    assert validate_chunk_size(chunk_size) == chunk_size


@pytest.mark.parametrize("records", ["12", b"12", {"id": "1", "properties": {}}])
def test_records_must_be_an_iterable_of_records(records: object) -> None:
    with pytest.raises(InvalidInputError, match="records"):
        plan_chunks(records, operation="update")  # type: ignore[arg-type]


@pytest.mark.parametrize("id_property", ["", "  ", 5.5])
def test_bad_call_level_id_property(id_property: object) -> None:
    with pytest.raises(InvalidInputError, match="id_property"):
        plan_chunks([], operation="upsert", id_property=id_property)  # type: ignore[arg-type]


def test_first_bad_record_position_is_reported() -> None:
    records = [{"id": str(i), "properties": {}} for i in range(5)]
    records[3] = {"id": "3", "properties": {"when": dt.datetime(2024, 1, 1)}}
    with pytest.raises(InvalidInputError) as info:
        plan_chunks(records, operation="update")
    assert info.value.position == 3
    assert info.value.field == "when"


def test_empty_records() -> None:
    plan = plan_chunks([], operation="update")
    assert plan.items == ()
    assert plan.chunks == ()
    assert plan.inputs == 0
    assert plan.coalesced == 0


def test_accepts_a_generator() -> None:
    plan = plan_chunks(({"id": i, "properties": {}} for i in range(3)), operation="update")
    assert [item.input.id for item in plan.items] == ["0", "1", "2"]


# --- coalescing ------------------------------------------------------------------------------


def test_coalesce_same_key_merges_properties_later_wins() -> None:
    records = [
        {"id": "1", "properties": {"a": "first", "b": "only-first"}},
        {"id": "2", "properties": {"a": "other"}},
        {"id": "1", "properties": {"a": "second", "c": 3}},
    ]
    plan = plan_chunks(records, operation="update")
    assert plan.inputs == 3
    assert plan.coalesced == 1
    assert len(plan.items) == 2
    first, second = plan.items
    assert first.positions == (0, 2)
    assert first.index == 0
    assert first.input.properties == {"a": "second", "b": "only-first", "c": "3"}
    assert second.positions == (1,)
    assert second.index == 1


def test_same_id_different_id_property_not_coalesced() -> None:
    records = [
        {"id": "x", "properties": {"a": "1"}},
        {"id": "x", "properties": {"a": "2"}, "idProperty": "email"},
        {"id": "x", "properties": {"a": "3"}, "idProperty": "ext_key"},
    ]
    plan = plan_chunks(records, operation="update")
    assert plan.coalesced == 0
    assert [item.positions for item in plan.items] == [(0,), (1,), (2,)]


def test_int_and_str_id_coalesce() -> None:
    plan = plan_chunks(
        [{"id": 1, "properties": {"a": "x"}}, {"id": "1", "properties": {"b": "y"}}],
        operation="update",
    )
    assert plan.coalesced == 1
    (item,) = plan.items
    assert item.positions == (0, 1)
    assert item.input.properties == {"a": "x", "b": "y"}


def test_call_level_and_record_level_id_property_coalesce() -> None:
    plan = plan_chunks(
        [
            {"id": "k", "properties": {"a": "1"}},
            {"id": "k", "properties": {"a": "2"}, "idProperty": "ext_key"},
        ],
        operation="upsert",
        id_property="ext_key",
    )
    assert plan.coalesced == 1
    assert plan.items[0].input.properties == {"a": "2"}


def test_assigned_trace_ids_are_unique_and_caller_ones_kept() -> None:
    records: list[dict[str, Any]] = [{"id": str(i), "properties": {}} for i in range(250)]
    records[5]["objectWriteTraceId"] = "mine-5"
    records[200]["objectWriteTraceId"] = "mine-200"
    plan = plan_chunks(records, operation="update", trace_prefix="tp")
    traces = [item.input.object_write_trace_id for item in plan.items]
    assert None not in traces
    assert len(set(traces)) == len(traces)
    assert plan.items[5].input.object_write_trace_id == "mine-5"
    assert plan.items[5].trace_assigned is False
    assert plan.items[200].input.object_write_trace_id == "mine-200"
    assert plan.items[0].trace_assigned is True
    assert all(
        t is not None and t.startswith("tp-") for i, t in enumerate(traces) if i not in (5, 200)
    )


def test_coalesced_record_keeps_a_caller_trace_id() -> None:
    plan = plan_chunks(
        [
            {"id": "1", "properties": {}, "objectWriteTraceId": "early"},
            {"id": "1", "properties": {}},
        ],
        operation="update",
    )
    (item,) = plan.items
    assert item.input.object_write_trace_id == "early"
    assert item.trace_assigned is False


# --- chunking --------------------------------------------------------------------------------


def test_250_records_make_chunks_of_100_100_50() -> None:
    plan = plan_chunks([{"id": str(i), "properties": {}} for i in range(250)], operation="update")
    assert [len(chunk.items) for chunk in plan.chunks] == [100, 100, 50]
    assert [chunk.number for chunk in plan.chunks] == [0, 1, 2]
    flattened = [item.index for chunk in plan.chunks for item in chunk.items]
    assert flattened == list(range(250))


def test_small_chunk_size() -> None:
    plan = plan_chunks(
        [{"id": str(i), "properties": {}} for i in range(7)], operation="update", chunk_size=3
    )
    assert [len(chunk.items) for chunk in plan.chunks] == [3, 3, 1]


def test_mixed_id_property_never_share_a_chunk() -> None:
    records = []
    for i in range(30):
        idp = [None, "email", "ext_key"][i % 3]
        record: dict[str, Any] = {"id": f"r{i}", "properties": {}}
        if idp:
            record["idProperty"] = idp
        records.append(record)
    plan = plan_chunks(records, operation="update", chunk_size=4)
    for chunk in plan.chunks:
        assert len({item.input.id_property for item in chunk.items}) == 1
        assert len(chunk.items) <= 4
    assert sum(len(chunk.items) for chunk in plan.chunks) == 30
    assert len({chunk.number for chunk in plan.chunks}) == len(plan.chunks)


# --- validate_object_type --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["contacts", "goal_targets", "partner_clients", "0-410", "2-123456"]
)
def test_object_type_accepted(name: str) -> None:
    assert validate_object_type(name) == name


@pytest.mark.parametrize(
    "name", ["", "a/b", "../x", "x?y", "x#y", "a b", "%2e%2e", None, 410, "x" * 101]
)
def test_object_type_refused(name: object) -> None:
    with pytest.raises(InvalidInputError, match="object_type"):
        validate_object_type(name)


def test_object_type_with_trailing_newline_refused() -> None:
    with pytest.raises(InvalidInputError):
        validate_object_type("contacts\n")


# --- steps -----------------------------------------------------------------------------------


def _steps_taken(records: Any) -> tuple[int, Any]:
    steps = plan_steps(records, operation="upsert", id_property="email")
    taken = 0
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return taken, stop.value
        taken += 1


def test_a_small_call_is_planned_in_one_step() -> None:
    # Each step is a look at the clock and, past a slice, a turn of the loop: a call of one
    # record took 257 of them (one dict of its coalescing index freed per step).
    taken, plan = _steps_taken([{"id": "a@example.com", "properties": {"p": "1"}}])
    assert taken <= 1
    assert plan.records == 1


def test_an_unsized_input_is_planned_as_a_sized_one() -> None:
    # A generator's length is unknown: its index is kept in shards (a dict grown to a million
    # keys rehashes them all at once), and the plan is the same.
    records = [{"id": f"{n % 700}@example.com", "properties": {"p": str(n)}} for n in range(1_000)]
    sized = run_steps(plan_steps(records, operation="upsert", id_property="email"))
    taken, unsized = _steps_taken(iter(records))
    assert (unsized.inputs, unsized.records) == (sized.inputs, sized.records) == (1_000, 700)
    assert [unsized.chunk(n).fields().ids for n in range(unsized.chunk_count)] == [
        sized.chunk(n).fields().ids for n in range(sized.chunk_count)
    ]
    assert taken < 1_000 // 32 + 10  # a step per 32 records, not one per shard as well
