"""``asyncbatch.OAuthRefresh`` against the emulator's token endpoint on 127.0.0.1 (issue 18
item 1): HubSpot's refresh grant, tokens refreshed before they expire and after a 401
``EXPIRED_AUTHENTICATION``, one refresh for many callers, a refused refresh that stops the run
with nothing lost, and no secret anywhere.

What HubSpot does, and where it says so:

- ``POST /oauth/v1/token``, form-encoded, ``grant_type=refresh_token`` with ``client_id``,
  ``client_secret`` and ``refresh_token`` in the body; the answer carries ``token_type``,
  ``refresh_token``, ``access_token`` and ``expires_in`` ("Refresh an access token",
  https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/refresh-oauth-token;
  https://legacydocs.hubspot.com/docs/methods/oauth2/refresh-access-token).
- ``expires_in`` is 1800: tokens last 30 minutes, and an expired one answers 401
  ``EXPIRED_AUTHENTICATION`` "The OAuth token used to make this call expired N minute(s)
  ago." (https://useparagon.com/integration-error-solutions/hubspot-the-oauth-token-used-to-make-this-call-expired).
- A refresh token that no longer works is a 400 ``{"status": "BAD_REFRESH_TOKEN", "message":
  "missing or invalid refresh token"}`` (https://www.nango.dev/blog/hubspot-oauth-bad-refresh-token);
  a body that is not form-encoded is a 400 ``BAD_GRANT_TYPE``
  (https://openillumi.com/?p=110834). Nothing public quotes a wrong client id or secret: the
  emulator answers ``BAD_CLIENT_ID`` / ``BAD_CLIENT_SECRET`` in the same shape (the stricter
  reading: refused, naming the field).

Time is a fake clock shared by the emulator and the provider, moved by the tests (in an
``on_chunk`` hook, for "a run longer than a token's life"): nothing sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import anyio
import orjson
import pytest

import asyncbatch
import asyncbatch.sync
from asyncbatch import OAuthRefresh
from asyncbatch.emulator import Emulator, EmulatorConfig, OAuthApp
from tests.hostile_server import CLOSE, HostileServer, Request, response
from tests.invariants import assert_accounted

CLIENT_ID = "4e1c7b2a-client-id"
CLIENT_SECRET = "c0ffee11-2222-3333-4444-client-secret"
REFRESH_TOKEN = "6f18f21e-a743-4509-b7fd-refresh-token"
APP = OAuthApp(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)
FAST = asyncbatch.RateLimit(100_000, 1.0)


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _records(n: int, prefix: str = "O") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i:04d}", "properties": {"level": "beginner"}} for i in range(n)]


def _provider(clock: Clock, **kwargs: Any) -> OAuthRefresh:
    return OAuthRefresh(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, clock=clock, **kwargs)


def _client(provider: OAuthRefresh, emu: Emulator, **kwargs: Any) -> asyncbatch.BatchClient:
    kwargs.setdefault("rate_limit", FAST)
    return asyncbatch.BatchClient(provider, base_url=emu.url, **kwargs)


async def _post_form(url: str, form: Mapping[str, str] | None = None, **kwargs: Any) -> Any:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=form, **kwargs) as answer:
            return answer.status, await answer.json(content_type=None)


def _secrets(emu: Emulator, *more: str) -> list[str]:
    return [CLIENT_SECRET, REFRESH_TOKEN, *emu.issued_tokens, *more]


def _assert_nothing_shows(texts: list[str], secrets: list[str]) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"a secret shows in {text[:200]!r}"


# -- the emulator's token endpoint ------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_emulator_issues_expiring_tokens_as_hubspot_does() -> None:
    clock = Clock()
    async with Emulator(EmulatorConfig(oauth=APP), clock=clock) as emu:
        form = {
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
        }
        status, body = await _post_form(f"{emu.url}/oauth/v1/token", form)
        assert status == 200
        assert set(body) == {"token_type", "refresh_token", "access_token", "expires_in"}
        assert body["expires_in"] == 1800 and body["token_type"] == "bearer"
        assert body["refresh_token"] == REFRESH_TOKEN  # HubSpot keeps the refresh token
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        url = f"{emu.url}/crm/v3/properties/0-410"
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.get(url) as answer:
                assert answer.status == 200
            clock.now += 1800 + 120  # two minutes past its life
            async with session.get(url) as answer:
                expired = await answer.json()
        assert answer.status == 401
        assert expired["category"] == "EXPIRED_AUTHENTICATION"
        assert expired["message"] == (
            "The OAuth token used to make this call expired 2 minute(s) ago."
        )
        assert emu.stats.token_grants == 1
        assert emu.stats.total_requests == 2  # the token request is not an API request


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("change", "kwargs", "status_field"),
    [
        ({"refresh_token": "not-the-refresh-token"}, {}, "BAD_REFRESH_TOKEN"),
        ({"client_secret": "not-the-secret-at-all"}, {}, "BAD_CLIENT_SECRET"),
        ({"client_id": "someone-else"}, {}, "BAD_CLIENT_ID"),
        ({"grant_type": "authorization_code"}, {}, "BAD_GRANT_TYPE"),
        (None, {"json": {"grant_type": "refresh_token"}}, "BAD_GRANT_TYPE"),  # not a form
    ],
)
async def test_the_emulator_refuses_a_bad_refresh_with_hubspots_body(
    change: dict[str, str] | None, kwargs: dict[str, Any], status_field: str
) -> None:
    async with Emulator(EmulatorConfig(oauth=APP)) as emu:
        form = None
        if change is not None:
            form = {
                "grant_type": "refresh_token",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "refresh_token": REFRESH_TOKEN,
                **change,
            }
        status, body = await _post_form(f"{emu.url}/oauth/v1/token", form, **kwargs)
        assert status == 400
        assert set(body) == {"status", "message", "correlationId"}
        assert body["status"] == status_field
        if status_field == "BAD_REFRESH_TOKEN":
            assert body["message"] == "missing or invalid refresh token"
        _assert_nothing_shows(
            [orjson.dumps(body).decode()], _secrets(emu, *(change or {}).values())
        )
        assert emu.stats.token_refusals == 1 and emu.issued_tokens == []


@pytest.mark.asyncio
async def test_with_an_app_the_emulator_accepts_only_the_tokens_it_issued() -> None:
    async with Emulator(EmulatorConfig(oauth=APP)) as emu:
        headers = {"Authorization": "Bearer a-token-it-never-issued"}
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.get(f"{emu.url}/crm/v3/properties/0-410") as answer:
                body = await answer.json()
        assert answer.status == 401 and body["category"] == "INVALID_AUTHENTICATION"


DAILY_HEADERS = ("X-HubSpot-RateLimit-Daily", "X-HubSpot-RateLimit-Daily-Remaining")


@pytest.mark.asyncio
async def test_answers_to_oauth_authorized_requests_carry_no_daily_headers() -> None:
    """HubSpot: "OAuth authenticated calls will not include X-HubSpot-RateLimit-Daily or
    X-HubSpot-RateLimit-Daily-Remaining" (developer changelog, "Rate limit headers will now
    appear for OAuth authenticated calls",
    https://developers.hubspot.com/changelog/rate-limit-headers-will-now-appear-for-oauth-authenticated-calls;
    API usage guidelines, https://developers.hubspot.com/docs/api/usage-details). A private
    app's token on the same emulator still gets them; the other rate-limit headers come to
    both."""
    private = "a-private-app-token-0123456789"
    async with Emulator(EmulatorConfig(oauth=APP, token=private)) as emu:
        form = {
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
        }
        _, grant = await _post_form(f"{emu.url}/oauth/v1/token", form)
        seen: dict[str, Mapping[str, str]] = {}
        for name, token in (("oauth", grant["access_token"]), ("private", private)):
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession(headers=headers) as session:
                async with session.get(f"{emu.url}/crm/v3/properties/0-410") as answer:
                    assert answer.status == 200
                    seen[name] = answer.headers
    for header in DAILY_HEADERS:
        assert header not in seen["oauth"]
        assert header in seen["private"]
    for answers in seen.values():
        assert answers["X-HubSpot-RateLimit-Max"] == "100"
        assert "X-HubSpot-RateLimit-Remaining" in answers


@pytest.mark.asyncio
async def test_without_daily_headers_the_client_knows_no_daily_figure_and_goes_on() -> None:
    """``daily_remaining`` stays None for an OAuth app's run, and a ``daily_reserve`` stops
    nothing (there is no figure to stop at): every record is written."""
    async with Emulator(EmulatorConfig(oauth=APP)) as emu:
        async with _client(_provider(Clock()), emu, daily_reserve=1_000_000) as client:
            await client.properties("0-410")
            assert client.daily_remaining is None
            result = await client.upsert("0-410", _records(250), id_property="course_code")
            assert client.daily_remaining is None
    assert result.ok and result.stop_error is None
    assert len(emu.records("0-410")) == 250


# -- a run longer than a token's life -----------------------------------------------------------


@pytest.mark.asyncio
async def test_a_run_longer_than_a_token_refreshes_before_each_expiry() -> None:
    clock = Clock()
    async with Emulator(EmulatorConfig(oauth=APP), clock=clock) as emu:
        provider = _provider(clock)

        def a_minute_per_chunk(_: asyncbatch.BatchResult) -> None:
            clock.now += 60

        async with _client(provider, emu, chunk_size=10, max_concurrency=1) as client:
            result = await client.upsert(
                "0-410", _records(1000), id_property="course_code", on_chunk=a_minute_per_chunk
            )
    assert_accounted(result, 1000)
    assert result.ok and result.stop_error is None
    assert len(emu.records("0-410")) == 1000
    # 100 chunks, a minute each: 100 minutes. A token lives 30 and is replaced 5 minutes
    # before its end, every 25 minutes: at 0, 25, 50 and 75 (or a minute later, when the next
    # chunk was already on its way as the clock moved). No request was ever refused.
    assert emu.stats.token_grants == 4 == provider.refreshes
    assert emu.stats.status_counts[401] == 0


@pytest.mark.asyncio
async def test_a_short_lived_token_is_refreshed_half_way_through() -> None:
    clock = Clock()
    app = OAuthApp(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=REFRESH_TOKEN,
        token_lifetime_seconds=60,
    )
    async with Emulator(EmulatorConfig(oauth=app), clock=clock) as emu:
        provider = _provider(clock)  # a 5-minute margin would refresh before every request

        def five_seconds_per_chunk(_: asyncbatch.BatchResult) -> None:
            clock.now += 5

        async with _client(provider, emu, chunk_size=10, max_concurrency=1) as client:
            result = await client.upsert(
                "0-410", _records(100), id_property="course_code", on_chunk=five_seconds_per_chunk
            )
    assert result.ok and len(emu.records("0-410")) == 100
    # 10 chunks, 50 seconds: a token at 0 and one at 30 (35, when the next chunk was already
    # on its way as the clock moved). A margin of 5 minutes would have made 10; refreshing
    # only after a 401, 1.
    assert emu.stats.token_grants == 2
    assert emu.stats.status_counts[401] == 0


@pytest.mark.asyncio
async def test_an_expiry_the_provider_did_not_foresee_forces_one_refresh() -> None:
    emulator_clock, provider_clock = Clock(), Clock()  # the provider believes its token good
    async with Emulator(
        EmulatorConfig(oauth=APP, latency_seconds=0.01), clock=emulator_clock
    ) as emu:
        provider = _provider(provider_clock)
        async with _client(provider, emu, max_concurrency=10) as client:
            first = await client.upsert("0-410", _records(100, "A"), id_property="course_code")
            assert first.ok and emu.stats.token_grants == 1
            emulator_clock.now += 1801  # HubSpot says the token expired; the provider did not
            second = await client.upsert("0-410", _records(1000, "B"), id_property="course_code")
    assert_accounted(second, 1000)
    assert second.ok, second.failed[:1]
    assert len(emu.records("0-410")) == 1100
    assert emu.stats.status_counts[401] >= 2  # several chunks saw it (all ten, in practice)
    assert emu.stats.token_grants == 2 == provider.refreshes  # one refresh for the expiry


class _GatedPoster:
    """A ``FormPoster`` that holds every refresh until the test opens the gate, then posts it
    to the emulator for real: so that many callers certainly wait on one refresh."""

    def __init__(self) -> None:
        self.gate = anyio.Event()
        self.posted = 0

    async def post_form(
        self, url: str, fields: Mapping[str, str], *, timeout_seconds: float
    ) -> asyncbatch.RawResponse:
        self.posted += 1
        await self.gate.wait()
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=dict(fields)) as answer:
                return asyncbatch.RawResponse(
                    answer.status, dict(answer.headers), await answer.read()
                )


@pytest.mark.asyncio
async def test_concurrent_callers_after_one_expiry_share_one_refresh() -> None:
    clock = Clock()
    async with Emulator(EmulatorConfig(oauth=APP), clock=clock) as emu:
        provider = _provider(clock)
        poster = _GatedPoster()
        bound = provider.bind(base_url=emu.url, transport=poster, timeout_seconds=5.0)
        poster.gate.set()
        old = await bound.token(refused=None)
        poster.gate = anyio.Event()
        got: list[str] = []

        async def refused_caller() -> None:
            got.append(await bound.token(refused=old))

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(refused_caller)
            await anyio.wait_all_tasks_blocked()  # all 20 wait: one on the gate, 19 behind it
            assert poster.posted == 2
            poster.gate.set()
    assert len(got) == 20 and len(set(got)) == 1 and got[0] != old
    assert emu.stats.token_grants == 2 == provider.refreshes


@pytest.mark.asyncio
async def test_a_refresh_token_hubspot_rotates_is_kept() -> None:
    clock = Clock()
    app = OAuthApp(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=REFRESH_TOKEN,
        rotate_refresh_tokens=True,  # each refresh answers a new one; the old one stops working
    )
    async with Emulator(EmulatorConfig(oauth=app), clock=clock) as emu:
        provider = _provider(clock)

        def a_minute_per_chunk(_: asyncbatch.BatchResult) -> None:
            clock.now += 60

        async with _client(provider, emu, chunk_size=10, max_concurrency=1) as client:
            result = await client.upsert(
                "0-410", _records(600), id_property="course_code", on_chunk=a_minute_per_chunk
            )
    assert result.ok and emu.stats.token_grants == 3 and emu.stats.token_refusals == 0
    assert provider.refresh_token != REFRESH_TOKEN  # the latest one, to store
    assert REFRESH_TOKEN not in repr(provider) and provider.refresh_token not in repr(provider)


# -- a refresh that fails --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_revoked_refresh_token_stops_the_run_and_reports_every_unsent_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    async with Emulator(EmulatorConfig(oauth=APP), clock=clock) as emu:
        provider = _provider(clock)
        finished = 0

        def uninstall_after_the_third_chunk(_: asyncbatch.BatchResult) -> None:
            nonlocal finished
            finished += 1
            if finished == 3:
                emu.revoke_refresh_tokens()  # the app was uninstalled from the account
                clock.now += 1600  # the token is due: the next chunk asks for a new one

        async with _client(provider, emu, chunk_size=10, max_concurrency=1) as client:
            result = await client.upsert(
                "0-410",
                _records(100),
                id_property="course_code",
                on_chunk=uninstall_after_the_third_chunk,
            )
    assert_accounted(result, 100)
    written = len(result.results)
    # the fourth chunk may have left, with the old token still good, before the third's hook
    assert written in (30, 40) and written == len(emu.records("0-410"))
    stop = result.stop_error
    assert isinstance(stop, asyncbatch.AuthenticationError)
    assert stop.status == 400 and stop.category == "BAD_REFRESH_TOKEN"
    assert "missing or invalid refresh token" in str(stop)
    assert len(result.failed) == 100 - written
    assert all(f.stopped_run and not f.sent and not f.final for f in result.failed)
    assert all("BAD_REFRESH_TOKEN" in f.reason for f in result.failed)
    assert emu.stats.token_refusals == 1  # asked once: a refusal is not retried
    texts = [str(stop), repr(stop), str(stop.body), repr(provider), repr(client), caplog.text]
    texts += [f.reason for f in result.failed] + [repr(f) for f in result.failed[:3]]
    _assert_nothing_shows(texts, _secrets(emu))


@pytest.mark.asyncio
async def test_a_refused_refresh_after_a_401_fails_that_chunk_as_sent_and_stops() -> None:
    emulator_clock, provider_clock = Clock(), Clock()
    async with Emulator(EmulatorConfig(oauth=APP), clock=emulator_clock) as emu:
        provider = _provider(provider_clock)
        finished = 0

        def expire_after_two(_: asyncbatch.BatchResult) -> None:
            nonlocal finished
            finished += 1
            if finished == 2:
                emu.revoke_refresh_tokens()
                emulator_clock.now += 1801  # HubSpot refuses the token; the provider is asked

        async with _client(provider, emu, chunk_size=10, max_concurrency=1) as client:
            result = await client.upsert(
                "0-410", _records(50), id_property="course_code", on_chunk=expire_after_two
            )
    assert_accounted(result, 50)
    assert len(result.results) in (20, 30)  # the third chunk may have left before the hook
    assert len(result.results) == len(emu.records("0-410"))
    stop = result.stop_error
    assert isinstance(stop, asyncbatch.AuthenticationError)
    assert stop.category == "BAD_REFRESH_TOKEN"
    # The chunks HubSpot refused with a 401 (one, or two when the next one left as the first
    # one's answer came in) failed as sent; the rest were never sent.
    refused_chunks = emu.stats.status_counts[401]
    assert refused_chunks in (1, 2)
    assert len([f for f in result.failed if f.sent]) == 10 * refused_chunks
    assert all(f.stopped_run and not f.final for f in result.failed)
    assert emu.stats.token_refusals == 1  # the refusal is remembered, not asked again


@pytest.mark.asyncio
async def test_a_bad_refresh_token_is_a_clear_error_before_anything_is_sent() -> None:
    async with Emulator(EmulatorConfig(oauth=APP)) as emu:
        wrong = "a-refresh-token-hubspot-never-gave"
        provider = OAuthRefresh(CLIENT_ID, CLIENT_SECRET, wrong)
        client = _client(provider, emu)
        with pytest.raises(asyncbatch.AuthenticationError) as caught:
            async with client:
                pass
        assert client.closed
        assert emu.stats.total_requests == 0
    error = caught.value
    assert error.category == "BAD_REFRESH_TOKEN"
    assert "refused to refresh the OAuth access token" in str(error)
    _assert_nothing_shows(
        [str(error), repr(error), str(error.body), repr(provider)], [wrong, CLIENT_SECRET]
    )


# -- the token endpoint misbehaving (the hostile server plays it) -------------------------------

ISSUED = "hostile-issued-access-token-0001"
GRANT = orjson.dumps(
    {
        "access_token": ISSUED,
        "refresh_token": REFRESH_TOKEN,
        "expires_in": 1800,
        "token_type": "bearer",
    }
)


def _json_answer(status: int, body: bytes, *headers: tuple[str, str]) -> bytes:
    return response(status, [("Content-Type", "application/json"), *headers], body)


@pytest.mark.asyncio
async def test_transient_failures_of_the_token_endpoint_are_retried(
    hostile_server: HostileServer,
) -> None:
    hostile_server.queue(
        _json_answer(503, b'{"status": "error", "message": "unavailable"}'),
        _json_answer(429, b'{"status": "error", "message": "slow down"}'),
        CLOSE,
        _json_answer(200, GRANT),
    )
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    provider = OAuthRefresh(
        CLIENT_ID,
        CLIENT_SECRET,
        REFRESH_TOKEN,
        token_url=f"{hostile_server.url}/oauth/v1/token",
        sleep=sleep,
    )
    async with Emulator(EmulatorConfig(token=ISSUED)) as emu:
        async with _client(provider, emu) as client:
            result = await client.upsert("0-410", _records(20), id_property="course_code")
    assert result.ok and len(emu.records("0-410")) == 20
    assert len(waits) == 3 and all(0 <= w <= 10 for w in waits)
    requests = hostile_server.requests
    assert len(requests) == 4
    for request in requests:
        _assert_a_hubspot_refresh(request)


def _assert_a_hubspot_refresh(request: Request) -> None:
    """What HubSpot's reference page asks for: a form-encoded POST to /oauth/v1/token, the
    grant and the credentials in the body (never in the URL), and no bearer token."""
    assert request.method == "POST" and request.path == "/oauth/v1/token"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in request.headers
    assert parse_qs(request.body.decode()) == {
        "grant_type": ["refresh_token"],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
        "refresh_token": [REFRESH_TOKEN],
    }


@pytest.mark.asyncio
async def test_a_token_endpoint_failing_every_try_is_an_error_before_anything_is_sent(
    hostile_server: HostileServer,
) -> None:
    hostile_server.queue(*[_json_answer(502, b'{"message": "bad gateway"}')] * 4)

    async def sleep(seconds: float) -> None:
        pass

    provider = OAuthRefresh(
        CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, token_url=hostile_server.url + "/t", sleep=sleep
    )
    async with Emulator(EmulatorConfig(token=ISSUED)) as emu:
        client = _client(provider, emu)
        with pytest.raises(asyncbatch.ServerError, match="token endpoint failed") as caught:
            async with client:
                pass
        assert emu.stats.total_requests == 0
    assert caught.value.status == 502
    assert len(hostile_server.requests) == 4  # max_attempts, then it gives up


@pytest.mark.asyncio
async def test_a_redirect_from_the_token_endpoint_is_not_followed(
    hostile_server: HostileServer,
) -> None:
    elsewhere = f"{hostile_server.url}/elsewhere"
    hostile_server.queue(response(307, [("Location", elsewhere)]), _json_answer(200, GRANT))
    provider = OAuthRefresh(
        CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, token_url=f"{hostile_server.url}/oauth/v1/token"
    )
    async with Emulator(EmulatorConfig(token=ISSUED)) as emu:
        with pytest.raises(asyncbatch.AuthenticationError, match="307") as caught:
            async with _client(provider, emu):
                pass
    assert "check token_url" in str(caught.value)
    assert [r.path for r in hostile_server.requests] == ["/oauth/v1/token"]


@pytest.mark.asyncio
async def test_a_refusal_echoing_the_secrets_is_masked(hostile_server: HostileServer) -> None:
    def echo(request: Request) -> bytes:
        said = request.body.decode()
        body = orjson.dumps({"status": "BAD_CLIENT_SECRET", "message": f"refused {said}"})
        return _json_answer(400, body)

    hostile_server.queue(echo)
    provider = OAuthRefresh(
        CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, token_url=f"{hostile_server.url}/oauth/v1/token"
    )
    async with Emulator(EmulatorConfig(token=ISSUED)) as emu:
        with pytest.raises(asyncbatch.AuthenticationError) as caught:
            async with _client(provider, emu):
                pass
    error = caught.value
    assert error.category == "BAD_CLIENT_SECRET"
    assert "***" in str(error)
    _assert_nothing_shows(
        [str(error), repr(error), str(error.body)], [CLIENT_SECRET, REFRESH_TOKEN]
    )


# -- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("", CLIENT_SECRET, REFRESH_TOKEN), {}, "client_id"),
        ((CLIENT_ID, " ", REFRESH_TOKEN), {}, "client_secret"),
        ((CLIENT_ID, CLIENT_SECRET, None), {}, "refresh_token"),
        ((CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN), {"token_url": "http://example.com/t"}, "http"),
        ((CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN), {"token_url": "ftp://x/t"}, "token_url"),
        ((CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN), {"refresh_margin_seconds": -1}, "margin"),
        ((CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN), {"max_attempts": 0}, "max_attempts"),
    ],
)
def test_bad_arguments_are_refused_without_showing_a_secret(
    args: tuple[Any, ...], kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(asyncbatch.InvalidInputError, match=match) as caught:
        OAuthRefresh(*args, **kwargs)
    _assert_nothing_shows([str(caught.value)], [CLIENT_SECRET, REFRESH_TOKEN])


def test_an_http_base_url_is_refused_for_the_token_too() -> None:
    provider = OAuthRefresh(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    with pytest.raises(asyncbatch.InvalidInputError, match="http"):
        asyncbatch.BatchClient(provider, base_url="http://api.example.com")


# -- the sync door -----------------------------------------------------------------------------


@pytest.fixture
def threaded_emulator() -> Iterator[tuple[Emulator, Clock]]:
    """The emulator in a thread and loop of its own, so that the test may block."""
    clock = Clock()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="emulator-loop")
    thread.start()
    emu = Emulator(EmulatorConfig(oauth=APP), clock=clock)
    try:
        asyncio.run_coroutine_threadsafe(emu.start(), loop).result()
        yield emu, clock
        asyncio.run_coroutine_threadsafe(emu.stop(), loop).result()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def test_the_sync_door_refreshes_with_oauth(threaded_emulator: tuple[Emulator, Clock]) -> None:
    emu, clock = threaded_emulator
    provider = _provider(clock)
    with asyncbatch.sync.BatchClient(provider, base_url=emu.url, rate_limit=FAST) as client:
        first = client.upsert("0-410", _records(200, "S"), id_property="course_code")
        clock.now += 1801  # the token expired, for HubSpot and the provider alike
        second = client.upsert("0-410", _records(200, "T"), id_property="course_code")
    assert first.ok and second.ok
    assert len(emu.records("0-410")) == 400
    assert emu.stats.token_grants == 2 == provider.refreshes
    assert emu.stats.status_counts[401] == 0  # refreshed before sending, not after a refusal


@pytest.mark.asyncio
async def test_an_api_answer_echoing_the_apps_secrets_is_masked(
    hostile_server: HostileServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The client secret, the refresh token and each access token join the secrets the client
    masks in every answer it reads, as the access token always did."""
    caplog.set_level(logging.DEBUG)
    echoed = f"scopes missing for {ISSUED} ({CLIENT_SECRET}, {REFRESH_TOKEN})"
    refusal = {"status": "error", "category": "MISSING_SCOPES", "message": echoed}
    hostile_server.queue(_json_answer(200, GRANT), _json_answer(403, orjson.dumps(refusal)))
    provider = OAuthRefresh(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    async with asyncbatch.BatchClient(
        provider, base_url=hostile_server.url, check_properties="off"
    ) as client:
        result = await client.upsert("0-410", _records(5), id_property="course_code")
    assert [r.path for r in hostile_server.requests] == [
        "/oauth/v1/token",
        "/crm/v3/objects/0-410/batch/upsert",
    ]
    assert hostile_server.requests[1].headers["Authorization"] == f"Bearer {ISSUED}"
    stop = result.stop_error
    assert isinstance(stop, asyncbatch.AuthenticationError) and "***" in str(stop)
    assert len(result.failed) == 5
    texts = [str(stop), str(stop.body), caplog.text, *(f.reason for f in result.failed)]
    texts += [str(f.error) for f in result.failed]
    _assert_nothing_shows(texts, [ISSUED, CLIENT_SECRET, REFRESH_TOKEN])
