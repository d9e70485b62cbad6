"""Transitional re-exports: the Redis limiter moved to ``asyncbatch._limiters``. Deleted once
``_client.py`` imports from there. No I/O.
"""

from ._limiters import KEY_PREFIX, RedisWindowLimiter

__all__ = ["KEY_PREFIX", "RedisWindowLimiter"]
