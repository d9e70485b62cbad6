"""read, create and archive against the emulator on 127.0.0.1 (issue 17 items 2 and 3)."""

from __future__ import annotations

from typing import Any

import pytest

import asyncbatch
from asyncbatch.emulator import Emulator, EmulatorConfig
from tests.invariants import assert_accounted

pytestmark = pytest.mark.asyncio
TOKEN = "ops-token-0123456789"


def _client(emu: Emulator, **kwargs: Any) -> asyncbatch.BatchClient:
    kwargs.setdefault("rate_limit", asyncbatch.RateLimit(1000, 1.0))
    return asyncbatch.BatchClient(TOKEN, base_url=emu.url, **kwargs)


def _courses(n: int, prefix: str = "N") -> list[dict[str, Any]]:
    return [
        {"properties": {"course_code": f"{prefix}{i:04d}", "level": "beginner"}} for i in range(n)
    ]


@pytest.mark.parametrize("version", ["v3", "2026-03", "2026-09"])
async def test_create_read_archive_round_trip(version: str) -> None:
    # 2026-09 answers a partial failure (the missing id) inside a 200, v3/2026-03 with a 207.
    async with (
        Emulator(EmulatorConfig(token=TOKEN)) as emu,
        _client(emu, api_version=version) as client,
    ):
        created = await client.create("0-410", _courses(250))
        assert_accounted(created, 250)
        assert not created.failed
        codes = [r.properties["course_code"] for r in created.results]
        assert codes == [f"N{i:04d}" for i in range(250)]  # in input order
        ids = [r.id for r in created.results]
        read = await client.read("0-410", [*ids[:120], "999999"], properties=["level"])
        assert_accounted(read, 121)
        assert [r.id for r in read.results] == ids[:120]
        (missing,) = read.failed
        assert missing.input.id == "999999" and missing.final
        by_code = await client.read("0-410", ["N0007"], id_property="course_code")
        assert [r.id for r in by_code.results] == [ids[7]]
        # Read by a property the caller did not ask for: the client asks for it too, or no
        # result could be matched to its id (they came back MISSING_FROM_RESPONSE).
        levels = await client.read(
            "0-410", ["N0008", "N0009"], properties=["level"], id_property="course_code"
        )
        assert not levels.failed
        assert [r.id for r in levels.results] == ids[8:10]
        assert [r.properties["course_code"] for r in levels.results] == ["N0008", "N0009"]
        archived = await client.archive("0-410", ids[:30])
        assert_accounted(archived, 30)
        assert [r.id for r in archived.results] == ids[:30]
        assert len(emu.records("0-410")) == 220
        streamed = [r async for r in client.stream_read("0-410", iter(ids[30:60]))]
        assert sum(len(r.results) for r in streamed) == 30


async def test_create_after_a_lost_answer_is_not_resent() -> None:
    # The emulator's "lost" fault applies the write, then drops the connection.
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu, _client(emu) as client:
        emu.inject("lost")
        result = await client.create("0-410", _courses(10, prefix="L"))
        assert_accounted(result, 10)
        assert len(emu.records("0-410")) == 10  # applied once, never twice
        assert result.stats.requests == 1
        assert {f.category for f in result.failed} == {"OUTCOME_UNKNOWN"}
        assert all(f.sent and not f.final for f in result.failed)
        assert "upsert on a unique property" in result.failed[0].reason


async def test_read_with_history_goes_in_chunks_of_50() -> None:
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu, _client(emu) as client:
        ids = [r.id for r in (await client.create("0-410", _courses(120))).results]
        result = await client.read("0-410", ids, properties_with_history=["level"])
        assert result.stats.chunks == 3
        assert [r.id for r in result.results] == ids


@pytest.mark.parametrize(
    ("version", "path"),
    [
        ("v3", "/crm/v3/objects/0-410/batch/read"),
        ("2026-09", "/crm/objects/2026-09/0-410/batch/read"),
    ],
)
async def test_api_version_builds_the_path(version: str, path: str) -> None:
    seen: list[str] = []

    async def handler(url: str, body: bytes) -> asyncbatch.RawResponse:
        seen.append(url)
        return asyncbatch.RawResponse(200, {}, b'{"status":"COMPLETE","results":[]}')

    client = asyncbatch.BatchClient(
        transport=asyncbatch.MockTransport(handler),
        api_version=version,  # type: ignore[arg-type]
        base_url="https://api.example.test",
    )
    async with client:
        await client.read("0-410", ["1"])
    assert seen == [f"https://api.example.test{path}?archived=false"]
    with pytest.raises(asyncbatch.InvalidInputError, match="api_version"):
        asyncbatch.BatchClient("t", api_version="v4")  # type: ignore[arg-type]


async def test_archive_by_a_property_is_refused_before_sending() -> None:
    client = asyncbatch.BatchClient(TOKEN, base_url="http://127.0.0.1:9")
    async with client:
        with pytest.raises(asyncbatch.InvalidInputError, match="record ids only"):
            await client.archive("0-410", ["C1"], id_property="course_code")


async def test_an_admin_rule_refusal_on_2026_09_fails_only_its_record() -> None:
    from asyncbatch.emulator import ValidationRule

    rules = {"0-410": [ValidationRule("level", "advanced", requires="hs_course_name")]}
    async with (
        Emulator(EmulatorConfig(token=TOKEN, validation_rules=rules)) as emu,
        _client(emu, api_version="2026-09") as client,
    ):
        records = [
            {"id": f"V{i:03d}", "properties": {"level": "advanced" if i == 42 else "beginner"}}
            for i in range(100)
        ]
        result = await client.upsert("0-410", records, id_property="course_code")
    assert_accounted(result, 100)
    assert [f.position for f in result.failed] == [42]
    assert result.failed[0].final
    assert len(result.results) == 99


async def test_create_and_archive_stream_chunk_by_chunk() -> None:
    async with (
        Emulator(EmulatorConfig(token=TOKEN)) as emu,
        _client(emu, chunk_size=40) as client,
    ):
        created = [r async for r in client.stream_create("0-410", iter(_courses(100, "S")))]
        assert len(created) == 3 and sum(len(r.results) for r in created) == 100
        ids = [o.id for r in created for o in r.results]
        archived = [r async for r in client.stream_archive("0-410", iter(ids))]
        assert sorted(o.id for r in archived for o in r.results) == sorted(ids)
        assert emu.records("0-410") == [] and sorted(emu.archived("0-410")) == sorted(ids)
        # As archive: HubSpot's archive input has no idProperty; refused before any request.
        requests = emu.stats.total_requests
        with pytest.raises(asyncbatch.InvalidInputError, match="archive takes record ids only"):
            client.stream_archive("0-410", iter(ids), id_property="course_code")
        assert emu.stats.total_requests == requests
