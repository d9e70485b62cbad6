"""HubSpot's JSON error shapes, built as plain dicts. No I/O.

Timestamps are written by ``asyncbatch._convert.format_datetime``, the client's own formatter,
so the two cannot drift apart.

Two error schemas exist in HubSpot's OpenAPI files: ``Error`` (a whole request failed: it has a
``correlationId``) and ``StandardError`` (one entry of a 207's ``errors``: it has ``status``,
``context``, ``errors`` and ``links``, all required by the official SDK's models).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

JSON = dict[str, Any]

AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


def correlation_id() -> str:
    """A fresh ``correlationId`` (a UUID, as HubSpot's)."""
    return str(uuid.uuid4())


def error_detail(
    message: str,
    *,
    code: str | None = None,
    in_: str | None = None,
    context: Mapping[str, Sequence[str]] | None = None,
) -> JSON:
    """One ``ErrorDetail``."""
    detail: JSON = {"message": message}
    if code is not None:
        detail["code"] = code
    if in_ is not None:
        detail["in"] = in_
    if context is not None:
        detail["context"] = {k: list(v) for k, v in context.items()}
    return detail


def error_body(
    category: str,
    message: str,
    *,
    context: Mapping[str, Sequence[str]] | None = None,
    errors: Sequence[JSON] | None = None,
    sub_category: str | None = None,
) -> JSON:
    """An ``Error`` body: a whole request failed."""
    body: JSON = {
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": category,
    }
    if sub_category is not None:
        body["subCategory"] = sub_category
    if context is not None:
        body["context"] = {k: list(v) for k, v in context.items()}
    if errors is not None:
        body["errors"] = list(errors)
    return body


def standard_error(
    category: str,
    message: str,
    *,
    context: Mapping[str, Sequence[str]],
    errors: Sequence[JSON] = (),
) -> JSON:
    """A ``StandardError``: one entry of a 207 answer's ``errors``."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": {k: list(v) for k, v in context.items()},
        "errors": list(errors),
        "links": {},
    }


# HubSpot's group names for private-app tokens are not public; these follow the one a 429
# quoted in HGData/mk-node-hubspot #84 ("publicapi:hapikey-secondly:2431623").
_GROUPS = {
    "TEN_SECONDLY_ROLLING": "publicapi:private-app-ten-secondly-rolling",
    "SECONDLY": "publicapi:private-app-secondly",
    "DAILY": "publicapi:private-app-daily",
}


def rate_limit_body(policy: str, *, portal_id: int) -> JSON:
    """The body of a 429: ``policy`` is ``TEN_SECONDLY_ROLLING``, ``SECONDLY`` or ``DAILY``.

    HubSpot's 429 names the policy and the limit's group, and carries a ``requestId``
    (HGData/mk-node-hubspot #84 and #89; HubSpot's API usage guidelines).
    """
    return {
        "status": "error",
        "message": f"You have reached your {policy.lower()} limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "groupName": f"{_GROUPS.get(policy, 'publicapi')}:{portal_id}",
        "policyName": policy,
        "requestId": uuid.uuid4().hex,
    }


def expired_token_body(minutes_ago: int) -> JSON:
    """HubSpot's 401 for an expired OAuth access token (its body, as useparagon.com's HubSpot
    error page quotes it, with the ``correlationId`` every HubSpot error carries)."""
    return error_body(
        "EXPIRED_AUTHENTICATION",
        f"The OAuth token used to make this call expired {minutes_ago} minute(s) ago.",
    )


def unknown_type_body(object_type: str) -> JSON:
    """HubSpot's 400 for an object type it does not know: no ``category`` at all."""
    return {
        "status": "error",
        "message": f"Unable to infer object type from: {object_type}",
        "correlationId": correlation_id(),
    }


def property_values_body(issues: Sequence[tuple[str, str, str]], *, portal_id: int) -> JSON:
    """HubSpot's whole-request 400 for invalid property values: it names each property (and,
    for ``INVALID_OPTION``, the value) but no record: no ``context.ids``, no id in the message.

    The message embeds HubSpot's validation results as JSON (HubSpot developer changelog,
    "Property Validations Rules will be enforced for APIs"); ``errors[]`` carry ``code`` and
    ``context.propertyName`` (SPEC §1).
    """
    results = [
        {
            "isValid": False,
            "message": message,
            "error": code,
            "name": name,
            "localizedErrorMessage": message,
            "portalId": portal_id,
        }
        for name, code, message in issues
    ]
    return error_body(
        "VALIDATION_ERROR",
        "Property values were not valid: " + orjson.dumps(results).decode(),
        errors=[
            error_detail(message, code=code, context={"propertyName": [name]})
            for name, code, message in issues
        ],
    )
