"""A small forwarding HTTP proxy on 127.0.0.1 for the proxy tests (issue 18 item 3), written
with aiohttp: it takes absolute-URI requests (what a client sends a proxy for a plain
``http://`` target, such as the emulator), forwards each to the host it names, passes the
answer back with its headers (HubSpot's rate-limit headers included), and keeps what it saw.
Does network I/O on loopback only."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
import aiohttp.web

__all__ = ["Proxy", "running_proxy"]

# Headers that belong to one hop, or that aiohttp sets again for the body it sends.
_HOP = frozenset(
    {
        "connection",
        "content-encoding",
        "content-length",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


class Proxy:
    """Forwards each request to the host it names; keeps (URL, Proxy-Authorization) of each."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        self.url = ""

    async def forward(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        self.seen.append((str(request.url), request.headers.get("Proxy-Authorization")))
        target = f"http://{request.headers['Host']}{request.path_qs}"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with (
            aiohttp.ClientSession(auto_decompress=False) as session,
            session.request(
                request.method, target, data=await request.read(), headers=headers
            ) as answer,
        ):
            body = await answer.read()
            back = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
            return aiohttp.web.Response(status=answer.status, body=body, headers=back)


@contextlib.asynccontextmanager
async def running_proxy() -> AsyncIterator[Proxy]:
    """A ``Proxy`` listening on 127.0.0.1 (its ``url``) for the block's life."""
    state = Proxy()
    app = aiohttp.web.Application()
    app.router.add_route("*", "/{tail:.*}", state.forward)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    try:
        site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        yield state
    finally:
        await runner.cleanup()
