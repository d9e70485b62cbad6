"""Where a job's answers go: ``--out``, ``--errors`` and the ``--checkpoint`` journal.

``settle`` (pure) puts one chunk's ``BatchResult`` in the input file's terms: each written
record and each failed input with the file lines and positions it came from, which positions
are finished, and whether the answer stopped the run. Only a *final* answer finishes a
record: written, or refused by HubSpot for its data (``FailedInput.final``). Anything else (not
sent, a network error, retries exhausted, an answer that did not name it, an internal error, a
stopped run) is left unjournaled, so the rerun sends it again, except what may have been
applied though it failed (a create's ``OUTCOME_UNKNOWN``, ``_verbs.is_unknown``): journaled as
finished and of unknown outcome, so that no rerun creates it twice unless told to.

``Sinks`` (file I/O) writes a settled chunk: its output lines first, flushed (and fsync'd
when there is a checkpoint), then its finished positions to the journal, so a journaled record's
lines are always on disk. A file that cannot be written raises ``OutputError`` naming it.
Final failures are journaled as failed too, and so is a bad row skipped by ``--skip-bad-rows``
(``write_bad``), so that a resumed run knows every failure on record. For a create, a chunk
whose lines cannot be written is journaled all the same before the error goes on (its records
were created: a rerun must not create them again), and so are the records handed to the client
and never answered when the run is aborted (``write_unknown``, as of unknown outcome).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

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
    id_line,
    is_csv_path,
    result_line,
)
from ._prepare import JobOptions, UsageError
from ._validate import BadRow

__all__ = ["LineMaker", "Origin", "Settled", "Sinks", "checkpoint_header", "settle"]


class LineMaker(Protocol):
    """Makes one ``--out`` line of a record done (``result_line`` and its kin)."""

    def __call__(
        self, result: SimplePublicObject, *, lines: Sequence[int], positions: Sequence[int]
    ) -> bytes: ...


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
    #: the failures that may have been applied all the same (``failed``'s indexes)
    unknown: frozenset[int] = frozenset()

    @property
    def finished(self) -> list[int]:
        """The file positions with a final answer, or of unknown outcome (to journal)."""
        done = [o.position for _, origins in self.written for o in origins]
        done += (
            o.position
            for i, (f, origins) in enumerate(self.failed)
            if f.final or i in self.unknown
            for o in origins
        )
        return done

    @property
    def failed_for_good(self) -> list[int]:
        """The file positions refused for their data (journaled as failed)."""
        return [o.position for f, origins in self.failed if f.final for o in origins]

    @property
    def unknown_positions(self) -> list[int]:
        """The file positions of unknown outcome (journaled as such, never resent)."""
        return [o.position for i in sorted(self.unknown) for o in self.failed[i][1]]


def settle(
    result: BatchResult,
    origins: Callable[[tuple[int, ...]], list[Origin]],
    unknown: Callable[[FailedInput], bool] = lambda failed: False,
) -> Settled:
    """``result`` with each answer's origins (``origins`` maps the client's positions to
    them); ``unknown`` tells a failure that may have been applied. Pure apart from what
    ``origins`` does.

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
    uncertain = frozenset(i for i, (f, _) in enumerate(failed) if not f.final and unknown(f))
    return Settled(written, failed, reason, uncertain)


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
        #: how a record done is written to ``--out``
        self.line: LineMaker = result_line
        #: journal a chunk even when its lines cannot be written (a create: never twice)
        self.journal_always = False

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
        verb = options.verb
        sinks.journal_always = not verb.spec.resend_safe
        if verb.name == "archive":
            sinks.line = id_line
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
                    else JsonlErrors(writer, shape=verb.spec.shape)
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
        """Write one settled chunk's lines, then journal its finished positions (for a
        create, journaled even if the lines cannot be written, before that error goes on)."""
        try:
            self._write_lines(settled)
        except OutputError:
            if self.journal_always:
                self._journal(settled)
            raise
        self._journal(settled)

    def _write_lines(self, settled: Settled) -> None:
        if self.out is not None:
            for obj, origins in settled.written:
                self.out.write(self.line(obj, **_where(origins)))
        if self.errors is not None:
            for failed, origins in settled.failed:
                self.errors.failed(failed, **_where(origins))
        self._flush()

    def _journal(self, settled: Settled) -> None:
        if self.checkpoint is not None:
            self.checkpoint.record(
                settled.finished,
                failed=settled.failed_for_good,
                unknown=settled.unknown_positions,
            )

    def write_unknown(
        self, records: Sequence[tuple[Mapping[str, Any], Origin]], reason: str
    ) -> None:
        """Write records handed to the client and never answered (the run was cut short)
        to ``--errors`` with ``reason``, then journal them as of unknown outcome (even if
        they could not be written)."""
        try:
            if self.errors is not None:
                for record, origin in records:
                    self.errors.unknown(
                        record, line=origin.line, position=origin.position, reason=reason
                    )
            self._flush()
        finally:
            if self.checkpoint is not None:
                positions = [origin.position for _, origin in records]
                self.checkpoint.record(positions, unknown=positions)

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


def checkpoint_header(options: JobOptions, source: Source) -> dict[str, Any]:
    """What a checkpoint resumes: the input (by content) and the job."""
    header: dict[str, Any] = {
        "file": str(source.path.resolve()) if source.path is not None else source.name,
        "input": source.fingerprint(),
        "operation": options.operation,
        "object_type": options.object_type,
        "id_property": options.id_property,
    }
    if options.operation == "read":  # a rerun must write the same lines
        header["read"] = {
            "properties": list(options.properties),
            "properties_with_history": list(options.properties_with_history),
            "archived": options.archived,
        }
    return header


def _where(origins: list[Origin]) -> dict[str, list[int]]:
    return {"lines": [o.line for o in origins], "positions": [o.position for o in origins]}
