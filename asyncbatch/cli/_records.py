"""What the command line's readers hand on: one ``SourceRecord`` per record of the input, and
``InputError`` for an input that cannot be read at all. Pure: no I/O.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["InputError", "SourceRecord"]


class InputError(Exception):
    """The input cannot be read (as a whole, or from ``line`` on). The message is for users."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def located(self, name: str) -> str:
        """The message after the input's name (and line): ``in.csv, line 3: ...``."""
        where = f", line {self.line}" if self.line is not None else ""
        return f"{name}{where}: {self.message}"


class SourceRecord(NamedTuple):
    """One record of the input: exactly one of ``record`` and ``error`` is set.

    ``position`` counts the input's records from 0, ``line`` its lines from 1 (where the
    record starts). A line that is not a record (``error``) names its ``column`` where one
    is to blame, and keeps what was read in ``raw`` (a CSV row's cells, a JSON line's text)
    so that it can be written to ``--errors`` for fixing.
    """

    position: int
    line: int
    record: dict[str, object] | None
    error: str | None = None
    column: str | None = None
    raw: tuple[str, ...] | str | None = None
