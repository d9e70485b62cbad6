"""Merging chunk outcomes into one BatchResult: targeted cases. No event loop."""

from __future__ import annotations

import datetime as dt
from typing import Any

from asyncbatch import (
    AsyncBatchError,
    ConnectionFailedError,
    RateLimitError,
    ServerError,
    SimplePublicObject,
    StandardError,
)
from asyncbatch._merge import ChunkOutcome
from asyncbatch._models import BatchResponse
from asyncbatch._plan import Chunk

# The shared helpers, under the names these tests have always called them by.
from tests.unit._merging import T0
from tests.unit._merging import merge_all as _merge
from tests.unit._merging import numbered_records as _records
from tests.unit._merging import plan_records as _plan


def _echo(chunk: Chunk, **kwargs: Any) -> BatchResponse:
    results = [
        SimplePublicObject(id=item.input.id, object_write_trace_id=item.input.object_write_trace_id)
        for item in reversed(chunk.items)
    ]
    return BatchResponse(results=results, **kwargs)


def test_all_written_in_input_order_across_chunks() -> None:
    plan = _plan(_records(5), chunk_size=2)
    outcomes = [ChunkOutcome(chunk=c, response=_echo(c)) for c in reversed(plan.chunks)]
    result = _merge(plan, outcomes)
    assert [r.id for r in result.results] == ["0", "1", "2", "3", "4"]
    assert result.result_positions == [(0,), (1,), (2,), (3,), (4,)]
    assert result.status == "COMPLETE"
    assert result.ok
    assert result.num_errors == 0
    assert result.errors == []


def test_match_by_id_property_value_when_no_trace_is_echoed() -> None:
    plan = _plan(
        [{"id": "a@x.io", "properties": {}}, {"id": "b@x.io", "properties": {}}],
        operation="upsert",
        id_property="email",
    )
    (chunk,) = plan.chunks
    response = BatchResponse(
        results=[
            SimplePublicObject(id="902", properties={"email": "b@x.io"}),
            SimplePublicObject(id="901", properties={"email": "a@x.io"}),
        ]
    )
    result = _merge(plan, [ChunkOutcome(chunk=chunk, response=response)])
    assert [r.id for r in result.results] == ["901", "902"]
    assert result.failed == []


def test_207_errors_map_by_trace_and_by_ids() -> None:
    plan = _plan(_records(4))
    (chunk,) = plan.chunks
    items = chunk.items
    errors = [
        StandardError(
            category="VALIDATION_ERROR",
            message="bad n",
            context={"objectWriteTraceId": [items[1].input.object_write_trace_id or ""]},
        ),
        StandardError(category="OBJECT_NOT_FOUND", message="gone", context={"ids": ["3"]}),
    ]
    response = BatchResponse(
        results=[SimplePublicObject(id="0"), SimplePublicObject(id="2")],
        errors=errors,
        num_errors=2,
    )
    result = _merge(plan, [ChunkOutcome(chunk=chunk, response=response, status_code=207)])
    assert result.result_positions == [(0,), (2,)]
    assert [(f.positions, f.reason, f.status_code) for f in result.failed] == [
        ((1,), "VALIDATION_ERROR: bad n", 207),
        ((3,), "OBJECT_NOT_FOUND: gone", 207),
    ]
    assert result.num_errors == 2
    assert result.errors == errors
    assert result.status == "COMPLETE"
    assert not result.ok


def test_whole_chunk_failure_synthesises_one_error_naming_every_input() -> None:
    plan = _plan(_records(3))
    (chunk,) = plan.chunks
    error = ServerError("HTTP 503", status=503)
    result = _merge(plan, [ChunkOutcome(chunk=chunk, error=error, status_code=503)])
    assert result.status == "CANCELED"
    assert result.num_errors == 1
    (synth,) = result.errors
    assert synth.status == "503"
    assert synth.context["ids"] == ["0", "1", "2"]
    assert len(synth.context["objectWriteTraceId"]) == 3
    assert [f.positions for f in result.failed] == [(0,), (1,), (2,)]
    assert all(f.error is synth and f.status_code == 503 for f in result.failed)


def test_unsent_chunk_says_not_sent() -> None:
    plan = _plan(_records(1))
    (chunk,) = plan.chunks
    error = RateLimitError("HTTP 429", policy="DAILY")
    result = _merge(plan, [ChunkOutcome(chunk=chunk, error=error, sent=False)])
    assert "not sent" in result.failed[0].reason
    assert "not sent" in result.errors[0].message


def test_transport_failure_category() -> None:
    plan = _plan(_records(1))
    (chunk,) = plan.chunks
    outcome = ChunkOutcome(chunk=chunk, error=ConnectionFailedError("reset"))
    assert _merge(plan, [outcome]).errors[0].category == "TRANSPORT_ERROR"


def test_missing_outcome_is_not_sent_and_canceled() -> None:
    plan = _plan(_records(3), chunk_size=2)
    first = plan.chunks[0]
    result = _merge(plan, [ChunkOutcome(chunk=first, response=_echo(first))])
    assert result.result_positions == [(0,), (1,)]
    assert [f.positions for f in result.failed] == [(2,)]
    assert result.failed[0].error.category == "NOT_SENT"
    assert result.status == "CANCELED"


def test_result_omitted_from_answer_is_reported() -> None:
    plan = _plan(_records(2))
    (chunk,) = plan.chunks
    response = BatchResponse(results=[SimplePublicObject(id="1")])
    result = _merge(plan, [ChunkOutcome(chunk=chunk, response=response)])
    assert [f.positions for f in result.failed] == [(0,)]
    assert result.failed[0].error.category == "MISSING_FROM_RESPONSE"
    assert result.num_errors == 1


def test_a_later_success_for_a_split_part_wins_over_an_earlier_failure() -> None:
    plan = _plan(_records(2))
    (chunk,) = plan.chunks
    part = Chunk(number=chunk.number, items=chunk.items[:1])
    outcomes = [
        ChunkOutcome(chunk=chunk, response=BatchResponse(results=[SimplePublicObject(id="1")])),
        ChunkOutcome(chunk=part, response=_echo(part)),
    ]
    result = _merge(plan, outcomes)
    assert result.result_positions == [(0,), (1,)]
    assert result.failed == []


def test_timestamps_earliest_start_latest_completion() -> None:
    plan = _plan(_records(2), chunk_size=1)
    a, b = plan.chunks
    t = [T0 + dt.timedelta(seconds=s) for s in range(6)]
    outcomes = [
        ChunkOutcome(
            chunk=a, response=_echo(a, requested_at=t[1], started_at=t[2], completed_at=t[3])
        ),
        ChunkOutcome(
            chunk=b, response=_echo(b, requested_at=t[0], started_at=t[4], completed_at=t[5])
        ),
    ]
    result = _merge(plan, outcomes)
    assert (result.requested_at, result.started_at, result.completed_at) == (t[0], t[2], t[5])


def test_status_processing_wins_over_complete() -> None:
    plan = _plan(_records(2), chunk_size=1)
    a, b = plan.chunks
    outcomes = [
        ChunkOutcome(chunk=a, response=_echo(a)),
        ChunkOutcome(chunk=b, response=_echo(b, status="PROCESSING")),
    ]
    assert _merge(plan, outcomes).status == "PROCESSING"


def test_canceled_flag_and_empty_run() -> None:
    empty = _plan([])
    assert _merge(empty, []).status == "COMPLETE"
    assert _merge(empty, []).started_at == T0
    plan = _plan(_records(1))
    (chunk,) = plan.chunks
    assert _merge(
        plan, [ChunkOutcome(chunk=chunk, response=_echo(chunk))], stop_error=AsyncBatchError("x")
    ).status == ("CANCELED")


def test_coalesced_input_reports_all_its_positions() -> None:
    plan = _plan(
        [{"id": "7", "properties": {}}, {"id": "8", "properties": {}}, {"id": 7, "properties": {}}]
    )
    (chunk,) = plan.chunks
    result = _merge(plan, [ChunkOutcome(chunk=chunk, response=_echo(chunk))])
    assert result.result_positions == [(0, 2), (1,)]


def test_distinct_records_sharing_a_caller_trace_id() -> None:
    plan = _plan(
        [
            {"id": "1", "properties": {}, "objectWriteTraceId": "t"},
            {"id": "2", "properties": {}, "objectWriteTraceId": "t"},
        ]
    )
    (chunk,) = plan.chunks
    response = BatchResponse(
        results=[
            SimplePublicObject(id="1", object_write_trace_id="t"),
            SimplePublicObject(id="2", object_write_trace_id="t"),
        ]
    )
    result = _merge(plan, [ChunkOutcome(chunk=chunk, response=response)])
    # Both were written, so both must be reported written (or the plan must refuse them).
    assert result.failed == []
    assert result.result_positions == [(0,), (1,)]
