"""Where a job's answers go: ``--out``, ``--errors`` and the ``--checkpoint`` journal.

``settle`` (pure) puts one chunk's ``BatchResult`` in the input file's terms: each written
record and each failed input with the file lines and positions it came from, which positions
are finished, and whether the answer stopped the run. Only a *final* answer finishes a
record: written, or refused by HubSpot for its data (``FailedInput.final``). Anything else (not
sent, a network error, retries exhausted, an answer that did not name it, an internal error, a
stopped run) is left unjournaled, so the rerun sends it again.

``Sinks`` (file I/O) writes a settled chunk: its output lines first, flushed (and fsync'd
when there is a checkpoint), then its finished positions to the journal, so a journaled record's
lines are always on disk. A file that cannot be written raises ``OutputError`` naming it.
Final failures are journaled as failed too, and so is a bad row skipped by ``--skip-bad-rows``
(``write_bad``), so that a resumed run knows every failure on record.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, NamedTuple

import attrs

from .._models import BatchResult, FailedInput, SimplePublicObject
from ._checkpoint import Checkpoint, RangeSet
from ._csv import CsvLayout
from ._input import Source
from ._output import (
    CsvErrors,
    ErrorsFile,
    JsonlErrors,
    JsonlWriter,
    OutputError,
    is_csv_path,
    result_line,
)
from ._prepare import JobOptions, UsageError
from ._validate import BadRow

__all__ = ["Origin", "Settled", "Sinks", "checkpoint_header", "settle"]


class Origin(NamedTuple):
    """Where a record handed to the client came from in FILE."""

    position: int  # among the file's records, from 0
    line: int  # from 1


@attrs.frozen
class Settled:
    """One chunk's answer in the input file's terms."""

    written: list[tuple[SimplePublicObject, list[Origin]]]
    failed: list[tuple[FailedInput, list[Origin]]]
    stop_reason: str | None = None

    @property
    def finished(self) -> list[int]:
        """The file positions with a final answer (the ones to journal)."""
        done = [o.position for _, origins in self.written for o in origins]
        done += (o.position for f, origins in self.failed if f.final for o in origins)
        return done

    @property
    def failed_for_good(self) -> list[int]:
        """The file positions refused for their data (journaled as failed)."""
        return [o.position for f, origins in self.failed if f.final for o in origins]


def settle(result: BatchResult, origins: Callable[[tuple[int, ...]], list[Origin]]) -> Settled:
    """``result`` with each answer's origins (``origins`` maps the client's positions to
    them). Pure apart from what ``origins`` does.

    The stop reason is the result's ``stop_error``, else the reason of the first input the
    stop failed (``FailedInput.stopped_run``).
    """
    written = [
        (obj, origins(positions))
        for obj, positions in zip(result.results, result.result_positions, strict=True)
    ]
    failed = [(f, origins(f.positions)) for f in result.failed]
    reason = str(result.stop_error) if result.stop_error is not None else None
    if reason is None:
        reason = next((f.reason for f in result.failed if f.stopped_run), None)
    return Settled(written, failed, reason)


def checkpoint_header(options: JobOptions, source: Source) -> dict[str, Any]:
    """What a checkpoint journal is for: this input (by content) and job."""
    return {
        "file": str(source.path.resolve()) if source.path is not None else source.name,
        "input": source.fingerprint(),
        "operation": options.operation,
        "object_type": options.object_type,
        "id_property": options.id_property,
    }


class Sinks:
    """The job's open output files and checkpoint (each optional)."""

    def __init__(
        self,
        *,
        out: JsonlWriter | None = None,
        errors: ErrorsFile | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.out = out
        self.errors = errors
        self.checkpoint = checkpoint

    @classmethod
    def open(
        cls,
        options: JobOptions,
        source: Source,
        stack: contextlib.AsyncExitStack,
        *,
        layout: Callable[[], CsvLayout | None] = lambda: None,
    ) -> Sinks:
        """Open the checkpoint (resuming it if it exists), then the output files: appended
        to when the checkpoint resumes, truncated otherwise. Closed by ``stack``. A CSV
        ``--errors`` file takes the input's ``layout`` (asked when its first row is written).

        Raises:
            CheckpointError: the checkpoint is unreadable or for another input or job.
            UsageError: an output file cannot be opened (naming it).
        """
        sinks = cls()
        if options.checkpoint is not None:
            header = checkpoint_header(options, source)
            sinks.checkpoint = Checkpoint.open(options.checkpoint, header)
            stack.callback(sinks.checkpoint.close)
        append = sinks.checkpoint is not None and sinks.checkpoint.resumed
        try:
            if options.out is not None:
                sinks.out = JsonlWriter(options.out, append=append)
                stack.callback(sinks.out.close)
            if options.errors is not None:
                writer = JsonlWriter(options.errors, append=append)
                sinks.errors = (
                    CsvErrors(
                        writer,
                        layout=layout,
                        id_column=options.id_column,
                        encoding=options.encoding,
                    )
                    if is_csv_path(options.errors)
                    else JsonlErrors(writer)
                )
                stack.callback(sinks.errors.close)
        except OutputError as exc:
            raise UsageError(str(exc)) from None
        return sinks

    @property
    def done(self) -> RangeSet | None:
        """What earlier runs finished, when resuming a checkpoint."""
        return self.checkpoint.done if self.checkpoint is not None else None

    def write(self, settled: Settled) -> None:
        """Write one settled chunk's lines, then journal its finished positions."""
        if self.out is not None:
            for obj, origins in settled.written:
                self.out.write(result_line(obj, **_where(origins)))
        if self.errors is not None:
            for failed, origins in settled.failed:
                self.errors.failed(failed, **_where(origins))
        self._flush()
        if self.checkpoint is not None:
            self.checkpoint.record(settled.finished, failed=settled.failed_for_good)

    def write_bad(self, bad: BadRow) -> None:
        """Write a skipped bad row to ``--errors``, then journal it as failed."""
        if self.errors is not None:
            self.errors.bad(bad)
        self._flush()
        if self.checkpoint is not None:
            self.checkpoint.record([bad.position], failed=[bad.position])

    def _flush(self) -> None:
        durable = self.checkpoint is not None
        if self.out is not None:
            self.out.flush(durable=durable)
        if self.errors is not None:
            self.errors.flush(durable=durable)


def _where(origins: list[Origin]) -> dict[str, list[int]]:
    return {"lines": [o.line for o in origins], "positions": [o.position for o in origins]}
