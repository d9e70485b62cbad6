"""The retry rule as one pure object: status classification, ChunkRetry's counting, the
caller's predicate and the Retry-After cap. No event loop, no clock."""

from __future__ import annotations

import random

import pytest

from asyncbatch import (
    APIError,
    AuthenticationError,
    ConnectionFailedError,
    InvalidInputError,
    RateLimitError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    ValidationError,
)
from asyncbatch._retry import Action, ChunkRetry, classify_status

RNG = random.Random(0)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, RateLimitError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (423, ServerError),
        (477, ServerError),
        (500, ServerError),
        (524, ServerError),
        (599, ServerError),
        (400, ValidationError),
        (409, ValidationError),
        (302, APIError),
    ],
)
def test_classify_status(status: int, kind: type[APIError]) -> None:
    assert classify_status(status) is kind


def test_a_429_does_not_consume_an_attempt() -> None:
    retry = ChunkRetry(RetryPolicy(max_attempts=2, max_rate_limit_retries=3))
    limited = RateLimitError("429", policy="TEN_SECONDLY_ROLLING")
    for _ in range(3):
        assert retry.after(limited, chunk_size=10, rng=RNG).action is Action.WAIT_WINDOW
    assert (retry.attempts, retry.rate_limit_retries) == (0, 3)
    assert retry.after(limited, chunk_size=10, rng=RNG).action is Action.FAIL
    server = ServerError("500", status=500)
    assert retry.after(server, chunk_size=10, rng=RNG).action is Action.RETRY
    assert retry.after(server, chunk_size=10, rng=RNG).action is Action.FAIL
    assert retry.attempts == 2


def test_retry_if_overrides_the_rule() -> None:
    # stamina-style predicate: retry a 409, never retry a 503.
    def retry_if(error: object) -> bool | None:
        if isinstance(error, APIError) and error.status == 409:
            return True
        if isinstance(error, APIError) and error.status == 503:
            return False
        return None

    policy = RetryPolicy(max_attempts=3, retry_if=retry_if)
    conflict = ValidationError("409", status=409, category="CONFLICT")
    retry = ChunkRetry(policy)
    assert retry.after(conflict, chunk_size=1, rng=RNG).action is Action.RETRY
    assert retry.after(conflict, chunk_size=1, rng=RNG).action is Action.RETRY
    assert retry.after(conflict, chunk_size=1, rng=RNG).action is Action.FAIL
    unavailable = ServerError("503", status=503)
    assert ChunkRetry(policy).after(unavailable, chunk_size=1, rng=RNG).action is Action.FAIL
    # None leaves the rule in charge: a 500 still retries.
    busy = ServerError("500", status=500)
    assert ChunkRetry(policy).after(busy, chunk_size=1, rng=RNG).action is Action.RETRY


@pytest.mark.parametrize(
    "error",
    [
        RateLimitError("429", policy="SECONDLY", retry_after=3600.0),
        ServerError("477", status=477, retry_after=999999.0),
        ServerError("503", status=503, retry_after=301.0),
    ],
)
def test_retry_after_past_the_cap_fails_with_the_reason(error: APIError) -> None:
    # Issue 12 item 11: Retry-After: 999999 on a 429 blocked every call for an hour.
    decision = ChunkRetry(RetryPolicy()).after(error, chunk_size=10, rng=RNG)
    assert decision.action is Action.FAIL
    assert decision.note is not None and "max_retry_after_seconds=300" in decision.note


def test_retry_after_within_the_cap_is_honoured() -> None:
    policy = RetryPolicy(max_retry_after_seconds=5.0)
    error = ServerError("477", status=477, retry_after=5.0)
    decision = ChunkRetry(policy).after(error, chunk_size=10, rng=RNG)
    assert (decision.action, decision.delay) == (Action.RETRY, 5.0)


def test_not_resend_safe_never_resends_what_may_have_been_applied() -> None:
    # An operation that is not idempotent (create) is not resent after a timeout or a 5xx,
    # but is after a 423/477, which refuse the request before applying it.
    for error in (
        RequestTimeoutError("timeout"),
        ConnectionFailedError("reset"),
        ServerError("500", status=500),
    ):
        retry = ChunkRetry(RetryPolicy(), resend_safe=False)
        assert retry.after(error, chunk_size=10, rng=RNG).action is Action.FAIL
    locked = ServerError("423", status=423)
    retry = ChunkRetry(RetryPolicy(), resend_safe=False)
    assert retry.after(locked, chunk_size=10, rng=RNG).action is Action.RETRY


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": "3"},
        {"backoff_base_seconds": None},
        {"backoff_max_seconds": 10**400},
        {"max_retry_after_seconds": -1},
    ],
)
def test_bad_policy_arguments_are_invalid_input(kwargs: dict[str, object]) -> None:
    # Issue 12 item 15: RetryPolicy(max_attempts="3") raised a raw TypeError.
    with pytest.raises(InvalidInputError) as caught:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert next(iter(kwargs)) in str(caught.value)
