"""An object type's property definitions, and checking records against them before sending.
Pure: no I/O (the client reads the definitions; this module reads their JSON and judges values).

HubSpot's ``GET /crm/v3/properties/{objectType}`` lists each property's ``name``, ``type``,
``fieldType``, ``options``, ``hasUniqueValue``, ``calculated`` and
``modificationMetadata.readOnlyValue`` (SPEC §1). With them a record that HubSpot would refuse
fails here, naming the property, instead of costing a request under the rate limit; values
that HubSpot would read differently are converted (an option's label to its value, ``yes`` to
``true``, a midnight-UTC datetime to a date).

What is not checked: uniqueness conflicts between records, and admin-configured validation
rules of the date-versioned API; those still come back as HubSpot's refusals (``_refusals``).
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from ._convert import format_datetime
from ._plan import PlannedInput
from ._refusals import Problem

__all__ = [
    "PropertyDefinition",
    "PropertyOption",
    "PropertySchema",
    "ValueRefused",
    "all_pass",
    "check_id_property",
    "check_items",
    "check_value",
]


@attrs.frozen
class PropertyOption:
    """One allowed value of an enumeration: what is stored (``value``) and what people see."""

    value: str
    label: str = ""


@attrs.frozen
class PropertyDefinition:
    """One property of an object type, as HubSpot defines it."""

    name: str
    type: str = "string"
    field_type: str = "text"
    options: tuple[PropertyOption, ...] = ()
    has_unique_value: bool = False
    calculated: bool = False
    read_only: bool = False
    external_options: bool = False

    #: the options' values, for the common test of membership
    values: frozenset[str] = attrs.field(init=False, repr=False, eq=False)
    #: values seen to pass unchanged (bounded): the common value is judged by one set lookup
    passes: set[str] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        values = frozenset(o.value for o in self.options)
        object.__setattr__(self, "values", values)
        # A read-only or calculated enumeration takes none of its options.
        plain = self.type == "enumeration" and self.field_type != "checkbox" and self.writable
        object.__setattr__(self, "passes", set(values) if plain else set())

    @property
    def writable(self) -> bool:
        """A value may be set (not calculated, not read-only)."""
        return not (self.calculated or self.read_only)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PropertyDefinition:
        """Read one entry of HubSpot's properties answer (leniently: missing fields default)."""
        metadata = data.get("modificationMetadata")
        raw_options = data.get("options")
        options: list[Any] = raw_options if isinstance(raw_options, list) else []
        return cls(
            name=str(data["name"]),
            type=_text(data.get("type"), "string"),
            field_type=_text(data.get("fieldType"), "text"),
            options=tuple(
                PropertyOption(str(o["value"]), _text(o.get("label"), ""))
                for o in options
                if isinstance(o, dict) and isinstance(o.get("value"), str)
            ),
            has_unique_value=data.get("hasUniqueValue") is True,
            calculated=data.get("calculated") is True,
            read_only=isinstance(metadata, dict) and metadata.get("readOnlyValue") is True,
            external_options=data.get("externalOptions") is True,
        )


def _text(value: object, default: str) -> str:
    return value if isinstance(value, str) else default


@attrs.frozen
class PropertySchema:
    """The property definitions of one object type, by name."""

    object_type: str
    properties: Mapping[str, PropertyDefinition]
    #: per property, what checks a value: None when any string is taken as is (the common
    #: case, tested without a call), else the definition to judge against
    judges: Mapping[str, PropertyDefinition | None] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        judges = {
            name: None if d.writable and d.type not in _CHECKS else d
            for name, d in self.properties.items()
        }
        object.__setattr__(self, "judges", judges)

    @classmethod
    def from_json(cls, object_type: str, data: object) -> PropertySchema:
        """Read HubSpot's ``{"results": [Property, ...]}`` answer.

        Raises:
            ValueError: the answer is not that shape.
        """
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise ValueError("a properties answer needs a 'results' list")
        definitions = [
            PropertyDefinition.from_json(r)
            for r in results
            if isinstance(r, dict) and isinstance(r.get("name"), str)
        ]
        return cls(object_type, {d.name: d for d in definitions})

    def __contains__(self, name: object) -> bool:
        return name in self.properties

    def get(self, name: str) -> PropertyDefinition | None:
        return self.properties.get(name)


def check_id_property(
    schema: PropertySchema, id_property: str | None, *, operation: str
) -> str | None:
    """Why ``id_property`` cannot key records of this object type, or None if it can.

    It must be a property with a unique value; contacts' ``email`` also keys upserts (HubSpot
    reports it as not unique but deduplicates contacts by it); ``hs_object_id`` is the record
    id, given as ``id`` without an id property.
    """
    if id_property is None:
        return None
    if id_property == "hs_object_id":
        return "hs_object_id is the record id: give it as 'id' without an id property"
    if id_property == "email" and schema.object_type in ("contacts", "0-1"):
        return None if operation == "upsert" else _not_unique(schema, id_property)
    definition = schema.get(id_property)
    if definition is None:
        return f"{id_property!r} is not a property of {schema.object_type}"
    if not definition.has_unique_value:
        return _not_unique(schema, id_property)
    return None


def _not_unique(schema: PropertySchema, id_property: str) -> str:
    return (
        f"{id_property!r} is not a unique-value property of {schema.object_type}, so it cannot "
        "key records (HubSpot: 'Unable to perform update/upsert by non-unique property')"
    )


def check_items(
    items: Sequence[PlannedInput], schema: PropertySchema
) -> tuple[list[PlannedInput], list[tuple[PlannedInput, Problem]]]:
    """Split ``items`` into those HubSpot would accept (values converted to its form) and
    those it would refuse, each with the first problem found."""
    ok: list[PlannedInput] = []
    refused: list[tuple[PlannedInput, Problem]] = []
    for item in items:
        converted, problem = _check_properties(item.input.properties, schema)
        if problem is not None:
            refused.append((item, problem))
        elif converted is None:
            ok.append(item)
        else:
            ok.append(attrs.evolve(item, input=attrs.evolve(item.input, properties=converted)))
    return ok, refused


def all_pass(properties: Iterable[Mapping[str, Any]], schema: PropertySchema) -> bool:
    """Whether HubSpot would take each of ``properties`` (a record's each) as it is: nothing
    refused and nothing to convert, so ``check_items`` would return its items unchanged.

    Judged a property at a time across the records (a chunk's records mostly share their
    names): each name once, and of a property that checks its values, only the distinct
    values not yet remembered as passing, so a value judged before costs no call of ours.
    ``_check_properties`` judges one record the same way."""
    records = properties if isinstance(properties, Sequence) else list(properties)
    judges = schema.judges
    for name in set().union(*records):
        definition = judges.get(name, _UNKNOWN)
        if definition is None:
            continue  # any string is taken as it is
        if definition is _UNKNOWN or not definition.writable:
            return False
        try:
            values = set(map(operator.itemgetter(name), records))
        except KeyError:  # not every record sets it
            values = {each[name] for each in records if name in each}
        for value in values - definition.passes:
            if not _passes_unchanged(definition, value):
                return False
    return True


def _passes_unchanged(definition: PropertyDefinition, value: Any) -> bool:
    """Whether ``definition`` takes ``value`` as it is (then remembered as passing)."""
    try:
        text = check_value(definition, value)
    except ValueRefused:
        return False
    if text != value:
        return False
    if len(definition.passes) < _PASSES_KEPT:
        definition.passes.add(value)
    return True


def _check_properties(
    properties: Mapping[str, Any], schema: PropertySchema
) -> tuple[dict[str, str] | None, Problem | None]:
    """(converted properties, or None when nothing changed; the first problem, if any)."""
    converted: dict[str, str] | None = None
    judges = schema.judges
    for name, value in properties.items():
        definition = judges.get(name, _UNKNOWN)
        if definition is None or value in definition.passes:  # taken as it is
            continue
        if definition is _UNKNOWN:
            return None, Problem(
                name, "PROPERTY_DOESNT_EXIST", None, f'Property "{name}" does not exist'
            )
        if not definition.writable:
            what = "a calculated" if definition.calculated else "a read-only"
            message = f'"{name}" is {what} property; its value cannot be set'
            return None, Problem(name, "READ_ONLY_VALUE", None, message)
        try:
            text = check_value(definition, value)
        except ValueRefused as refused:
            return None, Problem(name, refused.code, value, refused.message)
        if text != value:
            if converted is None:
                converted = dict(properties)
            converted[name] = text
        elif len(definition.passes) < _PASSES_KEPT:
            definition.passes.add(value)
    return converted, None


#: values remembered per property as passing (a few hundred KB at most per property)
_PASSES_KEPT = 4096


_UNKNOWN = PropertyDefinition("")


class ValueRefused(Exception):
    """A value HubSpot would refuse: its error ``code`` and a ``message`` in HubSpot's words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_value(definition: PropertyDefinition, value: str) -> str:
    """``value`` (a planned, string value) in the form HubSpot stores for ``definition``.

    An empty string clears the property and is always accepted.

    Raises:
        ValueRefused: HubSpot would refuse it (with its error code and a message).
    """
    if value == "":
        return value
    check = _CHECKS.get(definition.type)
    return check(definition, value) if check is not None else value


def _enumeration(definition: PropertyDefinition, value: str) -> str:
    if definition.external_options or not definition.options:
        # Options kept elsewhere (pipeline stages, owners) come back empty: HubSpot checks.
        return value
    if definition.field_type == "checkbox":  # multiple choice: each part checked
        return ";".join(_option(definition, part) for part in value.split(";"))
    return _option(definition, value)


def _option(definition: PropertyDefinition, value: str) -> str:
    if value in definition.values:
        return value
    values = [o.value for o in definition.options]
    folded = value.strip().casefold()
    by_label = {o.value for o in definition.options if o.label.strip().casefold() == folded}
    by_value = {v for v in values if v.strip().casefold() == folded}
    matches = by_label | by_value
    if len(matches) == 1:
        return matches.pop()
    shown = ", ".join(values[:10]) + (", …" if len(values) > 10 else "")
    raise ValueRefused("INVALID_OPTION", f"{value} was not one of the allowed options: [{shown}]")


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _number(definition: PropertyDefinition, value: str) -> str:
    # The pattern admits only finite decimal numbers (no NaN, infinity or separators).
    if _NUMBER.fullmatch(value):
        return value
    text = value.strip()
    if _NUMBER.fullmatch(text):
        return text
    raise ValueRefused("INVALID_LONG", f"{value} was not a valid long.")


_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


def _bool(definition: PropertyDefinition, value: str) -> str:
    folded = value.strip().casefold()
    if folded in _TRUE:
        return "true"
    if folded in _FALSE:
        return "false"
    raise ValueRefused("INVALID_BOOLEAN", f"{value} is not a boolean (true/false, yes/no, 1/0)")


def _date(definition: PropertyDefinition, value: str) -> str:
    text = value.strip()
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    moment = _moment(text)
    if moment is None:
        raise ValueRefused("INVALID_DATE", f"{value} is not a date (YYYY-MM-DD)")
    utc = moment.astimezone(dt.UTC)
    if utc.time() != dt.time(0):
        raise ValueRefused(
            "INVALID_DATE", f"{value} is at {utc.time().isoformat()} UTC, not midnight!"
        )
    return utc.date().isoformat()


def _datetime(definition: PropertyDefinition, value: str) -> str:
    text = value.strip()
    if text.isdigit():  # epoch milliseconds, as HubSpot also accepts
        return text
    moment = _moment(text)
    if moment is None:
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise ValueRefused(
                "INVALID_LONG", f"{value} is not an ISO 8601 datetime with an offset"
            ) from None
        moment = dt.datetime.combine(day, dt.time(0), dt.UTC)
    if moment.tzinfo is None:
        raise ValueRefused("INVALID_LONG", f"{value} has no time zone: the instant is ambiguous")
    return format_datetime(moment)


def _moment(text: str) -> dt.datetime | None:
    if "T" not in text and " " not in text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


_CHECKS = {
    "enumeration": _enumeration,
    "number": _number,
    "bool": _bool,
    "date": _date,
    "datetime": _datetime,
}
