"""The limiters' settings and plug-in contract, and the in-memory limiter on a fake clock: no
real sleeps."""

from __future__ import annotations

import asyncio
import logging
import math

import pytest

from asyncbatch import (
    BatchClient,
    InvalidInputError,
    RateLimit,
    RateLimiter,
    RateLimitInfo,
    RedisWindowLimiter,
    RollingWindowLimiter,
)
from asyncbatch._limiters import as_limiter, make_limiter
from asyncbatch._redact import redact_url

EPS = 1e-9


class FakeClock:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds > 0
        assert math.isfinite(seconds)
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def _limiter(rate: RateLimit) -> tuple[RollingWindowLimiter, FakeClock]:
    clock = FakeClock()
    return RollingWindowLimiter(rate, clock=clock, sleep=clock.sleep), clock


def _max_in_any_window(starts: list[float], window: float) -> int:
    """The most starts in any half-open window [t, t + window)."""
    ordered = sorted(starts)
    return max((sum(1 for s in ordered if t <= s < t + window - EPS) for t in ordered), default=0)


# --- RateLimit validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"requests": 0},
        {"requests": -1},
        {"requests": 1.5},
        {"requests": True},
        {"per_seconds": 0},
        {"per_seconds": -1},
        {"per_seconds": math.nan},
        {"per_seconds": math.inf},
        {"per_seconds": "10"},
        {"safety_margin_seconds": -0.1},
        {"safety_margin_seconds": math.nan},
    ],
    ids=repr,
)
def test_rate_limit_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError, match=next(iter(kwargs))):
        RateLimit(**kwargs)  # type: ignore[arg-type]


def test_rate_limit_defaults_are_hubspots() -> None:
    rate = RateLimit()
    assert (rate.requests, rate.per_seconds) == (100, 10.0)
    assert rate.safety_margin_seconds >= 0


# --- RollingWindowLimiter --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sequential_acquires_respect_the_window() -> None:
    limiter, clock = _limiter(RateLimit(10, 1.0, safety_margin_seconds=0.1))
    starts = []
    for _ in range(35):
        await limiter.acquire()
        starts.append(clock.now)
    assert _max_in_any_window(starts, 1.1) == 10
    # 10 at once, then 10 per 1.1 s: the 31st..35th start at 3 * 1.1 s.
    assert clock.now == pytest.approx(3.3)
    assert starts[:10] == [0.0] * 10
    assert starts[10] == pytest.approx(1.1)


@pytest.mark.asyncio
async def test_no_wait_under_the_limit() -> None:
    limiter, clock = _limiter(RateLimit(5, 1.0, safety_margin_seconds=0))
    for _ in range(5):
        await limiter.acquire()
    assert clock.now == 0.0
    assert clock.sleeps == []


@pytest.mark.asyncio
async def test_spaced_requests_do_not_wait() -> None:
    limiter, clock = _limiter(RateLimit(2, 1.0, safety_margin_seconds=0))
    for _ in range(6):
        await limiter.acquire()
        clock.now += 0.5  # the caller's own work takes time
    assert clock.sleeps == []


@pytest.mark.asyncio
async def test_concurrent_acquires_respect_the_limit() -> None:
    limiter, clock = _limiter(RateLimit(10, 1.0, safety_margin_seconds=0.1))
    starts: list[float] = []

    async def worker() -> None:
        for _ in range(3):
            await limiter.acquire()
            starts.append(clock.now)
            await asyncio.sleep(0)

    async with asyncio.TaskGroup() as tg:
        for _ in range(20):
            tg.create_task(worker())
    assert len(starts) == 60
    assert _max_in_any_window(starts, 1.1) == 10
    assert clock.now == pytest.approx(5 * 1.1)


@pytest.mark.asyncio
async def test_observe_lowers_the_limit() -> None:
    limiter, clock = _limiter(RateLimit(10, 1.0, safety_margin_seconds=0.1))
    limiter.observe(RateLimitInfo(max=5, remaining=4, interval_ms=1000))
    assert limiter.limit == 5
    starts = []
    for _ in range(12):
        await limiter.acquire()
        starts.append(clock.now)
    assert _max_in_any_window(starts, 1.1) == 5
    assert clock.now == pytest.approx(2.2)


def test_observe_adopts_the_servers_stricter_window() -> None:
    # 5 per 1 s is stricter than 100 per 10 s in burst and in rate: follow the server's own
    # window (rescaling it to "50 per 10 s" would allow bursts the server refuses).
    limiter, _ = _limiter(RateLimit(100, 10.0, safety_margin_seconds=0.1))
    limiter.observe(RateLimitInfo(max=5, interval_ms=1000))
    assert limiter.limit == 5
    assert limiter.window_seconds == pytest.approx(1.1)


def test_observe_ignores_a_looser_server_figure() -> None:
    limiter, _ = _limiter(RateLimit(10, 1.0))
    limiter.observe(RateLimitInfo(max=190, interval_ms=10_000))
    assert limiter.limit == 10 and limiter.window_seconds == pytest.approx(1.01)


@pytest.mark.asyncio
async def test_foreign_requests_in_the_servers_window_are_counted() -> None:
    limiter, clock = _limiter(RateLimit(10, 1.0, safety_margin_seconds=0.0))
    await limiter.acquire()
    started = clock.now
    # The server has 7 requests in its window, only 1 of them ours: 6 belong to someone else.
    limiter.observe(RateLimitInfo(max=10, remaining=3, interval_ms=1000), started=started)
    assert limiter.foreign_in_window == 6
    for _ in range(3):
        await limiter.acquire()
    assert clock.now == started  # 1 + 6 + 3 = 10: still within budget
    await limiter.acquire()
    assert clock.now > started  # the 11th waited for the window to move
    # The same news again is not counted twice.
    limiter.observe(RateLimitInfo(max=10, remaining=0, interval_ms=1000), started=clock.now)
    assert limiter.foreign_in_window <= 10


@pytest.mark.parametrize(
    "info",
    [
        RateLimitInfo(max=50, interval_ms=1000),
        RateLimitInfo(max=10, interval_ms=1000),
        RateLimitInfo(max=5, interval_ms=None),
        RateLimitInfo(max=None, interval_ms=1000),
        RateLimitInfo(max=0, interval_ms=1000),
        RateLimitInfo(),
    ],
    ids=repr,
)
def test_observe_never_raises_the_limit_and_ignores_gaps(info: RateLimitInfo) -> None:
    limiter, _ = _limiter(RateLimit(10, 1.0))
    limiter.observe(info)
    assert limiter.limit == 10


def test_observe_keeps_the_lowest() -> None:
    limiter, _ = _limiter(RateLimit(10, 1.0))
    limiter.observe(RateLimitInfo(max=4, interval_ms=1000))
    limiter.observe(RateLimitInfo(max=8, interval_ms=1000))
    assert limiter.limit == 4


@pytest.mark.asyncio
async def test_penalize_blocks_for_at_least_a_window() -> None:
    limiter, clock = _limiter(RateLimit(10, 1.0, safety_margin_seconds=0.1))
    await limiter.acquire()
    limiter.penalize(0.0)
    await limiter.acquire()
    assert clock.now >= 1.1 - EPS


@pytest.mark.asyncio
async def test_penalize_longer_than_a_window() -> None:
    limiter, clock = _limiter(RateLimit(10, 1.0, safety_margin_seconds=0.1))
    limiter.penalize(5.0)
    limiter.penalize(2.0)  # a shorter penalty does not shorten the block
    await limiter.acquire()
    assert clock.now == pytest.approx(5.0)
    await limiter.acquire()
    assert clock.now == pytest.approx(5.0)


@pytest.mark.asyncio
async def test_own_requests_purged_from_the_window_are_not_taken_for_foreign() -> None:
    limiter, clock = _limiter(RateLimit(10, 1.0, safety_margin_seconds=0.0))
    for _ in range(2):
        await limiter.acquire()  # two starts at t
    clock.now += 1.0  # the server, which counts arrivals, may still hold those two
    for _ in range(8):
        await limiter.acquire()
    started = clock.now
    clock.now += 0.06  # the answer arrives; by now the first two left our window
    limiter.observe(RateLimitInfo(max=10, remaining=0, interval_ms=1000), started=started)
    assert limiter.foreign_in_window == 0  # all 10 in the server's window were ours


# --- the shared (Redis) budget's settings -----------------------------------------------------


def test_redis_settings_default_to_in_memory() -> None:
    rate = RateLimit(10, 1.0)
    assert rate.redis_url is None
    assert rate.key == "default"


@pytest.mark.parametrize(
    "url",
    ["redis://127.0.0.1:6379/0", "rediss://:pw@cache.internal:6380/2", "unix:///run/redis.sock"],
)
def test_redis_url_schemes(url: str) -> None:
    assert RateLimit(10, 1.0, redis_url=url, key="acct-123").redis_url == url


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:6379", "127.0.0.1:6379", "", 6379, "redis://[::1"]
)
def test_bad_redis_url_is_refused(url: object) -> None:
    with pytest.raises(InvalidInputError, match="redis_url"):
        RateLimit(10, 1.0, redis_url=url)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["", "has space", "x" * 201, None, "brace{tag}"])
def test_bad_budget_key_is_refused(key: object) -> None:
    with pytest.raises(InvalidInputError, match="key"):
        RateLimit(10, 1.0, redis_url="redis://127.0.0.1", key=key)  # type: ignore[arg-type]


def test_the_redis_password_never_shows() -> None:
    url = "redis://worker:s3cret@cache.internal:6379/0"
    rate = RateLimit(10, 1.0, redis_url=url, key="acct")
    assert "s3cret" not in repr(rate)
    assert "worker:***@cache.internal:6379" in repr(rate)
    assert redact_url("redis://:s3cret@h:1/0") == "redis://:***@h:1/0"
    assert redact_url("redis://h:1/0") == "redis://h:1/0"
    with pytest.raises(InvalidInputError) as caught:
        RateLimit(redis_url="http://u:s3cret@h/")
    assert "s3cret" not in str(caught.value)
    client = BatchClient("token-not-shown", rate_limit=rate)
    assert "s3cret" not in repr(client)
    assert "token-not-shown" not in repr(client)


# --- RateLimit: absurd figures are InvalidInputError, naming the argument (issue 12 item 15) ---


@pytest.mark.parametrize(
    ("args", "kwargs", "name"),
    [
        ((10, 10**400), {}, "per_seconds"),  # was a raw OverflowError
        ((10, 10**5000), {}, "per_seconds"),  # too long even for int's repr
        (("3", 1), {}, "requests"),
        ((10**400, 1), {}, "requests"),
        ((10, "1"), {}, "per_seconds"),
        ((10, True), {}, "per_seconds"),
        ((10, 86_401), {}, "per_seconds"),
        ((10, 1), {"safety_margin_seconds": 10**400}, "safety_margin_seconds"),
        ((10, 1), {"safety_margin_seconds": "0.1"}, "safety_margin_seconds"),
        ((10, 1), {"max_interval_seconds": 0}, "max_interval_seconds"),
        ((10, 1), {"max_interval_seconds": math.inf}, "max_interval_seconds"),
        ((10, 1), {"key": 10**5000}, "key"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_rate_limit_refuses_absurd_figures(
    args: tuple[object, ...], kwargs: dict[str, object], name: str
) -> None:
    with pytest.raises(InvalidInputError, match=f"RateLimit.{name} "):
        RateLimit(*args, **kwargs)  # type: ignore[arg-type]


def test_rate_limit_bounds_are_accepted() -> None:
    rate = RateLimit(10**9, 86_400, safety_margin_seconds=86_400)
    assert rate.max_interval_seconds == 86_400  # at least the configured window
    assert RateLimit(10, 1.0).max_interval_seconds == 60.0


# --- a window announced by the headers is bounded (issue 12 item 11) -------------------------


def test_a_huge_server_interval_is_ignored_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter, _ = _limiter(RateLimit(10, 1.0))
    one_per_2_7_years = RateLimitInfo(max=1, remaining=0, interval_ms=86_400_000_000)
    with caplog.at_level(logging.WARNING, logger="asyncbatch"):
        limiter.observe(one_per_2_7_years, started=0.0)
        limiter.observe(one_per_2_7_years, started=0.0)
    assert (limiter.limit, limiter.window_seconds) == (10, pytest.approx(1.01))
    assert limiter.foreign_in_window == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "max_interval_seconds" in warnings[0].getMessage()


def test_a_server_interval_up_to_the_cap_is_followed() -> None:
    limiter, _ = _limiter(RateLimit(10, 1.0, max_interval_seconds=30.0))
    limiter.observe(RateLimitInfo(max=1, interval_ms=30_000))
    assert (limiter.limit, limiter.window_seconds) == (1, pytest.approx(30.01))
    limiter.observe(RateLimitInfo(max=1, interval_ms=30_001))  # past the cap: ignored
    assert limiter.window_seconds == pytest.approx(30.01)


def test_headers_too_large_for_a_float_do_not_raise() -> None:
    limiter, _ = _limiter(RateLimit(10, 1.0))
    limiter.observe(RateLimitInfo(max=10**400, remaining=0, interval_ms=1000), started=0.0)
    limiter.observe(RateLimitInfo(max=1, remaining=0, interval_ms=10**400), started=0.0)
    assert limiter.limit == 10


@pytest.mark.asyncio
async def test_a_429_pause_is_bounded() -> None:
    limiter, clock = _limiter(RateLimit(10, 1.0, safety_margin_seconds=0.0))
    assert limiter.max_wait_seconds == pytest.approx(1.0 + 60.0)
    limiter.penalize(10**12)  # a Retry-After of 31,000 years
    limiter.penalize(math.nan)
    await limiter.acquire()
    assert clock.now == pytest.approx(61.0)


# --- counted from when a request left (RateLimiter.sent) ------------------------------------
# HubSpot counts a request when it arrives ("Rate limits": a rolling window of requests made),
# so one that left late (a connection opened first, the loop busy) is counted from then.


@pytest.mark.asyncio
async def test_a_start_moved_to_when_it_left_frees_its_slot_that_much_later() -> None:
    limiter, clock = _limiter(RateLimit(2, 1.0, safety_margin_seconds=0))
    await limiter.acquire()  # t=0, left at once
    await limiter.acquire()  # t=0, left only at 0.3
    limiter.sent(0.0, 0.3)
    await limiter.acquire()
    assert clock.now == pytest.approx(1.0)  # the first one's slot
    await limiter.acquire()
    assert clock.now == pytest.approx(1.3)  # not 1.0: the second left at 0.3


@pytest.mark.asyncio
async def test_sent_moves_only_the_latest_start_at_or_before_started() -> None:
    limiter, clock = _limiter(RateLimit(3, 1.0, safety_margin_seconds=0))
    await limiter.acquire()  # t=0
    clock.now = 0.1
    await limiter.acquire()  # t=0.1: the one that left late
    limiter.sent(0.1, 0.4)
    clock.now = 0.5
    await limiter.acquire()  # t=0.5
    await limiter.acquire()  # waits for the t=0 start: 1.0
    assert clock.now == pytest.approx(1.0)
    await limiter.acquire()  # then for the moved one: 0.4 + 1.0
    assert clock.now == pytest.approx(1.4)


@pytest.mark.parametrize(("started", "at"), [(0.0, 0.0), (0.0, -1.0), (-5.0, 1.0)])
def test_sent_ignores_no_move_and_purged_starts(started: float, at: float) -> None:
    limiter, _ = _limiter(RateLimit(2, 1.0, safety_margin_seconds=0))
    limiter._starts.append(0.0)
    limiter.sent(started, at)
    assert limiter._starts == [0.0]


def test_sent_is_a_no_op_by_default_and_forwarded_when_adapted() -> None:
    class Plain(RateLimiter):
        async def acquire(self) -> None: ...

        def observe(self, info: RateLimitInfo, *, started: float | None = None) -> None: ...

        def penalize(self, seconds: float) -> None: ...

    Plain().sent(1.0, 2.0)  # nothing to do, nothing raised
    as_limiter(_Structural()).sent(1.0, 2.0)  # it has no sent: nothing raised
    moved: list[tuple[float, float]] = []
    own = _Structural()
    own.sent = lambda started, at: moved.append((started, at))  # type: ignore[attr-defined]
    as_limiter(own).sent(1.0, 2.0)
    assert moved == [(1.0, 2.0)]


# --- the plug-in contract ---------------------------------------------------------------------


class _Structural:
    """A limiter written against the old Protocol: it subclasses nothing."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def acquire(self) -> None:
        self.calls.append("acquire")

    def observe(self, info: RateLimitInfo, *, started: float | None = None) -> None:
        self.calls.append(f"observe {started}")

    def penalize(self, seconds: float) -> None:
        self.calls.append(f"penalize {seconds}")

    async def aclose(self) -> None:
        self.calls.append("aclose")


@pytest.mark.asyncio
async def test_as_limiter_adapts_a_structural_limiter() -> None:
    own = _Structural()
    limiter = as_limiter(own)
    assert isinstance(limiter, RateLimiter)
    await limiter.start()  # it has none: the default does nothing
    await limiter.acquire()
    limiter.observe(RateLimitInfo(), started=1.5)
    limiter.penalize(2.0)
    await limiter.aclose()
    assert own.calls == ["acquire", "observe 1.5", "penalize 2.0", "aclose"]


def test_as_limiter_keeps_a_rate_limiter_and_refuses_a_non_limiter() -> None:
    limiter, _ = _limiter(RateLimit())
    assert as_limiter(limiter) is limiter
    with pytest.raises(InvalidInputError, match="observe, penalize"):
        as_limiter(object.__new__(type("Half", (), {"acquire": lambda self: None})))  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_rate_limiter_base_has_start_and_aclose_defaults() -> None:
    class Minimal(RateLimiter):
        async def acquire(self) -> None:
            pass

        def observe(self, info: RateLimitInfo, *, started: float | None = None) -> None:
            pass

        def penalize(self, seconds: float) -> None:
            pass

    limiter = Minimal()
    await limiter.start()
    await limiter.aclose()
    with pytest.raises(TypeError, match="abstract"):
        type("NoAcquire", (RateLimiter,), {})()


def test_make_limiter_picks_by_redis_url() -> None:
    clock = FakeClock()
    memory = make_limiter(RateLimit(10, 1.0), clock=clock, sleep=clock.sleep)
    assert type(memory) is RollingWindowLimiter
    shared = make_limiter(
        RateLimit(10, 1.0, redis_url="redis://127.0.0.1:1/0"), clock=clock, sleep=clock.sleep
    )
    assert type(shared) is RedisWindowLimiter  # connects to nothing until start()
