"""Values that once slipped through planning: lone surrogates, integers too long to write, and
records that are not an iterable (issue 12 items 7 and 15). Pure: no event loop."""

from __future__ import annotations

import datetime as dt
import enum
import sys
from fractions import Fraction
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncbatch import BatchInput, InvalidInputError
from asyncbatch._convert import format_datetime
from asyncbatch._plan import StreamPlanner, check_records_argument, convert_value, plan_chunks
from asyncbatch._values import check_text, has_surrogate

LONE = "\ud800"


def _good(i: int) -> dict[str, Any]:
    return {"id": str(i), "properties": {"name": f"record {i}"}}


def _refused(records: list[Any], **kwargs: Any) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as info:
        plan_chunks(records, operation=kwargs.pop("operation", "update"), **kwargs)
    return info.value


# --- lone surrogates (issue 12 item 7) -------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"id": "1", "properties": {"name": f"Zo{LONE}"}}, "name"),
        ({"id": "1", "properties": {"name": LONE}}, "name"),
        ({"id": "1", "properties": {"tags": ["ok", f"x{LONE}"]}}, "tags"),
        ({"id": "1", "properties": {f"na{LONE}me": "value"}}, f"na{LONE}me"),
        ({"id": f"k{LONE}", "properties": {}}, "id"),
        ({"id": LONE, "properties": {}}, "id"),
        ({"id": "1", "properties": {}, "idProperty": f"e{LONE}"}, "idProperty"),
        ({"id": "1", "properties": {}, "objectWriteTraceId": f"t{LONE}"}, "objectWriteTraceId"),
        (BatchInput(id=f"\udfff{LONE}", properties={}), "id"),
        (BatchInput(id="1", properties={"p": f"\udc80 {LONE}"}), "p"),
    ],
    ids=repr,
)
def test_lone_surrogate_is_refused_naming_position_and_field(bad: Any, field: str) -> None:
    # 99 good records and one bad one: before the fix the bad one passed planning and the
    # whole chunk's JSON failed to encode, failing all 100 as an "internal error".
    records: list[Any] = [_good(i) for i in range(99)]
    records.insert(42, bad)
    error = _refused(records)
    assert error.position == 42
    assert error.field == field
    assert "surrogate" in error.problem
    assert "record 42" in str(error)


def test_lone_surrogate_is_refused_by_the_stream_planner_too() -> None:
    planner = StreamPlanner(operation="update", id_property=None, chunk_size=10, trace_prefix="s")
    assert planner.feed(_good(0), 0) is None
    with pytest.raises(InvalidInputError) as info:
        planner.feed({"id": "1", "properties": {"city": f"K{LONE}ln"}}, 1)
    assert (info.value.position, info.value.field) == (1, "city")


@pytest.mark.parametrize(
    "text",
    ["Zoë Müller", "😀 paired emoji", "中文", "\U0010ffff", "\ud7ff\ue000", "plain", ""],
    ids=repr,
)
def test_valid_unicode_is_kept_and_encodes(text: str) -> None:
    record_id = text or "empty-value"
    plan = plan_chunks([{"id": record_id, "properties": {text or "p": text}}], operation="update")
    (item,) = plan.items
    assert item.input.properties == {text or "p": text}
    assert item.input.id == record_id
    # What planning accepts, JSON (orjson, as on the wire) can carry.
    body = orjson.dumps({"id": item.input.id, "properties": item.input.properties})
    assert orjson.loads(body)["properties"] == {text or "p": text}


@given(st.text(max_size=20))
def test_has_surrogate_agrees_with_utf8(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        encodable = False
    else:
        encodable = True
    assert has_surrogate(text) is not encodable
    if encodable:
        assert check_text(text, position=0, field="f", what="x") is text


def test_surrogate_message_says_where() -> None:
    with pytest.raises(InvalidInputError, match=r"U\+DC80 at index 3"):
        check_text("abc\udc80", position=5, field="id", what="id")


# --- integers too long to write (issue 12 item 15) -------------------------------------------


HUGE = 10**5000  # more digits than str() will write (sys.get_int_max_str_digits: 4300)


def test_huge_int_value_is_an_invalid_input() -> None:
    records: list[Any] = [_good(0), {"id": "1", "properties": {"amount": HUGE}}]
    error = _refused(records)
    assert (error.position, error.field) == (1, "amount")
    assert "digits" in error.problem
    assert isinstance(error, ValueError)


def test_huge_int_id_is_an_invalid_input() -> None:
    error = _refused([_good(0), _good(1), {"id": HUGE, "properties": {}}])
    assert (error.position, error.field) == (2, "id")


def test_int_at_the_limit_is_written() -> None:
    limit = sys.get_int_max_str_digits()
    value = 10 ** (limit - 1)  # exactly `limit` digits
    assert convert_value(value, position=0, name="p") == "1" + "0" * (limit - 1)


class _Level(enum.IntEnum):
    HIGH = 3

    def __str__(self) -> str:
        return "High"


def test_int_subclass_is_written_by_value() -> None:
    assert convert_value(_Level.HIGH, position=0, name="p") == "3"
    plan = plan_chunks([{"id": _Level.HIGH, "properties": {}}], operation="update")
    assert plan.items[0].input.id == "3"


def test_other_real_numbers_are_written_by_value() -> None:
    assert convert_value(Fraction(1, 4), position=0, name="p") == "0.25"
    with pytest.raises(InvalidInputError):
        convert_value(1 + 2j, position=0, name="p")


# --- records that are not an iterable (issue 12 item 15) -------------------------------------


@pytest.mark.parametrize("records", [None, 42, 1.5, object(), True])
def test_records_that_are_not_iterable_are_an_invalid_input(records: object) -> None:
    for check in (
        lambda: check_records_argument(records),
        lambda: plan_chunks(records, operation="update"),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidInputError, match="records must be an iterable") as info:
            check()
        assert info.value.position is None
        assert type(records).__name__ in str(info.value)


class _Stream:
    def __aiter__(self) -> Any:
        raise AssertionError("the check must not start iterating")


def test_iterables_and_async_iterables_pass_the_records_check() -> None:
    check_records_argument(_Stream())  # the streaming calls take async iterables
    check_records_argument(iter([]))
    check_records_argument([])
    check_records_argument(_good(i) for i in range(3))


# --- one datetime formatter ------------------------------------------------------------------


@given(
    st.datetimes(
        timezones=st.timezones(),
        min_value=dt.datetime(1000, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
    )
)
def test_property_datetimes_use_the_one_formatter(moment: dt.datetime) -> None:
    assert convert_value(moment, position=0, name="p") == format_datetime(moment)


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5))),
    ],
    ids=repr,
)
def test_datetime_out_of_range_in_utc_is_an_invalid_input(moment: dt.datetime) -> None:
    with pytest.raises(InvalidInputError) as info:
        convert_value(moment, position=4, name="closed_at")
    assert (info.value.position, info.value.field) == (4, "closed_at")
