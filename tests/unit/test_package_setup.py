"""Package-level set-up: one version source, and a library's quiet logger. No event loop."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import pytest

import asyncbatch
from asyncbatch._version import __version__

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_version_comes_from_pyproject() -> None:
    declared = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"]
    assert asyncbatch.__version__ == declared
    assert __version__ is asyncbatch.__version__
    assert "__version__" in asyncbatch.__all__


def test_library_logger_has_a_null_handler() -> None:
    handlers = logging.getLogger("asyncbatch").handlers
    assert any(isinstance(handler, logging.NullHandler) for handler in handlers)


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_unconfigured_application_sees_no_asyncbatch_output(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Python prints to stderr through logging.lastResort when a record finds no handler on its
    # way up. Cut both loggers off from the root (where pytest's own handlers sit) so that only
    # the package's NullHandler can stand between a warning and the last resort.
    last_resort = _Recorder()
    monkeypatch.setattr(logging, "lastResort", last_resort)
    monkeypatch.setattr(logging.getLogger("asyncbatch"), "propagate", False)
    monkeypatch.setattr(logging.getLogger("unrelated_test_logger"), "propagate", False)

    logging.getLogger("asyncbatch._client").warning("chunk %d retried", 3)
    assert last_resort.records == []

    # The control: a logger without a NullHandler does reach the last resort.
    logging.getLogger("unrelated_test_logger").warning("not a library")
    assert [record.getMessage() for record in last_resort.records] == ["not a library"]
