"""``python -m asyncbatch.emulator``: help, and a real server stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from asyncbatch.emulator.__main__ import config_from_args, main


def test_help_lists_options() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "asyncbatch.emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0
    for option in ("--port", "--host", "--token", "--rate-limit", "--fault-rate", "--lenient"):
        assert option in completed.stdout


def test_bad_fault_kind_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "0", "--fault-kinds", "teapot"]) == 2
    assert "unknown fault kinds" in capsys.readouterr().err


def test_options_become_config() -> None:
    import argparse

    from asyncbatch.emulator.__main__ import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--rate-limit", "10", "--rate-window", "1", "--fault-rate", "0.1", "--fault-kinds",
         "500,reset", "--daily-limit", "5", "--token", "t", "--no-shuffle"]
    )  # fmt: skip
    config = config_from_args(args)
    assert config.rate_limit_requests == 10
    assert config.rate_limit_window_seconds == 1.0
    assert config.daily_limit == 5
    assert config.token == "t"
    assert config.faults.rate == 0.1
    assert config.faults.kinds == ("500", "reset")
    assert config.shuffle_results is False
    assert config.strict is True  # as strict as HubSpot unless told otherwise


def test_lenient_and_hubspot_options_become_config(tmp_path: Path) -> None:
    import argparse

    from asyncbatch.emulator.__main__ import add_arguments

    definitions = tmp_path / "properties.json"
    definitions.write_text(
        json.dumps(
            {"2-123456": [{"name": "machine_id", "hasUniqueValue": True, "fieldType": "text"}]}
        ),
        encoding="utf-8",
    )
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--lenient", "--portal-id", "42", "--token-expires-after", "1800",
         "--properties", str(definitions)]
    )  # fmt: skip
    config = config_from_args(args)
    assert config.strict is False
    assert config.portal_id == 42
    assert config.token_expires_after_seconds == 1800.0
    (machine,) = config.properties["2-123456"]
    assert machine.has_unique_value is True and machine.field_type == "text"


def test_oauth_app_options_become_config(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from asyncbatch.emulator.__main__ import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--oauth-app", "cid,csecret,rtoken", "--oauth-token-lifetime", "60"])
    app = config_from_args(args).oauth
    assert app is not None and (app.client_id, app.client_secret) == ("cid", "csecret")
    assert app.refresh_token == "rtoken" and app.token_lifetime_seconds == 60
    assert "csecret" not in repr(app) and "rtoken" not in repr(app)
    assert config_from_args(parser.parse_args([])).oauth is None
    assert main(["--port", "0", "--oauth-app", "only-an-id"]) == 2
    assert "ID,SECRET,REFRESH_TOKEN" in capsys.readouterr().err


@pytest.mark.asyncio
async def test_serves_until_sigterm() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "asyncbatch.emulator",
        "--port",
        "0",
        "--token",
        "cli-token",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        assert line.startswith("HubSpot emulator listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1].strip()
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{url}/crm/v3/objects/contacts/batch/update",
                json={"inputs": []},
                headers={"Authorization": "Bearer cli-token"},
            ) as response:
                assert response.status == 200
            async with session.get(f"{url}/_emulator/stats") as response:
                assert (await response.json())["total_requests"] == 1
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.communicate()


def test_the_server_process_keeps_its_full_collections_short() -> None:
    # A full collection walks every object the process tracks; the emulator's store only
    # grows, and one of a process holding 10,000 records held the loop 15-27 ms, so a request
    # arriving meanwhile was counted that late. The server process freezes what it holds
    # at start and what survives each full collection: the next walks only what is new.
    script = """
import gc
from asyncbatch.emulator.__main__ import _freeze_after_full_collections
_freeze_after_full_collections()
started = gc.get_freeze_count()
held = [{"n": [n]} for n in range(5000)]
gc.collect()
print(started, gc.get_freeze_count() - started, gc.get_count()[0])
"""
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    started, frozen_since, young = map(int, completed.stdout.split())
    assert started > 10_000  # the imports and everything else held at start
    assert frozen_since >= 10_000  # what survived the full collection: 5,000 dicts and lists
    assert young == 0
