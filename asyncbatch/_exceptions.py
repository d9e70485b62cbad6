"""The exception hierarchy of asyncbatch. Pure: no I/O.

::

    AsyncBatchError
      InvalidInputError (also ValueError)   bad arguments or records, raised before any request
      ClientClosedError (also RuntimeError) a BatchClient used after aclose()
      LimiterUnavailableError               the shared (Redis) rate limiter cannot be reached
      TransportError                        the request did not get an HTTP answer
        RequestTimeoutError                   no answer within the timeout
        ConnectionFailedError                 connect failed, reset, or the server hung up
      APIError(status, body, chunk)         HubSpot answered with an error
        AuthenticationError                   401 / 403
        RateLimitError(policy, retry_after)   429
        ValidationError                       400 VALIDATION_ERROR and other whole-request 4xx
        ServerError                           5xx, 423, 477, 521/523/524
        MalformedResponseError                an answer we could not read (HTML, truncated JSON)
      InputFailedError(position, reason)    one input that was not written (member of the group)
      BatchFailedError (an ExceptionGroup)  raised by BatchResult.raise_for_errors()

Per-chunk failures never propagate as exceptions during a call: they become values in the
``BatchResult``. Messages never contain the access token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "APIError",
    "AsyncBatchError",
    "AuthenticationError",
    "BatchFailedError",
    "ClientClosedError",
    "ConnectionFailedError",
    "InputFailedError",
    "InvalidInputError",
    "LimiterUnavailableError",
    "MalformedResponseError",
    "RateLimitError",
    "RequestTimeoutError",
    "ServerError",
    "TransportError",
    "ValidationError",
]


class AsyncBatchError(Exception):
    """Base class of every error asyncbatch raises or reports."""


class InvalidInputError(AsyncBatchError, ValueError):
    """A bad argument or record, found before any request is sent.

    Attributes:
        position: the record's 0-based position in the caller's input, or None for an argument.
        field: the offending field or property name, where there is one.
        problem: what is wrong, in words.
    """

    def __init__(self, problem: str, *, position: int | None = None, field: str | None = None):
        self.position = position
        self.field = field
        self.problem = problem
        where = []
        if position is not None:
            where.append(f"record {position}")
        if field is not None:
            where.append(f"{field!r}")
        prefix = (": ".join(where) + ": ") if where else ""
        super().__init__(prefix + problem)


class ClientClosedError(AsyncBatchError, RuntimeError):
    """The BatchClient was used after ``aclose()`` (or outside its ``async with``)."""


class LimiterUnavailableError(AsyncBatchError):
    """The shared rate limiter (Redis) could not be reached or answered wrongly.

    Raised before anything is sent when it fails at the start of a call; when it fails mid-run
    the run stops sending (it never guesses at the shared budget) and this error is the
    result's ``stop_error`` and the reason of every unsent input. The message names the Redis
    host, never its password.
    """


class TransportError(AsyncBatchError):
    """The request got no HTTP answer (network failure), mapped from aiohttp's exceptions."""


class RequestTimeoutError(TransportError):
    """No complete answer arrived within the request timeout."""


class ConnectionFailedError(TransportError):
    """Connecting failed, the connection was reset, or the server closed it without answering.

    ``before_sending`` is True when the connection could not be made at all, so the request
    certainly did not reach the server (safe to resend even a create).
    """

    def __init__(self, message: str, *, before_sending: bool = False) -> None:
        super().__init__(message)
        self.before_sending = before_sending


class APIError(AsyncBatchError):
    """HubSpot answered a chunk with an error status or an answer we could not use.

    Attributes:
        status: the HTTP status code.
        body: the decoded JSON body (a dict) where there was one, else the raw text (truncated).
        category: HubSpot's error category (``VALIDATION_ERROR``, ``RATE_LIMIT``...) if given.
        chunk: the number of the chunk this answered, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: Any = None,
        category: str | None = None,
        chunk: int | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        self.category = category
        self.chunk = chunk

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, message={self.message!r})"


class AuthenticationError(APIError):
    """401 or 403: the token is missing, invalid, expired, or lacks a scope. Stops the run."""


class RateLimitError(APIError):
    """429. ``policy`` is HubSpot's ``policyName`` (``TEN_SECONDLY_ROLLING``, ``SECONDLY``,
    ``DAILY``) or None; ``retry_after`` the seconds from ``Retry-After`` if sent."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 429,
        body: Any = None,
        category: str | None = None,
        chunk: int | None = None,
        policy: str | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message, status=status, body=body, category=category, chunk=chunk)
        self.policy = policy
        self.retry_after = retry_after


class ValidationError(APIError):
    """A whole-request 4xx such as 400 ``VALIDATION_ERROR``: the request as sent is refused."""


class ServerError(APIError):
    """5xx, 423 Locked, 477 Migration in Progress, 521/523/524: worth retrying after a pause.

    ``retry_after`` holds the seconds from a ``Retry-After`` header when one was sent.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: Any = None,
        category: str | None = None,
        chunk: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message, status=status, body=body, category=category, chunk=chunk)
        self.retry_after = retry_after


class MalformedResponseError(APIError):
    """An answer whose body we could not read as HubSpot's shape (HTML, truncated JSON...)."""


class InputFailedError(AsyncBatchError):
    """One input that was not written. ``positions`` are its places in the caller's input
    (several when duplicates were coalesced into one record)."""

    def __init__(self, positions: Sequence[int], record_id: str, reason: str):
        self.positions = tuple(positions)
        self.record_id = record_id
        self.reason = reason
        where = ", ".join(str(p) for p in self.positions)
        super().__init__(f"input {where} (id {record_id!r}): {reason}")


class BatchFailedError(ExceptionGroup[InputFailedError], AsyncBatchError):
    """Raised by ``BatchResult.raise_for_errors()``: one ``InputFailedError`` per failed input."""

    def __new__(cls, message: str, exceptions: Sequence[InputFailedError]) -> BatchFailedError:
        return super().__new__(cls, message, exceptions)

    def derive(  # type: ignore[override]
        self, excs: Sequence[InputFailedError]
    ) -> BatchFailedError:
        return BatchFailedError(self.message, excs)
