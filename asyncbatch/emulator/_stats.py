"""Counters the emulator keeps about what it was sent. No I/O."""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs

from ._store import canonical_type


@attrs.define
class EmulatorStats:
    """What the emulator has seen since it started (or since ``reset``).

    Attributes:
        total_requests: requests to the HubSpot API paths (not ``/_emulator``), any outcome.
        status_counts: answers sent, by HTTP status (dropped connections are not answers).
        rate_limited: 429s sent, by ``policyName`` (includes injected ``SECONDLY`` ones).
        max_window_requests: the most requests one token sent within one rolling window,
            counting those turned away.
        in_flight, max_in_flight: API requests being handled now / at most at once.
        faults: injected faults, by kind.
        writes: writes applied, by ``(object type, record id)``; the type is canonical
            (``courses`` and ``0-410`` are both ``"0-410"``).
        dropped_connections: connections closed without an answer (``reset`` and ``lost``).
        routes: API requests by method and route template, e.g.
            ``"GET /crm/v3/properties/{objectType}"`` (``"? path"``: no route matched).
        token_grants, token_refusals: access tokens issued at ``POST /oauth/v1/token``, and
            token requests refused there (those requests are not API requests: not in
            ``total_requests`` nor ``status_counts``).
        first_request_at, first_write_at: the emulator's clock (``time.monotonic``, the
            host's CLOCK_MONOTONIC, unless a test gave it another) when the first API request,
            and the first write (a ``POST`` or ``PATCH``, not the property definitions'
            ``GET``), arrived; ``None`` before. The benchmarks compare them with the moment a
            client process made its call, on the same clock.
    """

    total_requests: int = 0
    status_counts: Counter[int] = attrs.field(factory=Counter)
    rate_limited: Counter[str] = attrs.field(factory=Counter)
    max_window_requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    faults: Counter[str] = attrs.field(factory=Counter)
    writes: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    dropped_connections: int = 0
    routes: Counter[str] = attrs.field(factory=Counter)
    token_grants: int = 0
    token_refusals: int = 0
    first_request_at: float | None = None
    first_write_at: float | None = None

    @property
    def total_writes(self) -> int:
        """Writes applied, over all records."""
        return sum(self.writes.values())

    @property
    def rate_limited_total(self) -> int:
        return sum(self.rate_limited.values())

    def writes_to(self, object_type: str, record_id: str) -> int:
        """How many writes ``record_id`` of ``object_type`` received."""
        return self.writes.get((canonical_type(object_type), record_id), 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: status codes become strings, writes nest as ``{type: {id: n}}``."""
        writes: dict[str, dict[str, int]] = {}
        for (object_type, record_id), count in self.writes.items():
            writes.setdefault(object_type, {})[record_id] = count
        return {
            "total_requests": self.total_requests,
            "status_counts": {str(k): v for k, v in sorted(self.status_counts.items())},
            "rate_limited": dict(self.rate_limited),
            "rate_limited_total": self.rate_limited_total,
            "max_window_requests": self.max_window_requests,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "faults": dict(self.faults),
            "dropped_connections": self.dropped_connections,
            "routes": dict(self.routes),
            "token_grants": self.token_grants,
            "token_refusals": self.token_refusals,
            "first_request_at": self.first_request_at,
            "first_write_at": self.first_write_at,
            "total_writes": self.total_writes,
            "writes": writes,
        }
