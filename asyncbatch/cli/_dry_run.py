"""``--dry-run``: read and validate FILE, check its values against the account's property
definitions, plan its chunks as a run would, print what would be sent (for an archive: how many
records it would archive) and what would fail, send nothing.

Its one request is the run's first (``_connect.first_request``): the object type's property
definitions, read under the same rules as a run (``--check-properties``; with ``off``, or
``auto`` and no token, it makes none and checks the file offline). With them, each record is
judged by the client's own checker (``asyncbatch._schema.check_items``, through ``RowCheck``)
and what would fail is summarised per property and reason (``read`` and ``archive`` take ids:
no values to check); the answer's ``X-HubSpot-RateLimit-Daily-Remaining`` weighs the job
against the account's daily budget (``_budget``). Does I/O: reads the input, that one request
(the sandbox's emulator for ``--sandbox``), prints to stdout and stderr. It contacts nothing
else (not the shared limiter's Redis) and opens nothing for writing.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

import attrs

from .. import DEFAULT_BASE_URL
from .._exceptions import InvalidInputError
from .._limiters import RateLimit
from .._redact import redact_url
from ._budget import JobBudget
from ._connect import Access, first_request, make_client, open_client
from ._credentials import OAUTH_NAMES
from ._exit import Outcome
from ._input import InputError
from ._network import route
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
    """Read the property definitions, validate and check every record, print the plan; the
    outcome: a usage error if any record (or the file) is invalid, a stop if the run would
    not start (the token refused, the daily budget short), records that would fail."""
    o, name = job.options, job.options.display_name
    access = asyncio.run(_first_request(job))
    if access.stop is not None:
        return access.stop
    check = RowCheck(
        operation=o.operation,
        id_property=o.id_property,
        chunk_size=o.request_size,
        id_column=o.id_column if job.source.format == "csv" else None,
        schema=None if o.verb.takes_ids else access.schema,
    )
    try:
        found = scan(job.records()(), check)
    except InputError as exc:
        return Outcome(usage_error=exc.located(name))
    daily = JobBudget(
        chunks=found.requests,
        schema_read=access.asked,
        remaining=access.daily_remaining,
        unknown_because=access.unknown_because,
        reserve=o.daily_reserve,
    )
    _print_plan(job, found, check, access, daily)
    print_bad_rows(name, found)
    if found.bad:
        return Outcome(usage_error=f"{name}: {found.bad:,} bad rows; nothing was sent")
    refused = daily.refusal(allow_partial=o.allow_partial)
    if refused is not None:
        return Outcome(stop_reason=f"the run would not start: {refused}", nothing_sent=True)
    return Outcome(would_fail=check.values.refused if check.values is not None else 0)


async def _first_request(job: Prepared) -> Access:
    """The run's first request, made alone: no shared limiter (Redis is not contacted)."""
    o = job.options
    if o.check_properties != "off" and not job.authenticated:
        if not o.quiet:
            unasked = (
                "nothing is asked of the account (its daily budget is not known)"
                if o.verb.takes_ids
                else "values are checked offline only, not against the account's property "
                "definitions"
            )
            print(
                "asyncbatch: note: no access token (set HUBSPOT_ACCESS_TOKEN, or "
                f"{OAUTH_NAMES}, or pass --token-file): {unasked}",
                file=sys.stderr,
            )
        return Access(unknown_because="no access token to ask with")
    if o.check_properties == "off":
        return Access(unknown_because="nothing is asked with --check-properties off")
    local = attrs.evolve(job, rate=RateLimit(job.rate.requests, job.rate.per_seconds))
    async with contextlib.AsyncExitStack() as stack:
        base_url = o.base_url or DEFAULT_BASE_URL
        if o.sandbox:
            from ._demo import demo_emulator

            base_url = (await stack.enter_async_context(demo_emulator(job.token))).url
        client = make_client(local, base_url, check_properties=o.check_properties)
        opened = await open_client(stack, client)
        if isinstance(opened, Outcome):
            return Access(stop=opened)
        return await first_request(opened, local, base_url)


def _values_row(job: Prepared, check: RowCheck) -> str:
    o = job.options
    if o.verb.takes_ids:
        return f"none to check ({o.operation} takes ids)"
    values = check.values
    if values is not None:
        count = len(values.schema.properties)
        where = f"the {count:,} property definitions of {o.object_type}"
        if not values.refused:
            return f"all pass {where}"
        return f"{values.refused:,} records would fail {where} (below)"
    if o.check_properties == "off":
        return "not checked against the account (--check-properties off)"
    if not job.authenticated:
        return "not checked against the account (no access token)"
    return "not checked against the account (its property definitions could not be read)"


def _print_plan(
    job: Prepared, found: Scan, check: RowCheck, access: Access, daily: JobBudget
) -> None:
    o, rate = job.options, job.rate
    per_second = rate.requests / rate.per_seconds
    read = " + the schema read" if access.asked else ""
    base_url = o.base_url or DEFAULT_BASE_URL
    distinct = max(0, found.records - found.bad - check.planner.coalesced)
    if check.values is not None:
        distinct = max(0, distinct - check.values.refused)
    rows = [
        ("records", f"{found.records:,}"),
        ("invalid", f"{found.bad:,}"),
        ("coalesced", f"{check.planner.coalesced:,}"),
        (f"to {o.operation}", f"{distinct:,} {'ids' if o.verb.takes_ids else 'records'}"),
        ("chunks", f"{found.chunks:,}"),
        ("values", _values_row(job, check)),
        (
            "requests",
            f"{daily.needed:,} ({found.requests:,} chunks{read}; retries and splits not counted)",
        ),
        ("daily budget", daily.describe()),
        ("rate", f"{rate.requests} requests per {rate.per_seconds:g} s"),
        *([("shared budget", budget(rate) + " (not contacted)")] if rate.redis_url else []),
        ("network", route(base_url, o.proxy, sandbox=o.sandbox)),
        ("credentials", job.credentials.source or "none (nothing asked of the account)"),
        ("estimated time", f"{found.requests / per_second:.1f} s (requests / rate)"),
    ]
    print(f"dry run: {o.operation} {o.object_type} from {o.file}; nothing sent")
    for label, value in rows:
        print(f"  {label:<14}  {value}")
    if check.values is not None and check.values.refused:
        print("would fail for their values (never sent), by property and reason:")
        for line in check.values.lines():
            print(f"  {line}")
