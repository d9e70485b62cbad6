"""Pure merging: chunk outcomes -> one ``BatchResult``, every input accounted for exactly once.
No I/O.

Results are matched to inputs by ``objectWriteTraceId`` first (the client gives every input
one), then by id (or by the ``idProperty`` value among the result's properties). 207 errors are
mapped back through ``context.objectWriteTraceId`` and ``context.ids``. An input that no result
and no error names, or that was never sent, is reported failed with a synthesised error, so
nothing can go missing whatever the server answered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import attrs

from ._exceptions import (
    APIError,
    AsyncBatchError,
    LimiterUnavailableError,
    TransportError,
    ValidationError,
)
from ._models import (
    BatchResponse,
    BatchResult,
    FailedInput,
    RunStats,
    SimplePublicObject,
    StandardError,
)
from ._plan import Chunk, PlannedInput

__all__ = ["ChunkOutcome", "merge_outcomes", "synthesize_error"]


@attrs.frozen
class ChunkOutcome:
    """How one chunk (or one part of a split chunk) ended.

    Exactly one of ``response`` (HubSpot answered 200/207) and ``error`` (the chunk failed
    whole, or was never sent) is set.
    """

    chunk: Chunk
    response: BatchResponse | None = None
    error: AsyncBatchError | None = None
    status_code: int | None = None
    sent: bool = True


def _category(error: AsyncBatchError) -> str:
    if isinstance(error, APIError) and error.category:
        return error.category
    if isinstance(error, TransportError):
        return "TRANSPORT_ERROR"
    if isinstance(error, LimiterUnavailableError):
        return "RATE_LIMITER_UNAVAILABLE"
    return type(error).__name__


def synthesize_error(
    items: Sequence[PlannedInput], error: AsyncBatchError, *, sent: bool = True
) -> StandardError:
    """A ``StandardError`` naming ``items``, for a chunk that failed whole or was not sent."""
    status = str(error.status) if isinstance(error, APIError) else "error"
    message = str(error) if sent else f"not sent: {error}"
    return StandardError(
        status=status,
        category=_category(error),
        message=message,
        context={
            "ids": [item.input.id for item in items],
            "objectWriteTraceId": [item.input.object_write_trace_id or "" for item in items],
        },
    )


def _reason(error: StandardError) -> str:
    if not error.category or error.category in error.message:
        return error.message
    return f"{error.category}: {error.message}"


def _unique_traces(items: Sequence[PlannedInput]) -> dict[str, PlannedInput]:
    # A caller may give several records one trace id; such an id names none of them, and
    # those records are matched by id instead.
    seen: dict[str, PlannedInput | None] = {}
    for item in items:
        trace = item.input.object_write_trace_id
        if trace is not None:
            seen[trace] = None if trace in seen else item
    return {trace: item for trace, item in seen.items() if item is not None}


def _match_result(
    result: SimplePublicObject,
    by_trace: dict[str, PlannedInput],
    by_id: dict[tuple[str | None, str], PlannedInput],
) -> PlannedInput | None:
    if result.object_write_trace_id is not None:
        item = by_trace.get(result.object_write_trace_id)
        if item is not None:
            return item
    item = by_id.get((None, result.id))
    if item is not None:
        return item
    for (id_property, value), candidate in by_id.items():
        if id_property is not None and result.properties.get(id_property) == value:
            return candidate
    return None


def merge_outcomes(
    items: Sequence[PlannedInput],
    outcomes: Iterable[ChunkOutcome],
    *,
    stats: RunStats,
    started_at: dt.datetime,
    completed_at: dt.datetime,
    stop_error: AsyncBatchError | None = None,
) -> BatchResult:
    """Merge the outcomes of one call's chunks into its ``BatchResult``.

    Args:
        items: every planned input of the call (the distinct records, in input order).
        outcomes: one per chunk or part of a split chunk, in any order.
        stats: the run statistics to attach.
        started_at: when the call started (used when no answer carried a timestamp).
        completed_at: when the call ended (likewise).
        stop_error: what stopped the run early (DAILY limit, authentication), if anything.

    ``status`` is ``COMPLETE`` when every input got a definitive answer from HubSpot: written,
    or refused for its data (a 207 error, or a 4xx whole-request refusal). It is ``CANCELED``
    when some input got none (network failure, retries exhausted, run stopped, not sent).
    """
    written: dict[int, SimplePublicObject] = {}
    failed: dict[int, FailedInput] = {}
    extra_results: list[SimplePublicObject] = []
    errors: list[StandardError] = []
    num_errors = 0
    statuses: set[str] = set()
    requested: list[dt.datetime] = []
    started: list[dt.datetime] = []
    completed: list[dt.datetime] = []
    links: dict[str, str] = {}

    def fail(item: PlannedInput, error: StandardError, status_code: int | None) -> None:
        if item.index not in written and item.index not in failed:
            failed[item.index] = FailedInput(
                positions=item.positions,
                input=item.input,
                reason=_reason(error),
                error=error,
                status_code=status_code,
            )

    for outcome in outcomes:
        chunk_items = outcome.chunk.items
        response = outcome.response
        if response is None:
            error = outcome.error
            if error is None:  # defensive: an outcome with neither is a failure to report
                error = AsyncBatchError("the chunk ended without an answer")
            synthesized = synthesize_error(chunk_items, error, sent=outcome.sent)
            errors.append(synthesized)
            num_errors += 1
            # A 4xx refusal is HubSpot's definitive answer about these inputs (the batch was
            # processed, the data was wrong); anything else means they got no answer.
            definitive = isinstance(error, ValidationError) and outcome.sent
            statuses.add("COMPLETE" if definitive else "CANCELED")
            for item in chunk_items:
                fail(item, synthesized, outcome.status_code)
            continue

        statuses.add(response.status)
        for stamp, bucket in (
            (response.requested_at, requested),
            (response.started_at, started),
            (response.completed_at, completed),
        ):
            if stamp is not None:
                bucket.append(stamp)
        links.update(response.links or {})
        by_trace = _unique_traces(chunk_items)
        by_id = {(item.input.id_property, item.input.id): item for item in chunk_items}
        for result in response.results:
            matched = _match_result(result, by_trace, by_id)
            if matched is None or matched.index in written:
                extra_results.append(result)
            else:
                written[matched.index] = result
                failed.pop(matched.index, None)
        errors.extend(response.errors)
        num_errors += (
            response.num_errors if response.num_errors is not None else len(response.errors)
        )
        for error_entry in response.errors:
            named: list[PlannedInput] = []
            for trace in error_entry.context.get("objectWriteTraceId", []):
                if trace in by_trace:
                    named.append(by_trace[trace])
            if not named:
                ids = set(error_entry.context.get("ids", []))
                named = [item for item in chunk_items if item.input.id in ids]
            for item in named:
                fail(item, error_entry, outcome.status_code)
        for item in chunk_items:
            if item.index not in written and item.index not in failed:
                missing = StandardError(
                    status="error",
                    category="MISSING_FROM_RESPONSE",
                    message="HubSpot's answer named this input neither in results nor in "
                    "errors; it may or may not have been written",
                    context={"ids": [item.input.id]},
                )
                errors.append(missing)
                num_errors += 1
                fail(item, missing, outcome.status_code)

    for item in items:  # a safety net: an input no outcome covered is reported, never lost
        if item.index not in written and item.index not in failed:
            missing = StandardError(
                status="error",
                category="NOT_SENT",
                message="the run ended before this input was sent",
                context={"ids": [item.input.id]},
            )
            errors.append(missing)
            num_errors += 1
            fail(item, missing, None)
            statuses.add("CANCELED")

    canceled = stop_error is not None
    if canceled or not statuses:
        status = "CANCELED" if canceled or items else "COMPLETE"
    elif statuses == {"COMPLETE"}:
        status = "COMPLETE"
    else:
        status = next((s for s in ("PROCESSING", "PENDING") if s in statuses), "CANCELED")

    ordered = sorted(written)
    positions = {item.index: item.positions for item in items}
    return BatchResult(
        status=status,
        results=[written[i] for i in ordered] + extra_results,
        result_positions=[positions[i] for i in ordered] + [() for _ in extra_results],
        errors=errors,
        num_errors=num_errors,
        requested_at=min(requested) if requested else None,
        started_at=min(started) if started else started_at,
        completed_at=max(completed) if completed else completed_at,
        links=links,
        failed=sorted(failed.values(), key=lambda f: f.positions[0]),
        stats=stats,
        stop_error=stop_error,
    )
