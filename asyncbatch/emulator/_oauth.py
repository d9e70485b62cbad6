"""HubSpot's OAuth token endpoint, refresh grant only: which form it accepts, the tokens it
issues and how long they live. Pure: no I/O; the time is passed in (the emulator's clock).

What HubSpot documents (``POST /oauth/v1/token``, "Refresh an access token",
https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/refresh-oauth-token
and https://legacydocs.hubspot.com/docs/methods/oauth2/refresh-access-token): a form-encoded
body with ``grant_type=refresh_token``, ``client_id``, ``client_secret`` and
``refresh_token``; the answer carries ``token_type``, ``refresh_token``, ``access_token`` and
``expires_in`` (seconds; 1800). A refresh token it does not know is a 400 whose ``status`` is
``BAD_REFRESH_TOKEN``, message "missing or invalid refresh token"
(https://www.nango.dev/blog/hubspot-oauth-bad-refresh-token); a body that is not form-encoded
is a 400 ``BAD_GRANT_TYPE`` (the grant type cannot be read;
https://openillumi.com/?p=110834). Nothing public quotes the bodies for a wrong client id or
secret: the emulator answers ``BAD_CLIENT_ID`` and ``BAD_CLIENT_SECRET`` in the same shape,
the stricter reading (refuse, name the field, never say which part of a pair was right).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping

import attrs

from ._config import OAuthApp
from ._shapes import JSON, correlation_id

__all__ = ["TOKEN_PATH", "TokenIssuer", "refusal_body"]

TOKEN_PATH = "/oauth/v1/token"


def refusal_body(status: str, message: str) -> JSON:
    """The token endpoint's 400: ``{"status", "message", "correlationId"}``."""
    return {"status": status, "message": message, "correlationId": correlation_id()}


@attrs.define
class TokenIssuer:
    """The tokens of one ``OAuthApp``: access tokens with their expiry time, and the refresh
    tokens that still work."""

    app: OAuthApp | None
    #: access token -> the time (emulator clock) it expires
    issued: dict[str, float] = attrs.Factory(dict)
    refresh_tokens: set[str] = attrs.Factory(set)

    def __attrs_post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every token issued; the configured refresh token works again."""
        self.issued.clear()
        self.refresh_tokens = {self.app.refresh_token} if self.app is not None else set()

    def revoke(self) -> None:
        """Every refresh token stops working (the app was uninstalled); access tokens issued
        still work until they expire, as HubSpot's do."""
        self.refresh_tokens.clear()

    def expired_for(self, token: str, now: float) -> float | None:
        """Seconds since ``token`` (one it issued) expired; None while it is valid or if it
        did not issue it."""
        expires = self.issued.get(token)
        if expires is None or now < expires:
            return None
        return now - expires

    def grant(self, form: Mapping[str, str] | None, now: float) -> tuple[int, JSON]:
        """The status and body answering a token request (``form`` None: not form-encoded)."""
        refused = self._refusal(form)
        if refused is not None:
            return 400, refused
        assert self.app is not None and form is not None
        refresh_token = form["refresh_token"]
        if self.app.rotate_refresh_tokens:
            self.refresh_tokens.discard(refresh_token)
            refresh_token = str(uuid.uuid4())
            self.refresh_tokens.add(refresh_token)
        access_token = f"emu-oauth-{secrets.token_urlsafe(32)}"
        lifetime = self.app.token_lifetime_seconds
        self.issued[access_token] = now + lifetime
        return 200, {
            "token_type": "bearer",
            "refresh_token": refresh_token,
            "access_token": access_token,
            "expires_in": lifetime,
        }

    def _refusal(self, form: Mapping[str, str] | None) -> JSON | None:
        if form is None or form.get("grant_type") != "refresh_token":
            # The emulator serves the refresh grant only (no install flow to give a code).
            return refusal_body("BAD_GRANT_TYPE", "missing or invalid grant type")
        app = self.app
        if app is None or form.get("client_id") != app.client_id:
            return refusal_body("BAD_CLIENT_ID", "missing or unknown client id")
        if form.get("client_secret") != app.client_secret:
            return refusal_body("BAD_CLIENT_SECRET", "missing or invalid client secret")
        if form.get("refresh_token") not in self.refresh_tokens:
            return refusal_body("BAD_REFRESH_TOKEN", "missing or invalid refresh token")
        return None
