"""Fixtures of the command-line tests: ``run_cli`` runs ``asyncbatch`` in-process, in a thread,
so that the emulator fixture keeps serving on the test's loop; every test has a token in its
environment (the default emulator accepts any) and no proxy settings."""

from __future__ import annotations

import asyncio

import attrs
import pytest

from asyncbatch.cli import main
from asyncbatch.emulator import EmulatorConfig
from tests.cli._helpers import RunCli


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    """``code, stdout, stderr = await run_cli("upsert", ...)``: ``main(argv)`` in a thread."""

    async def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = await asyncio.wait_for(asyncio.to_thread(main, list(argv)), 60)
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    return run


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    """A static token; no OAuth app of the developer's own (the OAuth tests set theirs)."""
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "test-token")
    for name in ("HUBSPOT_CLIENT_ID", "HUBSPOT_CLIENT_SECRET", "HUBSPOT_REFRESH_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line honours the environment's proxy settings (issue 18): a developer's
    own must not route the tests' loopback requests; the proxy tests set theirs."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def hubspot_emulator_config(request: pytest.FixtureRequest) -> EmulatorConfig:
    """The CLI tests' emulator: lenient (``strict=False``), because their records exercise the
    command line (files, journal, exits), not HubSpot's property validation, which the
    emulator and client tests cover; a ``hubspot_emulator`` marker still updates it."""
    config = EmulatorConfig(strict=False)
    marker = request.node.get_closest_marker("hubspot_emulator")
    if marker is not None:
        config = attrs.evolve(config, **marker.kwargs)
    return config
