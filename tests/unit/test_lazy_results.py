"""Issue 19: an answer's results are checked as far as they account for inputs, and built into
``SimplePublicObject``s only when ``.results`` is read; the built objects are the ones an eager
reading gave, and an answer that cannot account for its inputs is still malformed at once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest

from asyncbatch import SimplePublicObject, SimplePublicUpsertObject
from asyncbatch._convert import structure
from asyncbatch._models import BatchResponse, Deferred
from asyncbatch._operations import UPDATE, UPSERT
from asyncbatch._protocol import decipher_response

STAMP = "2026-11-24T10:00:00.123Z"


def _answer(results: list[Any]) -> bytes:
    return orjson.dumps(
        {"status": "COMPLETE", "results": results, "startedAt": STAMP, "completedAt": STAMP}
    )


def _plain(n: int) -> dict[str, Any]:
    return {
        "id": str(n),
        "properties": {"course_code": f"c-{n}", "level": None},
        "createdAt": STAMP,
        "updatedAt": STAMP,
        "archived": False,
        "objectWriteTraceId": f"t-{n}",
        "new": n % 2 == 0,
    }


def test_results_are_built_on_first_read_and_equal_an_eager_reading() -> None:
    raw = [_plain(n) for n in range(3)]
    reply = decipher_response(200, {}, _answer(raw), operation=UPSERT)
    assert reply.response is not None
    assert isinstance(reply.response._results, Deferred)  # nothing built yet
    built = reply.response.results
    assert built == [structure(r, SimplePublicUpsertObject) for r in raw]
    assert built[0].created_at == dt.datetime(2026, 11, 24, 10, 0, 0, 123000, tzinfo=dt.UTC)
    assert reply.response.results is built  # built once, kept
    assert reply.response == BatchResponse(
        status="COMPLETE",
        results=built,
        num_errors=0,
        started_at=built[0].created_at,
        completed_at=built[0].created_at,
    )


def test_an_unusual_result_keeps_its_extra_fields_and_an_unreadable_stamp_is_dropped() -> None:
    history = {"level": [{"value": "beginner", "timestamp": STAMP}]}
    raw = [
        {"id": 7, "properties": {"n": 5}, "propertiesWithHistory": history},
        {"id": "8", "properties": {}, "createdAt": "not a time", "objectWriteTraceId": 3},
    ]
    reply = decipher_response(200, {}, _answer(raw), operation=UPDATE)
    assert reply.response is not None
    first, second = reply.response.results
    assert isinstance(first, SimplePublicObject)
    assert (first.id, first.properties) == ("7", {"n": "5"})
    assert first.properties_with_history is not None
    assert (second.id, second.created_at, second.object_write_trace_id) == ("8", None, None)


@pytest.mark.parametrize(
    "bad",
    [{"properties": {}}, {"id": None}, {"id": "1", "properties": {"a": ["x"]}}, "a string"],
)
def test_a_result_that_cannot_account_for_an_input_makes_the_answer_malformed(bad: Any) -> None:
    reply = decipher_response(200, {}, _answer([_plain(1), bad]), operation=UPSERT)
    assert reply.response is None
    assert reply.error is not None and reply.error.status == 200
