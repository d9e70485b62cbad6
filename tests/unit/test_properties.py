"""Hypothesis properties of planning, and of planning then merging. No event loop."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from asyncbatch import BatchInput, ValidationError
from asyncbatch._merge import ChunkOutcome, merge_outcomes
from asyncbatch._models import BatchResponse, RunStats, SimplePublicObject
from asyncbatch._plan import convert_value, plan_chunks
from tests import strategies as abst

PROPS = settings(max_examples=100, deadline=None)
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _key(record: Any, id_property: str | None) -> tuple[str | None, str]:
    if isinstance(record, BatchInput):
        record_id, idp = record.id, record.id_property
    else:
        record_id, idp = record["id"], record.get("idProperty")
    return (idp if idp is not None else id_property, str(record_id))


def _props(record: Any) -> dict[str, Any]:
    return dict(record.properties if isinstance(record, BatchInput) else record["properties"])


def _completed(outcome: ChunkOutcome) -> bool:
    if outcome.response is not None:
        return outcome.response.status == "COMPLETE"
    return isinstance(outcome.error, ValidationError) and outcome.sent


def _plan(records: list[Any], chunk_size: int, id_property: str | None) -> Any:
    return plan_chunks(records, operation="update", id_property=id_property, chunk_size=chunk_size)


@PROPS
@given(
    records=abst.record_lists(),
    chunk_size=abst.chunk_sizes,
    id_property=st.sampled_from([None, "email"]),
)
def test_plan_properties(records: list[Any], chunk_size: int, id_property: str | None) -> None:
    plan = _plan(records, chunk_size, id_property)

    # (1) no chunk exceeds chunk_size, and a chunk names records one way only
    for chunk in plan.chunks:
        assert 1 <= len(chunk.items) <= chunk_size
        assert len({item.input.id_property for item in chunk.items}) == 1

    # (2) no chunk names one (idProperty, id) twice -- nor does the whole plan
    keys = [(item.input.id_property, item.input.id) for item in plan.items]
    assert len(keys) == len(set(keys))
    for chunk in plan.chunks:
        chunk_keys = [(i.input.id_property, i.input.id) for i in chunk.items]
        assert len(chunk_keys) == len(set(chunk_keys))

    # (3) every position appears in exactly one item; items in order of first appearance
    positions = [p for item in plan.items for p in item.positions]
    assert sorted(positions) == list(range(len(records)))
    assert [item.index for item in plan.items] == list(range(len(plan.items)))
    firsts = [item.positions[0] for item in plan.items]
    assert firsts == sorted(firsts)
    for item in plan.items:
        assert list(item.positions) == sorted(item.positions)
    assert plan.inputs == len(records)
    assert plan.coalesced == len(records) - len(plan.items)

    # every item is in exactly one chunk
    in_chunks = Counter(item.index for chunk in plan.chunks for item in chunk.items)
    assert in_chunks == Counter(range(len(plan.items)))

    # the items are what a reference coalescing would give: key and merged properties
    expected: dict[tuple[str | None, str], dict[str, str]] = {}
    for position, record in enumerate(records):
        converted = {
            name: convert_value(value, position=position, name=name)
            for name, value in _props(record).items()
        }
        expected.setdefault(_key(record, id_property), {}).update(converted)
    assert keys == list(expected)
    assert [dict(item.input.properties) for item in plan.items] == list(expected.values())

    # trace ids: present and unique
    traces = [item.input.object_write_trace_id for item in plan.items]
    assert None not in traces
    assert len(set(traces)) == len(traces)


@settings(max_examples=200, deadline=None)
@given(
    records=abst.record_lists(),
    chunk_size=abst.chunk_sizes,
    id_property=st.sampled_from([None, "ext_key"]),
    data=st.data(),
)
def test_plan_then_merge_accounts_for_every_input(
    records: list[Any], chunk_size: int, id_property: str | None, data: st.DataObject
) -> None:
    plan = _plan(records, chunk_size, id_property)
    outcomes, fates = data.draw(abst.plan_outcomes(plan))
    written = {index for index, fate in fates.items() if fate == "written"}
    result = merge_outcomes(plan.items, outcomes, stats=RunStats(), started_at=T0, completed_at=T0)

    # every input position exactly once, across written results and failures
    seen = [p for positions in result.result_positions for p in positions]
    seen += [p for failed in result.failed for p in failed.positions]
    assert sorted(seen) == list(range(len(records)))

    # exactly the inputs the fabricated answers wrote are written (and no extras)
    by_index = {item.index: item for item in plan.items}
    index_of_first = {item.positions[0]: item.index for item in plan.items}
    result_indexes = [index_of_first[positions[0]] for positions in result.result_positions]
    assert set(result_indexes) == written
    assert len(result.results) == len(result.result_positions) == len(written)

    # results follow input order, and each result answers its input
    assert result_indexes == sorted(result_indexes)
    for index, answer in zip(result_indexes, result.results, strict=True):
        item = by_index[index].input
        if answer.object_write_trace_id is not None:
            assert answer.object_write_trace_id == item.object_write_trace_id
        else:
            assert item.id_property is None
            assert answer.id == item.id
    assert [f.positions[0] for f in result.failed] == sorted(f.positions[0] for f in result.failed)

    # errors counted at least once per distinct cause, and every failure has a reason
    causes = {id(failed.error) for failed in result.failed}
    assert result.num_errors >= len(causes)
    assert all(failed.reason for failed in result.failed)

    # each failure carries the cause the answers gave it
    for failed in result.failed:
        fate = fates[index_of_first[failed.positions[0]]]
        category = failed.error.category
        if fate == "rejected":
            assert category == "VALIDATION_ERROR"
            assert failed.error.message.startswith("bad input")
        elif fate == "missing":
            assert category == "MISSING_FROM_RESPONSE"
        elif fate == "not_sent":
            assert category == "NOT_SENT"
        else:
            assert fate == "whole"
            assert failed.input.id in failed.error.context["ids"]
            assert category not in ("MISSING_FROM_RESPONSE", "NOT_SENT")

    # COMPLETE exactly when every chunk completed: none dropped, every answer COMPLETE, and
    # no chunk failed whole except on a sent 4xx refusal (HubSpot's definitive answer).
    answered = {o.chunk.number: o for o in outcomes}
    all_complete = all(
        chunk.number in answered and _completed(answered[chunk.number]) for chunk in plan.chunks
    )
    assert (result.status == "COMPLETE") == all_complete
    assert result.ok == (all_complete and not result.failed)


def test_duplicate_result_is_kept_as_extra_not_double_counted() -> None:
    plan = plan_chunks([{"id": "1", "properties": {}}], operation="update")
    (chunk,) = plan.chunks
    trace = chunk.items[0].input.object_write_trace_id
    answer = SimplePublicObject(id="1", object_write_trace_id=trace)
    outcome = ChunkOutcome(chunk=chunk, response=BatchResponse(results=[answer, answer]))
    result = merge_outcomes(plan.items, [outcome], stats=RunStats(), started_at=T0, completed_at=T0)
    assert result.result_positions == [(0,), ()]
    assert result.failed == []
