"""pytest fixtures that run the HubSpot emulator on 127.0.0.1, an ephemeral port.

Fixtures:
    hubspot_emulator_config: the ``EmulatorConfig`` of ``hubspot_emulator``. Override it in a
        test module, or mark a test ``@pytest.mark.hubspot_emulator(rate_limit_requests=10)``
        (keyword arguments of ``EmulatorConfig``). The emulator is as strict as HubSpot by
        default: declare the account's custom properties (``properties={...}``), or mark a
        test ``@pytest.mark.hubspot_emulator(strict=False)`` for the lenient mode.
    hubspot_emulator: a started ``Emulator`` (``.url`` is ``http://127.0.0.1:PORT``), stopped
        after the test.
    make_hubspot_emulator: ``await make_hubspot_emulator(config=None, **config_fields)`` starts
        more emulators; all are stopped after the test.

Each fixture opens a listening socket (I/O) for the test's duration only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
import pytest
import pytest_asyncio

from ._app import Emulator
from ._config import EmulatorConfig

MakeEmulator = Callable[..., Awaitable[Emulator]]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "hubspot_emulator(**fields): EmulatorConfig fields for the hubspot_emulator fixture",
    )


@pytest.fixture
def hubspot_emulator_config(request: pytest.FixtureRequest) -> EmulatorConfig:
    """The emulator's configuration: defaults, updated by a ``hubspot_emulator`` marker."""
    config = EmulatorConfig()
    marker = request.node.get_closest_marker("hubspot_emulator")
    if marker is not None:
        config = attrs.evolve(config, **marker.kwargs)
    return config


@pytest_asyncio.fixture
async def hubspot_emulator(hubspot_emulator_config: EmulatorConfig) -> AsyncIterator[Emulator]:
    """A running emulator on 127.0.0.1 (ephemeral port)."""
    emulator = Emulator(hubspot_emulator_config)
    await emulator.start(host="127.0.0.1", port=0)
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest_asyncio.fixture
async def make_hubspot_emulator() -> AsyncIterator[MakeEmulator]:
    """A factory of running emulators: ``await make(config=None, **fields)``."""
    started: list[Emulator] = []

    async def make(config: EmulatorConfig | None = None, **fields: Any) -> Emulator:
        base = config if config is not None else EmulatorConfig()
        emulator = Emulator(attrs.evolve(base, **fields) if fields else base)
        await emulator.start(host="127.0.0.1", port=0)
        started.append(emulator)
        return emulator

    try:
        yield make
    finally:
        for emulator in reversed(started):
            await emulator.stop()
