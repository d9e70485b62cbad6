"""asyncbatch: asyncio client for HubSpot's CRM v3 batch update and upsert endpoints.

It cuts any number of records into API-sized chunks, sends them concurrently under a concurrency
cap and a rolling-window rate limit, retries what can be retried, and returns one aggregate
``BatchResult`` in HubSpot's own shape in which every input is accounted for.
Importing this package does no network I/O: it reads its own version from the installed
metadata, and gives the ``asyncbatch`` logger a ``NullHandler`` (a library leaves log
output to the application).
"""

import logging

from ._client import DEFAULT_BASE_URL, BatchClient
from ._exceptions import (
    APIError,
    AsyncBatchError,
    AuthenticationError,
    BatchFailedError,
    ClientClosedError,
    ConnectionFailedError,
    InputFailedError,
    InvalidInputError,
    LimiterUnavailableError,
    MalformedResponseError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    ValidationError,
)
from ._limiters import RateLimit, RateLimiter, RedisWindowLimiter, RollingWindowLimiter
from ._models import (
    BatchInput,
    BatchResult,
    Error,
    ErrorDetail,
    FailedInput,
    RunStats,
    SimplePublicObject,
    SimplePublicUpsertObject,
    StandardError,
)
from ._oauth import OAuthRefresh
from ._protocol import RateLimitInfo
from ._retry import RetryPolicy
from ._schema import PropertyDefinition, PropertyOption, PropertySchema
from ._transport import MockTransport, RawResponse, Transport
from ._version import __version__
from ._writer import BatchWriter, WriteOutcome

# A library adds no output of its own: without this, Python's "last resort" handler would
# print asyncbatch's warnings to stderr in applications that never configured logging.
logging.getLogger("asyncbatch").addHandler(logging.NullHandler())

__all__ = [
    "DEFAULT_BASE_URL",
    "APIError",
    "AsyncBatchError",
    "AuthenticationError",
    "BatchClient",
    "BatchFailedError",
    "BatchInput",
    "BatchResult",
    "BatchWriter",
    "ClientClosedError",
    "ConnectionFailedError",
    "Error",
    "ErrorDetail",
    "FailedInput",
    "InputFailedError",
    "InvalidInputError",
    "LimiterUnavailableError",
    "MalformedResponseError",
    "MockTransport",
    "OAuthRefresh",
    "PropertyDefinition",
    "PropertyOption",
    "PropertySchema",
    "RateLimit",
    "RateLimitError",
    "RateLimitInfo",
    "RateLimiter",
    "RawResponse",
    "RedisWindowLimiter",
    "RequestTimeoutError",
    "RetryPolicy",
    "RollingWindowLimiter",
    "RunStats",
    "ServerError",
    "SimplePublicObject",
    "SimplePublicUpsertObject",
    "StandardError",
    "Transport",
    "TransportError",
    "ValidationError",
    "WriteOutcome",
    "__version__",
]
