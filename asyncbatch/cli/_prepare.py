"""Preparing an ``asyncbatch update|upsert|create|read|archive`` job: its options checked, its
input, rate and credentials (``_credentials``) worked out, before anything is sent or any file
opened for writing.

``parse_rate`` and ``shared_rate`` are pure. ``prepare`` does read-only file I/O: it looks at
FILE, reads the token file and the environment's credentials, asks whether stdin is a terminal
(an archive confirms there), and compares the output paths (``--out``, ``--errors``,
``--checkpoint``) with FILE, the token file and each other by resolved path and by inode, so
that no output can truncate the input or another output. Messages never hold a secret: the
Redis URL's password is masked (``asyncbatch._redact``), no credential is ever in them.
"""

from __future__ import annotations

import re
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import attrs

from .._client import API_VERSIONS, DEFAULT_BASE_URL, ApiVersion, CheckMode
from .._exceptions import InvalidInputError
from .._limiters import RateLimit
from .._oauth import OAuthRefresh
from .._plan import validate_id_property, validate_object_type
from .._redact import mask, redact_url, url_secrets
from ._credentials import (
    Credentials,
    CredentialsError,
    NoCredentialsError,
    choose_credentials,
    environment_secrets,
)
from ._csv import CsvLayout, check_encoding
from ._input import (
    Format,
    ReadOptions,
    Source,
    SourceRecord,
    only_ids,
    open_records,
    resolve_source,
)
from ._network import check_proxy, proxy_secrets
from ._output import STDOUT, is_csv_path
from ._verbs import Verb, VerbName, verb

__all__ = [
    "MAX_CONCURRENCY",
    "JobOptions",
    "Prepared",
    "UsageError",
    "check_paths",
    "parse_rate",
    "prepare",
    "shared_rate",
    "url_secret_pieces",
]

#: The most requests ``--concurrency`` may put in flight. HubSpot's highest tier allows 190
#: requests per 10 s, so more would only wait on the rate limit, each holding a connection.
MAX_CONCURRENCY = 100

_RATE = re.compile(r"(\d+)/(\d+(?:\.\d*)?)?(s|ms)")
_DELIMITERS = re.compile(r"[@/:?#&=]")


class UsageError(Exception):
    """A bad option or combination of options (exit code 2)."""


#: The ids a read request with ``propertiesWithHistory`` may hold (HubSpot's cap).
READ_WITH_HISTORY_CAP = 50


@attrs.frozen(kw_only=True)
class JobOptions:
    """Everything a job is told on the command line (``operation``: the command)."""

    operation: VerbName
    object_type: str
    file: str
    format: Format | None = None
    id_property: str | None = None
    id_column: str = "id"
    empty_clears: bool = False
    delimiter: str | None = None
    encoding: str = "utf-8"
    skip_bad_rows: bool = False
    max_bad_rows: int | None = None
    concurrency: int = 10
    rate: RateLimit | None = None
    chunk_size: int = 100
    base_url: str | None = None
    timeout_seconds: float = 30.0
    token_file: Path | None = None
    out: Path | None = None
    errors: Path | None = None
    checkpoint: Path | None = None
    summary_json: Path | None = None
    sandbox: bool = False
    dry_run: bool = False
    progress_interval_seconds: float = 5.0
    quiet: bool = False
    no_progress: bool = False
    debug: bool = False
    redis_url: str | None = None
    redis_key: str | None = None
    check_properties: CheckMode = "auto"
    daily_reserve: int = 0
    allow_partial: bool = False
    proxy: str | None = attrs.field(default=None, repr=False)
    api_version: ApiVersion = "v3"
    #: read: the properties to read, with their history, archived records only
    properties: tuple[str, ...] = ()
    properties_with_history: tuple[str, ...] = ()
    archived: bool = False
    #: archive: confirmed on the command line (no question asked)
    yes: bool = False
    #: create: resend what an earlier run on the checkpoint left of unknown outcome
    resend_unknown: bool = False

    @property
    def verb(self) -> Verb:
        """What the command does (``_verbs``)."""
        return verb(self.operation)

    @property
    def request_size(self) -> int:
        """The records a request holds: ``--chunk-size``, at most 50 for a read with
        ``--properties-with-history`` (HubSpot's cap; the client cuts its chunks so)."""
        if self.operation == "read" and self.properties_with_history:
            return min(self.chunk_size, READ_WITH_HISTORY_CAP)
        return self.chunk_size

    @property
    def display_name(self) -> str:
        """FILE as messages name it."""
        return "<stdin>" if self.file == "-" else self.file

    @property
    def secrets(self) -> list[str]:
        """What messages must not show: the Redis URL's secrets, the proxies' (``--proxy``
        and the environment's) and the environment's credentials."""
        found = url_secret_pieces(self.redis_url) if self.redis_url else []
        found += proxy_secrets(self.proxy, self.base_url or DEFAULT_BASE_URL)
        return found + environment_secrets()


@attrs.frozen(kw_only=True)
class Prepared:
    """A job ready to run: its options, input, rate and credentials (never in a repr; none
    for a dry run that asks nothing)."""

    options: JobOptions
    source: Source
    rate: RateLimit
    credentials: Credentials = attrs.field(factory=Credentials, repr=False)

    @property
    def token(self) -> str:
        """The static access token ("" with an OAuth app, or none)."""
        return self.credentials.token

    @property
    def oauth(self) -> OAuthRefresh | None:
        """The OAuth app's token provider, shared by every client of the job."""
        return self.credentials.oauth

    @property
    def access_token(self) -> str | OAuthRefresh:
        """What the client is given as its ``access_token``."""
        return self.oauth if self.oauth is not None else self.token

    @property
    def authenticated(self) -> bool:
        """Whether the job has credentials to ask HubSpot with."""
        return bool(self.token) or self.oauth is not None

    def records(
        self, on_header: Callable[[CsvLayout], None] | None = None
    ) -> Callable[[], Iterator[SourceRecord]]:
        """A factory of the input's records, read from the start each time; ``on_header``
        is told a CSV input's layout once its header is read."""
        o = self.options
        options = ReadOptions(
            id_column=None if o.verb.creates else o.id_column,
            id_as_property=o.operation == "upsert" and o.id_property == o.id_column,
            empty_clears=o.empty_clears,
            delimiter=o.delimiter,
            encoding=o.encoding,
            on_header=on_header,
        )
        if o.verb.takes_ids:
            named = o.operation == "read"
            return lambda: only_ids(open_records(self.source, options), id_property=named)
        return lambda: open_records(self.source, options)


def url_secret_pieces(url: str) -> list[str]:
    """The secrets of ``url`` to mask in messages (``_redact.url_secrets``: the password, the
    query's values and their pieces between URL delimiters, which a Redis client quotes as a
    host or port). Pure."""
    return url_secrets(url)


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


def shared_rate(rate: RateLimit, redis_url: str | None, redis_key: str | None) -> RateLimit:
    """``rate`` shared through Redis at ``redis_url`` under ``redis_key`` ("default" when
    None); ``rate`` itself without ``redis_url``. Checks the URL's form; does not connect.

    Raises:
        UsageError: a bad URL or key, ``redis_key`` without ``redis_url``, or no redis-py
            (the ``redis`` extra). The message never holds the URL's secrets.
    """
    if redis_url is None:
        if redis_key is not None:
            raise UsageError(
                "--redis-key (or $ASYNCBATCH_REDIS_KEY) names a budget shared through Redis: "
                "it needs --redis-url URL (or $ASYNCBATCH_REDIS_URL)"
            )
        return rate
    shown = redact_url(redis_url)
    try:
        rate = attrs.evolve(rate, redis_url=redis_url)
    except ValueError:  # InvalidInputError, or a URL urlsplit cannot read
        raise UsageError(
            "--redis-url must be a redis://, rediss:// or unix:// URL, e.g. "
            f"redis://localhost:6379/0, got {shown!r}"
        ) from None
    if urlsplit(redis_url).scheme == "unix" and not urlsplit(redis_url).path:
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
        reason = mask(str(exc), url_secret_pieces(redis_url))
        raise UsageError(f"--redis-url {shown!r}: {reason}") from None
    key = "default" if redis_key is None else redis_key
    try:
        return attrs.evolve(rate, key=key)
    except InvalidInputError:
        raise UsageError(
            "--redis-key must be 1 to 200 letters, digits or _.:@/- (one name per HubSpot "
            f"account), got {key!r}"
        ) from None


def _same_file_keys(path: Path) -> set[tuple[object, ...]]:
    """What makes two paths one file: the resolved path, and the device and inode when it
    exists (a hard link, a bind mount, ``/dev/fd/N``)."""
    if path == STDOUT:
        return {("stdout",)}
    try:
        keys: set[tuple[object, ...]] = {("path", str(path.resolve()))}
        stat = path.stat()
    except FileNotFoundError:
        return keys
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        reason = getattr(exc, "strerror", None) or exc
        raise UsageError(f"cannot look at {path}: {reason}") from None
    keys.add(("inode", stat.st_dev, stat.st_ino))
    return keys


def check_paths(options: JobOptions, source: Source) -> None:
    """Refuse an output path that is FILE, the token file or another output, before anything
    is opened for writing (``--out FILE`` would truncate the input as it is read).

    Raises:
        UsageError: naming both options and the path.
    """
    if options.checkpoint == STDOUT:
        raise UsageError("--checkpoint needs a file: '-' (stdout) cannot be read to resume")
    seen: list[tuple[str, set[tuple[object, ...]]]] = []
    for name, path in (("FILE", source.path), ("--token-file", options.token_file)):
        if path is not None:
            seen.append((name, _same_file_keys(path)))
    outputs = (
        ("--out", options.out),
        ("--errors", options.errors),
        ("--summary-json", options.summary_json),
    )
    for name, path in (*outputs, ("--checkpoint", options.checkpoint)):
        if path is None:
            continue
        keys = _same_file_keys(path)
        for other, known in seen:
            if keys & known:
                shown = "stdout" if path == STDOUT else str(path)
                raise UsageError(
                    f"{name} {shown} is the same file as {other}: it would be overwritten; "
                    "choose another path"
                )
        seen.append((name, keys))


def _default_rate(sandbox: bool) -> RateLimit:
    if not sandbox:
        return RateLimit()
    from ._demo import DEMO_RATE

    return DEMO_RATE


def _can_confirm(source: Source) -> bool:
    """Whether a question can be asked and answered: stdin is a terminal, not the input."""
    if source.is_stdin:
        return False
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # closed, or replaced by something that cannot tell
        return False


def _check_verb_options(o: JobOptions) -> None:
    """Refuse options the command has no use for, and bad read options."""
    v = o.verb
    if o.api_version not in API_VERSIONS:
        raise UsageError(f"--api-version must be one of {', '.join(API_VERSIONS)}")
    if v.creates and o.id_column != "id":
        raise UsageError(
            "create takes records without ids (HubSpot assigns them): drop --id-column"
        )
    if v.name == "archive" and o.check_properties == "on":
        raise UsageError(
            "archive sends ids, no values: --check-properties on has nothing to check (auto, "
            "the default, still reads the definitions once to check the token and the daily "
            "budget; off asks nothing before the first chunk)"
        )
    if v.takes_ids and o.empty_clears:
        raise UsageError(f"{v.name} takes ids, not values: drop --empty-clears")
    if o.resend_unknown and o.checkpoint is None:
        raise UsageError(
            "--resend-unknown resends what an earlier run journaled in --checkpoint as of "
            "unknown outcome: give the same --checkpoint"
        )
    if o.operation == "read" and o.id_property is not None and not o.properties:
        raise UsageError(
            f"read --id-property {o.id_property} needs --properties (it is added to them): "
            "HubSpot's answer names each record by it, and its default properties may not "
            "hold it"
        )
    if o.operation != "read" and (o.properties or o.properties_with_history or o.archived):
        raise UsageError("--properties, --properties-with-history and --archived are read's")
    for name in (*o.properties, *o.properties_with_history):
        if not name or name != name.strip() or "," in name:
            raise UsageError(
                f"--properties: {name!r} is not a property name (give names separated by "
                "commas, e.g. --properties email,firstname)"
            )


def prepare(options: JobOptions) -> Prepared:
    """Check ``options`` and work out the job's input, rate and token; open nothing for
    writing, send nothing.

    Raises:
        UsageError: a bad option or combination (including an output path that is the input).
        InputError: FILE cannot be found or its format told.
        InvalidInputError: a bad object type or id property.
    """
    o = options
    validate_object_type(o.object_type)
    if o.id_property is not None:
        validate_id_property(o.id_property)
    if not 1 <= o.concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency must be 1 to {MAX_CONCURRENCY}, got {o.concurrency}")
    if o.sandbox and o.base_url is not None:
        raise UsageError("--sandbox runs against its own emulator: drop --base-url")
    _check_network(o)
    rate = shared_rate(o.rate or _default_rate(o.sandbox), o.redis_url, o.redis_key)
    try:
        o = attrs.evolve(o, encoding=check_encoding(o.encoding))
    except ValueError as exc:
        raise UsageError(f"--encoding: {exc}") from None
    if o.max_bad_rows is not None:
        o = attrs.evolve(o, skip_bad_rows=True)
    _check_verb_options(o)
    source = resolve_source(o.file, o.format, o.verb.formats)
    if o.errors is not None and is_csv_path(o.errors) and source.format != "csv":
        raise UsageError(
            f"--errors {o.errors}: a CSV errors file takes the columns of a CSV input, and "
            f"FILE is {source.format}; name it .jsonl"
        )
    if o.dry_run:
        return Prepared(options=o, source=source, rate=rate, credentials=_dry_run_credentials(o))
    if o.checkpoint is not None and source.is_stdin:
        raise UsageError("--checkpoint needs a FILE: stdin cannot be read again to resume")
    check_paths(o, source)
    if o.operation == "archive" and not o.yes and not _can_confirm(source):
        raise UsageError(
            "archive asks for confirmation on a terminal, and "
            + ("stdin is the input" if source.is_stdin else "stdin is not a terminal")
            + ": pass --yes to archive without asking (--dry-run counts first); nothing was sent"
        )
    return Prepared(options=o, source=source, rate=rate, credentials=_credentials(o))


def _check_network(o: JobOptions) -> None:
    if o.proxy is None:
        return
    if o.sandbox:
        raise UsageError("--sandbox runs against its own emulator on 127.0.0.1: drop --proxy")
    try:
        check_proxy(o.proxy)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _sandbox() -> Credentials:
    return Credentials(token=f"sandbox-{secrets.token_hex(8)}", source="the sandbox's own token")


def _credentials(o: JobOptions) -> Credentials:
    """The job's credentials (``_credentials``; the sandbox's own token for ``--sandbox``)."""
    if o.sandbox:
        return _sandbox()
    try:
        return choose_credentials(o.token_file)
    except CredentialsError as exc:
        raise UsageError(str(exc)) from None


def _dry_run_credentials(o: JobOptions) -> Credentials:
    """A dry run's credentials, to read the property definitions: none when it reads none
    (``off``, or ``auto`` without credentials: it then checks the file offline, and says
    so). Credentials given that cannot be used are an error all the same."""
    if o.sandbox:
        return _sandbox()
    if o.check_properties == "off":
        return Credentials()
    try:
        return choose_credentials(o.token_file)
    except NoCredentialsError as exc:
        if o.check_properties == "on":
            raise UsageError(f"--check-properties on: {exc}") from None
        return Credentials()
    except CredentialsError as exc:
        raise UsageError(str(exc)) from None
