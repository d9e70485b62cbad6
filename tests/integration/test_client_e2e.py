"""The client against the real emulator on loopback, one test per seed endpoint.

Each run has more than 100 records, successes and failures, duplicates inside the call, and
checks the emulator's stored state, not only the client's answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

import asyncbatch
from asyncbatch.emulator import Emulator, EmulatorConfig, PropertyDef
from tests.invariants import assert_accounted, assert_stored_matches

pytestmark = pytest.mark.asyncio

TOKEN = "e2e-token"


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[Emulator]:
    config = EmulatorConfig(
        token=TOKEN,
        rate_limit_requests=1000,
        # The account's custom properties, on top of HubSpot's defaults (the emulator is as
        # strict as HubSpot: an undefined property or a non-unique idProperty is refused).
        properties={
            "goal_targets": (
                PropertyDef("hs_status", "enumeration", ("on", "off")),
                PropertyDef("ext_goal", has_unique_value=True),
                PropertyDef("n"),
            ),
            "partner_clients": (
                PropertyDef("ext_key", has_unique_value=True),
                PropertyDef("tier"),
                PropertyDef("seq", "number"),
            ),
            "0-410": (PropertyDef("hs_start", "date"), PropertyDef("seats", "number")),
        },
    )
    async with Emulator(config) as emu:
        yield emu


def client_for(emu: Emulator, **kwargs: Any) -> asyncbatch.BatchClient:
    kwargs.setdefault("rate_limit", asyncbatch.RateLimit(1000, 10.0))
    return asyncbatch.BatchClient(TOKEN, base_url=emu.url, **kwargs)


def expected_state(records: list[dict[str, Any]], key: str = "id") -> dict[str, dict[str, str]]:
    """What sequential writes of ``records`` leave, per record key (later properties win)."""
    state: dict[str, dict[str, str]] = {}
    for record in records:
        state.setdefault(str(record[key]), {}).update(record["properties"])
    return state


async def test_goal_targets_update_by_record_id(emulator: Emulator) -> None:
    ids = emulator.preload("goal_targets", [{"hs_goal_name": f"g{i}"} for i in range(150)])
    records: list[dict[str, Any]] = [
        {"id": rid, "properties": {"hs_target_amount": i}} for i, rid in enumerate(ids)
    ]
    missing = [{"id": str(900000 + i), "properties": {"hs_target_amount": 1}} for i in range(7)]
    dupes = [{"id": ids[i], "properties": {"hs_target_amount": 5000 + i}} for i in range(5)]
    calls = records[:60] + missing + records[60:] + dupes
    async with client_for(emulator) as client:
        result = await client.update("goal_targets", calls)
    assert_accounted(result, len(calls))
    assert_stored_matches(result, emulator, "goal_targets")
    assert result.stats.coalesced == 5
    assert len(result.results) == 150
    assert sorted(f.input.id for f in result.failed) == sorted(m["id"] for m in missing)
    assert all(f.error.category == "OBJECT_NOT_FOUND" for f in result.failed)
    assert result.status == "COMPLETE" and result.num_errors >= 1
    assert [r.id for r in result.results] == ids  # input order, though the emulator shuffles
    for i, rid in enumerate(ids):
        want = str(5000 + i) if i < 5 else str(i)
        assert emulator.record("goal_targets", rid)["properties"]["hs_target_amount"] == want
    assert emulator.stats.rate_limited_total == 0


@pytest.mark.parametrize("check", ["auto", "off"])
async def test_goal_targets_upsert_with_bad_records_isolated(
    emulator: Emulator, check: str
) -> None:
    # "auto": the property definitions refuse the bad records before sending (issue 14);
    # "off": HubSpot's refusals isolate them (issue 13). Either way the same records fail.
    emulator.preload("goal_targets", [{"ext_goal": f"G{i}", "hs_status": "on"} for i in range(40)])
    records: list[dict[str, Any]] = [
        {"id": f"G{i}", "properties": {"ext_goal": f"G{i}", "hs_status": "off", "n": i}}
        for i in range(130)
    ]
    bad_positions = {17, 88, 120}
    for p in bad_positions:
        records[p]["properties"]["hs_status"] = "sideways"
    records += [{"id": "G3", "properties": {"n": "last"}}, {"id": "G50", "properties": {"n": 0}}]
    async with client_for(emulator, check_properties=check) as client:
        result = await client.upsert("goal_targets", records, id_property="ext_goal")
    assert_accounted(result, len(records))
    assert_stored_matches(result, emulator, "goal_targets", id_property="ext_goal")
    assert sorted(p for f in result.failed for p in f.positions) == sorted(bad_positions)
    assert all("hs_status" in f.reason for f in result.failed)
    assert {(f.code, f.property_name, f.final) for f in result.failed} == {
        ("INVALID_OPTION", "hs_status", True)
    }
    if check == "auto":
        assert result.stats.split_requests == 0
        assert not any(f.sent for f in result.failed)
    else:
        assert result.stats.split_requests > 0
    new_flags = {
        r.properties.get("ext_goal"): r.new
        for r in result.results
        if isinstance(r, asyncbatch.SimplePublicUpsertObject)
    }
    assert new_flags["G3"] is False and new_flags["G50"] is True
    stored = {
        r["properties"]["ext_goal"]: r["properties"] for r in emulator.records("goal_targets")
    }
    assert len(stored) == 130 - len(bad_positions) + sum(1 for p in bad_positions if p < 40)
    want = expected_state([r for i, r in enumerate(records) if i not in bad_positions])
    for key, props in want.items():
        for name, value in props.items():
            assert stored[key][name] == str(value)


async def test_partner_clients_update_by_unique_property(emulator: Emulator) -> None:
    emulator.preload("partner_clients", [{"ext_key": f"pc-{i}", "tier": "a"} for i in range(120)])
    records: list[dict[str, Any]] = [
        {"id": f"pc-{i}", "properties": {"tier": "b", "seq": i}} for i in range(120)
    ]
    records += [{"id": f"pc-missing-{i}", "properties": {"tier": "c"}} for i in range(4)]
    records += [{"id": "pc-7", "properties": {"tier": "z"}}]
    async with client_for(emulator) as client:
        result = await client.update("partner_clients", records, id_property="ext_key")
    assert_accounted(result, len(records))
    assert_stored_matches(result, emulator, "partner_clients", id_property="ext_key")
    assert sorted(f.input.id for f in result.failed) == [f"pc-missing-{i}" for i in range(4)]
    assert len(result.results) == 120 and result.stats.coalesced == 1
    stored = {
        r["properties"]["ext_key"]: r["properties"] for r in emulator.records("partner_clients")
    }
    assert stored["pc-7"]["tier"] == "z" and stored["pc-8"]["tier"] == "b"
    assert all(stored[f"pc-{i}"]["seq"] == str(i) for i in range(120))
    assert len(stored) == 120  # update never creates


async def test_listings_0_420_update(emulator: Emulator) -> None:
    ids = emulator.preload("0-420", [{"hs_name": f"l{i}", "hs_price": "1"} for i in range(110)])
    records: list[dict[str, Any]] = [
        {"id": rid, "properties": {"hs_price": 100 + i}} for i, rid in enumerate(ids)
    ]
    records[5]["properties"]["hs_price"] = "cheap"  # invalid number: fails the whole chunk
    records.append({"id": "424242", "properties": {"hs_price": 3}})  # does not exist
    records.append({"id": ids[9], "properties": {"hs_price": 9.5}})  # duplicate, later wins
    async with client_for(emulator) as client:
        result = await client.update("0-420", records)
    assert_accounted(result, len(records))
    assert_stored_matches(result, emulator, "0-420")
    failed = {f.input.id: f for f in result.failed}
    assert set(failed) == {ids[5], "424242"}
    assert "hs_price" in failed[ids[5]].reason
    assert failed["424242"].error.category == "OBJECT_NOT_FOUND"
    assert emulator.record("0-420", ids[5])["properties"]["hs_price"] == "1"
    assert emulator.record("0-420", ids[9])["properties"]["hs_price"] == "9.5"
    assert emulator.record("0-420", ids[10])["properties"]["hs_price"] == "110"


async def test_courses_0_410_upsert(emulator: Emulator) -> None:
    records: list[dict[str, Any]] = [
        {
            "id": f"C{i:04d}",
            "properties": {"course_code": f"C{i:04d}", "hs_start": "2027-01-05", "seats": i},
        }
        for i in range(140)
    ]
    records[33]["properties"]["hs_start"] = "next tuesday"
    records.append({"id": "C0001", "properties": {"seats": 999}})
    async with client_for(emulator, chunk_size=50) as client:
        first = await client.upsert("0-410", records, id_property="course_code")
        seats_after_first = emulator.record("0-410", "C0001", "course_code")["properties"]["seats"]
        assert_stored_matches(first, emulator, "0-410", id_property="course_code")
        second = await client.upsert("0-410", records[:10], id_property="course_code")
    assert_accounted(first, len(records))
    assert_accounted(second, 10)
    assert_stored_matches(second, emulator, "0-410", id_property="course_code")
    assert [f.positions for f in first.failed] == [(33,)]
    assert first.stats.chunks == 3
    assert all(getattr(r, "new", None) is True for r in first.results)
    assert all(getattr(r, "new", None) is False for r in second.results)
    stored = {r["properties"]["course_code"]: r["properties"] for r in emulator.records("0-410")}
    assert len(stored) == 139 and "C0033" not in stored
    assert seats_after_first == "999"  # the coalesced duplicate's value won
    assert stored["C0001"]["seats"] == "1"  # then the second call wrote records[1] again


async def test_matched_limits_see_zero_429s(make_hubspot_emulator: Any) -> None:
    emu = await make_hubspot_emulator(
        token=TOKEN,
        rate_limit_requests=10,
        rate_limit_window_seconds=1.0,
        properties={"contacts": (PropertyDef("code", has_unique_value=True),)},
    )
    records = [{"id": f"k{i}", "properties": {"code": f"k{i}"}} for i in range(400)]
    async with asyncbatch.BatchClient(
        TOKEN,
        base_url=emu.url,
        # A 50 ms margin, not the default 10 ms: the emulator shares this test's event loop,
        # so a busy loop (GC, a slow CI machine) delays arrivals past 10 ms (the same was seen
        # and fixed in the Redis limiter's four-process test).
        rate_limit=asyncbatch.RateLimit(10, 1.0, safety_margin_seconds=0.05),
        chunk_size=10,
        max_concurrency=8,
    ) as client:
        result = await client.upsert("contacts", records, id_property="code")
    assert result.ok
    assert_accounted(result, len(records))
    assert_stored_matches(result, emu, "contacts", id_property="code")
    assert result.stats.requests == 40
    assert result.stats.rate_limited == 0
    assert emu.stats.rate_limited_total == 0
    assert emu.stats.max_window_requests <= 10


async def test_wrong_token_stops_cleanly(emulator: Emulator) -> None:
    async with asyncbatch.BatchClient("wrong", base_url=emulator.url) as client:
        result = await client.update("goal_targets", [{"id": "1", "properties": {}}] * 1)
    assert_accounted(result, 1)
    assert result.status == "CANCELED"
    assert result.failed[0].status_code == 401
    assert isinstance(result.failed[0].error, asyncbatch.StandardError)
