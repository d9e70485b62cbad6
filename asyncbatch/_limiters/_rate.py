"""``RateLimit``: the configured request budget, checked when it is made. Pure: no I/O.

HubSpot counts a request when it *arrives*; a request that travels slower than the one after it
can land in the next window. ``RateLimit.safety_margin_seconds`` widens the client's window by
that much so such a pair still fits under the server's limit.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

import attrs

from .._exceptions import InvalidInputError
from .._redact import redact_url

__all__ = ["MAX_REQUESTS", "MAX_SECONDS", "RateLimit"]

#: The most requests a window may allow (far beyond any HubSpot tier; bounds the arithmetic).
MAX_REQUESTS = 1_000_000_000
#: The longest duration a ``RateLimit`` takes: a day, HubSpot's longest limit.
MAX_SECONDS = 86_400.0
#: The default ``max_interval_seconds``: HubSpot's windows are 1 s and 10 s.
DEFAULT_MAX_INTERVAL_SECONDS = 60.0

_REDIS_SCHEMES = ("redis", "rediss", "unix")
_BUDGET_KEY = re.compile(r"[A-Za-z0-9_.:@/-]{1,200}")


def _seconds(value: object) -> float | None:
    """``value`` as a finite float, or None when it is not a number or not finite (including
    an int too large for a float, which ``float`` refuses with OverflowError)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) else None


def _shown(value: object) -> str:
    """``value`` for an error message, short (``repr`` of a huge int is long, or refused)."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"an int of {value.bit_length()} bits"
    shown = repr(value)
    return shown if len(shown) <= 60 else f"{shown[:57]}..."


def _check_requests(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REQUESTS:
        raise InvalidInputError(
            f"RateLimit.requests must be an int from 1 to {MAX_REQUESTS:_}, got {_shown(value)}"
        )


def _check_duration(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    seconds = _seconds(value)
    positive = attribute.name in ("per_seconds", "max_interval_seconds")
    low = "> 0" if positive else ">= 0"
    if seconds is None or seconds > MAX_SECONDS or (seconds <= 0 if positive else seconds < 0):
        raise InvalidInputError(
            f"RateLimit.{attribute.name} must be a number of seconds {low} and at most "
            f"{MAX_SECONDS:,.0f}, got {_shown(value)}"
        )


def _url_repr(url: str | None) -> str:
    return repr(None if url is None else redact_url(url))


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
            f"budget in Redis), got {_shown(value)}"
        )


@attrs.frozen
class RateLimit:
    """At most ``requests`` request starts in any rolling ``per_seconds`` window.

    HubSpot's default for private apps is 100 per 10 s (190 on higher tiers).
    ``safety_margin_seconds`` is added to the window (see the module docstring); by default
    1 % of the window (0.1 s of 10 s), which costs 1 % of the ceiling.

    A limiter follows a stricter limit that HubSpot's ``X-HubSpot-RateLimit-Max`` /
    ``-Interval-Milliseconds`` headers announce, but only one whose window is at most
    ``max_interval_seconds`` (by default 60 s, or ``per_seconds`` if longer): HubSpot's windows
    are 1 s and 10 s, and a header announcing one request per day is a fault to ignore (it is
    logged once), not a budget to follow. The same figure bounds a pause after a 429 to one
    window plus ``max_interval_seconds``.

    With ``redis_url`` the budget is shared through Redis by every process and host that uses
    the same URL and ``key`` (one key per HubSpot account): the window is counted in Redis,
    on Redis's clock. It needs the ``redis`` extra (``pip install 'asyncbatch[redis]'``).
    The URL's password and query values never appear in the repr.

    Raises:
        InvalidInputError: an argument of the wrong type or out of range (durations are at
            most a day, ``requests`` at most a billion), naming the argument.
    """

    requests: int = attrs.field(default=100, validator=_check_requests)
    per_seconds: float = attrs.field(default=10.0, validator=_check_duration)
    safety_margin_seconds: float = attrs.field(kw_only=True, validator=_check_duration)
    redis_url: str | None = attrs.field(
        default=None, kw_only=True, validator=_check_redis_url, repr=_url_repr
    )
    key: str = attrs.field(default="default", kw_only=True, validator=_check_key)
    max_interval_seconds: float = attrs.field(kw_only=True, validator=_check_duration)

    @safety_margin_seconds.default
    def _default_margin(self) -> float:
        seconds = _seconds(self.per_seconds)
        return seconds * 0.01 if seconds is not None else 0.0

    @max_interval_seconds.default
    def _default_max_interval(self) -> float:
        seconds = _seconds(self.per_seconds)
        return max(DEFAULT_MAX_INTERVAL_SECONDS, seconds if seconds is not None else 0.0)
