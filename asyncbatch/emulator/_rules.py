"""Strict mode's refusals of a whole request that are about the request, not a value. No I/O.

- an unknown object type: 400 ``Unable to infer object type from: widgets`` with no category;
- an ``idProperty`` that is not a unique property (``hs_object_id`` included): 400 ``Unable to
  perform update/upsert by non-unique 0-1 property email in portal ID ...``
  (HubSpot/hubspot-api-nodejs #548; segmentio/action-destinations #3957 for ``hs_object_id``);
- a unique value that another record owns, or that two inputs give to two records: 409
  ``CONFLICT`` for the whole batch (HubSpot community, "Contacts API Batch Upsert return 409
  instead of 207"; airbytehq/airbyte #76340 splits on it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ._properties import Schema
from ._shapes import JSON, error_body
from ._store import TypeStore, canonical_type

__all__ = ["conflict_body", "id_property_body", "unique_properties"]

# Contacts are looked up by e-mail address although HubSpot does not flag ``email`` unique:
# an upsert (and a read) may name it, a batch *update* may not (hubspot-api-nodejs #548:
# update keyed by email answered "Unable to perform update/upsert by non-unique 0-1 property").
_EMAIL_KEYED = {"0-1": frozenset({"upsert", "read"})}


def id_property_body(
    schema: Schema, object_type: str, operation: str, id_property: str, portal_id: int
) -> JSON | None:
    """The 400 for keying ``operation`` by ``id_property``, or ``None`` if that is allowed.

    Nothing public says what an ``idProperty`` that does not exist at all gets; the stricter
    reading is the same request-level refusal.
    """
    canonical = canonical_type(object_type)
    if id_property in schema.unique(object_type):
        return None
    if id_property == "email" and operation in _EMAIL_KEYED.get(canonical, ()):
        return None
    return error_body(
        "VALIDATION_ERROR",
        f"Unable to perform update/upsert by non-unique {canonical} property {id_property} "
        f"in portal ID {portal_id}",
    )


def unique_properties(schema: Schema, types: TypeStore, object_type: str) -> frozenset[str]:
    """The properties no two records of ``object_type`` may share a value of."""
    return schema.unique(object_type) | types.folded


def conflict_body(
    types: TypeStore,
    unique: Iterable[str],
    writes: Sequence[tuple[str | None, Mapping[str, str]]],
) -> JSON | None:
    """The 409 for ``writes`` (``(record id or None for a new record, properties)``, in input
    order) if one gives a unique value another record owns, or two give one value to two
    records; else ``None``.

    HubSpot's message for a unique-value conflict of a batch is not public: the contacts one is
    its create conflict ("Contact already exists. Existing ID: 1948209", PipedreamHQ/pipedream
    #8749); the others are ours. Neither names the input, so the client must isolate it.
    """
    unique = frozenset(unique)
    claimed: dict[tuple[str, str], str] = {}
    for position, (target, properties) in enumerate(writes):
        writer = target if target is not None else f"new input {position}"
        for prop in sorted(unique & properties.keys()):
            value = properties[prop]
            if not value:
                continue
            owner = types.owner(prop, value)
            if owner is not None and owner != target:
                return _conflict(prop, types, owner)
            if claimed.setdefault((prop, types.key(prop, value)), writer) != writer:
                return _conflict(prop, types, None)
    return None


def _conflict(prop: str, types: TypeStore, owner: str | None) -> JSON:
    if owner is None:
        message = "Unable to write the batch: two inputs give one unique property value."
    elif prop in types.folded:
        message = f"Contact already exists. Existing ID: {owner}"
    else:
        message = f"An object with this unique {prop} value already exists. Existing ID: {owner}"
    return error_body("CONFLICT", message)
