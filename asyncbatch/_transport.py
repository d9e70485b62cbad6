"""The HTTP transport: the only module of the client that imports aiohttp. Does network I/O.

``Transport`` is the small interface the client needs; ``AiohttpTransport`` implements it with
one ``aiohttp.ClientSession`` whose connection pool is sized to the concurrency, and
``MockTransport`` lets tests plug in a plain function. aiohttp's exceptions are translated here,
most specific first, into ``RequestTimeoutError`` / ``ConnectionFailedError`` /
``TransportError``; their messages never include request headers (and so never the token).

``on_sent`` (a context variable) lets the caller learn when a request's headers left on the
socket: the dispatcher counts a request against the rate window from then, not from before a
connection was opened (HubSpot counts a request when it arrives). ``AiohttpTransport`` calls it
as aiohttp's request is sent on a connection and again as its body is written
(``_SentRequest``, the session's ``request_class``); a caller's own transport need not.

``trust_env`` is not passed to aiohttp: its ``trust_env`` also applies ``.netrc`` to the API's
own host, which beside the Bearer token makes aiohttp refuse every request. The transport reads
the environment's proxy itself (``_proxies.env_proxy``, as aiohttp reads it, ``.netrc`` for
the proxy's credentials included), once per origin, and hands it to aiohttp as ``proxy=``.
"""

from __future__ import annotations

import ipaddress
import re
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Protocol
from urllib.parse import urlencode, urlsplit

import aiohttp
import anyio
import attrs
from aiohttp.abc import AbstractStreamWriter
from aiohttp.connector import Connection

from ._exceptions import (
    ConnectionFailedError,
    InvalidInputError,
    MalformedResponseError,
    RequestTimeoutError,
    TransportError,
)
from ._proxies import env_proxy

__all__ = [
    "AiohttpTransport",
    "MockTransport",
    "Network",
    "RawResponse",
    "Transport",
    "check_base_url",
    "on_sent",
]

#: Called (no arguments) when the current task's request has sent its headers; set around one
#: ``post``/``get`` by the caller that wants to know (the dispatcher), ``None`` otherwise.
on_sent: ContextVar[Callable[[], None] | None] = ContextVar("asyncbatch_on_sent", default=None)

#: Answers larger than this are cut off and reported, not read into memory whole.
MAX_BODY_BYTES = 32 * 1024 * 1024


@attrs.frozen
class RawResponse:
    """An HTTP answer as received."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    async def post(self, url: str, body: bytes, *, timeout_seconds: float) -> RawResponse:
        """POST ``body`` (JSON) to ``url``; raise a ``TransportError`` if no answer came, or
        ``MalformedResponseError`` if the answer was unreadable (a body over the size cap)."""

    async def get(self, url: str, *, timeout_seconds: float) -> RawResponse:
        """GET ``url`` (the property definitions); errors as for ``post``. Optional for a
        caller's own transport: without it, values go unchecked (``check_properties``)."""

    async def aclose(self) -> None:
        """Release connections."""


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str, *, name: str = "base_url") -> str:
    """Return ``base_url`` without a trailing slash if it is https, or http to loopback only.
    ``name``: the argument it came in, for the messages (``token_url``).

    Raises:
        InvalidInputError: another scheme, no host, or plain http to a non-loopback host.
    """
    if not isinstance(base_url, str):
        raise InvalidInputError(f"{name} must be a string, got {type(base_url).__name__}")
    # Refused once, here, rather than on every chunk: spaces and control characters, a
    # bracket left open, a port that is not a port, a query or fragment, a host that is not
    # a host name or an IP address.
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInputError(f"{name} is not a valid URL ({exc}): {base_url!r}") from None
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidInputError(f"{name} must be an https:// URL, got {base_url!r}")
    if (
        any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in base_url)
        or parts.query
        or parts.fragment
        or "?" in base_url
        or "#" in base_url
        or not (_HOST.fullmatch(host) or _is_ip(host))
        or port == 0
    ):
        raise InvalidInputError(
            f"{name} must be scheme://host[:port][/path] with no spaces, query or fragment, "
            f"got {base_url!r}"
        )
    if parts.username or parts.password:
        raise InvalidInputError(f"{name} must not carry credentials")
    if parts.scheme == "http" and not _is_loopback(host):
        raise InvalidInputError(
            f"{name}: plain http:// is refused except to loopback (got host {host!r}): "
            "credentials would travel unencrypted; use https://"
        )
    return base_url.rstrip("/")


@attrs.frozen
class Network:
    """How the transport reaches HubSpot: ``proxy`` (an ``http://`` proxy URL, credentials
    allowed: they are masked everywhere), ``trust_env`` (without ``proxy``: the proxy
    ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` name, as aiohttp reads them, with ``.netrc``
    credentials for the proxy's host; never ``.netrc`` for HubSpot's host), ``ssl`` (an
    ``ssl.SSLContext``, or the path of a CA bundle, for corporate proxies with their own CA)."""

    proxy: str | None = attrs.field(default=None, repr=False)
    trust_env: bool = False
    ssl: ssl_module.SSLContext | str | None = None

    def __attrs_post_init__(self) -> None:
        if self.proxy is not None:
            try:
                scheme = urlsplit(self.proxy).scheme
            except ValueError:
                scheme = ""
            if scheme not in ("http", "https"):
                raise InvalidInputError("proxy must be an http:// or https:// URL")
        if self.ssl is not None and not isinstance(self.ssl, ssl_module.SSLContext | str):
            raise InvalidInputError("ssl must be an ssl.SSLContext or a CA bundle path")

    def ssl_context(self) -> ssl_module.SSLContext | bool:
        if isinstance(self.ssl, str):
            try:
                return ssl_module.create_default_context(cafile=self.ssl)
            except OSError as exc:
                raise InvalidInputError(f"cannot read the CA bundle {self.ssl}: {exc}") from None
        return self.ssl if self.ssl is not None else True


class AiohttpTransport:
    """``Transport`` over one aiohttp session. Redirects are not followed, so the token is
    never sent to another host; a 3xx comes back as an answer like any other."""

    def __init__(
        self,
        *,
        token: str,
        max_connections: int,
        user_agent: str,
        network: Network | None = None,
    ) -> None:
        self._network = network or Network()
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": user_agent,
        }
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        #: with ``trust_env``: the environment's proxy for each origin asked so far
        self._env_proxies: dict[tuple[str, str], str | None] = {}

    def __repr__(self) -> str:
        return f"AiohttpTransport(max_connections={self._max_connections})"

    def set_token(self, token: str) -> None:
        """Send ``token`` from now on (a refreshed OAuth token)."""
        self._headers["Authorization"] = f"Bearer {token}"

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            # Never reopen after aclose(): a new session would leak and send for a closed
            # client.
            raise ConnectionFailedError("the transport is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=self._max_connections,
                ssl=self._network.ssl_context(),
            )
            # trust_env stays off: aiohttp's would send .netrc logins to HubSpot (_proxy).
            self._session = aiohttp.ClientSession(
                connector=connector, raise_for_status=False, request_class=_SentRequest
            )
        return self._session

    async def _proxy(self, url: str) -> str | None:
        """The proxy for ``url``: the given one, or with ``trust_env`` the environment's for
        its origin (read once, in a thread: ``.netrc`` is a file)."""
        if self._network.proxy is not None or not self._network.trust_env:
            return self._network.proxy
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        if origin not in self._env_proxies:
            self._env_proxies[origin] = await anyio.to_thread.run_sync(env_proxy, url)
        return self._env_proxies[origin]

    async def post(self, url: str, body: bytes, *, timeout_seconds: float) -> RawResponse:
        return await self._request("POST", url, body, timeout_seconds)

    async def get(self, url: str, *, timeout_seconds: float) -> RawResponse:
        return await self._request("GET", url, None, timeout_seconds)

    async def post_form(
        self, url: str, fields: Mapping[str, str], *, timeout_seconds: float
    ) -> RawResponse:
        """POST ``fields`` form-encoded to ``url`` (an OAuth token endpoint) through the same
        session, proxy and TLS settings, without the bearer token; errors as for ``post``."""
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "User-Agent": self._headers["User-Agent"],
        }
        body = urlencode(fields).encode()
        return await self._request("POST", url, body, timeout_seconds, headers=headers)

    async def _request(
        self,
        method: str,
        url: str,
        body: bytes | None,
        timeout_seconds: float,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> RawResponse:
        session = self._open()
        proxy = await self._proxy(url)
        timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        try:
            async with session.request(
                method,
                url,
                data=body,
                headers=self._headers if headers is None else headers,
                timeout=timeout,
                allow_redirects=False,
                proxy=proxy,
            ) as response:
                chunks = []
                size = 0
                async for piece in response.content.iter_chunked(64 * 1024):
                    size += len(piece)
                    if size > MAX_BODY_BYTES:
                        raise MalformedResponseError(
                            f"HTTP {response.status} with a body over {MAX_BODY_BYTES} bytes; "
                            "not read",
                            status=response.status,
                        )
                    chunks.append(piece)
                return RawResponse(
                    status=response.status,
                    headers=dict(response.headers),
                    body=b"".join(chunks),
                )
        except (TransportError, MalformedResponseError):
            raise
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise RequestTimeoutError(
                f"no answer within {timeout_seconds:g} s from {_where(url)}"
            ) from _scrub(exc)
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError) as exc:
            raise ConnectionFailedError(
                f"{type(exc).__name__} talking to {_where(url)}: {_safe_text(exc)}",
                before_sending=isinstance(exc, aiohttp.ClientConnectorError),
            ) from _scrub(exc)
        except aiohttp.ClientError as exc:
            raise TransportError(
                f"{type(exc).__name__} talking to {_where(url)}: {_safe_text(exc)}"
            ) from _scrub(exc)

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class _SentRequest(aiohttp.ClientRequest):
    """aiohttp's request, calling ``on_sent`` when it leaves: first as it is sent on a
    connection it holds (where aiohttp's ``on_request_headers_sent`` trace fires), and again
    when its body is written. aiohttp buffers the headers to write them with the body, and on
    Python 3.11 writes the body from a task of its own, queued behind whatever the loop has
    ready (4 ms later for the second request of the rate-bound benchmark's first window, which
    then reached the server 0.3 ms after it was counted instead of 4.3). The task runs in a
    copy of the sender's context, so it sees the same hook; the later call moves the start
    again. A ``TraceConfig`` told the first moment for 15-35 µs a request: with any trace,
    aiohttp awaits its signals at every step of every request and answer chunk."""

    async def send(self, conn: Connection) -> aiohttp.ClientResponse:
        _tell_sent()
        return await super().send(conn)

    async def write_bytes(
        self, writer: AbstractStreamWriter, conn: Connection, content_length: int | None = None
    ) -> None:
        _tell_sent()
        await super().write_bytes(writer, conn, content_length)


def _tell_sent() -> None:
    hook = on_sent.get()
    if hook is not None:
        hook()


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _safe_text(exc: BaseException) -> str:
    # aiohttp's ClientResponseError carries request_info (with headers); its str() does not
    # include them, but be explicit: only the message goes into ours.
    return str(exc)[:300]


def _scrub(exc: BaseException) -> BaseException | None:
    # Keep the cause for debugging, minus the request headers it may reference.
    if isinstance(exc, aiohttp.ClientResponseError):
        return None
    return exc


Handler = Callable[[str, bytes], Awaitable[RawResponse]]


class MockTransport:
    """A ``Transport`` that calls ``handler(url, body)``: for tests and dry runs.

    GETs (the property definitions) go to ``get_handler(url)``; without one they answer 404,
    as for an account whose definitions cannot be read, so the client goes on unchecked.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        get_handler: Callable[[str], Awaitable[RawResponse]] | None = None,
    ) -> None:
        self._handler = handler
        self._get_handler = get_handler
        self.closed = False

    async def post(self, url: str, body: bytes, *, timeout_seconds: float) -> RawResponse:
        return await self._handler(url, body)

    async def get(self, url: str, *, timeout_seconds: float) -> RawResponse:
        if self._get_handler is None:
            return RawResponse(404, {}, b'{"status":"error","message":"not served"}')
        return await self._get_handler(url)

    async def aclose(self) -> None:
        self.closed = True
