"""``BatchClient(proxy=...)`` through a real HTTP proxy on 127.0.0.1 (issue 18 item 3): a small
forwarding proxy written with aiohttp (``tests.forward_proxy``), in front of the emulator; and
``trust_env=True``: the environment's proxy and ``.netrc`` (``$NETRC``), which gives the proxy
its credentials and never HubSpot's own host a login beside the Bearer token (aiohttp's own
``trust_env`` did, and every request failed: "Cannot combine AUTHORIZATION header with AUTH
argument")."""

from __future__ import annotations

import base64
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
import pytest_asyncio

import asyncbatch
from asyncbatch.emulator import Emulator, EmulatorConfig
from tests.forward_proxy import Proxy, running_proxy
from tests.hostile_server import HostileServer, response

pytestmark = pytest.mark.asyncio
TOKEN = "proxy-token-0123456789"


@pytest_asyncio.fixture
async def proxy() -> AsyncIterator[Proxy]:
    async with running_proxy() as state:
        yield state


async def test_requests_go_through_the_proxy_with_its_credentials(proxy: Proxy) -> None:
    user, password = "etl", "pr0xy-s3cret-pass"
    proxy_url = proxy.url.replace("http://", f"http://{user}:{password}@")
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        records = [{"id": f"P{i}", "properties": {"level": "beginner"}} for i in range(150)]
        client = asyncbatch.BatchClient(TOKEN, base_url=emu.url, proxy=proxy_url)
        assert password not in repr(client)
        async with client:
            result = await client.upsert("0-410", records, id_property="course_code")
    assert result.ok
    assert len(proxy.seen) == emu.stats.total_requests == 3  # schema read and two chunks
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    assert {auth for _, auth in proxy.seen} == {expected}


async def test_bad_network_arguments_are_refused() -> None:
    with pytest.raises(asyncbatch.InvalidInputError, match="proxy"):
        asyncbatch.BatchClient(TOKEN, proxy="socks5://127.0.0.1:1080")
    with pytest.raises(asyncbatch.InvalidInputError, match="CA bundle"):
        asyncbatch.BatchClient(TOKEN, ssl="/nonexistent/ca.pem")


# -- trust_env -----------------------------------------------------------------------------------

USER, NETRC_SECRET = "ops", "N3trc-s3cret-pw"


@pytest.fixture
def netrc_for_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A ``.netrc`` (``$NETRC``) with a login for 127.0.0.1, the host of the emulator, the
    hostile server and the proxy alike; no proxy in the environment yet. Its Basic header."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {USER} password {NETRC_SECRET}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    return "Basic " + base64.b64encode(f"{USER}:{NETRC_SECRET}".encode()).decode()


def _records(n: int) -> list[dict[str, object]]:
    return [{"id": f"N{i}", "properties": {"level": "beginner"}} for i in range(n)]


async def test_trust_env_never_sends_a_netrc_login_to_the_api_host(
    netrc_for_loopback: str,
) -> None:
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url, trust_env=True) as client:
            result = await client.upsert("0-410", _records(150), id_property="course_code")
    assert result.ok, result.failed[:1]
    assert len(emu.records("0-410")) == 150
    # The emulator accepts only the Bearer token: every request carried it.
    assert emu.stats.total_requests == 3 and emu.stats.status_counts[401] == 0


async def test_trust_env_gives_the_environments_proxy_its_netrc_login(
    netrc_for_loopback: str, proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)  # no credentials of its own: .netrc's
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url, trust_env=True) as client:
            result = await client.upsert("0-410", _records(150), id_property="course_code")
        assert result.ok, result.failed[:1]
        assert [auth for _, auth in proxy.seen] == [netrc_for_loopback] * 3
        assert emu.stats.status_counts[401] == 0
        # NO_PROXY names the host: straight to it. Without trust_env the environment is
        # not read at all.
        proxy.seen.clear()
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url, trust_env=True) as client:
            assert (await client.upsert("0-410", _records(10), id_property="course_code")).ok
        monkeypatch.delenv("NO_PROXY")
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url) as client:
            assert (await client.upsert("0-410", _records(10), id_property="course_code")).ok
    assert proxy.seen == []


async def test_trust_env_sends_no_netrc_login_to_the_oauth_token_endpoint(
    netrc_for_loopback: str, hostile_server: HostileServer
) -> None:
    """The refresh grant carries the app's credentials in its form and no Authorization
    header (HubSpot's "Refresh an access token" reference): no ``.netrc`` login either."""
    issued = "netrc-test-issued-access-token"
    grant = {"access_token": issued, "refresh_token": "r", "expires_in": 1800}
    hostile_server.queue(response(200, [("Content-Type", "application/json")], orjson.dumps(grant)))
    oauth = asyncbatch.OAuthRefresh(
        "client-id", "client-secret", "refresh-token", token_url=f"{hostile_server.url}/t"
    )
    async with Emulator(EmulatorConfig(token=issued)) as emu:
        async with asyncbatch.BatchClient(oauth, base_url=emu.url, trust_env=True) as client:
            result = await client.upsert("0-410", _records(20), id_property="course_code")
    assert result.ok, result.failed[:1]
    (refresh,) = hostile_server.requests
    assert "Authorization" not in refresh.headers
    assert emu.stats.status_counts[401] == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_the_environments_proxy_password_is_masked(
    netrc_for_loopback: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "Env-Pr0xy-pw"
    monkeypatch.setenv("HTTP_PROXY", f"http://etl:{secret}@127.0.0.1:{_closed_port()}")
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        client = asyncbatch.BatchClient(
            TOKEN, base_url=emu.url, trust_env=True, check_properties="off"
        )
        async with client:
            result = await client.upsert("0-410", _records(5), id_property="course_code")
    assert not result.ok and len(result.failed) == 5
    assert emu.stats.total_requests == 0  # the proxy does not answer: nothing got through
    texts = [repr(client), caplog.text, str(result.stop_error)]
    texts += [f.reason for f in result.failed] + [str(f.error) for f in result.failed]
    assert all(secret not in text for text in texts)
