"""What one batch request is processed with, and the answer bodies all operations share. No I/O.

``BatchContext`` carries the configuration, the API version, time and randomness into the pure
request processing (``_batch``, ``_read``), so an answer is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import attrs

from .._convert import format_datetime
from ._config import PropertyDef, ValidationRule
from ._inputs import Input
from ._properties import Schema
from ._shapes import JSON, standard_error
from ._versions import V3, ApiVersion

__all__ = ["BatchContext", "batch_body", "not_found_errors"]


@attrs.frozen(kw_only=True)
class BatchContext:
    """What processing a request needs besides the store and the request body.

    ``schema`` holds every type's definitions (HubSpot's defaults and the declared ones);
    strict mode checks against it. Lenient mode checks only ``declared`` (canonical type ->
    name -> definition), undeclared names failing only with ``reject_unknown``. ``rules``
    (canonical type -> rules) are checked when ``version`` enforces them; ``archived`` is a
    batch read's ``?archived=`` query.
    """

    strict: bool
    schema: Schema
    declared: Mapping[str, Mapping[str, PropertyDef]]
    reject_unknown: bool
    validation_errors_as_207: bool
    portal_id: int
    clock: Callable[[], datetime]
    shuffle: random.Random | None
    requested_at: datetime | None = None
    version: ApiVersion = V3
    rules: Mapping[str, tuple[ValidationRule, ...]] = attrs.field(factory=dict)
    archived: bool = False


def not_found_errors(missing: Sequence[Input], object_type: str) -> list[JSON]:
    """The ``OBJECT_NOT_FOUND`` errors of inputs whose record does not exist: one naming all of
    them, or, when any carries an ``objectWriteTraceId``, one per input (with its trace id)."""
    message = (
        f"Could not get some {object_type} objects, they may be deleted or not exist. "
        "Check that ids are valid."
    )
    if not missing:
        return []
    if any(item.trace is not None for item in missing):
        errors = []
        for item in missing:
            context = {"ids": [item.key]}
            if item.trace is not None:
                context["objectWriteTraceId"] = [item.trace]
            errors.append(standard_error("OBJECT_NOT_FOUND", message, context=context))
        return errors
    ids = [item.key for item in missing]
    return [standard_error("OBJECT_NOT_FOUND", message, context={"ids": ids})]


def batch_body(
    results: list[JSON], errors: list[JSON], started: datetime, ctx: BatchContext
) -> JSON:
    """A batch answer's body: ``errors``/``numErrors`` only when there are errors (optional
    in every version's schema; in a 207 before ``2026-09``, in the 200/201 from it on)."""
    if ctx.shuffle is not None:
        ctx.shuffle.shuffle(results)
    body: JSON = {"status": "COMPLETE", "results": results}
    if ctx.requested_at is not None:
        body["requestedAt"] = format_datetime(ctx.requested_at)
    body["startedAt"] = format_datetime(started)
    body["completedAt"] = format_datetime(ctx.clock())
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    return body
