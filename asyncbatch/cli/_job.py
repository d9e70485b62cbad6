"""One ``asyncbatch update|upsert`` job: prepared (``_prepare``), then a dry run (``_dry_run``)
or a run: FILE's records streamed through ``BatchClient``, each chunk's answer written to the
sinks (``_sinks``) as it arrives, progress shown, a summary and one last line printed, and the
exit code given by ``_exit.exit_code``. Does I/O: files, terminal, network, signals.

Interruption (``_signals``): the first SIGINT or SIGTERM ends the input, lets the chunks in
flight finish and be journaled, then prints the summary; a second one aborts at once, and the
rerun sends the dropped chunks again.

An input that breaks off mid-stream (a bad line, a corrupt gzip, a read error) ends the input
the same way: the chunks read before it finish and are journaled, then one line names the file
(and line) and the run exits 2.

Shared rate budget: with ``--redis-url`` Redis is checked before anything is sent or any output
file is opened: unreachable, the job sends nothing, leaves ``--out``, ``--errors`` and
``--checkpoint`` untouched and exits 3. Failing mid-run, it stops like the daily limit (exit 3;
the unsent records are left for the rerun). The URL's secrets are never printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING

import attrs

from .. import DEFAULT_BASE_URL, BatchClient
from .._exceptions import InvalidInputError, LimiterUnavailableError
from .._models import BatchResult
from .._redact import mask
from ._checkpoint import CheckpointError
from ._dry_run import budget, describe, dry_run
from ._exit import Outcome, exit_code, exit_line
from ._input import InputError, SourceRecord, ThreadedSource, aiter_records, count_lines, primed
from ._output import OutputError
from ._prepare import JobOptions, Prepared, UsageError, prepare
from ._progress import PlainReporter, Reporter, RichReporter, Tally, summary_rows
from ._signals import Interrupts
from ._sinks import Origin, Settled, Sinks, settle

if TYPE_CHECKING:
    from ..emulator import Emulator

__all__ = ["run_job"]

Records = Callable[[], Iterator[SourceRecord]]


def run_job(options: JobOptions) -> int:
    """Run one job to its end; print its last line (secrets masked); return the exit code."""
    try:
        outcome = _prepare_and_run(options)
    except (UsageError, CheckpointError, InvalidInputError) as exc:
        outcome = Outcome(usage_error=str(exc))
    except InputError as exc:
        outcome = Outcome(usage_error=exc.located(options.display_name))
    except OutputError as exc:  # an output file that failed as the run ended
        outcome = Outcome(stop_reason=str(exc))
    outcome = _masked(outcome, options.secrets)
    line = exit_line(
        outcome,
        checkpoint=str(options.checkpoint) if options.checkpoint is not None else None,
        errors=str(options.errors) if options.errors is not None else None,
    )
    if line is not None:
        print(f"asyncbatch: {line}", file=sys.stderr, flush=True)
    return exit_code(outcome)


def _masked(outcome: Outcome, secrets: list[str]) -> Outcome:
    """``outcome`` with ``secrets`` masked in the reasons the library gave (a Redis client's
    error may quote the URL it was given, pieces of a malformed password included). Usage
    errors are the CLI's own, written with the URL redacted."""
    if not secrets:
        return outcome
    return attrs.evolve(
        outcome,
        stop_reason=outcome.stop_reason and mask(outcome.stop_reason, secrets),
        unfinished_reason=outcome.unfinished_reason and mask(outcome.unfinished_reason, secrets),
    )


def _prepare_and_run(options: JobOptions) -> Outcome:
    job = prepare(options)
    if options.dry_run:
        return dry_run(job)
    records = job.records()
    if not job.source.is_stdin:
        records = primed(records)  # a bad header or an unreadable file: exit before starting
    return asyncio.run(_Run(job, records).run())


class _Run:
    """One run of a prepared job, from connecting to the summary."""

    def __init__(self, job: Prepared, records: Records) -> None:
        self.job = job
        self.o = job.options
        self.records = records
        self.tally = Tally()
        self.pending: dict[int, Origin] = {}  # the client's position -> where in FILE
        self.next_position = 0
        self.input_error: str | None = None
        self.stop_reason: str | None = None
        self.unfinished_reason: str | None = None
        self.sinks = Sinks()
        self.reporter: Reporter = PlainReporter(self.tally, interval_seconds=0)
        self.threaded: ThreadedSource | None = None
        self.interrupts = Interrupts(self._on_interrupt)

    async def run(self) -> Outcome:
        o = self.o
        async with contextlib.AsyncExitStack() as stack:
            emulator = await self._sandbox(stack) if o.sandbox else None
            client = BatchClient(
                self.job.token,
                base_url=emulator.url if emulator is not None else o.base_url or DEFAULT_BASE_URL,
                max_concurrency=o.concurrency,
                rate_limit=self.job.rate,
                chunk_size=o.chunk_size,
                timeout_seconds=o.timeout_seconds,
            )
            try:
                # Checks the shared limiter's Redis, before any output file is opened.
                await stack.enter_async_context(client)
            except LimiterUnavailableError as exc:
                await client.aclose()
                return Outcome(stop_reason=str(exc), nothing_sent=True)
            self.sinks = Sinks.open(o, self.job.source, stack)
            if self.job.source.is_stdin:
                self.threaded = ThreadedSource(self.records)
            self.reporter = self._reporter()
            await self._stream(client)
            extra = self._extra_rows(emulator)
        self._summary(extra)
        return self._outcome()

    async def _sandbox(self, stack: contextlib.AsyncExitStack) -> Emulator:
        from ._demo import demo_emulator

        return await stack.enter_async_context(demo_emulator(self.job.token))

    def _reporter(self) -> Reporter:
        if sys.stderr.isatty():
            total = count_lines(self.job.source)
            done = self.sinks.done
            if total is not None and done is not None:
                total = max(0, total - len(done))
            what = f"{self.o.operation} {self.o.object_type}"
            return RichReporter(self.tally, total=total, description=what)
        return PlainReporter(self.tally, interval_seconds=self.o.progress_interval_seconds)

    def _on_interrupt(self) -> None:
        if self.threaded is not None:
            self.threaded.interrupt()
        self.reporter.note(
            "asyncbatch: interrupted: reading no more input, finishing the chunks in flight "
            "(interrupt again to abort)"
        )

    async def _stream(self, client: BatchClient) -> None:
        o = self.o
        stream = client.stream_upsert if o.operation == "upsert" else client.stream_update
        self.reporter.start()
        try:
            with self.interrupts:
                answers = stream(o.object_type, self._feed(), id_property=o.id_property)
                async with contextlib.aclosing(answers) as results:
                    async for result in results:
                        self._handle(result)
        except InvalidInputError as exc:
            origin = self.pending.get(exc.position) if exc.position is not None else None
            where = f", line {origin.line}" if origin is not None else ""
            self.input_error = f"{self.o.display_name}{where}: {describe(exc)}"
        except OutputError as exc:  # the chunks in flight are dropped unjournaled
            self.stop_reason = str(exc)
        finally:
            await self.reporter.stop()

    async def _feed(self) -> AsyncIterator[object]:
        """FILE's records not yet done, each remembered with its origin; ends the input at an
        interruption or at a line or read error (the chunks read before it still finish)."""
        done, tally = self.sinks.done, self.tally
        from_file = None if self.threaded is not None else aiter_records(self.records())
        source = self.threaded if self.threaded is not None else from_file
        assert source is not None
        try:
            async for item in source:
                if self.interrupts.stopping:
                    break
                if item.error is not None:
                    self.input_error = f"{self.o.display_name}, line {item.line}: {item.error}"
                    break
                if done is not None and item.position in done:
                    tally.skipped += 1
                    if tally.skipped % 1024 == 0:
                        await asyncio.sleep(0)  # a long resumed prefix: let progress tick
                    continue
                assert item.record is not None
                self.pending[self.next_position] = Origin(item.position, item.line)
                self.next_position += 1
                tally.read += 1
                yield item.record
        except InputError as exc:
            self.input_error = exc.located(self.o.display_name)
        finally:
            if self.threaded is not None:
                self.threaded.interrupt()
            if from_file is not None:
                await from_file.aclose()

    def _origins(self, positions: tuple[int, ...]) -> list[Origin]:
        pending = self.pending
        return [origin for p in positions if (origin := pending.pop(p, None)) is not None]

    def _handle(self, result: BatchResult) -> None:
        settled = settle(result, self._origins)
        self.sinks.write(settled)
        self._count(settled, result)
        self.reporter.update()

    def _count(self, settled: Settled, result: BatchResult) -> None:
        tally = self.tally
        tally.written += sum(len(positions) for positions in result.result_positions)
        for failed, _ in settled.failed:
            tally.failed += len(failed.positions)
            if not failed.final:
                tally.unfinished += len(failed.positions)
                self.unfinished_reason = self.unfinished_reason or failed.reason
        if self.stop_reason is None:
            self.stop_reason = settled.stop_reason
        tally.stats = tally.stats + result.stats

    def _extra_rows(self, emulator: Emulator | None) -> list[tuple[str, str]]:
        extra = []
        if self.job.rate.redis_url is not None:
            extra.append(("shared budget", budget(self.job.rate)))
        if emulator is not None:
            stored = len(emulator.records(self.o.object_type))
            extra.append(("sandbox", f"{stored:,} records stored in the emulator"))
        return extra

    def _summary(self, extra: list[tuple[str, str]]) -> None:
        o, out = self.o, sys.stderr
        print(f"asyncbatch: {o.operation} {o.object_type} from {o.file}", file=out)
        rows = summary_rows(self.tally) + extra
        if o.out is not None and self.tally.written:
            rows.append(("results in", "stdout" if str(o.out) == "-" else str(o.out)))
        if o.errors is not None and self.tally.failed:
            rows.append(("failed inputs in", "stdout" if str(o.errors) == "-" else str(o.errors)))
        width = max(21, *(len(label) for label, _ in rows))
        for label, value in rows:
            print(f"  {label:<{width}}  {value}", file=out)
        out.flush()

    def _outcome(self) -> Outcome:
        t = self.tally
        return Outcome(
            usage_error=self.input_error,
            stop_reason=self.stop_reason,
            interrupted=self.interrupts.stopping,
            aborted=self.interrupts.aborted,
            written=t.written,
            failed=t.failed,
            unfinished=t.unfinished,
            unfinished_reason=self.unfinished_reason,
        )
