"""The Redis-shared rolling-window limiter: one rate budget for many processes and hosts.

Does network I/O: it talks to Redis through redis-py's asyncio client (the ``redis`` extra),
imported only when a limiter is built.

Every request start is one member of a sorted set in Redis, scored with Redis's own clock
(``TIME``, microseconds), so hosts with skewed clocks still count one window. One Lua script
does the whole decision atomically: drop starts older than the window, count the rest, and
either add this start or answer how long until the oldest one leaves. A 429 seen by any
process pauses every process: the pause is a key in Redis too. Both keys expire a little after
the window (or the pause) ends, so nothing accumulates.

The script trusts nothing it reads, since another program, an older version or a failover can
leave anything there: a pause that is not a number, or ends further ahead than the longest
pause (``WindowLimiter.max_wait_seconds``), is deleted as corrupt; a pause without an expiry
gets one; starts dated after Redis's "now" (its clock went back, e.g. after a failover to a
replica) are counted as starting now, so they hold a slot for one window, not for the skew.
Every wait it answers is therefore at most ``max_wait_seconds``, and the limiter looks again
after at most that long whatever the answer.

A request that left later than its start (a connection opened first, a busy event loop) has
its start moved as much later (``sent``), as the in-memory limiter does: the move is kept
here and made by the next acquire's script, in the same atomic step, or by ``aclose``.

It never guesses: when Redis cannot be reached or answers wrongly, ``acquire`` raises
``LimiterUnavailableError`` and the client stops sending.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import anyio

from .._exceptions import InvalidInputError, LimiterUnavailableError
from .._protocol import RateLimitInfo
from .._redact import mask, redact_url, url_secrets
from ._base import Clock, Sleep, WindowLimiter
from ._rate import RateLimit

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["KEY_PREFIX", "RedisWindowLimiter"]

logger = logging.getLogger("asyncbatch")

#: Every key this limiter writes starts with this; ``{key}`` is a Redis Cluster hash tag, so
#: one budget's keys live on one node.
KEY_PREFIX = "asyncbatch:ratelimit:"

# Moves starts later (``RateLimiter.sent``): ARGV from ``first`` on are pairs of a member of
# KEYS[1] and how much later (us) its request left; a member already gone is left alone.
_MOVE_STARTS = """
local function move(first)
  for i = first, #ARGV - 1, 2 do
    local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
    if score then
      redis.call('ZADD', KEYS[1], 'XX', tonumber(score) + tonumber(ARGV[i + 1]), ARGV[i])
    end
  end
end
"""

# Lua numbers are doubles: '%d' formats them whole (tostring would round to 14 digits).
# KEYS[1]: the sorted set of starts; KEYS[2]: the pause.
# ARGV: limit, window (us), member, longest pause (us), then the moves (``_MOVE_STARTS``).
# Returns {1, now} when the start was counted, {0, wait} (us, 1..longest pause) when it must
# wait. The moves are made first, so a start moved past now counts from now (below).
_ACQUIRE = (
    _MOVE_STARTS
    + """
move(5)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local longest = tonumber(ARGV[4])
local raw = redis.call('GET', KEYS[2])
if raw then
  local paused = tonumber(raw)
  if paused == nil or paused ~= paused or paused - now > longest then
    redis.call('DEL', KEYS[2])
  elseif paused > now then
    if redis.call('PTTL', KEYS[2]) < 0 then
      redis.call('PEXPIRE', KEYS[2], math.ceil((paused - now) / 1000) + 1000)
    end
    return {0, math.ceil(paused - now)}
  end
end
local after = string.format('(%d', now)
local ahead = redis.call('ZRANGEBYSCORE', KEYS[1], after, '+inf', 'LIMIT', 0, limit)
if #ahead > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], after, '+inf')
  for _, member in ipairs(ahead) do
    redis.call('ZADD', KEYS[1], now, member)
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
if used < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return {1, now}
end
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
local oldest = redis.call('ZRANGE', KEYS[1], used - limit, used - limit, 'WITHSCORES')
return {0, math.max(1, math.ceil(tonumber(oldest[2]) + window - now))}
"""
)

# KEYS[1]: the pause. ARGV: seconds of pause (us), longest pause (us). Extends the pause, never
# shortens it; a pause it cannot read, or one past the longest, is overwritten.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local untl = now + math.min(tonumber(ARGV[1]), tonumber(ARGV[2]))
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
if paused == nil or paused ~= paused or paused - now > tonumber(ARGV[2]) then
  paused = 0
end
if untl > paused then
  redis.call('SET', KEYS[1], string.format('%d', untl), 'PX', math.ceil((untl - now) / 1000) + 1000)
end
return 1
"""

# KEYS[1]: the sorted set of starts; ARGV: the moves. What ``aclose`` sends of them.
_MOVE = (
    _MOVE_STARTS
    + """
move(1)
return 1
"""
)

_MICRO = 1_000_000

#: The starts this limiter remembers to move (``sent``): a request leaves soon after its start.
_GRANTS_KEPT = 64


def _flat(moves: list[tuple[str, int]]) -> list[str | int]:
    return [part for move in moves for part in move]


def _import_redis() -> Any:
    try:
        import redis.asyncio as redis_asyncio
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InvalidInputError(
            "RateLimit(redis_url=...) needs the redis extra: pip install 'asyncbatch[redis]'"
        ) from exc
    return redis_asyncio


def _connect(url: str, timeout_seconds: float) -> Any:
    """A ``redis.asyncio.Redis`` for ``url`` (no connection is made until it is used)."""
    redis_asyncio = _import_redis()
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff

    return redis_asyncio.from_url(
        url,
        socket_connect_timeout=timeout_seconds,
        socket_timeout=timeout_seconds,
        # A blip is retried briefly; a Redis that stays away stops the run.
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=3),
        health_check_interval=30,
    )


class RedisWindowLimiter(WindowLimiter):
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
        url = rate.redis_url
        self._where = "the given Redis client" if url is None else redact_url(url)
        self._secrets = [] if url is None else url_secrets(url)
        self._owns_client = client is None
        self._redis: Any = client if client is not None else _connect(str(url), timeout_seconds)
        tag = "{" + rate.key + "}"
        self.starts_key = f"{KEY_PREFIX}{tag}:starts"
        self.pause_key = f"{KEY_PREFIX}{tag}:pause"
        self._acquire_script = self._redis.register_script(_ACQUIRE)
        self._pause_script = self._redis.register_script(_PAUSE)
        self._move_script = self._redis.register_script(_MOVE)
        #: (local clock, member) of the latest starts counted, for ``sent``
        self._grants: deque[tuple[float, str]] = deque(maxlen=_GRANTS_KEPT)
        #: (member, us later) moves not yet made in Redis
        self._moves: list[tuple[str, int]] = []
        self._member_prefix = secrets.token_hex(8)
        self._counter = 0
        self._pending_pause = 0.0
        self._lock = anyio.Lock()
        self._started = False
        self._failed = False  # a command failed: the run stopped, ``aclose`` moves nothing
        #: Redis's time (seconds since the epoch) of the last start this limiter counted.
        self.granted_at: float | None = None

    def __repr__(self) -> str:
        return (
            f"RedisWindowLimiter(limit={self._limit}, window_seconds={self.window_seconds}, "
            f"redis={self._where!r}, key={self.rate.key!r})"
        )

    def _unavailable(self, exc: BaseException, doing: str) -> LimiterUnavailableError:
        self._failed = True
        return LimiterUnavailableError(
            f"the shared rate limiter's Redis at {self._where} failed while {doing}: "
            f"{type(exc).__name__}: {mask(str(exc), self._secrets)}"
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
        """Make the moves ``sent`` asked for and no acquire made yet (the other processes
        count the starts; not after Redis failed: the run stopped, and its retries would only
        delay the close), then close the connection pool, if this limiter made it. The move
        script is loaded when first run (redis-py's ``Script``)."""
        moves, self._moves = self._moves, []
        if moves and self._started and not self._failed:
            try:
                await self._move_script(keys=[self.starts_key], args=_flat(moves))
            except Exception as exc:  # the run is over: a start counts a little early
                logger.warning("%s", self._unavailable(exc, "moving the last starts"))
        if self._owns_client:
            await self._redis.aclose()

    async def acquire(self) -> None:
        """Wait until the shared window has room, and count one start in it.

        Raises:
            LimiterUnavailableError: Redis failed or answered nonsense; no start was counted.
        """
        async with self._lock:
            await self.share_pause()
            while (wait := await self._try_start()) > 0:
                await self._sleep(wait)

    async def _try_start(self) -> float:
        """One run of the acquire script: 0 when the start was counted, else the seconds to
        wait before trying again (at most ``max_wait_seconds``)."""
        self._counter += 1
        member = f"{self._member_prefix}:{self._counter}"
        longest = math.ceil(self.max_wait_seconds * _MICRO)
        moves = self._moves
        making = len(moves)
        try:
            granted, value = await self._acquire_script(
                keys=[self.starts_key, self.pause_key],
                args=[
                    self._limit,
                    math.ceil(self.window_seconds * _MICRO),
                    member,
                    longest,
                    *_flat(moves),
                ],
            )
            granted, value = int(granted), int(value)
        except Exception as exc:
            raise self._unavailable(exc, "counting a request") from None
        del moves[:making]  # made (``sent`` may have added more meanwhile)
        if granted:
            self._grants.append((self._clock(), member))
            self.granted_at = value / _MICRO
            return 0.0
        if value <= 0:
            # The script never answers this; looping on it would spin on Redis.
            raise self._unavailable(ValueError(f"a wait of {value} us"), "counting a request")
        return max(1000, min(value, longest)) / _MICRO  # a 1 ms floor: no busy loop

    async def share_pause(self) -> None:
        """Write the pause a ``penalize`` asked for to Redis, where every process sees it
        (``acquire`` does this first).

        Raises:
            LimiterUnavailableError: Redis failed.
        """
        if self._pending_pause <= 0:
            return
        pause, self._pending_pause = self._pending_pause, 0.0
        longest = math.ceil(self.max_wait_seconds * _MICRO)
        try:
            await self._pause_script(
                keys=[self.pause_key], args=[math.ceil(pause * _MICRO), longest]
            )
        except Exception as exc:
            raise self._unavailable(exc, "sharing a 429 pause") from None

    def observe(self, info: RateLimitInfo, *, started: float | None = None) -> None:
        """Follow the server's ``-Max`` / ``-Interval-Milliseconds`` where stricter."""
        self.follow_server(info)

    def sent(self, started: float, at: float) -> None:
        """The request started at ``started`` (this limiter's clock) left at ``at``: its start
        in Redis is moved as much later, by the next ``acquire``'s script (or ``aclose``), so
        every process sharing the budget counts it from when it left. No round trip of its
        own: this is called from the transport, synchronously."""
        # Ours: the latest start at or before ``started`` (a moved one counts from its move;
        # of equals, the last counted).
        grants = self._grants
        ours = max(
            (i for i in reversed(range(len(grants))) if grants[i][0] <= started),
            key=lambda i: grants[i][0],
            default=None,
        )
        if ours is None:
            return  # forgotten (long ago), or not one this limiter counted
        granted, member = grants[ours]
        if at > granted:
            self._moves.append((member, math.ceil((at - granted) * _MICRO)))
            grants[ours] = (at, member)

    def penalize(self, seconds: float) -> None:
        """The server said 429: every process sharing the budget pauses at least a window, at
        most ``max_wait_seconds`` (shared through Redis by the next ``acquire``, which the
        retry makes at once)."""
        self._pending_pause = max(self._pending_pause, self.pause_seconds(seconds))
