"""Connecting a job to HubSpot: the client built from the job's options, and its first request,
the object type's property definitions, judged per ``--check-properties``. Does network I/O.

Opening the client (``open_client``) may stop a job before anything is sent: the shared
limiter's Redis unreachable, or, with an OAuth app's credentials, its first access token refused
(HubSpot's 400 ``BAD_REFRESH_TOKEN``...) or not obtained (the token endpoint failing).

The first request (``first_request``) is cheap and tells three things before FILE is read or
anything is sent: whether the token works, the property definitions the values are checked
against, and (from its ``X-HubSpot-RateLimit-Daily-Remaining``) what the account has left
today. What stops a job there, nothing sent:

- a refused token (401), the daily limit, a base URL (or proxy) that does not answer;
- with ``--check-properties on``, any other failure to read the definitions;
- an ``--id-property`` that is not a unique-value property of the object type (exit 2; for an
  update or an upsert: ``read`` names records by a property the way HubSpot's batch read
  does, unchecked, as the client leaves ids unchecked).

With ``auto`` (the default) any other refusal (a 403 for a scope the read needs, a 404) lets
the job go on unchecked, said in a note. With ``off`` there is no first request at all.

The commands that take ids have no values to check: for ``read`` the definitions say which
properties its ``--out`` keeps as writable back (without them, all but HubSpot's system
ones); for ``archive`` the first request only checks the token and the daily budget (an
unreadable definition is no matter, said nowhere; ``on`` is refused by ``_prepare``).
"""

from __future__ import annotations

import contextlib
import sys

import attrs

from .. import BatchClient
from .._client import CheckMode
from .._exceptions import (
    APIError,
    AsyncBatchError,
    AuthenticationError,
    LimiterUnavailableError,
    RateLimitError,
    TransportError,
)
from .._redact import mask
from .._schema import PropertySchema, check_id_property
from ._budget import HEADER
from ._credentials import OAUTH_NAMES
from ._exit import Outcome
from ._network import job_proxy, route
from ._prepare import Prepared

__all__ = ["Access", "first_request", "make_client", "open_client"]


@attrs.frozen
class Access:
    """What the first request told.

    Attributes:
        stop: the job must not go on (nothing was sent), and why.
        schema: the property definitions to check values against (None: unchecked).
        asked: the definitions were asked for (one request made).
        daily_remaining: the account's requests left today after it (None: unknown).
        unknown_because: why ``daily_remaining`` is unknown.
    """

    stop: Outcome | None = None
    schema: PropertySchema | None = None
    asked: bool = False
    daily_remaining: int | None = None
    unknown_because: str = f"HubSpot sent no {HEADER}"


def make_client(job: Prepared, base_url: str, *, check_properties: CheckMode) -> BatchClient:
    """A client with the job's limits, daily reserve and route to HubSpot: ``--proxy`` if
    given, else the environment's proxy (``_network``; none for the sandbox's emulator)."""
    o = job.options
    proxy = job_proxy(base_url, o.proxy, sandbox=o.sandbox)
    return BatchClient(
        job.access_token,
        base_url=base_url,
        max_concurrency=o.concurrency,
        rate_limit=job.rate,
        chunk_size=o.chunk_size,
        timeout_seconds=o.timeout_seconds,
        check_properties=check_properties,
        api_version=o.api_version,
        daily_reserve=o.daily_reserve,
        proxy=proxy,
    )


async def open_client(
    stack: contextlib.AsyncExitStack, client: BatchClient
) -> BatchClient | Outcome:
    """``client`` entered in ``stack``, or the outcome that stops the job with nothing sent:
    the shared limiter's Redis unreachable, or the OAuth app's first access token refused or
    not obtained (the client asks for it on entering). The client is closed then."""
    try:
        return await stack.enter_async_context(client)
    except LimiterUnavailableError as exc:
        await client.aclose()
        return Outcome(stop_reason=str(exc), nothing_sent=True)
    except AsyncBatchError as exc:  # only a token provider fails on entering
        await client.aclose()
        reason = str(exc)
        if not isinstance(exc, AuthenticationError):
            reason = f"could not get an OAuth access token: {reason}"
        reason += f"; the app's credentials came from {OAUTH_NAMES}"
        return Outcome(stop_reason=reason, nothing_sent=True)


def _no_daily_header(job: Prepared) -> str:
    """Why the daily figure is unknown after a request that answered."""
    if job.oauth is not None:
        return f"HubSpot sends no {HEADER} to OAuth-authorized requests"
    return f"HubSpot sent no {HEADER}"


async def first_request(client: BatchClient, job: Prepared, base_url: str) -> Access:
    """Read the property definitions of the job's object type (unless ``off``); see the
    module's docstring for what stops the job here."""
    o = job.options
    if o.check_properties == "off":
        return Access(unknown_because="nothing is asked before the run with --check-properties off")
    try:
        schema = await client.properties(o.object_type)
    except (APIError, TransportError) as exc:
        stop = _refusal(exc, job, base_url)
        if stop is None:
            _note(job, exc)
        return Access(
            stop=stop,
            asked=True,
            daily_remaining=client.daily_remaining,
            unknown_because=_no_daily_header(job),
        )
    if o.id_property is not None and not o.verb.takes_ids:
        problem = check_id_property(schema, o.id_property, operation=o.operation)
        if problem is not None:
            return Access(stop=Outcome(usage_error=f"--id-property: {problem}"), asked=True)
    return Access(
        schema=schema,
        asked=True,
        daily_remaining=client.daily_remaining,
        unknown_because=_no_daily_header(job),
    )


def _refusal(exc: APIError | TransportError, job: Prepared, base_url: str) -> Outcome | None:
    """The outcome that stops the job for this failure to read the definitions; None when it
    goes on unchecked."""
    o = job.options
    reason: str | None = None
    if isinstance(exc, TransportError):
        way = route(base_url, o.proxy, sandbox=o.sandbox)
        reason = f"no answer from {base_url} ({way}): {exc}"
    elif isinstance(exc, AuthenticationError) and exc.status == 401:
        reason = f"HubSpot refused the token: {exc}"
    elif isinstance(exc, RateLimitError) and exc.policy == "DAILY":
        reason = str(exc)
    elif o.check_properties == "on":
        instead = _CONSEQUENCE.get(o.operation, "sends the values unchecked")
        reason = (
            f"--check-properties on: the property definitions of {o.object_type} could not "
            f"be read ({str(exc)[:200]}); --check-properties auto {instead}"
        )
    if reason is None:
        return None
    return Outcome(stop_reason=mask(reason, o.secrets), nothing_sent=True)


#: What ``auto`` does without the definitions, by command (archive: ids, nothing to say).
_CONSEQUENCE = {"read": "keeps in --out every property read but HubSpot's system ones"}


def _note(job: Prepared, exc: APIError | TransportError) -> None:
    o = job.options
    if o.quiet or o.operation == "archive":  # ids carry no values: nothing changes
        return
    consequence = {"read": "--out keeps every property read but HubSpot's system ones"}.get(
        o.operation, "values go unchecked"
    )
    text = (
        f"asyncbatch: note: the property definitions of {o.object_type} could not be read "
        f"({str(exc)[:200]}); {consequence}"
    )
    print(mask(text, o.secrets), file=sys.stderr)
