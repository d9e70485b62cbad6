"""``read_grant``: the token endpoint's answer to a grant or an error (pure, no I/O).

HubSpot's answer to a refresh carries ``token_type``, ``refresh_token``, ``access_token`` and
``expires_in`` ("Refresh an access token",
https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/refresh-oauth-token);
a refusal is a 400 ``{"status": "BAD_REFRESH_TOKEN", "message": "missing or invalid refresh
token"}`` (https://www.nango.dev/blog/hubspot-oauth-bad-refresh-token), and RFC 6749's servers
say ``{"error": "invalid_grant"}`` (RFC 6749 section 5.2).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

import asyncbatch
from asyncbatch._oauth import read_grant
from asyncbatch._transport import RawResponse

SECRET = "the-client-secret-0123"


def _raw(status: int, body: Any) -> RawResponse:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return RawResponse(status, {"Content-Type": "application/json"}, data)


def test_hubspots_grant_is_read() -> None:
    grant = read_grant(
        _raw(
            200,
            {
                "token_type": "bearer",
                "refresh_token": "rt-2",
                "access_token": "at-1",
                "expires_in": 1800,
            },
        ),
        [SECRET],
    )
    assert (grant.access_token, grant.refresh_token, grant.expires_in) == ("at-1", "rt-2", 1800)
    assert "at-1" not in repr(grant) and "rt-2" not in repr(grant)


def test_the_camel_case_answer_of_hubspots_newer_pages_is_read_too() -> None:
    grant = read_grant(_raw(200, {"accessToken": "at-1", "expiresIn": 60}), [])
    assert (grant.access_token, grant.refresh_token, grant.expires_in) == ("at-1", None, 60)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>ok</html>",
        {"access_token": "", "expires_in": 1800},
        {"access_token": "at", "expires_in": 0},
        {"access_token": "at", "expires_in": True},
        {"access_token": "at"},
        {"expires_in": 1800},
        [1, 2],
    ],
)
def test_a_200_without_a_usable_token_is_malformed(body: Any) -> None:
    with pytest.raises(asyncbatch.MalformedResponseError):
        read_grant(_raw(200, body), [])


@pytest.mark.parametrize(
    ("status", "body", "category", "said"),
    [
        (
            400,
            {"status": "BAD_REFRESH_TOKEN", "message": "missing or invalid refresh token"},
            "BAD_REFRESH_TOKEN",
            "missing or invalid refresh token",
        ),
        (
            400,
            {"error": "invalid_grant", "error_description": "revoked"},
            "invalid_grant",
            "revoked",
        ),
        (
            401,
            {"status": "error", "message": "nope", "category": "INVALID_AUTHENTICATION"},
            "INVALID_AUTHENTICATION",
            "nope",
        ),
        (403, b"forbidden", None, "forbidden"),
    ],
)
def test_a_refusal_is_an_authentication_error_naming_hubspots_cause(
    status: int, body: Any, category: str | None, said: str
) -> None:
    with pytest.raises(asyncbatch.AuthenticationError) as caught:
        read_grant(_raw(status, body), [])
    error = caught.value
    assert error.status == status and error.category == category
    assert said in str(error) and f"{status}" in str(error)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, asyncbatch.RateLimitError),
        (500, asyncbatch.ServerError),
        (503, asyncbatch.ServerError),
    ],
)
def test_a_429_or_5xx_is_an_error_worth_retrying(status: int, kind: type[Exception]) -> None:
    with pytest.raises(kind, match="token endpoint failed"):
        read_grant(_raw(status, {"message": "later"}), [])


def test_a_refusal_never_shows_a_secret_it_echoes() -> None:
    body = {"status": "BAD_CLIENT_SECRET", "message": f"client_secret={SECRET} is wrong"}
    with pytest.raises(asyncbatch.AuthenticationError) as caught:
        read_grant(_raw(400, body), [SECRET])
    error = caught.value
    assert SECRET not in str(error) and SECRET not in str(error.body)
    assert "client_secret=*** is wrong" in str(error)
