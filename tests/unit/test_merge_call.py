"""A list call's merge (``CallMerge``) takes the common answer, every record of a chunk
written and named by its trace id, without building the chunk's objects again (issue 16/19);
any other answer goes the general way. Either way the result is the one ``merge_outcomes``
gives. Pure: no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from asyncbatch._merge import CallMerge, ChunkOutcome, _Merger
from asyncbatch._models import BatchResult, RunStats, SimplePublicUpsertObject
from asyncbatch._plan import Chunk, Plan, plan_chunks
from asyncbatch._protocol import _read_batch
from tests.fakes import batch_body, echo_results
from tests.unit._merging import T0, merge_all


def _plan(records: list[dict[str, Any]]) -> Plan:
    return plan_chunks(records, operation="upsert", id_property="code", chunk_size=10)


def _records(n: int) -> list[dict[str, Any]]:
    return [{"id": f"c{i}", "properties": {"name": f"n{i}"}} for i in range(n)]


def _answer(chunk: Chunk, edit: Any = None) -> ChunkOutcome:
    inputs = [
        {
            "id": item.input.id,
            "idProperty": item.input.id_property,
            "properties": dict(item.input.properties),
            "objectWriteTraceId": item.input.object_write_trace_id,
        }
        for item in chunk.items
    ]
    results = echo_results(inputs, upsert=True)  # in reverse order, as HubSpot may
    if edit is not None:
        edit(results)
    chunk.shed()  # as a chunk in flight does
    response = _read_batch(batch_body(results), SimplePublicUpsertObject)
    return ChunkOutcome(chunk, response=response, status_code=200)


def _merged(plan: Plan, outcomes: list[ChunkOutcome]) -> BatchResult:
    merge = CallMerge(plan)
    for outcome in outcomes:
        merge.add([outcome], None)
    steps = merge.finish(stop=None, stats=RunStats(), started_at=T0, completed_at=T0)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def _same(call: BatchResult, general: BatchResult) -> None:
    assert call.results == general.results
    assert call.result_positions == general.result_positions
    assert [(f.positions, f.error.category) for f in call.failed] == [
        (f.positions, f.error.category) for f in general.failed
    ]
    assert call.status == general.status


def _built_items(plan: Plan) -> list[int]:
    built: list[int] = []
    item = plan.item

    def counting(index: int) -> Any:
        built.append(index)
        return item(index)

    plan.item = counting  # type: ignore[method-assign]
    return built


def test_the_common_answer_is_merged_without_building_the_chunks_again() -> None:
    records = [*_records(25), {"id": "c3", "properties": {"name": "again"}}]  # coalesced
    plan = _plan(records)
    outcomes = [_answer(plan.chunk(n)) for n in range(plan.chunk_count)]
    built = _built_items(plan)
    result = _merged(plan, outcomes)
    assert built == []
    assert len(result.results) == 25 and not result.failed
    assert result.result_positions[3] == (3, 25)
    _same(result, merge_all(_plan(records), [_answer(c) for c in _plan(records).chunks]))


def test_a_result_whose_key_says_another_record_goes_the_general_way() -> None:
    def swap_key(results: list[dict[str, Any]]) -> None:
        results[0]["properties"]["code"] = "someone-else"

    plan, general = _plan(_records(10)), _plan(_records(10))
    built = _built_items(plan)
    result = _merged(plan, [_answer(plan.chunk(0), swap_key)])
    assert built  # matched the general way
    _same(result, merge_all(general, [_answer(general.chunk(0), swap_key)]))
    assert len(result.failed) == 1


def test_a_missing_result_goes_the_general_way() -> None:
    def drop(results: list[dict[str, Any]]) -> None:
        del results[4]

    plan, general = _plan(_records(10)), _plan(_records(10))
    result = _merged(plan, [_answer(plan.chunk(0), drop)])
    _same(result, merge_all(general, [_answer(general.chunk(0), drop)]))
    assert [f.error.category for f in result.failed] == ["MISSING_FROM_RESPONSE"]


def test_records_sharing_a_callers_trace_id_go_the_general_way() -> None:
    records = [{**r, "objectWriteTraceId": "same"} for r in _records(4)]
    plan, general = _plan(records), _plan(records)
    built = _built_items(plan)
    result = _merged(plan, [_answer(plan.chunk(0))])
    assert built
    _same(result, merge_all(general, [_answer(general.chunk(0))]))
    assert len(result.results) == 4


def test_a_merged_chunk_lets_its_records_properties_go_and_reports_stay_whole() -> None:
    # Once a chunk is merged, the plan drops its records' property dicts (issue 19: freed
    # while the call waits, not all after its last answer). A record the merge did not
    # account for keeps its own, and is reported with them; a failure keeps its input.
    def drop(results: list[dict[str, Any]]) -> None:
        results[:] = [r for r in results if r["properties"].get("name") != "n14"]

    plan = _plan(_records(30))

    def props() -> list[dict[str, str]]:
        return list(plan._distinct.props)

    merge = CallMerge(plan)
    first, second, third = plan.chunk(0), plan.chunk(1), plan.chunk(2)
    merge.add([_answer(first)], None)
    merge.settled(first)
    assert all(p == {} for p in props()[:10])
    assert props()[10] == {"name": "n10"}  # chunks not merged keep theirs
    missing = _answer(second, drop)
    merge.add([missing], None)
    merge.settled(second)
    assert all(p == {} for p in props()[10:20])
    half = Chunk(2, source=plan, indexes=range(20, 25))  # the merge hears of half of it
    merge.add([_answer(half)], None)
    merge.settled(third)
    assert all(p == {} for p in props()[20:25])
    assert props()[25:30] == [{"name": f"n{n}"} for n in range(25, 30)]
    steps = merge.finish(stop=None, stats=RunStats(), started_at=T0, completed_at=T0)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: BatchResult = done.value
            break
    assert len(result.results) == 24
    failed = {f.positions: f for f in result.failed}
    assert failed[(14,)].category == "MISSING_FROM_RESPONSE"
    assert failed[(14,)].input.properties == {"name": "n14"}
    assert sorted(failed) == [(14,), (25,), (26,), (27,), (28,), (29,)]
    assert failed[(27,)].category == "NOT_SENT"
    assert failed[(27,)].input.properties == {"name": "n27"}
    assert plan.item(3).input.properties == {}  # forgotten: a fresh dict, not the shared one
    assert plan.item(3).input.properties is not plan.item(4).input.properties


def test_kept_results_read_back_across_pages() -> None:
    # _Columns keeps rows in pages (issue 16: no column of a million reallocated in one
    # append); every row reads back as it was added, on either side of a page boundary.
    from asyncbatch._merge import _PAGE, _Columns

    columns = _Columns()
    added: list[tuple[Any, tuple[int, ...]]] = []
    for n in range(2 * _PAGE + 5):
        if n % 3 == 0:
            entry: Any = {"id": str(n), "kept": "as a dict"}
        else:
            entry = (str(n), f"t{n}", "c", None, n % 2 == 0, n % 5 == 0, {"p": str(n)})
        positions = (n,) if n % 4 else (n, n + 100_000)
        assert columns.add(entry, positions) == n
        added.append((entry, positions))
    for row, (entry, positions) in enumerate(added):
        assert columns.entry(row) == entry
        assert columns.positions_of(row) == positions


def test_a_full_page_is_sealed_into_what_the_collector_need_not_walk() -> None:
    # Issue 16: pages of lists piled up young during a call and each collection walked them
    # (10-100 ms in upsert() of 1,000,000). A full page's strings become one string (a
    # tuple if one holds a NUL), an all-None column a count, numbers arrays; every entry
    # and position reads back as added, and positions of coalesced records too.
    from array import array

    from asyncbatch._merge import _PAGE, _Columns, _Nones, _Texts

    columns = _Columns()
    added = []
    for n in range(3 * _PAGE + 7):
        trace = f"t{n}" if n != _PAGE + 3 else "t\x00nul"  # page 1 holds a NUL
        created = None if n < _PAGE else f"2026-01-{n % 28 + 1:02d}"
        entry = (str(n), trace, created, None, n % 2 == 0, n % 3 == 0, {"p": str(n)})
        positions = (n,) if n % 5 else (n, n + 1_000_000)
        columns.add(entry, positions)
        added.append((entry, positions))
    page0, page1 = columns._pages[:2]
    assert type(page0[0]) is _Texts and type(page0[1]) is _Texts
    assert type(page0[2]) is _Nones and type(page0[3]) is _Nones
    assert type(page1[1]) is tuple and type(page1[2]) is _Texts
    assert type(page0[4]) is array and type(page0[5]) is array and len(page0) == 6
    assert all(type(c) is list for c in columns._pages[3])  # the page being filled
    for row, (entry, positions) in enumerate(added):
        assert columns.entry(row) == entry
        assert columns.positions_of(row) == positions
    rows = list(reversed(range(len(added))))
    assert columns.positions_of_rows(rows) == [added[row][1] for row in rows]


def test_positions_are_made_when_read_and_load_makes_them_a_slice_at_a_time() -> None:
    # The result's positions wait, as its objects do, until read: made at the call's end, a
    # tuple a record held its last answer 0.2-0.4 us a record (issue 19). Read, they are the
    # rows' own, in the order of the rows; load() makes them with turns for the loop.
    import asyncio

    from asyncbatch import _steps
    from asyncbatch._merge import _PAGE, _Columns, _read_at_once, _Rows
    from asyncbatch._models import Deferred

    columns = _Columns()
    count = 2 * _PAGE + 3
    for n in range(count):
        columns.add({"id": str(n)}, (n,) if n % 7 else (n, n + 1_000_000))
    rows = list(reversed(range(count)))
    expected = [columns.positions_of(row) for row in rows]
    assert expected[-7] == (6,) and expected[-1] == (0, 1_000_000)

    def result() -> BatchResult:
        positions = _Rows(rows, columns.positions_of, columns.positions_of_rows)
        deferred = Deferred(positions, _read_at_once)
        return BatchResult(
            status="COMPLETE",
            results=[],
            errors=[],
            num_errors=0,
            started_at=T0,
            completed_at=T0,
            result_positions=deferred,
        )

    read = result()
    assert isinstance(read._positions, Deferred)  # nothing made yet
    assert read._written_count() == 0
    assert read.result_positions == expected
    assert read.result_positions is read.result_positions  # made once, kept

    loaded = result()
    turns = 0

    async def load() -> None:
        nonlocal turns
        task = asyncio.create_task(loaded.load())
        while not task.done():
            turns += 1
            await asyncio.sleep(0)
        await task

    original = _steps.SLICE_SECONDS
    _steps.SLICE_SECONDS = 0.0  # a turn after every step
    try:
        asyncio.run(load())
    finally:
        _steps.SLICE_SECONDS = original
    assert type(loaded._positions) is list and loaded.result_positions == expected
    assert turns > count // 128  # a turn for the loop every _LOAD_STEP positions at most
    assert loaded == read


def test_the_written_index_answers_like_a_dict_across_pages() -> None:
    # _Written makes its pages as records are first written (no 8 MB array at the call's
    # start); an index never written, on a page made or not, is not in it.
    from asyncbatch._merge import _PAGE, _Written

    written = _Written(3 * _PAGE + 7)
    marks = {0: 5, _PAGE - 1: 0, 3 * _PAGE + 6: 9}
    for index, row in marks.items():
        written[index] = row
    for index in (0, 1, _PAGE - 1, _PAGE, 2 * _PAGE + 3, 3 * _PAGE + 6):
        assert (index in written) == (index in marks)
        assert written.get(index) == marks.get(index)


def test_a_call_across_result_pages_merges_as_the_general_way() -> None:
    # The quick merge writes a chunk's results into the columns and the written index in
    # bulk (issue 19); chunks straddle their pages, answers come back in any order, and some
    # records were coalesced (several positions): the result is still the general merge's.
    from asyncbatch._merge import _PAGE

    records = _records(2 * _PAGE + 150)
    records += [{"id": f"c{n}", "properties": {"name": "again"}} for n in (0, _PAGE, _PAGE + 1)]

    def plan() -> Plan:
        return plan_chunks(records, operation="upsert", id_property="code", chunk_size=100)

    quick, general = plan(), plan()
    outcomes = [_answer(quick.chunk(n)) for n in reversed(range(quick.chunk_count))]
    built = _built_items(quick)
    result = _merged(quick, outcomes)
    assert built == []
    assert len(result.results) == 2 * _PAGE + 150 and not result.failed
    assert result.result_positions[_PAGE] == (_PAGE, 2 * _PAGE + 151)
    again = (0, _PAGE, _PAGE + 1)
    names = ["again" if n in again else f"n{n}" for n in range(len(result.results))]
    assert [r.properties["name"] for r in result.results] == names
    _same(result, merge_all(general, [_answer(c) for c in general.chunks]))


def test_columns_extended_in_bulk_read_back_as_added_one_by_one() -> None:
    from asyncbatch._merge import _PAGE, _Columns

    def entry(n: int) -> tuple[Any, ...]:
        return (str(n), f"t{n}", "c", None, n % 2 == 0, n % 3 == 0, {"p": str(n)})

    columns = _Columns()
    columns.add(entry(0), (0,))
    wheres: list[int | tuple[int, ...]] = [n if n % 4 else (n, -n) for n in range(1, _PAGE + 9)]
    assert columns.extend([entry(n) for n in range(1, _PAGE + 9)], wheres) == 1
    assert columns.rows == _PAGE + 9
    for row in range(_PAGE + 9):
        assert columns.entry(row) == entry(row)
        assert columns.positions_of(row) == ((row,) if row % 4 or not row else (row, -row))


def test_the_written_index_finds_and_puts_many_at_once() -> None:
    from asyncbatch._merge import _PAGE, _Written

    written = _Written(3 * _PAGE)
    assert not written.any_of(range(0, 3 * _PAGE)) and len(written) == 0
    written.put_new([_PAGE + 1, _PAGE - 1, 2 * _PAGE], 7)
    assert len(written) == 3
    assert [written.get(i) for i in (_PAGE + 1, _PAGE - 1, 2 * _PAGE)] == [7, 8, 9]
    assert written.any_of(range(_PAGE - 1, _PAGE))  # the last of a page
    assert written.any_of(range(_PAGE - 50, _PAGE + 50))  # across a boundary
    assert not written.any_of(range(_PAGE + 2, 2 * _PAGE))  # up to the next page's first
    assert not written.any_of(range(0, _PAGE - 1))
    assert written.any_of([5, 2 * _PAGE]) and not written.any_of([5, 2 * _PAGE + 1])
    assert not written.any_of(range(0))
    written[_PAGE + 1] = 3  # again: still three records
    assert len(written) == 3


def test_chunks_merged_without_their_plan_take_the_common_answer_as_the_general_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A stream's or a writer's chunks: ``merge_outcomes`` of items, no plan to read from.
    records = [*_records(25), {"id": "c3", "properties": {"name": "again"}}]  # coalesced
    quick_plan, general_plan = _plan(records), _plan(records)
    general_way: list[int] = []
    add_response = _Merger.add_response

    def counted(self: _Merger, outcome: ChunkOutcome, response: Any) -> None:
        general_way.append(outcome.chunk.number)
        add_response(self, outcome, response)

    monkeypatch.setattr(_Merger, "add_response", counted)
    quick = merge_all(quick_plan, [_answer(c) for c in quick_plan.chunks])
    assert general_way == []
    monkeypatch.setattr(_Merger, "_add_matched_items", lambda self, chunk, response: False)
    general = merge_all(general_plan, [_answer(c) for c in general_plan.chunks])
    assert general_way == [0, 1, 2]
    _same(quick, general)
    assert quick.result_positions[3] == (3, 25)
    assert len(quick.results) == 25 and not quick.failed
