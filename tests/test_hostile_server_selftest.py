"""The hostile server does what its docstring says, seen from a plain aiohttp.ClientSession.

Loopback only; no sleeps: hung requests are waited for with ``server.received`` and released
with ``server.release()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from tests.hostile_server import (
    CLOSE,
    HANG,
    Answer,
    HostileServer,
    Request,
    echo_authorization,
    lying_length,
    response,
    torn_chunked,
)

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_normal_response_and_the_request_is_recorded(
    hostile_server: HostileServer, session: aiohttp.ClientSession
) -> None:
    assert hostile_server.url.startswith("http://127.0.0.1:")
    hostile_server.queue(
        response(207, {"Content-Type": "application/json", "X-Odd": "yes"}, b'{"a": 1}')
    )
    async with session.post(
        hostile_server.url + "/crm/v3/objects/contacts/batch/update?x=1",
        json={"inputs": []},
        headers={"Authorization": "Bearer t0k"},
    ) as answer:
        assert answer.status == 207
        assert answer.reason == "Multi-Status"
        assert answer.headers["X-Odd"] == "yes"
        assert await answer.json() == {"a": 1}
    (request,) = hostile_server.requests
    assert request.method == "POST"
    assert request.path == "/crm/v3/objects/contacts/batch/update?x=1"
    assert request.headers["authorization"] == "Bearer t0k"  # case-insensitive
    assert request.json() == {"inputs": []}
    assert hostile_server.pending == 0


async def test_keep_alive_callables_and_unscripted_requests(
    hostile_server: HostileServer, session: aiohttp.ClientSession
) -> None:
    def by_path(request: Request) -> bytes:
        return response(200, body=f"you asked for {request.path}")

    hostile_server.queue(response(200, body="first"), by_path)
    texts = []
    for path in ("/one", "/two", "/three"):
        async with session.get(hostile_server.url + path) as answer:
            texts.append((answer.status, await answer.text()))
    assert texts == [
        (200, "first"),
        (200, "you asked for /two"),
        (500, "hostile server: no answer scripted"),
    ]
    assert [r.path for r in hostile_server.requests] == ["/one", "/two", "/three"]
    assert hostile_server.connections == 1  # one kept-alive connection served all three


async def test_torn_chunked_body(
    hostile_server: HostileServer, session: aiohttp.ClientSession
) -> None:
    hostile_server.queue(torn_chunked(200, {"Content-Type": "application/json"}))
    async with session.post(hostile_server.url + "/batch", data=b"{}") as answer:
        assert answer.status == 200  # the head arrived whole
        assert answer.headers["Transfer-Encoding"] == "chunked"
        with pytest.raises(aiohttp.ClientPayloadError):
            await answer.read()


async def test_content_length_that_lies(
    hostile_server: HostileServer, session: aiohttp.ClientSession
) -> None:
    hostile_server.queue(lying_length(200, body=b'{"status": "COMPL'))
    async with session.post(hostile_server.url + "/batch", data=b"{}") as answer:
        assert answer.status == 200
        assert answer.headers["Content-Length"] == str(len(b'{"status": "COMPL') + 100)
        with pytest.raises(aiohttp.ClientPayloadError):
            await answer.read()


async def test_echo_authorization(
    hostile_server: HostileServer, session: aiohttp.ClientSession
) -> None:
    hostile_server.queue(echo_authorization(), echo_authorization(401))
    async with session.get(
        hostile_server.url + "/", headers={"Authorization": "Bearer secret-1"}
    ) as answer:
        assert answer.headers["X-Echo-Authorization"] == "Bearer secret-1"
        assert await answer.json() == {"authorization": "Bearer secret-1"}
    async with session.get(hostile_server.url + "/") as answer:
        assert answer.status == 401
        assert "X-Echo-Authorization" not in answer.headers
        assert await answer.json() == {"authorization": None}


async def test_close_without_answering(
    hostile_server: HostileServer, session: aiohttp.ClientSession
) -> None:
    hostile_server.queue(CLOSE, response(200, body="after"))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with session.post(hostile_server.url + "/batch", data=b"x"):
            pass
    async with session.post(hostile_server.url + "/batch", data=b"y") as answer:
        assert await answer.text() == "after"
    assert [r.body for r in hostile_server.requests] == [b"x", b"y"]
    assert hostile_server.connections == 2  # the client had to reconnect


async def test_hang_until_released(
    hostile_server: HostileServer, session: aiohttp.ClientSession
) -> None:
    hostile_server.queue(HANG)
    call = asyncio.create_task(session.post(hostile_server.url + "/batch", data=b"{}"))
    (request,) = await hostile_server.received(1)
    assert request.body == b"{}"
    assert not call.done()  # it has the request and says nothing
    hostile_server.release()
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call


async def test_teardown_releases_a_hung_request(session: aiohttp.ClientSession) -> None:
    server = HostileServer()
    async with server:
        server.queue(Answer(response(200)[:10], then="hang"))  # a head cut short, then silence
        call = asyncio.create_task(session.get(server.url + "/"))
        await server.received(1)
    # Leaving the block closed the server without a timer, and the client saw the end.
    with pytest.raises(aiohttp.ClientError):
        await call


async def test_answer_then_close(
    hostile_server: HostileServer, session: aiohttp.ClientSession
) -> None:
    hostile_server.queue(
        Answer(response(200, body="one", headers={"Connection": "close"}), then="close"),
        Answer(lambda request: response(200, body=request.method), then="keep-alive"),
    )
    async with session.get(hostile_server.url + "/") as answer:
        assert await answer.text() == "one"
    async with session.delete(hostile_server.url + "/") as answer:
        assert await answer.text() == "DELETE"
    assert hostile_server.connections == 2
