"""What the account's property definitions would refuse in a file, per property and reason, for
``--dry-run``: counts, the first few rows and values, the allowed options of an enumeration.
Pure: no I/O.

The judging is the client's own (``asyncbatch._schema.check_items``, run by ``RowCheck`` on each
planned chunk); this module only tallies and words what it found. Memory stays bounded: a few
examples per (property, code).
"""

from __future__ import annotations

import attrs

from .._refusals import Problem
from .._schema import PropertySchema

__all__ = ["EXAMPLES", "ValueReport"]

#: Example rows kept per property and reason.
EXAMPLES = 3
#: Allowed options listed before "…".
_OPTIONS = 10
_VALUE_WIDTH = 40


@attrs.define
class _Group:
    property: str
    code: str
    message: str
    count: int = 0
    examples: list[tuple[int | None, str | None]] = attrs.Factory(list)


def _shown(value: str) -> str:
    if len(value) > _VALUE_WIDTH:
        value = value[: _VALUE_WIDTH - 1] + "…"
    return repr(value)


class ValueReport:
    """Records the property definitions refuse, grouped by property and error code."""

    def __init__(self, schema: PropertySchema) -> None:
        self.schema = schema
        self._groups: dict[tuple[str, str], _Group] = {}
        self.refused = 0

    def add(self, problem: Problem, line: int | None) -> None:
        """One refused record, at ``line`` of the file (None: not known)."""
        self.refused += 1
        code = problem.code or "INVALID"
        group = self._groups.get((problem.property, code))
        if group is None:
            group = self._groups[problem.property, code] = _Group(
                problem.property, code, problem.message
            )
        group.count += 1
        if len(group.examples) < EXAMPLES:
            group.examples.append((line, problem.value))

    def allowed(self, name: str) -> tuple[str, ...]:
        """The options of an enumeration property (empty for any other)."""
        definition = self.schema.get(name)
        if definition is None or definition.type != "enumeration":
            return ()
        return tuple(option.value for option in definition.options)

    def lines(self) -> list[str]:
        """The summary, most frequent first: a line per (property, code) with its count and
        examples, then why (HubSpot's words for the first) and the allowed options."""
        out = []
        for g in sorted(self._groups.values(), key=lambda g: (-g.count, g.property, g.code)):
            examples = "; ".join(
                ", ".join(
                    part
                    for part in (
                        f"line {line:,}" if line is not None else None,
                        _shown(value) if value is not None else None,
                    )
                    if part is not None
                )
                for line, value in g.examples
            )
            records = f"{g.count:,} record{'s' if g.count != 1 else ''}"
            out.append(f"{g.property}: {g.code}, {records} (e.g. {examples})")
            out.append(f"  why: {g.message}")
            allowed = self.allowed(g.property)
            if allowed:
                more = f", … ({len(allowed)} in all)" if len(allowed) > _OPTIONS else ""
                out.append(f"  allowed: {', '.join(allowed[:_OPTIONS])}{more}")
        return out
