"""One ``asyncbatch update|upsert|create|read|archive`` job: prepared (``_prepare``), then a dry
run (``_dry_run``) or a run: FILE checked (``_validate``), its records streamed through the
``BatchClient`` stream of the command's verb (``_verbs``), each chunk's answer written to the
sinks (``_sinks``) as it arrives, progress shown, a summary and one last line printed,
``--summary-json`` written, and the exit code given by ``_exit.exit_code``. Does I/O: files,
terminal, network, signals.

An archive asks on the terminal before anything is sent (after the validation pass, naming how
many ids), unless ``--yes``; not confirmed, nothing is sent (exit 130).

A create is not safe to resend: its failures of unknown outcome (``_verbs.is_unknown``) are
counted on their own, written to ``--errors`` with category ``OUTCOME_UNKNOWN`` and journaled,
so that a rerun does not send them again unless ``--resend-unknown``. When an output file
fails mid-create, no more input is read and the chunks the client holds finish and are
journaled all the same; records handed to the client and never answered when the run is
aborted (a second interruption) are journaled and reported as of unknown outcome.

Bad rows: a file (not stdin) is read once before anything is sent, judged as the client
judges (``RowCheck``). With bad rows and no ``--skip-bad-rows`` (or more than
``--max-bad-rows``), nothing is sent: the first are listed (line, column, problem) with their
count, exit 2. With ``--skip-bad-rows`` each bad row goes to ``--errors`` (and the checkpoint,
as failed) and is not sent; the run exits 1. Stdin cannot be read twice: a bad row is skipped
the same way, or stops the run, the last line saying how many records were written.

Before FILE is read, the first request (``_connect.first_request``: the property definitions,
per ``--check-properties``) checks the token and the way to HubSpot; after the validation pass
(which also counts the requests the run will send) the job is weighed against the account's
daily budget (``_budget``): one that does not fit sends nothing (exit 3) unless
``--allow-partial``.

Interruption (``_signals``): the first SIGINT or SIGTERM ends the input, lets the chunks in
flight finish and be journaled, then prints the summary; a second one aborts at once, and the
rerun sends the dropped chunks again.

An input that breaks off mid-stream (a corrupt gzip, a read error) ends the input the same
way: the chunks read before it finish and are journaled, then one line names the file (and
line) and how many records were written, and the run exits 2.

Shared rate budget: with ``--redis-url`` Redis is checked before the file is read, anything is
sent or any output file is opened: unreachable, the job sends nothing, leaves ``--out``,
``--errors`` and ``--checkpoint`` untouched and exits 3. Failing mid-run, it stops like the
daily limit (exit 3; the unsent records are left for the rerun). The URL's secrets are never
printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Container, Sequence
from typing import TYPE_CHECKING

import attrs

from .. import DEFAULT_BASE_URL, BatchClient
from .._client import CheckMode
from .._exceptions import InvalidInputError
from .._models import BatchResult, SimplePublicObject
from .._redact import mask, redact_url
from .._schema import PropertySchema
from ._budget import JobBudget
from ._checkpoint import CheckpointError, RangeSet, peek_done
from ._connect import Access, first_request, make_client, open_client
from ._csv import CsvLayout
from ._dry_run import budget, describe, dry_run, print_bad_rows
from ._exit import Outcome, exit_code, exit_line
from ._input import InputError, ThreadedSource, aiter_records
from ._output import SYSTEM_PROPERTIES, OutputError, read_line
from ._prepare import JobOptions, Prepared, UsageError, prepare
from ._progress import (
    Estimate,
    PlainReporter,
    QuietReporter,
    Reporter,
    RichReporter,
    Tally,
    estimate,
    failure_rows,
    summary_rows,
)
from ._reasons import Reason, reason_of, reason_of_row
from ._signals import Interrupts
from ._sinks import Origin, Settled, Sinks, checkpoint_header, settle
from ._summary import RunFacts, summary_document, write_summary
from ._validate import BadRow, RowCheck, Scan, Scanner, refusal
from ._verbs import OUTCOME_UNKNOWN, is_unknown

if TYPE_CHECKING:
    from ..emulator import Emulator

__all__ = ["run_job"]

#: The validation pass gives the event loop a turn this often (an interruption is seen).
_SCAN_BATCH = 4096


def run_job(options: JobOptions) -> int:
    """Run one job to its end; print its last line (secrets masked); write its summary
    document; return the exit code."""
    facts = RunFacts()
    held: list[str] = []  # an OAuth app's secrets, with every token issued during the run
    try:
        outcome = _prepare_and_run(options, facts, held)
    except (UsageError, CheckpointError, InvalidInputError) as exc:
        outcome = Outcome(usage_error=str(exc))
    except InputError as exc:
        outcome = Outcome(usage_error=exc.located(options.display_name))
    except OutputError as exc:  # an output file that failed as the run ended
        outcome = Outcome(stop_reason=str(exc))
    outcome = _masked(outcome, options.secrets + held)
    line = exit_line(
        outcome,
        checkpoint=str(options.checkpoint) if options.checkpoint is not None else None,
        errors=str(options.errors) if options.errors is not None else None,
    )
    if line is not None:
        print(f"asyncbatch: {line}", file=sys.stderr, flush=True)
    code = exit_code(outcome)
    if options.summary_json is not None:
        code = _write_summary(options, facts, code, line)
    return code


def _write_summary(options: JobOptions, facts: RunFacts, code: int, line: str | None) -> int:
    """Write ``--summary-json``; if it cannot be, say so and make the exit code at least 3
    (a scheduler would otherwise read a stale summary as this run's)."""
    import datetime as dt

    assert options.summary_json is not None
    command = {
        "operation": options.operation,
        "api_version": options.api_version,
        "object_type": options.object_type,
        "file": options.file,
        "id_property": options.id_property,
        "checkpoint_path": str(options.checkpoint) if options.checkpoint else None,
        "errors_path": str(options.errors) if options.errors else None,
    }
    document = summary_document(
        facts,
        command=command,
        exit_code=code,
        message=line and mask(line, options.secrets),
        finished_at=dt.datetime.now(dt.UTC),
    )
    try:
        write_summary(options.summary_json, document)
    except OSError as exc:
        print(
            f"asyncbatch: error: cannot write --summary-json {options.summary_json}: "
            f"{exc.strerror or exc}",
            file=sys.stderr,
        )
        return code if code in (2, 3) else 3
    return code


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


def _prepare_and_run(options: JobOptions, facts: RunFacts, held: list[str]) -> Outcome:
    """Prepare the job, then dry-run or run it; ``held`` gets the OAuth app's secrets (to
    mask), as they are when it ends."""
    job = prepare(options)
    unused = job.credentials.unused
    if unused is not None and not options.quiet:
        print(
            f"asyncbatch: note: authenticating with {job.credentials.source}; {unused}",
            file=sys.stderr,
        )
    try:
        if options.dry_run:
            return dry_run(job)
        return asyncio.run(_Run(job, facts).run())
    finally:
        if job.oauth is not None:
            held.extend(job.oauth.secrets())


class _Run:
    """One run of a prepared job, from connecting to the summary."""

    def __init__(self, job: Prepared, facts: RunFacts) -> None:
        self.job = job
        self.o = job.options
        self.facts = facts
        self.layout: CsvLayout | None = None
        self.records = job.records(on_header=self._set_layout)
        self.verb = self.o.verb
        self.check = self._row_check()
        self.check_every_row = True
        self.tally = facts.tally = Tally()
        self.pending: dict[int, Origin] = {}  # the client's position -> where in FILE
        #: a create's records handed to the client and not answered yet (the client's
        #: position -> the record), reported of unknown outcome if the run is cut short
        self.in_flight: dict[int, dict[str, object]] = {}
        self.schema: PropertySchema | None = None
        self.next_position = 0
        self.input_error: str | None = None
        self.stop_reason: str | None = None
        self.unfinished_reason: str | None = None
        self.failed_before = 0
        self.unknown_before = 0
        self.draining = False  # a create's output failed: no more input
        self.stopped_by_bad_row = False
        self.sinks = Sinks()
        self.reporter: Reporter = QuietReporter()
        self.threaded: ThreadedSource | None = None
        self.interrupts = Interrupts(self._on_interrupt)

    def _set_layout(self, layout: CsvLayout) -> None:
        self.layout = layout

    def _row_check(
        self, *, schema: PropertySchema | None = None, skip: Container[int] = frozenset()
    ) -> RowCheck:
        o = self.o
        return RowCheck(
            operation=o.operation,
            id_property=o.id_property,
            chunk_size=o.request_size,
            id_column=o.id_column if self.job.source.format == "csv" else None,
            schema=None if self.verb.takes_ids else schema,
            skip=skip,
        )

    async def run(self) -> Outcome:
        async with contextlib.AsyncExitStack() as stack:
            emulator = await self._sandbox(stack) if self.o.sandbox else None
            base_url = emulator.url if emulator is not None else self.o.base_url or DEFAULT_BASE_URL
            client = await self._connect(stack, base_url, check_properties=self.o.check_properties)
            if isinstance(client, Outcome):
                return client
            access = await first_request(client, self.job, base_url)
            if access.stop is not None:
                return access.stop
            self.schema = access.schema  # a read's --out keeps what can be written back
            if access.asked and access.schema is None and not self.verb.takes_ids:
                # go on unchecked, the client asking no more (it asks nothing for ids)
                await client.aclose()
                client = await self._connect(stack, base_url, check_properties="off")
                if isinstance(client, Outcome):
                    return client
            found: Scan | None = None
            if not self.job.source.is_stdin:
                refused, found = await self._validate(access.schema)
                if refused is not None:
                    return refused
            refused = self._budget(access, found)
            if refused is not None:
                return refused
            if not self._confirmed(base_url):
                return Outcome(cancelled=True)
            self._open_sinks(stack)
            self.reporter = self._reporter()
            await self._stream(client)
            self._settle_in_flight()
            extra = self._extra_rows(emulator)
            if client.daily_remaining is not None:
                extra.append(("left today", f"{client.daily_remaining:,} requests (HubSpot)"))
        self._summary(extra)
        return self._outcome()

    async def _connect(
        self, stack: contextlib.AsyncExitStack, base_url: str, *, check_properties: CheckMode
    ) -> BatchClient | Outcome:
        """A client entered in ``stack``; an outcome if it cannot start (``open_client``:
        checked before the file is read or any output file is opened)."""
        client = make_client(self.job, base_url, check_properties=check_properties)
        return await open_client(stack, client)

    async def _sandbox(self, stack: contextlib.AsyncExitStack) -> Emulator:
        from ._demo import demo_emulator

        return await stack.enter_async_context(demo_emulator(self.job.token))

    def _budget(self, access: Access, found: Scan | None) -> Outcome | None:
        """Say what the job needs of the account's daily requests against what is left; an
        outcome when it cannot fit (and ``--allow-partial`` was not given)."""
        o = self.o
        daily = self.facts.budget = JobBudget(
            chunks=found.requests if found is not None else None,
            schema_read=access.asked,
            remaining=access.daily_remaining,
            unknown_because=access.unknown_because,
            reserve=o.daily_reserve,
        )
        if not o.quiet:
            print(f"asyncbatch: daily budget: {daily.describe()}", file=sys.stderr, flush=True)
        refused = daily.refusal(allow_partial=o.allow_partial)
        return None if refused is None else Outcome(stop_reason=refused, nothing_sent=True)

    async def _validate(self, schema: PropertySchema | None) -> tuple[Outcome | None, Scan]:
        """The validation pass over FILE (also counting the requests the run will send, with
        the property definitions and a resumed checkpoint's finished records); an outcome
        when the run must send nothing."""
        check = self._row_check(schema=schema, skip=self._finished())
        scanner = Scanner(check)
        records = self.records()
        try:
            for count, item in enumerate(records, start=1):
                scanner.add(item)
                if count % _SCAN_BATCH == 0:
                    await asyncio.sleep(0)  # an interruption cancels the run here
        finally:
            close = getattr(records, "close", None)
            if close is not None:
                close()
        found = self.facts.scan = scanner.result()
        self.check_every_row = found.bad > 0
        self.tally.total = found.records
        o = self.o
        refused = refusal(found, skip_bad_rows=o.skip_bad_rows, max_bad_rows=o.max_bad_rows)
        if refused is None:
            return None, found
        print_bad_rows(o.display_name, found)
        for row in found.first_bad:
            self.facts.groups.add(reason_of_row(row), line=row.line)
        return Outcome(usage_error=f"{o.display_name}: {refused}"), found

    def _finished(self) -> RangeSet:
        """The records a resumed checkpoint has finished (read only; empty without one)."""
        if self.o.checkpoint is None:
            return RangeSet()
        header = checkpoint_header(self.o, self.job.source)
        return peek_done(self.o.checkpoint, header, resend_unknown=self.o.resend_unknown)

    def _confirmed(self, base_url: str) -> bool:
        """An archive's question on the terminal (``prepare`` made sure there is one), unless
        ``--yes``: the ids to archive (after the validation pass), the object type, where."""
        o = self.o
        if o.operation != "archive" or o.yes:
            return True
        scan = self.facts.scan
        count = f"{scan.records - scan.bad:,} ids" if scan is not None else "the ids"
        where = redact_url(base_url)
        question = f"asyncbatch: archive {count} of {o.object_type} from {o.file} at {where}?"
        print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
        answer = sys.stdin.readline().strip().lower()
        return answer in ("y", "yes")

    def _open_sinks(self, stack: contextlib.AsyncExitStack) -> None:
        self.sinks = Sinks.open(self.o, self.job.source, stack, layout=lambda: self.layout)
        if self.o.operation == "read":
            self.sinks.line = self._read_line
        checkpoint = self.sinks.checkpoint
        if checkpoint is not None:
            self.failed_before = len(checkpoint.failed)
            self.unknown_before = 0 if self.o.resend_unknown else len(checkpoint.unknown)
            if self.tally.total is not None:
                left = len(checkpoint.done) - (
                    len(checkpoint.unknown) if self.o.resend_unknown else 0
                )
                self.tally.total = max(0, self.tally.total - left)
        if self.job.source.is_stdin:
            self.threaded = ThreadedSource(self.records)

    def _estimate(self) -> Estimate:
        return estimate(self.tally, rate=self.job.rate, chunk_size=self.o.chunk_size)

    def _reporter(self) -> Reporter:
        o = self.o
        if o.quiet or o.no_progress:
            return QuietReporter()
        if sys.stderr.isatty():
            what = f"{o.operation} {o.object_type}"
            return RichReporter(
                self.tally, total=self.tally.total, description=what, estimator=self._estimate
            )
        return PlainReporter(
            self.tally, interval_seconds=o.progress_interval_seconds, estimator=self._estimate
        )

    def _on_interrupt(self) -> None:
        if self.threaded is not None:
            self.threaded.interrupt()
        self.reporter.note(
            "asyncbatch: interrupted: reading no more input, finishing the chunks in flight "
            "(interrupt again to abort)"
        )

    def _read_line(self, result: SimplePublicObject, **where: Sequence[int]) -> bytes:
        """A read's ``--out`` line: the properties that can be written back, by the
        account's definitions (or, unread, all but HubSpot's system ones)."""
        schema = self.schema

        def writable(name: str) -> bool:
            if schema is None:
                return name not in SYSTEM_PROPERTIES
            definition = schema.get(name)
            return definition.writable if definition is not None else name != "hs_object_id"

        return read_line(result, writable=writable, id_property=self.o.id_property, **where)

    def _answers(self, client: BatchClient) -> AsyncGenerator[BatchResult, None]:
        """The client's stream of the command's verb over FILE's records."""
        o, feed = self.o, self._feed()
        if o.operation == "read":
            names = list(o.properties)
            if o.id_property is not None and o.id_property not in names:
                names.append(o.id_property)  # the output names each record by it
            return client.stream_read(
                o.object_type,
                feed,
                properties=names,
                properties_with_history=o.properties_with_history,
                id_property=o.id_property,
                archived=o.archived,
            )
        if o.operation == "create":
            return client.stream_create(o.object_type, feed)
        if o.operation == "archive":
            return client.stream_archive(o.object_type, feed)
        stream = client.stream_upsert if o.operation == "upsert" else client.stream_update
        return stream(o.object_type, feed, id_property=o.id_property)

    async def _stream(self, client: BatchClient) -> None:
        self.tally.started = time.monotonic()  # the rates and times left count from here
        self.reporter.start()
        try:
            with self.interrupts:
                answers = self._answers(client)
                async with contextlib.aclosing(answers) as results:
                    async for result in results:
                        try:
                            self._handle(result)
                        except OutputError as exc:
                            if not self.sinks.journal_always:
                                raise
                            # A create: read no more input, let the chunks the client
                            # holds finish and be journaled (never resent, never lost).
                            self.stop_reason = self.stop_reason or str(exc)
                            self.draining = True
        except InvalidInputError as exc:  # a record the pass did not see (the file changed)
            if exc.position is not None:
                self.in_flight.pop(exc.position, None)  # refused, never sent
            origin = self.pending.get(exc.position) if exc.position is not None else None
            where = f", line {origin.line}" if origin is not None else ""
            self.input_error = f"{self.o.display_name}{where}: {describe(exc)}"
        except OutputError as exc:  # the chunks in flight are dropped unjournaled
            self.stop_reason = str(exc)
        finally:
            await self.reporter.stop()

    async def _feed(self) -> AsyncIterator[object]:
        """FILE's records not yet done, each remembered with its origin; bad rows skipped
        (``--skip-bad-rows``) or ending the input; ends the input at an interruption or a
        read error (the chunks read before it still finish)."""
        done, tally = self.sinks.done, self.tally
        checkpoint = self.sinks.checkpoint
        resend = checkpoint.unknown if checkpoint is not None and self.o.resend_unknown else None
        keep = not self.verb.spec.resend_safe
        from_file = None if self.threaded is not None else aiter_records(self.records())
        source = self.threaded if self.threaded is not None else from_file
        assert source is not None
        try:
            async for item in source:
                if self.interrupts.stopping or self.draining:
                    break
                if (
                    done is not None
                    and item.position in done
                    and (resend is None or item.position not in resend)
                ):
                    tally.skipped += 1
                    if tally.skipped % 1024 == 0:
                        await asyncio.sleep(0)  # a long resumed prefix: let progress tick
                    continue
                tally.read += 1
                bad = self.check.bad(item) if self.check_every_row or item.error else None
                if bad is not None:
                    if not self._skip(bad):
                        break
                    continue
                assert item.record is not None
                self.pending[self.next_position] = Origin(item.position, item.line)
                if keep:
                    self.in_flight[self.next_position] = item.record
                self.next_position += 1
                yield item.record
        except InputError as exc:
            self.input_error = exc.located(self.o.display_name)
        finally:
            if self.threaded is not None:
                self.threaded.interrupt()
            if from_file is not None:
                await from_file.aclose()

    def _skip(self, bad: BadRow) -> bool:
        """Skip a bad row (``--skip-bad-rows``): written to ``--errors``, journaled as failed.
        False when it ends the input instead (no ``--skip-bad-rows``, or one too many)."""
        o, tally = self.o, self.tally
        if not o.skip_bad_rows:
            self.input_error = f"{o.display_name}, {bad.describe()}"
            self.stopped_by_bad_row = True
            return False
        tally.bad += 1
        self.facts.groups.add(reason_of_row(bad), line=bad.line)
        self.sinks.write_bad(bad)
        if o.max_bad_rows is not None and tally.bad > o.max_bad_rows:
            self.input_error = (
                f"{o.display_name}, {bad.describe()}: more than --max-bad-rows "
                f"{o.max_bad_rows} bad rows"
            )
            return False
        return True

    def _origins(self, positions: tuple[int, ...]) -> list[Origin]:
        pending, in_flight = self.pending, self.in_flight
        for p in positions:
            in_flight.pop(p, None)
        return [origin for p in positions if (origin := pending.pop(p, None)) is not None]

    def _handle(self, result: BatchResult) -> None:
        verb = self.verb
        settled = settle(result, self._origins, lambda failed: is_unknown(verb, failed))
        self._count(settled, result)  # answered: counted even if its lines cannot be written
        self.reporter.update()
        self.sinks.write(settled)

    def _settle_in_flight(self) -> None:
        """A create cut short (aborted): the records handed to the client and never
        answered may have been created; journal them as of unknown outcome so that a rerun
        does not create them twice, and report them."""
        left = [(self.in_flight[p], self.pending[p]) for p in self.in_flight if p in self.pending]
        self.in_flight.clear()
        if not left:
            return
        reason = (
            "the run was aborted while this record was in a chunk being sent or filled: it "
            "may or may not have been created (read it back, or upsert on a unique property)"
        )
        self.tally.failed += len(left)
        self.tally.unknown += len(left)
        self.facts.groups.add(
            Reason(OUTCOME_UNKNOWN, message=reason), line=left[0][1].line, count=len(left)
        )
        try:
            self.sinks.write_unknown(left, reason)
        except OutputError as exc:
            self.stop_reason = self.stop_reason or str(exc)

    def _count(self, settled: Settled, result: BatchResult) -> None:
        tally, groups = self.tally, self.facts.groups
        tally.written += sum(len(positions) for positions in result.result_positions)
        for index, (failed, origins) in enumerate(settled.failed):
            count = len(failed.positions)
            tally.failed += count
            groups.add(reason_of(failed), line=origins[0].line if origins else None, count=count)
            if index in settled.unknown:
                tally.unknown += count
            elif not failed.final:
                tally.unfinished += count
                tally.unsent += count if not failed.sent else 0
                self.unfinished_reason = self.unfinished_reason or failed.reason
        if self.stop_reason is None:
            self.stop_reason = settled.stop_reason
        tally.stats = tally.stats + result.stats

    def _extra_rows(self, emulator: Emulator | None) -> list[tuple[str, str]]:
        extra = []
        if self.job.rate.redis_url is not None:
            extra.append(("shared budget", budget(self.job.rate)))
        checkpoint = self.sinks.checkpoint
        if checkpoint is not None:
            finished, failed = len(checkpoint.done), len(checkpoint.failed)
            unknown = len(checkpoint.unknown)
            self.facts.checkpoint_done, self.facts.checkpoint_failed = finished, failed
            self.facts.checkpoint_unknown = unknown
            if checkpoint.resumed:
                all_runs = _all_runs(finished, failed, unknown, self.facts.scan, self.verb.done)
                extra.append(("all runs (checkpoint)", all_runs))
        if emulator is not None:
            stored = len(emulator.records(self.o.object_type))
            extra.append(("sandbox", f"{stored:,} records stored in the emulator"))
        return extra

    def _summary(self, extra: list[tuple[str, str]]) -> None:
        o, out = self.o, sys.stderr
        if o.quiet:
            return
        print(f"asyncbatch: {o.operation} {o.object_type} from {o.file}", file=out)
        rows = summary_rows(self.tally, done=self.verb.done) + extra
        if o.out is not None and self.tally.written:
            rows.append(("results in", "stdout" if str(o.out) == "-" else str(o.out)))
        if o.errors is not None and (self.tally.failed or self.tally.bad):
            rows.append(("failed inputs in", "stdout" if str(o.errors) == "-" else str(o.errors)))
        width = max(21, *(len(label) for label, _ in rows))
        for label, value in rows:
            print(f"  {label:<{width}}  {value}", file=out)
        failures = failure_rows(self.facts.groups)
        if failures:
            print("  failures by reason (count, kind, first example):", file=out)
            for line in failures:
                print(f"  {line}", file=out)
        out.flush()

    def _outcome(self) -> Outcome:
        t = self.tally
        usage_error = self.input_error
        if usage_error is not None:
            usage_error += (
                f"; {t.written:,} records were written before the run stopped, and the rest "
                "of the input was not sent"
            )
            if self.stopped_by_bad_row:
                usage_error += " (--skip-bad-rows skips bad rows instead)"
        return Outcome(
            usage_error=usage_error,
            stop_reason=self.stop_reason,
            interrupted=self.interrupts.stopping,
            aborted=self.interrupts.aborted,
            written=t.written,
            failed=t.failed,
            unfinished=t.unfinished,
            unfinished_reason=self.unfinished_reason,
            bad_rows=t.bad,
            failed_before=self.failed_before,
            unknown=t.unknown,
            unknown_before=self.unknown_before,
        )


def _all_runs(finished: int, failed: int, unknown: int, found: Scan | None, done: str) -> str:
    total = f" of {found.records:,} records" if found is not None else ""
    unsure = f", {unknown:,} of unknown outcome" if unknown else ""
    return f"{finished - failed - unknown:,} {done}, {failed:,} failed{unsure}{total}"
