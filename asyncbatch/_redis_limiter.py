"""The Redis-shared rolling-window limiter: one rate budget for many processes and hosts.

Does network I/O: it talks to Redis through redis-py's asyncio client (the ``redis`` extra).

Every request start is one member of a sorted set in Redis, scored with Redis's own clock
(``TIME``, microseconds), so hosts with skewed clocks still count one window. One Lua script
does the whole decision atomically: drop starts older than the window, count the rest, and
either add this start or answer how long until the oldest one leaves. A 429 seen by any
process pauses every process: the pause is a key in Redis too. Both keys expire a little after
the window (or the pause) ends, so nothing accumulates.

It never guesses: when Redis cannot be reached or answers wrongly, ``acquire`` raises
``LimiterUnavailableError`` and the client stops sending.
"""

from __future__ import annotations

import math
import secrets
import time
from typing import TYPE_CHECKING, Any

import anyio

from ._exceptions import InvalidInputError, LimiterUnavailableError
from ._limits import Clock, RateLimit, Sleep, _FollowsServer, redact_url
from ._protocol import RateLimitInfo

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["KEY_PREFIX", "RedisWindowLimiter"]

#: Every key this limiter writes starts with this; ``{key}`` is a Redis Cluster hash tag, so
#: one budget's keys live on one node.
KEY_PREFIX = "asyncbatch:ratelimit:"

# KEYS[1]: the sorted set of starts; KEYS[2]: the pause. ARGV: limit, window (us), member.
# Returns {1, now} when the start was counted, {0, wait} (us) when it must wait.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then
  return {0, paused - now}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
if used < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return {1, now}
end
local oldest = redis.call('ZRANGE', KEYS[1], used - limit, used - limit, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now}
"""

# KEYS[1]: the pause. ARGV: seconds of pause (us). Extends the pause, never shortens it.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local untl = now + tonumber(ARGV[1])
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
if untl > paused then
  redis.call('SET', KEYS[1], string.format('%d', untl), 'PX', math.ceil((untl - now) / 1000) + 1000)
end
return 1
"""

_MICRO = 1_000_000


def _import_redis() -> Any:
    try:
        import redis.asyncio as redis_asyncio
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InvalidInputError(
            "RateLimit(redis_url=...) needs the redis extra: pip install 'asyncbatch[redis]'"
        ) from exc
    return redis_asyncio


class RedisWindowLimiter(_FollowsServer):
    """A ``RateLimiter`` whose rolling window lives in Redis, shared by every process and host
    configured with the same ``RateLimit.redis_url`` and ``RateLimit.key``.

    ``BatchClient`` builds one when ``rate_limit`` has a ``redis_url``, checks Redis before
    the first request (``start``) and closes it with the client.

    Like the in-memory limiter it follows a stricter ``X-HubSpot-RateLimit-Max`` /
    ``-Interval-Milliseconds`` than configured. Requests of clients that do not share the
    Redis budget are not counted.

    Args:
        rate: the account's limit, with ``redis_url`` and ``key``.
        client: a ``redis.asyncio.Redis`` to use instead of one built from the URL (the caller
            then owns it: ``aclose`` leaves it open).
        clock, sleep: the local monotonic clock (for ``observe``'s ``started``) and sleep.
        timeout_seconds: the limit on connecting to Redis and on each command.
    """

    def __init__(
        self,
        rate: RateLimit,
        *,
        client: Redis | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
        timeout_seconds: float = 2.0,
    ) -> None:
        if rate.redis_url is None and client is None:
            raise InvalidInputError("RedisWindowLimiter needs RateLimit(redis_url=...)")
        super().__init__(rate)
        self._clock = clock
        self._sleep = sleep
        self._where = redact_url(rate.redis_url) or "the given Redis client"
        self._owns_client = client is None
        if client is None:
            redis_asyncio = _import_redis()
            from redis.asyncio.retry import Retry
            from redis.backoff import ExponentialBackoff

            client = redis_asyncio.from_url(
                rate.redis_url,
                socket_connect_timeout=timeout_seconds,
                socket_timeout=timeout_seconds,
                # A blip is retried briefly; a Redis that stays away stops the run.
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=3),
                health_check_interval=30,
            )
        self._redis: Any = client
        tag = "{" + rate.key + "}"
        self.starts_key = f"{KEY_PREFIX}{tag}:starts"
        self.pause_key = f"{KEY_PREFIX}{tag}:pause"
        self._acquire_script = self._redis.register_script(_ACQUIRE)
        self._pause_script = self._redis.register_script(_PAUSE)
        self._member_prefix = secrets.token_hex(8)
        self._counter = 0
        self._pending_pause = 0.0
        self._lock = anyio.Lock()
        self._started = False
        #: Redis's time (seconds since the epoch) of the last start this limiter counted.
        self.granted_at: float | None = None

    def __repr__(self) -> str:
        return (
            f"RedisWindowLimiter(limit={self._limit}, window_seconds={self.window_seconds}, "
            f"redis={self._where!r}, key={self.rate.key!r})"
        )

    def _unavailable(self, exc: BaseException, doing: str) -> LimiterUnavailableError:
        return LimiterUnavailableError(
            f"the shared rate limiter's Redis at {self._where} failed while {doing}: "
            f"{type(exc).__name__}: {exc}"
        )

    async def start(self) -> None:
        """Check that Redis answers and runs scripts; idempotent.

        Raises:
            LimiterUnavailableError: Redis cannot be reached or refuses the scripts.
        """
        if self._started:
            return
        try:
            await self._redis.ping()
            await self._redis.script_load(_ACQUIRE)
            await self._redis.script_load(_PAUSE)
        except Exception as exc:
            raise self._unavailable(exc, "starting") from None
        self._started = True

    async def aclose(self) -> None:
        """Close the connection pool, if this limiter made it."""
        if self._owns_client:
            await self._redis.aclose()

    async def acquire(self) -> None:
        """Wait until the shared window has room, and count one start in it.

        Raises:
            LimiterUnavailableError: Redis failed; no start was counted locally.
        """
        async with self._lock:
            await self.share_pause()
            while True:
                self._counter += 1
                try:
                    granted, value = await self._acquire_script(
                        keys=[self.starts_key, self.pause_key],
                        args=[
                            self._limit,
                            math.ceil(self.window_seconds * _MICRO),
                            f"{self._member_prefix}:{self._counter}",
                        ],
                    )
                    granted, value = int(granted), int(value)
                except Exception as exc:
                    raise self._unavailable(exc, "counting a request") from None
                if granted:
                    self.granted_at = value / _MICRO
                    return
                await self._sleep(max(value, 1000) / _MICRO)

    async def share_pause(self) -> None:
        """Write the pause a ``penalize`` asked for to Redis, where every process sees it
        (``acquire`` does this first).

        Raises:
            LimiterUnavailableError: Redis failed.
        """
        if self._pending_pause <= 0:
            return
        pause, self._pending_pause = self._pending_pause, 0.0
        try:
            await self._pause_script(keys=[self.pause_key], args=[math.ceil(pause * _MICRO)])
        except Exception as exc:
            raise self._unavailable(exc, "sharing a 429 pause") from None

    def observe(self, info: RateLimitInfo, *, started: float | None = None) -> None:
        """Follow the server's ``-Max`` / ``-Interval-Milliseconds`` where stricter."""
        self._follow_server(info)

    def penalize(self, seconds: float) -> None:
        """The server said 429: every process sharing the budget pauses at least a window
        (shared through Redis by the next ``acquire``, which the retry makes at once)."""
        self._pending_pause = max(self._pending_pause, seconds, self.window_seconds)
