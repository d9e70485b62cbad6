"""``--proxy URL`` and the environment's proxy settings (issue 18 item 3), through a real
forwarding proxy on 127.0.0.1 (``tests.forward_proxy``) in front of the emulator.

The emulator is plain ``http://`` on loopback, so the environment's proxy for it is
``HTTP_PROXY``; for HubSpot's ``https://`` it is ``HTTPS_PROXY``, read the same way (by the
URL's scheme, as aiohttp's ``trust_env`` does), and ``NO_PROXY`` for either. ``--proxy`` wins
over the environment. The proxy's password is never printed or written.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from asyncbatch.emulator import Emulator
from tests.cli._helpers import RunCli, closed_port, upsert_argv, write_jsonl
from tests.forward_proxy import Proxy, running_proxy

pytestmark = pytest.mark.asyncio

USER, SECRET = "etl", "Pr0xy-S3cret-pw"


@pytest_asyncio.fixture
async def proxy() -> AsyncIterator[Proxy]:
    async with running_proxy() as state:
        yield state


def with_credentials(url: str) -> str:
    return url.replace("http://", f"http://{USER}:{SECRET}@")


def source(tmp_path: Path, n: int = 150) -> Path:
    records = [
        {"id": f"C{i}", "properties": {"course_code": f"C{i}", "level": "beginner"}}
        for i in range(n)
    ]
    return write_jsonl(tmp_path / "in.jsonl", records)


async def test_proxy_option_carries_every_request_with_its_credentials(
    hubspot_emulator: Emulator, proxy: Proxy, run_cli: RunCli, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.json"
    argv = upsert_argv(source(tmp_path), hubspot_emulator, "--proxy", with_credentials(proxy.url))
    code, out, err = await run_cli(*argv, "--summary-json", str(summary))
    assert code == 0, err
    # The schema read and two chunks, all through the proxy, all with its credentials.
    assert len(proxy.seen) == hubspot_emulator.stats.total_requests == 3
    expected = "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
    assert {auth for _, auth in proxy.seen} == {expected}
    # The daily header came back through the proxy.
    assert "left today after the schema read" in err
    code, dry, dry_err = await run_cli(*argv, "--dry-run")
    assert code == 0, dry_err
    port = proxy.url.rsplit(":", 1)[1]
    assert (
        f"  network         through the proxy http://{USER}:***@127.0.0.1:{port} (--proxy)" in dry
    )
    assert all(SECRET not in text for text in (out, err, dry, dry_err, summary.read_text()))


async def test_the_environments_proxy_is_used_unless_no_proxy_names_the_host(
    hubspot_emulator: Emulator,
    proxy: Proxy,
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", with_credentials(proxy.url))
    argv = upsert_argv(source(tmp_path), hubspot_emulator)
    code, out, err = await run_cli(*argv)
    assert code == 0, err
    assert len(proxy.seen) == hubspot_emulator.stats.total_requests == 3
    code, dry, _ = await run_cli(*argv, "--dry-run")
    assert code == 0
    port = proxy.url.rsplit(":", 1)[1]
    assert (
        f"network         through the proxy http://{USER}:***@127.0.0.1:{port} ($HTTP_PROXY)" in dry
    )
    assert SECRET not in out + err + dry
    # NO_PROXY names the host: straight to it.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    proxy.seen.clear()
    code, dry, _ = await run_cli(*argv, "--dry-run")
    assert "  network         directly\n" in dry
    code, _, err = await run_cli(*argv)
    assert code == 0, err
    assert proxy.seen == []


async def test_netrc_gives_the_environments_proxy_its_credentials_and_never_the_token(
    hubspot_emulator: Emulator,
    proxy: Proxy,
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``.netrc`` names the proxy's host, which is also the API's (both on 127.0.0.1). aiohttp's
    ``trust_env`` would put that login on the API request too and then refuse it beside the
    Bearer token ("Cannot combine AUTHORIZATION header ..."), failing every request: the
    library's reading of the environment (``asyncbatch._proxies``) gives it to the proxy
    only."""
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {USER} password {SECRET}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    argv = upsert_argv(source(tmp_path), hubspot_emulator)
    code, _, err = await run_cli(*argv)  # no proxy: straight to the API, Bearer token intact
    assert code == 0, err
    assert proxy.seen == []
    monkeypatch.setenv("HTTP_PROXY", proxy.url)  # no credentials of its own: .netrc's
    code, out, err = await run_cli(*argv)
    assert code == 0, err
    expected = "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
    assert [auth for _, auth in proxy.seen] == [expected] * 3
    code, dry, _ = await run_cli(*argv, "--dry-run")
    assert f"through the proxy http://{USER}:***@127.0.0.1:" in dry
    assert SECRET not in out + err + dry
    assert hubspot_emulator.stats.status_counts[401] == 0  # the Bearer token always arrived


async def test_proxy_option_wins_over_the_environment(
    hubspot_emulator: Emulator,
    proxy: Proxy,
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")  # would fail
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # ignored by --proxy as well
    code, _, err = await run_cli(
        *upsert_argv(source(tmp_path), hubspot_emulator, "--proxy", proxy.url)
    )
    assert code == 0, err
    assert len(proxy.seen) == hubspot_emulator.stats.total_requests == 3


@pytest.mark.parametrize("via", ["--proxy", "HTTP_PROXY"])
async def test_an_unreachable_proxy_stops_in_one_line_without_its_password(
    hubspot_emulator: Emulator,
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    via: str,
) -> None:
    port = closed_port()
    url = f"http://{USER}:{SECRET}@127.0.0.1:{port}"
    summary = tmp_path / "summary.json"
    more = ["--proxy", url] if via == "--proxy" else []
    if via == "HTTP_PROXY":
        monkeypatch.setenv("HTTP_PROXY", url)
    argv = upsert_argv(source(tmp_path), hubspot_emulator, *more, "--summary-json", str(summary))
    code, out, err = await run_cli(*argv)
    assert code == 3, err
    (line,) = err.splitlines()
    shown = f"through the proxy http://{USER}:***@127.0.0.1:{port} (${via})".replace("$--", "--")
    assert line.startswith(
        f"asyncbatch: stopped: the run could not go on, nothing was sent: no answer from "
        f"{hubspot_emulator.url} ({shown}): "
    )
    document = json.loads(summary.read_text())
    assert document["exit_code"] == 3
    assert SECRET not in out + err + summary.read_text()
    assert hubspot_emulator.stats.total_requests == 0


@pytest.mark.parametrize(
    ("more", "message"),
    [
        (["--proxy", f"socks5://{USER}:{SECRET}@127.0.0.1:1080"], "got 'socks5://etl:***@"),
        (["--proxy", "proxy.example:3128"], "--proxy must be an http:// or https:// URL"),
        (["--proxy", "http://"], "--proxy must be an http:// or https:// URL"),
        (["--proxy", "http://127.0.0.1:3128", "--sandbox"], "drop --proxy"),
    ],
)
async def test_bad_proxy_options_exit_2_before_anything_is_sent(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path, more: list[str], message: str
) -> None:
    argv = ["upsert", "0-410", str(source(tmp_path)), "--id-property", "course_code", *more]
    if "--sandbox" not in more:
        argv += ["--base-url", hubspot_emulator.url]
    code, out, err = await run_cli(*argv)
    assert code == 2, err
    (line,) = err.splitlines()
    assert line.startswith("asyncbatch: error: ") and message in line
    assert SECRET not in out + err
    assert hubspot_emulator.stats.total_requests == 0
