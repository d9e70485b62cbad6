"""The public surface: what ``asyncbatch.__all__`` promises (as httpx and anyio test it)."""

from __future__ import annotations

import inspect
import re

import asyncbatch

SPEC_NAMES = {
    "AsyncBatchError",
    "BatchClient",
    "BatchInput",
    "BatchResult",
    "InvalidInputError",
    "RateLimit",
    "RetryPolicy",
    "TransportError",
    "APIError",
    "AuthenticationError",
    "RateLimitError",
    "ServerError",
}


def _ruff_sort_key(name: str) -> tuple[int, str]:
    # RUF022's "isort-style" order: SCREAMING_SNAKE_CASE, then CamelCase, then the rest.
    if re.fullmatch(r"[A-Z][A-Z0-9_]*", name) and len(name) > 1:
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def test_every_name_in_all_exists() -> None:
    for name in asyncbatch.__all__:
        assert hasattr(asyncbatch, name), name


def test_all_is_sorted_and_unique() -> None:
    names = list(asyncbatch.__all__)
    assert len(names) == len(set(names))
    assert names == sorted(names, key=_ruff_sort_key)


def test_all_is_exactly_the_public_attributes() -> None:
    public = {
        name
        for name, value in vars(asyncbatch).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    exported = {name for name in asyncbatch.__all__ if not name.startswith("_")}
    assert exported == public


def test_no_private_module_or_name_leaks() -> None:
    for name in asyncbatch.__all__:
        value = getattr(asyncbatch, name)
        assert not inspect.ismodule(value), name
        assert not name.startswith("_") or name == "__version__", name


def test_spec_names_are_exported() -> None:
    assert set(asyncbatch.__all__) >= SPEC_NAMES


def test_exceptions_form_one_hierarchy() -> None:
    for name in asyncbatch.__all__:
        value = getattr(asyncbatch, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, asyncbatch.AsyncBatchError), name
    assert issubclass(asyncbatch.InvalidInputError, ValueError)
    assert issubclass(asyncbatch.BatchFailedError, ExceptionGroup)


def test_version() -> None:
    assert isinstance(asyncbatch.__version__, str)
    assert asyncbatch.__version__
