"""HubSpot's official Python SDK (hubspot-api-client) talks to the emulator and parses its answers.

The SDK is synchronous (urllib3), so each call runs in a thread while the emulator's event loop
keeps serving. A failure here means the emulator's wire shape differs from HubSpot's models.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import hubspot.crm.objects.goals as goals  # type: ignore[import-untyped]
import hubspot.crm.properties as properties_api  # type: ignore[import-untyped]
import pytest
from hubspot import Client
from hubspot.crm.objects import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObjectWithErrors,
    BatchResponseSimplePublicUpsertObject,
    BatchResponseSimplePublicUpsertObjectWithErrors,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
)

from asyncbatch.emulator import Emulator, EmulatorConfig, PropertyDef

TOKEN = "sdk-token"
T = TypeVar("T")

# The emulator is as strict as HubSpot: records use HubSpot's default properties, and courses
# get one declared on top of them (course_code is a default unique one).
COURSE_PROPS = {"0-410": (PropertyDef("credits", "number"),)}
pytestmark = pytest.mark.hubspot_emulator(token=TOKEN, properties=COURSE_PROPS)


class SDK:
    """The SDK's generic and goal-target batch APIs and its properties API, pointed at an
    emulator, closed after use."""

    def __init__(self, url: str) -> None:
        client = Client.create(access_token=TOKEN, host=url)
        self.objects = client.crm.objects.batch_api
        self.goals = client.crm.objects.goals.batch_api
        self.properties = client.crm.properties.core_api

    def close(self) -> None:
        for api in (self.objects, self.goals, self.properties):
            api.api_client.close()
            api.api_client.rest_client.pool_manager.clear()


@pytest.fixture
def sdk(hubspot_emulator: Emulator) -> Iterator[SDK]:
    client = SDK(hubspot_emulator.url)
    try:
        yield client
    finally:
        client.close()


async def in_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(function, *args, **kwargs)


def goals_update_input(ids: list[str]) -> goals.BatchInputSimplePublicObjectBatchInput:
    """The goal-targets API has its own copies of the models (and of ApiException)."""
    return goals.BatchInputSimplePublicObjectBatchInput(
        inputs=[
            goals.SimplePublicObjectBatchInput(id=i, properties={"hs_goal_name": f"n{i}"})
            for i in ids
        ]
    )


@pytest.mark.asyncio
async def test_sdk_update_200(hubspot_emulator: Emulator, sdk: SDK) -> None:
    ids = hubspot_emulator.preload("goal_targets", [{"hs_target_amount": "1"}] * 3)
    answer = await in_thread(
        sdk.goals.update, batch_input_simple_public_object_batch_input=goals_update_input(ids)
    )
    assert isinstance(answer, goals.BatchResponseSimplePublicObject)
    assert answer.status == "COMPLETE"
    assert sorted(r.id for r in answer.results) == sorted(ids)
    assert all(r.properties["hs_goal_name"] == f"n{r.id}" for r in answer.results)
    assert all(r.archived is False and r.updated_at is not None for r in answer.results)
    assert answer.started_at is not None and answer.completed_at is not None


@pytest.mark.asyncio
async def test_sdk_update_207_with_trace_ids(hubspot_emulator: Emulator, sdk: SDK) -> None:
    (found,) = hubspot_emulator.preload("partner_clients", [{"property_string": "1"}])
    body = BatchInputSimplePublicObjectBatchInput(
        inputs=[
            SimplePublicObjectBatchInput(
                id=i, properties={"property_string": "v"}, object_write_trace_id=f"trace-{i}"
            )
            for i in (found, "555")
        ]
    )
    answer = await in_thread(
        sdk.objects.update,
        object_type="partner_clients",
        batch_input_simple_public_object_batch_input=body,
    )
    assert isinstance(answer, BatchResponseSimplePublicObjectWithErrors)
    assert answer.num_errors == 1
    (result,) = answer.results
    assert result.id == found and result.object_write_trace_id == f"trace-{found}"
    (error,) = answer.errors
    assert error.category == "OBJECT_NOT_FOUND"
    assert error.status == "error"
    assert error.context == {"ids": ["555"], "objectWriteTraceId": ["trace-555"]}
    assert error.errors == [] and error.links == {}


@pytest.mark.asyncio
async def test_sdk_upsert_new_then_existing(hubspot_emulator: Emulator, sdk: SDK) -> None:
    def body(title: str) -> BatchInputSimplePublicObjectBatchInputUpsert:
        return BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id=code, id_property="course_code", properties={"hs_course_name": title}
                )
                for code in ("c1", "c2")
            ]
        )

    first = await in_thread(
        sdk.objects.upsert, "0-410", batch_input_simple_public_object_batch_input_upsert=body("a")
    )
    assert isinstance(first, BatchResponseSimplePublicUpsertObject)
    assert [r.new for r in first.results] == [True, True]
    second = await in_thread(
        sdk.objects.upsert, "0-410", batch_input_simple_public_object_batch_input_upsert=body("b")
    )
    assert [r.new for r in second.results] == [False, False]
    assert {r.id for r in first.results} == {r.id for r in second.results}
    assert {r.properties["hs_course_name"] for r in second.results} == {"b"}


@pytest.mark.asyncio
async def test_sdk_goal_targets_upsert(hubspot_emulator: Emulator, sdk: SDK) -> None:
    hubspot_emulator.reset()
    body = goals.BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[
            goals.SimplePublicObjectBatchInputUpsert(
                id="g1",
                id_property="my_unique_property_name",
                properties={},
                object_write_trace_id="t1",
            )
        ]
    )
    answer = await in_thread(
        sdk.goals.upsert, batch_input_simple_public_object_batch_input_upsert=body
    )
    assert isinstance(answer, goals.BatchResponseSimplePublicUpsertObject)
    (result,) = answer.results
    assert result.new is True and result.object_write_trace_id == "t1"


@pytest.mark.hubspot_emulator(token=TOKEN, properties=COURSE_PROPS, validation_errors_as_207=True)
@pytest.mark.asyncio
async def test_sdk_upsert_207_validation_errors(hubspot_emulator: Emulator, sdk: SDK) -> None:
    body = BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[
            SimplePublicObjectBatchInputUpsert(
                id=code,
                id_property="course_code",
                properties={"credits": credits},
                object_write_trace_id=f"t-{code}",
            )
            for code, credits in (("c1", "3"), ("c2", "many"))
        ]
    )
    answer = await in_thread(
        sdk.objects.upsert, "0-410", batch_input_simple_public_object_batch_input_upsert=body
    )
    assert isinstance(answer, BatchResponseSimplePublicUpsertObjectWithErrors)
    assert [r.object_write_trace_id for r in answer.results] == ["t-c1"]
    (error,) = answer.errors
    assert error.category == "VALIDATION_ERROR"
    assert error.context["objectWriteTraceId"] == ["t-c2"]
    assert error.errors[0].context["propertyName"] == ["credits"]
    assert error.errors[0].code == "INVALID_LONG"


@pytest.mark.asyncio
async def test_sdk_create_207_with_trace_ids(hubspot_emulator: Emulator, sdk: SDK) -> None:
    """HubSpot's multi-status create: every input carries a distinct trace id, so an invalid
    value fails its own input only (HubSpot's error-handling reference, "Multi-status")."""
    body = BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[
            SimplePublicObjectBatchInputForCreate(
                associations=[],
                properties={"course_code": code, "credits": credits},
                object_write_trace_id=f"t-{code}",
            )
            for code, credits in (("k1", "3"), ("k2", "many"))
        ]
    )
    answer = await in_thread(
        sdk.objects.create, "0-410", batch_input_simple_public_object_batch_input_for_create=body
    )
    assert isinstance(answer, BatchResponseSimplePublicObjectWithErrors)
    assert [r.object_write_trace_id for r in answer.results] == ["t-k1"]
    (error,) = answer.errors
    assert error.context["objectWriteTraceId"] == ["t-k2"]
    assert error.errors[0].context["propertyName"] == ["credits"]


@pytest.mark.asyncio
async def test_sdk_read_207_with_history_then_archive_204(
    hubspot_emulator: Emulator, sdk: SDK
) -> None:
    (found,) = hubspot_emulator.preload("0-410", [{"course_code": "h1", "price": "1"}])
    read = BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=i) for i in (found, "555")],
        properties=["course_code"],
        properties_with_history=["course_code"],
    )
    answer = await in_thread(
        sdk.objects.read, "0-410", batch_read_input_simple_public_object_id=read
    )
    assert isinstance(answer, BatchResponseSimplePublicObjectWithErrors)
    (result,) = answer.results
    (entry,) = result.properties_with_history["course_code"]
    assert entry.value == "h1" and entry.timestamp is not None
    assert answer.errors[0].context == {"ids": ["555"]}

    archive = BatchInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=found)])
    assert (
        await in_thread(sdk.objects.archive, "0-410", batch_input_simple_public_object_id=archive)
        is None
    )
    archived = await in_thread(
        sdk.objects.read, "0-410", batch_read_input_simple_public_object_id=read, archived=True
    )
    assert archived.results[0].archived is True and archived.results[0].archived_at is not None


@pytest.mark.asyncio
async def test_sdk_whole_request_errors_parse_as_error_model(
    hubspot_emulator: Emulator, sdk: SDK
) -> None:
    (record_id,) = hubspot_emulator.preload("goal_targets", [{"x": "1"}])
    with pytest.raises(goals.ApiException) as caught:
        await in_thread(
            sdk.goals.update,
            batch_input_simple_public_object_batch_input=goals_update_input([record_id] * 2),
        )
    assert caught.value.status == 400
    deserialize = sdk.goals.api_client._ApiClient__deserialize
    error = deserialize(json.loads(caught.value.body), "Error")
    assert error.category == "VALIDATION_ERROR"
    assert error.message.startswith("Duplicate IDs found in batch input")
    assert error.context == {"ids": [record_id]}
    assert error.correlation_id

    wrong = SDK(hubspot_emulator.url)
    wrong.objects.api_client.configuration.access_token = "wrong"
    try:
        with pytest.raises(ApiException) as caught:
            await in_thread(
                wrong.objects.update,
                "goal_targets",
                batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(
                    inputs=[SimplePublicObjectBatchInput(id=record_id, properties={})]
                ),
            )
    finally:
        wrong.close()
    assert caught.value.status == 401
    error = deserialize(json.loads(caught.value.body), "Error")
    assert error.category == "INVALID_AUTHENTICATION"
    assert error.message.startswith("Authentication credentials not found")


@pytest.mark.asyncio
async def test_sdk_reads_property_definitions(sdk: SDK) -> None:
    answer = await in_thread(sdk.properties.get_all, "0-410")
    assert isinstance(answer, properties_api.CollectionResponsePropertyNoPaging)
    by_name = {p.name: p for p in answer.results}
    assert by_name["course_code"].has_unique_value is True
    assert [o.value for o in by_name["level"].options] == ["beginner", "intermediate", "advanced"]
    assert by_name["hs_object_id"].modification_metadata.read_only_value is True
    assert by_name["credits"].type == "number"  # the declared one
    with pytest.raises(properties_api.ApiException) as caught:
        await in_thread(sdk.properties.get_all, "widgets")
    assert caught.value.status == 400


@pytest.mark.asyncio
async def test_sdk_parses_hubspot_refusals_as_error_model(
    hubspot_emulator: Emulator, sdk: SDK
) -> None:
    deserialize = sdk.objects.api_client._ApiClient__deserialize

    async def refusal(object_type: str, key: str, id_property: str, **props: str) -> Any:
        body = BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id=key, id_property=id_property, properties=props
                )
            ]
        )
        with pytest.raises(ApiException) as caught:
            await in_thread(
                sdk.objects.upsert,
                object_type,
                batch_input_simple_public_object_batch_input_upsert=body,
            )
        return caught.value.status, deserialize(json.loads(caught.value.body), "Error")

    status, error = await refusal("0-410", "C1", "course_code", level="expert")
    assert status == 400 and error.category == "VALIDATION_ERROR"
    assert error.errors[0].code == "INVALID_OPTION"
    assert error.errors[0].context == {"propertyName": ["level"]}
    status, error = await refusal("contacts", "a@x.com", "hs_object_id")
    assert status == 400 and "non-unique 0-1 property hs_object_id" in error.message
    hubspot_emulator.preload("0-410", [{"course_code": "C9", "my_unique_property_name": "u1"}])
    status, error = await refusal("0-410", "C10", "course_code", my_unique_property_name="u1")
    assert status == 409 and error.category == "CONFLICT"


def test_default_config_is_valid() -> None:
    config = EmulatorConfig()
    assert config.rate_limit_requests == 100
    assert config.strict is True
