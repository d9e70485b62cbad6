"""Progress and summary of a command-line run, on stderr.

``Tally`` counts what the run did and ``progress_line`` / ``summary_rows`` format it: pure.
The reporters write to stderr (I/O): ``RichReporter`` draws a progress bar on a terminal,
``PlainReporter`` prints a line every few seconds otherwise (logs, CI, pipes).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import TYPE_CHECKING, Protocol, TextIO

import attrs

from .._models import RunStats

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = [
    "PlainReporter",
    "Reporter",
    "RichReporter",
    "Tally",
    "progress_line",
    "summary_rows",
]


@attrs.define
class Tally:
    """What a run did, summed over its chunks' results.

    ``read`` counts the records handed to the client in this run; ``skipped`` those a
    checkpoint said were done; ``written`` and ``failed`` count input records (a coalesced
    record counts once for each of its lines); ``unfinished`` the failed ones without a final
    answer, left for the next run (not journaled). ``stats`` sums the chunks' ``RunStats``.
    """

    started: float = attrs.field(factory=time.monotonic)
    read: int = 0
    skipped: int = 0
    written: int = 0
    failed: int = 0
    unfinished: int = 0
    stats: RunStats = attrs.field(factory=RunStats)

    @property
    def done(self) -> int:
        return self.written + self.failed

    def elapsed(self, now: float | None = None) -> float:
        return max(1e-9, (time.monotonic() if now is None else now) - self.started)


def progress_line(tally: Tally, *, now: float | None = None) -> str:
    """``progress: 3400 records, 3 failed, 35 requests, 0 429s, 812 records/s``."""
    rate = tally.done / tally.elapsed(now)
    return (
        f"progress: {tally.done} records, {tally.failed} failed, {tally.stats.requests} requests, "
        f"{tally.stats.rate_limited} 429s, {rate:.0f} records/s"
    )


def summary_rows(tally: Tally, *, now: float | None = None) -> list[tuple[str, str]]:
    """The end-of-run summary, as (label, value) rows."""
    elapsed = tally.elapsed(now)
    rows = [("records read", f"{tally.read:,}")]
    if tally.skipped:
        rows.append(("skipped (checkpoint)", f"{tally.skipped:,}"))
    rows += [
        ("written", f"{tally.written:,}"),
        ("failed", f"{tally.failed:,}"),
    ]
    if tally.unfinished:
        rows.append(("of which unfinished", f"{tally.unfinished:,} (the rerun sends them)"))
    s = tally.stats
    rows += [
        ("coalesced", f"{s.coalesced:,}"),
        (
            "requests",
            f"{s.requests:,} ({s.chunks:,} chunks, {s.split_requests:,} to isolate bad records)",
        ),
        ("retries", f"{s.retries:,}"),
        ("429s", f"{s.rate_limited:,}"),
        ("elapsed", f"{elapsed:.2f} s"),
        ("records/s", f"{tally.done / elapsed:,.0f}"),
    ]
    return rows


class Reporter(Protocol):
    """Shows a run's progress."""

    def start(self) -> None: ...

    def update(self) -> None: ...

    def note(self, message: str) -> None: ...

    async def stop(self) -> None: ...


class PlainReporter:
    """A ``progress:`` line every ``interval_seconds`` (none when it is 0)."""

    def __init__(self, tally: Tally, *, interval_seconds: float, out: TextIO | None = None):
        self._tally = tally
        self._interval = interval_seconds
        self._out = out
        self._task: asyncio.Task[None] | None = None

    def _print(self, text: str) -> None:
        print(text, file=self._out or sys.stderr, flush=True)

    def start(self) -> None:
        if self._interval > 0:
            self._task = asyncio.create_task(self._tick(), name="asyncbatch-progress")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self._print(progress_line(self._tally))

    def update(self) -> None:
        pass

    def note(self, message: str) -> None:
        self._print(message)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class RichReporter:
    """A rich progress bar on stderr: records done (of the total when known), failures,
    requests/s, 429s and the time left."""

    def __init__(self, tally: Tally, *, total: int | None, description: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._tally = tally
        self._progress: Progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("{task.fields[rps]:.1f} req/s"),
            TextColumn("{task.fields[r429]} 429s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._task: TaskID = self._progress.add_task(
            description, total=total, failed=0, rps=0.0, r429=0, start=False
        )

    def start(self) -> None:
        self._progress.start()
        self._progress.start_task(self._task)

    def update(self) -> None:
        t = self._tally
        self._progress.update(
            self._task,
            completed=t.done,
            failed=t.failed,
            rps=t.stats.requests / t.elapsed(),
            r429=t.stats.rate_limited,
        )

    def note(self, message: str) -> None:
        self._progress.console.print(message, markup=False, highlight=False)

    async def stop(self) -> None:
        self.update()
        task = self._progress.tasks[0]
        if task.total is not None and task.completed > task.total:
            self._progress.update(self._task, total=task.completed)
        self._progress.stop()
