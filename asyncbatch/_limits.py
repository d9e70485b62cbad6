"""Transitional re-exports: the limiters moved to ``asyncbatch._limiters`` and ``redact_url``
to ``asyncbatch._redact``. Deleted once ``_client.py`` and the CLI import from there. No I/O.
"""

from ._limiters import Clock, RateLimit, RateLimiter, RollingWindowLimiter, Sleep
from ._redact import redact_url

__all__ = ["Clock", "RateLimit", "RateLimiter", "RollingWindowLimiter", "Sleep", "redact_url"]
