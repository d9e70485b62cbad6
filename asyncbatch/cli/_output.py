"""The command line's output files: written records (``--out``) and failed inputs
(``--errors``); ``-`` writes to stdout.

A results line is HubSpot's result object plus ``"_input": {"lines", "positions"}`` (where the
record came from in FILE), one JSON object a line. A read's line (``read_line``) is the record
in input shape instead, so that the file feeds ``update`` as it is: ``id``, the properties that
can be written back, and HubSpot's other facts under ``_record``; an archive's (``id_line``) is
the id archived.

``--errors`` is JSON Lines, or CSV when its name ends in ``.csv`` (for CSV input: the same
columns, delimiter and encoding, so it opens in a spreadsheet, is fixed there and fed back).
A failed JSON line is the input in HubSpot's input shape (``id``, ``properties``,
``idProperty``, the caller's ``objectWriteTraceId``) plus ``"_error": {"reason", "category",
"code", "property", "value", "allowed", "message", "status", "line", "position", "sent",
"final"}``; a failed CSV row is the input's cells plus ``_error_...`` columns. Keys and columns
starting with ``_`` are ignored on reading, so either file can be fixed and fed back as FILE.
``final`` is false for an input that got no final answer (never sent, a network error, retries
exhausted, the run stopped...): a checkpoint did not journal it, so rerunning with the same
checkpoint sends it again, except a create's of category ``OUTCOME_UNKNOWN`` (it may have been
created: journaled, never resent without ``--resend-unknown``). A create's input has no ``id``,
a read's or an archive's no ``properties``. A bad row (``--skip-bad-rows``) is written the same
way, with the category ``BAD_ROW`` and, when it was no record at all, what was read (``raw``).

On resuming (``append``), a file whose last line was torn by a crash is first cut back to its
last complete line.

``result_line``, ``read_line``, ``id_line``, ``failed_line``, ``unknown_line``, ``bad_line``
and ``csv_error_row`` are pure; the writers do
file I/O and raise ``OutputError`` (naming the file) when the file cannot be written.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from .._convert import converter
from .._models import FailedInput, SimplePublicObject
from .._operations import Shape
from ._csv import CsvLayout
from ._reasons import BAD_ROW, Reason, reason_of, reason_of_row
from ._validate import BadRow

__all__ = [
    "ERROR_COLUMNS",
    "STDOUT",
    "SYSTEM_PROPERTIES",
    "CsvErrors",
    "ErrorsFile",
    "JsonlErrors",
    "JsonlWriter",
    "OutputError",
    "bad_line",
    "csv_error_row",
    "failed_line",
    "id_line",
    "is_csv_path",
    "read_line",
    "result_line",
    "unknown_line",
]

#: The path that means "standard output" for ``--out`` and ``--errors``.
STDOUT = Path("-")
_TAIL_BLOCK = 64 * 1024


class OutputError(Exception):
    """An output file (results, failed inputs, checkpoint) cannot be written; the message
    names it. Mid-run, the run cannot go on (exit 3)."""


def result_line(
    result: SimplePublicObject, *, lines: Sequence[int], positions: Sequence[int]
) -> bytes:
    """One ``--out`` line: the result as HubSpot wrote it, and where its input came from."""
    data: dict[str, Any] = converter.unstructure(result)
    data["_input"] = {"lines": list(lines), "positions": list(positions)}
    return orjson.dumps(data) + b"\n"


#: Properties HubSpot returns on every read and lets no write set: what a read's line keeps
#: out of ``properties`` when the account's property definitions could not be read.
SYSTEM_PROPERTIES = frozenset(
    {"hs_object_id", "hs_createdate", "hs_lastmodifieddate", "createdate", "lastmodifieddate"}
)


def read_line(
    result: SimplePublicObject,
    *,
    lines: Sequence[int],
    positions: Sequence[int],
    writable: Callable[[str], bool],
    id_property: str | None = None,
) -> bytes:
    """One ``--out`` line of a read: the record in HubSpot's input shape, fed to ``update``
    (or ``upsert``) as it is. ``properties`` holds those ``writable`` says can be written
    back, a property with no value as ``""`` (written back, it clears the property, as it
    was); ``id`` is the record id, or with ``id_property`` the record's value of it (then
    named by ``idProperty``). HubSpot's other facts (the record id, timestamps, archived,
    the read-only properties, their history) go under ``_record``, which input ignores."""
    data: dict[str, Any] = converter.unstructure(result)
    kept: dict[str, str] = {}
    other: dict[str, str | None] = {}
    for name, value in result.properties.items():
        if writable(name):
            kept[name] = "" if value is None else value
        else:
            other[name] = value
    record: dict[str, Any] = {"id": result.id}
    record.update((k, v) for k, v in data.items() if k not in ("id", "properties"))
    record["properties"] = other
    line: dict[str, Any] = {"id": result.id}
    key = kept.get(id_property) if id_property is not None else None
    if id_property is not None and key:
        line = {"id": key, "idProperty": id_property}
    line["properties"] = kept
    line["_record"] = record
    line["_input"] = {"lines": list(lines), "positions": list(positions)}
    return orjson.dumps(line) + b"\n"


def id_line(result: SimplePublicObject, *, lines: Sequence[int], positions: Sequence[int]) -> bytes:
    """One ``--out`` line of an archive: the record id archived, and where it came from."""
    data = {"id": result.id, "_input": {"lines": list(lines), "positions": list(positions)}}
    return orjson.dumps(data) + b"\n"


def _input_shape(failed: FailedInput, shape: Shape) -> dict[str, Any]:
    """The input as it is fed back: a record, a record to create (no ``id``), or an id."""
    item = failed.input
    data: dict[str, Any] = {} if shape == "new" else {"id": item.id}
    if shape != "id":
        data["properties"] = dict(item.properties)
    if item.id_property is not None:
        data["idProperty"] = item.id_property
    if failed.trace_id is not None:
        data["objectWriteTraceId"] = failed.trace_id
    return data


def unknown_line(record: Mapping[str, Any], *, line: int, position: int, reason: str) -> bytes:
    """One ``--errors`` line for a record to create that was handed to the client when the
    run was cut short (its chunk in flight or being filled): of unknown outcome."""
    data: dict[str, Any] = {k: v for k, v in record.items() if not k.startswith("_")}
    data["_error"] = {
        "reason": reason,
        "category": "OUTCOME_UNKNOWN",
        "code": None,
        "property": None,
        "value": None,
        "allowed": None,
        "message": reason,
        "status": None,
        "line": line,
        "position": position,
        "sent": None,
        "final": False,
    }
    return orjson.dumps(data, default=str) + b"\n"


def failed_line(
    failed: FailedInput,
    *,
    lines: Sequence[int],
    positions: Sequence[int],
    shape: Shape = "record",
) -> bytes:
    """One ``--errors`` line: the input as it would be fed back (in ``shape``: a record, a
    record to create, an id), and why it failed.

    The ``objectWriteTraceId`` is the caller's own (``failed.trace_id``), if the input line
    had one; the one the client assigned is not written: it is assigned again on the next run.
    """
    data = _input_shape(failed, shape)
    reason = reason_of(failed)
    data["_error"] = {
        "reason": failed.reason,
        "category": reason.category,
        **reason.fields(),
        "status": failed.status_code,
        "line": lines[0] if lines else None,
        "position": positions[0] if positions else None,
        "sent": failed.sent,
        "final": failed.final,
    }
    if len(lines) > 1:  # duplicates coalesced into this one input
        data["_error"]["lines"] = list(lines)
    return orjson.dumps(data) + b"\n"


def bad_line(bad: BadRow) -> bytes:
    """One ``--errors`` line for a bad row: the record as read (when it was one), and why."""
    data: dict[str, Any] = dict(bad.record) if bad.record is not None else {}
    reason = reason_of_row(bad)
    data["_error"] = {
        "reason": bad.describe(),
        "category": BAD_ROW,
        **reason.fields(),
        "status": None,
        "line": bad.line,
        "position": bad.position,
        "sent": False,
        "final": True,
    }
    if bad.record is None:
        data["_error"]["raw"] = list(bad.raw) if isinstance(bad.raw, tuple) else bad.raw
    return orjson.dumps(data, default=str) + b"\n"


#: The columns a CSV ``--errors`` file adds after the input's own.
ERROR_COLUMNS = (
    "_error_line",
    "_error_category",
    "_error_code",
    "_error_property",
    "_error_value",
    "_error_allowed",
    "_error_message",
    "_error_final",
    "_error_raw",
)


def is_csv_path(path: Path) -> bool:
    """Whether ``--errors path`` is to be written as CSV (its name ends in ``.csv``)."""
    return path.suffix.lower() == ".csv"


def csv_error_row(
    columns: Sequence[str],
    *,
    cells: dict[str, str] | None,
    raw: tuple[str, ...] | str | None,
    reason: Reason,
    lines: Sequence[int],
    final: bool,
    delimiter: str = ",",
) -> list[str]:
    """One row of a CSV ``--errors`` file: the input's ``columns`` (those not starting with
    ``_``) from ``cells`` (column -> text), then ``ERROR_COLUMNS``. A row that was no record
    (``cells`` None) keeps its cells if they fit the columns, else them joined by
    ``delimiter`` in ``_error_raw``."""
    kept = [c for c in columns if not c.startswith("_")]
    raw_text = ""
    if cells is None:
        if isinstance(raw, tuple) and len(raw) == len(columns):
            cells = dict(zip(columns, raw, strict=True))
        else:
            raw_text = raw if isinstance(raw, str) else delimiter.join(raw or ())
            cells = {}
    row = [cells.get(c, "") for c in kept]
    row += [
        " ".join(map(str, lines)),
        reason.category or "",
        reason.code or "",
        reason.property or "",
        reason.value or "",
        " | ".join(reason.allowed),
        reason.message,
        "true" if final else "false",
        raw_text,
    ]
    return row


class ErrorsFile(Protocol):
    """Where failed inputs and bad rows go (``--errors``)."""

    def failed(
        self, failed: FailedInput, *, lines: Sequence[int], positions: Sequence[int]
    ) -> None:
        """Write one failed input."""

    def bad(self, bad: BadRow) -> None:
        """Write one bad row."""

    def unknown(self, record: Mapping[str, Any], *, line: int, position: int, reason: str) -> None:
        """Write one record to create of unknown outcome (the run was cut short)."""

    def flush(self, *, durable: bool) -> None:
        """Hand what was written to the OS (and the disk, with ``durable``)."""

    def close(self) -> None:
        """Close the file."""


class JsonlWriter:
    """A JSON Lines output: a file truncated at start or appended to (when resuming), or
    stdout for ``STDOUT``."""

    def __init__(self, path: Path, *, append: bool) -> None:
        self.path = path
        self._broken = False
        self._owned = path != STDOUT
        self._file: IO[bytes]
        try:
            if not self._owned:
                self._file = sys.stdout.buffer
            elif append:
                self._file = open(path, "ab")
                _cut_torn_tail(self._file)
            else:
                self._file = open(path, "wb")
            #: Nothing was in the file when it was opened (a CSV header is still to write).
            self.fresh = not self._owned or self._file.seek(0, os.SEEK_END) == 0
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror}") from None

    def write(self, line: bytes) -> None:
        self._guard(self._file.write, line)

    def flush(self, *, durable: bool) -> None:
        """Hand what was written to the OS; with ``durable``, to the disk too (fsync)."""
        self._guard(self._file.flush)
        if durable and self.path != STDOUT:
            self._guard(os.fsync, self._file.fileno())

    def _guard(self, call: Callable[..., object], *args: Any) -> None:
        try:
            call(*args)
        except OSError as exc:
            self._broken = True
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Close the file. After a failed write, what is still buffered is dropped (the
        failure was reported; the records are not journaled, so the rerun writes them)."""
        try:
            if self._owned:
                self._file.close()
            else:
                self._file.flush()
        except OSError as exc:
            if not self._broken:
                raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from None


class JsonlErrors:
    """``--errors`` as JSON Lines."""

    def __init__(self, writer: JsonlWriter, *, shape: Shape = "record") -> None:
        self._writer = writer
        self._shape: Shape = shape

    def failed(
        self, failed: FailedInput, *, lines: Sequence[int], positions: Sequence[int]
    ) -> None:
        self._writer.write(failed_line(failed, lines=lines, positions=positions, shape=self._shape))

    def bad(self, bad: BadRow) -> None:
        self._writer.write(bad_line(bad))

    def unknown(self, record: Mapping[str, Any], *, line: int, position: int, reason: str) -> None:
        self._writer.write(unknown_line(record, line=line, position=position, reason=reason))

    def flush(self, *, durable: bool) -> None:
        self._writer.flush(durable=durable)

    def close(self) -> None:
        self._writer.close()


class CsvErrors:
    """``--errors`` as CSV, in the input's layout (asked of ``layout`` at the first row: the
    input's header is read by then), delimiter and ``encoding``; UTF-8 gets a byte-order mark
    so that spreadsheets read it as UTF-8."""

    def __init__(
        self,
        writer: JsonlWriter,
        *,
        layout: Callable[[], CsvLayout | None],
        id_column: str,
        encoding: str,
    ) -> None:
        self._writer = writer
        self._layout = layout
        self._id_column = id_column
        self._encoding = encoding
        self._columns: tuple[str, ...] | None = None
        self._delimiter = ","

    def _row(self, cells: list[str]) -> None:
        if self._columns is None:
            layout = self._layout()
            self._columns = layout.columns if layout is not None else (self._id_column,)
            self._delimiter = layout.delimiter if layout is not None else ","
            if self._writer.fresh:
                header = [c for c in self._columns if not c.startswith("_")]
                bom = "\ufeff" if self._encoding.replace("_", "-") == "utf-8" else ""
                self._write([*header, *ERROR_COLUMNS], prefix=bom)
        self._write(cells)

    def _write(self, cells: list[str], *, prefix: str = "") -> None:
        text = io.StringIO()
        csv.writer(text, delimiter=self._delimiter, lineterminator="\n").writerow(cells)
        line = prefix + text.getvalue()
        try:  # cells read with surrogateescape get their original bytes back
            data = line.encode(self._encoding, "surrogateescape")
        except UnicodeEncodeError:
            data = line.encode(self._encoding, "replace")
        self._writer.write(data)

    def _delimiter_now(self) -> str:
        layout = self._layout()
        return layout.delimiter if layout is not None else ","

    def _columns_now(self) -> tuple[str, ...]:
        if self._columns is None:
            layout = self._layout()
            return layout.columns if layout is not None else (self._id_column,)
        return self._columns

    def failed(
        self, failed: FailedInput, *, lines: Sequence[int], positions: Sequence[int]
    ) -> None:
        item = failed.input
        cells = {name: str(value) for name, value in item.properties.items()}
        if item.id:  # a record to create has none
            cells.setdefault(self._id_column, item.id)
        row = csv_error_row(
            self._columns_now(),
            cells=cells,
            raw=None,
            reason=reason_of(failed),
            lines=lines,
            final=failed.final,
        )
        self._row(row)

    def bad(self, bad: BadRow) -> None:
        cells = None
        if bad.record is not None:
            properties = bad.record.get("properties")
            items = properties.items() if isinstance(properties, dict) else ()
            cells = {str(name): str(value) for name, value in items}
            cells.setdefault(self._id_column, str(bad.record.get("id", "")))
        row = csv_error_row(
            self._columns_now(),
            cells=cells,
            raw=bad.raw,
            reason=reason_of_row(bad),
            lines=[bad.line],
            final=True,
            delimiter=self._delimiter_now(),
        )
        self._row(row)

    def unknown(self, record: Mapping[str, Any], *, line: int, position: int, reason: str) -> None:
        properties = record.get("properties")
        items = properties.items() if isinstance(properties, Mapping) else ()
        row = csv_error_row(
            self._columns_now(),
            cells={str(name): str(value) for name, value in items},
            raw=None,
            reason=Reason("OUTCOME_UNKNOWN", message=reason),
            lines=[line],
            final=False,
        )
        self._row(row)

    def flush(self, *, durable: bool) -> None:
        self._writer.flush(durable=durable)

    def close(self) -> None:
        self._writer.close()


def _cut_torn_tail(file: IO[bytes]) -> None:
    """Truncate a file open for appending after its last ``\\n``: a line torn by a crash is
    dropped (its records were not journaled, so the rerun writes them again)."""
    if not os.path.isfile(file.name):  # a device or a pipe: nothing to cut
        return
    end = file.seek(0, os.SEEK_END)
    with open(file.name, "rb") as reader:
        position = end
        while position > 0:
            start = max(0, position - _TAIL_BLOCK)
            reader.seek(start)
            block = reader.read(position - start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                position = start + newline + 1
                break
            position = start
    if position != end:
        file.truncate(position)
