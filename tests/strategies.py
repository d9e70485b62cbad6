"""Hypothesis strategies shared by the unit tests (kept in one place, as attrs does)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hypothesis import strategies as st

from asyncbatch._exceptions import (
    APIError,
    AsyncBatchError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    ValidationError,
)
from asyncbatch._merge import ChunkOutcome
from asyncbatch._models import BatchInput, BatchResponse, SimplePublicObject, StandardError
from asyncbatch._plan import Chunk, Plan, PlannedInput

# A small alphabet of ids, so duplicates (and int/str twins such as 1 and "1") happen often.
record_ids = st.sampled_from(["1", "2", "3", "a", "b", 1, 2])
id_properties = st.sampled_from([None, "email", "ext_key"])
property_names = st.sampled_from(["name", "price", "city", "tags"])
property_values = st.one_of(
    st.text(max_size=5),
    st.integers(-1000, 1000),
    st.booleans(),
    st.none(),
    st.lists(st.sampled_from(["x", "y", "z"]), max_size=3),
)


@st.composite
def records(draw: st.DrawFn, *, position_trace: int | None = None) -> Any:
    """One record in HubSpot's input shape, as a dict or a ``BatchInput``."""
    record_id = draw(record_ids)
    properties = draw(st.dictionaries(property_names, property_values, max_size=3))
    id_property = draw(id_properties)
    trace = f"caller-{position_trace}" if position_trace is not None else None
    if draw(st.booleans()):
        record: dict[str, Any] = {"id": record_id, "properties": properties}
        if id_property is not None:
            record["idProperty"] = id_property
        if trace is not None:
            record["objectWriteTraceId"] = trace
        return record
    return BatchInput(
        id=record_id,  # type: ignore[arg-type]  # planning turns an int id into a str
        properties=properties,
        id_property=id_property,
        object_write_trace_id=trace,
    )


@st.composite
def record_lists(draw: st.DrawFn, *, max_size: int = 60) -> list[Any]:
    """Records where some carry a (unique) caller trace id and most do not."""
    size = draw(st.integers(0, max_size))
    out = []
    for position in range(size):
        caller_trace = draw(st.integers(0, 4)) == 0
        out.append(draw(records(position_trace=position if caller_trace else None)))
    return out


chunk_sizes = st.one_of(st.integers(1, 5), st.integers(1, 100))

_T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def _result_for(item: PlannedInput, *, echo_trace: bool) -> SimplePublicObject:
    batch_input = item.input
    properties: dict[str, str | None] = dict(batch_input.properties)
    if batch_input.id_property is None:
        record_id = batch_input.id
    else:
        # HubSpot answers with its own record id; the idProperty value is among the properties.
        record_id = f"hs-{item.index}"
        properties[batch_input.id_property] = batch_input.id
    return SimplePublicObject(
        id=record_id,
        properties=properties,
        created_at=_T0,
        updated_at=_T0,
        object_write_trace_id=batch_input.object_write_trace_id if echo_trace else None,
    )


whole_chunk_errors: st.SearchStrategy[AsyncBatchError] = st.sampled_from(
    [
        ServerError("HTTP 502", status=502),
        ValidationError("HTTP 400 VALIDATION_ERROR", status=400, category="VALIDATION_ERROR"),
        RateLimitError("HTTP 429", policy="DAILY"),
        RequestTimeoutError("timed out"),
        APIError("HTTP 404", status=404, category="OBJECT_NOT_FOUND"),
    ]
)


@st.composite
def chunk_outcome(draw: st.DrawFn, chunk: Chunk) -> tuple[ChunkOutcome | None, dict[int, str]]:
    """A fabricated outcome for ``chunk`` (None: dropped) and the fate of each of its items:
    ``written``, ``rejected`` (named by a 207 error), ``missing`` (named nowhere), ``not_sent``
    (outcome dropped) or ``whole`` (the chunk failed whole)."""
    kind = draw(st.sampled_from(["ok", "partial", "whole", "omit", "drop"]))
    items = list(chunk.items)
    if kind == "drop":
        return None, {item.index: "not_sent" for item in items}
    if kind == "whole":
        error = draw(whole_chunk_errors)
        status_code = error.status if isinstance(error, APIError) else None
        sent = draw(st.booleans())
        outcome = ChunkOutcome(chunk=chunk, error=error, status_code=status_code, sent=sent)
        return outcome, {item.index: "whole" for item in items}

    if kind == "ok":
        written = items
        failed: list[PlannedInput] = []
    else:
        flags = draw(st.lists(st.booleans(), min_size=len(items), max_size=len(items)))
        written = [item for item, ok in zip(items, flags, strict=True) if ok]
        failed = [item for item, ok in zip(items, flags, strict=True) if not ok]

    results = []
    for item in written:
        # Only inputs without idProperty can be matched by id alone.
        echo = item.input.id_property is not None or draw(st.booleans())
        results.append(_result_for(item, echo_trace=echo))
    results = draw(st.permutations(results))

    errors: list[StandardError] = []
    if kind == "partial":
        remaining = list(failed)
        while remaining:
            take = draw(st.integers(1, len(remaining)))
            group, remaining = remaining[:take], remaining[take:]
            if draw(st.booleans()):
                context = {"ids": [item.input.id for item in group]}
            else:
                context = {
                    "objectWriteTraceId": [item.input.object_write_trace_id or "" for item in group]
                }
            errors.append(
                StandardError(
                    status="error",
                    category="VALIDATION_ERROR",
                    message=f"bad input (group of {len(group)})",
                    context=context,
                )
            )
    send_count = bool(errors) and draw(st.booleans())
    num_errors = len(errors) if send_count else None
    # kind == "omit": the failed items are named neither in results nor in errors.
    response = BatchResponse(
        status=draw(st.sampled_from(["COMPLETE", "COMPLETE", "COMPLETE", "PROCESSING"])),
        results=results,
        errors=errors,
        num_errors=num_errors,
        started_at=_T0,
        completed_at=_T0 + dt.timedelta(seconds=1),
    )
    status_code = 207 if errors else 200
    outcome = ChunkOutcome(chunk=chunk, response=response, status_code=status_code)
    fates = {item.index: ("rejected" if kind == "partial" else "missing") for item in failed}
    fates.update({item.index: "written" for item in written})
    return outcome, fates


@st.composite
def plan_outcomes(draw: st.DrawFn, plan: Plan) -> tuple[list[ChunkOutcome], dict[int, str]]:
    """Outcomes for every chunk of ``plan`` (some dropped), in random order, and the fate of
    every planned input (see ``chunk_outcome``)."""
    outcomes: list[ChunkOutcome] = []
    fates: dict[int, str] = {}
    for chunk in plan.chunks:
        outcome, chunk_fates = draw(chunk_outcome(chunk))
        if outcome is not None:
            outcomes.append(outcome)
        fates.update(chunk_fates)
    return draw(st.permutations(outcomes)), fates


# Anything JSON can carry, for "the server may send anything" properties.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

_result_keys = st.sampled_from(
    ["id", "properties", "createdAt", "updatedAt", "archived", "new", "objectWriteTraceId", "x"]
)
_batch_keys = st.sampled_from(
    [
        "status",
        "results",
        "errors",
        "numErrors",
        "startedAt",
        "completedAt",
        "requestedAt",
        "links",
        "category",
        "message",
        "policyName",
        "context",
    ]
)
batch_like = st.dictionaries(
    _batch_keys,
    json_values
    | st.lists(st.dictionaries(_result_keys, json_values, max_size=6), max_size=3)
    | st.sampled_from(["COMPLETE", "2019-10-30T03:30:17.883Z", "TEN_SECONDLY_ROLLING"]),
    max_size=8,
)

response_bodies = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda v: json.dumps(v).encode()),
    batch_like.map(lambda v: json.dumps(v).encode()),
    batch_like.map(lambda v: json.dumps(v).encode()[:-3]),  # truncated
)

_header_names = st.sampled_from(
    [
        "X-HubSpot-RateLimit-Max",
        "x-hubspot-ratelimit-remaining",
        "X-HubSpot-RateLimit-Interval-Milliseconds",
        "X-HubSpot-RateLimit-Daily",
        "Retry-After",
        "retry-after",
        "Content-Type",
    ]
)
response_headers = st.dictionaries(
    _header_names | st.text(max_size=10),
    st.text(max_size=10) | st.integers(-10, 10**6).map(str),
    max_size=6,
)
