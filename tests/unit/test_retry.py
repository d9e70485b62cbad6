"""Retry decisions and backoff. Pure: no event loop, no clock; randomness is seeded."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncbatch import (
    APIError,
    AuthenticationError,
    ConnectionFailedError,
    InvalidInputError,
    MalformedResponseError,
    RateLimitError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    TransportError,
    ValidationError,
)
from asyncbatch._exceptions import AsyncBatchError
from asyncbatch._retry import Action, Decision, decide

POLICY = RetryPolicy()


def _decide(
    error: AsyncBatchError,
    *,
    policy: RetryPolicy = POLICY,
    attempt: int = 1,
    rate_limit_retries: int = 0,
    chunk_size: int = 100,
    seed: int = 0,
) -> Decision:
    return decide(
        error,
        policy=policy,
        attempt=attempt,
        rate_limit_retries=rate_limit_retries,
        chunk_size=chunk_size,
        rng=random.Random(seed),
    )


@pytest.mark.parametrize("policy_name", ["TEN_SECONDLY_ROLLING", "SECONDLY", None])
def test_rolling_429_waits_for_the_window_until_the_budget_is_spent(
    policy_name: str | None,
) -> None:
    policy = RetryPolicy(max_rate_limit_retries=3, max_attempts=1)
    error = RateLimitError("429", policy=policy_name)
    for done in range(3):
        # 429 retries are counted apart: max_attempts=1 does not stop them.
        assert _decide(error, policy=policy, rate_limit_retries=done, attempt=1).action is (
            Action.WAIT_WINDOW
        )
    assert _decide(error, policy=policy, rate_limit_retries=3).action is Action.FAIL


def test_rolling_429_passes_retry_after_on() -> None:
    error = RateLimitError("429", policy="SECONDLY", retry_after=4.0)
    assert _decide(error) == Decision(Action.WAIT_WINDOW, 4.0)


def test_daily_429_stops() -> None:
    assert _decide(RateLimitError("429", policy="DAILY")).action is Action.STOP


@pytest.mark.parametrize("status", [401, 403])
def test_auth_stops(status: int) -> None:
    assert _decide(AuthenticationError("x", status=status)).action is Action.STOP


def test_423_waits_at_least_locked_wait() -> None:
    policy = RetryPolicy(locked_wait_seconds=2.0, backoff_base_seconds=0.01)
    for seed in range(20):
        decision = _decide(ServerError("423", status=423), policy=policy, seed=seed)
        assert decision.action is Action.RETRY
        assert decision.delay >= 2.0


def test_477_honours_retry_after() -> None:
    error = ServerError("477", status=477, retry_after=17.0)
    assert _decide(error) == Decision(Action.RETRY, 17.0)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 521, 523, 524])
def test_5xx_retries_until_max_attempts(status: int) -> None:
    policy = RetryPolicy(max_attempts=4)
    error = ServerError(str(status), status=status)
    for attempt in (1, 2, 3):
        decision = _decide(error, policy=policy, attempt=attempt)
        assert decision.action is Action.RETRY
        assert 0 <= decision.delay <= policy.backoff_base_seconds * 2 ** (attempt - 1)
    assert _decide(error, policy=policy, attempt=4).action is Action.FAIL


def test_malformed_answer_retries() -> None:
    error = MalformedResponseError("html", status=200)
    assert _decide(error).action is Action.RETRY
    assert _decide(error, attempt=POLICY.max_attempts).action is Action.FAIL


@pytest.mark.parametrize(
    ("error", "switch"),
    [
        (RequestTimeoutError("timeout"), "retry_timeouts"),
        (ConnectionFailedError("reset"), "retry_connection_errors"),
    ],
)
def test_transport_errors_retry_unless_disabled(error: TransportError, switch: str) -> None:
    assert _decide(error).action is Action.RETRY
    assert _decide(error, attempt=POLICY.max_attempts).action is Action.FAIL
    disabled = RetryPolicy(**{switch: False})
    assert _decide(error, policy=disabled).action is Action.FAIL


def test_other_switch_does_not_disable() -> None:
    no_timeouts = RetryPolicy(retry_timeouts=False)
    assert _decide(ConnectionFailedError("reset"), policy=no_timeouts).action is Action.RETRY


def test_400_validation_is_triaged_when_allowed() -> None:
    # Issue 13: a whole-request 400 is sorted by what it says (_refusals), whatever the chunk
    # size: a request-level one stops the call even for a single input.
    error = ValidationError("400", status=400, category="VALIDATION_ERROR")
    assert _decide(error, chunk_size=2).action is Action.TRIAGE
    assert _decide(error, chunk_size=1).action is Action.TRIAGE
    no_split = RetryPolicy(split_bad_chunks=False)
    assert _decide(error, chunk_size=50, policy=no_split).action is Action.FAIL


def test_400_without_category_and_409_are_triaged() -> None:
    assert _decide(ValidationError("400", status=400), chunk_size=10).action is Action.TRIAGE
    conflict = ValidationError("409", status=409, category="CONFLICT")
    assert _decide(conflict, chunk_size=10).action is Action.TRIAGE
    other = ValidationError("400", status=400, category="RATE_LIMITS_EXCEEDED_SOMEHOW")
    assert _decide(other, chunk_size=10).action is Action.TRIAGE


@pytest.mark.parametrize(
    "error",
    [
        ValidationError("404", status=404, category="OBJECT_NOT_FOUND"),
        ValidationError("415", status=415),
        APIError("301", status=301),
        AsyncBatchError("something else"),
    ],
    ids=repr,
)
def test_other_failures_fail(error: AsyncBatchError) -> None:
    assert _decide(error, chunk_size=10).action is Action.FAIL


# --- backoff ---------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    base=st.floats(0, 10),
    cap=st.floats(0, 100),
    attempt=st.integers(1, 60),
    seed=st.integers(0, 2**32),
)
def test_backoff_within_full_jitter_bounds_and_reproducible(
    base: float, cap: float, attempt: int, seed: int
) -> None:
    policy = RetryPolicy(backoff_base_seconds=base, backoff_max_seconds=cap)
    delay = policy.backoff(attempt, random.Random(seed))
    assert 0.0 <= delay <= min(cap, base * 2 ** (attempt - 1))
    assert policy.backoff(attempt, random.Random(seed)) == delay


def test_backoff_varies_with_randomness() -> None:
    delays = {POLICY.backoff(3, random.Random(seed)) for seed in range(20)}
    assert len(delays) > 10


def test_decide_is_reproducible_with_a_seed() -> None:
    error = ServerError("503", status=503)
    assert _decide(error, seed=7) == _decide(error, seed=7)


def test_backoff_never_overflows() -> None:
    policy = RetryPolicy(max_attempts=5000)
    assert 0 <= policy.backoff(1100, random.Random(0)) <= policy.backoff_max_seconds


# --- policy validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": -1},
        {"max_rate_limit_retries": -1},
        {"backoff_base_seconds": -0.1},
        {"backoff_max_seconds": -1},
        {"locked_wait_seconds": -2},
    ],
    ids=repr,
)
def test_policy_refuses_negative_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidInputError, match=next(iter(kwargs))):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_defaults() -> None:
    assert POLICY.max_attempts >= 1
    assert POLICY.locked_wait_seconds >= 2.0
    assert RetryPolicy(max_rate_limit_retries=0).max_rate_limit_retries == 0


@pytest.mark.parametrize(
    "field", ["backoff_base_seconds", "backoff_max_seconds", "locked_wait_seconds"]
)
def test_policy_refuses_nan(field: str) -> None:
    with pytest.raises(InvalidInputError):
        RetryPolicy(**{field: float("nan")})  # type: ignore[arg-type]
