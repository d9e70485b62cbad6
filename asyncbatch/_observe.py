"""The observer the engine tells about each HTTP request it sends and each result it hands
back: the small interface behind which the OpenTelemetry integration (``_telemetry``) sits.
Pure: no I/O, and nothing of OpenTelemetry is imported here.

The engine holds ``Observer | None``. With None (telemetry off, or OpenTelemetry not
installed) a request costs one ``is None`` check. ``make_observer`` imports ``_telemetry``, and
with it ``opentelemetry``, only when telemetry is wanted, and only if it can be imported.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol

import attrs

from ._exceptions import InvalidInputError

if TYPE_CHECKING:
    from ._models import BatchResult
    from ._transport import RawResponse

__all__ = ["Observer", "Request", "make_observer"]


@attrs.frozen(slots=True, kw_only=True)
class Request:
    """One HTTP request as the engine sends it.

    Attributes:
        method: ``"POST"`` (a batch chunk) or ``"GET"`` (the property definitions).
        url: as sent; an observer that shows it must mask it (``_redact.redact_url``).
        operation: the batch operation (``"upsert"``...), ``"properties"`` for the GET.
        object_type: as the caller named it.
        inputs: entries in the body's ``inputs`` (0 for the GET).
        attempt: 1 for the first send of this body's chunk, n for its (n-1)th resend (after a
            429, a 5xx, a refreshed token, a coalesced duplicate).
        chunk: the chunk's number in its call (None for the GET).
        split_depth: 0, or how many times the chunk was split to isolate a refused input.
    """

    method: str
    url: str
    operation: str
    object_type: str
    inputs: int = 0
    attempt: int = 1
    chunk: int | None = None
    split_depth: int = 0


class Observer(Protocol):
    def around(self, send: Awaitable[RawResponse], request: Request) -> Awaitable[RawResponse]:
        """``send`` (the transport's coroutine, not yet awaited), observed: awaiting the
        result awaits ``send`` and returns or raises what it does."""

    def results(self, operation: str, object_type: str, result: BatchResult) -> None:
        """``result`` is being handed to the caller (a call's, a streamed chunk's or a
        writer's chunk's): count its written and failed records."""


def make_observer(
    *, telemetry: bool, tracer_provider: object | None, meter_provider: object | None
) -> Observer | None:
    """The OpenTelemetry observer, or None: telemetry off, or OpenTelemetry not installed.

    Raises:
        InvalidInputError: a provider given with ``telemetry=False``, or without
            OpenTelemetry installed.
    """
    if telemetry not in (True, False):
        raise InvalidInputError(f"telemetry must be True or False, got {telemetry!r}")
    providers = tracer_provider is not None or meter_provider is not None
    if not telemetry:
        if providers:
            raise InvalidInputError("tracer_provider/meter_provider given with telemetry=False")
        return None
    try:
        from ._telemetry import OpenTelemetryObserver
    except ImportError:
        if providers:
            raise InvalidInputError(
                "tracer_provider/meter_provider need OpenTelemetry: pip install 'asyncbatch[otel]'"
            ) from None
        return None
    return OpenTelemetryObserver(tracer_provider=tracer_provider, meter_provider=meter_provider)
