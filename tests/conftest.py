"""Shared test set-up: the emulator's and the hostile server's fixtures, and a shim that
makes aioresponses 0.7.9 work with aiohttp 3.14.

aioresponses 0.7.9 builds ``ClientResponse`` without the ``stream_writer`` argument aiohttp 3.14
requires (pnuckowski/aioresponses#289, fix unreleased), and feeds bodies into a StreamReader with
a 64 KiB limit whose protocol cannot pause, so bodies over 128 KiB trip an assertion. Both are
patched here, for tests only.
"""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

import aioresponses.core
from aiohttp import ClientResponse
from aiohttp.client_proto import ResponseHandler
from aiohttp.streams import StreamReader

# hostile_server: a raw-socket server that answers each request with the bytes a test scripts.
pytest_plugins = [
    "asyncbatch.emulator.pytest_plugin",
    "tests.hostile_server",
    "tests.redis_support",
]


class _ShimResponse(ClientResponse):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "stream_writer" not in kwargs:
            writer = mock.Mock()
            writer.output_size = 0
            kwargs["stream_writer"] = writer
        super().__init__(*args, **kwargs)


def _stream_reader_factory(loop: asyncio.AbstractEventLoop | None = None) -> StreamReader:
    protocol = ResponseHandler(loop=loop)  # type: ignore[arg-type]
    return StreamReader(protocol, limit=2**30, loop=loop)  # type: ignore[arg-type]


aioresponses.core.ClientResponse = _ShimResponse  # type: ignore[misc]
aioresponses.core.stream_reader_factory = _stream_reader_factory
