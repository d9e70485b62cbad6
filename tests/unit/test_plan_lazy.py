"""Issue 19: a plan keeps compact lists and builds a chunk's objects when asked; what it builds
is what building everything at once would give, chunk by chunk."""

from __future__ import annotations

from asyncbatch._plan import cut_chunks, fields_of, plan_chunks
from asyncbatch._protocol import encode_fields, encode_inputs


def _records() -> list[dict[str, object]]:
    records: list[dict[str, object]] = []
    for n in range(250):
        record: dict[str, object] = {"id": f"r{n % 200}", "properties": {"n": str(n)}}
        if n % 3 == 0:
            record["idProperty"] = "email" if n % 2 else "code"
            record["id"] = f"R{n % 200}@x.com" if n % 2 else f"r{n % 200}"
        records.append(record)
    return records


def test_chunks_built_one_at_a_time_are_the_cut_of_all_items() -> None:
    plan = plan_chunks(_records(), operation="upsert", id_property="code", chunk_size=7)
    expected = list(cut_chunks(plan.items, 7))
    assert plan.chunk_count == len(expected)
    assert [plan.chunk(n) for n in range(plan.chunk_count)] == expected
    assert plan.records == len(plan.items) == plan.inputs - plan.coalesced
    assert plan.id_properties == {"code", "email"}
    for index in range(plan.records):
        assert plan.positions(index) == plan.item(index).positions


def test_a_chunks_fields_are_what_its_items_send() -> None:
    # A plan's chunk sends from the plan's lists, its items never built (issue 19): the
    # columns, and so the body, are the items' own, whether its indexes are a range (one way
    # of keying) or a list (several), with the caller's trace ids and the client's.
    records = _records()
    records[4]["objectWriteTraceId"] = "the-callers"
    plan = plan_chunks(records, operation="upsert", id_property="code", chunk_size=7)
    one_way = [record for record in records if "idProperty" not in record]
    plain = plan_chunks(one_way, operation="upsert", id_property="code", chunk_size=7)
    for chunk in [*plan.chunks, *plain.chunks]:
        inputs = [item.input for item in chunk.items]
        chunk.shed()
        fields = chunk.fields()
        assert tuple(map(list, fields)) == tuple(map(list, fields_of(inputs)))
        assert encode_fields(fields) == encode_inputs(inputs)
    assert "the-callers" in {t for chunk in plan.chunks for t in chunk.fields().traces}
    assert {type(chunk.indexes) for chunk in plain.chunks} == {range}


def test_ids_of_the_calls_key_and_spelled_keys_are_one_record() -> None:
    records = [
        {"id": "a@x.com", "properties": {"n": "1"}},
        {"id": " A@X.com", "properties": {"m": "2"}, "idProperty": "email"},
        {"id": "a@x.com", "properties": {"n": "3"}, "idProperty": "other"},
    ]
    plan = plan_chunks(records, operation="upsert", id_property="email")
    assert plan.records == 2
    first, second = plan.items
    assert first.positions == (0, 1) and dict(first.input.properties) == {"n": "1", "m": "2"}
    assert second.input.id_property == "other"


def test_release_hands_over_the_lists() -> None:
    plan = plan_chunks(_records(), operation="upsert", id_property="code")
    lists = plan.release()
    assert sum(map(len, lists)) > 0
    assert plan.chunk_count == 3  # counts stay; the objects are gone


def test_a_large_plan_keeps_its_columns_in_pages_and_reads_across_them() -> None:
    # Five lists of a million grown by appending reallocated together at CPython's growth
    # points, each step copying up to 8 MB into fresh memory: single planning steps of 4-12
    # ms (issue 16). The columns are pages of _PAGE records; a chunk of 100 straddles two
    # pages now and then, and reads, coalesces and forgets across them as one list would.
    from asyncbatch._plan import _FORGOTTEN, _PAGE

    count = 2 * _PAGE + 150
    records: list[dict[str, object]] = [
        {"id": f"r{n}", "properties": {"n": str(n)}} for n in range(count)
    ]
    records.append({"id": "r5", "properties": {"later": "yes"}})  # page 0, coalesced last
    records.append({"id": f"r{_PAGE + 1}", "properties": {"n": "again"}, "objectWriteTraceId": "t"})
    plan = plan_chunks(records, operation="upsert", id_property="code")
    d = plan._distinct
    assert d.count == plan.records == count
    for column in (d.ids, d.idps, d.first, d.props, d.traces):
        assert [len(page) for page in column.pages] == [_PAGE, _PAGE, 150]
    straddling = [c for c in plan.chunks if c.indexes[0] // _PAGE != c.indexes[-1] // _PAGE]
    assert [c.number for c in straddling] == [40, 81]  # 4000-4099 and 8100-8199
    whole = plan_chunks(records, operation="upsert", id_property="code", chunk_size=100)
    for chunk in whole.chunks:
        inputs = [item.input for item in chunk.items]
        chunk.shed()
        assert tuple(map(list, chunk.fields())) == tuple(map(list, fields_of(inputs)))
        assert plan.wheres(list(reversed(chunk.indexes))) == [
            plan.positions(i)[0] if len(plan.positions(i)) == 1 else plan.positions(i)
            for i in reversed(chunk.indexes)
        ]
    assert plan.item(5).positions == (5, count) and plan.item(5).input.properties == {
        "n": "5",
        "later": "yes",
    }
    assert plan.item(_PAGE + 1).input.object_write_trace_id == "t"
    assert plan.item(_PAGE + 1).input.properties == {"n": "again"}
    plan.forget(range(_PAGE - 50, _PAGE + 50))  # across a page boundary
    plan.forget([0, 2 * _PAGE + 3])
    forgotten = [i for i, props in enumerate(d.props) if props is _FORGOTTEN]
    assert forgotten == [0, *range(_PAGE - 50, _PAGE + 50), 2 * _PAGE + 3]
    assert sum(map(len, plan.release())) == 5 * count + plan.chunk_count


def test_chunks_read_across_pages_whatever_their_indexes() -> None:
    # Records keyed two ways: each chunk's indexes are a list (every other record), some
    # across a page boundary; and a plan with nothing coalesced reads its positions from
    # the page itself.
    from asyncbatch._plan import _PAGE

    records: list[dict[str, object]] = []
    for n in range(2 * _PAGE + 10):
        record: dict[str, object] = {"id": f"r{n}", "properties": {"n": str(n)}}
        if n % 2:
            record = {**record, "id": f"e{n}@x.com", "idProperty": "email"}
        records.append(record)
    mixed = plan_chunks(records, operation="upsert", id_property="code")
    straddling = 0
    for chunk in mixed.chunks:
        assert isinstance(chunk.indexes, list)
        straddling += chunk.indexes[0] // _PAGE != chunk.indexes[-1] // _PAGE
        inputs = [item.input for item in chunk.items]
        chunk.shed()
        assert tuple(map(list, chunk.fields())) == tuple(map(list, fields_of(inputs)))
        assert mixed.wheres(chunk.indexes) == list(chunk.indexes)  # position = index here
    assert straddling >= 2
    plain = plan_chunks(records[::2], operation="upsert", id_property="code")
    assert not plain._distinct.later
    for chunk in plain.chunks:
        shuffled = list(reversed(chunk.indexes))
        assert plain.wheres(shuffled) == shuffled
