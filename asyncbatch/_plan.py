"""Pure planning: validate records, convert property values, coalesce duplicates, cut chunks.

No I/O, no event loop, no clock. Everything wrong with an argument or a record is raised here
as ``InvalidInputError`` naming the record's position, before any request is sent.
"""

from __future__ import annotations

import re
from collections.abc import (
    AsyncIterable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
    Sized,
)
from itertools import chain, repeat
from typing import Any, Generic, Literal, NamedTuple, TypeVar, cast

import attrs

from ._exceptions import InvalidInputError
from ._models import BatchInput
from ._operations import OperationSpec, operation_spec
from ._steps import STEP, Steps, run_steps
from ._values import check_text, convert_value, integer_text

__all__ = [
    "MAX_CHUNK_SIZE",
    "Chunk",
    "Fields",
    "Key",
    "Operation",
    "Plan",
    "PlannedInput",
    "StreamPlanner",
    "check_records_argument",
    "coalesce_named",
    "convert_value",
    "cut_chunks",
    "fields_of",
    "loose_key",
    "make_key",
    "may_share_a_record",
    "plan_chunks",
    "plan_steps",
    "record_key",
    "validate_chunk_size",
    "validate_id_property",
    "validate_object_type",
]

#: The names of the operations the client speaks (see ``_operations.OPERATIONS``).
Operation = Literal["update", "upsert"]

#: HubSpot refuses a batch request of more than 100 inputs.
MAX_CHUNK_SIZE = 100

_RECORD_KEYS = frozenset({"id", "properties", "idProperty", "objectWriteTraceId"})
# Object types are names (contacts, goal_targets) or type ids (0-410, 2-123456); the value goes
# into the URL path, so nothing else is allowed through.
_OBJECT_TYPE = re.compile(r"[A-Za-z0-9_-]{1,100}")


@attrs.define
class PlannedInput:
    """One distinct record to send. Not to be changed once built (not frozen only because a
    frozen class costs three times as much to build, and one is built per record twice: to
    send, and to merge its answer).

    Attributes:
        index: its place among the call's distinct records (the order of ``results``).
        positions: the caller's positions that name this record (more than one if coalesced).
        input: the record as sent: string properties and an ``objectWriteTraceId``.
        trace_assigned: True when the client made up the trace id (the caller gave none).
    """

    index: int
    positions: tuple[int, ...]
    input: BatchInput
    trace_assigned: bool = True


class Fields(NamedTuple):
    """What a request sends of each of its inputs, a column per field: the ids ("" for a
    record to create), properties, id properties and trace ids."""

    ids: Sequence[str]
    properties: Sequence[Mapping[str, str]]
    id_properties: Sequence[str | None]
    traces: Sequence[str | None]


def fields_of(inputs: Sequence[BatchInput]) -> Fields:
    """The columns of ``inputs``."""
    return Fields(
        [item.id for item in inputs],
        [item.properties for item in inputs],
        [item.id_property for item in inputs],
        [item.object_write_trace_id for item in inputs],
    )


class Chunk:
    """At most ``chunk_size`` planned inputs that go out in one request.

    A chunk that a ``Plan`` cut is its records' indexes in the plan: it gives what they send
    (``fields``) from the plan's lists, and builds their objects (``items``) only when
    asked for (a failure to report, a value to convert), and ``shed`` lets those go. The
    objects of the chunks in flight are what the garbage collector's young collections find
    alive and promote towards its full collections, which stall the event loop (issue 16);
    built for every chunk, they were a third of the client's planning CPU (issue 19).
    """

    __slots__ = ("_fields", "_items", "_source", "indexes", "number", "size")

    def __init__(
        self,
        number: int,
        items: tuple[PlannedInput, ...] | None = None,
        *,
        source: Plan | None = None,
        indexes: Sequence[int] | None = None,
    ) -> None:
        if (items is None) == (source is None or indexes is None):
            raise TypeError("a chunk takes its items, or the plan and indexes that give them")
        self.number = number
        self._items = items
        self._source = source
        self._fields: Fields | None = None
        #: the indexes of its items in the ``Plan`` that cut it, in order (None: not cut by one)
        self.indexes = indexes
        #: how many items it has (known without building them)
        self.size = len(items) if items is not None else len(indexes or ())

    @property
    def items(self) -> tuple[PlannedInput, ...]:
        """The planned inputs (built now if they were not, or were shed)."""
        items = self._items
        if items is None:
            assert self._source is not None and self.indexes is not None
            items = self._items = tuple(map(self._source.item, self.indexes))
        return items

    def fields(self) -> Fields:
        """What the request sends of each item, without building the items (made once)."""
        fields = self._fields
        if fields is None:
            if self._source is not None and self.indexes is not None:
                fields = self._source.fields(self.indexes)
            else:
                fields = fields_of([item.input for item in self.items])
            self._fields = fields
        return fields

    def shed(self) -> None:
        """Let the items go until they are next asked for, if they can be built again (the
        fields stay, for the merge: a few lists and the trace ids)."""
        if self._source is not None:
            self._items = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Chunk):
            return NotImplemented
        return self.number == other.number and self.items == other.items

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Chunk(number={self.number!r}, items={self.items!r})"


class Plan:
    """What one call will send: every record validated, converted and coalesced, and cut
    into chunks. The objects of a chunk (``PlannedInput``, ``BatchInput``) are built when the
    chunk is asked for (``chunk(n)``): a call holds compact lists until it sends, and each
    chunk's objects die young once it is merged (issue 19: they fed the garbage collector).

    Attributes:
        inputs: the caller's records.
        coalesced: records merged into an earlier one naming the same record.
        records: distinct records (``inputs - coalesced``), indexed 0.. in input order.
        chunk_count: chunks to send.
        id_properties: the distinct id properties the records are keyed by (None: ids).
    """

    def __init__(
        self,
        distinct: _Distinct,
        members: list[range] | list[list[int]],
        *,
        trace_prefix: str,
        inputs: int,
    ) -> None:
        self._distinct = distinct
        self._members = members
        self._trace_prefix = trace_prefix
        self.inputs = inputs
        self.records = distinct.count
        self.coalesced = inputs - self.records
        self.chunk_count = len(members)
        self.id_properties = frozenset(distinct.seen_idps)

    def item(self, index: int) -> PlannedInput:
        """The distinct record ``index``, built now."""
        d = self._distinct
        key = (d.idps[index], d.ids[index])
        positions = self.positions(index)
        props = d.props[index]
        if props is _FORGOTTEN:
            props = {}
        return _planned(index, key, positions, props, d.traces[index], self._trace_prefix)

    def wheres(self, indexes: Sequence[int]) -> list[int | tuple[int, ...]]:
        """The caller's positions of each of the distinct records ``indexes``: one position
        as itself (no tuple made), several as ``positions`` gives them."""
        d = self._distinct
        if not d.later:  # nothing was coalesced: every record has one position
            return cast(list[int | tuple[int, ...]], d.first.gather(indexes))
        return [self.positions(index) if index in d.later else d.first[index] for index in indexes]

    def positions(self, index: int) -> tuple[int, ...]:
        """The caller's positions that name the distinct record ``index``."""
        d = self._distinct
        later = d.later.get(index)
        return (d.first[index], *later) if later else (d.first[index],)

    def chunk(self, number: int) -> Chunk:
        """Chunk ``number`` (0..``chunk_count``-1), its objects built when asked for."""
        return Chunk(number, source=self, indexes=self._members[number])

    def fields(self, indexes: Sequence[int]) -> Fields:
        """What the distinct records ``indexes`` send (``Chunk.fields``)."""
        d = self._distinct
        if type(indexes) is range and indexes.step == 1:
            start, stop = indexes.start, indexes.stop
            ids, props = d.ids.span(start, stop), d.props.span(start, stop)
            idps, traces = d.idps.span(start, stop), d.traces.span(start, stop)
        else:
            ids, props = d.ids.gather(indexes), d.props.gather(indexes)
            idps, traces = d.idps.gather(indexes), d.traces.gather(indexes)
        sent = list(map(sent_trace, traces, repeat(self._trace_prefix), indexes))
        return Fields(ids, props, idps, sent)

    @property
    def items(self) -> tuple[PlannedInput, ...]:
        """Every distinct record, in input order (built now: for tests and small calls)."""
        return tuple(map(self.item, range(self.records)))

    @property
    def chunks(self) -> tuple[Chunk, ...]:
        """Every chunk, in order (built now: for tests and small calls)."""
        return tuple(map(self.chunk, range(self.chunk_count)))

    def forget(self, indexes: Sequence[int]) -> None:
        """Drop the property dicts of the distinct records ``indexes`` (merged: nothing will
        send or report them again); ``item`` then gives them none."""
        props = self._distinct.props
        if type(indexes) is range and indexes.step == 1:
            props.fill(indexes.start, indexes.stop, _FORGOTTEN)
        else:
            for index in indexes:
                props[index] = _FORGOTTEN

    def release(self) -> list[list[Any]]:
        """Hand over the plan's large lists (emptied here) for the caller to free a slice at
        a time; the plan is unusable afterwards."""
        d = self._distinct
        columns: tuple[_Column[Any], ...] = (d.props, d.ids, d.idps, d.first, d.traces)
        lists: list[list[Any]] = [page for column in columns for page in column.pages]
        lists.append(self._members)
        self._distinct = _Distinct()
        self._members = []
        return lists


#: The property dicts of records merged (``Plan.forget``): one shared empty dict, never
#: handed out (``Plan.item`` gives a record forgotten a fresh one).
_FORGOTTEN: dict[str, str] = {}


T = TypeVar("T")

#: Records per page of a plan's column (``_Column``): 2 ** _PAGE_BITS.
_PAGE_BITS = 12
_PAGE = 1 << _PAGE_BITS
_IN_PAGE = _PAGE - 1


class _Column(Generic[T]):
    """One field of every distinct record of a call, in pages of ``_PAGE``. One list grown
    by appending to a million reallocates at CPython's growth points, each time copying up
    to 8 MB into fresh memory: with the five columns growing in step, single 32-record
    steps of planning took 4-12 ms at 365,841, 411,577, ... 938,737 records (the growth
    points, measured), holding the loop. ``_coalesce`` appends to the last page itself."""

    __slots__ = ("pages",)

    def __init__(self) -> None:
        self.pages: list[list[T]] = []

    def __getitem__(self, index: int) -> T:
        return self.pages[index >> _PAGE_BITS][index & _IN_PAGE]

    def __setitem__(self, index: int, value: T) -> None:
        self.pages[index >> _PAGE_BITS][index & _IN_PAGE] = value

    def __iter__(self) -> Iterator[T]:
        return chain.from_iterable(self.pages)

    def span(self, start: int, stop: int) -> list[T]:
        """Items ``start`` to ``stop - 1`` (``stop > start``), as one list."""
        first, last = start >> _PAGE_BITS, (stop - 1) >> _PAGE_BITS
        if first == last:
            return self.pages[first][start & _IN_PAGE : ((stop - 1) & _IN_PAGE) + 1]
        items = self.pages[first][start & _IN_PAGE :]
        for number in range(first + 1, last):
            items += self.pages[number]
        items += self.pages[last][: ((stop - 1) & _IN_PAGE) + 1]
        return items

    def gather(self, indexes: Sequence[int]) -> list[T]:
        """The items at ``indexes``, in that order (a chunk's: on one page, as a rule)."""
        if not indexes:
            return []
        number = min(indexes) >> _PAGE_BITS
        if max(indexes) >> _PAGE_BITS != number:
            return [self[index] for index in indexes]
        page, base = self.pages[number], number << _PAGE_BITS
        if not base:
            return list(map(page.__getitem__, indexes))
        return [page[index - base] for index in indexes]

    def fill(self, start: int, stop: int, value: T) -> None:
        """Set items ``start`` to ``stop - 1`` to ``value``."""
        while start < stop:
            page = self.pages[start >> _PAGE_BITS]
            at = start & _IN_PAGE
            end = min(_PAGE, at + stop - start)
            page[at:end] = [value] * (end - at)
            start += end - at


class _Distinct:
    """The distinct records of a call in parallel columns rather than one object each:
    fewer live objects, less work for the cyclic GC."""

    __slots__ = ("count", "first", "idps", "ids", "later", "props", "seen_idps", "traces")

    def __init__(self) -> None:
        self.count = 0
        self.ids: _Column[str] = _Column()  # as the first record spelt it
        self.idps: _Column[str | None] = _Column()
        self.first: _Column[int] = _Column()
        self.props: _Column[dict[str, str]] = _Column()  # _FORGOTTEN once merged
        self.traces: _Column[str | None] = _Column()
        self.later: dict[int, list[int]] = {}  # positions of coalesced duplicates, by index
        self.seen_idps: set[str | None] = set()  # the distinct values of ``idps``

    def new_pages(
        self,
    ) -> tuple[list[str], list[str | None], list[int], list[dict[str, str]], list[str | None]]:
        """A fresh page at the end of each column (for ``_coalesce`` to append to)."""
        ids: list[str] = []
        idps: list[str | None] = []
        first: list[int] = []
        props: list[dict[str, str]] = []
        traces: list[str | None] = []
        self.ids.pages.append(ids)
        self.idps.pages.append(idps)
        self.first.pages.append(first)
        self.props.pages.append(props)
        self.traces.pages.append(traces)
        return ids, idps, first, props, traces


def validate_chunk_size(chunk_size: object) -> int:
    """Return ``chunk_size`` if it is an int in 1..100, else raise ``InvalidInputError``."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise InvalidInputError(
            f"chunk_size must be an int from 1 to {MAX_CHUNK_SIZE}, got {chunk_size!r}"
        )
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise InvalidInputError(
            f"chunk_size must be from 1 to {MAX_CHUNK_SIZE} (HubSpot's batch limit), "
            f"got {chunk_size}"
        )
    return chunk_size


def check_records_argument(records: object) -> None:
    """Refuse what cannot be records: None or another non-iterable (which would fail later as
    a bare TypeError), and a string, bytes or a single mapping (each would iterate as
    something other than records). Async iterables pass (the streaming calls take them)."""
    if isinstance(records, str | bytes | Mapping) or not isinstance(
        records, Iterable | AsyncIterable
    ):
        raise InvalidInputError(
            f"records must be an iterable of records, got {type(records).__name__}"
        )


def validate_id_property(id_property: object) -> str:
    """Return the call's ``id_property`` if it is a non-empty string, else raise."""
    if not isinstance(id_property, str) or not id_property.strip():
        raise InvalidInputError(
            f"id_property must be a property name (a non-empty string), got {id_property!r}"
        )
    return id_property


def validate_object_type(object_type: object) -> str:
    """Return ``object_type`` if it is a HubSpot object type name or id, else raise."""
    if not isinstance(object_type, str) or not _OBJECT_TYPE.fullmatch(object_type):
        raise InvalidInputError(
            "object_type must be a HubSpot object type name or id such as 'contacts', "
            f"'goal_targets' or '0-410', got {object_type!r}"
        )
    return object_type


def _text(value: object, *, position: int, field: str, what: str) -> str:
    # Ids, idProperty and trace ids: text, or an integer taken by value (numpy's too).
    if isinstance(value, str):
        if not value.strip():
            raise InvalidInputError(f"{what} must not be empty", position=position, field=field)
        text = value if type(value) is str else str.__str__(value)
        return check_text(text, position=position, field=field, what=what)
    digits = integer_text(value, position=position, field=field)
    if digits is None:
        raise InvalidInputError(
            f"{what} must be a string, got {type(value).__name__}", position=position, field=field
        )
    return digits


_Parts = tuple[str, dict[str, str], str | None, str | None]


def _convert_properties(raw_props: object, position: int) -> dict[str, str]:
    if type(raw_props) is dict:
        # The common case, all names and values already strings: one copy, one type check each.
        # Text that UTF-8 cannot carry (a lone surrogate) takes the slow path, which names it:
        # isascii() reads a flag CPython keeps, so ASCII costs no scan, and for the rest
        # encode() in C is cheaper than a regex (measured in issue 12).
        properties: dict[str, str] = raw_props.copy()
        for name, value in properties.items():
            if type(value) is not str or type(name) is not str or not name or not name.isascii():
                break
            if not value.isascii():
                try:
                    value.encode()
                except UnicodeEncodeError:
                    break
        else:
            return properties
    elif not isinstance(raw_props, Mapping):
        raise InvalidInputError(
            f"properties must be a mapping, got {type(raw_props).__name__}",
            position=position,
            field="properties",
        )
    properties = {}
    for name, value in raw_props.items():
        if not isinstance(name, str) or not name:
            raise InvalidInputError(
                f"property names must be non-empty strings, got {name!r}", position=position
            )
        name = check_text(
            name if type(name) is str else str.__str__(name),
            position=position,
            field=name,
            what="the property name",
        )
        properties[name] = convert_value(value, position=position, name=name)
    return properties


# The key of a record to create: each is its own, never coalesced with another.
_NEW = "\0new"
_NEW_KEYS = frozenset({"properties", "objectWriteTraceId"})
_ID_KEYS = frozenset({"id", "idProperty"})


def _normalize_other(
    record: object, position: int, operation: OperationSpec, id_property: str | None
) -> _Parts:
    """A record to create (properties, no id) or an id to read or archive."""
    if operation.shape == "new":
        if not isinstance(record, Mapping) or not record.keys() <= _NEW_KEYS:
            raise InvalidInputError(
                "a record to create is a dict with 'properties' and optionally "
                "'objectWriteTraceId' (no 'id': HubSpot assigns it)",
                position=position,
            )
        if "properties" not in record:
            raise InvalidInputError("missing 'properties'", position=position, field="properties")
        properties = _convert_properties(record["properties"], position)
        raw_trace = record.get("objectWriteTraceId")
        trace = (
            None
            if raw_trace is None
            else _text(
                raw_trace, position=position, field="objectWriteTraceId", what="objectWriteTraceId"
            )
        )
        return "", properties, None, trace
    raw_idp: object = None
    raw_id: object = record
    if isinstance(record, Mapping):
        if not record.keys() <= _ID_KEYS or "id" not in record:
            raise InvalidInputError(
                f"{operation.name} takes ids: a string, or a dict with 'id' and optionally "
                "'idProperty'",
                position=position,
            )
        raw_id, raw_idp = record["id"], record.get("idProperty")
    record_id = _text(raw_id, position=position, field="id", what="id")
    idp = id_property if raw_idp is None else raw_idp
    if idp is not None:
        idp = _text(idp, position=position, field="idProperty", what="idProperty")
    return record_id, {}, idp, None


def _normalize(
    record: object, position: int, operation: OperationSpec, id_property: str | None
) -> _Parts:
    # Validate and convert one record without building a BatchInput: planning builds one per
    # distinct record, once its trace id is known.
    if operation.shape != "record":
        return _normalize_other(record, position, operation, id_property)
    if type(record) is not dict and isinstance(record, BatchInput):
        raw_id: object = record.id
        raw_props: object = record.properties
        raw_idp: object = record.id_property
        raw_trace: object = record.object_write_trace_id
    elif type(record) is dict or isinstance(record, Mapping):  # a dict: no ABC check
        if not record.keys() <= _RECORD_KEYS:
            unknown = set(record) - _RECORD_KEYS
            raise InvalidInputError(
                f"unknown key(s) {sorted(map(str, unknown))}; a record has "
                "'id', 'properties' and optionally 'idProperty', 'objectWriteTraceId'",
                position=position,
            )
        if "id" not in record:
            raise InvalidInputError("missing 'id'", position=position, field="id")
        if "properties" not in record:
            raise InvalidInputError("missing 'properties'", position=position, field="properties")
        raw_id = record["id"]
        raw_props = record["properties"]
        raw_idp = record.get("idProperty")
        raw_trace = record.get("objectWriteTraceId")
    else:
        raise InvalidInputError(
            f"a record must be a dict or asyncbatch.BatchInput, got {type(record).__name__}",
            position=position,
        )
    if type(raw_id) is str and raw_id.isascii() and raw_id and not raw_id.isspace():
        record_id = raw_id
    else:
        record_id = _text(raw_id, position=position, field="id", what="id")
    properties = _convert_properties(raw_props, position)
    idp = id_property if raw_idp is None else raw_idp
    if idp is not None:
        if type(idp) is not str or not idp.isascii() or not idp or idp.isspace():
            idp = _text(idp, position=position, field="idProperty", what="idProperty")
    elif operation.needs_id_property:
        raise InvalidInputError(
            f"{operation.name} needs an id property: pass id_property=... or give the record "
            "'idProperty'",
            position=position,
            field="idProperty",
        )
    trace = None
    if raw_trace is not None:
        trace = _text(
            raw_trace, position=position, field="objectWriteTraceId", what="objectWriteTraceId"
        )
    return record_id, properties, idp, trace


Key = tuple[str | None, str]


def make_key(id_property: str | None, record_id: str) -> Key:
    """The identity of the record ``(id_property, record_id)`` names, as HubSpot compares it:
    e-mail addresses without regard to case or surrounding space (``A@x.com`` and
    ``a@x.com `` are one contact), every other key exactly."""
    if id_property == "email":
        return (id_property, record_id.strip().casefold())
    return (id_property, record_id)


def record_key(item: BatchInput) -> Key:
    """The identity of the record an input names (see ``make_key``); a record to create is
    its own (by its trace id)."""
    if not item.id:
        return (_NEW, item.object_write_trace_id or "")
    return make_key(item.id_property, item.id)


def sent_trace(trace: str | None, trace_prefix: str, index: int) -> str:
    """The ``objectWriteTraceId`` a distinct record is sent with: the caller's, or one the
    client makes up from the call's prefix and the record's index (what the merge matches)."""
    return f"{trace_prefix}-{index}" if trace is None else trace


def _planned(
    index: int,
    key: Key,
    positions: tuple[int, ...],
    properties: dict[str, str],
    trace: str | None,
    trace_prefix: str,
) -> PlannedInput:
    # Positional: attrs' frozen __init__ costs half as much again with keywords.
    item = BatchInput(key[1], properties, key[0], sent_trace(trace, trace_prefix, index))
    return PlannedInput(index, positions, item, trace is None)


class _Pending:
    """One distinct record while a stream's chunk fills: where it was given, its properties."""

    __slots__ = ("positions", "properties", "record_id", "trace")

    def __init__(
        self, record_id: str, position: int, properties: dict[str, str], trace: str | None
    ) -> None:
        self.record_id = record_id  # as the first record spelt it
        self.positions = [position]
        self.properties = properties  # a fresh dict of the planner's own: merged in place
        self.trace = trace

    def absorb(self, position: int, properties: dict[str, str], trace: str | None) -> None:
        # HubSpot rejects a request naming one record twice, so later properties are merged
        # over earlier ones, as sequential writes would leave them.
        self.positions.append(position)
        self.properties.update(properties)
        if trace is not None:
            self.trace = trace

    def planned(self, index: int, id_property: str | None, trace_prefix: str) -> PlannedInput:
        key = (id_property, self.record_id)
        return _planned(
            index, key, tuple(self.positions), self.properties, self.trace, trace_prefix
        )


def _coalesce(
    records: Iterable[object],
    *,
    operation: OperationSpec,
    id_property: str | None,
) -> Steps[tuple[_Distinct, int]]:
    distinct = _Distinct()
    # Keyed by the id itself where the record uses the call's id property (no tuple per
    # record: fewer objects for the GC); a record to create by its position. In shards: one
    # dict grown to a million keys rehashes them all in one go (~30 ms holding the loop).
    count_shards = _SHARDS if not isinstance(records, Sized) or len(records) > _ONE_SHARD else 1
    shards: list[dict[object, int]] = [{} for _ in range(count_shards)]
    ids: list[str] = []
    idps: list[str | None] = []
    first: list[int] = []
    props: list[dict[str, str]] = []
    traces: list[str | None] = []
    later, seen_idps = distinct.later, distinct.seen_idps
    total = 0  # distinct records so far
    count = 0
    for position, record in enumerate(records):
        count += 1
        if not count % STEP:
            yield
        record_id, properties, idp, trace = _normalize(record, position, operation, id_property)
        key: object = position
        if record_id:
            key = record_id.strip().casefold() if idp == "email" else record_id
            if idp != id_property:
                key = (idp, key)
        index = shards[hash(key) % count_shards].setdefault(key, total)
        if index == total:
            if not total & _IN_PAGE:
                ids, idps, first, props, traces = distinct.new_pages()
            total += 1
            ids.append(record_id)
            idps.append(idp)
            seen_idps.add(idp)
            first.append(position)
            props.append(properties)
            traces.append(trace)
        else:
            # HubSpot rejects a request naming one record twice, so later properties are
            # merged over earlier ones, as sequential writes would leave them.
            later.setdefault(index, []).append(position)
            distinct.props[index].update(properties)  # a fresh dict of the planner's own
            if trace is not None:
                distinct.traces[index] = trace
    distinct.count = total
    freed = 0
    while shards:  # in steps: freeing a million keys at once holds the loop too
        freed += len(shards.pop())
        if freed >= _FREE_STEP:
            freed = 0
            yield
    return distinct, count


#: Dicts the coalescing index is split into (see ``_coalesce``).
_SHARDS = 256
#: Inputs of known size up to this many records are coalesced in one dict (a call of one
#: record made 256 dicts and freed them in 256 steps).
_ONE_SHARD = 8_192
#: Keys of the coalescing index freed between two steps (two shards of a million-record
#: index: 0.3 ms, measured).
_FREE_STEP = 4_096


def _members(distinct: _Distinct, chunk_size: int) -> Steps[list[range] | list[list[int]]]:
    """The indexes of each chunk: ranges when the records are keyed one way; else as
    ``cut_chunks`` cuts them (records keyed different ways never share a chunk)."""
    total = distinct.count
    if len(distinct.seen_idps) <= 1:
        ranges: list[range] = []
        for start in range(0, total, chunk_size):
            ranges.append(range(start, min(start + chunk_size, total)))
            if not len(ranges) % STEP:
                yield  # 10,000 ranges for a million records: ~4 ms at once
        return ranges
    members: list[list[int]] = []
    open_chunks: dict[str | None, list[int]] = {}
    for index, idp in enumerate(distinct.idps):
        if not (index + 1) % STEP:
            yield
        bucket = open_chunks.setdefault(idp, [])
        bucket.append(index)
        if len(bucket) == chunk_size:
            members.append(bucket.copy())
            bucket.clear()
    members.extend(bucket for bucket in open_chunks.values() if bucket)
    return members


class StreamPlanner:
    """Incremental planning for streams: feed records one at a time, get chunks as they fill.

    Duplicates are coalesced within the chunk being filled; a record already sent in an
    earlier chunk is planned again (the orchestrator sends the later chunk only after the
    earlier one has finished, so later properties still win). Holds at most ``chunk_size``
    records per id property. Pure: no I/O.
    """

    def __init__(
        self,
        *,
        operation: str | OperationSpec,
        id_property: str | None,
        chunk_size: int,
        trace_prefix: str,
    ) -> None:
        self._operation = operation_spec(operation)
        self._id_property = id_property
        self._chunk_size = validate_chunk_size(chunk_size)
        self._trace_prefix = trace_prefix
        self._open: dict[str | None, dict[Key, _Pending]] = {}
        self._next_index = 0
        self._next_chunk = 0
        self.read = 0
        self.coalesced = 0

    def feed(self, record: object, position: int) -> Chunk | None:
        """Plan one record; return a chunk when this record filled one.

        Raises:
            InvalidInputError: the record is bad (naming ``position``).
        """
        record_id, properties, idp, trace = _normalize(
            record, position, self._operation, self._id_property
        )
        self.read += 1
        bucket = self._open.setdefault(idp, {})
        key = make_key(idp, record_id) if record_id else (_NEW, str(position))
        earlier = bucket.get(key)
        if earlier is not None:
            earlier.absorb(position, properties, trace)
            self.coalesced += 1
            return None
        bucket[key] = _Pending(record_id, position, properties, trace)
        if len(bucket) >= self._chunk_size:
            return self._close(idp)
        return None

    def flush(self) -> list[Chunk]:
        """Every partly filled chunk, in the order their first records came."""
        return [self._close(id_property) for id_property in list(self._open)]

    def _close(self, id_property: str | None) -> Chunk:
        bucket = self._open.pop(id_property)
        items = []
        for pending in bucket.values():
            items.append(pending.planned(self._next_index, id_property, self._trace_prefix))
            self._next_index += 1
        chunk = Chunk(number=self._next_chunk, items=tuple(items))
        self._next_chunk += 1
        return chunk


def cut_chunks(
    items: Iterable[PlannedInput], chunk_size: int, *, first_number: int = 0
) -> Iterator[Chunk]:
    """Cut planned inputs into chunks of at most ``chunk_size``, in order.

    Inputs with different ``idProperty`` never share a chunk, so each request names records one
    way only.
    """
    open_chunks: dict[str | None, list[PlannedInput]] = {}
    number = first_number
    for item in items:
        bucket = open_chunks.setdefault(item.input.id_property, [])
        bucket.append(item)
        if len(bucket) == chunk_size:
            yield Chunk(number=number, items=tuple(bucket))
            number += 1
            bucket.clear()
    for bucket in open_chunks.values():
        if bucket:
            yield Chunk(number=number, items=tuple(bucket))
            number += 1


def loose_key(item: BatchInput) -> Key:
    """The record identity as HubSpot may compare it: case and surrounding space ignored
    (it treats ``A@x.com`` and ``a@x.com`` as one contact)."""
    return (item.id_property, item.id.strip().casefold())


def may_share_a_record(chunks: Iterable[Chunk]) -> bool:
    """Whether two of ``chunks`` may name one record (by ``loose_key``): then they must be
    sent one after the other, in order."""
    seen: set[Key] = set()
    for chunk in chunks:
        keys = {loose_key(item.input) for item in chunk.items}
        if keys & seen:
            return True
        seen |= keys
    return False


def coalesce_named(chunk: Chunk, ids: Iterable[str]) -> tuple[Chunk, tuple[int, ...]] | None:
    """Merge the items of ``chunk`` that HubSpot called duplicates (``ids``, compared by
    ``loose_key``) into the first of each group, later properties winning, positions joined.

    Returns the new chunk and the indexes of the items merged away, or None when no two items
    of the chunk are named as one.
    """
    named = {value.strip().casefold() for value in ids}
    groups: dict[Key, list[PlannedInput]] = {}
    for item in chunk.items:
        key = loose_key(item.input)
        if key[1] in named:
            groups.setdefault(key, []).append(item)
    merged = {id(group[0]): group for group in groups.values() if len(group) > 1}
    if not merged:
        return None
    absorbed = tuple(item.index for group in merged.values() for item in group[1:])
    gone = set(absorbed)
    items = []
    for item in chunk.items:
        if item.index in gone:
            continue
        group = merged.get(id(item))
        items.append(item if group is None else _merged(group))
    return Chunk(number=chunk.number, items=tuple(items)), absorbed


def _merged(group: list[PlannedInput]) -> PlannedInput:
    properties: dict[str, str] = {}
    for item in group:
        properties.update(item.input.properties)
    first = group[0]
    positions = tuple(sorted(p for item in group for p in item.positions))
    return attrs.evolve(
        first, positions=positions, input=attrs.evolve(first.input, properties=properties)
    )


def plan_chunks(
    records: Iterable[object],
    *,
    operation: str | OperationSpec,
    id_property: str | None = None,
    chunk_size: int = MAX_CHUNK_SIZE,
    trace_prefix: str = "ab",
) -> Plan:
    """Validate, convert and coalesce ``records``, then cut them into chunks.

    Args:
        records: dicts in HubSpot's input shape or ``BatchInput`` objects.
        operation: an ``OperationSpec`` or its name (``"update"``, ``"upsert"``); its
            ``needs_id_property`` says whether every record needs an id property.
        id_property: the call's id property, used by records that name none.
        chunk_size: at most this many inputs per chunk, 1..100.
        trace_prefix: prefix of the ``objectWriteTraceId`` assigned to inputs that have none.

    Raises:
        InvalidInputError: naming the first bad record's position and the problem.
    """
    return run_steps(
        plan_steps(
            records,
            operation=operation,
            id_property=id_property,
            chunk_size=chunk_size,
            trace_prefix=trace_prefix,
        )
    )


def plan_steps(
    records: Iterable[object],
    *,
    operation: str | OperationSpec,
    id_property: str | None = None,
    chunk_size: int = MAX_CHUNK_SIZE,
    trace_prefix: str = "ab",
) -> Steps[Plan]:
    """``plan_chunks`` as a stepped computation: it yields every few milliseconds of work,
    so that a caller on an event loop can give the loop a turn (``run_steps`` runs it at
    once). Arguments and errors as ``plan_chunks``."""
    validate_chunk_size(chunk_size)
    if id_property is not None:
        validate_id_property(id_property)
    check_records_argument(records)
    distinct, inputs = yield from _coalesce(
        records, operation=operation_spec(operation), id_property=id_property
    )
    members = yield from _members(distinct, chunk_size)
    return Plan(distinct, members, trace_prefix=trace_prefix, inputs=inputs)
