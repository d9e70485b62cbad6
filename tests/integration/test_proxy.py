"""``BatchClient(proxy=...)`` through a real HTTP proxy on 127.0.0.1 (issue 18 item 3): a small
forwarding proxy written with aiohttp (``tests.forward_proxy``), in front of the emulator."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

import asyncbatch
from asyncbatch.emulator import Emulator, EmulatorConfig
from tests.forward_proxy import Proxy, running_proxy

pytestmark = pytest.mark.asyncio
TOKEN = "proxy-token-0123456789"


@pytest_asyncio.fixture
async def proxy() -> AsyncIterator[Proxy]:
    async with running_proxy() as state:
        yield state


async def test_requests_go_through_the_proxy_with_its_credentials(proxy: Proxy) -> None:
    user, password = "etl", "pr0xy-s3cret-pass"
    proxy_url = proxy.url.replace("http://", f"http://{user}:{password}@")
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        records = [{"id": f"P{i}", "properties": {"level": "beginner"}} for i in range(150)]
        client = asyncbatch.BatchClient(TOKEN, base_url=emu.url, proxy=proxy_url)
        assert password not in repr(client)
        async with client:
            result = await client.upsert("0-410", records, id_property="course_code")
    assert result.ok
    assert len(proxy.seen) == emu.stats.total_requests == 3  # schema read and two chunks
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    assert {auth for _, auth in proxy.seen} == {expected}


async def test_bad_network_arguments_are_refused() -> None:
    with pytest.raises(asyncbatch.InvalidInputError, match="proxy"):
        asyncbatch.BatchClient(TOKEN, proxy="socks5://127.0.0.1:1080")
    with pytest.raises(asyncbatch.InvalidInputError, match="CA bundle"):
        asyncbatch.BatchClient(TOKEN, ssl="/nonexistent/ca.pem")
