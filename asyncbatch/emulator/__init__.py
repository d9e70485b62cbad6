"""A local HubSpot CRM v3 batch server (aiohttp.web) for tests, demos and benchmarks.

As strict as HubSpot by default: property definitions per object type (``DEFAULT_PROPERTIES``
plus the declared ones, served at ``GET /crm/v3/properties/{objectType}``), HubSpot's refusals
and error bodies. ``EmulatorConfig(strict=False)`` is the lenient mode for tests that write
properties no account defines. Importing this package does no I/O; ``Emulator.start`` opens a
listening socket.

    config = EmulatorConfig(rate_limit_requests=10, rate_limit_window_seconds=1.0)
    async with Emulator(config) as emu:
        ...  # point a client at emu.url; inspect emu.stats, emu.records("goal_targets")
"""

from ._app import Emulator
from ._batch import MAX_INPUTS
from ._config import (
    ALL_FAULT_KINDS,
    PROPERTY_TYPES,
    EmulatorConfig,
    FaultConfig,
    FaultKind,
    PropertyDef,
    PropertyType,
    ValueFormat,
)
from ._properties import DEFAULT_PROPERTIES
from ._stats import EmulatorStats

__all__ = [
    "ALL_FAULT_KINDS",
    "DEFAULT_PROPERTIES",
    "MAX_INPUTS",
    "PROPERTY_TYPES",
    "Emulator",
    "EmulatorConfig",
    "EmulatorStats",
    "FaultConfig",
    "FaultKind",
    "PropertyDef",
    "PropertyType",
    "ValueFormat",
]
