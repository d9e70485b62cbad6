"""Issue 19: a plan keeps compact lists and builds a chunk's objects when asked; what it builds
is what building everything at once would give, chunk by chunk."""

from __future__ import annotations

from asyncbatch._plan import cut_chunks, plan_chunks


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
