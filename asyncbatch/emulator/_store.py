"""The emulator's in-memory record store. No I/O.

Records live per object type (names and the type ids HubSpot documents for them share one store:
``courses`` is ``0-410``). Any property used as an ``idProperty`` is treated as unique and gets
an index, built on first use and maintained on every write, so lookups stay O(1). A type may
fold some properties' values (contacts' ``email`` in strict mode): those are compared without
case or surrounding spaces, as HubSpot deduplicates contacts by e-mail address.

An archived record leaves the live records (and frees its unique values) for ``archived``,
where only a batch read with ``?archived=true`` finds it. Each record keeps the history of its
values for ``propertiesWithHistory``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .._convert import format_datetime

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


def canonical_type(object_type: str) -> str:
    """The store key of ``object_type``: its type id when known, else the name lowercased."""
    name = object_type.strip().lower()
    return TYPE_IDS.get(name, name)


class Record:
    """One stored CRM object, with the history of its property values.

    History is kept lazily, so a record never overwritten costs nothing more: ``set_at`` holds
    when a value was set if that was after creation, ``earlier`` the overwritten values
    (oldest first). Writing a property its current value adds no history entry.
    """

    __slots__ = ("archived_at", "created_at", "earlier", "id", "properties", "set_at", "updated_at")

    def __init__(self, record_id: str, properties: dict[str, str], now: str) -> None:
        self.id = record_id
        self.properties = properties
        self.created_at = now
        self.updated_at = now
        self.archived_at: str | None = None
        self.set_at: dict[str, str] | None = None
        self.earlier: dict[str, list[tuple[str, str]]] | None = None

    def assign(self, properties: Mapping[str, str], now: str) -> None:
        """Set ``properties`` at time ``now``, remembering the values they replace."""
        for name, value in properties.items():
            old = self.properties.get(name)
            if old == value:
                continue
            if old is not None:
                earlier = self.earlier if self.earlier is not None else {}
                earlier.setdefault(name, []).append((old, self._set_at(name)))
                self.earlier = earlier
            set_at = self.set_at if self.set_at is not None else {}
            set_at[name] = now
            self.set_at = set_at
        self.properties.update(properties)
        self.updated_at = now

    def _set_at(self, name: str) -> str:
        return (self.set_at or {}).get(name, self.created_at)

    def history(self, name: str) -> list[tuple[str, str]]:
        """``(value, timestamp)`` of ``name``, newest first (empty if never set)."""
        if name not in self.properties:
            return []
        older = (self.earlier or {}).get(name, [])
        return [(self.properties[name], self._set_at(name)), *reversed(older)]

    def to_dict(self, properties: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The ``SimplePublicObject`` shape, with ``properties`` (default: all stored)."""
        props = dict(self.properties if properties is None else properties)
        props[RECORD_ID_PROPERTY] = self.id
        props["hs_createdate"] = self.created_at
        props["hs_lastmodifieddate"] = self.updated_at
        shape: dict[str, Any] = {
            "id": self.id,
            "properties": props,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "archived": self.archived_at is not None,
        }
        if self.archived_at is not None:
            shape["archivedAt"] = self.archived_at
        return shape


class TypeStore:
    """The records of one object type, with lazily built unique-property indexes.

    Values of the ``folded`` properties are indexed and looked up by ``key``: stripped and
    lowercased.
    """

    def __init__(self, folded: frozenset[str] = frozenset()) -> None:
        self.records: dict[str, Record] = {}
        self.archived: dict[str, Record] = {}
        self.folded = folded
        self._indexes: dict[str, dict[str, str]] = {}

    def key(self, prop: str, value: str) -> str:
        """How ``value`` of ``prop`` is compared: folded for the ``folded`` properties."""
        return value.strip().lower() if prop in self.folded else value

    def owner(self, prop: str, value: str) -> str | None:
        """The id of the record whose ``prop`` is ``value`` (by ``key``), if any."""
        return self._index(prop).get(self.key(prop, value))

    def _index(self, prop: str) -> dict[str, str]:
        index = self._indexes.get(prop)
        if index is None:
            index = {}
            for record in self.records.values():
                value = record.properties.get(prop)
                if value:
                    index[self.key(prop, value)] = record.id
            self._indexes[prop] = index
        return index

    def find(self, key: str, id_property: str | None = None) -> Record | None:
        """The record whose id (or unique ``id_property`` value) is ``key``."""
        if id_property is None or id_property == RECORD_ID_PROPERTY:
            return self.records.get(key)
        record_id = self.owner(id_property, key)
        return None if record_id is None else self.records.get(record_id)

    def insert(self, record: Record) -> None:
        self.records[record.id] = record
        for prop, index in self._indexes.items():
            value = record.properties.get(prop)
            if value:
                index[self.key(prop, value)] = record.id

    def write(self, record: Record, properties: Mapping[str, str], now: str) -> None:
        """Set ``properties`` on ``record``, keeping the indexes right."""
        for prop, value in properties.items():
            index = self._indexes.get(prop)
            if index is not None:
                old = record.properties.get(prop)
                if old and index.get(self.key(prop, old)) == record.id:
                    del index[self.key(prop, old)]
                if value:
                    index[self.key(prop, value)] = record.id
        record.assign(properties, now)

    def delete(self, record: Record) -> None:
        """Forget ``record`` (live or archived) and free its unique values."""
        self.records.pop(record.id, None)
        self.archived.pop(record.id, None)
        for prop, index in self._indexes.items():
            value = record.properties.get(prop)
            if value and index.get(self.key(prop, value)) == record.id:
                del index[self.key(prop, value)]

    def archive(self, record: Record, now: str) -> None:
        """Move ``record`` to the archived ones: it frees its unique values and is found only
        by ``find_archived`` (a batch read with ``?archived=true``)."""
        self.delete(record)
        record.archived_at = now
        self.archived[record.id] = record

    def find_archived(self, key: str, id_property: str | None = None) -> Record | None:
        """The archived record whose id (or ``id_property`` value) is ``key``.

        Archived records are few and rarely read: a unique value is looked up by a scan.
        """
        if id_property is None or id_property == RECORD_ID_PROPERTY:
            return self.archived.get(key)
        wanted = self.key(id_property, key)
        for record in self.archived.values():
            value = record.properties.get(id_property)
            if value and self.key(id_property, value) == wanted:
                return record
        return None


class Store:
    """All object types' records, and the record id counter.

    ``folded`` names, per canonical type, the properties compared without case or spaces.
    """

    def __init__(self, folded: Mapping[str, frozenset[str]] | None = None) -> None:
        self._types: dict[str, TypeStore] = {}
        self._folded = dict(folded or {})
        self._next_id = 1

    def of(self, object_type: str) -> TypeStore:
        key = canonical_type(object_type)
        store = self._types.get(key)
        if store is None:
            store = self._types[key] = TypeStore(self._folded.get(key, frozenset()))
        return store

    def create(self, object_type: str, properties: dict[str, str], now: datetime) -> Record:
        record = Record(str(self._next_id), properties, format_datetime(now))
        self._next_id += 1
        self.of(object_type).insert(record)
        return record

    def clear(self) -> None:
        self._types.clear()
        self._next_id = 1
