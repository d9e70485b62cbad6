"""The retry rule, whole: which HTTP statuses mean what, ``RetryPolicy``, capped exponential
backoff with full jitter, what each failure means for a chunk and for the run, and which
failures consume an attempt. Pure: no I/O, no clock; randomness is passed in.

Changing what happens on a status (say 423) is a change to this module and its unit test:
``classify_status`` maps a status to its error class, ``decide`` maps an error to an
``Action``, and ``ChunkRetry`` keeps one chunk's attempt counts.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable
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

__all__ = [
    "RETRYABLE_STATUSES",
    "Action",
    "ChunkRetry",
    "Decision",
    "RetryPolicy",
    "classify_status",
    "decide",
    "outcome_unknown",
]

#: 423 Locked, 477 Migration in Progress, 5xx and Cloudflare's 521/523/524: pause and retry.
RETRYABLE_STATUSES = frozenset({423, 477, 500, 502, 503, 504, 521, 523, 524})


def classify_status(status: int) -> type[APIError]:
    """The error class a non-success HTTP status amounts to (what it means for a retry)."""
    if status == 429:
        return RateLimitError
    if status in (401, 403):
        return AuthenticationError
    if status in RETRYABLE_STATUSES or 500 <= status <= 599:
        return ServerError
    if 400 <= status <= 499:
        return ValidationError
    return APIError


def _check_number(attribute: attrs.Attribute[Any], value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(
            f"RetryPolicy.{attribute.name} must be a number, got {type(value).__name__}"
        )
    try:
        return float(value)
    except OverflowError:
        raise InvalidInputError(f"RetryPolicy.{attribute.name} is too large") from None


def _positive(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (math.isfinite(_check_number(attribute, value)) and value > 0):
        raise InvalidInputError(f"RetryPolicy.{attribute.name} must be > 0, got {value!r}")


def _non_negative(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (math.isfinite(_check_number(attribute, value)) and value >= 0):
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
        max_retry_after_seconds: the longest ``Retry-After`` (on a 429, 423, 477 or 5xx) the
            client will honour; a longer one fails the chunk with the reason instead of
            blocking every call of the client for that long.
        max_split_requests_per_chunk, max_split_requests_per_call: the budget of requests
            spent isolating bad records (resending the rest of a chunk, bisecting what a
            refusal does not attribute). Past it, the remaining suspects fail with the
            refusal's reason instead of costing more requests. 28 per chunk isolates two bad
            records in a chunk of 100 (2 x k x ceil(log2 100) = 28 for k = 2).
        retry_if: a caller's predicate, stamina-style: called with each failure other than a
            429; ``True`` retries it (within ``max_attempts``), ``False`` fails it at once,
            ``None`` leaves the decision to the rule above.
    """

    max_attempts: int = attrs.field(default=5, validator=_positive)
    max_rate_limit_retries: int = attrs.field(default=20, validator=_non_negative)
    backoff_base_seconds: float = attrs.field(default=0.5, validator=_non_negative)
    backoff_max_seconds: float = attrs.field(default=30.0, validator=_non_negative)
    locked_wait_seconds: float = attrs.field(default=2.0, validator=_non_negative)
    retry_timeouts: bool = True
    retry_connection_errors: bool = True
    split_bad_chunks: bool = True
    max_retry_after_seconds: float = attrs.field(default=300.0, validator=_non_negative)
    max_split_requests_per_chunk: int = attrs.field(default=28, validator=_non_negative)
    max_split_requests_per_call: int = attrs.field(default=5_000, validator=_non_negative)
    retry_if: Callable[[AsyncBatchError], bool | None] | None = attrs.field(default=None, eq=False)

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
    SPLIT = "split"  # bisect the chunk to isolate what the refusal does not name
    TRIAGE = "triage"  # a whole-request 400/409: sort the inputs by what it says (_refusals)
    FAIL = "fail"  # report this chunk's inputs failed; the run goes on
    STOP = "stop"  # report this chunk failed and stop sending new chunks (DAILY, auth)


@attrs.frozen
class Decision:
    """An ``Action``, the wait before it, and why the rule chose it when that is worth telling
    (e.g. a ``Retry-After`` past the cap)."""

    action: Action
    delay: float = 0.0
    note: str | None = None


def outcome_unknown(error: AsyncBatchError) -> bool:
    """Whether the request may have been applied although no success came back (a timeout,
    a reset, a 5xx, an unreadable answer): what makes a failed create's outcome unknown."""
    if isinstance(error, ConnectionFailedError):
        return not error.before_sending
    if isinstance(error, ServerError):
        return error.status not in (423, 477)
    return isinstance(error, TransportError | MalformedResponseError)


def consumes_attempt(error: AsyncBatchError) -> bool:
    """Whether a failure counts against ``max_attempts`` (a 429 counts against
    ``max_rate_limit_retries`` instead: waiting out the window always helps)."""
    return not isinstance(error, RateLimitError)


def decide(
    error: AsyncBatchError,
    *,
    policy: RetryPolicy,
    attempt: int,
    rate_limit_retries: int,
    chunk_size: int,
    rng: random.Random,
    resend_safe: bool = True,
) -> Decision:
    """Decide what a failed try means.

    Args:
        error: what the try ended with (an ``APIError`` or a ``TransportError``).
        attempt: tries made so far for ``max_attempts`` (1 after the first).
        rate_limit_retries: 429 retries made so far.
        chunk_size: inputs in the chunk (a chunk of one cannot be split).
        rng: randomness for jitter.
        resend_safe: the operation is idempotent; when False, a failure after which the
            request may have been applied (timeout, reset, 5xx, unreadable answer) is not
            resent.
    """
    if isinstance(error, RateLimitError):
        return _rate_limited(error, policy, rate_limit_retries)
    verdict = policy.retry_if(error) if policy.retry_if is not None else None
    if verdict is not None:
        if not verdict or attempt >= policy.max_attempts:
            return Decision(Action.FAIL)
        return Decision(Action.RETRY, policy.backoff(attempt, rng))
    if isinstance(error, AuthenticationError):
        return Decision(Action.STOP)
    if isinstance(error, ServerError | MalformedResponseError | TransportError):
        return _transient(error, policy, attempt, rng, resend_safe)
    if (
        isinstance(error, ValidationError)
        and error.status in (400, 409)
        and policy.split_bad_chunks
    ):
        return Decision(Action.TRIAGE)
    return Decision(Action.FAIL)


def _rate_limited(error: RateLimitError, policy: RetryPolicy, retries: int) -> Decision:
    if error.policy == "DAILY":
        return Decision(Action.STOP)
    if retries >= policy.max_rate_limit_retries:
        return Decision(Action.FAIL)
    wait = error.retry_after or 0.0
    if wait > policy.max_retry_after_seconds:
        return _too_long(wait, policy)
    return Decision(Action.WAIT_WINDOW, wait)


def _too_long(wait: float, policy: RetryPolicy) -> Decision:
    return Decision(
        Action.FAIL,
        note=f"Retry-After {wait:g} s exceeds RetryPolicy.max_retry_after_seconds="
        f"{policy.max_retry_after_seconds:g}; not waited",
    )


def _transient(
    error: AsyncBatchError,
    policy: RetryPolicy,
    attempt: int,
    rng: random.Random,
    resend_safe: bool,
) -> Decision:
    if isinstance(error, TransportError):
        allowed = (
            policy.retry_timeouts
            if isinstance(error, RequestTimeoutError)
            else policy.retry_connection_errors
            if isinstance(error, ConnectionFailedError)
            else True
        )
    else:
        # 423 and 477 refuse the request before applying it; a 5xx or an unreadable answer
        # may come after it was applied.
        allowed = resend_safe or (isinstance(error, ServerError) and error.status in (423, 477))
    if isinstance(error, TransportError) and not resend_safe:
        # Only a connection never made proves the request was not applied.
        allowed = allowed and isinstance(error, ConnectionFailedError) and error.before_sending
    if attempt >= policy.max_attempts or not allowed:
        return Decision(Action.FAIL)
    delay = policy.backoff(attempt, rng)
    retry_after = error.retry_after if isinstance(error, ServerError) else None
    if retry_after is not None:
        if retry_after > policy.max_retry_after_seconds:
            return _too_long(retry_after, policy)
        delay = retry_after
    if isinstance(error, ServerError) and error.status == 423:
        delay = max(delay, policy.locked_wait_seconds)
    return Decision(Action.RETRY, delay)


@attrs.define
class ChunkRetry:
    """One chunk's retry state: its attempts and rate-limit retries, counted by the rule.

    ``after(error)`` counts the failure where it belongs and returns the ``Decision``; the
    dispatcher only carries it out. Halves of a split chunk start afresh.
    """

    policy: RetryPolicy
    resend_safe: bool = True
    attempts: int = 0
    rate_limit_retries: int = 0

    def after(self, error: AsyncBatchError, *, chunk_size: int, rng: random.Random) -> Decision:
        """Count ``error`` and decide what the chunk does next."""
        if consumes_attempt(error):
            self.attempts += 1
        decision = decide(
            error,
            policy=self.policy,
            attempt=self.attempts,
            rate_limit_retries=self.rate_limit_retries,
            chunk_size=chunk_size,
            rng=rng,
            resend_safe=self.resend_safe,
        )
        if decision.action is Action.WAIT_WINDOW:
            self.rate_limit_retries += 1
        return decision
