"""``asyncbatch read``, ``create`` and ``archive`` against the emulator (issue 17 item 4): each
command's run, read's output fed back to update and upsert with the stored records unchanged, a
207 read with a missing id, an archive refused without a terminal or confirmed on one, an
archive's dry run that sends nothing, a create whose answer is lost reported as of unknown
outcome and never resent by a checkpoint rerun unless asked, exit codes and --api-version.

No test sleeps to wait for something: in-process runs are awaited, processes waited on.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
from pathlib import Path

import pytest

from asyncbatch.emulator import Emulator
from tests.cli._helpers import (
    CLI,
    RunCli,
    batch_requests,
    by_property,
    journaled,
    read_jsonl,
    run_process,
    subprocess_env,
    write_jsonl,
)

pytestmark = pytest.mark.asyncio


def courses(n: int, *, prefix: str = "C", level: str = "beginner") -> list[dict[str, str]]:
    return [
        {"course_code": f"{prefix}{i:04}", "level": level, "hs_course_name": f"Course {i}"}
        for i in range(n)
    ]


def ids_file(path: Path, ids: list[str]) -> Path:
    path.write_text("".join(f"{i}\n" for i in ids))
    return path


def stored(emulator: Emulator) -> dict[str, dict[str, str]]:
    """The emulator's 0-410 properties by record id, without the timestamps a write moves."""
    moving = {"hs_lastmodifieddate"}
    return {
        r["id"]: {k: v for k, v in r["properties"].items() if k not in moving}
        for r in emulator.records("0-410")
    }


# -- read ------------------------------------------------------------------------------------


async def test_read_writes_each_record_in_input_shape_with_hubspots_facts_aside(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    ids = hubspot_emulator.preload("0-410", courses(250))
    out = tmp_path / "records.jsonl"
    code, _, err = await run_cli(
        "read",
        "0-410",
        str(ids_file(tmp_path / "ids.txt", ids)),
        "--properties",
        "course_code, level",
        "--out",
        str(out),
        "--base-url",
        hubspot_emulator.url,
    )
    assert code == 0, err
    assert "found                  250" in err
    lines = read_jsonl(out)
    assert sorted(line["id"] for line in lines) == sorted(ids)
    first = next(line for line in lines if line["id"] == ids[0])
    # Only the properties asked for that can be written back; HubSpot's system ones aside.
    assert first["properties"] == {"course_code": "C0000", "level": "beginner"}
    assert first["_record"]["id"] == ids[0]
    assert first["_record"]["properties"]["hs_object_id"] == ids[0]
    assert first["_record"]["archived"] is False and "createdAt" in first["_record"]
    assert first["_input"] == {"lines": [1], "positions": [0]}
    assert batch_requests(hubspot_emulator) == 3


@pytest.mark.hubspot_emulator(strict=True)
async def test_reads_output_fed_back_to_update_leaves_the_records_unchanged(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    # Strict: the emulator refuses read-only properties and unknown ones as HubSpot does, so
    # the backup must hold only what can be written back.
    ids = hubspot_emulator.preload("0-410", courses(120))
    before = stored(hubspot_emulator)
    backup = tmp_path / "backup.jsonl"
    url = ["--base-url", hubspot_emulator.url]
    code, _, err = await run_cli(
        "read",
        "0-410",
        str(ids_file(tmp_path / "ids.txt", ids)),
        "--properties",
        "course_code,level,hs_course_name,hs_object_id",
        "--out",
        str(backup),
        *url,
    )
    assert code == 0, err
    assert all("hs_object_id" not in line["properties"] for line in read_jsonl(backup))
    writes = hubspot_emulator.stats.total_writes

    code, _, err = await run_cli("update", "0-410", str(backup), *url)
    assert code == 0, err
    assert hubspot_emulator.stats.total_writes == writes + 120  # every record written back
    assert stored(hubspot_emulator) == before

    # Named by a unique property, the backup feeds upsert too.
    by_code = tmp_path / "by_code.jsonl"
    codes = ids_file(tmp_path / "codes.txt", [f"C{i:04}" for i in range(120)])
    code, _, err = await run_cli(
        "read", "0-410", str(codes), "--id-property", "course_code", "--properties", "level",
        "--out", str(by_code), *url,
    )  # fmt: skip
    assert code == 0, err
    line = read_jsonl(by_code)[0]
    assert line["idProperty"] == "course_code" and line["id"] == line["properties"]["course_code"]
    code, _, err = await run_cli(
        "upsert", "0-410", str(by_code), "--id-property", "course_code", *url
    )
    assert code == 0, err
    assert stored(hubspot_emulator) == before
    assert len(hubspot_emulator.records("0-410")) == 120  # nothing created


@pytest.mark.parametrize(("version", "status"), [("v3", 207), ("2026-09", 200)])
async def test_a_missing_id_is_a_failed_input_with_hubspots_reason(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path, version: str, status: int
) -> None:
    # HubSpot answers a read with missing ids 207 (v3) or 200 with errors (2026-09), naming
    # them OBJECT_NOT_FOUND (the reference OpenAPI files, Rollouts/424).
    ids = hubspot_emulator.preload("0-410", courses(5))
    source = ids_file(tmp_path / "ids.txt", [ids[0], "999999", *ids[1:]])
    out, errors, summary = tmp_path / "out.jsonl", tmp_path / "err.jsonl", tmp_path / "s.json"
    code, _, err = await run_cli(
        "read", "0-410", str(source), "--out", str(out), "--errors", str(errors),
        "--summary-json", str(summary), "--api-version", version,
        "--base-url", hubspot_emulator.url,
    )  # fmt: skip
    assert code == 1, err
    assert "asyncbatch: 1 records failed (see" in err
    assert len(read_jsonl(out)) == 5
    (missing,) = read_jsonl(errors)
    assert missing["id"] == "999999" and "properties" not in missing
    assert missing["_error"]["category"] == "OBJECT_NOT_FOUND"
    assert missing["_error"]["status"] == status
    assert missing["_error"]["final"] is True and missing["_error"]["line"] == 2
    document = json.loads(summary.read_text())
    assert document["api_version"] == version and document["operation"] == "read"
    assert document["records"]["written"] == 5 and document["records"]["failed"] == 1

    # The errors file feeds back as IDS_FILE (JSON Lines: its 'id', '_error' ignored).
    code, _, err = await run_cli("read", "0-410", str(errors), "--base-url", hubspot_emulator.url)
    assert code == 1 and "1 records failed" in err


async def test_read_takes_a_csv_id_column_history_and_archived_records(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    ids = hubspot_emulator.preload("0-410", courses(60))
    source = tmp_path / "ids.csv"
    source.write_text("name;record\n" + "".join(f"x;{i}\n" for i in ids))
    out = tmp_path / "out.jsonl"
    url = ["--base-url", hubspot_emulator.url]
    code, _, err = await run_cli(
        "read", "0-410", str(source), "--id-column", "record",
        "--properties-with-history", "level", "--out", str(out), *url,
    )  # fmt: skip
    assert code == 0, err
    assert batch_requests(hubspot_emulator) == 2  # with history: 50 ids a request
    line = read_jsonl(out)[0]
    assert line["_record"]["propertiesWithHistory"]["level"][0]["value"] == "beginner"

    code, _, err = await run_cli("archive", "0-410", str(source), "--id-column", "record",
                                 "--yes", *url)  # fmt: skip
    assert code == 0, err
    code, _, err = await run_cli("read", "0-410", str(source), "--id-column", "record", *url)
    assert code == 1  # archived: not found without --archived
    code, _, err = await run_cli(
        "read", "0-410", str(source), "--id-column", "record", "--archived", "--out", str(out),
        *url,
    )  # fmt: skip
    assert code == 0, err
    assert all(line["_record"]["archived"] for line in read_jsonl(out))


async def test_read_resumes_from_its_checkpoint(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    ids = hubspot_emulator.preload("0-410", courses(300))
    source = ids_file(tmp_path / "ids.txt", ids)
    checkpoint, out = tmp_path / "ck.jsonl", tmp_path / "out.jsonl"
    argv = ["read", "0-410", str(source), "--properties", "level", "--checkpoint", str(checkpoint)]
    argv += ["--out", str(out), "--concurrency", "1", "--base-url", hubspot_emulator.url]
    hubspot_emulator.inject("503", count=5)  # every try of the first chunk
    code, _, err = await run_cli(*argv)
    assert code == 1, err
    assert journaled(checkpoint) == set(range(100, 300))
    requests = batch_requests(hubspot_emulator)

    code, _, err = await run_cli(*argv)
    assert code == 0, err
    assert batch_requests(hubspot_emulator) == requests + 1  # only the first chunk again
    assert sorted(line["id"] for line in read_jsonl(out)) == sorted(ids)

    code, _, err = await run_cli(*argv[:3], "--properties", "level,price", *argv[5:])
    assert code == 2 and "written for another input or job" in err


# -- create ----------------------------------------------------------------------------------


async def test_create_from_a_csv_without_ids(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    source = tmp_path / "new.csv"
    source.write_text("course_code,level\n" + "".join(f"N{i},beginner\n" for i in range(150)))
    out = tmp_path / "created.jsonl"
    code, _, err = await run_cli(
        "create", "0-410", str(source), "--out", str(out), "--base-url", hubspot_emulator.url
    )
    assert code == 0, err
    assert "created                150" in err
    assert sorted(by_property(hubspot_emulator.records("0-410"), "course_code")) == sorted(
        f"N{i}" for i in range(150)
    )
    created = read_jsonl(out)
    assert {line["id"] for line in created} == {r["id"] for r in hubspot_emulator.records("0-410")}


async def test_a_created_chunk_whose_answer_is_lost_is_never_resent_unless_asked(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    # The emulator's "lost" fault applies the write, then drops the connection: the client
    # cannot know the records were created, and a resend would create them twice.
    records = [{"properties": p} for p in courses(250, prefix="L")]
    source = write_jsonl(tmp_path / "new.jsonl", records)
    checkpoint, errors, summary = tmp_path / "ck.jsonl", tmp_path / "err.jsonl", tmp_path / "s.json"
    argv = ["create", "0-410", str(source), "--checkpoint", str(checkpoint), "--errors"]
    argv += [str(errors), "--concurrency", "1", "--base-url", hubspot_emulator.url]
    hubspot_emulator.inject("lost")  # the first chunk
    code, _, err = await run_cli(*argv, "--summary-json", str(summary))
    assert code == 1, err
    assert "outcome unknown        100 (may have been created" in err
    assert "100 records may or may not have been created (outcome unknown" in err
    assert len(hubspot_emulator.records("0-410")) == 250  # applied once each
    dead = read_jsonl(errors)
    assert len(dead) == 100
    assert {d["_error"]["category"] for d in dead} == {"OUTCOME_UNKNOWN"}
    assert all("id" not in d and d["_error"]["final"] is False for d in dead)
    assert json.loads(summary.read_text())["records"]["outcome_unknown"] == 100
    assert journaled(checkpoint) == set(range(250))
    requests = batch_requests(hubspot_emulator)

    code, _, err = await run_cli(*argv)  # the rerun sends nothing
    assert code == 1, err
    assert "100 records of unknown outcome are on record from earlier runs" in err
    assert batch_requests(hubspot_emulator) == requests
    assert len(hubspot_emulator.records("0-410")) == 250

    code, _, err = await run_cli(*argv, "--resend-unknown")  # the user's say-so
    assert code == 0, err
    assert len(hubspot_emulator.records("0-410")) == 350  # created twice, as warned
    code, _, err = await run_cli(*argv)
    assert code == 0, err  # settled: nothing unknown on record any more
    assert batch_requests(hubspot_emulator) == requests + 1


async def test_a_create_whose_output_fails_journals_what_it_created_and_never_duplicates(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    # --out on /dev/full fails at the first answer: the run reads no more input, the chunks
    # the client holds finish and are journaled (their records were created), exit 3.
    records = [{"properties": p} for p in courses(500, prefix="F")]
    source = write_jsonl(tmp_path / "new.jsonl", records)
    checkpoint = tmp_path / "ck.jsonl"
    argv = ["create", "0-410", str(source), "--checkpoint", str(checkpoint)]
    argv += ["--concurrency", "1", "--base-url", hubspot_emulator.url]
    code, _, err = await run_process(*argv, "--out", "/dev/full")
    assert code == 3, err
    assert "cannot write /dev/full" in err
    created = {int(c[1:]) for c in by_property(hubspot_emulator.records("0-410"), "course_code")}
    assert 100 <= len(created) < 500
    assert journaled(checkpoint) == created
    assert f"created                {len(created)}" in err

    code, _, err = await run_process(*argv)
    assert code == 0, err
    codes = [r["properties"]["course_code"] for r in hubspot_emulator.records("0-410")]
    assert sorted(codes) == [f"F{i:04}" for i in range(500)]  # each once


# -- archive ---------------------------------------------------------------------------------


async def test_archive_without_a_terminal_needs_yes_and_sends_nothing(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    ids = hubspot_emulator.preload("0-410", courses(3))
    source = ids_file(tmp_path / "ids.txt", ids)
    code, _, err = await run_cli(
        "archive", "0-410", str(source), "--base-url", hubspot_emulator.url
    )
    assert code == 2
    assert "archive asks for confirmation on a terminal" in err and "pass --yes" in err
    assert hubspot_emulator.stats.total_requests == 0
    code, _, err = await run_cli("archive", "0-410", "-", "--format", "ids", "--sandbox")
    assert code == 2 and "stdin is the input" in err

    code, _, err = await run_cli(
        "archive", "0-410", str(source), "--yes", "--out", str(tmp_path / "out.jsonl"),
        "--base-url", hubspot_emulator.url,
    )  # fmt: skip
    assert code == 0, err
    assert "archived               3" in err
    assert hubspot_emulator.archived("0-410") == ids
    assert [line["id"] for line in read_jsonl(tmp_path / "out.jsonl")] == ids


async def test_archive_dry_run_counts_and_sends_nothing(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    ids = hubspot_emulator.preload("0-410", courses(50))
    source = ids_file(tmp_path / "ids.txt", [*ids, ids[0], ids[1]])  # two named twice
    code, out, err = await run_cli(
        "archive", "0-410", str(source), "--dry-run", "--base-url", hubspot_emulator.url
    )
    assert code == 0, err
    assert "dry run: archive 0-410" in out
    assert "records         52" in out and "coalesced       2" in out
    assert "to archive      50 ids" in out
    assert "none to check (archive takes ids)" in out
    assert "daily budget    2 requests needed (1 chunk + the schema read)" in out
    # Its one request reads the property definitions (the token and the daily budget).
    assert hubspot_emulator.stats.routes == {"GET /crm/v3/properties/{objectType}": 1}
    assert hubspot_emulator.archived("0-410") == []


async def test_archive_refuses_a_line_naming_its_record_by_a_property(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    source = write_jsonl(
        tmp_path / "ids.jsonl", [{"id": "1"}, {"id": "a@b.test", "idProperty": "email"}]
    )
    code, _, err = await run_cli("archive", "0-410", str(source), "--yes", "--base-url",
                                 hubspot_emulator.url)  # fmt: skip
    assert code == 2
    assert "line 2, column 'idProperty': archive takes record ids only" in err
    assert batch_requests(hubspot_emulator) == 0


async def _archive_on_a_terminal(url: str, source: Path, answer: bytes) -> tuple[int, str]:
    """``asyncbatch archive`` as a process whose stdin is a terminal (a pseudo-terminal),
    typing ``answer``."""
    controller, terminal = pty.openpty()
    try:
        os.write(controller, answer)  # typed ahead: the terminal keeps the line
        process = await asyncio.create_subprocess_exec(
            *CLI, "archive", "0-410", str(source), "--base-url", url,
            stdin=terminal, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=subprocess_env(HUBSPOT_ACCESS_TOKEN="process-token"),
        )  # fmt: skip
        _, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        os.close(terminal)
        os.close(controller)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_archive_asks_on_a_terminal(hubspot_emulator: Emulator, tmp_path: Path) -> None:
    ids = hubspot_emulator.preload("0-410", courses(4))
    source = ids_file(tmp_path / "ids.txt", ids)
    code, err = await _archive_on_a_terminal(hubspot_emulator.url, source, b"n\n")
    assert code == 130, err
    assert f"archive 4 ids of 0-410 from {source} at {hubspot_emulator.url}? [y/N]" in err
    assert "cancelled: not confirmed, nothing was sent" in err
    assert batch_requests(hubspot_emulator) == 0

    code, err = await _archive_on_a_terminal(hubspot_emulator.url, source, b"y\n")
    assert code == 0, err
    assert hubspot_emulator.archived("0-410") == ids


# -- options the commands have no use for ----------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["create", "0-410", "{dir}/in.csv", "--id-column", "code"], "drop --id-column"),
        (["read", "0-410", "{dir}/ids.txt", "--empty-clears"], "drop --empty-clears"),
        (["read", "0-410", "{dir}/ids.txt", "--properties", "a,,b"], "separated by commas"),
        (["update", "0-410", "{dir}/ids.txt"], "pass --format csv or jsonl"),
        (["update", "0-410", "{dir}/in.csv", "--format", "ids"], "'ids' is not read here"),
        (["read", "0-410", "{dir}/ids.txt", "--api-version", "v4"], "--api-version"),
        (["read", "0-410", "{dir}/ids.txt", "--id-property", "code"], "needs --properties"),
        (["create", "0-410", "{dir}/ids.txt"], "pass --format csv or jsonl"),
        (["create", "0-410", "{dir}/in.csv", "--resend-unknown"], "give the same --checkpoint"),
    ],
)
async def test_usage_errors_of_the_new_commands_exit_2(
    run_cli: RunCli, tmp_path: Path, argv: list[str], message: str
) -> None:
    (tmp_path / "in.csv").write_text("code,level\nA,beginner\n")
    ids_file(tmp_path / "ids.txt", ["1"])
    code, _, err = await run_cli(*[a.format(dir=tmp_path) for a in argv])
    assert code == 2, err
    assert message in err
