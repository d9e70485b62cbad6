"""The HubSpot emulator over real HTTP (aiohttp client against 127.0.0.1:0).

The records use HubSpot's default properties of each object type (the emulator is as strict as
HubSpot by default); ``test_emulator_strict.py`` covers what strict mode refuses.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from asyncbatch.emulator import (
    ALL_FAULT_KINDS,
    Emulator,
    FaultConfig,
    PropertyDef,
    _app,
)

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
RATE_HEADERS = (
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds",
    "X-HubSpot-RateLimit-Daily",
    "X-HubSpot-RateLimit-Daily-Remaining",
    "X-HubSpot-RateLimit-Secondly",
    "X-HubSpot-RateLimit-Secondly-Remaining",
)

# Declared on top of HubSpot's default course properties (course_code is one of them: the
# lenient mode, which knows no defaults, needs it declared).
COURSE_PROPS = (
    PropertyDef("course_code", has_unique_value=True),
    PropertyDef("credits", "number"),
    PropertyDef("active", "bool"),
    PropertyDef("level", "enumeration", ("intro", "advanced")),
    PropertyDef("starts", "date"),
)


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def call(
    session: aiohttp.ClientSession,
    emu: Emulator,
    operation: str,
    body: Any,
    *,
    object_type: str = "goal_targets",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, Any]:
    """POST a batch call; returns (status, parsed JSON body or None, headers)."""
    async with session.post(
        f"{emu.url}/crm/v3/objects/{object_type}/batch/{operation}",
        json=body,
        headers=AUTH if headers is None else headers,
    ) as response:
        text = await response.text()
        data = await response.json() if text and "json" in response.content_type else None
        return response.status, data, response.headers


def assert_error_shape(body: Any, category: str) -> None:
    assert body["status"] == "error"
    assert body["category"] == category
    assert isinstance(body["message"], str) and body["message"]
    assert UUID_RE.match(body["correlationId"])


def update_inputs(ids: list[str], **extra: str) -> dict[str, Any]:
    return {"inputs": [{"id": i, "properties": {"hs_goal_name": f"n{i}"}, **extra} for i in ids]}


# -- authentication ------------------------------------------------------------------------


@pytest.mark.hubspot_emulator(token=TOKEN)
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}]
)
@pytest.mark.asyncio
async def test_bad_or_missing_token_is_401(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    status, body, _ = await call(
        session, hubspot_emulator, "update", {"inputs": []}, headers=headers
    )
    assert status == 401
    assert_error_shape(body, "INVALID_AUTHENTICATION")
    assert body["message"].startswith("Authentication credentials not found")


@pytest.mark.asyncio
async def test_any_token_accepted_when_none_configured(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": "Bearer anything"}
    status, body, _ = await call(
        session, hubspot_emulator, "update", {"inputs": []}, headers=headers
    )
    assert status == 200
    assert body["results"] == []


# -- update ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_update_all_found_is_200(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    ids = hubspot_emulator.preload("goal_targets", [{"properties": {"hs_target_amount": "1"}}] * 3)
    status, body, headers = await call(session, hubspot_emulator, "update", update_inputs(ids))
    assert status == 200
    assert body["status"] == "COMPLETE"
    assert "errors" not in body and "numErrors" not in body
    assert ISO_RE.match(body["startedAt"]) and ISO_RE.match(body["completedAt"])
    assert sorted(r["id"] for r in body["results"]) == sorted(ids)
    for result in body["results"]:
        assert result["properties"]["hs_goal_name"] == f"n{result['id']}"
        assert result["archived"] is False
        assert ISO_RE.match(result["createdAt"]) and ISO_RE.match(result["updatedAt"])
    assert all(h in headers for h in RATE_HEADERS)
    stored = {r["id"]: r["properties"] for r in hubspot_emulator.records("goal_targets")}
    assert stored[ids[0]] == {"hs_target_amount": "1", "hs_goal_name": f"n{ids[0]}"}
    assert hubspot_emulator.stats.writes_to("goal_targets", ids[0]) == 1
    assert hubspot_emulator.stats.status_counts[200] == 1


@pytest.mark.asyncio
async def test_update_missing_ids_is_207_grouped(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    ids = hubspot_emulator.preload("goal_targets", [{"x": "1"}, {"x": "2"}])
    status, body, _ = await call(
        session, hubspot_emulator, "update", update_inputs([ids[0], "9001", ids[1], "9002"])
    )
    assert status == 207
    assert body["status"] == "COMPLETE"
    assert body["numErrors"] == 1
    (error,) = body["errors"]
    assert error["status"] == "error"
    assert error["category"] == "OBJECT_NOT_FOUND"
    assert error["message"] == (
        "Could not get some goal_targets objects, they may be deleted or not exist. "
        "Check that ids are valid."
    )
    assert sorted(error["context"]["ids"]) == ["9001", "9002"]
    assert error["errors"] == [] and error["links"] == {}
    assert sorted(r["id"] for r in body["results"]) == sorted(ids)
    assert len(hubspot_emulator.records("goal_targets")) == 2  # nothing created


@pytest.mark.asyncio
async def test_update_missing_ids_with_trace_ids_one_error_each(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    (found,) = hubspot_emulator.preload("goal_targets", [{"x": "1"}])
    inputs = [
        {"id": i, "properties": {"hs_goal_name": "v"}, "objectWriteTraceId": f"trace-{i}"}
        for i in (found, "777", "778")
    ]
    status, body, _ = await call(session, hubspot_emulator, "update", {"inputs": inputs})
    assert status == 207
    assert body["numErrors"] == 2
    contexts = sorted(
        (e["context"]["ids"], e["context"]["objectWriteTraceId"]) for e in body["errors"]
    )
    assert contexts == [(["777"], ["trace-777"]), (["778"], ["trace-778"])]
    (result,) = body["results"]
    assert result["id"] == found and result["objectWriteTraceId"] == f"trace-{found}"


@pytest.mark.asyncio
async def test_update_by_id_property(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    key = "my_unique_property_name"  # the unique property of HubSpot's partner_clients page
    ids = hubspot_emulator.preload("partner_clients", [{key: "a"}, {key: "b"}])
    inputs = [
        {"id": "b", "idProperty": key, "properties": {"property_string": "B"}},
        {"id": "zz", "idProperty": key, "properties": {"property_string": "Z"}},
    ]
    status, body, _ = await call(
        session, hubspot_emulator, "update", {"inputs": inputs}, object_type="partner_clients"
    )
    assert status == 207
    assert [r["id"] for r in body["results"]] == [ids[1]]
    assert body["errors"][0]["context"]["ids"] == ["zz"]
    stored = hubspot_emulator.record("partner_clients", "b", key)["properties"]
    assert stored["property_string"] == "B"


# -- upsert ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_upsert_creates_then_updates(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    inputs = [
        {"id": code, "idProperty": "course_code", "properties": {"hs_course_name": f"T{code}"}}
        for code in ("c1", "c2")
    ]
    status, body, _ = await call(
        session, hubspot_emulator, "upsert", {"inputs": inputs}, object_type="0-410"
    )
    assert status == 200
    assert [r["new"] for r in body["results"]] == [True, True]
    assert {r["properties"]["course_code"] for r in body["results"]} == {"c1", "c2"}
    first_ids = {r["properties"]["course_code"]: r["id"] for r in body["results"]}

    inputs[0]["properties"] = {"hs_course_name": "changed"}
    status, body, _ = await call(
        session, hubspot_emulator, "upsert", {"inputs": inputs}, object_type="courses"
    )
    assert status == 200
    assert [r["new"] for r in body["results"]] == [False, False]
    assert {r["properties"]["course_code"]: r["id"] for r in body["results"]} == first_ids
    records = hubspot_emulator.records("0-410")
    assert len(records) == 2  # "courses" and "0-410" are one store
    stored = hubspot_emulator.record("0-410", "c1", "course_code")["properties"]
    assert stored["hs_course_name"] == "changed"
    assert hubspot_emulator.stats.writes_to("courses", first_ids["c1"]) == 2


@pytest.mark.asyncio
async def test_upsert_without_id_property_is_400(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    body_in = {"inputs": [{"id": "c1", "properties": {}}]}
    status, body, _ = await call(session, hubspot_emulator, "upsert", body_in, object_type="0-410")
    assert status == 400
    assert_error_shape(body, "VALIDATION_ERROR")
    assert "idProperty" in body["message"]


# -- whole-request validation -----------------------------------------------------------------


@pytest.mark.asyncio
async def test_more_than_100_inputs_is_400(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    ids = hubspot_emulator.preload("goal_targets", [{"x": "1"}] * 101)
    status, body, _ = await call(session, hubspot_emulator, "update", update_inputs(ids))
    assert status == 400
    assert_error_shape(body, "VALIDATION_ERROR")
    assert hubspot_emulator.stats.total_writes == 0
    status, _, _ = await call(session, hubspot_emulator, "update", update_inputs(ids[:100]))
    assert status == 200


@pytest.mark.asyncio
async def test_duplicate_ids_is_400_with_exact_message(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    a, b, c = hubspot_emulator.preload("goal_targets", [{"x": "1"}] * 3)
    status, body, _ = await call(
        session, hubspot_emulator, "update", update_inputs([a, b, a, c, b])
    )
    assert status == 400
    assert_error_shape(body, "VALIDATION_ERROR")
    assert body["message"] == f"Duplicate IDs found in batch input: [{a}, {b}]. IDs must be unique"
    assert body["context"] == {"ids": [a, b]}
    assert hubspot_emulator.stats.total_writes == 0


@pytest.mark.hubspot_emulator(properties={"0-410": COURSE_PROPS}, strict=False)
@pytest.mark.asyncio
async def test_lenient_invalid_property_value_fails_whole_request_naming_ids(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    inputs = [
        {"id": "c1", "idProperty": "course_code", "properties": {"credits": "3", "level": "intro"}},
        {"id": "c2", "idProperty": "course_code", "properties": {"credits": "lots"}},
        {"id": "c3", "idProperty": "course_code", "properties": {"level": "expert"}},
    ]
    status, body, _ = await call(
        session, hubspot_emulator, "upsert", {"inputs": inputs}, object_type="0-410"
    )
    assert status == 400
    assert_error_shape(body, "VALIDATION_ERROR")
    assert "credits" in body["message"] and "c2" in body["message"]
    assert body["context"]["ids"] == ["c2", "c3"]
    assert body["context"]["propertyName"] == ["credits", "level"]
    details = {d["context"]["ids"][0]: d for d in body["errors"]}
    assert details["c2"]["context"]["propertyName"] == ["credits"]
    assert details["c2"]["code"] == "INVALID_LONG"
    assert details["c3"]["code"] == "INVALID_OPTION"
    assert hubspot_emulator.records("0-410") == []
    # Lenient: a property no one declared is written, whatever its name.
    inputs = [{"id": "c4", "idProperty": "course_code", "properties": {"colour": "red"}}]
    status, _, _ = await call(
        session, hubspot_emulator, "upsert", {"inputs": inputs}, object_type="0-410"
    )
    assert status == 200
    assert hubspot_emulator.record("0-410", "c4", "course_code")["properties"]["colour"] == "red"


@pytest.mark.hubspot_emulator(
    properties={"0-410": COURSE_PROPS}, strict=False, strict_properties=True
)
@pytest.mark.asyncio
async def test_lenient_strict_properties_reject_unknown(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    inputs = [{"id": "c1", "idProperty": "course_code", "properties": {"colour": "red"}}]
    status, body, _ = await call(
        session, hubspot_emulator, "upsert", {"inputs": inputs}, object_type="courses"
    )
    assert status == 400
    assert body["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
    assert body["errors"][0]["context"]["propertyName"] == ["colour"]


@pytest.mark.hubspot_emulator(
    properties={"0-410": COURSE_PROPS}, validation_errors_as_207=True, shuffle_results=False
)
@pytest.mark.asyncio
async def test_invalid_property_value_207_variant_with_trace_ids(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    inputs = [
        {"id": "c1", "idProperty": "course_code", "properties": {"active": "true"}},
        {"id": "c2", "idProperty": "course_code", "properties": {"active": "maybe"}},
        {"id": "c3", "idProperty": "course_code", "properties": {"starts": "2024-02-30"}},
    ]
    for item in inputs:
        item["objectWriteTraceId"] = f"t-{item['id']}"
    status, body, _ = await call(
        session, hubspot_emulator, "upsert", {"inputs": inputs}, object_type="0-410"
    )
    assert status == 207
    assert [r["objectWriteTraceId"] for r in body["results"]] == ["t-c1"]
    assert body["numErrors"] == 2
    by_trace = {e["context"]["objectWriteTraceId"][0]: e for e in body["errors"]}
    assert set(by_trace) == {"t-c2", "t-c3"}
    assert by_trace["t-c2"]["category"] == "VALIDATION_ERROR"
    assert by_trace["t-c2"]["context"]["propertyName"] == ["active"]
    assert by_trace["t-c3"]["errors"][0]["code"] == "INVALID_DATE"
    assert [r["properties"]["course_code"] for r in hubspot_emulator.records("0-410")] == ["c1"]

    # Without a trace id on every input the whole request still fails.
    del inputs[0]["objectWriteTraceId"]
    status, body, _ = await call(
        session, hubspot_emulator, "upsert", {"inputs": inputs}, object_type="0-410"
    )
    assert status == 400


# -- malformed requests ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_malformed_requests_get_hubspot_errors(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    base = f"{hubspot_emulator.url}/crm/v3/objects/goal_targets/batch"
    json_headers = {**AUTH, "Content-Type": "application/json"}
    cases: list[tuple[str, dict[str, str], bytes, int, str]] = [
        (f"{base}/update", json_headers, b'{"inputs": [', 400, "VALIDATION_ERROR"),
        (f"{base}/update", {**AUTH, "Content-Type": "text/plain"}, b"{}", 415, "VALIDATION_ERROR"),
        (f"{base}/update", json_headers, b'{"items": []}', 400, "VALIDATION_ERROR"),
        (f"{base}/update", json_headers, b'{"inputs": [{"id": "1"}]}', 400, "VALIDATION_ERROR"),
        (f"{base}/update", json_headers, b'{"inputs": [7]}', 400, "VALIDATION_ERROR"),
        (f"{base}/merge", json_headers, b'{"inputs": []}', 404, "OBJECT_NOT_FOUND"),
        (
            f"{hubspot_emulator.url}/crm/v3/objects/partner_clients/batch/upsert",
            json_headers,
            b'{"inputs": []}',
            404,
            "OBJECT_NOT_FOUND",
        ),
        (
            f"{hubspot_emulator.url}/crm/v3/nothing/here",
            json_headers,
            b"{}",
            404,
            "OBJECT_NOT_FOUND",
        ),
    ]
    for url, headers, data, expected_status, category in cases:
        async with session.post(url, data=data, headers=headers) as response:
            assert response.status == expected_status, (url, data)
            assert_error_shape(await response.json(), category)
    async with session.get(f"{base}/update", headers=AUTH) as response:
        assert response.status == 405
        assert_error_shape(await response.json(), "METHOD_NOT_ALLOWED")
    assert 500 not in hubspot_emulator.stats.status_counts


# -- rate limits ----------------------------------------------------------------------------


@pytest.mark.hubspot_emulator(rate_limit_requests=10, rate_limit_window_seconds=1.0)
@pytest.mark.asyncio
async def test_rolling_window_rate_limit(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    (record_id,) = hubspot_emulator.preload("goal_targets", [{"x": "1"}])
    remaining = []
    for _ in range(10):
        status, _, headers = await call(
            session, hubspot_emulator, "update", update_inputs([record_id])
        )
        assert status == 200
        assert headers["X-HubSpot-RateLimit-Max"] == "10"
        assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "1000"
        remaining.append(int(headers["X-HubSpot-RateLimit-Remaining"]))
    assert remaining == list(range(9, -1, -1))
    status, body, headers = await call(
        session, hubspot_emulator, "update", update_inputs([record_id])
    )
    assert status == 429
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["status"] == "error" and UUID_RE.match(body["correlationId"])
    assert headers["X-HubSpot-RateLimit-Remaining"] == "0"
    stats = hubspot_emulator.stats
    assert stats.rate_limited["TEN_SECONDLY_ROLLING"] == 1
    assert stats.writes_to("goal_targets", record_id) == 10  # the 429 wrote nothing
    assert stats.max_window_requests == 11


@pytest.mark.hubspot_emulator(token=TOKEN)
@pytest.mark.asyncio
async def test_a_request_arriving_while_answers_are_built_is_counted_before_the_next(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HubSpot limits the requests in a rolling window
    (https://developers.hubspot.com/docs/api/usage-details); nothing public says at what
    point it counts one, so this server keeps the stricter reading, when its handler starts,
    but its own work must not hold that back. Four answers whose pauses end together are
    built one at a time, and a request that arrives while the first is built is counted
    before the second is. (They were built back to back, and such a request was counted up
    to 30 ms late after a burst of eight: a client keeping 10 ms from the window got a 429.)"""
    emu = hubspot_emulator
    events: list[str] = []
    gate = asyncio.Event()
    paused = 0

    async def pause(seconds: float) -> bool:  # the four pauses end together
        nonlocal paused
        paused += 1
        if paused == 4:
            gate.set()
        await gate.wait()
        return True

    arrive = emu._limiter.arrive

    def counted(token: str, **options: Any) -> Any:
        events.append("count")
        return arrive(token, **options)

    body = orjson.dumps(update_inputs(["1"]))
    late = (
        f"POST /crm/v3/objects/goal_targets/batch/update HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    reader, writer = await asyncio.open_connection("127.0.0.1", int(emu.url.rsplit(":", 1)[1]))
    build = _app.process

    def process(*args: Any) -> Any:
        events.append("build")
        if events.count("build") == 1:
            writer.write(late)  # on the socket now: the loop is busy building this answer
        return build(*args)

    monkeypatch.setattr(emu, "_pause", pause)
    monkeypatch.setattr(emu._limiter, "arrive", counted)
    monkeypatch.setattr(_app, "process", process)
    (record_id,) = emu.preload("goal_targets", [{"x": "1"}])
    first = [call(session, emu, "update", update_inputs([record_id])) for _ in range(4)]
    answers = await asyncio.gather(*first)
    assert [status for status, _, _ in answers] == [200] * 4
    await reader.readuntil(b"\r\n\r\n")  # the late request was answered too
    writer.close()
    assert events[:4] == ["count"] * 4
    # Counted right after the first build, before the second (it was counted after all four).
    assert events[4:7] == ["build", "count", "build"]


@pytest.mark.hubspot_emulator(daily_limit=3)
@pytest.mark.asyncio
async def test_daily_cap(hubspot_emulator: Emulator, session: aiohttp.ClientSession) -> None:
    daily_remaining = []
    for _ in range(3):
        status, _, headers = await call(session, hubspot_emulator, "update", {"inputs": []})
        assert status == 200
        assert headers["X-HubSpot-RateLimit-Daily"] == "3"
        daily_remaining.append(headers["X-HubSpot-RateLimit-Daily-Remaining"])
    assert daily_remaining == ["2", "1", "0"]
    status, body, _ = await call(session, hubspot_emulator, "update", {"inputs": []})
    assert status == 429
    assert body["policyName"] == "DAILY"
    assert body["message"] == "You have reached your daily limit."
    assert hubspot_emulator.stats.rate_limited == {"DAILY": 1}


# -- faults ---------------------------------------------------------------------------------

JSON_FAULTS = [("500", 500), ("502", 502), ("503", 503), ("504", 504), ("423", 423)]


@pytest.mark.parametrize(("kind", "expected"), JSON_FAULTS)
@pytest.mark.asyncio
async def test_json_error_faults(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession, kind: Any, expected: int
) -> None:
    (record_id,) = hubspot_emulator.preload("goal_targets", [{"x": "1"}])
    hubspot_emulator.inject(kind)
    status, body, headers = await call(
        session, hubspot_emulator, "update", update_inputs([record_id])
    )
    assert status == expected
    assert body["status"] == "error" and UUID_RE.match(body["correlationId"])
    assert "X-HubSpot-RateLimit-Remaining" in headers
    assert hubspot_emulator.stats.faults == {kind: 1}
    assert hubspot_emulator.stats.total_writes == 0
    status, _, _ = await call(session, hubspot_emulator, "update", update_inputs([record_id]))
    assert status == 200  # only the injected request failed


@pytest.mark.hubspot_emulator(faults=FaultConfig(retry_after_seconds=3))
@pytest.mark.asyncio
async def test_fault_477_has_retry_after(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    hubspot_emulator.inject("477")
    status, body, headers = await call(session, hubspot_emulator, "update", {"inputs": []})
    assert status == 477
    assert headers["Retry-After"] == "3"
    assert body["category"] == "MIGRATION_IN_PROGRESS"


@pytest.mark.asyncio
async def test_fault_429_secondly(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    hubspot_emulator.inject("429_secondly", count=2)
    for _ in range(2):
        status, body, _ = await call(session, hubspot_emulator, "update", {"inputs": []})
        assert status == 429
        assert body["policyName"] == "SECONDLY"
        assert body["errorType"] == "RATE_LIMIT"
    assert hubspot_emulator.stats.rate_limited == {"SECONDLY": 2}
    assert hubspot_emulator.pending_faults == 0


@pytest.mark.parametrize(("kind", "expected"), [("html", 502), ("html200", 200)])
@pytest.mark.asyncio
async def test_html_faults(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession, kind: Any, expected: int
) -> None:
    hubspot_emulator.inject(kind)
    async with session.post(
        f"{hubspot_emulator.url}/crm/v3/objects/contacts/batch/update",
        json={"inputs": []},
        headers=AUTH,
    ) as response:
        assert response.status == expected
        assert response.content_type == "text/html"
        assert (await response.text()).startswith("<!DOCTYPE html>")


@pytest.mark.asyncio
async def test_reset_fault_drops_connection_without_writing(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    (record_id,) = hubspot_emulator.preload("goal_targets", [{"x": "1"}])
    hubspot_emulator.inject("reset")
    with pytest.raises(aiohttp.ClientConnectionError):
        await call(session, hubspot_emulator, "update", update_inputs([record_id]))
    assert hubspot_emulator.stats.total_writes == 0
    assert hubspot_emulator.stats.dropped_connections == 1
    status, _, _ = await call(session, hubspot_emulator, "update", update_inputs([record_id]))
    assert status == 200


@pytest.mark.asyncio
async def test_lost_fault_applies_write_then_drops(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    (record_id,) = hubspot_emulator.preload("goal_targets", [{"x": "1"}])
    hubspot_emulator.inject("lost")
    with pytest.raises(aiohttp.ClientConnectionError):
        await call(session, hubspot_emulator, "update", update_inputs([record_id]))
    assert hubspot_emulator.stats.writes_to("goal_targets", record_id) == 1
    assert (
        hubspot_emulator.record("goal_targets", record_id)["properties"]["hs_goal_name"]
        == f"n{record_id}"
    )
    assert hubspot_emulator.stats.status_counts == {}  # no answer was sent


@pytest.mark.hubspot_emulator(faults=FaultConfig(slow_seconds=60.0))
@pytest.mark.asyncio
async def test_slow_fault_exceeds_client_timeout_and_stops_cleanly(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    hubspot_emulator.inject("slow")
    timeout = aiohttp.ClientTimeout(total=0.2)
    with pytest.raises(TimeoutError):
        async with session.post(
            f"{hubspot_emulator.url}/crm/v3/objects/contacts/batch/update",
            json={"inputs": []},
            headers=AUTH,
            timeout=timeout,
        ):
            pass
    # Other requests are served while the slow one waits.
    status, _, _ = await call(session, hubspot_emulator, "update", {"inputs": []})
    assert status == 200
    assert hubspot_emulator.stats.in_flight == 1
    loop = asyncio.get_running_loop()
    started = loop.time()
    await hubspot_emulator.stop()  # wakes the slow handler instead of waiting 60 s
    assert loop.time() - started < 5.0


@pytest.mark.asyncio
async def test_random_faults_are_seeded(make_hubspot_emulator: Any) -> None:
    faults = FaultConfig(rate=0.5, kinds=("500", "503"), seed=7)
    first = await make_hubspot_emulator(faults=faults)
    second = await make_hubspot_emulator(faults=faults)
    outcomes = []
    async with aiohttp.ClientSession() as client:
        for emu in (first, second):
            statuses = [(await call(client, emu, "update", {"inputs": []}))[0] for _ in range(20)]
            outcomes.append(statuses)
    assert outcomes[0] == outcomes[1]
    assert set(outcomes[0]) == {200, 500, 503}


@pytest.mark.hubspot_emulator(faults=FaultConfig(rate=1.0, kinds=("503",)))
@pytest.mark.asyncio
async def test_faults_only_on_batch_endpoints(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    async with session.get(f"{hubspot_emulator.url}/_emulator/stats") as response:
        assert response.status == 200
    status, _, _ = await call(session, hubspot_emulator, "update", {"inputs": []})
    assert status == 503


def test_all_fault_kinds_are_listed() -> None:
    assert set(ALL_FAULT_KINDS) == {
        "500", "502", "503", "504", "423", "477", "429_secondly",
        "reset", "slow", "html", "html200", "lost",
    }  # fmt: skip
    with pytest.raises(ValueError, match="unknown fault"):
        FaultConfig(kinds=("teapot",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown fault"):
        Emulator().inject("teapot")  # type: ignore[arg-type]


# -- order, other operations, stats -----------------------------------------------------------


@pytest.mark.asyncio
async def test_results_not_in_input_order_but_seeded(make_hubspot_emulator: Any) -> None:
    orders = []
    async with aiohttp.ClientSession() as client:
        for _ in range(2):
            emu = await make_hubspot_emulator(seed=3)
            ids = emu.preload("goal_targets", [{"x": "1"}] * 30)
            _, body, _ = await call(client, emu, "update", update_inputs(ids))
            orders.append([r["id"] for r in body["results"]])
            assert sorted(orders[-1]) == sorted(ids)
            assert orders[-1] != ids
    assert orders[0] == orders[1]


@pytest.mark.asyncio
async def test_create_read_archive(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    create = {
        "inputs": [
            {"properties": {"hs_name": str(i)}, "objectWriteTraceId": f"t{i}"} for i in range(3)
        ]
    }
    status, body, _ = await call(session, hubspot_emulator, "create", create, object_type="0-420")
    assert status == 201
    ids = sorted(r["id"] for r in body["results"])
    assert {r["objectWriteTraceId"] for r in body["results"]} == {"t0", "t1", "t2"}

    read = {"inputs": [{"id": ids[0]}, {"id": "404404"}], "properties": ["hs_name"]}
    status, body, _ = await call(session, hubspot_emulator, "read", read, object_type="listings")
    assert status == 207
    assert body["results"][0]["properties"]["hs_name"] in {"0", "1", "2"}
    assert body["errors"][0]["context"]["ids"] == ["404404"]

    archive = {"inputs": [{"id": ids[0]}]}
    status, body, _ = await call(session, hubspot_emulator, "archive", archive, object_type="0-420")
    assert status == 204 and body is None
    assert sorted(r["id"] for r in hubspot_emulator.records("0-420")) == ids[1:]


@pytest.mark.hubspot_emulator(latency_seconds=0.05)
@pytest.mark.asyncio
async def test_stats_count_concurrency_and_reset(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    ids = hubspot_emulator.preload("goal_targets", [{"x": "1"}] * 5)
    results = await asyncio.gather(
        *(call(session, hubspot_emulator, "update", update_inputs([i])) for i in ids)
    )
    assert [status for status, _, _ in results] == [200] * 5
    stats = hubspot_emulator.stats
    assert stats.total_requests == 5
    # When the first request and the first write came (the benchmarks' time to first
    # request): updates are writes, so the first write came with the first request.
    assert stats.first_request_at is not None
    assert stats.first_write_at is not None and stats.first_write_at >= stats.first_request_at
    assert stats.max_in_flight == 5
    assert stats.in_flight == 0
    assert stats.total_writes == 5
    as_dict = stats.to_dict()
    assert as_dict["status_counts"] == {"200": 5}
    assert as_dict["writes"] == {"goal_targets": dict.fromkeys(ids, 1)}

    hubspot_emulator.inject("500", count=3)
    hubspot_emulator.reset()
    assert hubspot_emulator.records("goal_targets") == []
    assert hubspot_emulator.stats.total_requests == 0
    assert hubspot_emulator.stats.first_request_at is None
    assert hubspot_emulator.pending_faults == 0


@pytest.mark.asyncio
async def test_http_introspection(
    hubspot_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    url = f"{hubspot_emulator.url}/_emulator"
    async with session.post(
        f"{url}/preload/goal_targets", json={"inputs": [{"properties": {"a": "1"}}, {"a": "2"}]}
    ) as response:
        assert response.status == 200
        ids = (await response.json())["ids"]
    await call(session, hubspot_emulator, "update", update_inputs(ids))
    async with session.post(f"{url}/inject", json={"kind": "502", "count": 1}) as response:
        assert (await response.json()) == {"pending_faults": 1}
    status, _, _ = await call(session, hubspot_emulator, "update", update_inputs(ids))
    assert status == 502
    async with session.get(f"{url}/stats") as response:
        stats = await response.json()
    assert stats["total_requests"] == 2
    assert stats["status_counts"] == {"200": 1, "502": 1}
    assert stats["faults"] == {"502": 1}
    assert stats["writes"] == {"goal_targets": dict.fromkeys(ids, 1)}
    assert stats["max_window_requests"] == 2
    async with session.get(f"{url}/records/goal_targets") as response:
        records = await response.json()
    assert records["total"] == 2
    assert records["results"][0]["properties"] == {"a": "1", "hs_goal_name": f"n{ids[0]}"}
    async with session.post(f"{url}/inject", json={"kind": "nope"}) as response:
        assert response.status == 400
    async with session.post(f"{url}/reset") as response:
        assert response.status == 200
    async with session.get(f"{url}/records/goal_targets") as response:
        assert (await response.json())["total"] == 0
    assert hubspot_emulator.stats.total_requests == 0
