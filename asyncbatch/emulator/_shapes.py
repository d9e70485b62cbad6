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


def rate_limit_body(policy: str) -> JSON:
    """The body of a 429: ``policy`` is ``TEN_SECONDLY_ROLLING``, ``SECONDLY`` or ``DAILY``."""
    return {
        "status": "error",
        "message": f"You have reached your {policy.lower()} limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy,
    }
