"""``--check-properties`` and the dry run's value check (issue 14 item 3), and the daily budget
(issue 18 item 2): ``--daily-reserve``, ``--allow-partial``, against the emulator fixture.

What the emulator encodes: HubSpot serves an object type's property definitions at
``GET /crm/v3/properties/{objectType}`` (its "Read all properties" reference); every answer
carries ``X-HubSpot-RateLimit-Daily-Remaining``, "the number of API requests still allowed for
the current day", except answers to OAuth-authorized requests, which leave it out (HubSpot's
API usage guidelines, https://developers.hubspot.com/docs/api/usage-details:
``EmulatorConfig(daily_headers=False)``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from asyncbatch.cli._demo import DEMO_PROPERTIES
from asyncbatch.emulator import Emulator
from asyncbatch.emulator.pytest_plugin import MakeEmulator
from tests.cli._helpers import RunCli, run_process, upsert_argv, write_jsonl

pytestmark = pytest.mark.asyncio

SCHEMA_READ = "GET /crm/v3/properties/{objectType}"


def course(n: int, **properties: object) -> dict[str, Any]:
    return {"id": f"C{n}", "properties": {"course_code": f"C{n}", **properties}}


def courses(n: int) -> list[dict[str, Any]]:
    return [course(i, level="beginner") for i in range(n)]


def posts(emulator: Emulator) -> int:
    """Batch requests (anything but the schema read)."""
    return emulator.stats.total_requests - emulator.stats.routes[SCHEMA_READ]


# Lines 2, 4 and 7 have a level the account does not allow, line 5 a price that is no
# number, line 6 a property the account does not have; line 3's "Advanced" is converted.
MIXED = [
    course(0, level="beginner"),
    course(1, level="expert"),
    course(2, level="Advanced"),
    course(3, level="expert"),
    course(4, price="cheap"),
    course(5, colour="red"),
    course(6, level="EXPERT!"),
    course(7, level="intermediate"),
]


@pytest.mark.hubspot_emulator(strict=True, properties=DEMO_PROPERTIES)
async def test_dry_run_checks_values_with_one_get_and_predicts_the_run(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", MIXED)
    argv = upsert_argv(source, hubspot_emulator, "--chunk-size", "2")
    code, out, err = await run_cli(*argv, "--dry-run")
    assert code == 1, err
    # Reading the property definitions is the only request a dry run makes.
    assert hubspot_emulator.stats.routes == {SCHEMA_READ: 1}
    assert hubspot_emulator.stats.total_writes == 0
    assert "  chunks          4\n" in out
    # The chunk of lines 5 and 6 holds no record to send: it is no request.
    assert "  requests        4 (3 chunks + the schema read;" in out
    assert "  values          5 records would fail the " in out
    summary = out[out.index("would fail for their values") :].splitlines()[1:]
    assert summary == [
        "  level: INVALID_OPTION, 3 records (e.g. line 2, 'expert'; line 4, 'expert'; "
        "line 7, 'EXPERT!')",
        "    why: expert was not one of the allowed options: [beginner, intermediate, advanced]",
        "    allowed: beginner, intermediate, advanced",
        "  colour: PROPERTY_DOESNT_EXIST, 1 record (e.g. line 6)",
        '    why: Property "colour" does not exist',
        "  price: INVALID_LONG, 1 record (e.g. line 5, 'cheap')",
        "    why: cheap was not a valid long.",
    ]
    assert err.splitlines()[-1] == (
        "asyncbatch: dry run: 5 records would fail for their values (listed above); nothing "
        "was sent"
    )
    # The run does what the dry run said: the same 5 fail unsent, 3 chunks are sent.
    code, _, err = await run_cli(*argv, "--errors", str(tmp_path / "failed.jsonl"))
    assert code == 1, err
    assert posts(hubspot_emulator) == 3
    assert hubspot_emulator.stats.total_writes == 3
    failed = [json.loads(line) for line in (tmp_path / "failed.jsonl").read_text().splitlines()]
    assert sorted((f["_error"]["property"], f["_error"]["code"]) for f in failed) == [
        ("colour", "PROPERTY_DOESNT_EXIST"),
        ("level", "INVALID_OPTION"),
        ("level", "INVALID_OPTION"),
        ("level", "INVALID_OPTION"),
        ("price", "INVALID_LONG"),
    ]


@pytest.mark.hubspot_emulator(strict=True, properties=DEMO_PROPERTIES)
async def test_check_properties_off_asks_for_no_schema(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", MIXED)
    argv = upsert_argv(source, hubspot_emulator, "--check-properties", "off")
    code, out, err = await run_cli(*argv, "--dry-run")
    assert code == 0, err  # nothing is known to fail: the file itself is well formed
    assert hubspot_emulator.stats.total_requests == 0
    assert "values          not checked against the account (--check-properties off)" in out
    assert "left today: unknown (nothing is asked with --check-properties off)" in out
    code, _, err = await run_cli(*argv)
    assert code == 1, err
    # No schema read at all: the bad values go to HubSpot, which refuses them itself, at a
    # cost in requests (6 where the checked run of the test above sends 3), and "Advanced" is
    # refused too: only a check converts a label to its option's value.
    assert SCHEMA_READ not in hubspot_emulator.stats.routes
    assert hubspot_emulator.stats.status_counts[400] == 5
    assert posts(hubspot_emulator) == 6
    assert hubspot_emulator.stats.total_writes == 2
    assert (
        "left today: unknown (nothing is asked before the run with --check-properties off)" in err
    )


@pytest.mark.hubspot_emulator(strict=False)  # lenient: the definitions are not served (404)
async def test_check_properties_on_stops_before_sending_when_the_schema_is_unreadable(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", courses(10))
    argv = upsert_argv(source, hubspot_emulator, "--check-properties", "on")
    for more in ([], ["--dry-run"]):
        code, out, err = await run_cli(*argv, *more)
        assert code == 3, err
        assert err.splitlines() == [
            "asyncbatch: stopped: the run could not go on, nothing was sent: "
            "--check-properties on: the property definitions of 0-410 could not be read "
            "(HTTP 404 OBJECT_NOT_FOUND: property definitions are not served); "
            "--check-properties auto sends the values unchecked"
        ]
        assert out == ""
    assert hubspot_emulator.stats.routes == {SCHEMA_READ: 2}
    # auto: a note, and the records go unchecked, with no second schema read.
    code, _, err = await run_cli(*upsert_argv(source, hubspot_emulator))
    assert code == 0, err
    assert "note: the property definitions of 0-410 could not be read (HTTP 404 " in err
    assert hubspot_emulator.stats.routes[SCHEMA_READ] == 3
    assert posts(hubspot_emulator) == 1


async def test_dry_run_without_a_token(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN")
    source = write_jsonl(tmp_path / "in.jsonl", courses(10))
    code, out, err = await run_cli(*upsert_argv(source, hubspot_emulator, "--dry-run"))
    assert code == 0, err  # auto: checked offline only, said so
    assert "note: no access token" in err
    assert "values          not checked against the account (no access token)" in out
    assert hubspot_emulator.stats.total_requests == 0
    more = ["--dry-run", "--check-properties", "on"]
    code, _, err = await run_cli(*upsert_argv(source, hubspot_emulator, *more))
    assert code == 2
    assert err.splitlines()[-1].startswith(
        "asyncbatch: error: --check-properties on: no access token"
    )


@pytest.mark.hubspot_emulator(strict=True, properties=DEMO_PROPERTIES)
async def test_an_id_property_that_is_not_unique_is_refused_before_the_file_is_read(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", courses(10))
    argv = ["upsert", "0-410", str(source), "--id-property", "level"]
    for more in ([], ["--dry-run"]):
        code, _, err = await run_cli(*argv, "--base-url", hubspot_emulator.url, *more)
        assert code == 2, err
        assert err.splitlines()[-1].startswith(
            "asyncbatch: error: --id-property: 'level' is not a unique-value property of 0-410"
        )
    assert hubspot_emulator.stats.routes == {SCHEMA_READ: 2}


async def test_a_job_that_does_not_fit_today_is_refused_unless_allow_partial(
    make_hubspot_emulator: MakeEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    # 100 requests a day; the schema read leaves 99; --daily-reserve 90 leaves 9 to send, and
    # the job needs 12 chunks.
    emulator = await make_hubspot_emulator(daily_limit=100, strict=False)
    source = write_jsonl(tmp_path / "in.jsonl", courses(1200))
    summary = tmp_path / "summary.json"
    argv = upsert_argv(source, emulator, "--daily-reserve", "90", "--concurrency", "1")
    code, out, err = await run_cli(*argv, "--dry-run")
    assert code == 3, err
    assert (
        "  daily budget    13 requests needed (12 chunks + the schema read); 99 left today "
        "after the schema read, 90 kept by --daily-reserve: it does not fit"
    ) in out
    assert err.splitlines()[-1] == (
        "asyncbatch: stopped: the run could not go on, nothing was sent: the run would not "
        "start: this job needs 12 more requests and HubSpot says 99 are left today for the "
        "account, 90 of them kept by --daily-reserve: it would stop part-way; pass "
        "--allow-partial to send what fits (with --checkpoint, rerun the same command after "
        "the daily reset to send the rest)"
    )
    code, _, err = await run_cli(*argv, "--summary-json", str(summary))
    assert code == 3, err
    assert "nothing was sent: this job needs 12 more requests" in err
    assert emulator.stats.routes == {SCHEMA_READ: 2}
    document = json.loads(summary.read_text())
    assert document["daily_budget"] == {
        "needed": 13,
        "remaining_at_start": 98,
        "reserve": 90,
        "fits": False,
    }
    # --allow-partial: sent until the reserve, then stopped like HubSpot's daily limit.
    emulator.reset()
    code, _, err = await run_cli(*argv, "--allow-partial")
    assert code == 3, err
    assert "daily reserve reached: 90 requests left today for the account" in err
    assert posts(emulator) == 9
    assert len(emulator.records("0-410")) == 900


@pytest.mark.parametrize("daily_headers", [True, False])
async def test_the_budget_is_said_and_unknown_without_hubspots_header(
    make_hubspot_emulator: MakeEmulator, run_cli: RunCli, tmp_path: Path, daily_headers: bool
) -> None:
    emulator = await make_hubspot_emulator(
        daily_limit=1000, daily_headers=daily_headers, strict=False
    )
    source = write_jsonl(tmp_path / "in.jsonl", courses(250))
    code, _, err = await run_cli(*upsert_argv(source, emulator, "--daily-reserve", "10"))
    assert code == 0, err
    need = "asyncbatch: daily budget: 4 requests needed (3 chunks + the schema read); "
    if daily_headers:
        assert f"{need}999 left today after the schema read, 10 kept by --daily-reserve: " in err
        assert "left today             996 requests (HubSpot)" in err
    else:  # an OAuth app: no daily figure, and the job goes on
        assert (
            f"{need}left today: unknown (HubSpot sent no X-HubSpot-RateLimit-Daily-Remaining), "
            "10 kept by --daily-reserve\n"
        ) in err
        assert "left today  " not in err
    assert len(emulator.records("0-410")) == 250


async def test_stdin_needs_are_unknown_and_the_job_goes_on(
    make_hubspot_emulator: MakeEmulator, tmp_path: Path
) -> None:
    emulator = await make_hubspot_emulator(daily_limit=2, strict=False)
    source = write_jsonl(tmp_path / "in.jsonl", courses(150))
    argv = upsert_argv(source, emulator, "--format", "jsonl", "--concurrency", "1")
    argv[2] = "-"
    code, _, err = await run_process(*argv, stdin=source.read_bytes())
    assert (
        "daily budget: requests needed: unknown (stdin is read as it comes) + the schema "
        "read; 1 left today after the schema read"
    ) in err
    assert code == 3, err  # HubSpot's daily limit after the one chunk that fitted
    assert len(emulator.records("0-410")) == 100
