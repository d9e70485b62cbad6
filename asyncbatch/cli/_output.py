"""The command line's output files: written records (``--out``) and failed inputs
(``--errors``), one JSON object a line; ``-`` writes to stdout.

A results line is HubSpot's result object plus ``"_input": {"lines", "positions"}`` (where the
record came from in FILE). A failed line is the input in HubSpot's input shape (``id``,
``properties``, ``idProperty``, the caller's ``objectWriteTraceId``) plus ``"_error":
{"reason", "category", "code", "property", "status", "line", "position", "sent", "final"}``;
keys starting with ``_`` are ignored on reading, so the file can be fixed and fed back as FILE.
``final`` is false for an input that got no final answer (never sent, a network error, retries
exhausted, the run stopped...): a checkpoint did not journal it, so rerunning with the same
checkpoint sends it again.

On resuming (``append``), a file whose last line was torn by a crash is first cut back to its
last complete line, so every line stays one JSON object.

``result_line`` and ``failed_line`` are pure; ``JsonlWriter`` does file I/O and raises
``OutputError`` (naming the file) when the file cannot be written.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from .._convert import converter
from .._models import FailedInput, SimplePublicObject

__all__ = ["STDOUT", "JsonlWriter", "OutputError", "failed_line", "result_line"]

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


def failed_line(failed: FailedInput, *, lines: Sequence[int], positions: Sequence[int]) -> bytes:
    """One ``--errors`` line: the input as it would be fed back, and why it failed.

    The ``objectWriteTraceId`` is the caller's own (``failed.trace_id``), if the input line
    had one; the one the client assigned is not written: it is assigned again on the next run.
    """
    item = failed.input
    data: dict[str, Any] = {"id": item.id, "properties": dict(item.properties)}
    if item.id_property is not None:
        data["idProperty"] = item.id_property
    if failed.trace_id is not None:
        data["objectWriteTraceId"] = failed.trace_id
    data["_error"] = {
        "reason": failed.reason,
        "category": failed.category or failed.error.category or None,
        "code": failed.code,
        "property": failed.property_name,
        "status": failed.status_code,
        "line": lines[0] if lines else None,
        "position": positions[0] if positions else None,
        "sent": failed.sent,
        "final": failed.final,
    }
    if len(lines) > 1:  # duplicates coalesced into this one input
        data["_error"]["lines"] = list(lines)
    return orjson.dumps(data) + b"\n"


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
