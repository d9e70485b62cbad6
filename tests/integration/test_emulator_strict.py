"""The emulator behaves as HubSpot does by default (issue 13): property definitions served at
``GET /crm/v3/properties/{objectType}``, HubSpot's own refusals and bodies, its headers, expired
tokens; and ``EmulatorConfig(strict=False)`` keeps the lenient emulator of before.

Each HubSpot behaviour names its public source next to the assertion that encodes it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from asyncbatch.emulator import Emulator, EmulatorConfig, PropertyDef

TOKEN = "strict-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PORTAL = 21939747
CUSTOM = {
    "contacts": (PropertyDef("ext_id", has_unique_value=True),),
    "2-123456": (PropertyDef("machine_id", has_unique_value=True),),
}

pytestmark = pytest.mark.hubspot_emulator(token=TOKEN, portal_id=PORTAL, properties=CUSTOM)


class Answer:
    def __init__(self, status: int, body: Any, headers: Any, text: str) -> None:
        self.status, self.body, self.headers, self.text = status, body, headers, text


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def send(
    session: aiohttp.ClientSession,
    emu: Emulator,
    object_type: str,
    operation: str,
    inputs: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
) -> Answer:
    async with session.post(
        f"{emu.url}/crm/v3/objects/{object_type}/batch/{operation}",
        json={"inputs": inputs},
        headers=AUTH if headers is None else headers,
    ) as response:
        text = await response.text()
        body = orjson.loads(text) if text else None
        return Answer(response.status, body, response.headers, text)


async def get_properties(
    session: aiohttp.ClientSession, emu: Emulator, object_type: str, token: str = TOKEN
) -> Answer:
    async with session.get(
        f"{emu.url}/crm/v3/properties/{object_type}",
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        text = await response.text()
        return Answer(response.status, orjson.loads(text), response.headers, text)


def upsert(key: str, id_property: str, **properties: str) -> dict[str, Any]:
    return {"id": key, "idProperty": id_property, "properties": properties}


# -- property definitions ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_properties_endpoint_serves_hubspot_shaped_definitions(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    answer = await get_properties(session, hubspot_emulator, "0-410")
    assert answer.status == 200
    by_name = {p["name"]: p for p in answer.body["results"]}
    level = by_name["level"]
    assert (level["type"], level["fieldType"]) == ("enumeration", "select")
    assert [o["value"] for o in level["options"]] == ["beginner", "intermediate", "advanced"]
    assert all({"label", "value", "hidden", "displayOrder"} <= set(o) for o in level["options"])
    assert by_name["course_code"]["hasUniqueValue"] is True
    assert by_name["topics"]["fieldType"] == "checkbox"
    record_id = by_name["hs_object_id"]
    assert record_id["calculated"] is True
    assert record_id["modificationMetadata"]["readOnlyValue"] is True
    assert by_name["hs_lastmodifieddate"]["modificationMetadata"]["readOnlyValue"] is True
    assert by_name["price"]["modificationMetadata"]["readOnlyValue"] is False
    assert by_name["property_checkbox"]["options"][0] == {
        "label": "Yes", "value": "true", "displayOrder": 0, "hidden": False,
    }  # fmt: skip
    for definition in answer.body["results"]:
        assert {"name", "label", "type", "fieldType", "groupName", "description"} <= set(definition)
    assert UUID_RE.match(answer.headers["x-hubspot-correlation-id"])

    contacts = await get_properties(session, hubspot_emulator, "contacts")
    email = next(p for p in contacts.body["results"] if p["name"] == "email")
    assert email["type"] == "string" and email["hasUniqueValue"] is False
    assert any(p["name"] == "ext_id" for p in contacts.body["results"])  # declared on top


@pytest.mark.asyncio
async def test_properties_endpoint_checks_the_token_and_counts_against_the_limit(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    refused = await get_properties(session, hubspot_emulator, "deals", token="wrong")
    assert refused.status == 401 and refused.body["category"] == "INVALID_AUTHENTICATION"
    first = await get_properties(session, hubspot_emulator, "deals")
    second = await get_properties(session, hubspot_emulator, "deals")
    remaining = [int(a.headers["X-HubSpot-RateLimit-Remaining"]) for a in (first, second)]
    assert remaining == [99, 98]
    assert hubspot_emulator.stats.total_requests == 3
    unknown = await get_properties(session, hubspot_emulator, "widgets")
    assert unknown.status == 400
    assert unknown.body["message"] == "Unable to infer object type from: widgets"


# -- unknown object types -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_unknown_object_type_is_400_without_a_category(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    # HubSpot's body names the type and carries no category (issue 13; the same answer is
    # quoted for GET /crm/v3/objects/widgets and a custom object's name).
    answer = await send(
        session, hubspot_emulator, "widgets", "update", [{"id": "1", "properties": {}}]
    )
    assert answer.status == 400
    assert set(answer.body) == {"status", "message", "correlationId"}
    assert answer.body["message"] == "Unable to infer object type from: widgets"
    assert answer.headers["x-hubspot-correlation-id"] == answer.body["correlationId"]
    declared = await send(
        session, hubspot_emulator, "2-123456", "upsert", [upsert("m1", "machine_id")]
    )
    assert declared.status == 200  # a custom object type the account defines


# -- property validation: HubSpot's 400 names no record ---------------------------------------


@pytest.mark.asyncio
async def test_invalid_option_400_names_property_and_value_but_no_record(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    inputs = [
        upsert("CRS-1", "course_code", level="beginner"),
        upsert("CRS-2", "course_code", level="expert"),
        upsert("CRS-3", "course_code", price="lots"),
    ]
    answer = await send(session, hubspot_emulator, "0-410", "upsert", inputs)
    assert answer.status == 400
    body = answer.body
    assert body["category"] == "VALIDATION_ERROR" and UUID_RE.match(body["correlationId"])
    # Issue 13 / SPEC §1: no context.ids, no id anywhere in the body.
    assert "context" not in body
    assert not any(key in answer.text for key in ("CRS-1", "CRS-2", "CRS-3"))
    prefix = "Property values were not valid: "
    assert body["message"].startswith(prefix)
    (result,) = orjson.loads(body["message"][len(prefix) :])
    assert result == {
        "isValid": False,
        "message": "expert was not one of the allowed options: [beginner, intermediate, advanced]",
        "error": "INVALID_OPTION",
        "name": "level",
        "localizedErrorMessage": result["message"],
        "portalId": PORTAL,
    }
    # Only the first invalid input is reported (the stricter reading; see _batch._validate).
    assert body["errors"] == [
        {
            "message": result["message"],
            "code": "INVALID_OPTION",
            "context": {"propertyName": ["level"]},
        }
    ]
    assert hubspot_emulator.records("0-410") == []


@pytest.mark.parametrize(
    ("properties", "code", "message"),
    [
        # A misspelt CSV column: HubSpot's batch update page, "non-existent properties will
        # result in an error".
        ({"levle": "beginner"}, "PROPERTY_DOESNT_EXIST", 'Property "levle" does not exist'),
        # mautic/mautic #8785.
        (
            {"hs_object_id": "7"},
            "READ_ONLY_VALUE",
            '"hs_object_id" is a calculated property; its value cannot be set',
        ),
        # HubSpot/hubspot-api-php #74: "1635535865 is at 22:18:55.865 UTC, not midnight!"
        (
            {"start_date": "2027-01-05T22:18:55Z"},
            "INVALID_DATE",
            "1799187535000 is at 22:18:55 UTC, not midnight!",
        ),
    ],
)
@pytest.mark.asyncio
async def test_property_refusals_carry_code_and_property_name(
    hubspot_emulator: Emulator,
    session: aiohttp.ClientSession,
    properties: dict[str, str],
    code: str,
    message: str,
) -> None:
    inputs = [{"id": "CRS-9", "idProperty": "course_code", "properties": properties}]
    answer = await send(session, hubspot_emulator, "0-410", "upsert", inputs)
    assert answer.status == 400
    (detail,) = answer.body["errors"]
    assert detail == {"message": message, "code": code, "context": {"propertyName": [*properties]}}
    assert "CRS-9" not in answer.text


@pytest.mark.asyncio
async def test_contact_email_is_checked_and_owner_ids_are_integers(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    bad_email = await send(
        session, hubspot_emulator, "contacts", "upsert", [upsert("not-an-email", "email")]
    )
    assert bad_email.status == 400
    assert bad_email.body["errors"][0]["code"] == "INVALID_EMAIL"
    (found,) = hubspot_emulator.preload("contacts", [{"email": "a@x.com"}])
    owner = [{"id": found, "properties": {"hubspot_owner_id": "29947847357121 (Ann)"}}]
    bad_owner = await send(session, hubspot_emulator, "contacts", "update", owner)
    # A real answer quoted in connector code: "... was not a valid integer (for owner ID)."
    assert bad_owner.body["errors"][0]["code"] == "INVALID_INTEGER"


# -- idProperty -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_non_unique_id_property_is_a_request_level_400(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    hubspot_emulator.preload("contacts", [{"email": "a@x.com"}])
    # HubSpot/hubspot-api-nodejs #548: a batch update keyed by email fails so.
    by_email = [{"id": "a@x.com", "idProperty": "email", "properties": {"firstname": "A"}}]
    answer = await send(session, hubspot_emulator, "contacts", "update", by_email)
    assert answer.status == 400
    assert answer.body["category"] == "VALIDATION_ERROR"
    assert answer.body["message"] == (
        f"Unable to perform update/upsert by non-unique 0-1 property email in portal ID {PORTAL}"
    )
    # segmentio/action-destinations #3957: hs_object_id as idProperty gets the same answer.
    for operation in ("update", "upsert"):
        keyed = [{"id": "1", "idProperty": "hs_object_id", "properties": {}}]
        answer = await send(session, hubspot_emulator, "0-410", operation, keyed)
        assert answer.status == 400
        assert "non-unique 0-410 property hs_object_id" in answer.body["message"]
    # A property that is not unique, or does not exist: the stricter reading, the same 400.
    for prop in ("price", "no_such_property"):
        keyed = [upsert("1", prop)]
        answer = await send(session, hubspot_emulator, "0-410", "upsert", keyed)
        assert answer.status == 400 and "non-unique" in answer.body["message"]
    # An upsert keyed by email is HubSpot's documented way to write contacts by address.
    ok = await send(session, hubspot_emulator, "contacts", "upsert", [upsert("a@x.com", "email")])
    assert ok.status == 200 and ok.body["results"][0]["new"] is False
    assert hubspot_emulator.stats.total_writes == 1


@pytest.mark.asyncio
async def test_email_is_one_contact_whatever_its_case_and_spaces(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    first = await send(
        session, hubspot_emulator, "contacts", "upsert", [upsert("Ada@Example.com", "email")]
    )
    again = await send(
        session,
        hubspot_emulator,
        "contacts",
        "upsert",
        [upsert(" ada@example.COM ", "email", firstname="Ada")],
    )
    assert [first.body["results"][0]["new"], again.body["results"][0]["new"]] == [True, False]
    (stored,) = hubspot_emulator.records("contacts")
    assert stored["properties"] == {"email": "Ada@Example.com", "firstname": "Ada"}
    assert hubspot_emulator.record("contacts", "ADA@EXAMPLE.COM", "email")["id"] == stored["id"]
    twice = [upsert("b@x.com", "email"), upsert("B@X.com", "email")]
    duplicate = await send(session, hubspot_emulator, "contacts", "upsert", twice)
    assert duplicate.status == 400
    assert duplicate.body["message"].startswith("Duplicate IDs found in batch input")


# -- 409 ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_unique_value_conflict_fails_the_whole_upsert_with_409(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    # HubSpot community, "Contacts API Batch Upsert return 409 instead of 207"; Airbyte's
    # destination splits on it (airbytehq/airbyte #76340).
    (owner,) = hubspot_emulator.preload("contacts", [{"email": "taken@x.com", "ext_id": "E1"}])
    inputs = [
        upsert("E2", "ext_id", firstname="fine"),
        upsert("E3", "ext_id", email="TAKEN@x.com"),
    ]
    answer = await send(session, hubspot_emulator, "contacts", "upsert", inputs)
    assert answer.status == 409
    assert answer.body["category"] == "CONFLICT"
    assert answer.body["message"] == f"Contact already exists. Existing ID: {owner}"
    assert "E2" not in answer.text and "E3" not in answer.text
    assert len(hubspot_emulator.records("contacts")) == 1  # nothing written
    codes = [upsert("C1", "course_code"), upsert("C2", "course_code")]
    assert (await send(session, hubspot_emulator, "0-410", "upsert", codes)).status == 200
    swap = [{"id": "C2", "idProperty": "course_code", "properties": {"course_code": "C1"}}]
    clash = await send(session, hubspot_emulator, "0-410", "update", swap)
    assert clash.status == 409


# -- headers, 429 and expired tokens ---------------------------------------------------------


@pytest.mark.hubspot_emulator(
    token=TOKEN, portal_id=PORTAL, rate_limit_requests=2, rate_limit_window_seconds=10.0
)
@pytest.mark.asyncio
async def test_every_answer_has_a_correlation_id_and_429_names_its_group(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    ok = await send(session, hubspot_emulator, "contacts", "update", [])
    assert UUID_RE.match(ok.headers["x-hubspot-correlation-id"])
    assert ok.headers["X-HubSpot-RateLimit-Secondly"] == "1"
    assert ok.headers["X-HubSpot-RateLimit-Secondly-Remaining"] == "0"
    hubspot_emulator.inject("html")
    html = await send_raw(session, hubspot_emulator)
    assert UUID_RE.match(html)
    limited = await send(session, hubspot_emulator, "contacts", "update", [])
    assert limited.status == 429
    # HGData/mk-node-hubspot #84 quotes a 429 with groupName and requestId.
    assert limited.body["groupName"].endswith(f":{PORTAL}")
    assert limited.body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert limited.body["requestId"]
    assert limited.headers["x-hubspot-correlation-id"] == limited.body["correlationId"]


async def send_raw(session: aiohttp.ClientSession, emu: Emulator) -> str:
    async with session.post(
        f"{emu.url}/crm/v3/objects/contacts/batch/update", json={"inputs": []}, headers=AUTH
    ) as response:
        assert response.content_type == "text/html"
        return response.headers["x-hubspot-correlation-id"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.asyncio
async def test_a_token_configured_to_expire_gets_expired_authentication(
    session: aiohttp.ClientSession,
) -> None:
    clock = FakeClock()
    config = EmulatorConfig(token_expires_after_seconds=1800.0)
    async with Emulator(config, clock=clock) as emu:
        first = {"Authorization": "Bearer first"}
        assert (await send(session, emu, "contacts", "update", [], first)).status == 200
        clock.now += 1800.0 + 5 * 60
        expired = await send(session, emu, "contacts", "update", [], first)
        assert expired.status == 401
        # HubSpot's body as useparagon.com's HubSpot error page quotes it.
        assert expired.body["category"] == "EXPIRED_AUTHENTICATION"
        assert expired.body["message"] == (
            "The OAuth token used to make this call expired 5 minute(s) ago."
        )
        assert UUID_RE.match(expired.body["correlationId"])
        refreshed = {"Authorization": "Bearer second"}
        assert (await send(session, emu, "contacts", "update", [], refreshed)).status == 200
        assert emu.stats.status_counts == {200: 2, 401: 1}


# -- the lenient switch -----------------------------------------------------------------------


@pytest.mark.hubspot_emulator(token=TOKEN, strict=False)
@pytest.mark.asyncio
async def test_lenient_mode_accepts_what_hubspot_refuses(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    widgets = await send(
        session, hubspot_emulator, "widgets", "upsert", [upsert("w", "code", n="1")]
    )
    assert widgets.status == 200
    case = [upsert("A@x.com", "email"), upsert("a@x.com", "email")]
    assert (await send(session, hubspot_emulator, "contacts", "upsert", case)).status == 200
    assert len(hubspot_emulator.records("contacts")) == 2
    keyed = [{"id": "a@x.com", "idProperty": "email", "properties": {"n": "2"}}]
    assert (await send(session, hubspot_emulator, "contacts", "update", keyed)).status == 200
    served = await get_properties(session, hubspot_emulator, "widgets")
    # Lenient mode accepts any property, so it serves no definitions (a client goes
    # unchecked, as for an account whose definitions cannot be read).
    assert served.status == 404
