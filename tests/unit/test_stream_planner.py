"""StreamPlanner against plan_chunks: what the streaming calls send versus the whole-list calls.
Pure: no event loop.

The two plan the same records differently on purpose: ``plan_chunks`` sees every record before
cutting, so it coalesces a key's records wherever they are; ``StreamPlanner`` holds at most one
open chunk per id property and sends it when it fills, so a key seen again after its chunk left
is planned again, in a later chunk. What holds, tested below:

- **Always** (any records, any chunk size): every position is in exactly one item; no chunk
  names one key twice or mixes id properties or holds more than ``chunk_size`` items; chunk
  numbers and item indexes count up from 0 in the order chunks are emitted; assigned trace ids
  are ``{prefix}-{index}`` and unique; caller trace ids are kept; and writing the chunks in the
  order emitted leaves every record as writing the records one by one would (and as
  ``plan_chunks`` would).
- **Equal plans** when every record fits in one open chunk per id property: for each id
  property, at most ``chunk_size`` distinct keys, and none of its records after the one that
  brings the count to ``chunk_size`` (that record fills and sends the chunk). Then the chunks
  are ``plan_chunks``' chunks item by item: the same chunk numbers and lengths, and per item the
  same positions, id, properties, id property, and trace id (a caller's the same; an assigned
  one ``{prefix}-{index}`` on both sides, with each side's own prefix). Only the index may
  differ: ``plan_chunks`` numbers distinct records in the order they first came,
  ``StreamPlanner`` in the order its chunks left, so records of one id property interleaved with
  another's are numbered differently (both number 0..n-1).
"""

from __future__ import annotations

from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from asyncbatch import BatchInput
from asyncbatch._plan import Chunk, Key, PlannedInput, StreamPlanner, plan_chunks, record_key
from tests.strategies import chunk_sizes, record_lists

call_id_properties = st.sampled_from([None, "email"])


def _stream(
    records: list[Any], *, chunk_size: int, id_property: str | None, prefix: str = "st"
) -> tuple[list[Chunk], list[int], StreamPlanner]:
    """Feed ``records``; return every chunk in emission order and the positions after which
    ``feed`` returned one."""
    planner = StreamPlanner(
        operation="update", id_property=id_property, chunk_size=chunk_size, trace_prefix=prefix
    )
    chunks: list[Chunk] = []
    emitted_at: list[int] = []
    for position, record in enumerate(records):
        chunk = planner.feed(record, position)
        if chunk is not None:
            chunks.append(chunk)
            emitted_at.append(position)
    chunks.extend(planner.flush())
    return chunks, emitted_at, planner


def _items(chunks: list[Chunk]) -> list[PlannedInput]:
    return [item for chunk in chunks for item in chunk.items]


def _keys_by_position(records: list[Any], id_property: str | None) -> list[Key]:
    """Each record's key as planning normalises it (int ids as text, the call's id property)."""
    plan = plan_chunks(records, operation="update", id_property=id_property)
    keys: list[Key] = [("", "")] * len(records)
    for item in plan.items:
        for position in item.positions:
            keys[position] = record_key(item.input)
    return keys


def _fits(keys: list[Key], chunk_size: int) -> bool:
    """Every record fits in one open chunk per id property (see the module docstring)."""
    for id_property in {key[0] for key in keys}:
        seen: set[Key] = set()
        for key in (key for key in keys if key[0] == id_property):
            if len(seen) == chunk_size:
                return False  # a record after the chunk filled and left
            seen.add(key)
    return True


def _smallest_fitting_chunk_size(keys: list[Key]) -> int:
    size = 1
    while not _fits(keys, size):
        size += 1
    return size


def _caller_trace(record: Any) -> str | None:
    if isinstance(record, BatchInput):
        return record.object_write_trace_id
    trace: str | None = record.get("objectWriteTraceId")
    return trace


def _apply(chunks: list[Chunk]) -> dict[Key, dict[str, str]]:
    state: dict[Key, dict[str, str]] = {}
    for chunk in chunks:
        for item in chunk.items:
            state.setdefault(record_key(item.input), {}).update(item.input.properties)
    return state


@given(records=record_lists(), chunk_size=chunk_sizes, id_property=call_id_properties)
def test_stream_planner_accounts_for_every_position_once(
    records: list[Any], chunk_size: int, id_property: str | None
) -> None:
    chunks, emitted_at, planner = _stream(records, chunk_size=chunk_size, id_property=id_property)
    items = _items(chunks)

    positions = sorted(p for item in items for p in item.positions)
    assert positions == list(range(len(records)))
    assert planner.read == len(records)
    assert planner.coalesced == len(records) - len(items)

    for chunk in chunks:
        keys = [record_key(item.input) for item in chunk.items]
        assert len(keys) == len(set(keys)), "one key twice in a chunk"
        assert 1 <= len(chunk.items) <= chunk_size
        assert len({item.input.id_property for item in chunk.items}) == 1
        for item in chunk.items:
            assert list(item.positions) == sorted(item.positions)
    # Only a chunk that filled is sent before the end, and it is full.
    assert all(len(chunk.items) == chunk_size for chunk in chunks[: len(emitted_at)])

    assert [chunk.number for chunk in chunks] == list(range(len(chunks)))
    assert [item.index for item in items] == list(range(len(items)))
    traces = [item.input.object_write_trace_id for item in items]
    assert len(set(traces)) == len(traces)
    for item in items:
        # The last caller trace id among the item's records wins; none given: one is assigned.
        given_traces = [_caller_trace(records[p]) for p in item.positions]
        expected = next((t for t in reversed(given_traces) if t is not None), None)
        assert item.trace_assigned is (expected is None)
        if expected is None:
            assert item.input.object_write_trace_id == f"st-{item.index}"
        else:
            assert item.input.object_write_trace_id == expected


@given(records=record_lists(), chunk_size=chunk_sizes, id_property=call_id_properties)
def test_chunks_in_emission_order_write_what_one_by_one_writes_would(
    records: list[Any], chunk_size: int, id_property: str | None
) -> None:
    chunks, _, _ = _stream(records, chunk_size=chunk_size, id_property=id_property)
    keys = _keys_by_position(records, id_property)

    # One record at a time, each converted on its own: the meaning of "later properties win".
    one_by_one: dict[Key, dict[str, str]] = {}
    for position, record in enumerate(records):
        (single,) = plan_chunks([record], operation="update", id_property=id_property).items
        assert record_key(single.input) == keys[position]
        one_by_one.setdefault(keys[position], {}).update(single.input.properties)

    assert _apply(chunks) == one_by_one
    whole = plan_chunks(records, operation="update", id_property=id_property, chunk_size=chunk_size)
    assert _apply(list(whole.chunks)) == one_by_one

    # A key planned twice went out in two chunks, and the later chunk holds later positions.
    first_chunk_of: dict[Key, tuple[int, int]] = {}
    for chunk in chunks:
        for item in chunk.items:
            key = record_key(item.input)
            if key in first_chunk_of:
                earlier_chunk, earlier_last = first_chunk_of[key]
                assert chunk.number > earlier_chunk
                assert min(item.positions) > earlier_last
            first_chunk_of[key] = (chunk.number, max(item.positions))


@st.composite
def fitting_cases(draw: st.DrawFn) -> tuple[list[Any], int, str | None]:
    """Records and a chunk size with which every record fits in one open chunk per id property,
    often exactly at the boundary (the last new key of an id property fills its chunk)."""
    records = draw(record_lists(max_size=30))
    id_property = draw(call_id_properties)
    smallest = _smallest_fitting_chunk_size(_keys_by_position(records, id_property))
    chunk_size = draw(st.integers(smallest, min(smallest + 2, 100)))
    return records, chunk_size, id_property


@given(case=fitting_cases())
def test_stream_planner_equals_plan_chunks_when_every_record_fits(
    case: tuple[list[Any], int, str | None],
) -> None:
    records, chunk_size, id_property = case
    keys = _keys_by_position(records, id_property)
    assume(_fits(keys, chunk_size))  # by construction; says what the equivalence needs

    streamed, _, planner = _stream(
        records, chunk_size=chunk_size, id_property=id_property, prefix="st"
    )
    plan = plan_chunks(
        records,
        operation="update",
        id_property=id_property,
        chunk_size=chunk_size,
        trace_prefix="pc",
    )

    assert planner.coalesced == plan.coalesced
    assert [chunk.number for chunk in streamed] == [chunk.number for chunk in plan.chunks]
    assert [len(c.items) for c in streamed] == [len(c.items) for c in plan.chunks]
    for ours, theirs in zip(_items(streamed), _items(list(plan.chunks)), strict=True):
        assert ours.positions == theirs.positions
        assert ours.input.id == theirs.input.id
        assert ours.input.properties == theirs.input.properties
        assert ours.input.id_property == theirs.input.id_property
        assert ours.trace_assigned == theirs.trace_assigned
        if ours.trace_assigned:
            # The same modulo the prefix: each side's own prefix and its own index.
            assert ours.input.object_write_trace_id == f"st-{ours.index}"
            assert theirs.input.object_write_trace_id == f"pc-{theirs.index}"
        else:
            assert ours.input.object_write_trace_id == theirs.input.object_write_trace_id
    assert sorted(item.index for item in _items(streamed)) == sorted(
        item.index for item in plan.items
    )


def test_fits_boundary_examples() -> None:
    # The helper states the condition; pin it on hand-made cases.
    a = ("email", "a")
    b = ("email", "b")
    n = (None, "1")
    assert _fits([a, b], 2)
    assert not _fits([a, b, a], 2)  # a comes back after the chunk of {a, b} left
    assert _fits([a, b, a], 3)
    assert _fits([a, n, b], 2)  # another id property's record between does not matter
    assert not _fits([a, b, n, n, a], 2)
    assert _smallest_fitting_chunk_size([a, b, a]) == 3


def test_interleaved_id_properties_differ_only_in_index() -> None:
    records = [
        {"id": "a", "properties": {"x": "1"}, "idProperty": "email"},
        {"id": "1", "properties": {"x": "2"}},
        {"id": "b", "properties": {"x": "3"}, "idProperty": "email"},
    ]
    streamed, _, _ = _stream(records, chunk_size=2, id_property=None)
    plan = plan_chunks(records, operation="update", chunk_size=2)
    assert [[i.positions for i in c.items] for c in streamed] == [[(0,), (2,)], [(1,)]]
    assert [[i.positions for i in c.items] for c in plan.chunks] == [[(0,), (2,)], [(1,)]]
    assert [i.index for i in _items(streamed)] == [0, 1, 2]
    assert [i.index for i in _items(list(plan.chunks))] == [0, 2, 1]


def test_key_after_its_chunk_left_is_planned_again() -> None:
    records = [{"id": k, "properties": {"v": str(p)}} for p, k in enumerate("abab")]
    streamed, emitted_at, _ = _stream(records, chunk_size=2, id_property=None)
    assert emitted_at == [1, 3]
    assert [[(i.input.id, i.positions) for i in c.items] for c in streamed] == [
        [("a", (0,)), ("b", (1,))],
        [("a", (2,)), ("b", (3,))],
    ]
    plan = plan_chunks(records, operation="update", chunk_size=2)
    assert [(i.input.id, i.positions) for i in plan.items] == [("a", (0, 2)), ("b", (1, 3))]
