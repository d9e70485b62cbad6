"""What a whole-request 400/409 says, and which inputs of a chunk it is about. Pure: no I/O.

HubSpot refuses a batch whole for one bad value, and its answer does not name the record
(SPEC §1, "What real whole-request 400s say"). What it does name decides what the refusal
costs:

==============  ===========================================  ===================================
kind            recognised by                                what the client does
==============  ===========================================  ===================================
``request``     non-unique ``idProperty``, unknown object    stop the call: nothing more is
                type (no category), more than 100 inputs,    sent, every input fails with the
                any 400 naming no property and no record     reason (at most 2 requests)
``property``    ``PROPERTY_DOESNT_EXIST``,                   every record of the call setting
                ``READ_ONLY_VALUE`` / calculated property    the property fails unsent; the
                                                             rest is resent
``value``       ``INVALID_OPTION``, ``INVALID_INTEGER``,     the records carrying the named
                ``INVALID_DATE``, ... naming a property      value fail; the rest is resent;
                                                             unattributable: bisect the records
                                                             setting the property (budgeted)
``records``     ``context.ids`` naming inputs                those fail; the rest is resent
``isolate``     409 ``CONFLICT`` / ``OBJECT_ALREADY_EXISTS``  bisect under the split budget
                or a property-naming 400 of unknown shape
==============  ===========================================  ===================================
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs
import orjson

from ._exceptions import APIError
from ._plan import PlannedInput

__all__ = [
    "Problem",
    "Refusal",
    "Triage",
    "allowed_options",
    "classify_refusal",
    "problems_in",
    "refused_value",
    "triage",
]

Kind = Literal["request", "property", "value", "records", "isolate"]

# Codes about a property as a whole (it does not exist, it cannot be written).
_PROPERTY_CODES = frozenset(
    {"PROPERTY_DOESNT_EXIST", "READ_ONLY_VALUE", "CALCULATED_PROPERTY", "INVALID_PROPERTY"}
)
# Messages that are about the request, whatever else the body says.
_REQUEST_MESSAGES = (
    re.compile(r"non-unique .*property", re.IGNORECASE),  # hubspot-api-nodejs #548
    re.compile(r"Unable to infer object type", re.IGNORECASE),
    re.compile(r"more than 100|limit of 100|at most 100", re.IGNORECASE),
)
_PROPERTY_MESSAGES = (
    (re.compile(r'"?([\w.-]+)"? is a calculated property'), "READ_ONLY_VALUE"),
    (
        re.compile(r"Property \"?([\w.-]+)\"? does not exist", re.IGNORECASE),
        "PROPERTY_DOESNT_EXIST",
    ),
)
# "12.5 was not a valid long.", "tomorrow was not a valid date.", "x was not one of ...".
_NAMED_VALUE = re.compile(r"^(.*?) was not (?:one of the allowed options|a valid )", re.DOTALL)
_ALLOWED_LIST = re.compile(r"allowed options: \[(.*)\]", re.DOTALL)
# The protobuf text form of an option: label: "Less than 5,000"\nvalue: "Less than 5,000"...
_PROTO_VALUE = re.compile(r'(?:^|[\s,])value: "((?:[^"\\]|\\.)*)"')
_EMBEDDED = "Property values were not valid: "


@attrs.frozen
class Problem:
    """One property-level fact of a refusal."""

    property: str
    code: str | None = None
    value: str | None = None
    message: str = ""


@attrs.frozen
class Refusal:
    """What a whole-request refusal is about."""

    kind: Kind
    problems: tuple[Problem, ...] = ()
    ids: tuple[str, ...] = ()


def classify_refusal(error: APIError) -> Refusal:
    """Classify a whole-request 400 or 409 (see the module's table)."""
    body = error.body if isinstance(error.body, dict) else {}
    message = _text(body.get("message")) or error.message
    if error.status == 409 or error.category in ("CONFLICT", "OBJECT_ALREADY_EXISTS"):
        return Refusal("isolate")
    if any(pattern.search(message) for pattern in _REQUEST_MESSAGES):
        return Refusal("request")
    ids = _named_ids(body)
    if ids:
        return Refusal("records", ids=ids)
    problems = _problems(body, message)
    if not problems:
        return Refusal("request")
    if all(p.code in _PROPERTY_CODES for p in problems):
        return Refusal("property", problems)
    if any(p.code for p in problems):
        return Refusal("value", problems)
    return Refusal("isolate", problems)


def problems_in(body: Mapping[str, Any]) -> tuple[Problem, ...]:
    """The property-level facts of an error body in HubSpot's wire shape (an ``Error`` or a
    ``StandardError``): its ``errors[]`` details naming a property, the validation results
    embedded in its message (``Property values were not valid: [...]``), and the properties
    its words name. One per property and code; empty when it names none."""
    return _problems(dict(body), _text(body.get("message")))


def refused_value(message: str) -> str | None:
    """The value a property-level message names (``expert was not one of the allowed
    options: [...]``, ``12.5 was not a valid long.``), None when it names none."""
    match = _NAMED_VALUE.match(message)
    return match.group(1) if match else None


def allowed_options(message: str) -> tuple[str, ...]:
    """The values an ``INVALID_OPTION`` message allows, in its order: from ``[a, b, c]``, or
    from the protobuf text form HubSpot also writes (``[label: "A"\\nvalue: "a"\\n..., ...]``,
    whose values may hold commas). Empty when the message lists none."""
    match = _ALLOWED_LIST.search(message)
    if match is None:
        return ()
    listed = match.group(1)
    values = _PROTO_VALUE.findall(listed)
    if values:
        return tuple(v.replace('\\"', '"').replace("\\\\", "\\") for v in values)
    return tuple(part.strip() for part in listed.split(",") if part.strip())


def _named_ids(body: dict[str, Any]) -> tuple[str, ...]:
    context = body.get("context")
    ids = context.get("ids") if isinstance(context, dict) else None
    if isinstance(ids, list):
        return tuple(i for i in ids if isinstance(i, str))
    return ()


def _problems(body: dict[str, Any], message: str) -> tuple[Problem, ...]:
    found: dict[tuple[str, str | None], Problem] = {}
    for problem in (*_embedded(message), *_details(body), *_from_words(message)):
        key = (problem.property, problem.code)
        earlier = found.get(key)
        if earlier is None or (earlier.value is None and problem.value is not None):
            found[key] = problem
    return tuple(found.values())


def _embedded(message: str) -> Iterable[Problem]:
    # "Property values were not valid: [{\"isValid\":false,\"message\":\"expert was not one of
    # the allowed options: [...]\",\"error\":\"INVALID_OPTION\",\"name\":\"level\"}]"
    # (a real body: gregorspan/csc-frodx #21; the older shape: gitcoinco/code_fund_ads #479).
    start = message.find(_EMBEDDED)
    if start < 0:
        return
    try:
        entries = orjson.loads(message[start + len(_EMBEDDED) :])
    except orjson.JSONDecodeError:
        return
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            text = _text(entry.get("message"))
            code = _text(entry.get("error")) or None
            yield Problem(entry["name"], code, _value_in(code, text), text)


def _details(body: dict[str, Any]) -> Iterable[Problem]:
    for detail in body.get("errors") or ():
        if not isinstance(detail, dict):
            continue
        context = detail.get("context")
        names = context.get("propertyName") if isinstance(context, dict) else None
        code = _text(detail.get("code")) or None
        text = _text(detail.get("message"))
        for name in names if isinstance(names, list) else ():
            if isinstance(name, str):
                yield Problem(name, code, _value_in(code, text), text)


def _from_words(message: str) -> Iterable[Problem]:
    for pattern, code in _PROPERTY_MESSAGES:
        for match in pattern.finditer(message):
            yield Problem(match.group(1), code, None, message)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


# "Email address x@y is invalid" (INVALID_EMAIL).
_EMAIL_VALUE = re.compile(r"^Email address (.*?) is invalid", re.DOTALL)


def _value_in(code: str | None, text: str) -> str | None:
    """The refused value where HubSpot's message starts with it: "expert was not one of the
    allowed options", "cheap was not a valid long.", "Email address x is invalid"."""
    match = _NAMED_VALUE.match(text) or _EMAIL_VALUE.match(text)
    return match.group(1) if match else None


@attrs.frozen
class Triage:
    """A chunk's inputs sorted by a refusal: those it names (with the problem), those that
    may be its cause, and those it cannot be about."""

    refused: tuple[tuple[PlannedInput, Problem | None], ...] = ()
    suspects: tuple[PlannedInput, ...] = ()
    clear: tuple[PlannedInput, ...] = ()


def triage(items: Sequence[PlannedInput], refusal: Refusal) -> Triage:
    """Sort ``items`` by what ``refusal`` says of them."""
    if refusal.kind == "records":
        named = set(refusal.ids)
        return Triage(
            refused=tuple((i, None) for i in items if i.input.id in named),
            clear=tuple(i for i in items if i.input.id not in named),
        )
    refused: list[tuple[PlannedInput, Problem | None]] = []
    suspects: list[PlannedInput] = []
    clear: list[PlannedInput] = []
    for item in items:
        problem, suspect = _judge(item, refusal)
        if problem is not None:
            refused.append((item, problem))
        elif suspect:
            suspects.append(item)
        else:
            clear.append(item)
    return Triage(tuple(refused), tuple(suspects), tuple(clear))


def _judge(item: PlannedInput, refusal: Refusal) -> tuple[Problem | None, bool]:
    properties = item.input.properties
    suspect = False
    for problem in refusal.problems:
        if problem.property not in properties:
            continue
        if refusal.kind == "property":
            return problem, False
        value = properties[problem.property]
        if problem.value is not None and _same(value, problem.value):
            return problem, False
        suspect = suspect or problem.value is None or refusal.kind == "isolate"
    if refusal.kind == "isolate" and not refusal.problems:
        suspect = True
    return None, suspect


def _same(value: object, named: str) -> bool:
    return isinstance(value, str) and value.strip() == named.strip()
