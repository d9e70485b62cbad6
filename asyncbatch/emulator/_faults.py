"""Choosing injected faults (seeded) and the canned answers of the simple ones. No I/O.

The connection-level kinds (``reset``, ``lost``) and ``slow`` are carried out by the server;
this module only says which fault a request gets and what the HTTP-level ones look like.
"""

from __future__ import annotations

import random
from collections import deque

import attrs

from ._config import ALL_FAULT_KINDS, FaultConfig, FaultKind
from ._ratelimit import SECONDLY
from ._shapes import error_body, rate_limit_body

_HTML = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1><p>The server returned an invalid or incomplete "
    b"response.</p></body></html>\n"
)


class FaultPicker:
    """Forced faults first (``force``), then random ones at ``config.rate``."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self._forced: deque[FaultKind] = deque()

    def force(self, kind: FaultKind, count: int = 1) -> None:
        if kind not in ALL_FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {list(ALL_FAULT_KINDS)}")
        if count < 0:
            raise ValueError("count must be >= 0")
        self._forced.extend([kind] * count)

    @property
    def pending(self) -> int:
        return len(self._forced)

    def reset(self) -> None:
        self._forced.clear()
        self._rng = random.Random(self.config.seed)

    def pick(self) -> FaultKind | None:
        if self._forced:
            return self._forced.popleft()
        if self.config.rate > 0 and self.config.kinds and self._rng.random() < self.config.rate:
            return self._rng.choice(self.config.kinds)
        return None


@attrs.frozen
class CannedAnswer:
    status: int
    body: bytes | dict[str, object]
    content_type: str = "application/json"
    headers: dict[str, str] = attrs.field(factory=dict)


def canned_answer(kind: FaultKind, config: FaultConfig, *, portal_id: int) -> CannedAnswer | None:
    """The answer of an HTTP-level fault, or ``None`` for ``reset``, ``lost`` and ``slow``."""
    if kind in ("500", "502", "503", "504"):
        messages = {
            "500": ("INTERNAL_ERROR", "internal error"),
            "502": ("BAD_GATEWAY", "Bad Gateway"),
            "503": ("SERVICE_UNAVAILABLE", "Service Unavailable: please retry later."),
            "504": ("GATEWAY_TIMEOUT", "The request timed out at the gateway."),
        }
        category, message = messages[kind]
        return CannedAnswer(int(kind), error_body(category, message))
    if kind == "423":
        return CannedAnswer(
            423,
            error_body(
                "LOCKED",
                "The resource is locked by another request. Wait at least 2 seconds and retry.",
            ),
        )
    if kind == "477":
        seconds = config.retry_after_seconds
        shown = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
        return CannedAnswer(
            477,
            error_body(
                "MIGRATION_IN_PROGRESS",
                "This account is being migrated between data centers. Retry after "
                f"{shown} seconds.",
            ),
            headers={"Retry-After": shown},
        )
    if kind == "429_secondly":
        return CannedAnswer(429, rate_limit_body(SECONDLY, portal_id=portal_id))
    if kind == "html":
        return CannedAnswer(502, _HTML, content_type="text/html")
    if kind == "html200":
        return CannedAnswer(200, _HTML.replace(b"502 Bad Gateway", b"HubSpot"), "text/html")
    return None
