"""The emulator's API versions over real HTTP (aiohttp against 127.0.0.1:0): ``v3``, ``2026-03``
and ``2026-09``, each batch operation on each, and what differs between them.

Sources: HubSpot's OpenAPI files for CRM objects (HubSpot/HubSpot-public-api-spec-collection,
``CRM/Objects/Rollouts/424/{v3,2026-03,2026-09}/objects.json``): v3 and 2026-03 list 207
answers (``BatchResponse...WithErrors``) for read, create, update and upsert; 2026-09 lists
none, its ``BatchResponseSimplePublicObject`` carries ``errors``/``numErrors``, create answers
201, and ``SimplePublicObject`` has no ``warnings``. HubSpot's migration guide, as issue 17
quotes it: "In 2026-09, batch calls no longer answer 207: errors and numErrors move into the
200 body". HubSpot's changelog "CRM API Write Validation Enforcement Starting with the 2026-09
API Version": a conditional required property "missing on write" gets "a 400 validation
error". HubSpot's error-handling reference, "Multi-status errors": a batch create whose inputs
carry unique ``objectWriteTraceId`` values answers per input.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from asyncbatch.emulator import API_VERSIONS, Emulator, PropertyDef, ValidationRule
from asyncbatch.emulator.__main__ import add_arguments, config_from_args
from asyncbatch.emulator._admin_rules import MISSING_REQUIRED, rule_issues
from asyncbatch.emulator._versions import VERSIONS

AUTH = {"Authorization": "Bearer versions-token"}
MULTI_STATUS = {"v3": True, "2026-03": True, "2026-09": False}
CLOSED_WON = ValidationRule("dealstage", "closedwon", requires="closedate")
DEAL_RULES = pytest.mark.hubspot_emulator(validation_rules={"deals": [CLOSED_WON]})
# A course property the tests can make invalid (a number) on top of HubSpot's defaults.
COURSES = pytest.mark.hubspot_emulator(properties={"0-410": [PropertyDef("credits", "number")]})


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def batch_url(emu: Emulator, version: str, object_type: str, operation: str) -> str:
    """The batch path of ``version``: ``/crm/v3/objects/...`` or ``/crm/objects/{version}/...``."""
    if version == "v3":
        return f"{emu.url}/crm/v3/objects/{object_type}/batch/{operation}"
    return f"{emu.url}/crm/objects/{version}/{object_type}/batch/{operation}"


async def send(
    session: aiohttp.ClientSession,
    url: str,
    body: Any,
    *,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """POST ``body`` to ``url``; (status, parsed JSON body or None for an empty one)."""
    async with session.post(
        url, json=body, params=query, headers=AUTH if headers is None else headers
    ) as response:
        raw = await response.read()
        return response.status, json.loads(raw) if raw else None


async def post(
    session: aiohttp.ClientSession,
    emu: Emulator,
    version: str,
    operation: str,
    body: Any,
    *,
    object_type: str = "0-410",
    query: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """POST a batch call of ``version``."""
    url = batch_url(emu, version, object_type, operation)
    return await send(session, url, body, query=query)


def courses(*codes: str, **extra: Any) -> dict[str, Any]:
    return {
        "inputs": [{"properties": {"course_code": c, "level": "beginner"}, **extra} for c in codes]
    }


def error_ids(body: Any) -> list[str]:
    return sorted(i for error in body["errors"] for i in error["context"]["ids"])


# -- every operation on every version ---------------------------------------------------------


@pytest.mark.parametrize("version", API_VERSIONS)
@pytest.mark.asyncio
async def test_each_operation_on_each_version(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession, version: str
) -> None:
    emu = hubspot_emulator
    status, body = await post(session, emu, version, "create", courses("C1", "C2"))
    assert status == 201 and "errors" not in body
    ids = sorted(r["id"] for r in body["results"])

    read = {"inputs": [{"id": i} for i in ids], "properties": ["course_code"]}
    status, body = await post(session, emu, version, "read", read)
    assert status == 200 and "errors" not in body
    assert sorted(r["properties"]["course_code"] for r in body["results"]) == ["C1", "C2"]

    update = {"inputs": [{"id": ids[0], "properties": {"level": "advanced"}}]}
    status, body = await post(session, emu, version, "update", update)
    assert (status, body["results"][0]["properties"]["level"]) == (200, "advanced")

    upsert = {
        "inputs": [
            {"id": code, "idProperty": "course_code", "properties": {"price": "10"}}
            for code in ("C2", "C3")
        ]
    }
    status, body = await post(session, emu, version, "upsert", upsert)
    assert status == 200
    assert {r["properties"]["course_code"]: r["new"] for r in body["results"]} == {
        "C2": False,
        "C3": True,
    }
    for result in body["results"]:
        assert "warnings" not in result  # never sent; gone from 2026-09's SimplePublicObject

    status, body = await post(session, emu, version, "archive", {"inputs": [{"id": ids[0]}]})
    assert (status, body) == (204, None)
    assert emu.archived("0-410") == [ids[0]]


@pytest.mark.parametrize("version", API_VERSIONS)
@pytest.mark.asyncio
async def test_read_with_missing_ids(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession, version: str
) -> None:
    """v3/2026-03: 207; 2026-09: 200 with ``errors``/``numErrors`` in the body."""
    [found] = hubspot_emulator.preload("0-410", [{"course_code": "R1"}])
    read = {"inputs": [{"id": found}, {"id": "404001"}, {"id": "404002"}], "properties": []}
    status, body = await post(session, hubspot_emulator, version, "read", read)
    assert status == (207 if MULTI_STATUS[version] else 200)
    assert [r["id"] for r in body["results"]] == [found]
    assert body["numErrors"] == 1
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert error_ids(body) == ["404001", "404002"]


@pytest.mark.parametrize("version", API_VERSIONS)
@pytest.mark.asyncio
async def test_update_with_missing_ids(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession, version: str
) -> None:
    [found] = hubspot_emulator.preload("0-410", [{"course_code": "U1"}])
    update = {
        "inputs": [
            {"id": i, "properties": {"price": "5"}, "objectWriteTraceId": f"t-{i}"}
            for i in (found, "404404")
        ]
    }
    status, body = await post(session, hubspot_emulator, version, "update", update)
    assert status == (207 if MULTI_STATUS[version] else 200)
    assert [r["objectWriteTraceId"] for r in body["results"]] == [f"t-{found}"]
    assert body["numErrors"] == 1
    assert body["errors"][0]["context"] == {"ids": ["404404"], "objectWriteTraceId": ["t-404404"]}


# -- create: multi-status with trace ids ------------------------------------------------------


@COURSES
@pytest.mark.parametrize("version", API_VERSIONS)
@pytest.mark.asyncio
async def test_create_with_trace_ids_answers_per_input(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession, version: str
) -> None:
    """v3/2026-03: 207; 2026-09: 201 (its create's one success status) with the errors."""
    create = {
        "inputs": [
            {"properties": {"course_code": "T1", "credits": "3"}, "objectWriteTraceId": "a"},
            {"properties": {"course_code": "T2", "credits": "three"}, "objectWriteTraceId": "b"},
        ]
    }
    status, body = await post(session, hubspot_emulator, version, "create", create)
    assert status == (207 if MULTI_STATUS[version] else 201)
    assert [r["objectWriteTraceId"] for r in body["results"]] == ["a"]
    assert body["numErrors"] == 1
    [error] = body["errors"]
    assert error["category"] == "VALIDATION_ERROR"
    assert error["context"]["objectWriteTraceId"] == ["b"]
    assert error["context"]["propertyName"] == ["credits"]
    assert error["errors"][0]["code"] == "INVALID_LONG"
    stored = [r["properties"]["course_code"] for r in hubspot_emulator.records("0-410")]
    assert stored == ["T1"]


@COURSES
@pytest.mark.parametrize("traces", [("a", None), ("a", "a")], ids=["one-missing", "repeated"])
@pytest.mark.asyncio
async def test_create_without_distinct_trace_ids_fails_whole(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession, traces: tuple[str | None, ...]
) -> None:
    """Multi-status needs "a unique objectWriteTraceId value" on each input: otherwise the
    invalid value fails the whole request, naming the property and no record."""
    inputs = [
        {"properties": {"course_code": code, "credits": credits}}
        | ({} if trace is None else {"objectWriteTraceId": trace})
        for code, credits, trace in zip(("W1", "W2"), ("3", "three"), traces, strict=True)
    ]
    status, body = await post(session, hubspot_emulator, "2026-09", "create", {"inputs": inputs})
    assert status == 400
    assert body["category"] == "VALIDATION_ERROR"
    assert body["errors"][0]["context"] == {"propertyName": ["credits"]}
    assert hubspot_emulator.records("0-410") == []


# -- admin-configured validation rules (2026-09) ----------------------------------------------


def deal(stage: str, **extra: str) -> dict[str, Any]:
    return {"properties": {"dealname": "D", "dealstage": stage, **extra}}


@DEAL_RULES
@pytest.mark.asyncio
async def test_admin_rule_refuses_the_whole_write_on_2026_09_only(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    """A 400 ``VALIDATION_ERROR`` in HubSpot's property-validation shape: it names the
    property (``errors[].context.propertyName``), never the record (no ``context.ids``)."""
    create = {
        "inputs": [
            {**deal("closedwon", closedate="2026-09-08"), "objectWriteTraceId": "x"},
            {**deal("closedwon"), "objectWriteTraceId": "y"},  # trace ids change nothing
        ]
    }
    status, body = await post(
        session, hubspot_emulator, "2026-09", "create", create, object_type="deals"
    )
    assert status == 400
    assert body["category"] == "VALIDATION_ERROR"
    assert "context" not in body
    [detail] = body["errors"]
    assert detail["code"] == MISSING_REQUIRED
    assert detail["context"] == {"propertyName": ["closedate"]}
    assert "closedate" in body["message"] and '"name":"closedate"' in body["message"]
    assert hubspot_emulator.records("deals") == []
    for version in ("v3", "2026-03"):  # the rule is not enforced before 2026-09
        status, _ = await post(
            session, hubspot_emulator, version, "create", create, object_type="deals"
        )
        assert status == 201
    assert len(hubspot_emulator.records("deals")) == 4


@DEAL_RULES
@pytest.mark.parametrize(
    ("stored", "written", "refused"),
    [
        # The write sets the condition: the required value must come with it (stricter reading).
        ({"closedate": "2026-09-08"}, {"dealstage": "closedwon"}, True),
        ({}, {"dealstage": "closedwon", "closedate": "2026-09-08"}, False),
        # The record is already closed won: the write may not clear the required property...
        ({"dealstage": "closedwon", "closedate": "2026-09-08"}, {"closedate": ""}, True),
        # ...but a write touching neither is not checked.
        ({"dealstage": "closedwon"}, {"amount": "10"}, False),
        ({"dealstage": "closedwon", "closedate": "2026-09-08"}, {"dealstage": "closedlost"}, False),
    ],
)
@pytest.mark.asyncio
async def test_admin_rule_on_update(
    hubspot_emulator: Emulator,
    session: aiohttp.ClientSession,
    stored: dict[str, str],
    written: dict[str, str],
    refused: bool,
) -> None:
    [record] = hubspot_emulator.preload("deals", [{"dealname": "D", **stored}])
    update = {"inputs": [{"id": record, "properties": written}]}
    status, body = await post(
        session, hubspot_emulator, "2026-09", "update", update, object_type="deals"
    )
    assert status == (400 if refused else 200)
    if refused:
        assert body["errors"][0]["context"] == {"propertyName": ["closedate"]}
        assert hubspot_emulator.record("deals", record)["properties"] == {"dealname": "D", **stored}


@pytest.mark.hubspot_emulator(
    validation_rules={"0-410": [ValidationRule("level", "advanced", ("price", "start_date"))]}
)
@pytest.mark.asyncio
async def test_admin_rule_on_upsert_names_each_missing_property(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    upsert = {
        "inputs": [
            {"id": "A1", "idProperty": "course_code", "properties": {"level": "beginner"}},
            {"id": "A2", "idProperty": "course_code", "properties": {"level": "advanced"}},
        ]
    }
    status, body = await post(session, hubspot_emulator, "2026-09", "upsert", upsert)
    assert status == 400
    assert [d["context"]["propertyName"] for d in body["errors"]] == [["price"], ["start_date"]]
    assert hubspot_emulator.records("0-410") == []


def test_rule_issues_is_pure() -> None:
    rule = ValidationRule("dealstage", "closedwon", ("closedate", "amount"))
    assert rule.requires == ("closedate", "amount")
    assert CLOSED_WON.requires == ("closedate",)
    issues = rule_issues([rule, CLOSED_WON], {"dealstage": "closedwon", "amount": "1"}, None)
    assert issues == [
        ("closedate", MISSING_REQUIRED, "closedate is required when dealstage is closedwon")
    ]
    with pytest.raises(ValueError, match="property names"):
        ValidationRule("dealstage", "closedwon", ())


def test_versions_as_data() -> None:
    assert API_VERSIONS == ("v3", "2026-03", "2026-09")
    statuses = {
        name: [version.batch_status(op, has_errors=e) for op in ("read", "create") for e in (0, 1)]
        for name, version in VERSIONS.items()
    }
    assert statuses == {
        "v3": [200, 207, 201, 207],
        "2026-03": [200, 207, 201, 207],
        "2026-09": [200, 200, 201, 201],
    }


def test_command_line_reads_rules(tmp_path: Path) -> None:
    import argparse

    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps(
            {
                "deals": [
                    {
                        "whenProperty": "dealstage",
                        "whenValue": "closedwon",
                        "requires": ["closedate"],
                    }
                ]
            }
        )
    )
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = config_from_args(parser.parse_args(["--validation-rules", str(rules)]))
    assert config.validation_rules == {"deals": (CLOSED_WON,)}
    assert config_from_args(parser.parse_args([])).validation_rules == {}


# -- archive, archived reads, property history -----------------------------------------------


@pytest.mark.parametrize("version", API_VERSIONS)
@pytest.mark.asyncio
async def test_archive_is_204_and_archived_records_are_read_with_archived_true(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession, version: str
) -> None:
    emu = hubspot_emulator
    first, second = emu.preload("0-410", [{"course_code": "Z1"}, {"course_code": "Z2"}])
    archive = {"inputs": [{"id": first}, {"id": "404404"}]}  # a missing id is no error
    assert await post(session, emu, version, "archive", archive) == (204, None)
    assert [r["id"] for r in emu.records("0-410")] == [second]

    read = {"inputs": [{"id": "Z1"}, {"id": "Z2"}], "idProperty": "course_code"}
    status, body = await post(session, emu, version, "read", read, query={"archived": "true"})
    assert status == (207 if MULTI_STATUS[version] else 200)
    [result] = body["results"]
    assert (result["id"], result["archived"]) == (first, True)
    assert result["archivedAt"] >= result["updatedAt"]
    assert error_ids(body) == ["Z2"]  # live records are not "archived results"

    status, body = await post(session, emu, version, "read", read, query={"archived": "false"})
    assert [r["id"] for r in body["results"]] == [second] and error_ids(body) == ["Z1"]


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": [{"id": "1", "idProperty": "course_code"}]},
        {"inputs": [{"id": "1"}], "idProperty": "course_code"},
    ],
)
@pytest.mark.asyncio
async def test_archive_takes_record_ids_only(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    """``SimplePublicObjectId`` has ``id`` alone: a unique value is never read as an id."""
    [record] = hubspot_emulator.preload("0-410", [{"course_code": "1"}])
    status, answer = await post(session, hubspot_emulator, "2026-09", "archive", body)
    assert status == 400
    assert answer["category"] == "VALIDATION_ERROR"
    assert 'Unrecognized field "idProperty"' in answer["message"]
    assert [r["id"] for r in hubspot_emulator.records("0-410")] == [record]


@pytest.mark.asyncio
async def test_read_with_history_newest_first_and_capped_at_50(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    emu = hubspot_emulator
    [record] = emu.preload("0-410", [{"course_code": "H1", "price": "1"}])
    for price in ("2", "2", "3"):  # writing the same value again adds no entry
        update = {"inputs": [{"id": record, "properties": {"price": price}}]}
        assert (await post(session, emu, "2026-09", "update", update))[0] == 200
    read = {
        "inputs": [{"id": record}],
        "properties": ["course_code"],
        "propertiesWithHistory": ["price", "nope"],
    }
    status, body = await post(session, emu, "2026-09", "read", read)
    assert status == 200
    [result] = body["results"]
    assert result["properties"]["course_code"] == "H1"
    history = result["propertiesWithHistory"]
    assert list(history) == ["price"]
    assert [entry["value"] for entry in history["price"]] == ["3", "2", "1"]
    assert all(entry["sourceType"] == "API" and entry["timestamp"] for entry in history["price"])

    ids = emu.preload("0-410", [{"course_code": f"M{i}"} for i in range(51)])
    read = {"inputs": [{"id": i} for i in ids], "propertiesWithHistory": ["price"]}
    status, body = await post(session, emu, "v3", "read", read)
    assert status == 400 and "the maximum is 50" in body["message"]
    read["inputs"] = read["inputs"][:50]
    assert (await post(session, emu, "v3", "read", read))[0] == 200


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ({"archived": "maybe"}, {"inputs": [{"id": "1"}]}),
        ({}, {"inputs": [{"id": "1"}], "properties": "course_code"}),
        ({}, {"inputs": [{"id": "1"}], "propertiesWithHistory": [1]}),
    ],
)
@pytest.mark.asyncio
async def test_malformed_read_is_400(
    hubspot_emulator: Emulator,
    session: aiohttp.ClientSession,
    query: dict[str, str],
    body: dict[str, Any],
) -> None:
    status, answer = await post(session, hubspot_emulator, "2026-03", "read", body, query=query)
    assert status == 400
    assert answer["category"] == "VALIDATION_ERROR"


# -- unknown versions, property definitions ---------------------------------------------------


@pytest.mark.parametrize("version", ["2025-09", "2026-12", "v3", "latest"])
@pytest.mark.asyncio
async def test_unknown_version_is_404(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession, version: str
) -> None:
    """The stricter of 404 and 400 (see ``_versions.unknown_version_body``): the endpoint does
    not exist, so nothing in the request is to blame and nothing is written."""
    url = f"{hubspot_emulator.url}/crm/objects/{version}/0-410/batch/create"
    for headers in (AUTH, {}):  # no route: the token is never looked at
        status, body = await send(session, url, courses("V1"), headers=headers)
        assert status == 404
        assert body["category"] == "OBJECT_NOT_FOUND"
        assert f"Unknown API version '{version}'" in body["message"]
    url = f"{hubspot_emulator.url}/crm/properties/{version}/0-410"
    async with session.get(url, headers=AUTH) as response:
        assert response.status == 404
    assert hubspot_emulator.records("0-410") == []


@pytest.mark.asyncio
async def test_dated_properties_path_serves_the_same_definitions(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    """``GET /crm/properties/2026-03/{objectType}``: HubSpot's "Read all properties" reference
    page for 2026-03 (not in the objects OpenAPI files)."""
    bodies = []
    for path in ("v3/properties/0-410", "properties/2026-03/0-410", "properties/2026-09/0-410"):
        async with session.get(f"{hubspot_emulator.url}/crm/{path}", headers=AUTH) as response:
            assert response.status == 200
            bodies.append(await response.json())
    assert bodies[0] == bodies[1] == bodies[2]
    assert "course_code" in {p["name"] for p in bodies[0]["results"]}
