"""Pure merging: chunk outcomes -> one ``BatchResult``, every input accounted for exactly once.
No I/O.

Results are matched to inputs by ``objectWriteTraceId`` first (the client gives every input
one), then by id (or by the ``idProperty`` value among the result's properties). 207 errors are
mapped back through ``context.objectWriteTraceId`` and ``context.ids``. An input that no result
and no error names, or that was never sent, is reported failed with a synthesised error, so
nothing can go missing whatever the server answered.
"""

from __future__ import annotations

import datetime as dt
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import attrs

from ._convert import structure
from ._exceptions import (
    APIError,
    AsyncBatchError,
    LimiterUnavailableError,
    TransportError,
    ValidationError,
)
from ._models import (
    BatchResponse,
    BatchResult,
    Deferred,
    ErrorDetail,
    FailedInput,
    RunStats,
    SimplePublicObject,
    StandardError,
)
from ._plan import Chunk, Fields, Plan, PlannedInput
from ._protocol import compact_property
from ._refusals import allowed_options, refused_value
from ._steps import STEP, Steps, run_steps

__all__ = [
    "CallMerge",
    "ChunkOutcome",
    "ResultStore",
    "merge_outcomes",
    "merge_steps",
    "synthesize_error",
]


@attrs.frozen
class ChunkOutcome:
    """How one chunk (or one part of a split chunk) ended.

    Exactly one of ``response`` (HubSpot answered 200/207) and ``error`` (the chunk failed
    whole, or was never sent) is set.
    """

    chunk: Chunk
    response: BatchResponse | None = None
    error: AsyncBatchError | None = None
    status_code: int | None = None
    sent: bool = True
    #: why the retry rule gave up, when that is worth adding to the error's message
    note: str | None = None
    #: indexes of planned inputs merged into this chunk's items (a duplicate HubSpot saw and
    #: the plan did not): their positions are in the surviving item's ``positions``
    absorbed: tuple[int, ...] = ()
    #: the operation's answer lists what it did (``OperationSpec.answer_lists_results``)
    lists_results: bool = True
    #: the request may have been applied (a create whose answer was lost): not resent
    outcome_unknown: bool = False
    #: HubSpot refused these inputs for their data although this request did not carry them
    #: (a property the call saw refused); None: decided by the error and ``sent``
    final: bool | None = None


def _category(error: AsyncBatchError) -> str:
    if isinstance(error, APIError) and error.category:
        return error.category
    if isinstance(error, TransportError):
        return "TRANSPORT_ERROR"
    if isinstance(error, LimiterUnavailableError):
        return "RATE_LIMITER_UNAVAILABLE"
    return type(error).__name__


def _details(error: AsyncBatchError) -> list[ErrorDetail]:
    # HubSpot's whole-request body carries ``errors[]`` (code, context.propertyName): keep
    # them, so a failed input can say which property and code without parsing words.
    body = error.body if isinstance(error, APIError) else None
    raw = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(raw, list):
        return []
    details = []
    for entry in raw:
        try:
            details.append(structure(entry, ErrorDetail))
        except Exception:  # decoration: an unreadable detail is dropped
            continue
    return details


def synthesize_error(
    items: Sequence[PlannedInput],
    error: AsyncBatchError,
    *,
    sent: bool = True,
    note: str | None = None,
) -> StandardError:
    """A ``StandardError`` naming ``items``, for a chunk that failed whole or was not sent."""
    status = str(error.status) if isinstance(error, APIError) else "error"
    message = str(error) if sent else f"not sent: {error}"
    if note:
        message = f"{message} ({note})"
    return StandardError(
        status=status,
        category=_category(error),
        message=message,
        context={
            "ids": [item.input.id for item in items],
            "objectWriteTraceId": [item.input.object_write_trace_id or "" for item in items],
        },
        errors=_details(error),
    )


def _first_detail(error: StandardError) -> tuple[str | None, str | None, str]:
    """HubSpot's error code, property name and detail message, where its error gave them."""
    code = None
    text = ""
    prop = next(iter(error.context.get("propertyName", ())), None)
    for detail in error.errors:
        code = code or detail.code
        text = text or detail.message
        if prop is None and detail.context:
            prop = next(iter(detail.context.get("propertyName", ())), None)
    return code, prop, text


def _reason(error: StandardError) -> str:
    if not error.category or error.category in error.message:
        return error.message
    return f"{error.category}: {error.message}"


def _unique_traces(items: Sequence[PlannedInput]) -> dict[str, PlannedInput]:
    # A caller may give several records one trace id; such an id names none of them, and
    # those records are matched by id instead.
    seen: dict[str, PlannedInput | None] = {}
    for item in items:
        trace = item.input.object_write_trace_id
        if trace is not None:
            seen[trace] = None if trace in seen else item
    return {trace: item for trace, item in seen.items() if item is not None}


def _fields(entry: Any) -> tuple[str, str | None]:
    """A result's id and trace id: of a built object, or of the answer's JSON object as
    ``_protocol`` checked it (``Deferred``)."""
    if type(entry) is tuple:  # _protocol's compact form: (id, trace, ...)
        return entry[0], entry[1]
    if type(entry) is dict:
        return entry["id"], entry.get("objectWriteTraceId")
    return entry.id, entry.object_write_trace_id


def _property(entry: Any, name: str) -> str | None:
    """The value of a result's property ``name`` (None: absent)."""
    if type(entry) is tuple:
        return compact_property(entry, name)
    if type(entry) is dict:
        return entry["properties"].get(name)  # type: ignore[no-any-return]
    return entry.properties.get(name)  # type: ignore[no-any-return]


def _names_other_record(result_id: str, entry: Any, item: PlannedInput) -> bool:
    return _names_other(result_id, entry, item.input.id, item.input.id_property)


def _names_other(result_id: str, entry: Any, record_id: str, id_property: str | None) -> bool:
    # A result whose trace id says one input and whose key says another is not attributed by
    # the trace id alone: the key is what HubSpot wrote.
    if not record_id:  # a record to create: HubSpot gives it its id
        return False
    if id_property is None:
        return result_id != record_id
    value = _property(entry, id_property)
    if value is None or value == record_id:
        return False
    return value.strip().casefold() != record_id.strip().casefold()


def _matched_by_plan(fields: Fields, entries: Sequence[Any]) -> list[int] | None:
    """The place in its chunk of the record each of an answer's results writes, when they
    are one for one the records that the chunk sent as ``fields`` (in any order): each in
    ``_protocol``'s compact form, naming its record by the trace id it was sent with, its
    key agreeing. The common answer, merged without building the chunk's objects; None: the
    general way (``_match_result``)."""
    if len(entries) != len(fields.traces):
        return None
    expected = dict(zip(fields.traces, range(len(entries)), strict=True))
    if len(expected) != len(entries):  # a caller gave several records one trace id
        return None
    ids, id_properties, pop = fields.ids, fields.id_properties, expected.pop
    matched = []
    for entry in entries:
        if type(entry) is not tuple:
            return None
        at = pop(entry[1], None)
        if at is None:
            return None
        record_id, id_property = ids[at], id_properties[at]
        said = entry[0] if id_property is None else entry[6].get(id_property)
        if said != record_id and _names_other(entry[0], entry, record_id, id_property):
            return None
        matched.append(at)
    return matched


def _match_result(
    entry: Any,
    by_trace: dict[str, PlannedInput],
    by_id: dict[tuple[str | None, str], PlannedInput],
) -> PlannedInput | None:
    result_id, trace = _fields(entry)
    if trace is not None:
        item = by_trace.get(trace)
        if item is not None and not _names_other_record(result_id, entry, item):
            return item
    item = by_id.get((None, result_id))
    if item is not None:
        return item
    for (id_property, value), candidate in by_id.items():
        if id_property is not None and _property(entry, id_property) == value:
            return candidate
    return None


def merge_outcomes(
    items: Sequence[PlannedInput],
    outcomes: Iterable[ChunkOutcome],
    *,
    stats: RunStats,
    started_at: dt.datetime,
    completed_at: dt.datetime,
    stop_error: AsyncBatchError | None = None,
) -> BatchResult:
    """Merge the outcomes of one call's chunks into its ``BatchResult``.

    Args:
        items: every planned input of the call (the distinct records, in input order).
        outcomes: one per chunk or part of a split chunk, in any order.
        stats: the run statistics to attach.
        started_at: when the call started (used when no answer carried a timestamp).
        completed_at: when the call ended (likewise).
        stop_error: what stopped the run early (DAILY limit, authentication), if anything.

    ``status`` is ``COMPLETE`` when every input got a definitive answer from HubSpot: written,
    or refused for its data (a 207 error, or a 4xx whole-request refusal). It is ``CANCELED``
    when some input got none (network failure, retries exhausted, run stopped, not sent).
    """
    return run_steps(
        merge_steps(
            items,
            outcomes,
            stats=stats,
            started_at=started_at,
            completed_at=completed_at,
            stop_error=stop_error,
        )
    )


def merge_steps(
    items: Sequence[PlannedInput],
    outcomes: Iterable[ChunkOutcome],
    *,
    stats: RunStats,
    started_at: dt.datetime,
    completed_at: dt.datetime,
    stop_error: AsyncBatchError | None = None,
) -> Steps[BatchResult]:
    """``merge_outcomes`` as a stepped computation: it yields every few milliseconds of work,
    so that a caller on an event loop can give the loop a turn."""
    merger = _Merger(stop_error)
    for count, outcome in enumerate(outcomes, 1):
        if not count % 16:  # 16 chunks: at most 1,600 inputs
            yield
        merger.add(outcome)
    by_index = {item.index: item for item in items}
    indexes = [item.index for item in items]
    yield from merger.add_unsent(indexes, by_index.__getitem__)
    return (
        yield from merger.result(
            indexes, stats=stats, started_at=started_at, completed_at=completed_at
        )
    )


class CallMerge:
    """One list call's merge, fed each chunk's outcomes as the chunk ends (so its objects
    can go), finished once the call is: the answer for the records of ``plan``."""

    def __init__(self, plan: Plan, store: ResultStore | None = None) -> None:
        self._records = plan.records
        self._item = plan.item
        self._plan: Plan | None = plan
        self._merger = _Merger(None, plan, store)
        self._unsent = False
        self._errors: list[AsyncBatchError] = []

    def add(self, outcomes: Iterable[ChunkOutcome], stop_now: AsyncBatchError | None) -> None:
        """Merge one chunk's outcomes; ``stop_now`` is the run's stop as it stands."""
        self._merger.stop_error = stop_now
        for outcome in outcomes:
            if outcome.chunk.size:
                self._unsent = self._unsent or not outcome.sent
                if outcome.error is not None:
                    self._errors.append(outcome.error)
            self._merger.add(outcome)

    def settled(self, chunk: Chunk) -> None:
        """Let the plan free what ``chunk``'s records sent (their property dicts), each one
        written or failed by now: freed while the call waits on answers rather than all at
        its end (1.3 ms of an upsert of 20,000, 70 ms of a million). A record that is
        neither keeps its own, for ``finish`` to report."""
        indexes = chunk.indexes
        if self._plan is None or indexes is None:
            return
        written, failed = self._merger.written, self._merger.failed
        if type(written) is _Written and not failed and written.all_of(indexes):
            self._plan.forget(indexes)
        else:
            self._plan.forget([i for i in indexes if i in written or i in failed])

    def stop_error(self, stop: AsyncBatchError | None) -> AsyncBatchError | None:
        """The run's stop, if any input failed because of it (as ``stop_error_for``)."""
        if stop is None:
            return None
        return stop if self._unsent or any(e is stop for e in self._errors) else None

    def finish(
        self,
        *,
        stop: AsyncBatchError | None,
        stats: RunStats,
        started_at: dt.datetime,
        completed_at: dt.datetime,
    ) -> Steps[BatchResult]:
        """The call's ``BatchResult``, as steps."""
        merger = self._merger
        merger.stop_error = self.stop_error(stop)
        indexes = range(self._records)
        yield from merger.add_unsent(indexes, self._item)
        return (
            yield from merger.result(
                indexes, stats=stats, started_at=started_at, completed_at=completed_at
            )
        )


class _Columns:
    """The results written, a column per field (issue 16): a million kept results are a few
    lists of strings and of the answers' property dicts, which the garbage collector does not
    track, rather than an object per result it must count and track. Each object it counts
    makes its collections more frequent, and each of those promotes the objects of the chunks
    in flight towards its full collections, which stall the event loop for as long as the
    whole heap takes to walk (a tuple per result gave 19 of them, each up to 0.4 s, in one
    ``upsert()`` of 1,000,000 records).

    Each column is kept in pages of ``_PAGE`` rows: seven lists of a million growing in step
    reallocate together, copying 8 MB each in one append (~20 ms holding the loop).

    A page is sealed once full (``_seal``): each column of strings becomes one string
    (``_packed``), and its numbers arrays, none of which the collector walks. Left as
    lists, every page merged since the last collection of a generation was walked,
    reference by reference, by that collection: the young collections of an ``upsert()`` of
    1,000,000 records took 10-22 ms each, and one of the middle generation 100 ms, holding
    the loop (measured).

    The answers' property dicts are one list for the whole call, not a list a page: a list
    a page is young, and so walked, until the collector has seen it twice (20-40 ms of a
    middle-generation collection). A list call makes its store before planning
    (``ResultStore``), whose collections age that one list into the old generation."""

    __slots__ = ("_many", "_page", "_pages", "_props", "rows")

    def __init__(self) -> None:
        #: per page: ids, traces, created, updated, flags, positions (flags: archived +
        #: 2 * new; -1: ``_props`` holds the entry itself; positions: one position as
        #: itself; once sealed, -1: several, in ``_many``)
        self._pages: list[tuple[Any, ...]] = []
        self._page: tuple[list[Any], ...] = ()
        self._many: dict[int, tuple[int, ...]] = {}  # row -> positions, sealed pages
        self._props: list[Any] = []  # by row: the answer's properties, or the entry itself
        self.rows = 0

    def _new_page(self) -> None:
        if self._pages:
            self._seal()
        self._page = ([], [], [], [], [], [])
        self._pages.append(self._page)

    def _seal(self) -> None:
        """Turn the last (full) page into tuples and arrays (see the class docstring)."""
        ids, traces, created, updated, flags, where = self._pages[-1]
        try:
            positions = array("q", where)  # one position each, as a rule
        except TypeError:
            base = (len(self._pages) - 1) * _PAGE
            for at, several in enumerate(where):
                if type(several) is not int:
                    self._many[base + at] = several
            positions = array("q", [w if type(w) is int else -1 for w in where])
        self._pages[-1] = (
            _packed(ids),
            _packed(traces),
            _packed(created),
            _packed(updated),
            array("b", flags),
            positions,
        )

    def add(self, entry: Any, positions: tuple[int, ...]) -> int:
        """Keep ``entry`` (``_protocol``'s compact tuple, its JSON object, or a built object)
        written for ``positions``; returns its row."""
        if not self.rows % _PAGE:
            self._new_page()
        ids, traces, created, updated, flags, where = self._page
        props = self._props
        if type(entry) is tuple:
            ids.append(entry[0])
            traces.append(entry[1])
            created.append(entry[2])
            updated.append(entry[3])
            flags.append(entry[4] + 2 * entry[5])
            props.append(entry[6])
        else:
            ids.append(None)
            traces.append(None)
            created.append(None)
            updated.append(None)
            flags.append(-1)
            props.append(entry)
        where.append(positions[0] if len(positions) == 1 else positions)
        self.rows += 1
        return self.rows - 1

    def extend(
        self, entries: Sequence[tuple[Any, ...]], wheres: Sequence[int | tuple[int, ...]]
    ) -> int:
        """``add`` for each of ``entries`` (all in compact form) and its positions as
        ``Plan.wheres`` gives them (one position as itself); returns the first one's row."""
        first_row = self.rows
        done = 0
        while done < len(entries):
            if not self.rows % _PAGE:
                self._new_page()
            part = entries[done : done + _PAGE - self.rows % _PAGE]
            ids, traces, created, updated, archived, new, props = zip(*part, strict=True)
            page = self._page
            page[0].extend(ids)
            page[1].extend(traces)
            page[2].extend(created)
            page[3].extend(updated)
            page[4].extend([gone + 2 * made for gone, made in zip(archived, new, strict=True)])
            self._props.extend(props)
            page[5].extend(wheres[done : done + len(part)])
            done += len(part)
            self.rows += len(part)
        return first_row

    def entry(self, row: int) -> Any:
        """The entry kept at ``row``, as ``add`` was given it."""
        ids, traces, created, updated, flags, _ = self._pages[row // _PAGE]
        at = row % _PAGE
        flag = flags[at]
        if flag < 0:
            return self._props[row]
        archived, new = bool(flag & 1), bool(flag & 2)
        return (ids[at], traces[at], created[at], updated[at], archived, new, self._props[row])

    def entries_of_rows(self, rows: Sequence[int]) -> list[Any]:
        """``entry`` of each of ``rows``."""
        return list(map(self.entry, rows))

    def positions_of_rows(self, rows: Sequence[int]) -> list[tuple[int, ...]]:
        """``positions_of`` each of ``rows``."""
        pages, many = self._pages, self._many
        wheres = [pages[row // _PAGE][5][row % _PAGE] for row in rows]
        return [
            (where,) if type(where) is int and where >= 0 else many.get(row, where)
            for row, where in zip(rows, wheres, strict=True)
        ]

    def positions_of(self, row: int) -> tuple[int, ...]:
        """The caller's positions of the input written at ``row``."""
        positions = self._pages[row // _PAGE][5][row % _PAGE]
        if type(positions) is not int:
            return positions  # type: ignore[no-any-return]
        return (positions,) if positions >= 0 else self._many[row]


#: Rows per page of ``_Columns``.
_PAGE = 4096

#: Where a list call keeps its results (``CallMerge``'s ``store``).
ResultStore = _Columns


class _Texts(Sequence[str]):
    """A sealed page's column of strings as one string, NUL between them: nothing the
    garbage collector tracks or walks (a tuple of them it walks once more, to untrack). Split
    back on first read."""

    __slots__ = ("_count", "_split", "_text")

    def __init__(self, text: str, count: int) -> None:
        self._text = text
        self._count = count
        self._split: list[str] | None = None

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, at: Any) -> Any:
        split = self._split
        if split is None:
            split = self._split = self._text.split(_NUL)
        return split[at]


class _Nones(Sequence[None]):
    """A sealed page's column in which every value is None (HubSpot sent no such field)."""

    __slots__ = ("_count",)

    def __init__(self, count: int) -> None:
        self._count = count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, at: Any) -> Any:
        if isinstance(at, slice):
            return [None] * len(range(*at.indices(self._count)))
        range(self._count)[at]  # IndexError as a list's
        return None


def _packed(column: list[Any]) -> Sequence[Any]:
    """A full page's column as compactly as its values allow: strings none of which holds a
    NUL (one string), all None, or else a tuple."""
    try:
        text = _NUL.join(column)
    except TypeError:  # not only strings
        if column.count(None) == len(column):
            return _Nones(len(column))
        return tuple(column)
    if text.count(_NUL) != len(column) - 1:  # a string held a NUL of its own
        return tuple(column)
    return _Texts(text, len(column))


_NUL = "\x00"


class _Rows(Sequence[Any]):
    """Kept results in the order of ``rows``, each read back from the columns by ``one``
    (``many`` for several rows at once) when asked for: what ``Deferred`` builds into result
    objects, or into ``BatchResult.result_positions``, on first access."""

    __slots__ = ("_many", "_one", "_rows")

    def __init__(
        self,
        rows: Sequence[int],
        one: Callable[[int], Any],
        many: Callable[[Sequence[int]], list[Any]],
    ) -> None:
        self._rows = rows
        self._one = one
        self._many = many

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return self._many(self._rows[index])
        return self._one(self._rows[index])

    def __iter__(self) -> Iterator[Any]:
        return map(self._one, self._rows)


def _read_at_once(rows: Sequence[Any]) -> list[Any]:
    """Every item of ``rows`` (a ``_Rows``, or a slice of one already read) in one pass."""
    return list(rows[:])


class _Written:
    """The row of ``_Columns`` each distinct record of a call was written at, in arrays of
    ``_PAGE`` records made as they are first written: a dict grown to a million entries
    rehashes them all in one go (~30 ms during which the event loop waits), and one array of
    a million, 8 MB of fresh memory, took 5-25 ms to make. Has the dict's ``in``, ``get``,
    ``len`` and item assignment, and the same for many records at once."""

    __slots__ = ("_count", "_pages")

    def __init__(self, records: int) -> None:
        self._pages: list[array[int] | None] = [None] * -(-records // _PAGE)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, index: int) -> bool:
        page = self._pages[index // _PAGE]
        return page is not None and page[index % _PAGE] >= 0

    def get(self, index: int) -> int | None:
        page = self._pages[index // _PAGE]
        if page is None:
            return None
        row = page[index % _PAGE]
        return None if row < 0 else row

    def __setitem__(self, index: int, row: int) -> None:
        page = self._page(index // _PAGE)
        self._count += page[index % _PAGE] < 0
        page[index % _PAGE] = row

    def _page(self, number: int) -> array[int]:
        page = self._pages[number]
        if page is None:
            page = self._pages[number] = array("q", [-1]) * _PAGE
        return page

    def all_of(self, indexes: Sequence[int]) -> bool:
        """Whether every one of ``indexes`` was written (a plan's chunk: a slice a page)."""
        pages = self._pages
        if type(indexes) is range and indexes.step == 1:
            for number in range(indexes.start // _PAGE, -(-indexes.stop // _PAGE)):
                page = pages[number]
                base = number * _PAGE
                low, high = max(indexes.start - base, 0), min(indexes.stop - base, _PAGE)
                if low < high and (page is None or min(page[low:high]) < 0):
                    return False
            return True
        return all(index in self for index in indexes)

    def any_of(self, indexes: Sequence[int]) -> bool:
        """Whether any of ``indexes`` was written."""
        pages = self._pages
        if type(indexes) is range and indexes.step == 1:  # a plan's chunk: a slice a page
            for number in range(indexes.start // _PAGE, -(-indexes.stop // _PAGE)):
                page = pages[number]
                base = number * _PAGE
                low, high = max(indexes.start - base, 0), min(indexes.stop - base, _PAGE)
                if page is not None and low < high and max(page[low:high]) >= 0:
                    return True
            return False
        return any(index in self for index in indexes)

    def put_new(self, indexes: Sequence[int], first_row: int) -> None:
        """Record ``indexes``, none of them written yet, at ``first_row`` and the rows after
        it, in order."""
        pages = self._pages
        for row, index in enumerate(indexes, first_row):
            page = pages[index // _PAGE] or self._page(index // _PAGE)
            page[index % _PAGE] = row
        self._count += len(indexes)

    def rows(self, rows: array[int], records: int) -> Steps[None]:
        """Append to ``rows`` the rows of records 0..``records``-1, every one of them
        written, a page a step."""
        for number, page in enumerate(self._pages):
            assert page is not None
            rows += page[: min(_PAGE, records - number * _PAGE)]
            yield


class _Merger:
    """The state of one merge: what was written, what failed, and the answers' decoration."""

    def __init__(
        self,
        stop_error: AsyncBatchError | None,
        plan: Plan | None = None,
        store: ResultStore | None = None,
    ) -> None:
        self.stop_error = stop_error
        self.plan = plan  # the plan that cut the chunks, if one did
        # index -> its row in ``columns``
        self.written: dict[int, int] | _Written = {} if plan is None else _Written(plan.records)
        self.columns = _Columns() if store is None else store
        self.failed: dict[int, FailedInput] = {}
        self.absorbed: set[int] = set()
        self.extra_rows: list[int] = []  # results that account for no input (or a second time)
        #: builds the answers' unbuilt results (``Deferred``), once one was seen
        self.build: Callable[[Sequence[Any]], list[SimplePublicObject]] | None = None
        self.errors: list[StandardError] = []
        self.statuses: set[str] = set()
        self.requested: list[dt.datetime] = []
        self.started: list[dt.datetime] = []
        self.completed: list[dt.datetime] = []
        self.links: dict[str, str] = {}

    def fail(
        self, item: PlannedInput, error: StandardError, outcome: ChunkOutcome, *, final: bool
    ) -> None:
        if item.index in self.written or item.index in self.failed:
            return
        code, prop, text = _first_detail(error)
        stopped = self.stop_error is not None and (
            outcome.error is self.stop_error or not outcome.sent
        )
        self.failed[item.index] = FailedInput(
            positions=item.positions,
            input=item.input,
            reason=_reason(error),
            error=error,
            status_code=outcome.status_code,
            sent=outcome.sent,
            final=final,
            stopped_run=stopped,
            category=error.category or None,
            code=code,
            property_name=prop,
            trace_id=None if item.trace_assigned else item.input.object_write_trace_id,
            value=refused_value(text) if text else None,
            allowed=allowed_options(text) if code == "INVALID_OPTION" else (),
        )

    def add(self, outcome: ChunkOutcome) -> None:
        """Merge one outcome."""
        self.absorbed.update(outcome.absorbed)
        if not outcome.chunk.size:  # only a note of inputs merged into another
            return
        if outcome.response is None:
            self.add_failed_chunk(outcome)
        elif not self._add_matched(outcome.chunk, outcome.response):
            self.add_response(outcome, outcome.response)

    def _add_matched(self, chunk: Chunk, response: BatchResponse) -> bool:
        # The common answer (see ``_matched_by_plan``): every record of the chunk written.
        plan, indexes, entries = self.plan, chunk.indexes, response.entries
        if response.errors:
            return False
        if plan is None or indexes is None:
            return self._add_matched_items(chunk, response)
        written = self.written
        if type(written) is not _Written or written.any_of(indexes):
            return False
        matched = _matched_by_plan(chunk.fields(), entries)
        if matched is None:
            return False
        self._decoration(response)
        self.build = response.builder or self.build
        in_order = [indexes[at] for at in matched]
        written.put_new(in_order, self.columns.extend(entries, plan.wheres(in_order)))
        if self.failed:
            for index in in_order:
                self.failed.pop(index, None)
        return True

    def _add_matched_items(self, chunk: Chunk, response: BatchResponse) -> bool:
        # ``_add_matched`` for a chunk of items without a plan (a stream's, a writer's).
        items, written = chunk.items, self.written
        if any(item.index in written for item in items):
            return False
        matched = _matched_by_plan(chunk.fields(), response.entries)
        if matched is None:
            return False
        self._decoration(response)
        self.build = response.builder or self.build
        in_order = [items[at] for at in matched]
        wheres = [i.positions[0] if len(i.positions) == 1 else i.positions for i in in_order]
        first_row = self.columns.extend(response.entries, wheres)
        for row, item in enumerate(in_order, first_row):
            written[item.index] = row
            self.failed.pop(item.index, None)
        return True

    def add_failed_chunk(self, outcome: ChunkOutcome) -> None:
        error = outcome.error
        if error is None:  # defensive: an outcome with neither is a failure to report
            error = AsyncBatchError("the chunk ended without an answer")
        synthesized = synthesize_error(
            outcome.chunk.items, error, sent=outcome.sent, note=outcome.note
        )
        if outcome.outcome_unknown:
            synthesized = attrs.evolve(synthesized, category="OUTCOME_UNKNOWN")
        self.errors.append(synthesized)
        # A 4xx refusal is HubSpot's definitive answer about these inputs (the batch was
        # processed, the data was wrong); anything else means they got no answer.
        final = outcome.final
        if final is None:
            final = isinstance(error, ValidationError) and outcome.sent
        self.statuses.add("COMPLETE" if final else "CANCELED")
        for item in outcome.chunk.items:
            self.fail(item, synthesized, outcome, final=final)

    def add_response(self, outcome: ChunkOutcome, response: BatchResponse) -> None:
        self._decoration(response)
        chunk_items = outcome.chunk.items
        by_trace = _unique_traces(chunk_items)
        by_id = {(item.input.id_property, item.input.id): item for item in chunk_items}
        self.build = response.builder or self.build
        for result in response.entries:
            matched = _match_result(result, by_trace, by_id)
            if matched is None or matched.index in self.written:
                self.extra_rows.append(self.columns.add(result, ()))
            else:
                self.written[matched.index] = self.columns.add(result, matched.positions)
                self.failed.pop(matched.index, None)
        self.errors.extend(response.errors)
        for entry in response.errors:
            for item in _named_by(entry, chunk_items, by_trace):
                self.fail(item, entry, outcome, final=True)
        for item in chunk_items:
            if item.index not in self.written and item.index not in self.failed:
                self._unnamed(item, outcome)

    def _unnamed(self, item: PlannedInput, outcome: ChunkOutcome) -> None:
        if not outcome.lists_results:
            # An answer that does not list what it did (an archive's 204): done.
            done = SimplePublicObject(id=item.input.id)
            self.written[item.index] = self.columns.add(done, item.positions)
            return
        missing = StandardError(
            status="error",
            category="MISSING_FROM_RESPONSE",
            message="HubSpot's answer named this input neither in results nor in "
            "errors; it may or may not have been written",
            context={"ids": [item.input.id]},
        )
        self.errors.append(missing)
        self.fail(item, missing, outcome, final=False)

    def _decoration(self, response: BatchResponse) -> None:
        self.statuses.add(response.status)
        for stamp, bucket in (
            (response.requested_at, self.requested),
            (response.started_at, self.started),
            (response.completed_at, self.completed),
        ):
            if stamp is not None:
                bucket.append(stamp)
        self.links.update(response.links or {})

    def add_unsent(
        self, indexes: Sequence[int], item: Callable[[int], PlannedInput]
    ) -> Steps[None]:
        # A safety net: an input no outcome covered is reported, never lost.
        if self.plan is not None and len(self.written) + len(self.failed) == self.plan.records:
            return  # every record of the plan written or failed (never both)
        for count, index in enumerate(indexes, 1):
            if not count % STEP:
                yield
            if index in self.written or index in self.failed or index in self.absorbed:
                continue
            planned = item(index)
            missing = StandardError(
                status="error",
                category="NOT_SENT",
                message="the run ended before this input was sent",
                context={"ids": [planned.input.id]},
            )
            self.errors.append(missing)
            self.fail(planned, missing, _UNSENT, final=False)
            self.statuses.add("CANCELED")

    def status(self, records: int) -> str:
        if self.stop_error is not None or not self.statuses:
            return "CANCELED" if self.stop_error is not None or records else "COMPLETE"
        if self.statuses == {"COMPLETE"}:
            return "COMPLETE"
        return next((s for s in ("PROCESSING", "PENDING") if s in self.statuses), "CANCELED")

    def result(
        self,
        indexes: Sequence[int],
        *,
        stats: RunStats,
        started_at: dt.datetime,
        completed_at: dt.datetime,
    ) -> Steps[BatchResult]:
        # In the inputs' order (the indexes are in the order of first positions).
        # An array, not a list: a list of a million ints made between two collections is
        # young at the next one, which walks all of it (22-43 ms held, issue 16); an array
        # holds no objects for the collector to walk.
        rows = array("q")
        failed: list[FailedInput] = []
        written, failures, columns = self.written, self.failed, self.columns
        if type(written) is _Written and len(written) == len(indexes):  # every one written
            yield from written.rows(rows, len(indexes))
        else:
            for count, index in enumerate(indexes, 1):
                if not count % STEP:
                    yield
                row = written.get(index)
                if row is not None:
                    rows.append(row)
                elif index in failures:
                    failed.append(failures[index])
        rows.extend(self.extra_rows)  # in place: a copy of a million holds the loop
        entries = _Rows(rows, columns.entry, columns.entries_of_rows)
        return BatchResult(
            status=self.status(len(indexes)),
            results=list(entries) if self.build is None else Deferred(entries, self.build),
            # Built when read: a tuple per record made here held the call's end 0.2-0.4 us
            # a record (4-9 ms of an upsert of 20,000, after its last answer).
            result_positions=Deferred(
                _Rows(rows, columns.positions_of, columns.positions_of_rows), _read_at_once
            ),
            errors=self.errors,
            num_errors=len(self.errors),
            requested_at=min(self.requested) if self.requested else None,
            started_at=min(self.started) if self.started else started_at,
            completed_at=max(self.completed) if self.completed else completed_at,
            links=self.links,
            failed=failed,
            stats=stats,
            stop_error=self.stop_error,
        )


def _named_by(
    entry: StandardError, chunk_items: Sequence[PlannedInput], by_trace: dict[str, PlannedInput]
) -> list[PlannedInput]:
    named = [by_trace[t] for t in entry.context.get("objectWriteTraceId", []) if t in by_trace]
    if not named:
        ids = set(entry.context.get("ids", []))
        named = [item for item in chunk_items if item.input.id in ids]
    return named


_UNSENT = ChunkOutcome(Chunk(number=-1, items=()), sent=False)
