"""A scripted HubSpot batch endpoint on 127.0.0.1 (aiohttp.web, a real server): each test sets
``handler(body) -> Response`` and reads the request bodies it received, in arrival order.
Opens a listening socket (I/O) while in use. For raw bytes (torn bodies, lying headers) use
``tests/hostile_server.py`` instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp.web
import orjson

Handler = Callable[[dict[str, Any]], Awaitable[aiohttp.web.Response]]


class Scripted:
    """The server's state: the handler to run and the bodies received; ``definitions``, when
    set, the property definitions ``GET /crm/v3/properties/{type}`` answers with (404, as for
    an account whose definitions cannot be read, while None)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.handler: Handler | None = None
        self.url = ""
        self.definitions: list[dict[str, Any]] | None = None

    async def _properties(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        if self.definitions is None:
            return aiohttp.web.json_response({"status": "error", "message": "no"}, status=404)
        return aiohttp.web.json_response({"results": self.definitions})

    async def _batch(self, request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        body = orjson.loads(await request.read())
        self.bodies.append(body)
        assert self.handler is not None
        return await self.handler(body)


@asynccontextmanager
async def scripted_server() -> AsyncIterator[Scripted]:
    server = Scripted()
    app = aiohttp.web.Application()
    app.router.add_post("/crm/v3/objects/{type}/batch/{op}", server._batch)
    app.router.add_get("/crm/v3/properties/{type}", server._properties)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield server
    finally:
        await runner.cleanup()


def echo(body: dict[str, Any], status: int = 200) -> aiohttp.web.Response:
    """HubSpot's 200 answer writing every input of ``body``."""
    results = [
        {
            "id": i["id"],
            "properties": i["properties"],
            "objectWriteTraceId": i.get("objectWriteTraceId"),
        }
        for i in body["inputs"]
    ]
    payload = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": "2024-01-01T00:00:00Z",
        "completedAt": "2024-01-01T00:00:01Z",
    }
    return aiohttp.web.json_response(payload, status=status)


def refusal(message: str, *, status: int = 400, **fields: Any) -> aiohttp.web.Response:
    """A whole-request refusal in HubSpot's ``Error`` shape."""
    body = {"status": "error", "message": message, "correlationId": "c", **fields}
    return aiohttp.web.json_response(body, status=status)
