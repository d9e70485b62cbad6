"""HubSpot's per-token rolling-window rate limit and daily cap. No I/O; the clock is injected.

Answers carry HubSpot's headers: ``X-HubSpot-RateLimit-Max``, ``-Remaining``,
``-Interval-Milliseconds``, ``-Daily``, ``-Daily-Remaining``, and ``-Secondly`` /
``-Secondly-Remaining`` (HubSpot developer changelog 2018-11-06, "Rate limit information
headers"): the window's limit spread over its seconds, rounded up, and what the last second left
of it. The per-second figure is informational: only the rolling window and the daily cap refuse.
The two daily headers are left out with ``daily_headers=False`` (the whole emulator) or for one
request (``arrive(token, daily_headers=False)``: one authorized with an OAuth access token the
emulator issued), as HubSpot leaves them out of its answers to OAuth-authorized requests (API
usage guidelines, https://developers.hubspot.com/docs/api/usage-details: X-HubSpot-RateLimit-
Daily-Remaining, "the number of API requests still allowed for the current day. Note that this
header is not included in the response to API requests authorized using OAuth"; developer
changelog, "Rate limit headers will now appear for OAuth authenticated calls",
https://developers.hubspot.com/changelog/rate-limit-headers-will-now-appear-for-oauth-authenticated-calls:
"OAuth authenticated calls will not include X-HubSpot-RateLimit-Daily or
X-HubSpot-RateLimit-Daily-Remaining"). Nor is such a request held to the daily cap
(``arrive(token, oauth=True)``): "any API calls made using OAuth are not subject to the per day
call limit" (developer changelog, "New and Improved HubSpot API Limits",
https://developers.hubspot.com/changelog/heads-up-new-and-improved-hubspot-api-limits); they
are counted in the rolling window only.

A request counts when it arrives. One that is turned away with a 429 does not use up the window
or the daily budget, but it is still an arrival for ``max_window_requests`` (the most requests
any client sent inside one window, which is what a benchmark checks against the limit).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable

import attrs

# Shown in X-HubSpot-RateLimit-Daily when no daily cap is configured (HubSpot's largest tier).
DEFAULT_DAILY = 1_000_000

TEN_SECONDLY_ROLLING = "TEN_SECONDLY_ROLLING"
SECONDLY = "SECONDLY"
DAILY = "DAILY"


@attrs.frozen
class Decision:
    """``policy`` is the tripped policy's name, or ``None`` when the request may go on."""

    policy: str | None
    headers: dict[str, str]


@attrs.define
class _Bucket:
    accepted: deque[float] = attrs.field(factory=deque)
    arrivals: deque[float] = attrs.field(factory=deque)
    daily_used: int = 0


class RateLimiter:
    """Decides, per token, whether a request arriving now is within the limits."""

    def __init__(
        self,
        *,
        requests: int,
        window_seconds: float,
        daily_limit: int | None,
        clock: Callable[[], float],
        daily_headers: bool = True,
    ) -> None:
        self.requests = requests
        self.window_seconds = window_seconds
        self.daily_limit = daily_limit
        self.daily_headers = daily_headers
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self.max_window_requests = 0
        self.secondly = max(1, math.ceil(requests / window_seconds))

    def reset(self) -> None:
        self._buckets.clear()
        self.max_window_requests = 0

    def arrive(self, token: str, *, daily_headers: bool = True, oauth: bool = False) -> Decision:
        """Record an arrival for ``token`` and decide on it; ``daily_headers=False`` leaves
        the daily headers out of this answer; ``oauth``: an OAuth-authorized request, which
        HubSpot holds to no daily cap and answers without daily headers."""
        daily_headers = daily_headers and not oauth
        now = self._clock()
        horizon = now - self.window_seconds
        bucket = self._buckets.get(token)
        if bucket is None:
            bucket = self._buckets[token] = _Bucket()
        for queue in (bucket.accepted, bucket.arrivals):
            while queue and queue[0] <= horizon:
                queue.popleft()
        bucket.arrivals.append(now)
        self.max_window_requests = max(self.max_window_requests, len(bucket.arrivals))
        daily = self.daily_limit if self.daily_limit is not None else DEFAULT_DAILY
        policy: str | None = None
        if not oauth and self.daily_limit is not None and bucket.daily_used >= self.daily_limit:
            policy = DAILY
        elif len(bucket.accepted) >= self.requests:
            policy = TEN_SECONDLY_ROLLING
        else:
            bucket.accepted.append(now)
            bucket.daily_used += 1
        headers = {
            "X-HubSpot-RateLimit-Max": str(self.requests),
            "X-HubSpot-RateLimit-Remaining": str(max(0, self.requests - len(bucket.accepted))),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(round(self.window_seconds * 1000)),
            "X-HubSpot-RateLimit-Daily": str(daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, daily - bucket.daily_used)),
            "X-HubSpot-RateLimit-Secondly": str(self.secondly),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(self._secondly_left(bucket, now)),
        }
        if not (self.daily_headers and daily_headers):
            del headers["X-HubSpot-RateLimit-Daily"], headers["X-HubSpot-RateLimit-Daily-Remaining"]
        return Decision(policy, headers)

    def _secondly_left(self, bucket: _Bucket, now: float) -> int:
        cutoff = now - 1.0
        last_second = sum(
            1 for _ in itertools.takewhile(lambda t: t > cutoff, reversed(bucket.accepted))
        )
        return max(0, self.secondly - last_second)
