"""attrs models of HubSpot's batch shapes and of asyncbatch's aggregate answer. Pure: no I/O
(``BatchResult.load`` only gives the event loop turns while it builds).

Field names are snake_case here and camelCase on the wire (see ``_convert``). Every field that
HubSpot's OpenAPI marks required but real answers sometimes omit has a default, so reading is
lenient; ``BatchResult.to_dict()`` writes HubSpot's ``BatchResponse...WithErrors`` shape.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs

from ._exceptions import AsyncBatchError, BatchFailedError, InputFailedError
from ._steps import Steps, cooperatively

__all__ = [
    "BatchInput",
    "BatchResponse",
    "BatchResult",
    "Error",
    "ErrorDetail",
    "FailedInput",
    "RunStats",
    "SimplePublicObject",
    "SimplePublicUpsertObject",
    "StandardError",
]


@attrs.frozen
class BatchInput:
    """One record to write, in HubSpot's ``SimplePublicObjectBatchInput`` shape.

    ``properties`` may hold Python values (int, bool, date, list of str...) when given by a
    caller; planning converts them to the strings HubSpot expects.
    """

    id: str
    properties: Mapping[str, Any]
    id_property: str | None = None
    object_write_trace_id: str | None = None


@attrs.frozen
class ErrorDetail:
    """HubSpot's ``ErrorDetail``: one detail of an error."""

    message: str = ""
    code: str | None = None
    in_: str | None = None
    sub_category: str | None = None
    context: dict[str, list[str]] | None = None


@attrs.frozen
class StandardError:
    """HubSpot's ``StandardError``: one error inside a 207 (or one the client synthesised)."""

    status: str = "error"
    category: str = ""
    message: str = ""
    context: dict[str, list[str]] = attrs.field(factory=dict)
    errors: list[ErrorDetail] = attrs.field(factory=list)
    links: dict[str, str] = attrs.field(factory=dict)
    id: str | None = None
    sub_category: Any = None


@attrs.frozen
class Error:
    """HubSpot's whole-request ``Error`` body (and the 429 body, which adds ``policy_name``)."""

    category: str | None = None
    correlation_id: str | None = None
    message: str = ""
    context: dict[str, list[str]] | None = None
    errors: list[ErrorDetail] | None = None
    links: dict[str, str] | None = None
    sub_category: Any = None
    status: str | None = None
    error_type: str | None = None
    policy_name: str | None = None


@attrs.frozen
class SimplePublicObject:
    """HubSpot's ``SimplePublicObject``: a record as written."""

    id: str
    properties: dict[str, str | None] = attrs.field(factory=dict)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    archived: bool = False
    archived_at: dt.datetime | None = None
    object_write_trace_id: str | None = None
    properties_with_history: dict[str, list[dict[str, Any]]] | None = None
    url: str | None = None


@attrs.frozen
class SimplePublicUpsertObject(SimplePublicObject):
    """HubSpot's ``SimplePublicUpsertObject``: a record as upserted; ``new`` if it was created."""

    new: bool = False


T = TypeVar("T")


class Deferred(Generic[T]):
    """Results read from HubSpot's answer only as far as accounting needs (ids, trace ids,
    properties): each entry is a ``SimplePublicObject`` or the answer's own JSON object,
    built into one on first access to ``results`` (issue 19: building every result object
    cost more than reading the JSON). ``BatchResult.result_positions`` is held the same way
    until read. Internal; ``results`` and ``result_positions`` are always plain lists."""

    __slots__ = ("build", "entries")

    def __init__(self, entries: Sequence[Any], build: Callable[[Sequence[Any]], list[T]]) -> None:
        self.entries = entries
        self.build = build

    def __len__(self) -> int:
        return len(self.entries)


#: ``BatchResult.load``: objects built between two looks at the clock (about 0.2 ms).
_LOAD_STEP = 128


def _built(value: list[T] | Deferred[T]) -> list[T]:
    return value.build(value.entries) if isinstance(value, Deferred) else value


def _results_repr(value: list[Any] | Deferred[Any]) -> str:
    return repr(_built(value))


def _materialized(owner: object, name: str, value: list[T] | Deferred[T]) -> list[T]:
    """``value``, the field ``name`` of ``owner``, built if it was deferred (once: kept)."""
    if not isinstance(value, Deferred):
        return value
    built = value.build(value.entries)
    object.__setattr__(owner, name, built)
    return built


@attrs.frozen
class BatchResponse:
    """One chunk's 200/207 answer, as HubSpot sent it."""

    status: str = "COMPLETE"
    _results: list[SimplePublicObject] | Deferred[SimplePublicObject] = attrs.field(
        factory=list, alias="results", eq=_built, repr=_results_repr
    )
    errors: list[StandardError] = attrs.field(factory=list)
    num_errors: int | None = None
    requested_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    links: dict[str, str] | None = None

    @property
    def results(self) -> list[SimplePublicObject]:
        """The records written, as HubSpot answered them."""
        return _materialized(self, "_results", self._results)

    @property
    def entries(self) -> Sequence[Any]:
        """The results unbuilt: objects, or the answer's JSON objects (for the merge)."""
        value = self._results
        return value.entries if isinstance(value, Deferred) else value

    @property
    def builder(self) -> Callable[[Sequence[Any]], list[SimplePublicObject]] | None:
        """What builds ``entries`` into result objects, while they are unbuilt."""
        value = self._results
        return value.build if isinstance(value, Deferred) else None


@attrs.frozen
class FailedInput:
    """An input that was not written, and why.

    The facts a caller or a tool needs are fields, never to be read back from ``reason``.

    Attributes:
        positions: the input's places in the caller's records (several if coalesced).
        input: the record as it would have been sent (properties converted to strings).
        reason: one line saying why, for people.
        error: the HubSpot error (or the one the client synthesised) behind the reason.
        status_code: the HTTP status of the answer that failed it, None if there was none.
        sent: a request carrying this input left the client (False: never sent, e.g. after
            the run stopped).
        final: HubSpot refused this input for its data (a 207 error, or a whole-request 4xx
            refusal of the input): a rerun would fail the same way. False means transient:
            no answer, retries exhausted, the run stopped, an answer that did not name it.
        stopped_run: this input failed because the run stopped (DAILY limit, 401/403, the
            shared limiter gone): the stop's own chunk, or an input never sent after it.
        category: HubSpot's error category (``VALIDATION_ERROR``, ``RATE_LIMIT``...) or the
            client's own (``TRANSPORT_ERROR``, ``NOT_SENT``, ``MISSING_FROM_RESPONSE``...).
        code: HubSpot's error code (``INVALID_OPTION``...) where its answer gave one.
        property_name: the property HubSpot named in the error, where it named one.
        trace_id: the caller's own ``objectWriteTraceId`` (None when the client assigned it).
        value: the refused value, where HubSpot's message names it ("expert was not one of
            the allowed options", "cheap was not a valid long.").
        allowed: the values an ``INVALID_OPTION`` allows, where the message lists them.
    """

    positions: tuple[int, ...]
    input: BatchInput
    reason: str
    error: StandardError
    status_code: int | None = None
    sent: bool = attrs.field(default=True, kw_only=True)
    final: bool = attrs.field(default=False, kw_only=True)
    stopped_run: bool = attrs.field(default=False, kw_only=True)
    category: str | None = attrs.field(default=None, kw_only=True)
    code: str | None = attrs.field(default=None, kw_only=True)
    property_name: str | None = attrs.field(default=None, kw_only=True)
    trace_id: str | None = attrs.field(default=None, kw_only=True)
    value: str | None = attrs.field(default=None, kw_only=True)
    allowed: tuple[str, ...] = attrs.field(default=(), kw_only=True)

    @property
    def position(self) -> int:
        """The first position this input had in the caller's records."""
        return self.positions[0]


@attrs.frozen
class RunStats:
    """What a call did on the wire."""

    inputs: int = 0
    records: int = 0
    coalesced: int = 0
    chunks: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    split_requests: int = 0
    elapsed_seconds: float = 0.0

    def __add__(self, other: RunStats) -> RunStats:
        """Counts summed; ``elapsed_seconds`` the longer of the two (chunks of one run overlap,
        so their times do not add up to the run's)."""
        if not isinstance(other, RunStats):
            return NotImplemented
        counts = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in _COUNTS}
        return RunStats(**counts, elapsed_seconds=max(self.elapsed_seconds, other.elapsed_seconds))


_COUNTS = tuple(f for f in attrs.fields(RunStats) if f.name != "elapsed_seconds")


@attrs.frozen
class BatchResult:
    """The one aggregate answer of an ``update``/``upsert`` call.

    ``results`` are in the order of the inputs (one per distinct record written);
    ``result_positions[i]`` gives the caller's positions that ``results[i]`` answers.
    ``failed`` lists every input not written, with its reason. Together they account for every
    input exactly once. ``to_dict()`` gives HubSpot's own JSON shape. ``stop_error`` is the
    error that stopped the run early (a ``DAILY`` 429, a 401/403), None if it ran to the end.
    """

    status: str
    _results: list[SimplePublicObject] | Deferred[SimplePublicObject] = attrs.field(
        alias="results", eq=_built, repr=_results_repr
    )
    errors: list[StandardError]
    num_errors: int
    started_at: dt.datetime
    completed_at: dt.datetime
    requested_at: dt.datetime | None = None
    links: dict[str, str] = attrs.field(factory=dict)
    failed: list[FailedInput] = attrs.field(factory=list)
    _positions: list[tuple[int, ...]] | Deferred[tuple[int, ...]] = attrs.field(
        factory=list, alias="result_positions", eq=_built, repr=_results_repr
    )
    stats: RunStats = attrs.field(factory=RunStats)
    stop_error: AsyncBatchError | None = None

    @property
    def results(self) -> list[SimplePublicObject]:
        """The records written, in input order (built on first access)."""
        return _materialized(self, "_results", self._results)

    @property
    def result_positions(self) -> list[tuple[int, ...]]:
        """The caller's positions that each of ``results`` answers (built on first access:
        a call's last answer is not kept waiting on a tuple per record)."""
        return _materialized(self, "_positions", self._positions)

    async def load(self) -> list[SimplePublicObject]:
        """``results`` (and ``result_positions``), built a slice at a time with a turn for
        the event loop whenever the building has held it ``_steps.SLICE_SECONDS``. The first
        access to ``results`` builds every object at once: after a call of a million records,
        3-4 s during which a server answers nobody. Afterwards ``results`` is this list."""
        for name in ("_results", "_positions"):
            value = getattr(self, name)
            if isinstance(value, Deferred):
                built = await cooperatively(self._building(name, value))
                if built is not None:  # else built meanwhile by an access to the property
                    object.__setattr__(self, name, built)
        return self.results

    def _building(self, name: str, value: Deferred[T]) -> Steps[list[T] | None]:
        """``value``'s objects, ``_LOAD_STEP`` a step; None if the field ``name`` was read
        (and so built) while the loop had a turn."""
        built: list[T] = []
        entries = value.entries
        for start in range(0, len(entries), _LOAD_STEP):
            built += value.build(entries[start : start + _LOAD_STEP])
            yield
            if getattr(self, name) is not value:
                return None
        return built

    def _written_count(self) -> int:
        """``len(results)`` without building them (for the client's log and telemetry)."""
        return len(self._results)

    @property
    def ok(self) -> bool:
        """True when every input was written."""
        return not self.failed and self.status == "COMPLETE"

    def to_dict(self) -> dict[str, Any]:
        """HubSpot's ``BatchResponseSimplePublic(Upsert)ObjectWithErrors`` JSON shape."""
        from ._convert import batch_result_to_dict

        return batch_result_to_dict(self)

    def raise_for_errors(self) -> None:
        """Raise ``BatchFailedError`` (an ExceptionGroup) naming every failed input, if any."""
        if not self.failed:
            return
        members = [InputFailedError(f.positions, f.input.id, f.reason) for f in self.failed]
        raise BatchFailedError(
            f"{len(self.failed)} of {self.stats.inputs} inputs were not written", members
        )
