"""Progress and summary of a command-line run, on stderr.

``Tally`` counts what the run did, ``estimate`` works out the rate and the time left, and
``progress_line`` / ``summary_rows`` / ``failure_rows`` format them: pure. The time left is
bounded below by the rate limiter's pace (``RateLimit``: at most ``requests`` per rolling
``per_seconds``), not only by the answers seen so far, which come fast while the first window's
budget lasts. The reporters write to stderr (I/O): ``RichReporter`` draws a progress bar on a
terminal, ``PlainReporter`` prints a timestamped line every few seconds otherwise (logs, cron,
CI), ``QuietReporter`` only the notes (``--no-progress``, ``--quiet``).

Every record read is in exactly one of the summary's lines: written (or found, created,
archived), failed (refused by HubSpot for its data), outcome unknown (a create's: it may have
been created), unfinished (sent, no final answer), not sent, or bad row.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TextIO

import attrs

from .._limiters import RateLimit
from .._models import RunStats
from ._reasons import FailureGroups

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = [
    "Estimate",
    "PlainReporter",
    "QuietReporter",
    "Reporter",
    "RichReporter",
    "Tally",
    "estimate",
    "failure_rows",
    "format_duration",
    "progress_line",
    "summary_rows",
]


@attrs.define
class Tally:
    """What a run did, summed over its chunks' results.

    ``read`` counts the records read in this run (bad rows included), ``skipped`` those a
    checkpoint said were done, ``bad`` the bad rows skipped. ``written`` and ``failed`` count
    input records (a coalesced record counts once for each of its lines); ``unfinished`` the
    failed ones without a final answer, left for the next run (not journaled), of which
    ``unsent`` never left; ``unknown`` the failed ones that may have been applied (a
    create's ``OUTCOME_UNKNOWN``: journaled, not resent). ``total``: the records this run is
    to deal with, when known (a file: from the validation pass). ``stats`` sums the chunks'
    ``RunStats``.
    """

    started: float = attrs.field(factory=time.monotonic)
    read: int = 0
    skipped: int = 0
    bad: int = 0
    written: int = 0
    failed: int = 0
    unfinished: int = 0
    unsent: int = 0
    unknown: int = 0
    total: int | None = None
    stats: RunStats = attrs.field(factory=RunStats)

    @property
    def done(self) -> int:
        """Records dealt with: written, failed or skipped as bad rows."""
        return self.written + self.failed + self.bad

    @property
    def refused(self) -> int:
        """Failed with a final answer: HubSpot refused them for their data."""
        return self.failed - self.unfinished - self.unknown

    @property
    def not_sent(self) -> int:
        """Read and never sent: the unsent failures, and records dropped without an answer
        (still being planned or in flight when the run stopped or was aborted)."""
        return max(0, self.read - self.bad - self.written - self.failed) + self.unsent

    def elapsed(self, now: float | None = None) -> float:
        return max(1e-9, (time.monotonic() if now is None else now) - self.started)


@attrs.frozen
class Estimate:
    """Where a run stands: its request and record rates, and, with a known total, the
    share done and the seconds left (None until there is something to go by)."""

    requests_per_second: float
    records_per_second: float
    percent: float | None = None
    eta_seconds: float | None = None


def estimate(
    tally: Tally, *, rate: RateLimit, chunk_size: int, now: float | None = None
) -> Estimate:
    """The rate and time left, the later of two bounds: the answers' pace so far, and the
    rate limiter's (a rolling window lets ``rate.requests`` go at once, then that many per
    ``rate.per_seconds``). The request rate shown is the run's average over its expected
    length, so the first window's burst does not pass for the pace."""
    elapsed = tally.elapsed(now)
    sent = tally.stats.requests
    records_per_second = tally.done / elapsed
    if tally.total is None:
        return Estimate(sent / elapsed, records_per_second)
    remaining = max(0, tally.total - tally.done)
    answered = tally.written + tally.failed
    per_request = min(chunk_size, answered / sent) if sent and answered else chunk_size
    requests_left = remaining / max(per_request, 1.0)
    budget, window = rate.requests, rate.per_seconds
    limiter_left = max(0.0, (sent + requests_left - budget) * window / budget - elapsed)
    eta: float | None = None
    if not remaining:
        eta = 0.0
    elif tally.done:
        eta = max(limiter_left, remaining / records_per_second)
    elif limiter_left >= window:  # nothing answered yet: only a long wait is worth saying
        eta = limiter_left
    percent = 100.0 * tally.done / tally.total if tally.total else 100.0
    if eta is None:
        return Estimate(sent / elapsed, records_per_second, percent)
    return Estimate((sent + requests_left) / (elapsed + eta), records_per_second, percent, eta)


def format_duration(seconds: float | None) -> str:
    """``45 s``, ``3 min 20 s``, ``2 h 05 min``; ``?`` when unknown."""
    if seconds is None:
        return "?"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def progress_line(tally: Tally, estimate: Estimate, *, wall: dt.datetime | None = None) -> str:
    """``2026-05-01T12:00:03Z progress: 3,400/10,072 records (33.8%), 3 failed, 35 requests,
    0 429s, 812 records/s, 8.2 req/s, ETA 8 s`` (no total, percentage or ETA for stdin)."""
    stamp = (wall or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    done = f"{tally.done:,}"
    if tally.total is not None:
        done += f"/{tally.total:,} records ({estimate.percent or 0:.1f}%)"
    else:
        done += " records"
    text = (
        f"{stamp} progress: {done}, {tally.failed + tally.bad:,} failed, "
        f"{tally.stats.requests:,} requests, {tally.stats.rate_limited:,} 429s, "
        f"{estimate.records_per_second:,.0f} records/s, "
        f"{estimate.requests_per_second:.1f} req/s"
    )
    if tally.total is not None:
        text += f", ETA {format_duration(estimate.eta_seconds)}"
    return text


def summary_rows(
    tally: Tally, *, now: float | None = None, done: str = "written"
) -> list[tuple[str, str]]:
    """The end-of-run summary, as (label, value) rows: every record read is counted in one
    of written (``done``: what the command did), failed, outcome unknown, unfinished, not
    sent and bad rows."""
    elapsed = tally.elapsed(now)
    rows = [("records read", f"{tally.read:,}")]
    if tally.skipped:
        rows.append(("skipped (checkpoint)", f"{tally.skipped:,}"))
    rows += [(done, f"{tally.written:,}"), ("failed", f"{tally.refused:,}")]
    if tally.unknown:
        rows.append(
            (
                "outcome unknown",
                f"{tally.unknown:,} (may have been created; never resent without --resend-unknown)",
            )
        )
    in_flight = tally.unfinished - tally.unsent
    if in_flight:
        rows.append(("unfinished", f"{in_flight:,} (sent, no final answer; the rerun sends them)"))
    if tally.not_sent:
        rows.append(("not sent", f"{tally.not_sent:,} (the rerun sends them)"))
    if tally.bad:
        rows.append(("bad rows", f"{tally.bad:,} (skipped, not sent)"))
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


def failure_rows(groups: FailureGroups, *, limit: int = 10) -> list[str]:
    """The failures by kind, the largest first: count, kind, and one example's line and
    reason (``limit`` kinds at most, then how many more)."""
    top = groups.top()
    lines = []
    for group in top[:limit]:
        where = f"line {group.line}: " if group.line is not None else ""
        lines.append(f"{group.count:>9,}  {group.describe()}: e.g. {where}{group.example.short()}")
    if len(top) > limit:
        rest = sum(group.count for group in top[limit:])
        lines.append(f"{rest:>9,}  in {len(top) - limit:,} more kinds (see --summary-json)")
    return lines


class Reporter(Protocol):
    """Shows a run's progress."""

    def start(self) -> None: ...

    def update(self) -> None: ...

    def note(self, message: str) -> None: ...

    async def stop(self) -> None: ...


Estimator = Callable[[], Estimate]


class QuietReporter:
    """No progress; notes (an interruption) still printed."""

    def start(self) -> None:
        pass

    def update(self) -> None:
        pass

    def note(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    async def stop(self) -> None:
        pass


class PlainReporter:
    """A timestamped ``progress:`` line every ``interval_seconds`` (none when it is 0)."""

    def __init__(
        self,
        tally: Tally,
        *,
        interval_seconds: float,
        estimator: Estimator,
        out: TextIO | None = None,
    ):
        self._tally = tally
        self._interval = interval_seconds
        self._estimator = estimator
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
            self._print(progress_line(self._tally, self._estimator()))

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
    requests/s and the time left (from ``estimator``: the rate limiter's pace counted), 429s.
    Redrawn every second as well as at each answer, so the time left moves while requests
    wait on the rate limiter."""

    def __init__(
        self, tally: Tally, *, total: int | None, description: str, estimator: Estimator
    ) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._tally = tally
        self._estimator = estimator
        self._progress: Progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("{task.fields[rps]:.1f} req/s"),
            TextColumn("{task.fields[r429]} 429s"),
            TimeElapsedColumn(),
            TextColumn("ETA {task.fields[eta]}"),
            console=Console(stderr=True),
        )
        self._task: TaskID = self._progress.add_task(
            description, total=total, failed=0, rps=0.0, r429=0, eta="?", start=False
        )
        self._ticker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._progress.start()
        self._progress.start_task(self._task)
        self._ticker = asyncio.create_task(self._tick(), name="asyncbatch-progress")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.update()

    def update(self) -> None:
        t, e = self._tally, self._estimator()
        self._progress.update(
            self._task,
            completed=t.done,
            failed=t.failed + t.bad,
            rps=e.requests_per_second,
            r429=t.stats.rate_limited,
            eta=format_duration(e.eta_seconds),
        )

    def note(self, message: str) -> None:
        self._progress.console.print(message, markup=False, highlight=False)

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self.update()
        task = self._progress.tasks[0]
        if task.total is not None and task.completed > task.total:
            self._progress.update(self._task, total=task.completed)
        self._progress.stop()
