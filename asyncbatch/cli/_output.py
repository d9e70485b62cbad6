"""The command line's output files: written records (``--out``) and failed inputs
(``--errors``), one JSON object a line.

A results line is HubSpot's result object plus ``"_input": {"lines", "positions"}`` (where the
record came from in FILE). A failed line is the input in HubSpot's input shape (``id``,
``properties``, ``idProperty``) plus ``"_error": {"reason", "category", "status", "line",
"position", "final"}``; keys starting with ``_`` are ignored on reading, so the file can be
fixed and fed back as FILE. ``final`` is false for an input the run did not finish because it
was stopped (authentication, daily limit): a checkpoint did not journal it, so rerunning with
the same checkpoint sends it again.

``result_line`` and ``failed_line`` are pure; ``JsonlWriter`` does file I/O.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from .._convert import converter
from .._models import FailedInput, SimplePublicObject

__all__ = ["JsonlWriter", "failed_line", "result_line"]


def result_line(
    result: SimplePublicObject, *, lines: Sequence[int], positions: Sequence[int]
) -> bytes:
    """One ``--out`` line: the result as HubSpot wrote it, and where its input came from."""
    data: dict[str, Any] = converter.unstructure(result)
    data["_input"] = {"lines": list(lines), "positions": list(positions)}
    return orjson.dumps(data) + b"\n"


def failed_line(
    failed: FailedInput,
    *,
    lines: Sequence[int],
    positions: Sequence[int],
    trace_id: str | None,
    final: bool,
) -> bytes:
    """One ``--errors`` line: the input as it would be fed back, and why it failed.

    ``trace_id`` is the caller's own ``objectWriteTraceId``, if the input line had one (the
    one the client assigned is not written: it is assigned again on the next run).
    """
    item = failed.input
    data: dict[str, Any] = {"id": item.id, "properties": dict(item.properties)}
    if item.id_property is not None:
        data["idProperty"] = item.id_property
    if trace_id is not None:
        data["objectWriteTraceId"] = trace_id
    data["_error"] = {
        "reason": failed.reason,
        "category": failed.error.category or None,
        "status": failed.status_code,
        "line": lines[0] if lines else None,
        "position": positions[0] if positions else None,
        "final": final,
    }
    if len(lines) > 1:  # duplicates coalesced into this one input
        data["_error"]["lines"] = list(lines)
    return orjson.dumps(data) + b"\n"


class JsonlWriter:
    """A JSON Lines output file, truncated at start or appended to (when resuming)."""

    def __init__(self, path: Path, *, append: bool) -> None:
        self.path = path
        self._file = open(path, "ab" if append else "wb")

    def write(self, line: bytes) -> None:
        self._file.write(line)

    def flush(self, *, durable: bool) -> None:
        """Hand what was written to the OS; with ``durable``, to the disk too (fsync)."""
        self._file.flush()
        if durable:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()
