"""FailedInput's facts as data (issue 11 item 4), attribution safety (issue 12 item 9), and
the pure helpers behind split order and duplicate coalescing (issue 12 item 8). No event loop.
"""

from __future__ import annotations

from asyncbatch import (
    ConnectionFailedError,
    LimiterUnavailableError,
    RateLimitError,
    SimplePublicObject,
    StandardError,
    ValidationError,
)
from asyncbatch._merge import ChunkOutcome
from asyncbatch._models import BatchResponse, ErrorDetail
from asyncbatch._plan import Chunk, coalesce_named, may_share_a_record

# The shared helpers, under the names these tests have always called them by.
from tests.unit._merging import merge_all as _merge
from tests.unit._merging import numbered_records as _records
from tests.unit._merging import plan_records as _plan


def test_a_207_error_is_final_with_hubspot_code_and_property() -> None:
    plan = _plan([*_records(1), {"id": "1", "properties": {}, "objectWriteTraceId": "mine"}])
    chunk = plan.chunks[0]
    first, second = chunk.items
    error = StandardError(
        category="VALIDATION_ERROR",
        message="Property values were not valid",
        context={"ids": ["1"]},
        errors=[ErrorDetail(message="x", code="INVALID_OPTION", context={"propertyName": ["lvl"]})],
    )
    response = BatchResponse(
        status="COMPLETE",
        results=[
            SimplePublicObject(id="0", object_write_trace_id=first.input.object_write_trace_id)
        ],
        errors=[error],
    )
    result = _merge(plan, [ChunkOutcome(chunk, response=response, status_code=207)])
    (failed,) = result.failed
    assert failed.positions == (1,)
    assert (failed.sent, failed.final, failed.stopped_run) == (True, True, False)
    assert (failed.category, failed.code, failed.property_name) == (
        "VALIDATION_ERROR",
        "INVALID_OPTION",
        "lvl",
    )
    assert failed.trace_id == "mine"  # the caller's own; an assigned one is not shown
    assert second.trace_assigned is False


def test_transport_failure_is_sent_and_transient() -> None:
    plan = _plan(_records(2))
    outcome = ChunkOutcome(plan.chunks[0], error=ConnectionFailedError("reset"))
    result = _merge(plan, [outcome])
    assert all(f.sent and not f.final and not f.stopped_run for f in result.failed)
    assert {f.category for f in result.failed} == {"TRANSPORT_ERROR"}
    assert all(f.trace_id is None for f in result.failed)


def test_a_whole_request_400_is_final_and_keeps_hubspot_details() -> None:
    plan = _plan(_records(1))
    body = {
        "category": "VALIDATION_ERROR",
        "message": "Property values were not valid",
        "errors": [{"message": "m", "code": "INVALID_INTEGER", "context": {"propertyName": ["n"]}}],
    }
    error = ValidationError("HTTP 400", status=400, body=body, category="VALIDATION_ERROR")
    result = _merge(plan, [ChunkOutcome(plan.chunks[0], error=error, status_code=400)])
    (failed,) = result.failed
    assert failed.final and failed.sent
    assert (failed.code, failed.property_name) == ("INVALID_INTEGER", "n")


def test_the_stop_and_what_it_left_unsent_are_marked() -> None:
    plan = _plan(_records(3), chunk_size=1)
    daily = RateLimitError("HTTP 429", policy="DAILY")
    outcomes = [
        ChunkOutcome(plan.chunks[0], error=daily, status_code=429),
        ChunkOutcome(plan.chunks[1], error=daily, sent=False),
    ]  # chunk 2: no outcome at all (the safety net)
    result = _merge(plan, outcomes, stop_error=daily)
    by_position = {f.position: f for f in result.failed}
    assert by_position[0].sent and by_position[0].stopped_run and not by_position[0].final
    assert not by_position[1].sent and by_position[1].stopped_run
    assert not by_position[2].sent and by_position[2].stopped_run
    assert by_position[2].category == "NOT_SENT"


def test_unsent_without_a_stop_is_not_the_runs_stop() -> None:
    plan = _plan(_records(1))
    error = LimiterUnavailableError("redis gone")
    result = _merge(plan, [ChunkOutcome(plan.chunks[0], error=error, sent=False)])
    (failed,) = result.failed
    assert not failed.sent and not failed.stopped_run
    assert failed.category == "RATE_LIMITER_UNAVAILABLE"


def test_trace_id_that_disagrees_with_the_key_is_not_trusted() -> None:
    # Issue 12 item 9: a result echoing input A's trace id but carrying B's id must not be
    # taken as A's answer.
    plan = _plan(_records(2))
    a, _ = plan.chunks[0].items
    lying = SimplePublicObject(id="1", object_write_trace_id=a.input.object_write_trace_id)
    response = BatchResponse(results=[lying])
    result = _merge(plan, [ChunkOutcome(plan.chunks[0], response=response)])
    assert result.result_positions == [(1,)]  # attributed by id to B
    assert [f.position for f in result.failed] == [0]
    assert result.failed[0].category == "MISSING_FROM_RESPONSE"
    assert not result.failed[0].final


def test_parts_that_may_name_one_record_must_go_in_order() -> None:
    records = [
        {"id": "AB-1", "properties": {"v": "1"}, "idProperty": "code"},
        {"id": "b-2", "properties": {}, "idProperty": "code"},
        {"id": " ab-1", "properties": {"v": "2"}, "idProperty": "code"},
        {"id": "c-3", "properties": {}, "idProperty": "code"},
    ]
    items = _plan(records).chunks[0].items
    first, second = Chunk(0, items[:2]), Chunk(0, items[2:])
    assert may_share_a_record([first, second])
    plain = _plan(_records(4)).chunks[0].items
    assert not may_share_a_record([Chunk(0, plain[:2]), Chunk(0, plain[2:])])


def test_email_keys_coalesce_without_regard_to_case() -> None:
    # Issue 13 item 4: HubSpot treats A@x.com and a@x.com as one contact.
    records = [
        {"id": "A@x.com", "properties": {"v": "1", "w": "k"}, "idProperty": "email"},
        {"id": " a@X.com ", "properties": {"v": "2"}, "idProperty": "email"},
        {"id": "AB-1", "properties": {}, "idProperty": "code"},
        {"id": "ab-1", "properties": {}, "idProperty": "code"},
    ]
    plan = _plan(records)
    assert plan.coalesced == 1
    first = plan.items[0]
    assert first.input.id == "A@x.com"  # as the first record spelt it
    assert first.positions == (0, 1)
    assert first.input.properties == {"v": "2", "w": "k"}
    assert [i.input.id for i in plan.items[1:]] == ["AB-1", "ab-1"]  # other keys: exact


def test_coalesce_named_merges_duplicates_later_wins() -> None:
    records = [
        {"id": "AB-1", "properties": {"v": "1", "w": "k"}, "idProperty": "code"},
        {"id": "b-2", "properties": {}, "idProperty": "code"},
        {"id": "ab-1", "properties": {"v": "2"}, "idProperty": "code"},
    ]
    plan = _plan(records)
    merged = coalesce_named(plan.chunks[0], ["ab-1", "AB-1"])
    assert merged is not None
    chunk, absorbed = merged
    assert absorbed == (2,)
    assert [i.input.id for i in chunk.items] == ["AB-1", "b-2"]
    assert chunk.items[0].positions == (0, 2)
    assert chunk.items[0].input.properties == {"v": "2", "w": "k"}
    assert coalesce_named(plan.chunks[0], ["b-2"]) is None
    # Merging the answer accounts for every position once.
    item = chunk.items[0]
    echo = [
        SimplePublicObject(id=i.input.id, object_write_trace_id=i.input.object_write_trace_id)
        for i in chunk.items
    ]
    outcomes = [
        ChunkOutcome(Chunk(0, ()), absorbed=absorbed),
        ChunkOutcome(chunk, response=BatchResponse(results=echo)),
    ]
    result = _merge(plan, outcomes)
    assert not result.failed
    assert sorted(p for ps in result.result_positions for p in ps) == [0, 1, 2]
    assert result.result_positions[0] == item.positions
