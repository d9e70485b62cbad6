"""Rate limiters, a plug-in of the client: the ``RateLimiter`` base, the in-memory
``RollingWindowLimiter``, the Redis-shared ``RedisWindowLimiter``, their ``RateLimit``
configuration, and ``make_limiter``, the one place that picks a limiter for a ``RateLimit``.

Importing this package does no I/O (redis-py is imported only when a Redis limiter is built).
"""

from __future__ import annotations

import time

import anyio

from ._base import Clock, LimiterLike, RateLimiter, Sleep, WindowLimiter, as_limiter
from ._memory import RollingWindowLimiter
from ._rate import MAX_REQUESTS, MAX_SECONDS, RateLimit
from ._redis import KEY_PREFIX, RedisWindowLimiter

__all__ = [
    "KEY_PREFIX",
    "MAX_REQUESTS",
    "MAX_SECONDS",
    "Clock",
    "LimiterLike",
    "RateLimit",
    "RateLimiter",
    "RedisWindowLimiter",
    "RollingWindowLimiter",
    "Sleep",
    "WindowLimiter",
    "as_limiter",
    "make_limiter",
]


def make_limiter(
    rate: RateLimit, *, clock: Clock = time.monotonic, sleep: Sleep = anyio.sleep
) -> RateLimiter:
    """The limiter ``rate`` asks for: shared through Redis when it has a ``redis_url``, else
    in memory. Connects to nothing yet (the Redis one does in ``start``).

    Raises:
        InvalidInputError: ``rate.redis_url`` is set but redis-py is not installed.
    """
    if rate.redis_url is not None:
        return RedisWindowLimiter(rate, clock=clock, sleep=sleep)
    return RollingWindowLimiter(rate, clock=clock, sleep=sleep)
