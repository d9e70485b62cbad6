"""What a rate limiter is to the client: ``RateLimiter``, a small abstract base with defaults
for ``start`` and ``aclose``; ``WindowLimiter``, the rolling-window base both built-in
limiters share (following a stricter limit the server announces, bounding waits); and
``as_limiter``, which adapts a limiter written against the older structural protocol.

Does no I/O itself; subclasses do theirs in ``start``, ``acquire`` and ``aclose``.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Protocol

from .._exceptions import InvalidInputError
from .._protocol import RateLimitInfo
from ._rate import RateLimit

__all__ = ["Clock", "LimiterLike", "RateLimiter", "Sleep", "WindowLimiter", "as_limiter"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

logger = logging.getLogger("asyncbatch.limiter")


class RateLimiter(ABC):
    """What the client needs of a limiter (the in-memory one, a shared one, or your own).

    Subclass it and implement ``acquire``, ``observe`` and ``penalize``; override ``start``
    and ``aclose`` when the limiter holds a resource (a connection). The client calls
    ``start`` before its first request and ``aclose`` when it closes, if it built the limiter.
    """

    async def start(self) -> None:  # noqa: B027 - a default, not an abstract method
        """Get ready before the first request (connect, check); by default nothing.

        Raises:
            LimiterUnavailableError: the limiter cannot work (its backend is unreachable).
        """

    async def aclose(self) -> None:  # noqa: B027 - a default, not an abstract method
        """Release what the limiter holds; by default nothing."""

    @abstractmethod
    async def acquire(self) -> None:
        """Wait until one more request may start, and count it as started."""

    @abstractmethod
    def observe(self, info: RateLimitInfo, *, started: float | None = None) -> None:
        """Learn from the rate-limit headers of the answer to a request that started at
        ``started`` (the limiter's clock); called once per request, with an empty
        ``RateLimitInfo`` when no answer came."""

    @abstractmethod
    def penalize(self, seconds: float) -> None:
        """The server said 429: start nothing for ``seconds`` (at least a full window)."""

    def sent(self, started: float, at: float) -> None:  # noqa: B027 - a default
        """The request this limiter let start at ``started`` (the limiter's clock, read at once
        after ``acquire``) left only at ``at`` (a new connection was opened first, or the loop
        was busy): count it from ``at``, as the server counts it when it arrives. Called
        synchronously from the transport: no I/O here (the Redis limiter keeps the move for
        its next script). By default nothing."""


class LimiterLike(Protocol):
    """A limiter that subclasses nothing: the structural protocol ``RateLimiter`` was before it
    became a base class. ``as_limiter`` turns one into a ``RateLimiter``."""

    async def acquire(self) -> None: ...

    def observe(self, info: RateLimitInfo, *, started: float | None = None) -> None: ...

    def penalize(self, seconds: float) -> None: ...


class _Adapted(RateLimiter):
    """A ``LimiterLike`` as a ``RateLimiter``: its ``start`` / ``aclose`` are called if it has
    them (as the client once looked them up), else the defaults apply."""

    def __init__(self, limiter: LimiterLike) -> None:
        self.wrapped = limiter
        self._start = getattr(limiter, "start", None)
        self._aclose = getattr(limiter, "aclose", None)

    def __repr__(self) -> str:
        return f"as_limiter({self.wrapped!r})"

    async def start(self) -> None:
        if callable(self._start):
            await self._start()

    async def aclose(self) -> None:
        if callable(self._aclose):
            await self._aclose()

    async def acquire(self) -> None:
        await self.wrapped.acquire()

    def observe(self, info: RateLimitInfo, *, started: float | None = None) -> None:
        self.wrapped.observe(info, started=started)

    def penalize(self, seconds: float) -> None:
        self.wrapped.penalize(seconds)

    def sent(self, started: float, at: float) -> None:
        method = getattr(self.wrapped, "sent", None)
        if callable(method):
            method(started, at)


def as_limiter(limiter: RateLimiter | LimiterLike) -> RateLimiter:
    """``limiter`` itself when it is a ``RateLimiter``; one that subclasses nothing but has
    ``acquire``, ``observe`` and ``penalize`` is wrapped, so it keeps working.

    Raises:
        InvalidInputError: ``limiter`` lacks one of those methods.
    """
    if isinstance(limiter, RateLimiter):
        return limiter
    missing = [
        name
        for name in ("acquire", "observe", "penalize")
        if not callable(getattr(limiter, name, None))
    ]
    if missing:
        raise InvalidInputError(
            "limiter must be an asyncbatch.RateLimiter or have acquire, observe and penalize "
            f"methods; {type(limiter).__name__} has no {', '.join(missing)}"
        )
    return _Adapted(limiter)


class WindowLimiter(RateLimiter):
    """A limiter of request starts in a rolling window, which follows the server's headers.

    The window now (``limit`` requests per ``window_seconds``) starts as configured in
    ``rate``. A stricter ``X-HubSpot-RateLimit-Max`` / ``-Interval-Milliseconds`` lowers it
    (``follow_server``), never a looser one: the configured limit stays the ceiling, as it is
    the caller's share of the account. A header announcing a window longer than
    ``rate.max_interval_seconds``, or fewer than 1 request, is ignored (and logged once).

    Every single wait is bounded by ``max_wait_seconds`` (one configured window plus
    ``rate.max_interval_seconds``), the longest a 429 pause lasts too (``pause_seconds``), so
    a bad clock or a corrupt shared state delays a request by that much at most before the
    limiter looks again.
    """

    def __init__(self, rate: RateLimit) -> None:
        self.rate = rate
        self._limit = rate.requests
        self._interval = rate.per_seconds
        self._margin = rate.safety_margin_seconds
        self._warned_interval = False

    @property
    def limit(self) -> int:
        """The requests allowed per window now (lowered if the server said less)."""
        return self._limit

    @property
    def window_seconds(self) -> float:
        """The rolling window now, including the safety margin."""
        return self._interval + self._margin

    @property
    def max_wait_seconds(self) -> float:
        """The longest one wait or one 429 pause lasts before the limiter looks again."""
        rate = self.rate
        return rate.per_seconds + rate.safety_margin_seconds + rate.max_interval_seconds

    def pause_seconds(self, seconds: float) -> float:
        """How long a 429 asking for ``seconds`` pauses: at least the window now, at most
        ``max_wait_seconds`` (a nonsense figure counts as no figure)."""
        wanted = seconds if math.isfinite(seconds) else 0.0
        return min(max(wanted, self.window_seconds), self.max_wait_seconds)

    def follow_server(self, info: RateLimitInfo) -> bool:
        """Adopt the server's ``-Max`` per ``-Interval-Milliseconds`` where stricter in burst
        and in rate; True when the headers carried a usable limit (adopted or not), False when
        they carried none or one out of bounds."""
        if info.max is None or info.interval_ms is None or info.max < 1:
            return False
        # Compared before dividing: a header of 400 digits is an int no float can hold.
        if info.interval_ms > self.rate.max_interval_seconds * 1000:
            self._warn_interval(info)
            return False
        interval = info.interval_ms / 1000.0
        if info.max <= self._limit and info.max / interval <= self._limit / self._interval:
            self._limit, self._interval = info.max, interval
        return True

    def _warn_interval(self, info: RateLimitInfo) -> None:
        if self._warned_interval:
            return
        self._warned_interval = True
        logger.warning(
            "ignoring X-HubSpot-RateLimit-Max: %d per -Interval-Milliseconds: %d: the window is "
            "longer than RateLimit.max_interval_seconds (%g s); keeping %d per %g s",
            info.max,
            info.interval_ms,
            self.rate.max_interval_seconds,
            self._limit,
            self._interval,
        )
