"""The rolling-window rate limiter. Does no network I/O; waits through an injected ``sleep``
and reads time from an injected ``clock``, so tests run it on a fake clock without real waiting.

HubSpot counts a request when it *arrives*; a request that travels slower than the one after it
can land in the next window. ``RateLimit.safety_margin_seconds`` widens the client's window by
that much so such a pair still fits under the server's limit.
"""

from __future__ import annotations

import math
import re
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import anyio
import attrs

from ._exceptions import InvalidInputError
from ._protocol import RateLimitInfo

__all__ = ["Clock", "RateLimit", "RateLimiter", "RollingWindowLimiter", "Sleep", "redact_url"]

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


_REDIS_SCHEMES = ("redis", "rediss", "unix")
_BUDGET_KEY = re.compile(r"[A-Za-z0-9_.:@/-]{1,200}")


def redact_url(url: str | None) -> str | None:
    """``url`` with any password replaced by ``***`` (for reprs, logs and errors)."""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = f"{parts.username}:" if parts.username else ":"
        return parts._replace(netloc=f"{user}***@{netloc}").geturl()
    except ValueError:
        return "<unreadable URL>"


def _url_repr(url: str | None) -> str:
    return repr(redact_url(url))


def _check_redis_url(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    try:
        scheme = urlsplit(value).scheme if isinstance(value, str) else None
    except ValueError:  # e.g. an unclosed IPv6 bracket
        scheme = None
    if scheme not in _REDIS_SCHEMES:
        shown = redact_url(value) if isinstance(value, str) else type(value).__name__
        raise InvalidInputError(
            f"RateLimit.redis_url must be a redis://, rediss:// or unix:// URL, got {shown!r}"
        )


def _check_key(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not _BUDGET_KEY.fullmatch(value):
        raise InvalidInputError(
            "RateLimit.key must be 1 to 200 letters, digits or _.:@/- (it names the shared "
            f"budget in Redis), got {value!r}"
        )


@attrs.frozen
class RateLimit:
    """At most ``requests`` request starts in any rolling ``per_seconds`` window.

    HubSpot's default for private apps is 100 per 10 s (190 on higher tiers).
    ``safety_margin_seconds`` is added to the window (see the module docstring); by default
    1 % of the window (0.1 s of 10 s), which costs 1 % of the ceiling.

    With ``redis_url`` the budget is shared through Redis by every process and host that uses
    the same URL and ``key`` (one key per HubSpot account): the window is counted in Redis,
    on Redis's clock. It needs the ``redis`` extra (``pip install 'asyncbatch[redis]'``).
    The URL's password never appears in the repr.
    """

    requests: int = attrs.field(default=100, validator=_check_rate)
    per_seconds: float = attrs.field(default=10.0, validator=_check_rate)
    safety_margin_seconds: float = attrs.field(kw_only=True, validator=_check_rate)
    redis_url: str | None = attrs.field(
        default=None, kw_only=True, validator=_check_redis_url, repr=_url_repr
    )
    key: str = attrs.field(default="default", kw_only=True, validator=_check_key)

    @safety_margin_seconds.default
    def _default_margin(self) -> float:
        return self.per_seconds * 0.01 if isinstance(self.per_seconds, int | float) else 0.0


class RateLimiter(Protocol):
    """What the client needs of a limiter (the in-memory one, or a shared one)."""

    async def acquire(self) -> None:
        """Wait until one more request may start, and count it as started."""

    def observe(self, info: RateLimitInfo, *, started: float | None = None) -> None:
        """Learn from the rate-limit headers of the answer to a request that started at
        ``started`` (the limiter's clock); called once per request, with an empty
        ``RateLimitInfo`` when no answer came."""

    def penalize(self, seconds: float) -> None:
        """The server said 429: start nothing for ``seconds`` (at least a full window)."""


class _FollowsServer:
    """What every limiter shares: the window now, which a stricter ``X-HubSpot-RateLimit-Max``
    / ``-Interval-Milliseconds`` lowers (never a looser one: the configured limit stays the
    ceiling, as it is the caller's share of the account)."""

    def __init__(self, rate: RateLimit) -> None:
        self.rate = rate
        self._limit = rate.requests
        self._interval = rate.per_seconds
        self._margin = rate.safety_margin_seconds

    @property
    def limit(self) -> int:
        """The requests allowed per window now (lowered if the server said less)."""
        return self._limit

    @property
    def window_seconds(self) -> float:
        """The rolling window now, including the safety margin."""
        return self._interval + self._margin

    def _follow_server(self, info: RateLimitInfo) -> bool:
        """Adopt the server's limit where stricter in burst and in rate; False when the
        headers carried no limit."""
        if info.max is None or info.interval_ms is None or info.max < 1:
            return False
        interval = info.interval_ms / 1000.0
        if info.max <= self._limit and info.max / interval <= self._limit / self._interval:
            self._limit, self._interval = info.max, interval
        return True


class RollingWindowLimiter(_FollowsServer):
    """In-memory rolling-window limiter, shared by every call of one ``BatchClient``.

    Keeps the start time of the last ``requests`` requests; a new start waits until the oldest
    leaves the window. Waiters are served first come, first served.

    It learns from HubSpot's ``X-HubSpot-RateLimit-*`` headers:

    - when ``-Max`` per ``-Interval-Milliseconds`` is stricter than the configured limit (in
      burst and in rate), it follows the server's figure (never a looser one);
    - when ``-Remaining`` shows more requests in the server's window than this limiter
      started, another client is spending the same budget: it counts those requests as its
      own, stamped when it learnt of them (so they expire later than the real ones, and the
      other client gets its slots back first), and slows down instead of collecting 429s.
    """

    def __init__(
        self,
        rate: RateLimit,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        super().__init__(rate)
        self._clock = clock
        self._sleep = sleep
        # Our starts over two windows, in order (bisected, so counting costs no more at a
        # high limit): the window's own count for acquire(), and the earlier ones an answer
        # must still be compared with (it arrives after its request started).
        self._starts: list[float] = []
        self._foreign: deque[float] = deque()
        self._blocked_until = -math.inf
        self._lock = anyio.Lock()

    @property
    def foreign_in_window(self) -> int:
        """Requests of other clients this limiter currently counts against its budget."""
        self._purge(self._clock())
        return len(self._foreign)

    def _purge(self, now: float) -> None:
        del self._starts[: bisect_right(self._starts, now - 2 * self.window_seconds)]
        horizon = now - self.window_seconds
        while self._foreign and self._foreign[0] <= horizon:
            self._foreign.popleft()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                self._purge(now)
                wait = self._blocked_until - now
                first = bisect_right(self._starts, now - self.window_seconds)
                used = len(self._starts) - first + len(self._foreign)
                if used >= self._limit:
                    # Enough of the oldest starts must leave the window to free one slot.
                    oldest = sorted([*self._starts[first:], *self._foreign])[used - self._limit]
                    wait = max(wait, oldest + self.window_seconds - now)
                if wait <= 0:
                    self._starts.append(now)
                    return
                await self._sleep(wait)

    def observe(self, info: RateLimitInfo, *, started: float | None = None) -> None:
        if not self._follow_server(info) or info.remaining is None or started is None:
            return
        assert info.max is not None and info.interval_ms is not None
        interval = info.interval_ms / 1000.0
        now = self._clock()
        self._purge(now)
        server_used = info.max - info.remaining  # in the server's window, this one included
        # Ours: our starts the server may count. A request reaches the server a little after
        # it starts, so ones started just outside the interval are still in its window; err
        # towards counting them ours (missing a little foreign use beats inventing some).
        slack = max(0.05, 0.05 * interval)
        lo = bisect_right(self._starts, started - interval - slack)
        ours = bisect_right(self._starts, started + slack) - lo
        foreign = min(server_used - ours, self._limit)
        for _ in range(foreign - len(self._foreign)):
            self._foreign.append(now)

    def penalize(self, seconds: float) -> None:
        until = self._clock() + max(seconds, self.window_seconds)
        self._blocked_until = max(self._blocked_until, until)
