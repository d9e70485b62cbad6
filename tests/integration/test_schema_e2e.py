"""Property definitions read by the client and used before sending (issue 14), against the
strict emulator on 127.0.0.1 (which serves HubSpot's GET /crm/v3/properties/{objectType})."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import asyncbatch
from asyncbatch.emulator import Emulator, EmulatorConfig
from tests.invariants import assert_accounted, assert_stored_matches

pytestmark = pytest.mark.asyncio
TOKEN = "schema-token-0123456789"


def _courses(n: int, bad: set[int]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"S{i:04d}",
            "properties": {"level": "expert" if i in bad else "Intermediate"},
        }
        for i in range(n)
    ]


async def test_bad_values_fail_unsent_and_cost_no_request() -> None:
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        bad = {3, 150, 299}
        records = _courses(300, bad)
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url) as client:
            schema = await client.properties("0-410")
            assert schema.get("course_code") is not None
            assert schema.get("course_code").has_unique_value  # type: ignore[union-attr]
            result = await client.upsert("0-410", records, id_property="course_code")
            assert await client.properties("0-410") is schema  # cached for the client's life
        assert_accounted(result, 300)
        assert_stored_matches(result, emu, "0-410", id_property="course_code")
        assert sorted(f.position for f in result.failed) == sorted(bad)
        assert all(not f.sent and f.final for f in result.failed)
        assert {(f.code, f.property_name) for f in result.failed} == {("INVALID_OPTION", "level")}
        # The reason as fields (issue 15 item 3): the refused value and what is allowed.
        assert {f.value for f in result.failed} == {"expert"}
        assert result.failed[0].allowed == ("beginner", "intermediate", "advanced")
        # One schema read plus three chunks, no request spent on a bad record.
        assert emu.stats.total_requests == 4
        assert result.stats.requests == 3
        assert {r.properties["level"] for r in result.results} == {"intermediate"}  # label


async def test_a_non_unique_id_property_fails_the_call_before_sending() -> None:
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url) as client:
            with pytest.raises(asyncbatch.InvalidInputError, match="not a unique-value"):
                await client.upsert("0-410", _courses(10, set()), id_property="level")
        assert emu.stats.total_requests == 1  # the schema read only


async def test_unreadable_definitions_auto_warns_once_on_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with Emulator(EmulatorConfig(token=TOKEN, strict=False)) as emu:  # serves no schema
        records = [{"id": "1", "properties": {"anything": "x"}}]
        caplog.set_level(logging.WARNING, logger="asyncbatch")
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url) as client:
            first = await client.upsert("widgets", records, id_property="code")
            second = await client.upsert("widgets", records, id_property="code")
        assert first.ok and second.ok
        warnings = [r for r in caplog.records if "could not be read" in r.getMessage()]
        assert len(warnings) == 1
        before = emu.stats.total_requests
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url, check_properties="on") as strict:
            with pytest.raises(asyncbatch.APIError):
                await strict.upsert("widgets", records, id_property="code")
        assert emu.stats.total_requests == before + 1  # the read, nothing sent


async def test_check_properties_is_validated() -> None:
    with pytest.raises(asyncbatch.InvalidInputError, match="check_properties"):
        asyncbatch.BatchClient(TOKEN, check_properties="yes")  # type: ignore[arg-type]
