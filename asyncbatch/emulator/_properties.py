"""Property definitions per object type, and their ``GET /crm/v3/properties`` shape. No I/O.

Strict mode (the default) knows the object types listed in ``DEFAULT_PROPERTIES`` plus those an
``EmulatorConfig`` declares properties for, and only their properties. The defaults are a
realistic subset of a HubSpot account:

- ``contacts``, ``companies``, ``deals``, ``tickets``: common HubSpot-defined properties;
- ``goal_targets``, ``partner_clients``, listings ``0-420``, courses ``0-410`` (the seed
  object types): the example properties of HubSpot's pages for their batch endpoints
  (``property_string`` ... ``property_multiple_checkboxes``, and ``my_unique_property_name`` as a
  unique property), some HubSpot-defined ones, and for courses the custom properties of the
  bundled demo sample (``course_code`` unique, ``level``, ``topics``, ...);
- on every type the read-only system properties ``hs_object_id`` (calculated),
  ``hs_createdate`` and ``hs_lastmodifieddate``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._config import PropertyDef, PropertyType
from ._store import canonical_type

# When HubSpot-defined properties were "created"; a fixed date keeps the answers stable.
_DEFINED_AT = "2019-08-06T02:41:08.029Z"


def _hs(name: str, type_: PropertyType = "string", *options: str, **kw: Any) -> PropertyDef:
    return PropertyDef(name, type_, options, hubspot_defined=True, **kw)


def _select(name: str, *options: str, **kw: Any) -> PropertyDef:
    return _hs(name, "enumeration", *options, field_type="select", **kw)


_SYSTEM = (
    _hs("hs_object_id", "number", label="Record ID", calculated=True, read_only_value=True),
    _hs("hs_createdate", "datetime", label="Create date", read_only_value=True),
    _hs("hs_lastmodifieddate", "datetime", label="Last modified date", read_only_value=True),
)
_OWNER = _hs(
    "hubspot_owner_id",
    "enumeration",
    field_type="select",
    label="Owner",
    value_format="owner_id",
)
# The example properties of HubSpot's batch pages for the seed object types (seeds/ 000-004).
_SEED_EXAMPLES = (
    PropertyDef("property_checkbox", "bool"),
    PropertyDef("property_date", "date"),
    PropertyDef("property_dropdown", "enumeration", ("choice_a", "choice_b"), field_type="select"),
    PropertyDef(
        "property_multiple_checkboxes",
        "enumeration",
        ("chocolate", "strawberry", "vanilla"),
        field_type="checkbox",
    ),
    PropertyDef("property_number", "number"),
    PropertyDef("property_radio", "enumeration", ("option_1", "option_2"), field_type="radio"),
    PropertyDef("property_string"),
    PropertyDef("my_unique_property_name", has_unique_value=True),
)
_LIFECYCLE = _select(
    "lifecyclestage",
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
    label="Lifecycle stage",
)

_CONTACTS = (
    # HubSpot reports email as not unique, but deduplicates contacts by it and takes it as the
    # idProperty of an upsert (see _rules.id_property_refusal).
    _hs("email", label="Email", value_format="email"),
    _hs("firstname", label="First name"),
    _hs("lastname", label="Last name"),
    _hs("phone", "phone_number", label="Phone number"),
    _hs("mobilephone", "phone_number", label="Mobile phone number"),
    _hs("company", label="Company name"),
    _hs("website", label="Website URL"),
    _hs("jobtitle", label="Job title"),
    _hs("address", label="Street address"),
    _hs("city"),
    _hs("state", label="State/Region"),
    _hs("zip", label="Postal code"),
    _hs("country", label="Country/Region"),
    _hs("date_of_birth", label="Date of birth"),
    _LIFECYCLE,
    _select(
        "hs_lead_status",
        "NEW",
        "OPEN",
        "IN_PROGRESS",
        "OPEN_DEAL",
        "UNQUALIFIED",
        "ATTEMPTED_TO_CONTACT",
        "CONNECTED",
        "BAD_TIMING",
        label="Lead status",
    ),
    _OWNER,
    _hs("createdate", "datetime", label="Create date", read_only_value=True),
    _hs("lastmodifieddate", "datetime", label="Last modified date", read_only_value=True),
)
_COMPANIES = (
    _hs("name", label="Company name"),
    _hs("domain", label="Company domain name"),
    _hs("website", label="Website URL"),
    _hs("phone", "phone_number", label="Phone number"),
    _hs("city"),
    _hs("state", label="State/Region"),
    _hs("zip", label="Postal code"),
    _hs("country", label="Country/Region"),
    _hs("description"),
    _hs("numberofemployees", "number", label="Number of employees"),
    _hs("annualrevenue", "number", label="Annual revenue"),
    # A few of HubSpot's ~150 industry options.
    _select(
        "industry",
        "ACCOUNTING",
        "COMPUTER_SOFTWARE",
        "FINANCIAL_SERVICES",
        "INFORMATION_TECHNOLOGY_AND_SERVICES",
        "MARKETING_AND_ADVERTISING",
    ),
    _LIFECYCLE,
    _OWNER,
)
_DEALS = (
    _hs("dealname", label="Deal name"),
    _hs("amount", "number"),
    _hs("closedate", "datetime", label="Close date"),
    _hs("description"),
    _select("pipeline", "default"),
    _select(
        "dealstage",
        "appointmentscheduled",
        "qualifiedtobuy",
        "presentationscheduled",
        "decisionmakerboughtin",
        "contractsent",
        "closedwon",
        "closedlost",
        label="Deal stage",
    ),
    _select("dealtype", "newbusiness", "existingbusiness", label="Deal type"),
    _OWNER,
)
_TICKETS = (
    _hs("subject", label="Ticket name"),
    _hs("content", label="Ticket description"),
    _select("hs_pipeline", "0", label="Pipeline"),
    _select("hs_pipeline_stage", "1", "2", "3", "4", label="Ticket status"),
    _select("hs_ticket_priority", "LOW", "MEDIUM", "HIGH", "URGENT", label="Priority"),
    _select(
        "hs_ticket_category",
        "PRODUCT_ISSUE",
        "BILLING_ISSUE",
        "FEATURE_REQUEST",
        "GENERAL_INQUIRY",
        label="Category",
    ),
    _OWNER,
)
_GOAL_TARGETS = (
    _hs("hs_goal_name", label="Goal name"),
    _hs("hs_target_amount", "number", label="Target amount"),
    _hs("hs_start_datetime", "datetime", label="Start date"),
    _hs("hs_end_datetime", "datetime", label="End date"),
    _hs("hs_assignee_user_id", "number", label="Assignee"),
    _hs("hs_created_by_user_id", "number", label="Created by", read_only_value=True),
    _hs("hs_kpi_value", "number", label="Goal value", calculated=True),
    _hs("hs_kpi_progress_percent", "number", label="Progress", calculated=True),
)
_LISTINGS = (
    _hs("hs_name", label="Listing name"),
    _hs("hs_price", "number", label="Price"),
    _hs("hs_address_1", label="Address 1"),
    _hs("hs_address_2", label="Address 2"),
    _hs("hs_city", label="City"),
    _hs("hs_state_province", label="State/Province"),
    _hs("hs_zip", label="Zip"),
    _hs("hs_neighborhood", label="Neighborhood"),
    _hs("hs_bedrooms", "number", label="Bedrooms"),
    _hs("hs_bathrooms", "number", label="Bathrooms"),
    _hs("hs_square_footage", "number", label="Square footage"),
    _hs("hs_lot_size", "number", label="Lot size"),
    _hs("hs_year_built", "number", label="Year built"),
    _select(
        "hs_listing_type",
        "house",
        "townhouse",
        "multi_family",
        "manufactured",
        "condos_co_ops",
        "lots_land",
        "unknown",
        label="Listing type",
    ),
)
_COURSES = (
    _hs("hs_course_name", label="Course name"),
    # The bundled demo sample's custom course properties.
    PropertyDef("course_code", label="Course code", has_unique_value=True),
    PropertyDef(
        "level", "enumeration", ("beginner", "intermediate", "advanced"), field_type="select"
    ),
    PropertyDef("duration_hours", "number", label="Duration (hours)"),
    PropertyDef("start_date", "date", label="Start date"),
    PropertyDef("price", "number"),
    PropertyDef(
        "topics",
        "enumeration",
        ("analytics", "apis", "cloud", "crm", "etl", "python", "security", "sql"),
        field_type="checkbox",
    ),
)

DEFAULT_PROPERTIES: Mapping[str, tuple[PropertyDef, ...]] = {
    "contacts": _CONTACTS,
    "companies": _COMPANIES,
    "deals": _DEALS,
    "tickets": _TICKETS,
    "goal_targets": _GOAL_TARGETS + _SEED_EXAMPLES,
    "partner_clients": _SEED_EXAMPLES,
    "0-420": _LISTINGS + _SEED_EXAMPLES,
    "0-410": _COURSES + _SEED_EXAMPLES,
}
"""HubSpot's default properties per object type (system properties not included)."""


class Schema:
    """The property definitions of every object type, by canonical type.

    ``defaults`` come first; ``declared`` ones are added and, by name, replace them. Types
    with neither are unknown.
    """

    def __init__(
        self,
        declared: Mapping[str, Iterable[PropertyDef]],
        *,
        defaults: Mapping[str, Iterable[PropertyDef]] = DEFAULT_PROPERTIES,
    ) -> None:
        self._types: dict[str, dict[str, PropertyDef]] = {}
        for object_type, defs in defaults.items():
            self._add(object_type, defs)
        for object_type, defs in declared.items():
            self._add(object_type, defs)

    def _add(self, object_type: str, defs: Iterable[PropertyDef]) -> None:
        target = self._types.setdefault(canonical_type(object_type), {})
        if not target:
            target.update((d.name, d) for d in _SYSTEM)
        target.update((d.name, d) for d in defs)

    def knows(self, object_type: str) -> bool:
        """Whether ``object_type`` (a name or type id) is a known object type."""
        return canonical_type(object_type) in self._types

    def of(self, object_type: str) -> Mapping[str, PropertyDef]:
        """The definitions of ``object_type`` by name (empty if unknown)."""
        return self._types.get(canonical_type(object_type), {})

    def unique(self, object_type: str) -> frozenset[str]:
        """The names of ``object_type``'s properties with ``hasUniqueValue``."""
        return frozenset(n for n, d in self.of(object_type).items() if d.has_unique_value)

    def to_json(self, object_type: str) -> list[dict[str, Any]]:
        """``results`` of ``GET /crm/v3/properties/{objectType}``."""
        group = f"{canonical_type(object_type).replace('-', '_')}_information"
        return [
            property_json(d, position, group)
            for position, d in enumerate(self.of(object_type).values())
        ]


def property_json(definition: PropertyDef, position: int, group: str) -> dict[str, Any]:
    """One ``Property`` of HubSpot's properties API (every field its SDK requires)."""
    d = definition
    return {
        "updatedAt": _DEFINED_AT,
        "createdAt": _DEFINED_AT,
        "name": d.name,
        "label": d.label or _label(d.name),
        "type": d.type,
        "fieldType": d.shown_field_type,
        "description": d.description,
        "groupName": d.group_name or group,
        "options": _options_json(d),
        "displayOrder": position,
        "calculated": d.calculated,
        "externalOptions": d.value_format == "owner_id",
        "hasUniqueValue": d.has_unique_value,
        "hidden": False,
        "hubspotDefined": d.hubspot_defined,
        "showCurrencySymbol": False,
        "modificationMetadata": {
            "archivable": not d.hubspot_defined,
            "readOnlyDefinition": d.hubspot_defined,
            "readOnlyValue": d.calculated or d.read_only_value,
        },
        "formField": not (d.calculated or d.read_only_value),
        "archived": False,
    }


def _options_json(definition: PropertyDef) -> list[dict[str, Any]]:
    if definition.type == "bool":
        pairs: Iterable[tuple[str, str]] = (("true", "Yes"), ("false", "No"))
    else:
        labels = definition.option_labels or tuple(_label(v) for v in definition.options)
        pairs = zip(definition.options, labels, strict=True)
    return [
        {"label": label, "value": value, "displayOrder": i, "hidden": False}
        for i, (value, label) in enumerate(pairs)
    ]


def _label(name: str) -> str:
    words = name.removeprefix("hs_").replace("_", " ").strip()
    return words[:1].upper() + words[1:]
