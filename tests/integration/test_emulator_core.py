"""The emulator's pure parts: rolling window (fake clock), property value checks, the schema of
property definitions, the store's folded keys and unique-value conflicts."""

from __future__ import annotations

import pytest

from asyncbatch.emulator import PropertyDef
from asyncbatch.emulator._properties import Schema
from asyncbatch.emulator._ratelimit import RateLimiter
from asyncbatch.emulator._rules import conflict_body
from asyncbatch.emulator._store import Store
from asyncbatch.emulator._validation import check_properties, check_value


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rolling_window_slides() -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests=3, window_seconds=10.0, daily_limit=None, clock=clock)
    for offset in (0.0, 1.0, 2.0):
        clock.now = 100.0 + offset
        assert limiter.arrive("t").policy is None
    clock.now = 109.9
    decision = limiter.arrive("t")
    assert decision.policy == "TEN_SECONDLY_ROLLING"
    assert decision.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert limiter.arrive("other").policy is None  # per token
    clock.now = 110.0  # the first request left the window
    assert limiter.arrive("t").policy is None
    assert limiter.max_window_requests == 4  # arrivals, the rejected one included


def test_daily_cap_does_not_clear_with_time() -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests=100, window_seconds=1.0, daily_limit=2, clock=clock)
    assert [limiter.arrive("t").policy for _ in range(3)] == [None, None, "DAILY"]
    clock.now += 3600
    assert limiter.arrive("t").policy == "DAILY"


def test_oauth_requests_are_held_to_no_daily_cap() -> None:
    # "any API calls made using OAuth are not subject to the per day call limit" (HubSpot
    # developer changelog, "New and Improved HubSpot API Limits",
    # https://developers.hubspot.com/changelog/heads-up-new-and-improved-hubspot-api-limits);
    # the rolling window still applies, and the answers carry no daily headers.
    clock = FakeClock()
    limiter = RateLimiter(requests=3, window_seconds=10.0, daily_limit=2, clock=clock)
    decisions = [limiter.arrive("oauth", oauth=True) for _ in range(4)]
    assert [d.policy for d in decisions] == [None, None, None, "TEN_SECONDLY_ROLLING"]
    assert all("X-HubSpot-RateLimit-Daily" not in d.headers for d in decisions)
    assert "X-HubSpot-RateLimit-Max" in decisions[0].headers
    # A private app's token is held to it.
    assert [limiter.arrive("pat").policy for _ in range(3)] == [None, None, "DAILY"]


@pytest.mark.parametrize(
    ("definition", "value", "code"),
    [
        (PropertyDef("n", "number"), "1.5", None),
        (PropertyDef("n", "number"), "-3", None),
        (PropertyDef("n", "number"), "abc", "INVALID_LONG"),
        (PropertyDef("n", "number"), "nan", "INVALID_LONG"),
        (PropertyDef("n", "number"), "1_000", "INVALID_LONG"),
        (PropertyDef("n", "number"), "", None),
        (PropertyDef("b", "bool"), "TRUE", None),
        (PropertyDef("b", "bool"), "yes", "INVALID_BOOLEAN"),
        (PropertyDef("e", "enumeration", ("a", "b")), "a;b", None),
        (PropertyDef("e", "enumeration", ("a", "b")), "c", "INVALID_OPTION"),
        (PropertyDef("d", "date"), "2024-02-29", None),
        (PropertyDef("d", "date"), "2023-02-29", "INVALID_DATE"),
        (PropertyDef("d", "date"), "1704067200000", None),
        (PropertyDef("d", "date"), "1704067200001", "INVALID_DATE"),
        (PropertyDef("t", "datetime"), "2024-01-01T10:00:00Z", None),
        (PropertyDef("t", "datetime"), "tomorrow", "INVALID_LONG"),
        (PropertyDef("t", "datetime"), "1704067200123", None),
        (PropertyDef("s"), "anything", None),
    ],
)
def test_check_value(definition: PropertyDef, value: str, code: str | None) -> None:
    problem = check_value(definition, value)
    assert (problem[0] if problem else None) == code
    lenient = check_value(definition, value, strict=False)
    assert (lenient[0] if lenient else None) == code


def test_unique_index_follows_writes() -> None:
    from datetime import UTC, datetime

    store = Store()
    now = datetime.now(UTC)
    first = store.create("courses", {"code": "a"}, now)
    types = store.of("0-410")
    assert types.find("a", "code") is first
    types.write(first, {"code": "b"}, "later")
    assert types.find("a", "code") is None
    assert types.find("b", "code") is first
    second = store.create("0-410", {"code": "c"}, now)
    assert types.find("c", "code") is second
    types.delete(second)
    assert types.find("c", "code") is None
    assert types.find(first.id) is first
    assert types.find(first.id, "hs_object_id") is first


SELECT = PropertyDef("level", "enumeration", ("intro", "advanced"), field_type="select")


@pytest.mark.parametrize(
    ("definition", "value", "code", "message"),
    [
        # HubSpot developer changelog, "Enhanced Validations for Non-String Properties" (2025).
        (
            PropertyDef("n", "number"),
            " 5",
            "LEADING_TRAILING_WHITESPACE",
            '" 5" includes leading or trailing whitespace.',
        ),
        (PropertyDef("s"), " kept as written ", None, None),
        # A select takes one option; a checkbox several (HubSpot's field types).
        (SELECT, "intro;advanced", "INVALID_OPTION", None),
        (
            SELECT,
            "expert",
            "INVALID_OPTION",
            "expert was not one of the allowed options: [intro, advanced]",
        ),
        # hubspot-net/HubSpot.NET #98: "1606768561954 is at 20:36:1.954 UTC, not midnight!"
        (
            PropertyDef("d", "date"),
            "1606768561954",
            "INVALID_DATE",
            "1606768561954 is at 20:36:1.954 UTC, not midnight!",
        ),
        (
            PropertyDef("d", "date"),
            "2021-10-29T22:18:55Z",
            "INVALID_DATE",
            "1635545935000 is at 22:18:55 UTC, not midnight!",
        ),
        (PropertyDef("d", "date"), "2021-10-29T00:00:00Z", None, None),
        (
            PropertyDef("email", value_format="email"),
            "not-an-email",
            "INVALID_EMAIL",
            "Email address not-an-email is invalid",
        ),
        (PropertyDef("email", value_format="email"), " A@Example.com ", None, None),
        (
            PropertyDef("hubspot_owner_id", "enumeration", value_format="owner_id"),
            "29947847357121x",
            "INVALID_INTEGER",
            "29947847357121x was not a valid integer (for owner ID).",
        ),
    ],
)
def test_check_value_strict(
    definition: PropertyDef, value: str, code: str | None, message: str | None
) -> None:
    problem = check_value(definition, value, strict=True)
    assert (problem[0] if problem else None) == code
    if message is not None:
        assert problem is not None and problem[1] == message


def test_lenient_checks_keep_the_old_rules() -> None:
    assert check_value(SELECT, "intro;advanced", strict=False) is None
    assert check_value(PropertyDef("n", "number"), " 5", strict=False) == (
        "INVALID_LONG",
        " 5 was not a valid long.",
    )


def test_strict_input_refuses_undefined_and_read_only_properties() -> None:
    definitions = Schema({}).of("0-410")
    issues = check_properties(
        definitions,
        {"hs_object_id": "1", "hs_lastmodifieddate": "0", "colour": "red", "level": "advanced"},
        strict=True,
    )
    # mautic/mautic #8785 quotes HubSpot's words for a calculated property.
    calculated = '"hs_object_id" is a calculated property; its value cannot be set'
    read_only = '"hs_lastmodifieddate" is a read only property; its value cannot be set'
    assert issues == [
        ("hs_object_id", "READ_ONLY_VALUE", calculated),
        ("hs_lastmodifieddate", "READ_ONLY_VALUE", read_only),
        ("colour", "PROPERTY_DOESNT_EXIST", 'Property "colour" does not exist'),
    ]
    assert check_properties(None, {"colour": "red"}, strict=False) == []


def test_schema_merges_declared_properties_over_the_defaults() -> None:
    schema = Schema(
        {
            "courses": (PropertyDef("level", "enumeration", ("a", "b")), PropertyDef("seats")),
            "2-123456": (PropertyDef("machine_id", has_unique_value=True),),
        }
    )
    assert schema.knows("0-410") and schema.knows("COURSES") and schema.knows("2-123456")
    assert not schema.knows("widgets")
    assert schema.of("0-410")["level"].options == ("a", "b")
    assert "seats" in schema.of("0-410") and "course_code" in schema.of("0-410")
    assert "hs_object_id" in schema.of("2-123456")
    assert schema.unique("0-410") == {"course_code", "my_unique_property_name"}
    assert schema.unique("contacts") == frozenset()  # HubSpot does not flag email unique
    assert schema.unique("2-123456") == {"machine_id"}


def test_secondly_headers_count_the_last_second() -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests=100, window_seconds=10.0, daily_limit=None, clock=clock)
    first = limiter.arrive("t").headers
    assert first["X-HubSpot-RateLimit-Secondly"] == "10"
    assert first["X-HubSpot-RateLimit-Secondly-Remaining"] == "9"
    clock.now += 0.5
    assert limiter.arrive("t").headers["X-HubSpot-RateLimit-Secondly-Remaining"] == "8"
    clock.now += 0.6  # the first request is more than a second old
    assert limiter.arrive("t").headers["X-HubSpot-RateLimit-Secondly-Remaining"] == "8"


def test_folded_email_keys_and_unique_conflicts() -> None:
    from datetime import UTC, datetime

    store = Store({"0-1": frozenset({"email"})})
    now = datetime.now(UTC)
    ada = store.create("contacts", {"email": "Ada@Example.com", "ext": "a"}, now)
    contacts = store.of("0-1")
    assert contacts.find(" ada@example.COM ", "email") is ada
    assert store.of("goal_targets").key("email", "A@x.com") == "A@x.com"  # folded on contacts only
    unique = {"email", "ext"}
    assert conflict_body(contacts, unique, [(ada.id, {"email": "ADA@example.com"})]) is None
    taken = conflict_body(contacts, unique, [(None, {"email": "ada@example.com"})])
    # PipedreamHQ/pipedream #8749: HubSpot's conflict names the existing contact, not the input.
    assert taken is not None and taken["category"] == "CONFLICT"
    assert taken["message"] == f"Contact already exists. Existing ID: {ada.id}"
    twice = conflict_body(contacts, unique, [(None, {"ext": "b"}), (None, {"ext": "b"})])
    assert twice is not None and twice["category"] == "CONFLICT"
    assert "context" not in twice
