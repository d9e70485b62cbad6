"""Access tokens that change during a run: a caller's provider (a sync or async callable
returning the current token), asked at the start and again after HubSpot answers 401
``EXPIRED_AUTHENTICATION``, once per expiry however many chunks saw it. No network I/O of its
own (the provider may do some); it waits on a lock.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

import anyio

from ._exceptions import InvalidInputError

__all__ = ["TokenProvider", "TokenSource", "check_token"]

#: ``BatchClient(access_token=...)`` may be this: called for the current token.
TokenProvider = Callable[[], "str | Awaitable[str]"]


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

    def __init__(self, provider: TokenProvider) -> None:
        self._provider = provider
        self._lock = anyio.Lock()
        self.token: str | None = None
        #: how many tokens the provider has given; a chunk remembers the one it was sent with
        self.generation = 0
        #: every token given so far, as bytes: none may appear in anything printed
        self.given: list[bytes] = []

    async def refresh(self, generation: int) -> str:
        """A token newer than ``generation``: the provider is asked only if nobody asked it
        since (concurrent chunks that saw one expiry share one refresh).

        Raises:
            InvalidInputError: the provider gave no usable token.
        """
        async with self._lock:
            if self.token is None or self.generation == generation:
                given = self._provider()
                if inspect.isawaitable(given):
                    given = await given
                self.token = check_token(given)
                self.generation += 1
                self.given.append(self.token.encode())
            return self.token
