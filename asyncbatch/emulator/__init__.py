"""A local HubSpot CRM batch server (aiohttp.web) for tests, demos and benchmarks.

It serves the batch endpoints (read, create, update, upsert, archive) in each API version in
``API_VERSIONS``: ``/crm/v3/objects/{objectType}/batch/{op}`` and the date-versioned
``/crm/objects/{version}/{objectType}/batch/{op}`` (``2026-03``, the same as v3 for batch;
``2026-09``: no 207, errors inside the 200/201, and the admin rules of
``EmulatorConfig.validation_rules`` enforced on writes).

As strict as HubSpot by default: property definitions per object type (``DEFAULT_PROPERTIES``
plus the declared ones, served at ``GET /crm/v3/properties/{objectType}`` and
``/crm/properties/{version}/{objectType}``), HubSpot's refusals and error bodies.
``EmulatorConfig(oauth=OAuthApp(...))`` issues expiring access tokens at ``POST
/oauth/v1/token``, as HubSpot's refresh grant does. ``EmulatorConfig(strict=False)`` is the
lenient mode for tests that write properties no account defines. Importing this package does
no I/O; ``Emulator.start`` opens a listening socket.

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
    OAuthApp,
    PropertyDef,
    PropertyType,
    ValidationRule,
    ValueFormat,
)
from ._properties import DEFAULT_PROPERTIES
from ._stats import EmulatorStats
from ._versions import VERSIONS

API_VERSIONS: tuple[str, ...] = tuple(VERSIONS)
"""The API versions served: ``("v3", "2026-03", "2026-09")``."""

__all__ = [
    "ALL_FAULT_KINDS",
    "API_VERSIONS",
    "DEFAULT_PROPERTIES",
    "MAX_INPUTS",
    "PROPERTY_TYPES",
    "Emulator",
    "EmulatorConfig",
    "EmulatorStats",
    "FaultConfig",
    "FaultKind",
    "OAuthApp",
    "PropertyDef",
    "PropertyType",
    "ValidationRule",
    "ValueFormat",
]
