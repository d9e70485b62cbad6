"""``--dry-run``: read and validate FILE, plan its chunks as a run would, print what would be
sent, send nothing. Reads the input (I/O) and prints to stdout and stderr; connects to nothing
(not even the shared limiter's Redis) and opens nothing for writing.
"""

from __future__ import annotations

import sys

from .._exceptions import InvalidInputError
from .._limiters import RateLimit
from .._plan import StreamPlanner
from .._redact import redact_url
from ._exit import Outcome
from ._input import InputError
from ._prepare import Prepared

__all__ = ["budget", "describe", "dry_run"]

_SHOWN_BAD = 20


def describe(exc: InvalidInputError) -> str:
    """A bad record's problem, for a message after its line: ``'level': ...``."""
    field = f"{exc.field!r}: " if exc.field else ""
    return f"{field}{exc.problem}"


def budget(rate: RateLimit) -> str:
    """Where a shared rate budget is counted, its URL's secrets masked."""
    assert rate.redis_url is not None
    return f"in Redis at {redact_url(rate.redis_url)}, key {rate.key!r}"


def dry_run(job: Prepared) -> Outcome:
    """Validate every record and print the plan; the outcome is a usage error if any record
    (or the file) is invalid."""
    o, name = job.options, job.options.display_name
    planner = StreamPlanner(
        operation=o.operation,
        id_property=o.id_property,
        chunk_size=o.chunk_size,
        trace_prefix="dry-run",
    )
    chunks = 0
    bad: list[str] = []  # the first _SHOWN_BAD problems
    bad_count = 0
    try:
        for item in job.records()():
            problem = item.error
            if problem is None:
                try:
                    chunks += planner.feed(item.record, item.position) is not None
                except InvalidInputError as exc:
                    problem = describe(exc)
            if problem is not None:
                bad_count += 1
                if len(bad) < _SHOWN_BAD:
                    bad.append(f"line {item.line}: {problem}")
    except InputError as exc:
        return Outcome(usage_error=exc.located(name))
    chunks += len(planner.flush())
    records = planner.read + bad_count
    _print_plan(job, records=records, bad=bad_count, coalesced=planner.coalesced, chunks=chunks)
    for line in bad:
        print(f"asyncbatch: error: {name}, {line}", file=sys.stderr)
    if bad_count > len(bad):
        print(f"asyncbatch: ... and {bad_count - len(bad):,} more invalid records", file=sys.stderr)
    if bad_count:
        return Outcome(usage_error=f"{name}: {bad_count:,} invalid records; nothing was sent")
    return Outcome()


def _print_plan(job: Prepared, *, records: int, bad: int, coalesced: int, chunks: int) -> None:
    o, rate = job.options, job.rate
    per_second = rate.requests / rate.per_seconds
    rows = [
        ("records", f"{records:,}"),
        ("invalid", f"{bad:,}"),
        ("coalesced", f"{coalesced:,}"),
        ("chunks", f"{chunks:,}"),
        ("requests", f"{chunks:,} (one a chunk; retries and splits not counted)"),
        ("rate", f"{rate.requests} requests per {rate.per_seconds:g} s"),
        *([("shared budget", budget(rate) + " (not contacted)")] if rate.redis_url else []),
        ("estimated time", f"{chunks / per_second:.1f} s (requests / rate)"),
    ]
    print(f"dry run: {o.operation} {o.object_type} from {o.file}; nothing sent")
    for label, value in rows:
        print(f"  {label:<14}  {value}")
