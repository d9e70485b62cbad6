"""The click commands of ``asyncbatch``: ``update``, ``upsert``, ``create``, ``read``,
``archive``, ``demo`` and ``emulator`` (``_emulator``).

Parsing only: each command turns its options into a call (``_job.run_job``, the demo, the
emulator's server) and returns the exit code. Importing this module needs click (the ``cli``
extra) and does no I/O. Shell completion is click's: ``eval "$(_ASYNCBATCH_COMPLETE=bash_source
asyncbatch)"`` (``zsh_source``, ``fish_source``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .. import DEFAULT_BASE_URL
from .._client import API_VERSIONS
from .._limiters import RateLimit
from ._csv import parse_delimiter
from ._emulator import emulator_command
from ._exit import EXIT_FAILED, EXIT_OK
from ._input import FORMATS, SAMPLES
from ._job import run_job
from ._prepare import MAX_CONCURRENCY, JobOptions, parse_rate
from ._verbs import VerbName

__all__ = ["cli"]

F = TypeVar("F", bound=Callable[..., Any])

_FILE_HELP = (
    "FILE is CSV (a header row; columns become properties, those named _... are skipped), "
    "JSON Lines in HubSpot's input shape (numbers kept digit for digit), either optionally "
    "gzip'd, '-' for stdin, or "
    + " / ".join(SAMPLES)
    + " for the bundled sample. It is read as a stream, never whole. --out, --errors, "
    "--checkpoint and --summary-json must each name another file than FILE and each other."
    "\n\n"
    "Bad rows (a wrong number of fields, bad JSON, a byte the encoding cannot read, an empty "
    "id, a value the client refuses): a FILE is read once before anything is sent; if it has "
    "any, nothing is sent and the first are listed (line, column, problem) with their count "
    "(exit 2). With --skip-bad-rows the good rows are sent and each bad one is written to "
    "--errors with its line and reason (exit 1); --max-bad-rows N sends nothing if there are "
    "more than N. Stdin is read once: a bad row is skipped the same way, or stops the run "
    "(exit 2), the last line saying how many records were written."
)


def _delimiter(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return parse_delimiter(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _rate(ctx: click.Context, param: click.Parameter, value: str | None) -> RateLimit | None:
    if value is None:
        return None
    try:
        return parse_rate(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


_PathOption = click.Path(dir_okay=False, path_type=Path)


def _input_options() -> list[Callable[[F], F]]:
    """How FILE is read: its format, columns and bad rows."""
    return [
        click.option(
            "--id-column",
            default="id",
            show_default=True,
            metavar="C",
            help="CSV: the column holding each record's id.",
        ),
        click.option(
            "--empty-clears",
            is_flag=True,
            help="CSV: an empty cell clears its property (default: leaves it out).",
        ),
        click.option(
            "--delimiter",
            callback=_delimiter,
            metavar="C",
            help="CSV: the field delimiter, one character or 'tab' (default: told from the "
            "header line: the most frequent of , ; tab |).",
        ),
        click.option(
            "--encoding",
            default="utf-8",
            show_default=True,
            metavar="NAME",
            help="CSV: the text encoding (cp1252 or latin-1 for many Excel exports); a "
            "byte-order mark is skipped.",
        ),
        click.option(
            "--skip-bad-rows",
            is_flag=True,
            help="Send the good rows; write each bad row to --errors with its line and "
            "reason; exit 1 (default: a FILE with bad rows sends nothing, exit 2).",
        ),
        click.option(
            "--max-bad-rows",
            type=click.IntRange(min=0),
            metavar="N",
            help="With more than N bad rows send nothing (a FILE) or stop (stdin), exit 2. "
            "Implies --skip-bad-rows.",
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(list(FORMATS)),
            default=None,
            help="The format of FILE (default: from its extension; needed for '-').",
        ),
    ]


def _sending_options() -> list[Callable[[F], F]]:
    """How records are sent: concurrency, rate, chunks, where to."""
    return [
        click.option(
            "--concurrency",
            type=click.IntRange(1, MAX_CONCURRENCY),
            default=10,
            show_default=True,
            metavar="N",
            help=f"Requests in flight at most, 1 to {MAX_CONCURRENCY} (HubSpot's rate limit "
            "allows no more to be useful).",
        ),
        click.option(
            "--redis-key",
            envvar="ASYNCBATCH_REDIS_KEY",
            show_envvar=True,
            metavar="NAME",
            help="With --redis-url: the shared budget's name, one per HubSpot account "
            "(1 to 200 of A-Z a-z 0-9 _.:@/-; default: 'default').",
        ),
        click.option(
            "--redis-url",
            envvar="ASYNCBATCH_REDIS_URL",
            show_envvar=True,
            metavar="URL",
            help="Share the --rate budget through Redis at URL (redis://, rediss:// or "
            "unix://) with every job, process or host given the same URL and --redis-key, "
            "so they can run on one account at once. Redis is checked before anything is "
            "sent: unreachable, nothing is sent (exit 3). Needs the redis extra.",
        ),
        click.option(
            "--rate",
            callback=_rate,
            metavar="N/Ds",
            help="Rate limit, e.g. 190/10s or 5/500ms (default: 100/10s; in the sandbox "
            "190/10s). With --redis-url, the budget of every job sharing it.",
        ),
        click.option(
            "--chunk-size",
            type=click.IntRange(1, 100),
            default=100,
            show_default=True,
            metavar="N",
            help="Records per request.",
        ),
        click.option(
            "--base-url",
            metavar="URL",
            help=f"HubSpot's API base URL (default: {DEFAULT_BASE_URL}).",
        ),
        click.option(
            "--api-version",
            type=click.Choice(list(API_VERSIONS)),
            default="v3",
            show_default=True,
            help="HubSpot's API version: v3 (/crm/v3/objects/...; HubSpot stops supporting it "
            "in September 2027) or a dated one (/crm/objects/2026-03/...).",
        ),
        click.option(
            "--timeout",
            "timeout_seconds",
            type=click.FloatRange(min=0, min_open=True),
            default=30.0,
            show_default=True,
            metavar="SECONDS",
            help="Limit on each request.",
        ),
    ]


def _checking_options() -> list[Callable[[F], F]]:
    """What is checked and spent before sending, and the way to HubSpot (issues 14, 18)."""
    return [
        click.option(
            "--check-properties",
            type=click.Choice(["auto", "on", "off"]),
            default="auto",
            show_default=True,
            help="Check values against the object type's property definitions, read first "
            "(one request): records HubSpot would refuse fail unsent, naming the property. "
            "auto: unchecked (with a note) if they cannot be read; on: then nothing is sent "
            "(exit 3); off: no check, no request.",
        ),
        click.option(
            "--daily-reserve",
            type=click.IntRange(min=0),
            default=0,
            show_default=True,
            metavar="N",
            help="Leave N of the account's requests for today to its other apps: stop "
            "sending (like HubSpot's daily limit, exit 3) before fewer are left.",
        ),
        click.option(
            "--allow-partial",
            is_flag=True,
            help="Start even if the job needs more requests than are left today (less "
            "--daily-reserve); by default such a job sends nothing (exit 3).",
        ),
        click.option(
            "--proxy",
            metavar="URL",
            help="Send every request through this http:// proxy (credentials allowed, never "
            "printed). Default: $HTTPS_PROXY / $NO_PROXY as aiohttp reads them (the proxy's "
            "credentials may come from .netrc); --proxy wins over them.",
        ),
    ]


def _output_options() -> list[Callable[[F], F]]:
    """Where answers and progress go, and FILE itself."""
    return [
        click.option(
            "--token-file",
            type=_PathOption,
            metavar="PATH",
            help="Read the access token from PATH. Default: an OAuth app's "
            "$HUBSPOT_CLIENT_ID, $HUBSPOT_CLIENT_SECRET and $HUBSPOT_REFRESH_TOKEN when all "
            "three are set (its token refreshed as it expires), else $HUBSPOT_ACCESS_TOKEN.",
        ),
        click.option(
            "--out",
            type=_PathOption,
            metavar="PATH",
            help="Write each written record (HubSpot's result, plus its line) as JSON Lines "
            "('-': stdout).",
        ),
        click.option(
            "--errors",
            type=_PathOption,
            metavar="PATH",
            help="Write each failed input and skipped bad row with its reason (code, "
            "property, value, allowed options, message): JSON Lines in input shape plus "
            "'_error' ('-': stdout), or, for a CSV FILE and a PATH ending in .csv, CSV in "
            "FILE's columns plus _error_... columns. Fix it and feed it back as FILE.",
        ),
        click.option(
            "--summary-json",
            type=_PathOption,
            metavar="PATH",
            help="Write the run's summary as JSON ('-': stdout): counts, failures by "
            "reason, timings, the exit code, a checkpoint's totals over all runs.",
        ),
        click.option(
            "--checkpoint",
            type=_PathOption,
            metavar="PATH",
            help="Journal finished records in PATH; rerunning the same command on the same "
            "input skips them (only final answers are journaled: the rerun resends the rest).",
        ),
        click.option(
            "--sandbox",
            is_flag=True,
            help="Run against an embedded emulator (no account, no token).",
        ),
        click.option(
            "--dry-run",
            is_flag=True,
            help="Validate FILE, check its values against the account's property "
            "definitions (the only request made) and print what would be sent, what would "
            "fail and why, and the daily budget; send nothing.",
        ),
        click.option(
            "--progress-interval",
            "progress_interval_seconds",
            type=click.FloatRange(min=0),
            default=5.0,
            show_default=True,
            metavar="SECONDS",
            help="Without a terminal: seconds between progress lines (0: none).",
        ),
        click.option(
            "--no-progress", is_flag=True, help="No progress bar or lines (the summary stays)."
        ),
        click.option(
            "-q",
            "--quiet",
            is_flag=True,
            help="No progress and no summary: only errors and the last line.",
        ),
        click.option("--debug", is_flag=True, help="Show tracebacks of unexpected errors."),
        click.argument("object_type", metavar="OBJECT_TYPE"),
        click.argument("file", metavar="FILE"),
    ]


def _job_options(command: F) -> F:
    # Decorators apply inside out: the last applied is listed first in --help.
    options = [*_input_options(), *_sending_options(), *_checking_options(), *_output_options()]
    for option in reversed(options):
        command = option(command)
    return command


def _run(operation: VerbName, object_type: str, file: str, fmt: str | None, **options: Any) -> int:
    return run_job(
        JobOptions(operation=operation, object_type=object_type, file=file, format=fmt, **options)
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="asyncbatch", prog_name="asyncbatch")
def cli() -> None:
    """Batch update, upsert, create, read and archive for HubSpot's CRM: chunked, concurrent,
    rate-limited.

    Exit codes: 0 all written, 1 some records failed, 2 usage or input error, 3 the run could
    not go on (authentication, daily limit, the shared rate limiter's Redis unreachable, no
    record answered: HubSpot unreachable, an output file that cannot be written), 130
    interrupted (rerun to resume).
    """


@cli.command(epilog=_FILE_HELP)
@click.option(
    "--id-property",
    metavar="P",
    help="Name records by this unique property instead of the record id.",
)
@_job_options
def update(object_type: str, file: str, fmt: str | None, **options: Any) -> int:
    """Update records of OBJECT_TYPE from FILE (by record id, or by --id-property)."""
    return _run("update", object_type, file, fmt, **options)


@cli.command(epilog=_FILE_HELP)
@click.option(
    "--id-property",
    required=True,
    metavar="P",
    help="The unique property that names records; missing ones are created.",
)
@_job_options
def upsert(object_type: str, file: str, fmt: str | None, **options: Any) -> int:
    """Create or update records of OBJECT_TYPE from FILE, keyed by --id-property."""
    return _run("upsert", object_type, file, fmt, **options)


_IDS_HELP = (
    "IDS_FILE holds record ids (or, for read, values of --id-property): one a line (.txt, no "
    "extension, or --format ids), a CSV's --id-column, or JSON Lines' 'id' field (other fields "
    "are ignored, so the --out and --errors files of read and archive feed back as they are), "
    "either optionally gzip'd, or '-' for stdin. It is read once before anything is sent, as "
    "update's FILE is: bad rows send nothing unless --skip-bad-rows. --out, --errors, "
    "--checkpoint and --summary-json must each name another file than IDS_FILE and each other."
)


def _names(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    """``a,b`` -> ``("a", "b")`` (blanks around names dropped)."""
    if value is None:
        return ()
    names = tuple(name.strip() for name in value.split(","))
    if not all(names):
        raise click.BadParameter(f"{value!r}: give property names separated by commas")
    return names


def _ids_file(command: F) -> F:
    """Name the shared FILE argument IDS_FILE in a command's usage line."""
    for param in getattr(command, "__click_params__", ()):
        if isinstance(param, click.Argument) and param.name == "file":
            param.metavar = "IDS_FILE"
    return command


@cli.command(
    epilog=_IDS_HELP
    + "\n\nEach --out line is the record in input shape: 'id', and under 'properties' the "
    "properties read that can be written back (a property with no value as '', which clears "
    "it), so the file is a backup that 'asyncbatch update' takes as it is (with "
    "--id-property P, records are named by P and 'upsert' takes it too). The record id, "
    "timestamps, read-only properties and history are kept under '_record', which input "
    "ignores. An id HubSpot does not find is a failed input (OBJECT_NOT_FOUND, in --errors), "
    "exit 1."
)
@click.option(
    "--properties",
    callback=_names,
    metavar="A,B",
    help="The properties to read, comma-separated (default: HubSpot's default properties of "
    "the object type).",
)
@click.option(
    "--properties-with-history",
    callback=_names,
    metavar="A,B",
    help="Also read these properties' past values (under _record; 50 ids a request, "
    "HubSpot's cap).",
)
@click.option("--archived", is_flag=True, help="Read archived records (only those).")
@click.option(
    "--id-property",
    metavar="P",
    help="The ids are values of this unique property; it is read too (with --properties) and "
    "names each record in --out.",
)
@_ids_file
@_job_options
def read(object_type: str, file: str, fmt: str | None, **options: Any) -> int:
    """Read records of OBJECT_TYPE by the ids in IDS_FILE, to --out (a backup to restore with
    update)."""
    return _run("read", object_type, file, fmt, **options)


@cli.command(
    epilog=_FILE_HELP
    + "\n\nCreate is not idempotent: a record sent twice is created twice. A chunk is resent "
    "only when HubSpot's answer proves nothing was made (429, 423, 477, a connection never "
    "made). After a timeout, a reset or a 5xx its records are of unknown outcome: counted on "
    "their own, written to --errors with category OUTCOME_UNKNOWN, journaled in --checkpoint "
    "and never resent by a rerun unless --resend-unknown. To recover, read them back by a "
    "property you set, or create with 'asyncbatch upsert --id-property P' on a unique "
    "property instead, which is safe to repeat. Use --checkpoint: rerunning a create without "
    "one creates every record again."
)
@click.option(
    "--resend-unknown",
    is_flag=True,
    help="With --checkpoint: send again the records an earlier run left of unknown outcome "
    "(check first that they were not created: each may be created twice).",
)
@_job_options
def create(object_type: str, file: str, fmt: str | None, **options: Any) -> int:
    """Create records of OBJECT_TYPE from FILE (properties only: HubSpot assigns the ids)."""
    return _run("create", object_type, file, fmt, **options)


@cli.command(
    epilog=_IDS_HELP
    + "\n\nOn a terminal the command asks before sending, naming how many ids it will "
    "archive; without one (a script, cron) or with ids on stdin it refuses (exit 2) unless "
    "--yes. --dry-run counts the ids and sends nothing. HubSpot archives by record id only "
    "(read the records by a property first), and answers 204 whether or not a record exists."
)
@click.option("-y", "--yes", is_flag=True, help="Archive without asking.")
@_ids_file
@_job_options
def archive(object_type: str, file: str, fmt: str | None, **options: Any) -> int:
    """Archive the records of OBJECT_TYPE whose ids are in IDS_FILE."""
    return _run("archive", object_type, file, fmt, **options)


@cli.command()
def demo() -> int:
    """Upsert the bundled 10,000-course sample into an embedded emulator.

    The sample holds 12 courses with a level the demo account does not allow: they fail, by
    design, with their reason. Exit code 0 when exactly those fail, 1 otherwise.
    """
    from ._demo import demo_succeeded, run_demo

    result = asyncio.run(run_demo())
    return EXIT_OK if demo_succeeded(result) else EXIT_FAILED


cli.add_command(emulator_command)
