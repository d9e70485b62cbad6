"""The command line's input: CSV or JSON Lines, gzip'd or not, from a file, stdin or the bundled
sample, read one line at a time as records in HubSpot's input shape.

Every record comes as a ``SourceRecord``: its 0-based position among the file's records, the
1-based line number it starts on, and the record, or the reason the line is not one. The
parsers ``parse_jsonl`` and ``parse_csv`` are pure (they take an iterable of lines).
``open_records`` and ``count_lines`` do file I/O; ``ThreadedSource`` runs a blocking reader
(stdin, which may wait on a slow producer) in a daemon thread so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import csv
import gzip
import io
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import IO, Literal, NamedTuple, cast

import attrs
import orjson

__all__ = [
    "SAMPLES",
    "Format",
    "InputError",
    "Source",
    "SourceRecord",
    "ThreadedSource",
    "count_lines",
    "open_records",
    "parse_csv",
    "parse_jsonl",
    "resolve_source",
]

Format = Literal["csv", "jsonl"]

#: ``FILE`` values that name a bundled sample instead of a file.
SAMPLES = {"sample:courses": "courses_sample.jsonl.gz"}

_EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_GZIP_MAGIC = b"\x1f\x8b"


class InputError(Exception):
    """The input cannot be read (as a whole, or from ``line`` on). The message is for users."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class SourceRecord(NamedTuple):
    """One record of the input: exactly one of ``record`` and ``error`` is set."""

    position: int
    line: int
    record: dict[str, object] | None
    error: str | None = None


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

    def identity(self) -> tuple[str, int]:
        """The file's name and size as a checkpoint records them (not for stdin)."""
        if self.sample is not None:
            return self.name, len(_sample_bytes(self.sample))
        assert self.path is not None
        path = self.path.resolve()
        return str(path), path.stat().st_size


def resolve_source(name: str, fmt: Format | None) -> Source:
    """Work out what ``FILE`` names and its format (``--format`` wins over the extension).

    Raises:
        InputError: the file does not exist or its format cannot be told.
    """
    if name in SAMPLES:
        return Source(name=name, format=fmt or "jsonl", sample=SAMPLES[name])
    if name.startswith("sample:"):
        raise InputError(f"no bundled sample {name!r}; there is: {', '.join(SAMPLES)}")
    if name == "-":
        if fmt is None:
            raise InputError("cannot tell the format of stdin: pass --format csv or jsonl")
        return Source(name="<stdin>", format=fmt)
    path = Path(name)
    if not path.is_file():
        raise InputError("no such file" if not path.exists() else "not a file")
    if fmt is None:
        suffixes = [s.lower() for s in path.suffixes]
        if suffixes and suffixes[-1] == ".gz":
            suffixes.pop()
        fmt = _EXTENSIONS.get(suffixes[-1]) if suffixes else None
        if fmt is None:
            raise InputError(
                "cannot tell the format from the extension "
                "(.csv, .jsonl, optionally .gz): pass --format csv or jsonl"
            )
    return Source(name=name, format=fmt, path=path)


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


def parse_jsonl(lines: Iterable[bytes]) -> Iterator[SourceRecord]:
    """Records from JSON Lines in HubSpot's input shape. Pure.

    Blank lines are skipped; keys starting with ``_`` (such as the ``_error`` of a dead-letter
    file) are dropped, so a file of failed inputs can be fed back as it is.
    """
    position = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            reason = str(exc).split(": line ")[0]
            yield SourceRecord(position, number, None, f"not valid JSON ({reason})")
        else:
            if isinstance(value, dict):
                if any(key.startswith("_") for key in value):
                    value = {k: v for k, v in value.items() if not k.startswith("_")}
                yield SourceRecord(position, number, value)
            else:
                yield SourceRecord(
                    position,
                    number,
                    None,
                    f"a line must be a JSON object (a record), got {type(value).__name__}",
                )
        position += 1


def parse_csv(
    lines: Iterable[str],
    *,
    id_column: str = "id",
    id_as_property: bool = False,
    empty_clears: bool = False,
) -> Iterator[SourceRecord]:
    """Records from CSV with a header row: each column is a property, ``id_column`` the id.

    Pure. An empty cell leaves its property out, or clears it (``""``) with
    ``empty_clears``. The id column is a property too when ``id_as_property`` (an upsert
    keyed by that column). Blank lines are skipped.

    Raises:
        InputError: a bad header (no id column, an unnamed or repeated column) or a line the
            CSV reader cannot read.
    """
    reader = csv.reader(lines, strict=True)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputError(f"the header row is not valid CSV: {exc}", line=1) from None
    seen: set[str] = set()
    for number, name in enumerate(header, start=1):
        if not name:
            raise InputError(f"column {number} of the header has no name", line=1)
        if name in seen:
            raise InputError(f"column {name!r} appears twice in the header", line=1)
        seen.add(name)
    if id_column not in seen:
        raise InputError(
            f"no id column {id_column!r} in the header (columns: {', '.join(header)}); "
            "name it with --id-column",
            line=1,
        )
    id_index = header.index(id_column)
    columns = [(i, name) for i, name in enumerate(header) if i != id_index or id_as_property]
    width = len(header)
    position = 0
    last_line = reader.line_num
    while True:
        start = last_line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(f"not valid CSV: {exc}", line=start) from None
        last_line = reader.line_num
        if not row:
            continue
        if len(row) != width:
            yield SourceRecord(
                position, start, None, f"{len(row)} fields, but the header has {width}"
            )
        else:
            properties: dict[str, str] = {}
            for i, name in columns:
                value = row[i]
                if value or empty_clears:
                    properties[name] = value
            yield SourceRecord(position, start, {"id": row[id_index], "properties": properties})
        position += 1


def open_records(
    source: Source,
    *,
    id_column: str = "id",
    id_as_property: bool = False,
    empty_clears: bool = False,
) -> Iterator[SourceRecord]:
    """Read ``source`` one line at a time (I/O). Closes the file when exhausted or closed.

    Raises:
        InputError: the file cannot be opened, decompressed or decoded (naming the line).
    """
    with _open_binary(source) as binary:
        if source.format == "jsonl":
            records = parse_jsonl(binary)
        else:
            text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
            records = parse_csv(
                text,
                id_column=id_column,
                id_as_property=id_as_property,
                empty_clears=empty_clears,
            )
        line = 0
        try:
            for record in records:
                line = record.line
                yield record
        except UnicodeDecodeError:
            raise InputError("not valid UTF-8 text", line=line + 1) from None
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"cannot read after line {line}: {exc}") from None


def count_lines(source: Source) -> int | None:
    """Roughly how many records ``source`` holds (its line count), for a progress total.

    Reads the file once in large blocks (I/O); None for stdin.
    """
    if source.is_stdin:
        return None
    count = 0
    last = b"\n"
    try:
        with _open_binary(source) as binary:
            while block := binary.read(1 << 20):
                count += block.count(b"\n")
                last = block[-1:]
    except (OSError, EOFError, InputError):
        return None
    count += last != b"\n"
    return max(0, count - 1) if source.format == "csv" else count


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
