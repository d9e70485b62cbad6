"""CSV as real exports are: any delimiter (found from the header line when not given), any
ASCII-compatible encoding, a byte-order mark, fields up to HubSpot's 32 MiB request size, and
every problem named by its own line. Pure: no I/O (``decode_lines`` takes an iterable of byte
lines; the caller opens the file).

Each physical line is decoded on its own, so a byte the encoding cannot read fails the row it
is in, at its own line number and column, instead of the whole file at a line the decoder's
buffer happened to reach. Columns whose names start with ``_`` are not properties: they are
the ``_error_...`` columns of a CSV ``--errors`` file, so that such a file, fixed, feeds back
as it is.
"""

from __future__ import annotations

import codecs
import csv
import itertools
from collections.abc import Callable, Generator, Iterable, Iterator

import attrs

from ._records import InputError, SourceRecord

__all__ = [
    "DELIMITERS",
    "MAX_FIELD_CHARS",
    "CsvLayout",
    "check_encoding",
    "decode_lines",
    "delimiter_name",
    "detect_delimiter",
    "parse_csv",
    "parse_delimiter",
]

#: No CSV field is refused below HubSpot's request size limit (32 MiB); Python's default
#: limit, 131,072 characters, is far below what a rich-text property can hold.
MAX_FIELD_CHARS = 32 * 1024 * 1024
#: The delimiters told apart from the header line, the most frequent winning, in this order
#: on a tie.
DELIMITERS = (",", ";", "\t", "|")
_UTF8_BOM = b"\xef\xbb\xbf"
_ASCII_PROBE = ',;\t|"\r\n_abcXYZ019'
_ESCAPED = range(0xDC80, 0xDD00)  # what surrogateescape makes of an undecodable byte

#: (line number, first undecodable byte as hex) for each line that was not valid text.
Undecodable = list[tuple[int, str]]


@attrs.frozen
class CsvLayout:
    """How a CSV input is laid out: its header's columns and its delimiter."""

    columns: tuple[str, ...]
    delimiter: str


def check_encoding(name: str) -> str:
    """The codec's canonical name for ``--encoding name``.

    Raises:
        ValueError: an unknown encoding, or one that does not write ASCII as ASCII bytes
            (UTF-16, UTF-32): its lines cannot be split on the newline byte.
    """
    try:
        codec = codecs.lookup(name)
    except LookupError:
        raise ValueError(
            f"unknown encoding {name!r} (for example utf-8, cp1252, latin-1)"
        ) from None
    if codec.name == "utf-8-sig":  # a byte-order mark is skipped whatever the encoding
        return "utf-8"
    try:
        compatible = _ASCII_PROBE.encode(codec.name) == _ASCII_PROBE.encode("ascii")
    except (UnicodeError, LookupError):
        compatible = False
    if not compatible:
        raise ValueError(
            f"encoding {name!r} is not read: only encodings that keep ASCII as it is (utf-8, "
            f"cp1252, latin-1, iso-8859-15, ...); convert the file first, e.g. "
            f"iconv -f {name} -t utf-8"
        )
    return codec.name


def parse_delimiter(text: str) -> str:
    """``--delimiter``: one character, or ``tab`` / ``\\t``.

    Raises:
        ValueError: anything else, or a quote or line break.
    """
    value = "\t" if text in ("tab", "\\t") else text
    if len(value) != 1 or value in '"\r\n':
        raise ValueError(
            f"{text!r} is not a delimiter: give one character such as ',' or ';', or 'tab'"
        )
    return value


def delimiter_name(delimiter: str) -> str:
    """How messages show a delimiter: ``';'``, or ``tab``."""
    return "tab" if delimiter == "\t" else repr(delimiter)


def detect_delimiter(header_line: str) -> str:
    """The likeliest delimiter of ``header_line``: the one of ``DELIMITERS`` found most often
    outside double quotes (``,`` when none is)."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])  # max keeps the first on a tie
    return best if counts[best] else ","


def decode_lines(
    raw_lines: Iterable[bytes], encoding: str, undecodable: Undecodable
) -> Iterator[str]:
    """Each byte line decoded on its own (a leading UTF-8 byte-order mark dropped).

    A line the encoding cannot read is decoded with ``surrogateescape`` and noted in
    ``undecodable`` (its number and first bad byte) as it is yielded, for ``parse_csv``.
    """
    for number, raw in enumerate(raw_lines, start=1):
        if number == 1 and raw.startswith(_UTF8_BOM):
            raw = raw[len(_UTF8_BOM) :]
        try:
            yield raw.decode(encoding)
        except UnicodeDecodeError as exc:
            undecodable.append((number, raw[exc.start : exc.start + 1].hex()))
            yield raw.decode(encoding, "surrogateescape")


@attrs.frozen(kw_only=True)
class _Shape:
    """How a row's cells become a record."""

    header: tuple[str, ...]
    id_index: int | None  # None: no id column (records to create)
    columns: tuple[tuple[int, str], ...]  # the property columns: (index, name)
    empty_clears: bool


def parse_csv(
    lines: Iterable[str],
    *,
    id_column: str | None = "id",
    id_as_property: bool = False,
    empty_clears: bool = False,
    delimiter: str | None = None,
    encoding: str = "utf-8",
    undecodable: Undecodable | None = None,
    on_header: Callable[[CsvLayout], None] | None = None,
) -> Iterator[SourceRecord]:
    """Records from CSV with a header row: each column is a property, ``id_column`` the id.

    Pure. With ``id_column`` None (records to create) there is no id: every column is a
    property and a record is ``{"properties": ...}``. The delimiter is ``delimiter``, or
    detected from the header line. An empty cell
    leaves its property out, or clears it (``""``) with ``empty_clears``. The id column is a
    property too when ``id_as_property`` (an upsert keyed by that column). Columns named
    ``_...`` are skipped; so are blank lines. ``undecodable`` is filled by ``decode_lines``
    (``encoding`` is only named in messages); ``on_header`` is called with the layout once
    the header is read.

    A row that is not a record (a wrong number of fields, a CSV syntax error, a byte the
    encoding cannot read) is a ``SourceRecord`` with its ``error``, at the line it starts on.

    Raises:
        InputError: an empty file, a bad header (no id column, an unnamed or repeated
            column, not text), or a header with no record after it.
    """
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_CHARS))
    bad = undecodable if undecodable is not None else []
    line_iter = iter(lines)
    first = next(line_iter, None)
    if first is None:
        raise InputError("the file is empty: CSV needs a header row naming its columns")
    if bad:
        raise InputError(_not_text(encoding, bad[0][1], "the header row"), line=1)
    sep = delimiter or detect_delimiter(first)
    reader = csv.reader(itertools.chain([first], line_iter), delimiter=sep, strict=True)
    header = _read_header(reader, id_column, sep, first, explicit=delimiter is not None)
    if on_header is not None:
        on_header(CsvLayout(header, sep))
    id_index = header.index(id_column) if id_column is not None else None
    shape = _Shape(
        header=header,
        id_index=id_index,
        columns=tuple(
            (i, name)
            for i, name in enumerate(header)
            if not name.startswith("_") and (i != id_index or id_as_property)
        ),
        empty_clears=empty_clears,
    )
    records = yield from _rows(reader, shape, bad, encoding)
    if not records:
        raise InputError("no records after the header row (line 1)")


def _rows(
    reader: Iterator[list[str]], shape: _Shape, bad: Undecodable, encoding: str
) -> Generator[SourceRecord, None, int]:
    """The records after the header; returns how many there were."""
    width = len(shape.header)
    position = 0
    last_line = 1
    while True:
        start = last_line + 1
        try:
            row = next(reader)
        except StopIteration:
            return position
        except csv.Error as exc:
            last_line = reader.line_num  # type: ignore[attr-defined]
            bad.clear()
            yield SourceRecord(position, start, None, _csv_problem(exc, start, last_line))
            position += 1
            continue
        last_line = reader.line_num  # type: ignore[attr-defined]
        if not row:
            bad.clear()
            continue
        if bad:
            column = _escaped_column(row, shape.header)
            problem = _not_text(encoding, bad[0][1], None)
            bad.clear()
            yield SourceRecord(position, start, None, problem, column, tuple(row))
        elif len(row) != width:
            problem = f"{len(row)} fields, but the header has {width}"
            yield SourceRecord(position, start, None, problem, None, tuple(row))
        else:
            yield SourceRecord(position, start, _record(row, shape))
        position += 1


def _record(row: list[str], shape: _Shape) -> dict[str, object]:
    properties: dict[str, str] = {}
    for i, name in shape.columns:
        value = row[i]
        if value or shape.empty_clears:
            properties[name] = value
    if shape.id_index is None:
        return {"properties": properties}
    return {"id": row[shape.id_index], "properties": properties}


def _csv_problem(exc: csv.Error, start: int, end: int) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a field is longer than {MAX_FIELD_CHARS:,} characters (HubSpot's 32 MiB)"
    if "unexpected end of data" in text:
        return f"a quote opened on line {start} is never closed (read up to line {end})"
    return f"not valid CSV: {text}"


def _not_text(encoding: str, byte: str, where: str | None) -> str:
    place = f" in {where}" if where else ""
    return (
        f"not {encoding} text: byte 0x{byte}{place}; name the file's encoding with "
        "--encoding (an Excel export is often cp1252 or latin-1)"
    )


def _escaped_column(row: list[str], header: tuple[str, ...]) -> str | None:
    for index, cell in enumerate(row):
        if not cell.isascii() and any(ord(c) in _ESCAPED for c in cell):
            return header[index] if index < len(header) else None
    return None


def _read_header(
    reader: Iterator[list[str]], id_column: str | None, sep: str, first: str, *, explicit: bool
) -> tuple[str, ...]:
    """The CSV header's column names, checked: each named, once, ``id_column`` (if any)
    among them."""
    try:
        header = tuple(name.strip() for name in next(reader))
    except csv.Error as exc:
        raise InputError(f"the header row is not valid CSV: {exc}", line=1) from None
    seen: set[str] = set()
    for number, name in enumerate(header, start=1):
        if not name:
            raise InputError(f"column {number} of the header has no name", line=1)
        if name in seen:
            raise InputError(f"column {name!r} appears twice in the header", line=1)
        seen.add(name)
    if id_column is not None and id_column not in seen:
        how = "given" if explicit else "detected"
        raise InputError(
            f"no id column {id_column!r} in the header (columns: {', '.join(header)}; "
            f"delimiter {delimiter_name(sep)}, {how}){_header_hint(first, header, id_column, sep)}",
            line=1,
        )
    return header


def _header_hint(first: str, header: tuple[str, ...], id_column: str, sep: str) -> str:
    """What to try when the id column is not found: another delimiter, or its spelling."""
    for other in DELIMITERS:
        names = [name.strip().strip('"') for name in first.rstrip("\r\n").split(other)]
        if other != sep and id_column in names:
            shown = "tab" if other == "\t" else f"'{other}'"
            return f"; the header looks {delimiter_name(other)}-separated: pass --delimiter {shown}"
    folded = {name.casefold(): name for name in header}
    if id_column.casefold() in folded:
        return f"; did you mean {folded[id_column.casefold()]!r}? (names are case-sensitive)"
    return "; name it with --id-column"
