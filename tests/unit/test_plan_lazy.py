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
