"""``asyncbatch update|upsert`` against the emulator fixture, in-process: CSV and JSON Lines,
results and dead-letter files, a dead-letter file fixed and fed back, every exit code,
--dry-run, and the token kept out of every output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asyncbatch.cli._demo import DEMO_PROPERTIES
from asyncbatch.emulator import Emulator
from asyncbatch.emulator.pytest_plugin import MakeEmulator
from tests.cli._helpers import RunCli, batch_requests, by_property, read_jsonl, write_jsonl

pytestmark = pytest.mark.asyncio


def courses(n: int, *, start: int = 0, level: str = "beginner") -> list[dict[str, object]]:
    return [
        {"id": f"C{i:04}", "properties": {"course_code": f"C{i:04}", "level": level, "n": i}}
        for i in range(start, start + n)
    ]


async def test_csv_upsert_writes_every_row_and_results_file(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    rows = ["code,name,price"] + [f"K{i},Course {i},{i}.5" for i in range(250)] + ["K250,,9"]
    (tmp_path / "in.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "results.jsonl"
    code, _, err = await run_cli(
        "upsert",
        "0-410",
        str(tmp_path / "in.csv"),
        "--id-property",
        "code",
        "--id-column",
        "code",
        "--base-url",
        hubspot_emulator.url,
        "--out",
        str(out),
    )
    assert code == 0, err
    stored = by_property(hubspot_emulator.records("0-410"), "code")
    assert len(stored) == 251
    assert stored["K7"]["properties"]["name"] == "Course 7"
    assert stored["K7"]["properties"]["price"] == "7.5"
    assert "name" not in stored["K250"]["properties"]  # an empty cell leaves it out
    lines = read_jsonl(out)
    assert len(lines) == 251
    first = next(line for line in lines if line["properties"]["code"] == "K0")
    assert first["new"] is True and first["_input"] == {"lines": [2], "positions": [0]}
    assert "records read           251" in err and "written                251" in err


async def test_jsonl_update_by_record_id_and_empty_clears(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    ids = hubspot_emulator.preload(
        "contacts", [{"email": f"{i}@x.test", "tag": "old"} for i in range(120)]
    )
    write_jsonl(tmp_path / "in.jsonl", [{"id": i, "properties": {"tag": "new"}} for i in ids])
    code, _, err = await run_cli(
        "update",
        "contacts",
        str(tmp_path / "in.jsonl"),
        "--base-url",
        hubspot_emulator.url,
        "--chunk-size",
        "50",
        "--concurrency",
        "3",
    )
    assert code == 0, err
    assert {r["properties"]["tag"] for r in hubspot_emulator.records("contacts")} == {"new"}
    assert batch_requests(hubspot_emulator) == 3
    (tmp_path / "clear.csv").write_text(f"id,tag\n{ids[0]},\n")
    code, _, err = await run_cli(
        "update",
        "contacts",
        str(tmp_path / "clear.csv"),
        "--empty-clears",
        "--base-url",
        hubspot_emulator.url,
    )
    assert code == 0, err
    assert not hubspot_emulator.record("contacts", ids[0])["properties"].get("tag")


@pytest.mark.hubspot_emulator(properties=DEMO_PROPERTIES)
async def test_failed_records_exit_1_and_the_fixed_dead_letters_feed_back(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    records = courses(300)
    for bad in (17, 150, 299):
        records[bad]["properties"]["level"] = "expert"  # type: ignore[index]
    write_jsonl(tmp_path / "in.jsonl", records)
    failed = tmp_path / "failed.jsonl"
    argv = ["--id-property", "course_code", "--base-url", hubspot_emulator.url]
    code, _, err = await run_cli(
        "upsert", "0-410", str(tmp_path / "in.jsonl"), *argv, "--errors", str(failed)
    )
    assert code == 1, err
    assert "3 records failed" in err
    dead = read_jsonl(failed)
    assert sorted(d["_error"]["line"] for d in dead) == [18, 151, 300]
    assert all(d["_error"]["category"] == "VALIDATION_ERROR" for d in dead)
    assert all(d["_error"]["status"] == 400 and d["_error"]["final"] for d in dead)
    assert len(hubspot_emulator.records("0-410")) == 297

    fixed = tmp_path / "fixed.jsonl"
    fixed.write_text(failed.read_text().replace('"expert"', '"advanced"'))
    code, _, err = await run_cli("upsert", "0-410", str(fixed), *argv)
    assert code == 0, err
    stored = by_property(hubspot_emulator.records("0-410"), "course_code")
    assert len(stored) == 300
    assert stored["C0150"]["properties"]["level"] == "advanced"


async def test_bad_json_line_mid_file_sends_nothing_unless_skipped(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    good = [json.dumps(r) for r in courses(250)]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join([*good, '{"id": "X", "properties": ', *good[:5]]) + "\n")
    checkpoint, errors = tmp_path / "ck.jsonl", tmp_path / "failed.jsonl"
    argv = ["upsert", "0-410", str(path), "--id-property", "course_code"]
    argv += ["--base-url", hubspot_emulator.url, "--checkpoint", str(checkpoint)]
    code, _, err = await run_cli(*argv)
    assert code == 2
    assert f"{path}, line 251: not valid JSON" in err
    assert "1 bad row of 256; nothing was sent" in err
    assert batch_requests(hubspot_emulator) == 0
    assert not checkpoint.exists()

    code, _, err = await run_cli(*argv, "--skip-bad-rows", "--errors", str(errors))
    assert code == 1, err
    assert "1 bad rows were skipped" in err
    assert len(hubspot_emulator.records("0-410")) == 250
    (dead,) = read_jsonl(errors)
    assert dead["_error"]["line"] == 251 and dead["_error"]["category"] == "BAD_ROW"
    assert dead["_error"]["raw"] == '{"id": "X", "properties": '
    entries = read_jsonl(checkpoint)[1:]
    assert sorted(p for e in entries for a, b in e["done"] for p in range(a, b)) == list(range(256))
    assert [p for e in entries for a, b in e.get("failed", ()) for p in range(a, b)] == [250]


async def test_bad_value_in_a_file_names_its_line_and_column_and_sends_nothing(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    records = courses(150)
    records[120]["properties"]["level"] = {"nested": "dict"}  # type: ignore[index]
    write_jsonl(tmp_path / "in.jsonl", records)
    code, _, err = await run_cli(
        "upsert",
        "0-410",
        str(tmp_path / "in.jsonl"),
        "--id-property",
        "course_code",
        "--base-url",
        hubspot_emulator.url,
    )
    assert code == 2
    assert "line 121, column 'level': unsupported value type dict" in err
    assert batch_requests(hubspot_emulator) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["upsert", "0-410", "{file}"], "Missing option '--id-property'"),
        (["update", "0-410", "{file}", "--rate", "fast"], "is not a rate"),
        (["update", "0-410", "{file}", "--chunk-size", "101"], "--chunk-size"),
        (["update", "0-410", "{dir}/nope.csv"], "no such file"),
        (["update", "0-410", "{dir}/in.txt"], "pass --format csv or jsonl"),
        (["update", "0-410", "{file}", "--token", "x"], "No such option '--token'"),
        (["update", "0-410", "{file}", "--token-file", "{dir}/none"], "cannot read --token-file"),
        (["update", "bad/type", "{file}"], "object_type must be"),
        (["update", "0-410", "{file}", "--base-url", "http://example.com"], "http"),
        (["update", "0-410", "-", "--checkpoint", "{dir}/ck"], "--format"),
        (["update", "0-410", "-", "--format", "csv", "--checkpoint", "{dir}/ck"], "stdin"),
    ],
)
async def test_usage_errors_exit_2_in_one_line(
    run_cli: RunCli, tmp_path: Path, argv: list[str], message: str
) -> None:
    write_jsonl(tmp_path / "in.jsonl", courses(3))
    (tmp_path / "in.txt").write_text("")
    argv = [a.format(file=tmp_path / "in.jsonl", dir=tmp_path) for a in argv]
    code, _, err = await run_cli(*argv)
    assert code == 2
    assert message in err


async def test_no_token_is_a_usage_error(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN")
    write_jsonl(tmp_path / "in.jsonl", courses(3))
    code, _, err = await run_cli("update", "0-410", str(tmp_path / "in.jsonl"))
    assert code == 2
    assert err.strip() == (
        "asyncbatch: error: no access token: set HUBSPOT_ACCESS_TOKEN (or HUBSPOT_CLIENT_ID, "
        "HUBSPOT_CLIENT_SECRET and HUBSPOT_REFRESH_TOKEN, a public app's credentials) or pass "
        "--token-file PATH (or try --sandbox)"
    )


async def test_checkpoint_of_another_input_is_refused(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    write_jsonl(tmp_path / "a.jsonl", courses(3))
    write_jsonl(tmp_path / "b.jsonl", courses(4))
    argv = [
        "--id-property",
        "course_code",
        "--base-url",
        hubspot_emulator.url,
        "--checkpoint",
        str(tmp_path / "ck.jsonl"),
    ]
    assert (await run_cli("upsert", "0-410", str(tmp_path / "a.jsonl"), *argv))[0] == 0
    code, _, err = await run_cli("upsert", "0-410", str(tmp_path / "b.jsonl"), *argv)
    assert code == 2
    assert "was written for another input or job" in err
    code, _, err = await run_cli("upsert", "0-420", str(tmp_path / "a.jsonl"), *argv)
    assert code == 2
    assert "object_type '0-410' (now '0-420')" in err


async def test_daily_limit_stops_the_run_with_exit_3_and_the_rest_resumes(
    make_hubspot_emulator: MakeEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    # Three requests a day: the schema read (the token check) and two chunks.
    emulator = await make_hubspot_emulator(daily_limit=3, strict=False)
    write_jsonl(tmp_path / "in.jsonl", courses(500))
    failed = tmp_path / "failed.jsonl"
    checkpoint = tmp_path / "ck.jsonl"
    argv = [
        "upsert",
        "0-410",
        str(tmp_path / "in.jsonl"),
        "--id-property",
        "course_code",
        "--concurrency",
        "1",
        "--errors",
        str(failed),
        "--checkpoint",
        str(checkpoint),
    ]
    # The job needs 5 chunks and 2 requests are left after the schema read: by default it
    # does not start (issue 18 item 2), nothing sent, no output file opened.
    code, _, err = await run_cli(*argv, "--base-url", emulator.url)
    assert code == 3, err
    assert "6 requests needed (5 chunks + the schema read); 2 left today after" in err
    assert "this job needs 5 more requests and HubSpot says 2 are left today" in err
    assert emulator.stats.routes == {"GET /crm/v3/properties/{objectType}": 1}
    assert not failed.exists() and not checkpoint.exists()
    # --allow-partial sends what fits, then HubSpot's DAILY 429 stops the run.
    emulator.reset()
    code, _, err = await run_cli(*argv, "--base-url", emulator.url, "--allow-partial")
    assert code == 3, err
    assert "stopped: the run could not go on" in err
    assert len(emulator.records("0-410")) == 200
    dead = read_jsonl(failed)
    assert dead and all(not d["_error"]["final"] for d in dead)  # left for the rerun
    # A new day (a fresh account): the same command sends only what was not written.
    fresh = await make_hubspot_emulator(strict=False)
    code, _, err = await run_cli(*argv, "--base-url", fresh.url)
    assert code == 0, err
    assert len(fresh.records("0-410")) == 300
    assert "skipped (checkpoint)   200" in err
    assert "4 requests needed (3 chunks + the schema read)" in err  # the finished not counted


async def test_token_is_never_printed_or_written(
    make_hubspot_emulator: MakeEmulator, run_cli: RunCli, tmp_path: Path
) -> None:
    secret = "pat-na1-0b5e6c2d-SECRET-9f1a"
    emulator = await make_hubspot_emulator(token=secret, properties=DEMO_PROPERTIES, strict=False)
    records = courses(120)
    records[5]["properties"]["level"] = "expert"  # type: ignore[index]
    write_jsonl(tmp_path / "in.jsonl", records)
    (tmp_path / "token").write_text(secret + "\n")
    (tmp_path / "wrong").write_text("pat-na1-WRONG\n")
    files = {name: tmp_path / name for name in ("out.jsonl", "err.jsonl", "ck.jsonl")}
    argv = [
        "upsert",
        "0-410",
        str(tmp_path / "in.jsonl"),
        "--id-property",
        "course_code",
        "--base-url",
        emulator.url,
        "--out",
        str(files["out.jsonl"]),
        "--debug",
        "--errors",
        str(files["err.jsonl"]),
        "--checkpoint",
        str(files["ck.jsonl"]),
        "--progress-interval",
        "0.01",
    ]
    outputs = []
    code, out, err = await run_cli(*argv, "--token-file", str(tmp_path / "token"))
    assert code == 1, err  # written with the right token, one bad record
    outputs += [out, err]
    assert len(emulator.records("0-410")) == 119
    for path in files.values():
        path.unlink()
    code, out, err = await run_cli(*argv, "--token-file", str(tmp_path / "wrong"))
    assert code == 3, err  # 401: the run cannot go on
    outputs += [out, err]
    assert "401" in err
    outputs += [path.read_text() for path in files.values() if path.exists()]
    assert all(secret not in text and "WRONG" not in text for text in outputs)


async def test_dry_run_validates_everything_and_sends_nothing(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    records = courses(1050)
    records.insert(4, records[3])  # a duplicate in the same chunk: coalesced
    write_jsonl(tmp_path / "in.jsonl", records)
    argv = [
        "upsert",
        "0-410",
        "--id-property",
        "course_code",
        "--dry-run",
        "--base-url",
        hubspot_emulator.url,
        "--rate",
        "100/10s",
        "--chunk-size",
        "50",
    ]
    code, out, err = await run_cli(*argv[:2], str(tmp_path / "in.jsonl"), *argv[2:])
    assert code == 0, err
    assert "records         1,051" in out
    assert "chunks          21" in out
    assert "estimated time  2.1 s" in out
    rows = ["id,level", "1,beginner", "2", "3,advanced", ",beginner"]
    (tmp_path / "in.csv").write_text("\n".join(rows) + "\n")
    code, out, err = await run_cli(*argv[:2], str(tmp_path / "in.csv"), *argv[2:])
    assert code == 2
    assert "invalid         2" in out
    assert f"{tmp_path / 'in.csv'}, line 3: 1 fields, but the header has 2" in err
    assert f"{tmp_path / 'in.csv'}, line 5, column 'id': id must not be empty" in err
    # Each dry run's only request: the property definitions (issue 14), 404 here (lenient).
    assert hubspot_emulator.stats.routes == {"GET /crm/v3/properties/{objectType}": 2}
