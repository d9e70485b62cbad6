"""The rolling-window rate limiter. Does no network I/O; waits through an injected ``sleep``
and reads time from an injected ``clock``, so tests run it on a fake clock without real waiting.

HubSpot counts a request when it *arrives*; a request that travels slower than the one after it
can land in the next window. ``RateLimit.safety_margin_seconds`` widens the client's window by
that much so such a pair still fits under the server's limit.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import anyio
import attrs

from ._exceptions import InvalidInputError
from ._protocol import RateLimitInfo

__all__ = ["Clock", "RateLimit", "RateLimiter", "RollingWindowLimiter", "Sleep"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def _check_rate(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if attribute.name == "requests":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInputError(f"RateLimit.requests must be an int >= 1, got {value!r}")
    elif attribute.name == "per_seconds":
        if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise InvalidInputError(f"RateLimit.per_seconds must be > 0, got {value!r}")
    elif not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidInputError(f"RateLimit.{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen
class RateLimit:
    """At most ``requests`` request starts in any rolling ``per_seconds`` window.

    HubSpot's default for private apps is 100 per 10 s (190 on higher tiers).
    ``safety_margin_seconds`` is added to the window (see the module docstring).
    """

    requests: int = attrs.field(default=100, validator=_check_rate)
    per_seconds: float = attrs.field(default=10.0, validator=_check_rate)
    safety_margin_seconds: float = attrs.field(default=0.2, kw_only=True, validator=_check_rate)


class RateLimiter(Protocol):
    """What the client needs of a limiter (the in-memory one, or a shared one)."""

    async def acquire(self) -> None:
        """Wait until one more request may start, and count it as started."""

    def observe(self, info: RateLimitInfo) -> None:
        """Learn from the rate-limit headers of an answer."""

    def penalize(self, seconds: float) -> None:
        """The server said 429: start nothing for ``seconds`` (at least a full window)."""


class RollingWindowLimiter:
    """In-memory rolling-window limiter, shared by every call of one ``BatchClient``.

    Keeps the start time of the last ``requests`` requests; a new start waits until the oldest
    leaves the window. Waiters are served first come, first served.
    """

    def __init__(
        self,
        rate: RateLimit,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        self.rate = rate
        self._limit = rate.requests
        self._window = rate.per_seconds + rate.safety_margin_seconds
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._blocked_until = -math.inf
        self._lock = anyio.Lock()

    @property
    def limit(self) -> int:
        """The requests allowed per window now (lowered if the server said less)."""
        return self._limit

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                while self._starts and self._starts[0] <= now - self._window:
                    self._starts.popleft()
                wait = self._blocked_until - now
                if len(self._starts) >= self._limit:
                    wait = max(wait, self._starts[0] + self._window - now)
                if wait <= 0:
                    self._starts.append(now)
                    return
                await self._sleep(wait)

    def observe(self, info: RateLimitInfo) -> None:
        # Learn a lower limit from the headers, never a higher one: the configured limit is the
        # caller's budget (other processes may share the account).
        if info.max is None or info.interval_ms is None:
            return
        server_per_window = info.max * (self.rate.per_seconds * 1000.0 / info.interval_ms)
        if 1 <= server_per_window < self._limit:
            self._limit = max(1, math.floor(server_per_window))

    def penalize(self, seconds: float) -> None:
        until = self._clock() + max(seconds, self._window)
        self._blocked_until = max(self._blocked_until, until)
