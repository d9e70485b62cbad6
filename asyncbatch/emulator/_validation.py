"""Written property values checked against their definitions, as HubSpot checks them. No I/O.

Codes and messages are HubSpot's where a real answer shows them:

- ``INVALID_OPTION`` "expert was not one of the allowed options: [...]" (issue 13's body);
- ``INVALID_DATE`` "1606768561954 is at 20:36:1.954 UTC, not midnight!" (hubspot-net/HubSpot.NET
  #98; HubSpot/hubspot-api-php #74);
- ``INVALID_INTEGER`` "... was not a valid integer (for owner ID)." and ``INVALID_LONG`` "... was
  not a valid long." (answers quoted in connector code: a ``hubspot_owner_id`` and a number
  property);
- ``INVALID_EMAIL`` "Email address ... is invalid";
- ``PROPERTY_DOESNT_EXIST`` 'Property "x" does not exist' and ``READ_ONLY_VALUE`` '"hs_object_id"
  is a calculated property; its value cannot be set' (mautic/mautic #8785; HubSpot's batch
  update page: "Read-only and non-existent properties will result in an error");
- ``LEADING_TRAILING_WHITESPACE`` on non-string properties (HubSpot developer changelog,
  "Enhanced Validations for Non-String Properties", January 2025).

Nothing public shows an invalid boolean or an unreadable date: ``INVALID_BOOLEAN`` and
``INVALID_DATE`` "... was not a valid date." are ours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime

from ._config import PropertyDef

Issue = tuple[str, str, str]
"""One refused property of an input: ``(property name, code, message)``."""

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_MS_PER_DAY = 86_400_000


def check_properties(
    definitions: Mapping[str, PropertyDef] | None,
    properties: Mapping[str, str],
    *,
    strict: bool,
    reject_unknown: bool = False,
    extra_names: Iterable[str] = (),
) -> list[Issue]:
    """The refused properties of one input.

    Strict: every property must be defined and writable, and its value valid. Lenient (today's
    emulator): only defined properties are checked, undefined ones (and ``extra_names``, e.g.
    the ``idProperty``) fail only with ``reject_unknown``; nothing is checked on a type without
    definitions.
    """
    if strict:
        return [i for n, v in properties.items() if (i := _strict_issue(definitions, n, v))]
    if not definitions:
        return []
    issues: list[Issue] = []
    if reject_unknown:
        unknown = [n for n in extra_names if n not in definitions and n != "hs_object_id"]
        issues.extend(_doesnt_exist(name) for name in unknown)
    for name, value in properties.items():
        definition = definitions.get(name)
        if definition is None:
            if reject_unknown:
                issues.append(_doesnt_exist(name))
            continue
        problem = check_value(definition, value, strict=False)
        if problem is not None:
            issues.append((name, *problem))
    return issues


def _strict_issue(
    definitions: Mapping[str, PropertyDef] | None, name: str, value: str
) -> Issue | None:
    definition = (definitions or {}).get(name)
    if definition is None:
        return _doesnt_exist(name)
    if definition.calculated:
        return (
            name,
            "READ_ONLY_VALUE",
            f'"{name}" is a calculated property; its value cannot be set',
        )
    if definition.read_only_value:
        return name, "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set'
    problem = check_value(definition, value, strict=True)
    return None if problem is None else (name, *problem)


def _doesnt_exist(name: str) -> Issue:
    return name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'


def check_value(
    definition: PropertyDef, value: str, *, strict: bool = True
) -> tuple[str, str] | None:
    """``(code, message)`` if ``value`` is invalid for ``definition``, else ``None``.

    An empty string is always valid: HubSpot reads it as "clear the property". Lenient checks
    skip the whitespace rule and let any enumeration take several options.
    """
    if value == "":
        return None
    if strict and definition.type not in ("string", "phone_number") and value != value.strip():
        return (
            "LEADING_TRAILING_WHITESPACE",
            f'"{value}" includes leading or trailing whitespace.',
        )
    if definition.value_format is not None:
        return _format_problem(definition, value)
    check = _CHECKS.get(definition.type)
    return None if check is None else check(definition, value, strict)


def _format_problem(definition: PropertyDef, value: str) -> tuple[str, str] | None:
    if definition.value_format == "email" and not _EMAIL.match(value.strip()):
        return "INVALID_EMAIL", f"Email address {value} is invalid"
    if definition.value_format == "owner_id" and not _INTEGER.match(value):
        return "INVALID_INTEGER", f"{value} was not a valid integer (for owner ID)."
    return None


def _number(_definition: PropertyDef, value: str, _strict: bool) -> tuple[str, str] | None:
    if _NUMBER.match(value):
        return None
    return "INVALID_LONG", f"{value} was not a valid long."


def _bool(_definition: PropertyDef, value: str, _strict: bool) -> tuple[str, str] | None:
    if value.lower() in ("true", "false"):
        return None
    return "INVALID_BOOLEAN", f"{value} was not a valid boolean (true or false)."


def _option(definition: PropertyDef, value: str, strict: bool) -> tuple[str, str] | None:
    several = definition.takes_several or not strict
    parts = value.split(";") if several else [value]
    bad = next((part for part in parts if part not in definition.options), None)
    if bad is None:
        return None
    allowed = ", ".join(definition.options)
    return "INVALID_OPTION", f"{bad} was not one of the allowed options: [{allowed}]"


def _date(_definition: PropertyDef, value: str, _strict: bool) -> tuple[str, str] | None:
    millis = _epoch_millis(value)
    if millis is None:
        return "INVALID_DATE", f"{value} was not a valid date."
    left = millis % _MS_PER_DAY
    if left == 0:
        return None
    seconds, ms = divmod(left, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    shown = f"{hour}:{minute}:{second}" + (f".{ms:03d}" if ms else "")
    return "INVALID_DATE", f"{millis} is at {shown} UTC, not midnight!"


def _datetime(_definition: PropertyDef, value: str, _strict: bool) -> tuple[str, str] | None:
    if _epoch_millis(value) is not None:
        return None
    return "INVALID_LONG", f"{value} was not a valid long."


def _epoch_millis(value: str) -> int | None:
    """Epoch milliseconds of ``value`` (millis, ``YYYY-MM-DD`` or ISO 8601), else ``None``."""
    if value.isdigit():
        return int(value)
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


_CHECKS = {
    "number": _number,
    "bool": _bool,
    "enumeration": _option,
    "date": _date,
    "datetime": _datetime,
}
