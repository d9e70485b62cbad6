"""HubSpot's API versions as data: what differs between them on the batch endpoints. No I/O.

Read from HubSpot's OpenAPI files for CRM objects (HubSpot/HubSpot-public-api-spec-collection,
``CRM/Objects/Rollouts/424/{v3,2026-03,2026-09}/objects.json``):

- ``v3`` (``/crm/v3/objects/{objectType}/batch/{op}``) and ``2026-03``
  (``/crm/objects/2026-03/{objectType}/batch/{op}``) are the same for batch: read, update and
  upsert answer 200, or 207 (``BatchResponse...WithErrors``) with ``errors``/``numErrors``;
  create answers 201 or 207; archive 204 with no body.
- ``2026-09`` has no 207 and no ``...WithErrors`` schema: ``BatchResponseSimplePublicObject``
  and ``...UpsertObject`` carry ``errors`` and ``numErrors`` themselves, so read, update and
  upsert answer 200 and create 201 (its one success status in that file, not 200) with the
  errors inside. ``warnings`` (``PublicObjectWarning``) is gone from ``SimplePublicObject``;
  the emulator sends no warnings in any version (nothing public says when HubSpot does), so
  that removal needs no code. Writes are checked against the account's admin-configured
  validation rules (HubSpot developer changelog, "Breaking Change: CRM API Write Validation
  Enforcement Starting with the 2026-09 API Version").

A version is a row here, not an ``if`` in the handlers (STYLE.md, h11's tables).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ._shapes import JSON, error_body

__all__ = [
    "DATED_VERSIONS",
    "V3",
    "VERSIONS",
    "ApiVersion",
    "dated_version",
    "unknown_version_body",
]


@attrs.frozen
class ApiVersion:
    """One API version of the batch endpoints.

    Attributes:
        name: ``"v3"`` or a date version (``"2026-09"``).
        multi_status: a partial failure answers 207; otherwise the errors ride in the success
            answer (200, or 201 for create).
        enforces_rules: writes are checked against ``EmulatorConfig.validation_rules``.
    """

    name: str
    multi_status: bool
    enforces_rules: bool

    def batch_status(self, operation: str, *, has_errors: bool) -> int:
        """The status of a batch answer of ``operation`` that is not a whole-request failure."""
        if has_errors and self.multi_status:
            return 207
        return 201 if operation == "create" else 200


V3 = ApiVersion("v3", multi_status=True, enforces_rules=False)
VERSIONS: Mapping[str, ApiVersion] = {
    version.name: version
    for version in (
        V3,
        ApiVersion("2026-03", multi_status=True, enforces_rules=False),
        ApiVersion("2026-09", multi_status=False, enforces_rules=True),
    )
}
DATED_VERSIONS: tuple[str, ...] = tuple(name for name in VERSIONS if name != V3.name)


def dated_version(name: str) -> ApiVersion | None:
    """The version a ``/crm/objects/{version}/...`` path names, or ``None`` if HubSpot has no
    such date version (``v3`` included: it lives at ``/crm/v3/objects/...``)."""
    return VERSIONS.get(name) if name in DATED_VERSIONS else None


def unknown_version_body(name: str) -> JSON:
    """The 404 for a date version HubSpot does not serve.

    Nothing public shows what HubSpot answers for ``/crm/objects/2025-01/...``: the stricter of
    the two readings (404, 400) is taken. A 404 says the endpoint does not exist, so no input
    of the request is to blame and nothing is worth retrying or splitting; a 400 reads as a
    validation error that a client might try to isolate record by record.
    """
    known = ", ".join(DATED_VERSIONS)
    return error_body(
        "OBJECT_NOT_FOUND",
        f"Unknown API version '{name}': this API serves the date versions {known} "
        "(and v3 at /crm/v3/objects/).",
        context={"version": [name]},
    )
