"""Access tokens that change during a run. No network I/O of its own (a provider may do some);
it waits on a lock.

Two kinds of provider:

- a caller's callable (sync or async) returning the current token, asked at the start and
  again after HubSpot answers 401 ``EXPIRED_AUTHENTICATION``, once per expiry however many
  chunks saw it;
- a ``BindableTokenProvider`` (``OAuthRefresh``), which knows when its token expires and
  refreshes it itself through the client's connection. ``BatchClient`` calls its ``bind``
  once with its base URL and transport, the one explicit hook, and asks the bound view before
  each request whether the token is due (``TokenSource.due``) as well as after an expiry.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import anyio

from ._exceptions import InvalidInputError
from ._transport import RawResponse

__all__ = [
    "BindableTokenProvider",
    "BoundTokenProvider",
    "FormPoster",
    "TokenProvider",
    "TokenSource",
    "check_token",
]

#: ``BatchClient(access_token=...)`` may be this: called for the current token.
TokenProvider = Callable[[], "str | Awaitable[str]"]


class FormPoster(Protocol):
    """What a bound provider sends through: the client's transport (``AiohttpTransport``)."""

    async def post_form(
        self, url: str, fields: Mapping[str, str], *, timeout_seconds: float
    ) -> RawResponse:
        """POST ``fields`` form-encoded, without the bearer token."""


class BoundTokenProvider(abc.ABC):
    """A provider bound to one client: it gives the current token, refreshing when due."""

    @abc.abstractmethod
    def due(self, token: str | None) -> bool:
        """Whether ``token`` (the one the client sends) should be replaced before the next
        request: it is not the provider's current one, or that one expires soon."""

    @abc.abstractmethod
    async def token(self, *, refused: str | None) -> str:
        """The current token, refreshed first if it is due, or if it is ``refused`` (HubSpot
        answered ``EXPIRED_AUTHENTICATION`` to it) even when not yet due.

        Raises:
            AsyncBatchError: the refresh failed (refused, or still failing after retries).
        """

    def secrets(self) -> list[str]:
        """Every secret it holds or was given (to mask them all)."""
        return []


class BindableTokenProvider(abc.ABC):
    """A token provider that needs the client: ``BatchClient`` binds it at construction."""

    @abc.abstractmethod
    def bind(
        self, *, base_url: str, transport: FormPoster, timeout_seconds: float
    ) -> BoundTokenProvider:
        """This provider as used by the client at ``base_url``, sending through
        ``transport``. May be called by several clients; they share the provider's token.

        Raises:
            InvalidInputError: it cannot serve that client (say, no https).
        """


def check_token(token: object) -> str:
    """``token`` stripped, if it is a usable bearer token, else ``InvalidInputError``."""
    if not token or not isinstance(token, str) or not token.strip():
        raise InvalidInputError(
            "no access token: pass access_token=... or set HUBSPOT_ACCESS_TOKEN"
        )
    token = token.strip()
    # A header value must be printable: refuse control characters (CR/LF, NUL, DEL...) once,
    # here, rather than fail every chunk.
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in token):
        raise InvalidInputError("access_token must be one line of printable characters")
    return token


class TokenSource:
    """The current token of a provider, and every token it gave (to mask them all)."""

    def __init__(self, provider: TokenProvider | BoundTokenProvider) -> None:
        self._provider = provider
        self._lock = anyio.Lock()
        self.token: str | None = None
        #: how many tokens the provider has given; a chunk remembers the one it was sent with
        self.generation = 0
        #: every token given so far, as bytes: none may appear in anything printed
        self.given: list[bytes] = []

    def due(self) -> bool:
        """Whether the token should be refreshed before the next request (none yet, or a
        bound provider says its time has come). A plain callable is never due: it is asked
        only at the start and after an expiry."""
        if self.token is None:
            return True
        return isinstance(self._provider, BoundTokenProvider) and self._provider.due(self.token)

    def secrets(self) -> list[str]:
        """What the provider holds that must be masked (a bound provider's secrets)."""
        return self._provider.secrets() if isinstance(self._provider, BoundTokenProvider) else []

    async def refresh(self, generation: int, *, expired: bool = True) -> str:
        """A token newer than ``generation``: the provider is asked only if nobody asked it
        since (concurrent chunks that saw one expiry share one refresh). ``expired``: HubSpot
        refused the current token (False: it is only due).

        Raises:
            InvalidInputError: the provider gave no usable token.
            AsyncBatchError: a bound provider's refresh failed.
        """
        async with self._lock:
            if self.token is None or self.generation == generation:
                given = await self._ask(expired)
                self.token = check_token(given)
                self.generation += 1
                self.given.append(self.token.encode())
            return self.token

    async def _ask(self, expired: bool) -> object:
        provider = self._provider
        if isinstance(provider, BoundTokenProvider):
            return await provider.token(refused=self.token if expired else None)
        given = provider()
        if inspect.isawaitable(given):
            given = await given
        return given
