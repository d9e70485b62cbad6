"""``daily_reserve``: stop before the account's requests left today fall to the reserve
(issue 18 item 2, the client part), read from HubSpot's X-HubSpot-RateLimit-Daily-Remaining,
which the emulator sends."""

from __future__ import annotations

import pytest

import asyncbatch
from asyncbatch.emulator import Emulator, EmulatorConfig
from tests.invariants import assert_accounted

pytestmark = pytest.mark.asyncio
TOKEN = "reserve-token-0123456789"


async def test_the_run_stops_at_the_reserve_like_a_daily_stop() -> None:
    async with Emulator(EmulatorConfig(token=TOKEN, daily_limit=10)) as emu:
        records = [{"id": f"R{i:04d}", "properties": {"level": "beginner"}} for i in range(1000)]
        async with asyncbatch.BatchClient(
            TOKEN,
            base_url=emu.url,
            daily_reserve=4,
            max_concurrency=1,
            chunk_size=10,
            rate_limit=asyncbatch.RateLimit(1000, 1.0),
        ) as client:
            result = await client.upsert("0-410", records, id_property="course_code")
    assert_accounted(result, 1000)
    # 10 a day: the schema read and 5 chunks leave 4, the reserve; nothing more is sent.
    assert emu.stats.total_requests == 6
    assert len(result.results) == 50
    assert isinstance(result.stop_error, asyncbatch.RateLimitError)
    assert result.stop_error.policy == "DAILY"
    assert "daily reserve reached" in str(result.stop_error)
    assert all(f.stopped_run and not f.sent for f in result.failed)


async def test_daily_reserve_is_checked() -> None:
    with pytest.raises(asyncbatch.InvalidInputError, match="daily_reserve"):
        asyncbatch.BatchClient(TOKEN, daily_reserve=-1)


@pytest.mark.parametrize("daily_headers", [True, False])
async def test_the_schema_read_tells_what_is_left_today(daily_headers: bool) -> None:
    """The property definitions' read is a run's natural first request: its answer's
    X-HubSpot-RateLimit-Daily-Remaining is known before any chunk is sent. HubSpot leaves the
    header out for OAuth-authorized requests (API usage guidelines,
    https://developers.hubspot.com/docs/api/usage-details): then it stays unknown."""
    config = EmulatorConfig(token=TOKEN, daily_limit=50, daily_headers=daily_headers)
    async with Emulator(config) as emu:
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url) as client:
            assert client.daily_remaining is None
            await client.properties("0-410")
            assert client.daily_remaining == (49 if daily_headers else None)
    assert emu.stats.routes == {"GET /crm/v3/properties/{objectType}": 1}
