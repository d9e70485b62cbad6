"""Pure retry decisions: ``RetryPolicy``, capped exponential backoff with full jitter, and what
each failure means for a chunk and for the run. No I/O, no clock: randomness is passed in.
"""

from __future__ import annotations

import enum
import math
import random
from typing import Any

import attrs

from ._exceptions import (
    APIError,
    AsyncBatchError,
    AuthenticationError,
    ConnectionFailedError,
    InvalidInputError,
    MalformedResponseError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    ValidationError,
)

__all__ = ["Action", "Decision", "RetryPolicy", "decide"]


def _positive(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise InvalidInputError(f"RetryPolicy.{attribute.name} must be > 0, got {value!r}")


def _non_negative(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise InvalidInputError(f"RetryPolicy.{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Which failures a chunk retries, how often, and how long it waits.

    Attributes:
        max_attempts: tries per chunk for 5xx/423/477/timeouts/connection errors (1 = no retry).
        max_rate_limit_retries: extra tries after a 429 ``TEN_SECONDLY_ROLLING``/``SECONDLY``,
            counted apart from ``max_attempts`` because waiting out the window always helps.
        backoff_base_seconds: first backoff ceiling; doubled on each try.
        backoff_max_seconds: backoff ceiling cap. The wait is uniform in [0, ceiling] ("full
            jitter"), or ``Retry-After`` when the server sent one.
        locked_wait_seconds: at least this long after a 423 Locked (HubSpot asks for 2 s).
        retry_timeouts: retry a request that timed out (safe: update and upsert are idempotent).
        retry_connection_errors: retry a connection that failed or was reset.
        split_bad_chunks: when a chunk fails whole on a 400 a single record can cause, split it
            and resend the halves until the bad records stand alone.
    """

    max_attempts: int = attrs.field(default=5, validator=_positive)
    max_rate_limit_retries: int = attrs.field(default=20, validator=_non_negative)
    backoff_base_seconds: float = attrs.field(default=0.5, validator=_non_negative)
    backoff_max_seconds: float = attrs.field(default=30.0, validator=_non_negative)
    locked_wait_seconds: float = attrs.field(default=2.0, validator=_non_negative)
    retry_timeouts: bool = True
    retry_connection_errors: bool = True
    split_bad_chunks: bool = True

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter wait before try ``attempt + 1`` (``attempt`` counts from 1)."""
        # Cap the exponent first: 2.0 ** 1100 overflows a float.
        exponent = min(max(0, attempt - 1), 62)
        ceiling = min(self.backoff_max_seconds, self.backoff_base_seconds * 2.0**exponent)
        return rng.uniform(0.0, ceiling)


class Action(enum.Enum):
    """What to do after a failed try."""

    RETRY = "retry"  # wait ``delay`` seconds, then send the chunk again
    WAIT_WINDOW = "wait_window"  # a rolling-window 429: wait for the limiter's window
    SPLIT = "split"  # a whole-request 400 a single record may cause: split the chunk
    FAIL = "fail"  # report this chunk's inputs failed; the run goes on
    STOP = "stop"  # report this chunk failed and stop sending new chunks (DAILY, auth)


@attrs.frozen
class Decision:
    action: Action
    delay: float = 0.0


# Whole-request 400s whose cause can be one record; splitting finds it.
_SPLITTABLE_CATEGORIES = frozenset(
    {
        "VALIDATION_ERROR",
        "INVALID_PROPERTY",
        "PROPERTY_DOESNT_EXIST",
        "OBJECT_NOT_FOUND",
        "CONFLICT",
        "INVALID_EMAIL",
    }
)


def decide(
    error: AsyncBatchError,
    *,
    policy: RetryPolicy,
    attempt: int,
    rate_limit_retries: int,
    chunk_size: int,
    rng: random.Random,
) -> Decision:
    """Decide what a failed try means.

    Args:
        error: what the try ended with (an ``APIError`` or a ``TransportError``).
        attempt: tries made so far for ``max_attempts`` (1 after the first).
        rate_limit_retries: 429 retries made so far.
        chunk_size: inputs in the chunk (a chunk of one cannot be split).
        rng: randomness for jitter.
    """
    if isinstance(error, RateLimitError):
        if error.policy == "DAILY":
            return Decision(Action.STOP)
        if rate_limit_retries >= policy.max_rate_limit_retries:
            return Decision(Action.FAIL)
        return Decision(Action.WAIT_WINDOW, error.retry_after or 0.0)
    if isinstance(error, AuthenticationError):
        return Decision(Action.STOP)
    exhausted = attempt >= policy.max_attempts
    if isinstance(error, ServerError | MalformedResponseError):
        if exhausted:
            return Decision(Action.FAIL)
        delay = policy.backoff(attempt, rng)
        retry_after = error.retry_after if isinstance(error, ServerError) else None
        if retry_after is not None:
            delay = retry_after
        if error.status == 423:
            delay = max(delay, policy.locked_wait_seconds)
        return Decision(Action.RETRY, delay)
    if isinstance(error, TransportError):
        allowed = (
            policy.retry_timeouts
            if isinstance(error, RequestTimeoutError)
            else policy.retry_connection_errors
            if isinstance(error, ConnectionFailedError)
            else True
        )
        if exhausted or not allowed:
            return Decision(Action.FAIL)
        return Decision(Action.RETRY, policy.backoff(attempt, rng))
    if (
        isinstance(error, ValidationError)
        and error.status == 400
        and policy.split_bad_chunks
        and chunk_size > 1
        and (error.category or "VALIDATION_ERROR") in _SPLITTABLE_CATEGORIES
    ):
        return Decision(Action.SPLIT)
    if isinstance(error, APIError):
        return Decision(Action.FAIL)
    return Decision(Action.FAIL)
