"""The emulator's pure parts: rolling window (fake clock) and property value checks."""

from __future__ import annotations

import pytest

from asyncbatch.emulator import PropertyDef
from asyncbatch.emulator._ratelimit import RateLimiter
from asyncbatch.emulator._store import Store, check_value


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rolling_window_slides() -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests=3, window_seconds=10.0, daily_limit=None, clock=clock)
    for offset in (0.0, 1.0, 2.0):
        clock.now = 100.0 + offset
        assert limiter.arrive("t").policy is None
    clock.now = 109.9
    decision = limiter.arrive("t")
    assert decision.policy == "TEN_SECONDLY_ROLLING"
    assert decision.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert limiter.arrive("other").policy is None  # per token
    clock.now = 110.0  # the first request left the window
    assert limiter.arrive("t").policy is None
    assert limiter.max_window_requests == 4  # arrivals, the rejected one included


def test_daily_cap_does_not_clear_with_time() -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests=100, window_seconds=1.0, daily_limit=2, clock=clock)
    assert [limiter.arrive("t").policy for _ in range(3)] == [None, None, "DAILY"]
    clock.now += 3600
    assert limiter.arrive("t").policy == "DAILY"


@pytest.mark.parametrize(
    ("definition", "value", "code"),
    [
        (PropertyDef("n", "number"), "1.5", None),
        (PropertyDef("n", "number"), "-3", None),
        (PropertyDef("n", "number"), "abc", "INVALID_NUMBER"),
        (PropertyDef("n", "number"), "nan", "INVALID_NUMBER"),
        (PropertyDef("n", "number"), "", None),
        (PropertyDef("b", "bool"), "TRUE", None),
        (PropertyDef("b", "bool"), "yes", "INVALID_BOOLEAN"),
        (PropertyDef("e", "enumeration", ("a", "b")), "a;b", None),
        (PropertyDef("e", "enumeration", ("a", "b")), "c", "INVALID_OPTION"),
        (PropertyDef("d", "date"), "2024-02-29", None),
        (PropertyDef("d", "date"), "2023-02-29", "INVALID_DATE"),
        (PropertyDef("d", "date"), "1704067200000", None),
        (PropertyDef("d", "date"), "1704067200001", "INVALID_DATE"),
        (PropertyDef("t", "datetime"), "2024-01-01T10:00:00Z", None),
        (PropertyDef("t", "datetime"), "tomorrow", "INVALID_DATETIME"),
        (PropertyDef("s"), "anything", None),
    ],
)
def test_check_value(definition: PropertyDef, value: str, code: str | None) -> None:
    problem = check_value(definition, value)
    assert (problem[0] if problem else None) == code


def test_unique_index_follows_writes() -> None:
    from datetime import UTC, datetime

    store = Store()
    now = datetime.now(UTC)
    first = store.create("courses", {"code": "a"}, now)
    types = store.of("0-410")
    assert types.find("a", "code") is first
    types.write(first, {"code": "b"}, "later")
    assert types.find("a", "code") is None
    assert types.find("b", "code") is first
    second = store.create("0-410", {"code": "c"}, now)
    assert types.find("c", "code") is second
    types.delete(second)
    assert types.find("c", "code") is None
    assert types.find(first.id) is first
    assert types.find(first.id, "hs_object_id") is first
