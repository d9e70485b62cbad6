"""``--dry-run``: read and validate FILE, plan its chunks as a run would, print what would be
sent (for an archive: how many records it would archive), send nothing. Reads the input (I/O)
and prints to stdout and stderr; connects to nothing (not even the shared limiter's Redis) and
opens nothing for writing.
"""

from __future__ import annotations

import sys

from .._exceptions import InvalidInputError
from .._limiters import RateLimit
from .._redact import redact_url
from ._exit import Outcome
from ._input import InputError
from ._prepare import Prepared
from ._validate import RowCheck, Scan, scan

__all__ = ["budget", "describe", "dry_run", "print_bad_rows"]


def describe(exc: InvalidInputError) -> str:
    """A bad record's problem, for a message after its line: ``'level': ...``."""
    field = f"{exc.field!r}: " if exc.field else ""
    return f"{field}{exc.problem}"


def budget(rate: RateLimit) -> str:
    """Where a shared rate budget is counted, its URL's secrets masked."""
    assert rate.redis_url is not None
    return f"in Redis at {redact_url(rate.redis_url)}, key {rate.key!r}"


def print_bad_rows(name: str, found: Scan) -> None:
    """The first bad rows the validation pass found, one line each, and how many more."""
    for row in found.first_bad:
        print(f"asyncbatch: error: {name}, {row.describe()}", file=sys.stderr)
    more = found.bad - len(found.first_bad)
    if more > 0:
        print(f"asyncbatch: ... and {more:,} more bad rows", file=sys.stderr)


def dry_run(job: Prepared) -> Outcome:
    """Validate every record and print the plan; the outcome is a usage error if any record
    (or the file) is invalid."""
    o, name = job.options, job.options.display_name
    check = RowCheck(
        operation=o.operation,
        id_property=o.id_property,
        chunk_size=o.chunk_size,
        id_column=o.id_column if job.source.format == "csv" else None,
    )
    try:
        found = scan(job.records()(), check)
    except InputError as exc:
        return Outcome(usage_error=exc.located(name))
    _print_plan(
        job,
        records=found.records,
        bad=found.bad,
        coalesced=check.planner.coalesced,
        chunks=check.chunks,
    )
    print_bad_rows(name, found)
    if found.bad:
        return Outcome(usage_error=f"{name}: {found.bad:,} bad rows; nothing was sent")
    return Outcome()


def _print_plan(job: Prepared, *, records: int, bad: int, coalesced: int, chunks: int) -> None:
    o, rate = job.options, job.rate
    per_second = rate.requests / rate.per_seconds
    distinct = max(0, records - bad - coalesced)
    rows = [
        ("records", f"{records:,}"),
        ("invalid", f"{bad:,}"),
        ("coalesced", f"{coalesced:,}"),
        (f"to {o.operation}", f"{distinct:,} {'ids' if o.verb.takes_ids else 'records'}"),
        ("chunks", f"{chunks:,}"),
        ("requests", f"{chunks:,} (one a chunk; retries and splits not counted)"),
        ("rate", f"{rate.requests} requests per {rate.per_seconds:g} s"),
        *([("shared budget", budget(rate) + " (not contacted)")] if rate.redis_url else []),
        ("estimated time", f"{chunks / per_second:.1f} s (requests / rate)"),
    ]
    print(f"dry run: {o.operation} {o.object_type} from {o.file}; nothing sent")
    for label, value in rows:
        print(f"  {label:<14}  {value}")
