"""``on_chunk=``: each chunk's BatchResult reaches the caller's hook as the chunk finishes
(issue 18 item 4, the hook part), against the emulator on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest

import asyncbatch
from asyncbatch.emulator import Emulator, EmulatorConfig

pytestmark = pytest.mark.asyncio
TOKEN = "hook-token-0123456789"


def _records(n: int) -> list[dict[str, Any]]:
    return [{"id": f"H{i:04d}", "properties": {"level": "beginner"}} for i in range(n)]


@pytest.mark.parametrize("kind", ["sync", "async", "raising"])
async def test_each_chunk_reaches_the_hook(kind: str) -> None:
    seen: list[asyncbatch.BatchResult] = []

    def hook(result: asyncbatch.BatchResult) -> None:
        seen.append(result)
        if kind == "raising":
            raise RuntimeError("the caller's own bug")

    async def async_hook(result: asyncbatch.BatchResult) -> None:
        hook(result)

    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url) as client:
            result = await client.upsert(
                "0-410",
                _records(250),
                id_property="course_code",
                on_chunk=async_hook if kind == "async" else hook,
            )
            streamed = [
                r
                async for r in client.stream_upsert(
                    "0-410", _records(150), id_property="course_code", on_chunk=hook
                )
            ]
    assert result.ok and len(result.results) == 250
    assert result.stats.requests == 3
    per_chunk = seen[:3]
    assert sorted(p for r in per_chunk for ps in r.result_positions for p in ps) == list(range(250))
    assert [r.stats.requests for r in per_chunk] == [1, 1, 1]
    assert len(seen) == 3 + len(streamed) == 5
