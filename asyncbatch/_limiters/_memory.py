"""The in-memory rolling-window limiter. Does no network I/O; waits through an injected
``sleep`` and reads time from an injected ``clock``, so tests run it on a fake clock without
real waiting.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_right, insort
from collections import deque

import anyio

from .._protocol import RateLimitInfo
from ._base import Clock, Sleep, WindowLimiter
from ._rate import RateLimit

__all__ = ["RollingWindowLimiter"]


class RollingWindowLimiter(WindowLimiter):
    """In-memory rolling-window limiter, shared by every call of one ``BatchClient``.

    Keeps the start time of the last ``requests`` requests; a new start waits until the oldest
    leaves the window. Waiters are served first come, first served.

    It learns from HubSpot's ``X-HubSpot-RateLimit-*`` headers:

    - when ``-Max`` per ``-Interval-Milliseconds`` is stricter than the configured limit (in
      burst and in rate), it follows the server's figure (never a looser one, nor a window
      longer than ``RateLimit.max_interval_seconds``);
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

    def _wait(self, now: float) -> float:
        """Seconds until one more start fits (<= 0: now), at most ``max_wait_seconds``."""
        self._purge(now)
        wait = self._blocked_until - now
        first = bisect_right(self._starts, now - self.window_seconds)
        used = len(self._starts) - first + len(self._foreign)
        if used >= self._limit:
            # Enough of the oldest starts must leave the window to free one slot.
            oldest = sorted([*self._starts[first:], *self._foreign])[used - self._limit]
            wait = max(wait, oldest + self.window_seconds - now)
        return min(wait, self.max_wait_seconds)

    async def acquire(self) -> None:
        # The fast path: room now and nobody waiting (the lock is held, or handed on, while
        # anyone waits) counts the start without giving the loop a turn.
        if not self._lock.locked() and self._wait(now := self._clock()) <= 0:
            self._starts.append(now)
            return
        async with self._lock:
            while (wait := self._wait(now := self._clock())) > 0:
                await self._sleep(wait)
            self._starts.append(now)

    def observe(self, info: RateLimitInfo, *, started: float | None = None) -> None:
        if not self.follow_server(info) or info.remaining is None or started is None:
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

    def sent(self, started: float, at: float) -> None:
        # Our start is the latest at or before ``started``: nothing else ran in between.
        index = bisect_right(self._starts, started) - 1
        if index < 0 or at <= self._starts[index]:
            return  # already purged, or nothing to move
        del self._starts[index]
        insort(self._starts, at)

    def penalize(self, seconds: float) -> None:
        until = self._clock() + self.pause_seconds(seconds)
        self._blocked_until = max(self._blocked_until, until)
