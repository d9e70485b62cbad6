"""Bad rows: which records of the input the client would refuse, and the validation pass that
finds them in a file before anything is sent. Pure, apart from iterating the records it is
given (which may read a file).

A row is bad when it is not a record (``SourceRecord.error``: a wrong number of fields, bad
JSON, a byte the encoding cannot read) or when the client's own planner refuses it (an empty
id, a value it cannot send): ``RowCheck`` runs the very ``StreamPlanner`` the client runs, so
the pass and the run judge alike. Its memory is bounded: the planner holds one chunk per id
property, and the pass keeps only the first bad rows it shows.

The policy (``refusal``): by default a file with bad rows sends nothing (exit 2, the first
rows listed with line, column and problem, and their count); with ``--skip-bad-rows`` the good
rows are sent and each bad one goes to ``--errors`` (exit 1), unless there are more than
``--max-bad-rows``.
"""

from __future__ import annotations

import time
from collections.abc import Container, Iterable

import attrs

from .._exceptions import InvalidInputError
from .._plan import Chunk, StreamPlanner
from .._schema import PropertySchema, check_items
from ._records import SourceRecord
from ._value_report import ValueReport

__all__ = ["SHOWN_BAD_ROWS", "BadRow", "RowCheck", "Scan", "Scanner", "refusal", "scan"]

#: How many bad rows a refused file lists before "... and N more".
SHOWN_BAD_ROWS = 20


@attrs.frozen
class BadRow:
    """A row of the input the client would refuse, and why.

    ``record`` is the record when the row was one (the planner refused it); otherwise
    ``raw`` keeps what was read (a CSV row's cells, a JSON line's text).
    """

    position: int
    line: int
    problem: str
    column: str | None = None
    record: dict[str, object] | None = None
    raw: tuple[str, ...] | str | None = None

    def describe(self) -> str:
        """``line 12, column 'level': problem``."""
        column = f", column {self.column!r}" if self.column else ""
        return f"line {self.line}{column}: {self.problem}"


class RowCheck:
    """Judges each record as the client will, with a planner of the job's own settings.

    ``id_column`` names the CSV column holding the id, so that a problem with the record's
    ``id`` names the column the user sees.

    ``chunks`` counts the chunks planned; ``requests`` those the run will send: with the
    account's property definitions (``schema``), each planned chunk is judged by the client's
    own ``check_items`` and counts only if a record of it passes (the records it refuses are
    tallied in ``values``, with their lines), and with ``skip`` (a checkpoint's finished
    positions) only if it holds a record not finished yet. A value refused is not a bad row.
    """

    def __init__(
        self,
        *,
        operation: str,
        id_property: str | None,
        chunk_size: int,
        id_column: str | None = None,
        schema: PropertySchema | None = None,
        skip: Container[int] = frozenset(),
    ) -> None:
        self.planner = StreamPlanner(
            operation=operation,
            id_property=id_property,
            chunk_size=chunk_size,
            trace_prefix="check",
        )
        self._id_column = id_column
        self._schema = schema
        self._skip = skip
        self.values = ValueReport(schema) if schema is not None else None
        self._lines: dict[int, int] = {}  # the filling chunks' positions -> lines
        self.chunks = 0
        self.requests = 0

    def bad(self, item: SourceRecord) -> BadRow | None:
        """The row's problem, or None when the client would take it."""
        if item.error is not None:
            return BadRow(item.position, item.line, item.error, item.column, raw=item.raw)
        try:
            chunk = self.planner.feed(item.record, item.position)
            if self.values is not None:
                self._lines[item.position] = item.line
            if chunk is not None:
                self._count(chunk)
        except InvalidInputError as exc:
            column = exc.field
            if column == "id" and self._id_column is not None:
                column = self._id_column
            elif column == "properties":
                column = None
            return BadRow(item.position, item.line, exc.problem, column, item.record)
        return None

    def finish(self) -> None:
        """Count the chunks still being filled (for a dry run's plan)."""
        for chunk in self.planner.flush():
            self._count(chunk)

    def _count(self, chunk: Chunk) -> None:
        self.chunks += 1
        items = chunk.items
        if self._schema is not None and self.values is not None:
            items_ok, refused = check_items(items, self._schema)
            lines = self._lines
            for item, problem in refused:
                self.values.add(problem, lines.get(item.positions[0]))
            for item in items:
                for position in item.positions:
                    lines.pop(position, None)
            items = tuple(items_ok)
        skip = self._skip
        if any(p not in skip for item in items for p in item.positions):
            self.requests += 1


@attrs.frozen
class Scan:
    """What the validation pass found: ``records`` read, of which ``bad``, the first of
    them (at most ``SHOWN_BAD_ROWS``), the seconds it took, and the chunks planned and
    requests to send (``RowCheck``)."""

    records: int
    bad: int
    first_bad: tuple[BadRow, ...]
    seconds: float
    chunks: int = 0
    requests: int = 0


class Scanner:
    """The validation pass, one record at a time (so that a caller may pause between)."""

    def __init__(self, check: RowCheck) -> None:
        self.check = check
        self._started = time.perf_counter()
        self._count = self._bad = 0
        self._first: list[BadRow] = []

    def add(self, item: SourceRecord) -> None:
        self._count += 1
        problem = self.check.bad(item)
        if problem is not None:
            self._bad += 1
            if len(self._first) < SHOWN_BAD_ROWS:
                self._first.append(problem)

    def result(self) -> Scan:
        self.check.finish()
        elapsed = time.perf_counter() - self._started
        check = self.check
        first = tuple(self._first)
        return Scan(self._count, self._bad, first, elapsed, check.chunks, check.requests)


def scan(records: Iterable[SourceRecord], check: RowCheck) -> Scan:
    """Read every record and judge it (raising what reading raises: ``InputError``)."""
    scanner = Scanner(check)
    for item in records:
        scanner.add(item)
    return scanner.result()


def refusal(found: Scan, *, skip_bad_rows: bool, max_bad_rows: int | None) -> str | None:
    """Why a run must send nothing after the pass found ``found``, None when it may start."""
    if not found.bad:
        return None
    rows = f"{found.bad:,} bad row{'s' if found.bad != 1 else ''}"
    if not skip_bad_rows:
        return (
            f"{rows} of {found.records:,}; nothing was sent (fix them, or pass "
            "--skip-bad-rows to send the good rows and write the bad ones to --errors)"
        )
    if max_bad_rows is not None and found.bad > max_bad_rows:
        return (
            f"{rows} of {found.records:,}, more than --max-bad-rows {max_bad_rows}; "
            "nothing was sent"
        )
    return None
