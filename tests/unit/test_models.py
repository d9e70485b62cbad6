"""The aggregate's HubSpot shape, timestamp parsing, and raise_for_errors. No event loop."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from asyncbatch import (
    AsyncBatchError,
    BatchFailedError,
    BatchInput,
    BatchResult,
    ErrorDetail,
    FailedInput,
    InputFailedError,
    RunStats,
    SimplePublicObject,
    SimplePublicUpsertObject,
    StandardError,
)
from asyncbatch._convert import format_datetime, parse_datetime, structure
from asyncbatch._models import BatchResponse

T_START = dt.datetime(2024, 5, 1, 12, 0, 0, 100000, tzinfo=dt.UTC)
T_END = dt.datetime(2024, 5, 1, 12, 0, 1, 250000, tzinfo=dt.UTC)
CREATED = dt.datetime(2019, 10, 30, 3, 30, 17, 883000, tzinfo=dt.UTC)

RESULT_KEYS = {"id", "properties", "createdAt", "updatedAt", "archived"}
TOP_KEYS = {"status", "results", "startedAt", "completedAt", "links", "errors", "numErrors"}


def _result(**kwargs: object) -> BatchResult:
    values: dict[str, object] = {
        "status": "COMPLETE",
        "results": [
            SimplePublicObject(
                id="512",
                properties={"name": "Ada", "empty": None},
                created_at=CREATED,
                updated_at=T_END,
            )
        ],
        "errors": [],
        "num_errors": 0,
        "started_at": T_START,
        "completed_at": T_END,
    }
    values.update(kwargs)
    return BatchResult(**values)  # type: ignore[arg-type]


def test_to_dict_update_shape() -> None:
    out = _result().to_dict()
    assert set(out) == TOP_KEYS
    assert out["status"] == "COMPLETE"
    assert out["startedAt"] == "2024-05-01T12:00:00.100Z"
    assert out["completedAt"] == "2024-05-01T12:00:01.250Z"
    assert out["numErrors"] == 0
    assert out["errors"] == []
    assert out["links"] == {}
    (result,) = out["results"]
    assert result == {
        "id": "512",
        "properties": {"name": "Ada", "empty": None},
        "createdAt": "2019-10-30T03:30:17.883Z",
        "updatedAt": "2024-05-01T12:00:01.250Z",
        "archived": False,
    }
    json.dumps(out)  # plain JSON types only


def test_to_dict_upsert_shape_and_optional_fields() -> None:
    upserted = SimplePublicUpsertObject(
        id="9",
        properties={},
        created_at=CREATED,
        updated_at=CREATED,
        archived=True,
        archived_at=T_END,
        object_write_trace_id="ab-3",
        url="https://app.hubspot.com/x",
        new=True,
    )
    out = _result(results=[upserted], requested_at=T_START, links={"self": "u"}).to_dict()
    assert set(out) == TOP_KEYS | {"requestedAt"}
    assert out["requestedAt"] == "2024-05-01T12:00:00.100Z"
    assert out["links"] == {"self": "u"}
    (result,) = out["results"]
    assert result == {
        "id": "9",
        "properties": {},
        "createdAt": "2019-10-30T03:30:17.883Z",
        "updatedAt": "2019-10-30T03:30:17.883Z",
        "archived": True,
        "archivedAt": "2024-05-01T12:00:01.250Z",
        "objectWriteTraceId": "ab-3",
        "url": "https://app.hubspot.com/x",
        "new": True,
    }


def test_upsert_result_not_new_still_says_new() -> None:
    upserted = SimplePublicUpsertObject(id="9", created_at=CREATED, updated_at=CREATED)
    (result,) = _result(results=[upserted]).to_dict()["results"]
    assert result["new"] is False
    assert set(result) == RESULT_KEYS | {"new"}


def test_to_dict_errors_shape() -> None:
    error = StandardError(
        status="error",
        category="VALIDATION_ERROR",
        message="bad",
        context={"ids": ["1"]},
        errors=[ErrorDetail(message="bad date", in_="closedate", code="INVALID_DATE")],
    )
    out = _result(errors=[error], num_errors=1).to_dict()
    assert out["numErrors"] == 1
    assert out["errors"] == [
        {
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": "bad",
            "context": {"ids": ["1"]},
            "errors": [{"message": "bad date", "code": "INVALID_DATE", "in": "closedate"}],
            "links": {},
        }
    ]


def test_to_dict_non_utc_timestamps_become_z() -> None:
    plus2 = dt.timezone(dt.timedelta(hours=2))
    out = _result(started_at=dt.datetime(2024, 5, 1, 14, 0, tzinfo=plus2)).to_dict()
    assert out["startedAt"] == "2024-05-01T12:00:00.000Z"


def test_round_trip_wire_structure_to_dict() -> None:
    wire: dict[str, Any] = {
        "status": "COMPLETE",
        "results": [
            {
                "id": "1",
                "properties": {"a": "x", "b": None},
                "createdAt": "2019-10-30T03:30:17.883Z",
                "updatedAt": "2019-12-07T16:50:06.678Z",
                "archived": False,
                "objectWriteTraceId": "ab-0",
                "new": True,
            }
        ],
        "errors": [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "gone",
                "context": {"ids": ["2"]},
                "errors": [],
                "links": {},
                "subCategory": "crm.x",
            }
        ],
        "numErrors": 1,
        "requestedAt": "2024-05-01T12:00:00.000Z",
        "startedAt": "2024-05-01T12:00:00.100Z",
        "completedAt": "2024-05-01T12:00:00.300Z",
        "links": {"self": "u"},
    }
    head = {k: v for k, v in wire.items() if k not in ("results", "errors")}
    response = structure(head, BatchResponse)
    results = [structure(r, SimplePublicUpsertObject) for r in wire["results"]]
    errors = [structure(e, StandardError) for e in wire["errors"]]
    aggregate = BatchResult(
        status=response.status,
        results=results,  # type: ignore[arg-type]
        errors=errors,
        num_errors=response.num_errors or 0,
        requested_at=response.requested_at,
        started_at=response.started_at,  # type: ignore[arg-type]
        completed_at=response.completed_at,  # type: ignore[arg-type]
        links=response.links or {},
    )
    assert aggregate.to_dict() == wire


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2019-10-30T03:30:17.883Z", dt.datetime(2019, 10, 30, 3, 30, 17, 883000, tzinfo=dt.UTC)),
        (
            "2019-10-30T05:30:17.883+02:00",
            dt.datetime(2019, 10, 30, 3, 30, 17, 883000, tzinfo=dt.UTC),
        ),
        ("2019-10-30T03:30:17", dt.datetime(2019, 10, 30, 3, 30, 17, tzinfo=dt.UTC)),
        (1572406217883, dt.datetime(2019, 10, 30, 3, 30, 17, 883000, tzinfo=dt.UTC)),
        (0, dt.datetime(1970, 1, 1, tzinfo=dt.UTC)),
    ],
)
def test_parse_datetime(value: object, expected: dt.datetime) -> None:
    parsed = parse_datetime(value)
    assert parsed == expected
    assert parsed.utcoffset() is not None


def test_parse_keeps_the_offset_as_the_same_instant() -> None:
    parsed = parse_datetime("2019-10-30T05:30:17.883+02:00")
    assert format_datetime(parsed) == "2019-10-30T03:30:17.883Z"


def test_naive_is_utc() -> None:
    assert parse_datetime("2024-01-01T00:00:00").tzinfo is dt.UTC


@pytest.mark.parametrize("value", [True, None, [], "not a date"])
def test_parse_datetime_refuses(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        parse_datetime(value)


def test_structure_result_timestamps_from_wire() -> None:
    result = structure(
        {"id": "1", "createdAt": "2019-10-30T05:30:17.883+02:00", "updatedAt": 1572406217883},
        SimplePublicObject,
    )
    assert result.created_at == result.updated_at == CREATED


# --- raise_for_errors ------------------------------------------------------------------------


def _failed(positions: tuple[int, ...], record_id: str, reason: str) -> FailedInput:
    return FailedInput(
        positions=positions,
        input=BatchInput(id=record_id, properties={}),
        reason=reason,
        error=StandardError(category="VALIDATION_ERROR", message=reason),
        status_code=207,
    )


def test_raise_for_errors_noop_when_nothing_failed() -> None:
    result = _result()
    assert result.ok
    result.raise_for_errors()


def test_raise_for_errors_group() -> None:
    failed = [_failed((1, 4), "k1", "VALIDATION_ERROR: bad"), _failed((2,), "k2", "NOT_SENT: x")]
    result = _result(failed=failed, stats=RunStats(inputs=5))
    assert not result.ok
    with pytest.raises(BatchFailedError) as info:
        result.raise_for_errors()
    group = info.value
    assert isinstance(group, ExceptionGroup)
    assert isinstance(group, AsyncBatchError)
    assert "2 of 5" in str(group)
    assert len(group.exceptions) == 2
    first, second = group.exceptions
    assert isinstance(first, InputFailedError)
    assert isinstance(second, InputFailedError)
    assert first.positions == (1, 4)
    assert first.record_id == "k1"
    assert first.reason == "VALIDATION_ERROR: bad"
    assert "1, 4" in str(first) and "k1" in str(first) and "bad" in str(first)
    assert second.positions == (2,)
    assert failed[0].position == 1


def test_batch_failed_error_split_and_except_star() -> None:
    group = BatchFailedError(
        "x", [InputFailedError((0,), "a", "r1"), InputFailedError((1,), "b", "r2")]
    )
    match, rest = group.split(lambda e: isinstance(e, InputFailedError) and e.record_id == "a")
    assert isinstance(match, BatchFailedError)
    assert isinstance(rest, BatchFailedError)
    assert [getattr(e, "record_id", None) for e in match.exceptions] == ["a"]
    caught: list[BaseException] = []
    try:
        raise group
    except* InputFailedError as eg:
        caught.extend(eg.exceptions)
    assert len(caught) == 2
