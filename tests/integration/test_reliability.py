"""Nothing lost under faults: seeded fault soaks, the DAILY stop, cancellation, redirects.

All against the real emulator on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import Counter
from typing import Any

import pytest
from aiohttp import web

import asyncbatch
from asyncbatch._transport import AiohttpTransport, RawResponse
from asyncbatch.emulator import (
    ALL_FAULT_KINDS,
    Emulator,
    EmulatorConfig,
    FaultConfig,
    PropertyDef,
)
from tests.invariants import assert_accounted, assert_stored_matches

pytestmark = pytest.mark.asyncio

TOKEN = "soak-token"
SOAK_RECORDS = 20_000
# The account's custom properties: the emulator is as strict as HubSpot, so the ones these runs
# write (and the unique ``code`` they upsert by) must exist.
ACCOUNT = {
    "contacts": (PropertyDef("code", has_unique_value=True), PropertyDef("v", "number")),
    "goal_targets": (PropertyDef("v"), PropertyDef("a")),
}


def soak_config(seed: int) -> EmulatorConfig:
    return EmulatorConfig(
        token=TOKEN,
        rate_limit_requests=2000,
        rate_limit_window_seconds=1.0,
        faults=FaultConfig(
            rate=0.2, kinds=ALL_FAULT_KINDS, seed=seed, slow_seconds=1.5, retry_after_seconds=0.1
        ),
        seed=seed,
        properties=ACCOUNT,
    )


def soak_client(emu: Emulator, seed: int) -> asyncbatch.BatchClient:
    return asyncbatch.BatchClient(
        TOKEN,
        base_url=emu.url,
        rate_limit=asyncbatch.RateLimit(2000, 1.0, safety_margin_seconds=0.05),
        max_concurrency=16,
        timeout_seconds=0.75,  # below the slow fault's 1.5 s
        retry=asyncbatch.RetryPolicy(
            max_attempts=12,
            backoff_base_seconds=0.02,
            backoff_max_seconds=0.2,
            locked_wait_seconds=0.05,
        ),
        seed=seed,
    )


def check_accounting(result: asyncbatch.BatchResult, n: int) -> tuple[int, int]:
    """(missing, duplicated) input positions in the aggregate."""
    seen = Counter(p for ps in result.result_positions for p in ps)
    seen.update(p for f in result.failed for p in f.positions)
    missing = sum(1 for p in range(n) if seen[p] == 0)
    duplicated = sum(1 for count in seen.values() if count > 1)
    return missing, duplicated


def report(
    name: str,
    result: asyncbatch.BatchResult,
    emu: Emulator,
    wall: float,
    missing: int,
    duplicated: int,
) -> None:
    s = result.stats
    print(
        f"\n[{name}] records={s.inputs} written={len(result.results)} failed={len(result.failed)} "
        f"missing={missing} duplicated={duplicated} requests={s.requests} retries={s.retries} "
        f"429s={s.rate_limited} faults={dict(sorted(emu.stats.faults.items()))} "
        f"faults_total={sum(emu.stats.faults.values())} wall={wall:.2f}s"
    )


@pytest.mark.soak
async def test_soak_upsert_20k_with_faults_on_20_percent() -> None:
    records = [
        {"id": f"u{i:05d}", "properties": {"code": f"u{i:05d}", "v": i}}
        for i in range(SOAK_RECORDS)
    ]
    async with Emulator(soak_config(seed=11)) as emu:
        started = time.monotonic()
        async with soak_client(emu, seed=11) as client:
            result = await client.upsert("contacts", records, id_property="code")
        wall = time.monotonic() - started
        missing, duplicated = check_accounting(result, SOAK_RECORDS)
        report("soak upsert", result, emu, wall, missing, duplicated)
        assert missing == 0 and duplicated == 0
        assert_accounted(result, SOAK_RECORDS)
        assert_stored_matches(result, emu, "contacts", id_property="code")
        assert result.failed == [] and result.ok
        assert set(emu.stats.faults) == set(ALL_FAULT_KINDS)  # every kind was exercised
        stored = {r["properties"]["code"]: r["properties"]["v"] for r in emu.records("contacts")}
        assert stored == {f"u{i:05d}": str(i) for i in range(SOAK_RECORDS)}
        assert wall < 60


@pytest.mark.soak
async def test_soak_update_20k_with_faults_on_20_percent() -> None:
    async with Emulator(soak_config(seed=23)) as emu:
        ids = emu.preload("goal_targets", [{"v": "old"} for _ in range(SOAK_RECORDS)])
        records = [{"id": rid, "properties": {"v": f"new-{rid}"}} for rid in ids]
        started = time.monotonic()
        async with soak_client(emu, seed=23) as client:
            result = await client.update("goal_targets", records)
        wall = time.monotonic() - started
        missing, duplicated = check_accounting(result, SOAK_RECORDS)
        report("soak update", result, emu, wall, missing, duplicated)
        assert missing == 0 and duplicated == 0
        assert_accounted(result, SOAK_RECORDS)
        assert_stored_matches(result, emu, "goal_targets")
        assert result.failed == [] and result.ok
        assert set(emu.stats.faults) == set(ALL_FAULT_KINDS)
        stored = {r["id"]: r["properties"]["v"] for r in emu.records("goal_targets")}
        assert stored == {rid: f"new-{rid}" for rid in ids}
        assert wall < 60


async def test_soak_with_exhausted_retries_still_accounts_for_everything() -> None:
    # Faults on 60 % of requests and only 2 attempts: many chunks fail for good, yet every
    # input is reported exactly once, and every input reported written is stored.
    config = EmulatorConfig(
        token=TOKEN,
        rate_limit_requests=2000,
        rate_limit_window_seconds=1.0,
        faults=FaultConfig(rate=0.6, kinds=("500", "503", "reset", "html", "lost"), seed=5),
        properties=ACCOUNT,
    )
    records = [{"id": f"x{i}", "properties": {"code": f"x{i}", "v": i}} for i in range(3000)]
    async with Emulator(config) as emu:
        async with asyncbatch.BatchClient(
            TOKEN,
            base_url=emu.url,
            rate_limit=asyncbatch.RateLimit(2000, 1.0),
            retry=asyncbatch.RetryPolicy(max_attempts=2, backoff_base_seconds=0.01),
            seed=5,
        ) as client:
            result = await client.upsert("contacts", records, id_property="code")
        missing, duplicated = check_accounting(result, len(records))
        assert (missing, duplicated) == (0, 0)
        assert_accounted(result, len(records))
        assert_stored_matches(result, emu, "contacts", id_property="code")
        assert result.failed and result.status == "CANCELED"
        stored = {r["properties"]["code"] for r in emu.records("contacts")}
        assert {r.properties["code"] for r in result.results} <= stored
        assert all(f.reason for f in result.failed)


async def test_daily_limit_stops_the_run_and_reports_unsent(make_hubspot_emulator: Any) -> None:
    emu = await make_hubspot_emulator(
        properties=ACCOUNT, token=TOKEN, daily_limit=3, rate_limit_requests=1000
    )
    records = [{"id": f"d{i}", "properties": {"code": f"d{i}"}} for i in range(100)]
    async with asyncbatch.BatchClient(
        TOKEN,
        base_url=emu.url,
        chunk_size=10,
        max_concurrency=1,
        rate_limit=asyncbatch.RateLimit(1000, 10.0),
        check_properties="off",  # the daily quota counts batch requests exactly here
    ) as client:
        result = await client.upsert("contacts", records, id_property="code")
    assert result.status == "CANCELED"
    assert len(result.results) == 30 and len(emu.records("contacts")) == 30
    assert len(result.failed) == 70
    assert all("DAILY" in f.reason or "daily" in f.reason for f in result.failed)
    assert result.stats.requests == 4  # 3 written, 1 refused, then nothing more was sent
    assert check_accounting(result, 100) == (0, 0)
    assert_accounted(result, 100)
    assert_stored_matches(result, emu, "contacts", id_property="code")


class SignallingTransport:
    """Wraps the real transport; sets ``sent`` when the first request goes out."""

    def __init__(self) -> None:
        self.inner = AiohttpTransport(token=TOKEN, max_connections=4, user_agent="test")
        self.sent = asyncio.Event()

    async def post(self, url: str, body: bytes, *, timeout_seconds: float) -> RawResponse:
        self.sent.set()
        return await self.inner.post(url, body, timeout_seconds=timeout_seconds)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_cancelling_a_call_leaves_nothing_behind(make_hubspot_emulator: Any) -> None:
    emu = await make_hubspot_emulator(properties=ACCOUNT, token=TOKEN, latency_seconds=30.0)
    transport = SignallingTransport()
    records = [{"id": f"c{i}", "properties": {"code": f"c{i}"}} for i in range(1000)]
    before = asyncio.all_tasks()
    client = asyncbatch.BatchClient(base_url=emu.url, transport=transport, max_concurrency=4)
    task = asyncio.create_task(client.upsert("contacts", records, id_property="code"))
    await transport.sent.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # No task of the call survives it (the emulator's own server tasks share this loop).
    left = [t for t in asyncio.all_tasks() - before if "RequestHandler" not in repr(t)]
    assert left == []
    await client.aclose()
    assert transport.inner._session is None
    with pytest.raises(asyncbatch.ClientClosedError):
        await client.update("contacts", records)
    gc.collect()  # an unclosed session would warn here (the suite turns that into an error)


async def test_client_stays_usable_after_a_cancelled_call() -> None:
    arrived = asyncio.Event()

    @web.middleware
    async def signal_arrival(request: web.Request, handler: Any) -> web.StreamResponse:
        arrived.set()
        return await handler(request)

    emu = Emulator(EmulatorConfig(token=TOKEN, properties=ACCOUNT))
    emu.app.middlewares.append(signal_arrival)
    await emu.start()
    try:
        ids = emu.preload("goal_targets", [{"a": "1"}])
        async with asyncbatch.BatchClient(TOKEN, base_url=emu.url) as client:
            emu.inject("slow", count=1)  # the first request hangs (30 s) until cancelled
            task = asyncio.create_task(
                client.update("goal_targets", [{"id": ids[0], "properties": {"a": "x"}}])
            )
            await arrived.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            result = await client.update("goal_targets", [{"id": ids[0], "properties": {"a": "2"}}])
        assert result.ok
        assert_accounted(result, 1)
        assert_stored_matches(result, emu, "goal_targets")
        assert emu.record("goal_targets", ids[0])["properties"]["a"] == "2"
    finally:
        await emu.stop()


async def test_token_not_sent_to_another_host_on_redirect(make_hubspot_emulator: Any) -> None:
    seen: list[str | None] = []

    async def elsewhere(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response({"status": "COMPLETE", "results": []})

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"http://127.0.0.1:{other_port}/steal")

    other = web.Application()
    other.router.add_route("*", "/{tail:.*}", elsewhere)
    front = web.Application()
    front.router.add_route("*", "/{tail:.*}", redirect)
    runners = [web.AppRunner(other), web.AppRunner(front)]
    ports = []
    try:
        for runner in runners:
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            ports.append(runner.addresses[0][1])
        other_port = ports[0]
        async with asyncbatch.BatchClient(TOKEN, base_url=f"http://127.0.0.1:{ports[1]}") as client:
            result = await client.update("contacts", [{"id": "1", "properties": {}}])
    finally:
        for runner in runners:
            await runner.cleanup()
    assert seen == []  # the other host never heard from us, token or not
    assert result.failed[0].status_code == 307
    assert_accounted(result, 1)


async def test_token_absent_from_debug_logs_reprs_and_errors(
    make_hubspot_emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "pat-na1-11111111-2222-3333-4444-555555555555"
    caplog.set_level(logging.DEBUG)  # every logger, aiohttp's included
    emu = await make_hubspot_emulator(properties=ACCOUNT, token=secret)
    texts: list[str] = []
    for token in (secret, secret + "-revoked"):
        async with asyncbatch.BatchClient(token, base_url=emu.url) as client:
            texts.append(repr(client))
            result = await client.update("contacts", [{"id": "1", "properties": {}}])
        assert_accounted(result, 1)
        texts += [repr(result), str(result.to_dict()), *(f.reason for f in result.failed)]
        try:
            result.raise_for_errors()
        except asyncbatch.BatchFailedError as group:
            texts += [str(group), repr(group), *map(str, group.exceptions)]
    texts += [r.getMessage() for r in caplog.records]
    assert any("401" in t for t in texts)  # the second call did fail
    assert caplog.records
    assert not [t for t in texts if secret in t]
