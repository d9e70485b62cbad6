"""Fixtures for tests against a real Redis server: 127.0.0.1:6379, or
``ASYNCBATCH_TEST_REDIS_URL``.

Each test gets its own budget key (``redis_key``), and every key under it is deleted
afterwards. When Redis cannot be reached the tests fail in CI (``CI`` set, as ``.ci/run``
does) and are skipped elsewhere with a message saying how to start it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as redis_asyncio

from asyncbatch._limiters import KEY_PREFIX

REDIS_URL = os.environ.get("ASYNCBATCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
START_HINT = "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ''"


@pytest_asyncio.fixture
async def redis_url() -> AsyncIterator[str]:
    """The test Redis's URL, after checking that it answers."""
    client = redis_asyncio.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        message = f"Redis at {REDIS_URL} is unreachable ({exc}); start it with: {START_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    finally:
        await client.aclose()
    yield REDIS_URL


@pytest_asyncio.fixture
async def redis_key(redis_url: str) -> AsyncIterator[str]:
    """A budget key of this test's own; its Redis keys are deleted afterwards."""
    key = f"test-{secrets.token_hex(6)}"
    yield key
    client = redis_asyncio.from_url(redis_url)
    try:
        names = [name async for name in client.scan_iter(match=f"{KEY_PREFIX}{{{key}}}*")]
        if names:
            await client.delete(*names)
    finally:
        await client.aclose()
