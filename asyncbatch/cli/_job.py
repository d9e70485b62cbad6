"""One ``asyncbatch update|upsert`` job: read FILE, stream its records through ``BatchClient``,
write written records, dead letters and the checkpoint as each chunk finishes, show progress,
print a summary and return the exit code. Does I/O: files, terminal, network, signals.

Exit codes: 0 every record written; 1 some records failed (see ``--errors``); 2 a usage or
input error (a bad file, column, line or value: the message names the line; records read
before a bad line are still sent and journaled); 3 the run could not go on (authentication,
the daily limit, the shared rate limiter's Redis unreachable); 130 interrupted
(SIGINT/SIGTERM: in-flight chunks were finished and journaled, so the same command resumes).
When several apply, the first in the order 2, 3, 130, 1 wins.

Interruption: the first SIGINT or SIGTERM ends the input (no new record is read), lets the
chunks in flight finish and be journaled, then prints the summary. A second one aborts at once:
chunks still in flight are dropped unjournaled, and the rerun sends them again.

Shared rate budget: with ``--redis-url`` the job's ``RateLimit`` is counted in Redis, shared
by every process and host given the same URL and ``--redis-key``. Redis is checked before
anything is sent or any output file is opened: unreachable, the job sends nothing, leaves
``--out``, ``--errors`` and ``--checkpoint`` untouched and exits 3. Failing mid-run, it
stops like the daily limit (exit 3; the unsent records are left for the rerun). The URL's
password is never printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import unquote, urlsplit

import attrs

from ._checkpoint import Checkpoint, CheckpointError
from ._input import (
    Format,
    InputError,
    Source,
    SourceRecord,
    ThreadedSource,
    count_lines,
    open_records,
    resolve_source,
)
from ._output import JsonlWriter, failed_line, result_line
from ._progress import PlainReporter, Reporter, RichReporter, Tally, summary_rows
from .._client import BatchClient
from .._exceptions import InvalidInputError, LimiterUnavailableError
from .._limits import RateLimit, redact_url
from .._models import BatchResult, FailedInput
from .._plan import Operation, StreamPlanner, validate_id_property, validate_object_type

if TYPE_CHECKING:
    from ..emulator import Emulator

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_STOPPED",
    "EXIT_USAGE",
    "JobOptions",
    "UsageError",
    "parse_rate",
    "run_job",
    "shared_rate",
    "shown_url",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_STOPPED = 3
EXIT_INTERRUPTED = 130

_RATE = re.compile(r"(\d+)/(\d+(?:\.\d*)?)?(s|ms)")
# A failed input with one of these statuses was refused for the account, not for its data.
_STOP_STATUSES = frozenset({401, 403})


class UsageError(Exception):
    """A bad option or combination of options (exit code 2)."""


def parse_rate(text: str) -> RateLimit:
    """``190/10s``, ``100/s``, ``5/500ms`` -> ``RateLimit``. Pure.

    Raises:
        ValueError: any other form, with a message saying what is expected.
    """
    match = _RATE.fullmatch(text.replace(" ", ""))
    if match is None:
        raise ValueError(f"{text!r} is not a rate: write N/Ds or N/Dms, e.g. 190/10s or 5/500ms")
    requests, per, unit = match.groups()
    seconds = float(per) if per else 1.0
    if unit == "ms":
        seconds /= 1000
    if int(requests) < 1 or seconds <= 0:
        raise ValueError(f"{text!r}: the rate needs at least 1 request per a positive time")
    return RateLimit(int(requests), seconds)


def shown_url(url: str) -> str:
    """``url`` as it may be printed: any password replaced by ``***``. Pure.

    ``redact_url`` masks the password of a URL that parses as one; for a malformed URL that
    still holds an ``@``, everything before the ``@`` is masked too.
    """
    shown = redact_url(url) or ""
    if shown == url and "@" in url:
        scheme, sep, rest = url.partition("://")
        host = (rest if sep else url).rsplit("@", 1)[1]
        shown = f"{scheme}{sep}***@{host}" if sep else f"***@{host}"
    return shown


def _passwords(url: str | None) -> list[str]:
    """The password in ``url`` as written and decoded, for scrubbing messages. Pure."""
    if url is None:
        return []
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    if not password:
        return []
    return sorted({password, unquote(password)}, key=len, reverse=True)


def _scrub(text: str, url: str | None) -> str:
    for password in _passwords(url):
        text = text.replace(password, "***")
    return text


def shared_rate(rate: RateLimit, redis_url: str | None, redis_key: str | None) -> RateLimit:
    """``rate`` shared through Redis at ``redis_url`` under ``redis_key`` ("default" when
    None); ``rate`` itself without ``redis_url``. Checks the URL's form; does not connect.

    Raises:
        UsageError: a bad URL or key, ``redis_key`` without ``redis_url``, or no redis-py
            (the ``redis`` extra). The message never holds the URL's password.
    """
    if redis_url is None:
        if redis_key is not None:
            raise UsageError(
                "--redis-key (or $ASYNCBATCH_REDIS_KEY) names a budget shared through Redis: "
                "it needs --redis-url URL (or $ASYNCBATCH_REDIS_URL)"
            )
        return rate
    shown = shown_url(redis_url)
    bad_url = (
        f"--redis-url must be a redis://, rediss:// or unix:// URL, e.g. "
        f"redis://localhost:6379/0, got {shown!r}"
    )
    try:
        rate = attrs.evolve(rate, redis_url=redis_url)
    except ValueError:  # InvalidInputError, or a URL urlsplit cannot read
        raise UsageError(bad_url) from None
    parts = urlsplit(redis_url)
    if parts.scheme == "unix" and not parts.path:
        raise UsageError(f"--redis-url {shown!r}: a unix:// URL needs the socket's path")
    try:
        from redis.connection import parse_url
    except ImportError:
        raise UsageError(
            "--redis-url needs the redis extra: pip install 'asyncbatch[redis]'"
        ) from None
    try:
        # What redis-py will make of it: a bad port, a bad query value.
        parse_url(redis_url)  # type: ignore[no-untyped-call]
    except ValueError as exc:
        raise UsageError(f"--redis-url {shown!r}: {_scrub(str(exc), redis_url)}") from None
    key = "default" if redis_key is None else redis_key
    try:
        return attrs.evolve(rate, key=key)
    except InvalidInputError:
        raise UsageError(
            "--redis-key must be 1 to 200 letters, digits or _.:@/- (one name per HubSpot "
            f"account), got {key!r}"
        ) from None


@attrs.frozen(kw_only=True)
class JobOptions:
    """Everything an update/upsert job is told on the command line."""

    operation: Operation
    object_type: str
    file: str
    format: Format | None = None
    id_property: str | None = None
    id_column: str = "id"
    empty_clears: bool = False
    concurrency: int = 10
    rate: RateLimit | None = None
    chunk_size: int = 100
    base_url: str | None = None
    timeout_seconds: float = 30.0
    token_file: Path | None = None
    out: Path | None = None
    errors: Path | None = None
    checkpoint: Path | None = None
    sandbox: bool = False
    dry_run: bool = False
    progress_interval_seconds: float = 5.0
    debug: bool = False
    redis_url: str | None = None
    redis_key: str | None = None


class _Origin(NamedTuple):
    """Where a record handed to the client came from."""

    position: int  # among the file's records
    line: int
    trace_id: str | None


@attrs.define
class _State:
    pending: dict[int, _Origin] = attrs.field(factory=dict)  # client position -> origin
    next_position: int = 0
    input_error: str | None = None
    stop_reason: str | None = None
    stopping: bool = False
    aborted: bool = False


def _err(message: str) -> None:
    print(f"asyncbatch: {message}", file=sys.stderr, flush=True)


def read_token(token_file: Path | None) -> str:
    """The access token, from ``token_file`` or ``$HUBSPOT_ACCESS_TOKEN``. Never printed."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise UsageError(f"cannot read --token-file {token_file}: {reason}") from None
        if not token:
            raise UsageError(f"--token-file {token_file} is empty")
        if "\n" in token or "\r" in token:
            raise UsageError(f"--token-file {token_file} must hold the token on one line")
        return token
    token = os.environ.get("HUBSPOT_ACCESS_TOKEN", "").strip()
    if not token:
        raise UsageError(
            "no access token: set HUBSPOT_ACCESS_TOKEN or pass --token-file PATH (or try --sandbox)"
        )
    return token


def _describe(exc: InvalidInputError) -> str:
    field = f"{exc.field!r}: " if exc.field else ""
    return f"{field}{exc.problem}"


def _stops_run(failed: FailedInput) -> bool:
    # BatchResult.stop_error is only set on the chunks left unsent; the chunk whose answer
    # stopped the run (401/403, DAILY 429) carries the error as a failure with its status.
    if failed.status_code in _STOP_STATUSES:
        return True
    return failed.status_code == 429 and "daily" in failed.reason.lower()


def _is_final(failed: FailedInput) -> bool:
    """Whether a failed input got a final answer (journaled) or should be sent again."""
    if failed.status_code in _STOP_STATUSES or failed.status_code == 429:
        return False
    # Inputs a stopped run never sent: the client's synthesised error says "not sent: ...".
    return not (failed.error.category == "NOT_SENT" or failed.error.message.startswith("not sent:"))


async def _aiter(records: Iterator[SourceRecord]) -> AsyncGenerator[SourceRecord, None]:
    try:
        for record in records:
            yield record
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()


def _primed(make: Callable[[], Iterator[SourceRecord]]) -> Callable[[], Iterator[SourceRecord]]:
    """Read the first record now (raising ``InputError`` for a bad file or header), and
    return a factory of the whole iterator, first record included."""
    records = make()
    try:
        first = next(records)
    except StopIteration:
        return lambda: iter(())

    def primed() -> Iterator[SourceRecord]:
        try:
            yield first
            yield from records
        finally:
            close = getattr(records, "close", None)
            if close is not None:
                close()

    return primed


def run_job(options: JobOptions) -> int:
    """Run one job to its end; print errors as one line; return the exit code."""
    try:
        return asyncio.run(_Job(options).run())
    except (UsageError, CheckpointError) as exc:
        _err(f"error: {exc}")
    except InputError as exc:
        where = f", line {exc.line}" if exc.line is not None else ""
        name = "<stdin>" if options.file == "-" else options.file
        _err(f"error: {name}{where}: {exc.message}")
    except InvalidInputError as exc:
        _err(f"error: {exc}")
    return EXIT_USAGE


class _Job:
    def __init__(self, options: JobOptions) -> None:
        self.o = options
        self.state = _State()
        self.tally = Tally()
        self.checkpoint: Checkpoint | None = None
        self.out: JsonlWriter | None = None
        self.errors: JsonlWriter | None = None
        self.reporter: Reporter | None = None
        self.threaded: ThreadedSource | None = None
        self.display_name = "<stdin>" if options.file == "-" else options.file

    def _make_records(self, source: Source) -> Callable[[], Iterator[SourceRecord]]:
        o = self.o
        id_as_property = o.operation == "upsert" and o.id_property == o.id_column

        def make() -> Iterator[SourceRecord]:
            return open_records(
                source,
                id_column=o.id_column,
                id_as_property=id_as_property,
                empty_clears=o.empty_clears,
            )

        return make

    async def run(self) -> int:
        o = self.o
        validate_object_type(o.object_type)
        if o.id_property is not None:
            validate_id_property(o.id_property)
        if o.sandbox and o.base_url is not None:
            raise UsageError("--sandbox runs against its own emulator: drop --base-url")
        rate = shared_rate(
            o.rate or (_demo_rate() if o.sandbox else RateLimit()), o.redis_url, o.redis_key
        )
        source = resolve_source(o.file, o.format)
        make = self._make_records(source)
        if o.dry_run:
            return self._dry_run(source, make, rate)
        if o.checkpoint is not None and source.is_stdin:
            raise UsageError("--checkpoint needs a FILE: stdin cannot be read again to resume")
        if not source.is_stdin:
            make = _primed(make)  # a bad header or an unreadable file: exit before starting
        token = f"sandbox-{secrets.token_hex(8)}" if o.sandbox else read_token(o.token_file)
        async with contextlib.AsyncExitStack() as stack:
            base_url = o.base_url
            emulator = None
            if o.sandbox:
                emulator = await stack.enter_async_context(_sandbox(token))
                base_url = emulator.url
            client = BatchClient(
                token,
                base_url=base_url or "https://api.hubapi.com",
                max_concurrency=o.concurrency,
                rate_limit=rate,
                chunk_size=o.chunk_size,
                timeout_seconds=o.timeout_seconds,
            )
            try:
                # Checks the shared limiter's Redis, before any output file is opened.
                await stack.enter_async_context(client)
            except LimiterUnavailableError as exc:
                await client.aclose()
                reason = _scrub(str(exc), o.redis_url).rstrip(". ")
                _err(f"stopped: the run could not go on, nothing was sent: {reason}")
                return EXIT_STOPPED
            if o.checkpoint is not None:
                name, size = source.identity()
                self.checkpoint = Checkpoint.open(
                    o.checkpoint,
                    {
                        "file": name,
                        "size": size,
                        "operation": o.operation,
                        "object_type": o.object_type,
                        "id_property": o.id_property,
                    },
                )
                stack.callback(self.checkpoint.close)
            append = self.checkpoint is not None and self.checkpoint.resumed
            try:
                if o.out is not None:
                    self.out = JsonlWriter(o.out, append=append)
                    stack.callback(self.out.close)
                if o.errors is not None:
                    self.errors = JsonlWriter(o.errors, append=append)
                    stack.callback(self.errors.close)
            except OSError as exc:
                raise UsageError(f"cannot write {exc.filename}: {exc.strerror}") from None
            if source.is_stdin:
                self.threaded = ThreadedSource(make)
            self.reporter = self._reporter(source)
            await self._stream(client, make)
            extra = []
            if rate.redis_url is not None:
                extra.append(("shared budget", _budget(rate)))
            if emulator is not None:
                stored = len(emulator.records(o.object_type))
                extra.append(("sandbox", f"{stored:,} records stored in the emulator"))
        self._summary(extra)
        return self._exit_code()

    def _reporter(self, source: Source) -> Reporter:
        if sys.stderr.isatty():
            total = count_lines(source)
            if total is not None and self.checkpoint is not None:
                total = max(0, total - len(self.checkpoint.done))
            what = f"{self.o.operation} {self.o.object_type}"
            return RichReporter(self.tally, total=total, description=what)
        return PlainReporter(self.tally, interval_seconds=self.o.progress_interval_seconds)

    async def _feed(self, make: Callable[[], Iterator[SourceRecord]]) -> AsyncIterator[object]:
        state, tally = self.state, self.tally
        done = self.checkpoint.done if self.checkpoint is not None else None
        from_file: AsyncGenerator[SourceRecord, None] | None = None
        records: AsyncIterator[SourceRecord]
        if self.threaded is not None:
            records = self.threaded
        else:
            records = from_file = _aiter(make())
        try:
            async for item in records:
                if state.stopping:
                    break
                if item.error is not None:
                    state.input_error = f"line {item.line}: {item.error}"
                    break
                if done is not None and item.position in done:
                    tally.skipped += 1
                    if tally.skipped % 1024 == 0:
                        await asyncio.sleep(0)  # a long resumed prefix: let progress tick
                    continue
                record = item.record
                assert record is not None
                trace = record.get("objectWriteTraceId")
                position = state.next_position
                state.next_position += 1
                state.pending[position] = _Origin(
                    item.position, item.line, trace if isinstance(trace, str) else None
                )
                tally.read += 1
                yield record
        except InputError as exc:
            where = f"line {exc.line}: " if exc.line is not None else ""
            state.input_error = where + exc.message
        finally:
            if self.threaded is not None:
                self.threaded.interrupt()
            if from_file is not None:
                await from_file.aclose()

    def _origins(self, positions: tuple[int, ...]) -> list[_Origin]:
        pending = self.state.pending
        return [o for p in positions if (o := pending.pop(p, None)) is not None]

    def _handle(self, result: BatchResult) -> None:
        """Write one chunk's results and failures, then journal what finished (in that
        order, so a journaled record's output lines are always on disk)."""
        tally, state = self.tally, self.state
        finished: list[int] = []
        for written, positions in zip(result.results, result.result_positions, strict=True):
            origins = self._origins(positions)
            finished += (o.position for o in origins)
            tally.written += len(positions)
            if self.out is not None:
                self.out.write(
                    result_line(
                        written,
                        lines=[o.line for o in origins],
                        positions=[o.position for o in origins],
                    )
                )
        for failed in result.failed:
            origins = self._origins(failed.positions)
            final = _is_final(failed)
            tally.failed += len(failed.positions)
            if final:
                finished += (o.position for o in origins)
            else:
                tally.unfinished += len(failed.positions)
            if _stops_run(failed) and state.stop_reason is None:
                state.stop_reason = failed.reason
            if self.errors is not None:
                self.errors.write(
                    failed_line(
                        failed,
                        lines=[o.line for o in origins],
                        positions=[o.position for o in origins],
                        trace_id=origins[0].trace_id if origins else None,
                        final=final,
                    )
                )
        if result.stop_error is not None and state.stop_reason is None:
            state.stop_reason = str(result.stop_error)
        durable = self.checkpoint is not None
        for writer in (self.out, self.errors):
            if writer is not None:
                writer.flush(durable=durable)
        if self.checkpoint is not None:
            self.checkpoint.record(finished)
        tally.add_stats(result)
        assert self.reporter is not None
        self.reporter.update()

    def _install_signals(self) -> Callable[[], None]:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        state = self.state

        def on_signal() -> None:
            assert self.reporter is not None
            if not state.stopping:
                state.stopping = True
                if self.threaded is not None:
                    self.threaded.interrupt()
                self.reporter.note(
                    "asyncbatch: interrupted: reading no more input, finishing the chunks in "
                    "flight (interrupt again to abort)"
                )
            elif not state.aborted and task is not None:
                state.aborted = True
                task.cancel()

        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, on_signal)
            except (ValueError, RuntimeError, NotImplementedError):
                continue  # not the main thread (tests run main() in one), or not supported
            installed.append(sig)

        def remove() -> None:
            for sig in installed:
                loop.remove_signal_handler(sig)

        return remove

    async def _stream(
        self, client: BatchClient, make: Callable[[], Iterator[SourceRecord]]
    ) -> None:
        o, state = self.o, self.state
        assert self.reporter is not None
        stream = client.stream_upsert if o.operation == "upsert" else client.stream_update
        remove_signals = self._install_signals()
        self.reporter.start()
        try:
            results_iter = stream(o.object_type, self._feed(make), id_property=o.id_property)
            async with contextlib.aclosing(results_iter) as results:
                async for result in results:
                    self._handle(result)
        except InvalidInputError as exc:
            origin = state.pending.get(exc.position) if exc.position is not None else None
            where = f"line {origin.line}: " if origin is not None else ""
            state.input_error = where + _describe(exc)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not state.aborted or task is None:
                raise
            task.uncancel()
        finally:
            remove_signals()
            await self.reporter.stop()

    def _summary(self, extra: list[tuple[str, str]]) -> None:
        o = self.o
        out = sys.stderr
        print(f"asyncbatch: {o.operation} {o.object_type} from {o.file}", file=out)
        rows = summary_rows(self.tally) + extra
        width = max(21, *(len(label) for label, _ in rows))
        for label, value in rows:
            print(f"  {label:<{width}}  {value}", file=out)
        if o.out is not None and self.tally.written:
            print(f"  {'results in':<{width}}  {o.out}", file=out)
        if o.errors is not None and self.tally.failed:
            print(f"  {'failed inputs in':<{width}}  {o.errors}", file=out)
        out.flush()

    def _exit_code(self) -> int:
        state, o = self.state, self.o
        resume = (
            f"; rerun the same command to resume from {o.checkpoint}"
            if o.checkpoint is not None
            else ""
        )
        if state.input_error is not None:
            _err(f"error: {self.display_name}, {state.input_error}")
            return EXIT_USAGE
        if state.stop_reason is not None:
            reason = _scrub(state.stop_reason, o.redis_url).rstrip(". ")
            _err(f"stopped: the run could not go on: {reason}{resume}")
            return EXIT_STOPPED
        if state.aborted or state.stopping:
            _err(f"{'aborted' if state.aborted else 'interrupted'}{resume}")
            return EXIT_INTERRUPTED
        if self.tally.failed:
            where = f" (see {o.errors})" if o.errors is not None else " (keep them with --errors)"
            _err(f"{self.tally.failed:,} records failed{where}")
            return EXIT_FAILED
        return EXIT_OK

    def _dry_run(
        self, source: Source, make: Callable[[], Iterator[SourceRecord]], rate: RateLimit
    ) -> int:
        o = self.o
        planner = StreamPlanner(
            operation=o.operation,
            id_property=o.id_property,
            chunk_size=o.chunk_size,
            trace_prefix="dry-run",
        )
        chunks = 0
        bad: list[str] = []
        bad_count = 0
        try:
            for item in make():
                problem = item.error
                if problem is None:
                    try:
                        chunks += planner.feed(item.record, item.position) is not None
                    except InvalidInputError as exc:
                        problem = _describe(exc)
                if problem is not None:
                    bad_count += 1
                    if len(bad) < 20:
                        bad.append(f"line {item.line}: {problem}")
        except InputError as exc:
            where = f", line {exc.line}" if exc.line is not None else ""
            _err(f"error: {o.file}{where}: {exc.message}")
            return EXIT_USAGE
        chunks += len(planner.flush())
        per_second = rate.requests / rate.per_seconds
        rows = [
            ("records", f"{planner.read + bad_count:,}"),
            ("invalid", f"{bad_count:,}"),
            ("coalesced", f"{planner.coalesced:,}"),
            ("chunks", f"{chunks:,}"),
            ("requests", f"{chunks:,} (one a chunk; retries and splits not counted)"),
            ("rate", f"{rate.requests} requests per {rate.per_seconds:g} s"),
            *([("shared budget", _budget(rate) + " (not contacted)")] if rate.redis_url else []),
            ("estimated time", f"{chunks / per_second:.1f} s (requests / rate)"),
        ]
        print(f"dry run: {o.operation} {o.object_type} from {o.file}; nothing sent")
        for label, value in rows:
            print(f"  {label:<14}  {value}")
        for line in bad:
            _err(f"error: {o.file}, {line}")
        if bad_count > len(bad):
            _err(f"... and {bad_count - len(bad):,} more invalid records")
        return EXIT_USAGE if bad_count else EXIT_OK


def _budget(rate: RateLimit) -> str:
    assert rate.redis_url is not None
    return f"in Redis at {shown_url(rate.redis_url)}, key {rate.key!r}"


def _demo_rate() -> RateLimit:
    from ._demo import DEMO_RATE

    return DEMO_RATE


@contextlib.asynccontextmanager
async def _sandbox(token: str) -> AsyncIterator[Emulator]:
    """An emulator on 127.0.0.1 with the demo account's rate and property definitions."""
    from ._demo import DEMO_PROPERTIES, DEMO_RATE
    from ..emulator import Emulator, EmulatorConfig

    config = EmulatorConfig(
        token=token,
        rate_limit_requests=DEMO_RATE.requests,
        rate_limit_window_seconds=DEMO_RATE.per_seconds,
        latency_seconds=0.02,
        jitter_seconds=0.01,
        properties=DEMO_PROPERTIES,
    )
    async with Emulator(config) as emulator:
        yield emulator
