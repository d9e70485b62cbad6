"""The emulator's in-memory record store and property validation. No I/O.

Records live per object type (names and the type ids HubSpot documents for them share one store:
``courses`` is ``0-410``). Any property used as an ``idProperty`` is treated as unique and gets
an index, built on first use and maintained on every write, so lookups stay O(1).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from .._convert import format_datetime
from ._config import PropertyDef

# Type ids HubSpot documents for object names; both spellings address the same records.
TYPE_IDS: Mapping[str, str] = {
    "contacts": "0-1",
    "companies": "0-2",
    "deals": "0-3",
    "tickets": "0-5",
    "courses": "0-410",
    "listings": "0-420",
}

# Object types whose batch API only has read and update (HubSpot's partner_clients spec).
READ_UPDATE_ONLY: frozenset[str] = frozenset({"partner_clients"})

RECORD_ID_PROPERTY = "hs_object_id"

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MS_PER_DAY = 86_400_000


def canonical_type(object_type: str) -> str:
    """The store key of ``object_type``: its type id when known, else the name lowercased."""
    name = object_type.strip().lower()
    return TYPE_IDS.get(name, name)


class Record:
    """One stored CRM object."""

    __slots__ = ("created_at", "id", "properties", "updated_at")

    def __init__(self, record_id: str, properties: dict[str, str], now: str) -> None:
        self.id = record_id
        self.properties = properties
        self.created_at = now
        self.updated_at = now

    def to_dict(self, properties: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The ``SimplePublicObject`` shape, with ``properties`` (default: all stored)."""
        props = dict(self.properties if properties is None else properties)
        props[RECORD_ID_PROPERTY] = self.id
        props["hs_createdate"] = self.created_at
        props["hs_lastmodifieddate"] = self.updated_at
        return {
            "id": self.id,
            "properties": props,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "archived": False,
        }


class TypeStore:
    """The records of one object type, with lazily built unique-property indexes."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self._indexes: dict[str, dict[str, str]] = {}

    def _index(self, prop: str) -> dict[str, str]:
        index = self._indexes.get(prop)
        if index is None:
            index = {}
            for record in self.records.values():
                value = record.properties.get(prop)
                if value:
                    index[value] = record.id
            self._indexes[prop] = index
        return index

    def find(self, key: str, id_property: str | None = None) -> Record | None:
        """The record whose id (or unique ``id_property`` value) is ``key``."""
        if id_property is None or id_property == RECORD_ID_PROPERTY:
            return self.records.get(key)
        record_id = self._index(id_property).get(key)
        return None if record_id is None else self.records.get(record_id)

    def insert(self, record: Record) -> None:
        self.records[record.id] = record
        for prop, index in self._indexes.items():
            value = record.properties.get(prop)
            if value:
                index[value] = record.id

    def write(self, record: Record, properties: Mapping[str, str], now: str) -> None:
        """Set ``properties`` on ``record``, keeping the indexes right."""
        for prop, value in properties.items():
            index = self._indexes.get(prop)
            if index is not None:
                old = record.properties.get(prop)
                if old and index.get(old) == record.id:
                    del index[old]
                if value:
                    index[value] = record.id
        record.properties.update(properties)
        record.updated_at = now

    def delete(self, record: Record) -> None:
        self.records.pop(record.id, None)
        for prop, index in self._indexes.items():
            value = record.properties.get(prop)
            if value and index.get(value) == record.id:
                del index[value]


class Store:
    """All object types' records, and the record id counter."""

    def __init__(self) -> None:
        self._types: dict[str, TypeStore] = {}
        self._next_id = 1

    def of(self, object_type: str) -> TypeStore:
        key = canonical_type(object_type)
        store = self._types.get(key)
        if store is None:
            store = self._types[key] = TypeStore()
        return store

    def create(self, object_type: str, properties: dict[str, str], now: datetime) -> Record:
        record = Record(str(self._next_id), properties, format_datetime(now))
        self._next_id += 1
        self.of(object_type).insert(record)
        return record

    def clear(self) -> None:
        self._types.clear()
        self._next_id = 1


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _is_date(value: str) -> bool:
    if value.isdigit():
        return int(value) % _MS_PER_DAY == 0
    if not _DATE_RE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    if value.isdigit():
        return True
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def check_value(definition: PropertyDef, value: str) -> tuple[str, str] | None:
    """``(code, message)`` if ``value`` is invalid for ``definition``, else ``None``.

    An empty string is always valid: HubSpot reads it as "clear the property".
    """
    if value == "":
        return None
    kind = definition.type
    if kind == "number" and not _is_number(value):
        return "INVALID_NUMBER", f"{value} was not a valid number."
    if kind == "bool" and value.lower() not in ("true", "false"):
        return "INVALID_BOOLEAN", f"{value} was not a valid boolean (true or false)."
    if kind == "enumeration":
        bad = [part for part in value.split(";") if part not in definition.options]
        if bad:
            allowed = ", ".join(definition.options)
            return "INVALID_OPTION", f"{bad[0]} was not one of the allowed options: [{allowed}]"
    if kind == "date" and not _is_date(value):
        return (
            "INVALID_DATE",
            f"{value} is not a valid date: use YYYY-MM-DD or epoch milliseconds at midnight UTC.",
        )
    if kind == "datetime" and not _is_datetime(value):
        return "INVALID_DATETIME", f"{value} is not a valid ISO 8601 datetime or epoch millis."
    return None


def check_properties(
    definitions: Mapping[str, PropertyDef] | None,
    properties: Mapping[str, str],
    *,
    strict: bool,
    extra_names: Iterable[str] = (),
) -> list[tuple[str, str, str]]:
    """The invalid properties of one input, as ``(name, code, message)``.

    Nothing is checked on object types without declared properties. With ``strict``, a
    property (or an ``extra_names`` one, e.g. the ``idProperty``) that is not declared fails.
    """
    if not definitions:
        return []
    issues: list[tuple[str, str, str]] = []
    for name in extra_names:
        if strict and name not in definitions and name != RECORD_ID_PROPERTY:
            issues.append((name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
    for name, value in properties.items():
        definition = definitions.get(name)
        if definition is None:
            if strict:
                issues.append((name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
            continue
        problem = check_value(definition, value)
        if problem is not None:
            issues.append((name, *problem))
    return issues
