"""An expiring OAuth token never stops a run (issue 18 item 1): a token provider is asked
again after HubSpot's 401 EXPIRED_AUTHENTICATION (the emulator answers it, on its own clock,
``token_expires_after_seconds`` after a token's first use), once per expiry."""

from __future__ import annotations

from typing import Any

import pytest

import asyncbatch
from asyncbatch.emulator import Emulator, EmulatorConfig
from tests.invariants import assert_accounted

pytestmark = pytest.mark.asyncio


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _records(n: int, prefix: str) -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i:04d}", "properties": {"level": "beginner"}} for i in range(n)]


@pytest.mark.parametrize("is_async", [False, True])
async def test_an_expired_token_is_refreshed_once_and_the_chunks_resent(is_async: bool) -> None:
    clock = Clock()
    given: list[str] = []

    def next_token() -> str:
        given.append(f"oauth-token-{len(given) + 1:04d}")
        return given[-1]

    async def next_token_async() -> str:
        return next_token()

    config = EmulatorConfig(token=None, token_expires_after_seconds=1800)
    async with Emulator(config, clock=clock) as emu:
        provider: Any = next_token_async if is_async else next_token
        async with asyncbatch.BatchClient(
            provider, base_url=emu.url, rate_limit=asyncbatch.RateLimit(1000, 1.0)
        ) as client:
            first = await client.upsert("0-410", _records(300, "A"), id_property="course_code")
            assert first.ok and given == ["oauth-token-0001"]
            clock.now += 1801  # the token expires, as HubSpot's do after 30 minutes
            second = await client.upsert("0-410", _records(500, "B"), id_property="course_code")
        assert_accounted(second, 500)
        assert second.ok, second.failed[:1]
        assert second.stop_error is None
        assert given == ["oauth-token-0001", "oauth-token-0002"]  # one refresh for the expiry
        assert len(emu.records("0-410")) == 800


async def test_a_provider_that_keeps_giving_expired_tokens_still_ends() -> None:
    clock = Clock()

    async with Emulator(
        EmulatorConfig(token=None, token_expires_after_seconds=1), clock=clock
    ) as emu:
        async with asyncbatch.BatchClient(
            lambda: "always-the-same-expired-token",
            base_url=emu.url,
            check_properties="off",
        ) as client:
            await client.upsert("0-410", _records(1, "D"), id_property="course_code")
            clock.now += 5  # from now on the only token it gives is expired
            result = await client.upsert("0-410", _records(10, "C"), id_property="course_code")
    assert len(result.failed) == 10
    assert isinstance(result.stop_error, asyncbatch.AuthenticationError)
    assert result.stats.requests == 3  # the first try and two refreshes, then the stop
    assert all("always-the-same" not in f.reason for f in result.failed)


async def test_a_provider_giving_no_token_is_a_clear_error() -> None:
    client = asyncbatch.BatchClient(lambda: "", base_url="http://127.0.0.1:9")
    with pytest.raises(asyncbatch.InvalidInputError, match="no access token"):
        async with client:  # the provider is asked before anything is sent
            pass
    assert client.closed
