"""Batch operations as data: one ``OperationSpec`` per HubSpot batch endpoint. Pure: no I/O.

Everything that differs between operations is a field here, read by planning (does an input
need an id property?), the protocol (which statuses are success, which result class to read),
the retry rule (is a resend safe?) and the merge (does the answer list what it did?). Adding an
operation is one spec here plus its public verb on the client, in the spirit of h11's tables.
"""

from __future__ import annotations

from typing import Literal

import attrs

from ._models import SimplePublicObject, SimplePublicUpsertObject

__all__ = [
    "ARCHIVE",
    "CREATE",
    "OPERATIONS",
    "READ",
    "UPDATE",
    "UPSERT",
    "OperationSpec",
    "Shape",
    "operation_spec",
]

Shape = Literal["record", "new", "id"]


@attrs.frozen
class OperationSpec:
    """One batch operation.

    Attributes:
        name: the public verb and the last path segment (``batch/{name}``).
        needs_id_property: every input must name a unique property (``idProperty``).
        success_statuses: HTTP statuses whose body is a batch answer (200/201/204/207).
        result_class: what each entry of ``results`` is read as.
        resend_safe: sending the same inputs twice leaves the same state (idempotent), so a
            chunk whose answer was lost may be sent again.
        answer_lists_results: the answer names what was done in ``results``; when False (an
            archive's 204), every input of a successful answer that no error names is done.
    """

    name: str
    needs_id_property: bool
    success_statuses: frozenset[int]
    result_class: type[SimplePublicObject]
    resend_safe: bool
    answer_lists_results: bool = True
    #: what a caller's input is: ``"record"`` (id and properties), ``"new"`` (properties, no
    #: id: a record to create, never coalesced) or ``"id"`` (an id alone: read, archive)
    shape: Shape = "record"

    @property
    def path(self) -> str:
        """The path below the object type: ``batch/update``."""
        return f"batch/{self.name}"


UPDATE = OperationSpec(
    name="update",
    needs_id_property=False,
    success_statuses=frozenset({200, 207}),
    result_class=SimplePublicObject,
    resend_safe=True,
)
UPSERT = OperationSpec(
    name="upsert",
    needs_id_property=True,
    success_statuses=frozenset({200, 207}),
    result_class=SimplePublicUpsertObject,
    resend_safe=True,
)
# batch/create answers 201 (207 per input with trace ids; 201 with errors in 2026-09). A resent
# create can make a duplicate: never resent after a failure that may follow its application.
CREATE = OperationSpec(
    name="create",
    needs_id_property=False,
    success_statuses=frozenset({200, 201, 207}),
    result_class=SimplePublicObject,
    resend_safe=False,
    shape="new",
)
# batch/read answers 200 (207 when some ids are missing).
READ = OperationSpec(
    name="read",
    needs_id_property=False,
    success_statuses=frozenset({200, 207}),
    result_class=SimplePublicObject,
    resend_safe=True,
    shape="id",
)
# batch/archive answers 204 with no body: every input of a success is archived.
ARCHIVE = OperationSpec(
    name="archive",
    needs_id_property=False,
    success_statuses=frozenset({204, 200}),
    result_class=SimplePublicObject,
    resend_safe=True,
    answer_lists_results=False,
    shape="id",
)

#: Every operation the client speaks, by name.
OPERATIONS: dict[str, OperationSpec] = {
    spec.name: spec for spec in (UPDATE, UPSERT, CREATE, READ, ARCHIVE)
}


def operation_spec(operation: str | OperationSpec) -> OperationSpec:
    """The spec of ``operation`` (a name such as ``"upsert"``, or a spec, returned as is).

    Raises:
        ValueError: an unknown name (a programming error, not a caller's record).
    """
    if isinstance(operation, OperationSpec):
        return operation
    try:
        return OPERATIONS[operation]
    except KeyError:
        raise ValueError(
            f"unknown batch operation {operation!r}; known: {sorted(OPERATIONS)}"
        ) from None
