"""numpy and pandas scalars as property values and ids (issue 12 item 5): converted by value,
never by repr; missing values refused naming the record and the property. Pure: no event loop.

numpy and pandas are dev-only dependencies; without them this module is skipped.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncbatch import InvalidInputError
from asyncbatch._plan import convert_value, plan_chunks

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # numpy 2's repr is "np.float64(1.5)": that text was what got written.
        (np.float64(1.5), "1.5"),
        # ... and Decimal("np.float64(1e+20)") raised decimal.InvalidOperation.
        (np.float64(1e20), "100000000000000000000"),
        (np.float64(-2.5e-7), "-0.00000025"),
        (np.float32(0.5), "0.5"),
        (np.float16(2.0), "2.0"),
        (np.int64(-7), "-7"),
        (np.int8(5), "5"),
        (np.uint64(2**64 - 1), str(2**64 - 1)),
        (np.True_, "true"),
        (np.False_, "false"),
        (np.str_("plain"), "plain"),
        (
            pd.Timestamp("2024-05-01 14:30:00.123456", tz="Europe/Berlin"),
            "2024-05-01T12:30:00.123Z",
        ),
    ],
    ids=repr,
)
def test_numpy_and_pandas_scalars_by_value(value: object, expected: str) -> None:
    converted = convert_value(value, position=0, name="p")
    assert converted == expected
    assert type(converted) is str


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float64_converts_like_float(value: float) -> None:
    assert convert_value(np.float64(value), position=0, name="p") == convert_value(
        value, position=0, name="p"
    )


@given(st.integers(-(2**63), 2**63 - 1))
def test_int64_converts_like_int(value: int) -> None:
    assert convert_value(np.int64(value), position=0, name="p") == str(value)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (np.nan, "nan"),
        (np.float64("nan"), "nan"),
        (np.float32("inf"), "inf"),
        (pd.NA, "pandas.NA"),
        (pd.NaT, "pandas.NaT"),
        (pd.Timestamp("2024-05-01 14:30"), "naive datetime"),
        (np.datetime64("2024-05-01"), "unsupported value type"),
        (np.array([1.5, 2.5]), "unsupported value type"),
    ],
    ids=repr,
)
def test_missing_and_unsupported_values_name_record_and_property(value: object, words: str) -> None:
    records: list[Any] = [{"id": str(i), "properties": {"score": 1}} for i in range(5)]
    records.append({"id": "5", "properties": {"score": value}})
    with pytest.raises(InvalidInputError) as info:
        plan_chunks(records, operation="update")
    assert (info.value.position, info.value.field) == (5, "score")
    assert words in str(info.value)


def test_missing_values_are_not_written_as_empty_text() -> None:
    # "" clears the stored value in HubSpot; a missing value must not do that silently.
    for missing in (pd.NA, pd.NaT, np.nan):
        with pytest.raises(InvalidInputError, match="None to clear"):
            convert_value(missing, position=0, name="p")


def test_a_dataframe_row_plans() -> None:
    frame = pd.DataFrame(
        {
            "id": np.array([101, 102], dtype=np.int64),
            "price": np.array([9.5, 1e20]),
            "active": np.array([True, False]),
            "seen": pd.to_datetime(
                ["2024-05-01T10:00:00Z", "2024-05-02T00:00:00.5Z"], format="ISO8601"
            ),
        }
    )
    records = [
        {"id": row.id, "properties": {"price": row.price, "active": row.active, "seen": row.seen}}
        for row in frame.itertuples(index=False)
    ]
    plan = plan_chunks(records, operation="update")
    assert [item.input.id for item in plan.items] == ["101", "102"]
    assert [dict(item.input.properties) for item in plan.items] == [
        {"price": "9.5", "active": "true", "seen": "2024-05-01T10:00:00.000Z"},
        {"price": "100000000000000000000", "active": "false", "seen": "2024-05-02T00:00:00.500Z"},
    ]


def test_numpy_bool_is_not_an_id() -> None:
    with pytest.raises(InvalidInputError) as info:
        plan_chunks([{"id": np.True_, "properties": {}}], operation="update")
    assert info.value.field == "id"


def test_date_from_pandas_is_a_date() -> None:
    assert convert_value(pd.Timestamp("2024-02-29").date(), position=0, name="d") == "2024-02-29"
    assert isinstance(pd.Timestamp("2024-02-29").date(), dt.date)
