"""The command line's input: CSV or JSON Lines, gzip'd or not, from a file, stdin or the bundled
sample, read one line at a time as records in HubSpot's input shape.

Input formats are rows of one table, ``FORMATS`` (name -> reader, file suffixes): it decides
the format of a file by its suffix and gives ``--format`` its choices. ``ids`` (one id per line,
``.txt`` or no suffix) is read only by the commands that take ids (``read``, ``archive``), which
also take a CSV's id column or a JSON line's ``id`` (``only_ids``). Every record comes as a
``SourceRecord``: its 0-based position among the file's records, the 1-based line number it
starts on, and the record, or the reason the line is not one.

JSON Lines numbers keep their exact value: a number orjson would read as a binary float (one
with a fraction or an exponent, or an integer wider than 64 bits) makes its line be read again
with ``json.loads(parse_float=Decimal)``, so ``123456789012345678901234567890`` and
``0.10000000000000000001`` reach HubSpot digit for digit (Python's ints are exact).

The parsers ``parse_jsonl`` and ``parse_csv`` (``_csv``: delimiters, encodings, long fields)
are pure (they take an iterable of lines); a line that is not a record is a ``SourceRecord``
with its reason, so a bad row never ends the input. An empty file, or one with no record, is
an ``InputError``.
``open_records`` and ``Source.fingerprint`` do file I/O; ``ThreadedSource``
runs a blocking reader (stdin, which may wait on a slow producer) in a daemon thread so the
event loop never blocks.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gzip
import hashlib
import io
import json
import os
import sys
import threading
import zlib
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Iterator, Sequence
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import IO, cast

import attrs
import orjson

from ._csv import CsvLayout, Undecodable, decode_lines, parse_csv
from ._records import InputError, SourceRecord

__all__ = [
    "FORMATS",
    "SAMPLES",
    "Format",
    "InputError",
    "InputFormat",
    "ReadOptions",
    "Source",
    "SourceRecord",
    "ThreadedSource",
    "aiter_records",
    "only_ids",
    "open_records",
    "parse_csv",
    "parse_jsonl",
    "resolve_source",
    "sample_source",
]

#: The name of an input format: a key of ``FORMATS``.
Format = str

#: ``FILE`` values that name a bundled sample instead of a file.
SAMPLES = {"sample:courses": "courses_sample.jsonl.gz"}

_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"
#: A checkpoint identifies its input by the size, the modification time and a hash of the
#: first and last blocks of this size (see ``Source.fingerprint``).
FINGERPRINT_BLOCK = 64 * 1024


@attrs.frozen(kw_only=True)
class ReadOptions:
    """How CSV columns become a record (JSON Lines ignores them): the id column (None: no
    id, records to create), the delimiter (None: detected from the header line), the
    encoding, and who is told the layout once the header is read (the CSV ``--errors`` file
    writes the same columns)."""

    id_column: str | None = "id"
    id_as_property: bool = False
    empty_clears: bool = False
    delimiter: str | None = None
    encoding: str = "utf-8"
    on_header: Callable[[CsvLayout], None] | None = attrs.field(default=None, eq=False)


Reader = Callable[[IO[bytes], ReadOptions], Iterator[SourceRecord]]


@attrs.frozen
class InputFormat:
    """One input format: its ``--format`` name, its reader and the file suffixes that mean
    it."""

    name: str
    read: Reader
    suffixes: tuple[str, ...]


@attrs.frozen
class Source:
    """What ``FILE`` names: a path, stdin (``-``) or a bundled sample, and its format."""

    name: str
    format: Format
    path: Path | None = None
    sample: str | None = None

    @property
    def is_stdin(self) -> bool:
        return self.path is None and self.sample is None

    def fingerprint(self) -> dict[str, object]:
        """What identifies the input's content for a checkpoint (not for stdin; file I/O).

        The size, the modification time (ns) and a SHA-256 of the first and last
        ``FINGERPRINT_BLOCK`` bytes: a file replaced by another, or edited at either end or
        (by its mtime) anywhere, no longer matches, and only 128 KiB is read whatever the size.
        A bundled sample has no modification time.
        """
        if self.sample is not None:
            data = _sample_bytes(self.sample)
            return _fingerprint(
                len(data), None, data[:FINGERPRINT_BLOCK], data[-FINGERPRINT_BLOCK:]
            )
        assert self.path is not None
        try:
            with open(self.path, "rb") as file:
                stat = os.fstat(file.fileno())
                head = file.read(FINGERPRINT_BLOCK)
                file.seek(max(0, stat.st_size - FINGERPRINT_BLOCK))
                tail = file.read(FINGERPRINT_BLOCK)
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}") from None
        return _fingerprint(stat.st_size, stat.st_mtime_ns, head, tail)


def _fingerprint(size: int, mtime_ns: int | None, head: bytes, tail: bytes) -> dict[str, object]:
    digest = hashlib.sha256(b"%d\n" % size)
    digest.update(head)
    digest.update(tail)
    return {"size": size, "mtime_ns": mtime_ns, "sha256": digest.hexdigest()}


def sample_source(name: str = "sample:courses") -> Source:
    """The bundled sample ``name`` (a key of ``SAMPLES``) as a source."""
    return Source(name=name, format="jsonl", sample=SAMPLES[name])


def resolve_source(name: str, fmt: Format | None, formats: Sequence[Format] = ()) -> Source:
    """Work out what ``FILE`` names and its format (``--format`` wins over the extension),
    one of ``formats`` (default: every format but ``ids``). A file with no suffix at all is
    ``ids`` where that is allowed.

    Raises:
        InputError: the file does not exist, or its format cannot be told or is not allowed.
    """
    allowed = tuple(formats) or tuple(f for f in FORMATS if f != "ids")
    if fmt is not None and fmt not in allowed:
        raise InputError(f"format {fmt!r} is not read here: use {_choices(allowed)}")
    if name in SAMPLES:
        return Source(name=name, format=fmt or "jsonl", sample=SAMPLES[name])
    if name.startswith("sample:"):
        raise InputError(f"no bundled sample {name!r}; there is: {', '.join(SAMPLES)}")
    if name == "-":
        if fmt is None:
            raise InputError(f"cannot tell the format of stdin: pass --format {_choices(allowed)}")
        return Source(name="<stdin>", format=fmt)
    path = Path(name)
    if not path.is_file():
        raise InputError("no such file" if not path.exists() else "not a file")
    return Source(name=name, format=fmt or _format_of(path, allowed), path=path)


def _format_of(path: Path, allowed: tuple[Format, ...]) -> Format:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    if not suffixes and "ids" in allowed:
        return "ids"
    fmt = _BY_SUFFIX.get(suffixes[-1]) if suffixes else None
    if fmt is None or fmt not in allowed:
        known = ", ".join(sorted(s for s, f in _BY_SUFFIX.items() if f in allowed))
        raise InputError(
            f"cannot tell the format from the extension ({known}, optionally .gz): "
            f"pass --format {_choices(allowed)}"
        )
    return fmt


def _choices(formats: Iterable[Format]) -> str:
    return " or ".join(formats)


def _sample_bytes(sample: str) -> bytes:
    return resources.files("asyncbatch").joinpath("_data", sample).read_bytes()


def _ungzip(raw: IO[bytes]) -> IO[bytes]:
    # Sniff rather than trust the extension: a .gz name on plain text, or gzip on stdin.
    if raw.seekable():
        head = raw.read(2)
        raw.seek(0)
    elif isinstance(raw, io.BufferedReader):
        head = raw.peek(2)[:2]
    else:
        head = b""
    if head == _GZIP_MAGIC:
        return cast("IO[bytes]", gzip.GzipFile(fileobj=raw, mode="rb"))
    return raw


@contextlib.contextmanager
def _open_binary(source: Source) -> Iterator[IO[bytes]]:
    with contextlib.ExitStack() as stack:
        raw: IO[bytes]
        if source.sample is not None:
            raw = io.BytesIO(_sample_bytes(source.sample))
        elif source.path is not None:
            try:
                raw = open(source.path, "rb")
            except OSError as exc:
                raise InputError(f"cannot open: {exc.strerror}") from None
        else:
            # A file object of our own on a duplicate of fd 0: a daemon thread blocked reading
            # it cannot hold the lock of sys.stdin's buffer at interpreter shutdown.
            raw = open(os.dup(sys.stdin.fileno()), "rb")
        stack.enter_context(raw)
        yield stack.enter_context(_ungzip(raw))


def _has_float(value: object) -> bool:
    """Whether a parsed JSON value holds a float anywhere (one ``set(map(type, ...))`` a
    container: records are shallow, so this is cheap next to parsing)."""
    values: Iterable[object]
    if type(value) is dict:
        values = cast("dict[str, object]", value).values()
    elif type(value) is list:
        values = cast("list[object]", value)
    else:
        return type(value) is float
    kinds = set(map(type, values))
    if float in kinds:
        return True
    if dict in kinds or list in kinds:
        return any(_has_float(v) for v in values if type(v) is dict or type(v) is list)
    return False


class _NotJson(ValueError):
    """``NaN``, ``Infinity``: Python's json reads them, JSON has no such thing."""


def _no_constant(name: str) -> object:
    raise _NotJson(name)


def _exact_loads(line: bytes) -> object:
    return json.loads(line, parse_float=Decimal, parse_constant=_no_constant)


def _loads(line: bytes) -> object:
    """One JSON value, every number exact: orjson, or ``json.loads`` with ``Decimal`` when
    orjson made a binary float of some number or refused one past a double's range (see the
    module docstring).

    Raises:
        orjson.JSONDecodeError: the line is not JSON.
        ValueError: a number with more digits than Python reads (4300).
    """
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as not_json:
        try:
            return _exact_loads(line)  # an integer of 310+ digits is JSON all the same
        except (json.JSONDecodeError, _NotJson):
            raise not_json from None
    if _has_float(value):
        value = _exact_loads(line)
    return value


def parse_jsonl(lines: Iterable[bytes]) -> Iterator[SourceRecord]:
    """Records from JSON Lines in HubSpot's input shape. Pure.

    Blank lines are skipped, and a leading UTF-8 byte-order mark; keys starting with ``_``
    (such as the ``_error`` of a dead-letter file) are dropped, so a file of failed inputs
    can be fed back as it is. A line that is not a record keeps its text in ``raw``.

    Raises:
        InputError: no record at all (an empty file, or only blank lines).
    """
    position = number = 0
    for number, line in enumerate(lines, start=1):
        if number == 1 and line.startswith(_UTF8_BOM):
            line = line[len(_UTF8_BOM) :]
        if not line.strip():
            continue
        problem = None
        try:
            value = _loads(line)
        except orjson.JSONDecodeError as exc:
            problem = f"not valid JSON ({str(exc).split(': line ')[0]})"
        except ValueError as exc:  # json.loads: an integer past Python's 4300-digit limit
            problem = f"not a number HubSpot can take ({exc})"
        else:
            if isinstance(value, dict):
                if any(key.startswith("_") for key in value):
                    value = {k: v for k, v in value.items() if not k.startswith("_")}
                yield SourceRecord(position, number, value)
            else:
                problem = f"a line must be a JSON object (a record), got {type(value).__name__}"
        if problem is not None:
            raw = line.decode("utf-8", "replace").rstrip("\r\n")
            yield SourceRecord(position, number, None, problem, None, raw)
        position += 1
    if not position:
        raise InputError(
            "the file is empty: no records" if not number else "no records, only blank lines"
        )


def _read_jsonl(binary: IO[bytes], options: ReadOptions) -> Iterator[SourceRecord]:
    return parse_jsonl(binary)


def _read_csv(binary: IO[bytes], options: ReadOptions) -> Iterator[SourceRecord]:
    undecodable: Undecodable = []
    return parse_csv(
        decode_lines(binary, options.encoding, undecodable),
        id_column=options.id_column,
        id_as_property=options.id_as_property,
        empty_clears=options.empty_clears,
        delimiter=options.delimiter,
        encoding=options.encoding,
        undecodable=undecodable,
        on_header=options.on_header,
    )


def parse_ids(lines: Iterable[bytes]) -> Iterator[SourceRecord]:
    """Ids, one a line (``{"id": ...}`` records), surrounding whitespace stripped; blank lines
    and a leading UTF-8 byte-order mark are skipped. Pure. A line that is not UTF-8 text is a
    bad row.

    Raises:
        InputError: no id at all.
    """
    position = number = 0
    for number, line in enumerate(lines, start=1):
        if number == 1 and line.startswith(_UTF8_BOM):
            line = line[len(_UTF8_BOM) :]
        try:
            text = line.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raw = line.decode("utf-8", "replace").strip()
            problem = f"not utf-8 text: byte 0x{line[exc.start]:02x}"
            yield SourceRecord(position, number, None, problem, None, raw)
            position += 1
            continue
        if text:
            yield SourceRecord(position, number, {"id": text})
            position += 1
    if not position:
        raise InputError("the file is empty: no ids" if not number else "no ids, only blank lines")


def _read_ids(binary: IO[bytes], options: ReadOptions) -> Iterator[SourceRecord]:
    return parse_ids(binary)


#: The input formats, by ``--format`` name.
FORMATS: dict[Format, InputFormat] = {
    f.name: f
    for f in (
        InputFormat("csv", _read_csv, (".csv",)),
        InputFormat("jsonl", _read_jsonl, (".jsonl", ".ndjson", ".json")),
        InputFormat("ids", _read_ids, (".txt",)),
    )
}
_BY_SUFFIX = {suffix: f.name for f in FORMATS.values() for suffix in f.suffixes}


def open_records(source: Source, options: ReadOptions | None = None) -> Iterator[SourceRecord]:
    """Read ``source`` one line at a time (I/O). Closes the file when exhausted or closed.

    Raises:
        InputError: the file cannot be opened, decompressed, decoded or read, at the start or
            mid-stream (a corrupt gzip, a disk error: naming the last line read).
    """
    read = FORMATS[source.format].read
    with _open_binary(source) as binary:
        line = 0
        try:
            for record in read(binary, options or ReadOptions()):
                line = record.line
                yield record
        except zlib.error as exc:
            raise InputError(f"not valid gzip data after line {line} ({exc})") from None
        except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise InputError(f"cannot read after line {line}: {reason}") from None


def only_ids(
    records: Iterator[SourceRecord], *, id_property: bool
) -> Generator[SourceRecord, None, None]:
    """``records`` reduced to the ids a read or an archive takes: a CSV row's id column, a
    JSON line's ``id`` (and ``idProperty`` with ``id_property``; without, a line naming its
    record by a property is a bad row: archive takes record ids only). A line without an
    ``id`` is passed on whole, for the planner to refuse. Closes ``records`` when closed."""
    try:
        for item in records:
            yield _id_of(item, id_property=id_property)
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()


def _id_of(item: SourceRecord, *, id_property: bool) -> SourceRecord:
    record = item.record
    if record is None or "id" not in record:
        return item
    reduced: dict[str, object] = {"id": record["id"]}
    named_by = record.get("idProperty")
    if named_by is not None:
        if not id_property:
            raw = orjson.dumps(record, default=str).decode()
            problem = (
                f"archive takes record ids only, and this line names its record by idProperty "
                f"{named_by!r}: read the records by it first, then archive their ids"
            )
            return SourceRecord(item.position, item.line, None, problem, "idProperty", raw)
        reduced["idProperty"] = named_by
    return item._replace(record=reduced)


async def aiter_records(records: Iterator[SourceRecord]) -> AsyncGenerator[SourceRecord, None]:
    """``records`` as an async iterator (a file's reads are short: no thread needed)."""
    try:
        for record in records:
            yield record
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()


class ThreadedSource:
    """Iterate a blocking iterator (stdin's records) from the event loop, without blocking it.

    A daemon thread runs the iterator and hands items over through a bounded buffer, so it
    reads ahead at most ``capacity`` items; ``interrupt()`` ends the iteration at once even
    while the thread waits for input (the thread, a daemon, is left to the process's exit).
    """

    def __init__(self, make: Callable[[], Iterator[SourceRecord]], *, capacity: int = 1024):
        self._make = make
        self._items: collections.deque[SourceRecord] = collections.deque()
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(capacity)
        self._done = False
        self._error: BaseException | None = None
        self._interrupted = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._thread: threading.Thread | None = None

    def _wake(self) -> None:  # with the lock held
        waiter, self._waiter = self._waiter, None
        if waiter is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(_resolve, waiter)

    def _run(self) -> None:
        try:
            for item in self._make():
                while not self._slots.acquire(timeout=0.2):
                    if self._interrupted:
                        return
                if self._interrupted:
                    return
                with self._lock:
                    self._items.append(item)
                    self._wake()
        except BaseException as exc:  # handed to the loop, raised there
            with self._lock:
                self._error = exc
        finally:
            with self._lock:
                self._done = True
                self._wake()

    def __aiter__(self) -> ThreadedSource:
        return self

    async def __anext__(self) -> SourceRecord:
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(target=self._run, name="asyncbatch-stdin", daemon=True)
            self._thread.start()
        while True:
            with self._lock:
                if self._interrupted:
                    raise StopAsyncIteration
                if self._items:
                    item = self._items.popleft()
                    self._slots.release()
                    return item
                if self._done:
                    if self._error is not None:
                        raise self._error
                    raise StopAsyncIteration
                assert self._loop is not None
                waiter = self._waiter = self._loop.create_future()
            await waiter

    def interrupt(self) -> None:
        """End the iteration now (call from the event loop's thread)."""
        with self._lock:
            self._interrupted = True
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            _resolve(waiter)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
