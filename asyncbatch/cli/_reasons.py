"""Why a record failed, as fields a person can group, filter and fix by, and failures grouped
for the summary. Pure: no I/O.

HubSpot's refusals carry their facts inside text (``Property values were not valid:
[{\\"isValid\\":false,...}]``); ``reason_of`` reads them with the client's own parser
(``asyncbatch._refusals``) into a ``Reason``: category, code, property, the refused value, the
allowed options and a plain message. ``FailureGroups`` counts failures by category, code and
property, keeping one example of each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .._convert import converter
from .._models import FailedInput
from .._refusals import Problem, allowed_options, problems_in, refused_value
from ._validate import BadRow

__all__ = ["BAD_ROW", "FailureGroups", "Group", "Reason", "reason_of", "reason_of_row"]

#: The category of a row the client refused before sending (not HubSpot's).
BAD_ROW = "BAD_ROW"
#: Groups kept at most; later kinds of failure are counted under "other".
MAX_GROUPS = 1000
_SHOWN_OPTIONS = 12


@attrs.frozen
class Reason:
    """One failure's facts. ``message`` is plain text (no embedded JSON)."""

    category: str | None
    code: str | None = None
    property: str | None = None
    value: str | None = None
    allowed: tuple[str, ...] = ()
    message: str = ""

    def short(self) -> str:
        """The message for one line of a summary: the allowed options listed compactly."""
        if self.allowed and self.value is not None:
            shown = ", ".join(self.allowed[:_SHOWN_OPTIONS])
            more = (
                f", ... ({len(self.allowed)} in all)" if len(self.allowed) > _SHOWN_OPTIONS else ""
            )
            return f"{self.value!r} is not one of the allowed options: {shown}{more}"
        return self.message

    def fields(self) -> dict[str, Any]:
        """The ``--errors`` fields: code, property, value, allowed, message."""
        return {
            "code": self.code,
            "property": self.property,
            "value": self.value,
            "allowed": list(self.allowed) if self.allowed else None,
            "message": self.message,
        }


def reason_of(failed: FailedInput) -> Reason:
    """The facts of a failed input: its category and code, and from HubSpot's answer the
    property, the value it refused, the options it allows and its plain message."""
    category = failed.category or failed.error.category or None
    body: dict[str, Any] = converter.unstructure(failed.error)
    problem = _pick(problems_in(body), failed)
    if problem is None:
        message = failed.error.message or failed.reason
        return Reason(category, failed.code, failed.property_name, message=message)
    value = problem.value or refused_value(problem.message)
    if value is None:
        value = _text(failed.input.properties.get(problem.property))
    return Reason(
        category,
        problem.code or failed.code,
        problem.property,
        value,
        allowed_options(problem.message),
        problem.message or failed.error.message,
    )


def _pick(problems: tuple[Problem, ...], failed: FailedInput) -> Problem | None:
    """The problem about this input: its property and code, and its value where named."""
    mine = [p for p in problems if p.property == failed.property_name] or list(problems)
    if failed.code is not None:
        mine = [p for p in mine if p.code == failed.code] or mine
    properties: Mapping[str, Any] = failed.input.properties
    for problem in mine:
        if problem.value is not None and _text(properties.get(problem.property)) == problem.value:
            return problem
    return mine[0] if mine else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def reason_of_row(bad: BadRow) -> Reason:
    """The facts of a bad row: refused before sending, naming its column."""
    value = None
    if bad.record is not None and bad.column is not None:
        properties = bad.record.get("properties")
        if isinstance(properties, Mapping):
            value = _text(properties.get(bad.column))
    return Reason(BAD_ROW, None, bad.column, value, message=bad.problem)


@attrs.define
class Group:
    """Failures of one kind: their count and the first one's line and reason."""

    category: str | None
    code: str | None
    property: str | None
    count: int
    line: int | None
    example: Reason

    def describe(self) -> str:
        """``VALIDATION_ERROR INVALID_OPTION, property 'level'`` (what the group is)."""
        parts = [self.category or "UNKNOWN"]
        if self.code:
            parts.append(self.code)
        what = " ".join(parts)
        return f"{what}, property {self.property!r}" if self.property else what

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "code": self.code,
            "property": self.property,
            "count": self.count,
            "example": {"line": self.line, **self.example.fields()},
        }


class FailureGroups:
    """Failures counted by (category, code, property), at most ``MAX_GROUPS`` kinds."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str | None, str | None, str | None], Group] = {}
        self.total = 0

    def add(self, reason: Reason, *, line: int | None, count: int = 1) -> None:
        self.total += count
        key = (reason.category, reason.code, reason.property)
        group = self._groups.get(key)
        if group is None and len(self._groups) >= MAX_GROUPS:
            key = ("OTHER", None, None)
            group = self._groups.get(key)
        if group is None:
            group = Group(*key, count=0, line=line, example=reason)
            self._groups[key] = group
        group.count += count

    def top(self) -> list[Group]:
        """The groups, the largest first (the first seen first on a tie)."""
        return sorted(self._groups.values(), key=lambda g: -g.count)

    def to_json(self) -> list[dict[str, Any]]:
        return [group.to_json() for group in self.top()]
