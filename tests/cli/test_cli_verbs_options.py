"""The checking, budget and proxy options (issues 14 item 3, 18 items 2-3) on the commands that
came with issue 17 item 4: ``read``, ``create`` and ``archive``, against the emulator fixture.

What applies where: ``--daily-reserve``, ``--allow-partial``, the daily budget line and
``--proxy`` apply to all five commands alike; ``--check-properties`` checks ``create``'s values
as it checks an update's, decides for ``read`` which properties ``--out`` keeps as writable back,
and has nothing to check for ``archive`` (``on`` is refused; ``off`` skips the first request).
Each daily figure is the emulator's ``X-HubSpot-RateLimit-Daily-Remaining``, "the number of API
requests still allowed for the current day" (HubSpot's API usage guidelines,
https://developers.hubspot.com/docs/api/usage-details).
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from asyncbatch.cli._demo import DEMO_PROPERTIES
from asyncbatch.emulator import Emulator
from asyncbatch.emulator.pytest_plugin import MakeEmulator
from tests.cli._helpers import RunCli, read_jsonl, write_jsonl
from tests.forward_proxy import running_proxy

pytestmark = pytest.mark.asyncio

SCHEMA_READ = "GET /crm/v3/properties/{objectType}"
BATCH = "POST /crm/v3/objects/{objectType}/batch/{operation}"  # read, create, archive...


def courses(n: int, *, level: str = "beginner") -> list[dict[str, str]]:
    return [{"course_code": f"C{i:04}", "level": level} for i in range(n)]


def ids_file(path: Path, ids: list[str]) -> Path:
    path.write_text("".join(f"{i}\n" for i in ids))
    return path


async def test_read_refused_by_the_daily_budget_sends_nothing_unless_allow_partial(
    make_hubspot_emulator: MakeEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    # 100 requests a day; the schema read leaves 99, --daily-reserve 95 keeps 95: 4 to send,
    # and 1,000 ids read 100 a request need 10.
    emulator = await make_hubspot_emulator(daily_limit=100, strict=False)
    ids = emulator.preload("0-410", courses(1000))
    source = ids_file(tmp_path / "ids.txt", ids)
    argv = ["read", "0-410", str(source), "--daily-reserve", "95", "--concurrency", "1"]
    argv += ["--base-url", emulator.url, "--out", str(tmp_path / "out.jsonl")]
    code, _, err = await run_cli(*argv)
    assert code == 3, err
    assert (
        "asyncbatch: daily budget: 11 requests needed (10 chunks + the schema read); 99 left "
        "today after the schema read, 95 kept by --daily-reserve: it does not fit"
    ) in err
    assert err.splitlines()[-1].startswith(
        "asyncbatch: stopped: the run could not go on, nothing was sent: this job needs 10 "
        "more requests and HubSpot says 99 are left today for the account"
    )
    assert emulator.stats.routes == {SCHEMA_READ: 1}
    assert not (tmp_path / "out.jsonl").exists()  # refused before any output file is opened
    # --allow-partial: read until the reserve, then stopped like HubSpot's daily limit.
    code, _, err = await run_cli(*argv, "--allow-partial")
    assert code == 3, err
    assert "daily reserve reached: 95 requests left today for the account" in err
    # 98 left after this run's schema read: 3 chunks fit above the reserve.
    assert emulator.stats.routes[BATCH] == 3
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 300


async def test_read_with_history_counts_50_ids_a_request(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    # HubSpot's batch read takes at most 50 ids with propertiesWithHistory; the client cuts
    # its chunks so, and the budget counts them so.
    ids = hubspot_emulator.preload("0-410", courses(120))
    source = ids_file(tmp_path / "ids.txt", ids)
    base = ["read", "0-410", str(source), "--base-url", hubspot_emulator.url, "--dry-run"]
    code, out, err = await run_cli(*base)
    assert code == 0, err
    assert "  requests        3 (2 chunks + the schema read;" in out
    code, out, err = await run_cli(*base, "--properties-with-history", "level")
    assert code == 0, err
    assert "  requests        4 (3 chunks + the schema read;" in out
    assert "  values          none to check (read takes ids)" in out


@pytest.mark.hubspot_emulator(strict=False)  # lenient: the definitions are not served (404)
async def test_read_check_properties_on_stops_and_off_asks_nothing(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    ids = hubspot_emulator.preload("0-410", courses(5))
    source = ids_file(tmp_path / "ids.txt", ids)
    out = tmp_path / "out.jsonl"
    argv = ["read", "0-410", str(source), "--properties", "course_code,hs_createdate"]
    argv += ["--base-url", hubspot_emulator.url, "--out", str(out)]
    code, _, err = await run_cli(*argv, "--check-properties", "on")
    assert code == 3, err
    assert err.splitlines()[-1] == (
        "asyncbatch: stopped: the run could not go on, nothing was sent: --check-properties "
        "on: the property definitions of 0-410 could not be read (HTTP 404 OBJECT_NOT_FOUND: "
        "property definitions are not served); --check-properties auto keeps in --out every "
        "property read but HubSpot's system ones"
    )
    assert hubspot_emulator.stats.routes == {SCHEMA_READ: 1}
    code, _, err = await run_cli(*argv, "--check-properties", "off")
    assert code == 0, err
    assert hubspot_emulator.stats.routes == {SCHEMA_READ: 1, BATCH: 1}  # no second schema read
    # Without the definitions, --out keeps all but HubSpot's system properties.
    assert {tuple(line["properties"]) for line in read_jsonl(out)} == {("course_code",)}
    assert (
        "left today: unknown (nothing is asked before the run with --check-properties off)" in err
    )


@pytest.mark.hubspot_emulator(strict=True, properties=DEMO_PROPERTIES)
async def test_archive_has_no_values_to_check(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    ids = hubspot_emulator.preload("0-410", courses(3))
    source = ids_file(tmp_path / "ids.txt", ids)
    argv = ["archive", "0-410", str(source), "--yes", "--base-url", hubspot_emulator.url]
    code, _, err = await run_cli(*argv, "--check-properties", "on")
    assert code == 2, err
    assert "archive sends ids, no values: --check-properties on has nothing to check" in err
    assert hubspot_emulator.stats.total_requests == 0
    code, _, err = await run_cli(*argv, "--check-properties", "off")
    assert code == 0, err
    assert hubspot_emulator.stats.routes == {BATCH: 1}  # no first request
    assert hubspot_emulator.archived("0-410") == ids


async def test_archive_refused_by_the_daily_budget_archives_nothing(
    make_hubspot_emulator: MakeEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    emulator = await make_hubspot_emulator(daily_limit=3, strict=False)
    ids = emulator.preload("0-410", courses(300))
    source = ids_file(tmp_path / "ids.txt", ids)
    argv = ["archive", "0-410", str(source), "--yes", "--base-url", emulator.url]
    code, out, err = await run_cli(*argv, "--dry-run")
    assert code == 3, err
    assert "  to archive      300 ids" in out
    assert (
        "  daily budget    4 requests needed (3 chunks + the schema read); 2 left today after "
        "the schema read: it does not fit"
    ) in out
    code, _, err = await run_cli(*argv)
    assert code == 3, err
    assert "nothing was sent: this job needs 3 more requests and HubSpot says 1 are left" in err
    assert emulator.archived("0-410") == []
    assert emulator.stats.routes == {SCHEMA_READ: 2}


@pytest.mark.hubspot_emulator(strict=True, properties=DEMO_PROPERTIES)
async def test_create_values_are_checked_in_the_dry_run_and_the_run(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    records = [{"properties": c} for c in courses(4)]
    records[2]["properties"]["level"] = "expert"
    source = write_jsonl(tmp_path / "new.jsonl", records)
    argv = ["create", "0-410", str(source), "--base-url", hubspot_emulator.url]
    code, out, err = await run_cli(*argv, "--dry-run")
    assert code == 1, err
    assert "  to create       3 records" in out
    assert "  level: INVALID_OPTION, 1 record (e.g. line 3, 'expert')" in out
    assert hubspot_emulator.stats.routes == {SCHEMA_READ: 1}
    code, _, err = await run_cli(*argv, "--errors", str(tmp_path / "failed.jsonl"))
    assert code == 1, err
    assert len(hubspot_emulator.records("0-410")) == 3
    (failed,) = read_jsonl(tmp_path / "failed.jsonl")
    assert failed["_error"]["code"] == "INVALID_OPTION" and failed["_error"]["sent"] is False


async def test_create_through_the_proxy_option(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    user, secret = "etl", "Cr3ate-Pr0xy-pw"
    source = write_jsonl(tmp_path / "new.jsonl", [{"properties": c} for c in courses(150)])
    summary = tmp_path / "summary.json"
    async with running_proxy() as proxy:
        via = proxy.url.replace("http://", f"http://{user}:{secret}@")
        code, out, err = await run_cli(
            "create", "0-410", str(source), "--base-url", hubspot_emulator.url,
            "--proxy", via, "--out", str(tmp_path / "out.jsonl"), "--summary-json", str(summary),
        )  # fmt: skip
    assert code == 0, err
    assert len(hubspot_emulator.records("0-410")) == 150
    # The schema read and two creates, each through the proxy with its credentials.
    assert len(proxy.seen) == hubspot_emulator.stats.total_requests == 3
    expected = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
    assert {auth for _, auth in proxy.seen} == {expected}
    assert "created                150" in err
    written = (tmp_path / "out.jsonl").read_text()
    assert all(secret not in text for text in (out, err, summary.read_text(), written))
