"""``OAuthRefresh``: HubSpot's OAuth refresh grant as a token provider. Does network I/O
through the client's transport (``post_form``: form-encoded, no bearer token, no redirects
followed), and waits (a lock shared by concurrent callers, backoff between tries); reading the
token endpoint's answer (``read_grant``) is pure.

HubSpot's refresh (``POST /oauth/v1/token``, "Refresh an access token":
https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/refresh-oauth-token):
a form-encoded body ``grant_type=refresh_token&client_id=..&client_secret=..&refresh_token=..``;
the answer has ``access_token``, ``refresh_token``, ``expires_in`` (seconds, 1800) and
``token_type``. A refused refresh is a 400 whose ``status`` names the cause
(``BAD_REFRESH_TOKEN``: "missing or invalid refresh token", when the app was uninstalled or
the token revoked; https://www.nango.dev/blog/hubspot-oauth-bad-refresh-token); RFC 6749
servers say ``error: invalid_grant`` instead. Neither is worth retrying.

The client secret, every refresh token and every access token are secrets: never in a repr,
a message or a log line; ``secrets()`` lists them for the client to mask in what it reads.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import attrs
import orjson

from ._exceptions import (
    APIError,
    AsyncBatchError,
    AuthenticationError,
    InvalidInputError,
    MalformedResponseError,
    TransportError,
)
from ._redact import mask
from ._retry import RetryPolicy, classify_status
from ._tokens import BindableTokenProvider, BoundTokenProvider, FormPoster, check_token
from ._transport import RawResponse, check_base_url

__all__ = ["TOKEN_PATH", "OAuthRefresh", "TokenGrant", "read_grant"]

logger = logging.getLogger("asyncbatch")

#: Where HubSpot's refresh grant is served, under the API's base URL.
TOKEN_PATH = "/oauth/v1/token"

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

#: Tries of one refresh when the token endpoint fails transiently (429, 5xx, no answer).
_ATTEMPTS = 4
_BACKOFF = RetryPolicy(backoff_base_seconds=1.0, backoff_max_seconds=10.0)


@attrs.frozen
class TokenGrant:
    """What the token endpoint granted. The tokens are left out of the repr."""

    access_token: str = attrs.field(repr=False)
    refresh_token: str | None = attrs.field(repr=False)
    expires_in: float


def _field(data: Mapping[str, Any], snake: str, camel: str) -> Any:
    # v1 answers in snake_case; HubSpot's newer reference pages show camelCase.
    return data.get(snake, data.get(camel))


def read_grant(raw: RawResponse, secrets: list[str]) -> TokenGrant:
    """The grant in a 200 answer of the token endpoint; else the error it amounts to (its
    text with ``secrets`` masked).

    Raises:
        AuthenticationError: the refresh was refused (a 3xx or a 4xx other than 429):
            retrying the same request cannot help. ``category`` is HubSpot's ``status`` (or
            the OAuth ``error``), e.g. ``BAD_REFRESH_TOKEN``.
        RateLimitError, ServerError: a 429 or 5xx, worth retrying.
        MalformedResponseError: a 200 without a usable token, or a body that is not JSON.
    """
    if raw.status != 200:
        text = mask(raw.body.decode("utf-8", "replace"), secrets)
        raise _refusal(raw.status, _json_object(text.encode()), text[:500])
    data = _json_object(raw.body)
    if data is None:
        raise MalformedResponseError("the token endpoint answered 200 without JSON", status=200)
    token = _field(data, "access_token", "accessToken")
    expires_in = _field(data, "expires_in", "expiresIn")
    refresh = _field(data, "refresh_token", "refreshToken")
    if not isinstance(token, str) or not token.strip() or not _seconds(expires_in):
        raise MalformedResponseError(
            "the token endpoint answered 200 without access_token and expires_in", status=200
        )
    refresh = refresh if isinstance(refresh, str) and refresh.strip() else None
    return TokenGrant(token.strip(), refresh and refresh.strip(), float(expires_in))


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _seconds(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _refusal(status: int, data: dict[str, Any] | None, text: str) -> APIError:
    data = data or {}
    code = data.get("status") if data.get("status") != "error" else None
    code = code or data.get("error") or data.get("category")
    said = data.get("message") or data.get("error_description") or text[:200]
    cause = f"{status} {code}: {said}" if code else f"{status}: {said}"
    category = str(code) if code else None
    body: Any = data or text
    if status == 429 or status >= 500:
        kind = classify_status(status)
        return kind(f"the OAuth token endpoint failed ({cause})", status=status, body=body)
    if status < 400:
        message = (
            f"the OAuth token endpoint answered {status}, not a token (a redirect is never "
            "followed, so the client secret goes nowhere else): check token_url"
        )
    else:
        message = (
            f"HubSpot refused to refresh the OAuth access token ({cause}): check the app's "
            "client id and secret, or get a new refresh token (the app may have been "
            "uninstalled or its access revoked)"
        )
    return AuthenticationError(message, status=status, body=body, category=category)


def _transient(error: AsyncBatchError) -> bool:
    """A failure another try may get past: no answer, a 429, a 5xx, an unreadable answer."""
    if isinstance(error, TransportError | MalformedResponseError):
        return True
    return isinstance(error, APIError) and (error.status == 429 or error.status >= 500)


class OAuthRefresh(BindableTokenProvider):
    """A token provider for a HubSpot public app: ``BatchClient(OAuthRefresh(client_id,
    client_secret, refresh_token))`` keeps a valid access token for the whole run.

    It asks HubSpot's token endpoint (``POST /oauth/v1/token``, refresh grant) before the
    first request, again ``refresh_margin_seconds`` before the token's ``expires_in`` runs
    out (half-way through a token shorter-lived than twice the margin), and at once when
    HubSpot answers 401 ``EXPIRED_AUTHENTICATION`` to the token anyway. Concurrent callers
    share one refresh; a refresh token HubSpot rotates is kept. A refused refresh (400
    ``BAD_REFRESH_TOKEN``...) is an ``AuthenticationError`` naming HubSpot's cause, and it
    stops the run (every unsent input reported); a 429, a 5xx or no answer is retried up to
    ``max_attempts`` tries with backoff. Neither the secret nor any token is ever shown: not
    in its repr, not in a message, not in a log line.

    Args:
        client_id, client_secret: the app's credentials.
        refresh_token: the refresh token HubSpot gave when the app was installed.
        token_url: the token endpoint; default the client's ``base_url`` +
            ``/oauth/v1/token``. https only (plain http to loopback only).
        refresh_margin_seconds: refresh this long before the token expires (default 5 min).
        max_attempts: tries of one refresh when the endpoint fails transiently.
        clock, sleep: the monotonic clock of the expiry and the sleep between tries (tests).

    Raises:
        InvalidInputError: an empty credential, or a bad ``token_url``.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        *,
        token_url: str | None = None,
        refresh_margin_seconds: float = 300.0,
        max_attempts: int = _ATTEMPTS,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        for name, value in (
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("refresh_token", refresh_token),
        ):
            if not isinstance(value, str) or not value.strip():
                raise InvalidInputError(f"OAuthRefresh needs a non-empty {name}")
        self._client_id = client_id.strip()
        self._client_secret = client_secret.strip()
        self._refresh_token = refresh_token.strip()
        self._token_url = check_base_url(token_url, name="token_url") if token_url else None
        self._margin = _check_margin(refresh_margin_seconds)
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise InvalidInputError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
        self._attempts = max_attempts
        self._clock = clock or time.monotonic
        self._sleep = sleep or anyio.sleep
        self._rng = random.Random()
        self._lock: anyio.Lock | None = None
        self._access: str | None = None
        self._refresh_at = 0.0
        #: every secret seen: the client secret, each refresh token, each access token
        self._secrets = [self._client_secret, self._refresh_token]
        self._refused: AuthenticationError | None = None
        #: access tokens obtained so far
        self.refreshes = 0

    def __repr__(self) -> str:
        where = self._token_url or f"<base_url>{TOKEN_PATH}"
        return f"OAuthRefresh(token_url={where!r}, refreshes={self.refreshes})"

    @property
    def refresh_token(self) -> str:
        """The refresh token in use: the one given, or the one HubSpot rotated it to (store
        it if it changed). A secret: never print it."""
        return self._refresh_token

    def secrets(self) -> list[str]:
        """The client secret, and every refresh and access token seen."""
        return list(self._secrets)

    def bind(
        self, *, base_url: str, transport: FormPoster, timeout_seconds: float
    ) -> BoundTokenProvider:
        """This provider for a client at ``base_url``, refreshing through ``transport``."""
        url = self._token_url or check_base_url(base_url) + TOKEN_PATH
        return _Bound(self, url, transport, timeout_seconds)

    def _due_for(self, token: str | None) -> bool:
        """``token`` is not the current one, or the current one expires within the margin."""
        return self._access is None or token != self._access or self._due_now()

    async def _token_for(self, bound: _Bound, *, refused: str | None) -> str:
        """The current access token, refreshed through ``bound`` if it is due or if it is the
        ``refused`` one. Concurrent callers wait for one refresh."""
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self._access is not None and refused != self._access and not self._due_now():
                return self._access  # still good, or someone refreshed since it was refused
            return await self._refresh(bound)

    def _due_now(self) -> bool:
        return self._clock() >= self._refresh_at

    async def _refresh(self, bound: _Bound) -> str:
        if self._refused is not None:
            raise self._refused  # HubSpot said no: asking again with the same token cannot help
        started = self._clock()
        grant = await self._ask(bound)
        access = check_token(grant.access_token)
        self._access = access
        self._secrets.append(access)
        if grant.refresh_token and grant.refresh_token != self._refresh_token:
            self._refresh_token = grant.refresh_token  # rotated: the old one may not work
            self._secrets.append(grant.refresh_token)
        margin = min(self._margin, grant.expires_in / 2)
        self._refresh_at = started + grant.expires_in - margin
        self.refreshes += 1
        logger.info("OAuth access token refreshed; it expires in %g s", grant.expires_in)
        return access

    async def _ask(self, bound: _Bound) -> TokenGrant:
        """One refresh, retried while the endpoint fails transiently."""
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
        }
        attempt = 0
        while True:
            attempt += 1
            try:
                raw = await bound.transport.post_form(
                    bound.url, form, timeout_seconds=bound.timeout_seconds
                )
                return read_grant(raw, self._secrets)
            except AuthenticationError as exc:
                self._refused = exc
                logger.warning("OAuth refresh refused: %s", exc)
                raise
            except (TransportError, APIError) as exc:
                if not _transient(exc) or attempt >= self._attempts:
                    raise
                delay = _BACKOFF.backoff(attempt, self._rng)
                logger.warning(
                    "OAuth refresh failed (%s); try %d in %.1f s", exc, attempt + 1, delay
                )
                await self._sleep(delay)


def _check_margin(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise InvalidInputError(f"refresh_margin_seconds must be a number >= 0, got {value!r}")
    return float(value)


class _Bound(BoundTokenProvider):
    """An ``OAuthRefresh`` as one client uses it: the token URL and the transport."""

    def __init__(
        self, provider: OAuthRefresh, url: str, transport: FormPoster, timeout_seconds: float
    ) -> None:
        self.provider = provider
        self.url = url
        self.transport = transport
        self.timeout_seconds = timeout_seconds

    def __repr__(self) -> str:
        return f"<bound {self.provider!r}>"

    def due(self, token: str | None) -> bool:
        return self.provider._due_for(token)

    async def token(self, *, refused: str | None) -> str:
        return await self.provider._token_for(self, refused=refused)

    def secrets(self) -> list[str]:
        return self.provider.secrets()
