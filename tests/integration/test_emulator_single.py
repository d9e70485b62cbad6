"""The emulator's single-record update, ``PATCH /crm/v3/objects/{objectType}/{objectId}``, as
HubSpot's official SDK sends it (``basic_api.update``): the benchmarks' web-backend peer writes
one record per request through it. The SDK is synchronous: each call runs in a thread."""

from __future__ import annotations

import asyncio
import json

import pytest
from hubspot import Client
from hubspot.crm.objects import ApiException, SimplePublicObjectInput

from asyncbatch.emulator import Emulator, EmulatorConfig

pytestmark = pytest.mark.asyncio
TOKEN = "single-token-0123456789"


async def test_the_sdk_updates_one_record_and_reads_hubspots_answers() -> None:
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        (record_id,) = emu.preload("0-410", [{"course_code": "A1", "level": "beginner"}])
        api = Client.create(access_token=TOKEN, host=emu.url).crm.objects.basic_api
        try:

            def update(object_id: str, level: str, id_property: str | None) -> object:
                body = SimplePublicObjectInput(properties={"level": level})
                return api.update("0-410", object_id, body, id_property=id_property)

            by_key = await asyncio.to_thread(update, "A1", "advanced", "course_code")
            assert by_key.id == record_id and by_key.properties["level"] == "advanced"
            by_id = await asyncio.to_thread(update, record_id, "intermediate", None)
            assert by_id.properties["level"] == "intermediate"
            assert emu.record("0-410", record_id)["properties"]["level"] == "intermediate"
            assert emu.stats.writes_to("0-410", record_id) == 2

            with pytest.raises(ApiException) as missing:
                await asyncio.to_thread(update, "no-such-course", "advanced", "course_code")
            assert missing.value.status == 404
            assert json.loads(missing.value.body)["category"] == "OBJECT_NOT_FOUND"

            with pytest.raises(ApiException) as refused:  # level is a select: HubSpot's 400
                await asyncio.to_thread(update, "A1", "expert", "course_code")
            assert refused.value.status == 400
            assert "expert" in json.loads(refused.value.body)["message"]
            assert emu.stats.total_requests == 4
        finally:
            api.api_client.close()
            api.api_client.rest_client.pool_manager.clear()
