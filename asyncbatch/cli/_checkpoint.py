"""The command line's checkpoint: a journal of finished record positions, for resuming a run.

The journal is JSON Lines. Its first line is a header naming the input and the job::

    {"asyncbatch_checkpoint": 2, "file": "/abs/path.csv",
     "input": {"size": 123, "mtime_ns": 1700000000000000000, "sha256": "9f86..."},
     "operation": "upsert", "object_type": "0-410", "id_property": "course_code"}

A checkpoint resumes only the same job on the same input. The input is identified by its
content, not its name (``Source.fingerprint``: size, modification time, and a SHA-256 of its
first and last 64 KiB): a file replaced or edited since is refused, a file moved or renamed
unchanged still resumes. ``file`` is kept to tell people what the journal is for.

and every later line lists, as half-open ``[start, end)`` ranges of 0-based record positions
in the file, the records of one chunk that got a final answer (written, or failed for their
data)::

    {"done": [[0, 100]]}

A line may also list, among its ``done`` positions, those that failed for good (refused by
HubSpot for their data, or bad rows skipped), so that a resumed run reports the totals of every
run and exits 1 if any failure is on record::

    {"done": [[100, 200]], "failed": [[117, 118]]}

A create's records whose outcome is unknown (sent, no answer: they may have been created) are
journaled as finished too, and listed under ``unknown``, so that no rerun sends them again
unless told to (``--resend-unknown``); a later line that journals one of them without
``unknown`` (resent, and answered) settles it::

    {"done": [[200, 300]], "unknown": [[200, 300]]}

A reader that does not know ``unknown`` sees them as finished: never resent, never duplicated.

Each line is appended and fsync'd when its chunk's answer arrives, so the journal only ever
names finished records; a line torn by a crash is ignored on reading (its records are
sent again: never lost). ``RangeSet`` and
``ranges_of`` are pure; ``Checkpoint`` does file I/O.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Self

import orjson

from ._output import OutputError

__all__ = ["Checkpoint", "CheckpointError", "RangeSet", "peek_done", "ranges_of"]

_VERSION = 2
_HEADER_KEY = "asyncbatch_checkpoint"
#: Header keys written for people, not compared on resuming.
_INFORMATIVE = frozenset({"file"})


class CheckpointError(Exception):
    """The checkpoint cannot be used: unreadable, or written for another input or job."""


def ranges_of(positions: Iterable[int]) -> list[list[int]]:
    """Sorted, merged half-open ``[start, end)`` ranges covering ``positions``. Pure."""
    out: list[list[int]] = []
    for p in sorted(set(positions)):
        if out and out[-1][1] == p:
            out[-1][1] = p + 1
        else:
            out.append([p, p + 1])
    return out


class RangeSet:
    """A set of non-negative ints kept as sorted, disjoint, non-adjacent half-open ranges.

    Memory grows with the number of gaps, not the number of members. Pure.
    """

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        """Add ``[start, end)``, merging with the ranges it touches."""
        if end <= start:
            return
        i = bisect.bisect_left(self._ends, start)  # first range that ends at or after start
        j = bisect.bisect_right(self._starts, end)  # ranges before j start at or before end
        if i < j:
            start = min(start, self._starts[i])
            end = max(end, self._ends[j - 1])
        self._starts[i:j] = [start]
        self._ends[i:j] = [end]

    def remove(self, start: int, end: int) -> None:
        """Remove ``[start, end)``, cutting the ranges it overlaps."""
        if end <= start:
            return
        i = bisect.bisect_right(self._ends, start)  # first range that ends after start
        j = bisect.bisect_left(self._starts, end)  # ranges before j start before end
        if i >= j:
            return
        starts, ends = [], []
        if self._starts[i] < start:
            starts.append(self._starts[i])
            ends.append(start)
        if self._ends[j - 1] > end:
            starts.append(end)
            ends.append(self._ends[j - 1])
        self._starts[i:j] = starts
        self._ends[i:j] = ends

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int):
            return False
        i = bisect.bisect_right(self._starts, value) - 1
        return i >= 0 and value < self._ends[i]

    def __len__(self) -> int:
        return sum(e - s for s, e in zip(self._starts, self._ends, strict=True))

    def ranges(self) -> list[list[int]]:
        """The ranges, as ``[[start, end), ...]``."""
        return [[s, e] for s, e in zip(self._starts, self._ends, strict=True)]


class Checkpoint:
    """An open checkpoint journal: ``done`` holds what earlier runs finished, ``failed`` and
    ``unknown`` (of unknown outcome) which of them did not end written.

    Open it with ``Checkpoint.open(path, header)``: a new file gets ``header`` as its first
    line; an existing one must carry the same header, else ``CheckpointError``.
    """

    def __init__(
        self,
        path: Path,
        done: RangeSet,
        resumed: bool,
        failed: RangeSet | None = None,
        unknown: RangeSet | None = None,
    ) -> None:
        self.path = path
        self.done = done
        self.failed = failed if failed is not None else RangeSet()
        self.unknown = unknown if unknown is not None else RangeSet()
        self.resumed = resumed
        self._fd: int | None = None

    @classmethod
    def open(cls, path: Path, header: dict[str, Any]) -> Self:
        """Read (or create) the journal at ``path`` for the job described by ``header``."""
        header = {_HEADER_KEY: _VERSION, **header}
        raw, done, failed, unknown = _read(path, header)
        resumed = bool(raw.strip())
        checkpoint = cls(path, done, resumed, failed, unknown)
        try:
            checkpoint._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            if raw and not raw.endswith(b"\n"):
                checkpoint._write(b"\n")  # end a torn line so the next entry starts clean
            if not resumed:
                checkpoint._write(orjson.dumps(header) + b"\n")
        except OSError as exc:
            checkpoint.close()
            raise CheckpointError(f"cannot write checkpoint {path}: {exc.strerror}") from None
        return checkpoint

    def _write(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)

    def record(
        self, positions: Iterable[int], *, failed: Iterable[int] = (), unknown: Iterable[int] = ()
    ) -> None:
        """Journal ``positions`` as finished, ``failed`` (some of them) as failed for good and
        ``unknown`` (others) as of unknown outcome (one line, fsync'd), and add them to
        ``done``, ``failed`` and ``unknown``; the rest of ``positions`` are no longer unknown.

        Raises:
            OutputError: the journal cannot be written (naming it).
        """
        ranges = ranges_of(positions)
        if not ranges:
            return
        entry: dict[str, list[list[int]]] = {"done": ranges}
        for key, given in (("failed", failed), ("unknown", unknown)):
            found = ranges_of(given)
            if found:
                entry[key] = found
        try:
            self._write(orjson.dumps(entry) + b"\n")
        except OSError as exc:
            raise OutputError(f"cannot write checkpoint {self.path}: {exc.strerror}") from None
        _apply(entry, self.done, self.failed, self.unknown)

    def close(self) -> None:
        """Close the journal file. Idempotent."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def peek_done(path: Path, header: dict[str, Any], *, resend_unknown: bool = False) -> RangeSet:
    """What the journal at ``path`` names as finished (empty if there is none), read only:
    nothing is created or written. With ``resend_unknown`` the records of unknown outcome
    are not counted as finished (``--resend-unknown`` sends them again).

    Raises:
        CheckpointError: it is unreadable or for another input or job.
    """
    _, done, _, unknown = _read(path, {_HEADER_KEY: _VERSION, **header})
    if resend_unknown:
        for start, end in unknown.ranges():
            done.remove(start, end)
    return done


def _read(path: Path, header: dict[str, Any]) -> tuple[bytes, RangeSet, RangeSet, RangeSet]:
    """The journal's bytes (empty if it does not exist), finished, failed and of unknown
    outcome positions."""
    done, failed, unknown = RangeSet(), RangeSet(), RangeSet()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return b"", done, failed, unknown
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror}") from None
    if not raw.strip():
        return raw, done, failed, unknown
    lines = raw.split(b"\n")
    try:
        found = orjson.loads(lines[0])
    except orjson.JSONDecodeError:
        found = None
    if not isinstance(found, dict) or _HEADER_KEY not in found:
        raise CheckpointError(f"{path} is not an asyncbatch checkpoint")
    diffs = _differences(found, header)
    if diffs:
        raise CheckpointError(
            f"checkpoint {path} was written for another input or job: "
            + ", ".join(diffs)
            + "; delete it to start over"
        )
    for line in lines[1:]:
        _read_entry(line, done, failed, unknown)
    return raw, done, failed, unknown


def _read_entry(line: bytes, done: RangeSet, failed: RangeSet, unknown: RangeSet) -> None:
    """Add one journal line's ranges to ``done``, ``failed`` and ``unknown``; skip a torn
    line."""
    try:
        entry = orjson.loads(line)
        spans = {
            key: [[int(start), int(end)] for start, end in entry.get(key, ())]
            for key in ("done", "failed", "unknown")
        }
        if "done" not in entry:
            raise KeyError("done")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        # A line torn by a crash mid-write. Skipping an entry is always safe: its records are
        # sent again (update and upsert are idempotent), never lost. A create's records are
        # sent again too: a crash inside one write is the window where one may be duplicated.
        return
    _apply(spans, done, failed, unknown)


def _apply(
    entry: dict[str, list[list[int]]], done: RangeSet, failed: RangeSet, unknown: RangeSet
) -> None:
    """One journal entry's effect: its positions done, some failed, some of unknown outcome,
    and the rest settled (no longer unknown)."""
    for start, end in entry["done"]:
        unknown.remove(start, end)
        done.add(start, end)
    for start, end in entry.get("failed", ()):
        failed.add(start, end)
    for start, end in entry.get("unknown", ()):
        unknown.add(start, end)


def _differences(found: dict[str, Any], header: dict[str, Any]) -> list[str]:
    """What differs between a journal's header and the job's, for the message. Pure."""
    if found.get(_HEADER_KEY) != header[_HEADER_KEY]:
        return [f"format version {found.get(_HEADER_KEY)!r} (now {header[_HEADER_KEY]!r})"]
    diffs = []
    for key in header.keys() - _INFORMATIVE:
        was, now = found.get(key), header.get(key)
        if isinstance(was, dict) and isinstance(now, dict):
            diffs += [
                f"{key} {sub} {was.get(sub)!r} (now {now.get(sub)!r})"
                for sub in now
                if was.get(sub) != now.get(sub)
            ]
        elif was != now:
            diffs.append(f"{key} {was!r} (now {now!r})")
    return sorted(diffs)
