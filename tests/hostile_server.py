"""A hostile HTTP/1.1 server for tests: raw asyncio sockets on 127.0.0.1, exact bytes per request.

Where the emulator behaves like HubSpot, this server behaves like a broken network or a
misbehaving proxy, byte for byte. A test queues one answer per request, in the order requests
will arrive (over any number of connections); each answer is:

- raw ``bytes``, written as they are, then the connection stays open for the next request;
- a callable ``(Request) -> bytes``, for answers that depend on the request;
- an ``Answer(data, then=...)``, which also says what happens after writing: ``"keep-alive"``,
  ``"close"`` (the server hangs up) or ``"hang"`` (it never says more).

Helpers build the usual hostile answers:

- ``response(status, headers, body)``: a well-formed response (``Content-Length`` added);
- ``torn_chunked(...)``: a chunked body cut in the middle of a chunk, then the server closes;
- ``lying_length(...)``: a ``Content-Length`` larger than the body sent, then the server closes;
- ``echo_authorization(...)``: the request's ``Authorization`` header echoed into the
  ``X-Echo-Authorization`` header and the JSON body (for "is the token sent there?" tests);
- ``HANG``: read the request and never answer. Hung connections are released (closed) by
  ``release()`` or at teardown, never by a timer;
- ``CLOSE``: read the request and close without answering.

A request with nothing queued gets a 500 whose body says so. Every request received is recorded
in ``server.requests`` (method, path, headers, body), and ``await server.received(n)`` waits
(on a condition, not a sleep) until ``n`` have arrived. Request bodies are read by
``Content-Length`` (what aiohttp sends for bytes and JSON); chunked request bodies are not
supported. The ``hostile_server`` fixture (registered in ``tests/conftest.py``) starts one on
port 0 and closes it after the test.

I/O: listens on a loopback TCP port for the duration of a test.
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Literal

import pytest_asyncio
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = [
    "CLOSE",
    "HANG",
    "Answer",
    "HostileServer",
    "Request",
    "echo_authorization",
    "hostile_server",
    "lying_length",
    "response",
    "torn_chunked",
]


@dataclass(frozen=True)
class Request:
    """One request as the server read it."""

    method: str
    path: str
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


Script = bytes | Callable[[Request], bytes]


@dataclass(frozen=True)
class Answer:
    """Bytes to write (or a function of the request giving them), then what the server does."""

    data: Script = b""
    then: Literal["keep-alive", "close", "hang"] = "keep-alive"


HANG = Answer(then="hang")
CLOSE = Answer(then="close")


def response(
    status: int = 200,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    body: bytes | str = b"",
    *,
    reason: str | None = None,
) -> bytes:
    """A well-formed HTTP/1.1 response; ``Content-Length`` is added unless ``headers`` has one."""
    data = body.encode() if isinstance(body, str) else body
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers)
    if not any(name.lower() == "content-length" for name, _ in pairs):
        pairs.append(("Content-Length", str(len(data))))
    return _head(status, pairs, reason) + data


def torn_chunked(
    status: int = 200,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    body: bytes = b'{"status": "COMPLETE", "results": []}',
    *,
    sent: int | None = None,
) -> Answer:
    """A chunked response announcing ``body`` as one chunk, cut after ``sent`` bytes of it
    (default: half), then the server closes: the client sees the headers, then a broken body."""
    cut = len(body) // 2 if sent is None else sent
    pairs = [*(headers.items() if isinstance(headers, Mapping) else headers)]
    pairs.append(("Transfer-Encoding", "chunked"))
    return Answer(_head(status, pairs) + b"%x\r\n" % len(body) + body[:cut], then="close")


def lying_length(
    status: int = 200,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    body: bytes = b'{"status": "COMPLETE", "results": []}',
    *,
    claimed: int | None = None,
) -> Answer:
    """A response whose ``Content-Length`` says ``claimed`` bytes (default: 100 more than sent),
    then the server closes after ``body``."""
    length = len(body) + 100 if claimed is None else claimed
    pairs = [*(headers.items() if isinstance(headers, Mapping) else headers)]
    pairs.append(("Content-Length", str(length)))
    return Answer(_head(status, pairs) + body, then="close")


def echo_authorization(status: int = 200) -> Callable[[Request], bytes]:
    """An answer echoing the request's ``Authorization`` header (None if absent) into the
    ``X-Echo-Authorization`` header and the JSON body ``{"authorization": ...}``."""

    def answer(request: Request) -> bytes:
        value = request.headers.get("Authorization")
        body = json.dumps({"authorization": value}).encode()
        headers = [("Content-Type", "application/json")]
        if value is not None:
            headers.append(("X-Echo-Authorization", value))
        return response(status, headers, body)

    return answer


def _head(status: int, headers: Iterable[tuple[str, str]], reason: str | None = None) -> bytes:
    if reason is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class HostileServer:
    """The server; ``async with HostileServer() as server`` or the ``hostile_server`` fixture."""

    host: str = "127.0.0.1"
    requests: list[Request] = field(default_factory=list)
    #: Connections accepted so far (a client that reconnects after a close shows here).
    connections: int = 0
    _answers: collections.deque[Script | Answer] = field(default_factory=collections.deque)
    _server: asyncio.Server | None = None
    _released: asyncio.Event = field(default_factory=asyncio.Event)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def __aenter__(self) -> HostileServer:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, the base URL to give a client."""
        if self._server is None:
            raise RuntimeError("hostile server not started")
        port = self._server.sockets[0].getsockname()[1]
        return f"http://{self.host}:{port}"

    def queue(self, *answers: Script | Answer) -> None:
        """Append answers for the next requests, in order."""
        self._answers.extend(answers)

    @property
    def pending(self) -> int:
        """Queued answers not yet used."""
        return len(self._answers)

    async def received(self, count: int) -> list[Request]:
        """Wait until at least ``count`` requests have arrived; return them all."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)
        return self.requests

    def release(self) -> None:
        """Let every hung connection go: each is closed without an answer."""
        self._released.set()

    async def aclose(self) -> None:
        """Release hung connections, stop listening, close every connection, wait for them."""
        self.release()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        try:
            while (request := await _read_request(reader)) is not None:
                await self._record(request)
                answer = self._answers.popleft() if self._answers else _UNSCRIPTED
                if not isinstance(answer, Answer):
                    answer = Answer(answer)
                data = answer.data(request) if callable(answer.data) else answer.data
                writer.write(data)
                await writer.drain()
                if answer.then == "hang":
                    await self._released.wait()
                if answer.then != "keep-alive":
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up: nothing more to serve on this connection
        finally:
            self._writers.discard(writer)
            writer.close()
            self._tasks.discard(task)

    async def _record(self, request: Request) -> None:
        async with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()


_UNSCRIPTED = Answer(
    response(500, {"Content-Type": "text/plain"}, b"hostile server: no answer scripted")
)


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request on the connection, or None when the client closed it cleanly."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return None
    request_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
    method, target, _version = request_line.split(" ", 2)
    headers: CIMultiDict[str] = CIMultiDict()
    for line in header_lines:
        name, _, value = line.partition(":")
        headers.add(name.strip(), value.strip())
    length = int(headers.get("Content-Length", "0"))
    body = await reader.readexactly(length) if length else b""
    return Request(method, target, CIMultiDictProxy(headers), body)


@pytest_asyncio.fixture
async def hostile_server() -> AsyncIterator[HostileServer]:
    """A started ``HostileServer`` on 127.0.0.1 (port 0), closed after the test."""
    async with HostileServer() as server:
        yield server
