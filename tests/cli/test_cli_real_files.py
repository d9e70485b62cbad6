"""Issue 15, the command line on real ETL files, each case a real process on a real file:

1. bad rows: a file with bad rows in the middle sends nothing (exit 2, the rows listed), or
   with ``--skip-bad-rows`` sends the rest and writes them to ``--errors`` (exit 1); stdin
   stops at a bad row saying how many records were written;
2. real CSVs: a ``;``-separated latin-1 export with a byte-order mark, a wrong delimiter
   hinted, bad bytes named at their own line, a 300 KB field, an empty and a header-only
   file;
3. reasons: HubSpot's refusals as fields, grouped in the summary, and a CSV errors file fixed
   and fed back;
4. schedulable runs: ``--summary-json``, quiet runs, and a resumed run's totals.

No test sleeps to wait for something: each waits on the child process's exit.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from asyncbatch.cli._demo import DEMO_PROPERTIES
from asyncbatch.emulator import Emulator
from asyncbatch.emulator.pytest_plugin import MakeEmulator
from tests.cli._helpers import batch_requests, by_property, read_jsonl, run_process

pytestmark = pytest.mark.asyncio

HEADER = "course_code;hs_course_name;level;price"
LATIN = "Cours de français élémentaire"


def upsert(path: Path | str, emulator: Emulator, *more: str) -> list[str]:
    key = ["--id-property", "course_code", "--id-column", "course_code"]
    return ["upsert", "0-410", str(path), *key, "--base-url", emulator.url, *more]


def latin1_export(path: Path, rows: int, *, bom: bool = True) -> Path:
    """A European Excel export: ``;``-separated, latin-1, CRLF, a byte-order mark."""
    lines = [HEADER] + [f"E{i:05};{LATIN} {i};beginner;{i},50" for i in range(rows)]
    data = ("\r\n".join(lines) + "\r\n").encode("latin-1")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def courses_csv(path: Path, rows: int, *, bad: dict[int, str] | None = None) -> Path:
    """``rows`` good course rows, with ``bad`` (index -> raw line) in their place."""
    lines = ["course_code,level,n"]
    for i in range(rows):
        lines.append((bad or {}).get(i, f"C{i:05},beginner,{i}"))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- 1. bad rows -----------------------------------------------------------------------------

BAD_ROWS = {1499: ",beginner,1499", 1600: "C01600,beginner,1600,extra", 1700: "C01700,beginner"}


async def test_a_file_with_bad_rows_in_the_middle_sends_nothing(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    source = courses_csv(tmp_path / "in.csv", 2000, bad=BAD_ROWS)
    code, _, err = await run_process(*upsert(source, hubspot_emulator))
    assert code == 2, err
    assert f"{source}, line 1501, column 'course_code': id must not be empty" in err
    assert f"{source}, line 1602: 4 fields, but the header has 3" in err
    assert f"{source}, line 1702: 2 fields, but the header has 3" in err
    assert "3 bad rows of 2,000; nothing was sent" in err
    assert "--skip-bad-rows" in err.splitlines()[-1]
    assert batch_requests(hubspot_emulator) == 0


async def test_skip_bad_rows_sends_the_rest_and_writes_each_bad_row_with_its_line(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    source = courses_csv(tmp_path / "in.csv", 2000, bad=BAD_ROWS)
    errors = tmp_path / "failed.jsonl"
    code, _, err = await run_process(
        *upsert(source, hubspot_emulator, "--skip-bad-rows", "--errors", str(errors))
    )
    assert code == 1, err
    assert len(by_property(hubspot_emulator.records("0-410"), "course_code")) == 1997
    dead = {d["_error"]["line"]: d for d in read_jsonl(errors)}
    assert set(dead) == {1501, 1602, 1702}
    assert dead[1501]["_error"]["property"] == "course_code"
    assert dead[1501]["_error"]["message"] == "id must not be empty"
    assert dead[1602]["_error"]["raw"] == ["C01600", "beginner", "1600", "extra"]
    assert all(
        d["_error"]["category"] == "BAD_ROW" and not d["_error"]["sent"] for d in dead.values()
    )
    assert "bad rows               3 (skipped, not sent)" in err
    assert err.splitlines()[-1] == f"asyncbatch: 3 bad rows were skipped (see {errors})"

    code, _, err = await run_process(*upsert(source, hubspot_emulator, "--max-bad-rows", "2"))
    assert code == 2, err
    assert "3 bad rows of 2,000, more than --max-bad-rows 2; nothing was sent" in err


async def test_stdin_stops_at_a_bad_row_saying_what_was_written(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    text = courses_csv(tmp_path / "in.csv", 2000, bad={1499: ",beginner,1499"}).read_bytes()
    argv = upsert("-", hubspot_emulator, "--format", "csv")
    code, _, err = await run_process(*argv, stdin=text)
    assert code == 2, err
    last = err.splitlines()[-1]
    assert last.startswith("asyncbatch: error: <stdin>, line 1501, column 'course_code'")
    written = len(hubspot_emulator.records("0-410"))
    assert 1400 <= written <= 1499
    assert f"{written:,} records were written before the run stopped" in last
    assert "(--skip-bad-rows skips bad rows instead)" in last

    errors = tmp_path / "failed.jsonl"
    code, _, err = await run_process(*argv, "--skip-bad-rows", "--errors", str(errors), stdin=text)
    assert code == 1, err
    assert len(hubspot_emulator.records("0-410")) == 1999
    assert [d["_error"]["line"] for d in read_jsonl(errors)] == [1501]


# -- 2. real CSVs ---------------------------------------------------------------------------


async def test_semicolon_latin1_export_with_a_bom(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    source = latin1_export(tmp_path / "export.csv", 2000)
    code, _, err = await run_process(*upsert(source, hubspot_emulator, "--encoding", "latin-1"))
    assert code == 0, err
    stored = by_property(hubspot_emulator.records("0-410"), "course_code")
    assert len(stored) == 2000
    assert stored["E00007"]["properties"]["hs_course_name"] == f"{LATIN} 7"
    assert stored["E00007"]["properties"]["price"] == "7,50"


async def test_latin1_read_as_utf8_names_the_first_bad_lines_and_sends_nothing(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    lines = [HEADER.replace(";", ",")] + [f"K{i:05},Course {i},beginner,{i}" for i in range(2000)]
    lines[1503] = f"K01502,{LATIN},beginner,1"
    source = tmp_path / "mixed.csv"
    source.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    code, _, err = await run_process(*upsert(source, hubspot_emulator))
    assert code == 2, err
    assert f"{source}, line 1504, column 'hs_course_name': not utf-8 text: byte 0xe7" in err
    assert "--encoding" in err
    assert batch_requests(hubspot_emulator) == 0


async def test_wrong_delimiter_is_hinted(hubspot_emulator: Emulator, tmp_path: Path) -> None:
    source = latin1_export(tmp_path / "export.csv", 3)
    code, _, err = await run_process(
        *upsert(source, hubspot_emulator, "--encoding", "cp1252", "--delimiter", ",")
    )
    assert code == 2, err
    assert "no id column 'course_code' in the header" in err
    assert "the header looks ';'-separated: pass --delimiter ';'" in err


async def test_a_300_kb_field_is_sent(hubspot_emulator: Emulator, tmp_path: Path) -> None:
    long = "x" * 300_000
    source = tmp_path / "long.csv"
    source.write_text(f'course_code,notes,level\nL1,"{long}",beginner\nL2,short,beginner\n')
    code, _, err = await run_process(*upsert(source, hubspot_emulator))
    assert code == 0, err
    stored = by_property(hubspot_emulator.records("0-410"), "course_code")
    assert stored["L1"]["properties"]["notes"] == long
    assert "field limit" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty: CSV needs a header row naming its columns"),
        (b"course_code,level\r\n", "no records after the header row (line 1)"),
        (b"\xef\xbb\xbfcourse_code;level\n\n\n", "no records after the header row (line 1)"),
    ],
)
async def test_empty_and_header_only_files_exit_2(
    hubspot_emulator: Emulator, tmp_path: Path, content: bytes, message: str
) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(content)
    code, _, err = await run_process(*upsert(source, hubspot_emulator))
    assert code == 2, err
    assert err.splitlines()[-1] == f"asyncbatch: error: {source}: {message}"
    assert batch_requests(hubspot_emulator) == 0


async def test_an_empty_jsonl_file_exits_2(hubspot_emulator: Emulator, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("\n\n")
    code, _, err = await run_process(*upsert(source, hubspot_emulator))
    assert code == 2, err
    assert err.splitlines()[-1] == f"asyncbatch: error: {source}: no records, only blank lines"


# -- 3. reasons you can act on --------------------------------------------------------------


def levels_csv(path: Path, rows: int, bad: dict[int, str]) -> Path:
    lines = ["course_code;level;price"]
    lines += [f"R{i:04};{bad.get(i, 'beginner')};{i}" for i in range(rows)]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    return path


@pytest.mark.hubspot_emulator(strict=True, properties=DEMO_PROPERTIES)
async def test_refusals_as_fields_grouped_in_the_summary_and_a_csv_errors_file_fed_back(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    bad = {17: "expert", 150: "expert", 299: "guru"}
    source = levels_csv(tmp_path / "in.csv", 300, bad)
    errors = tmp_path / "failed.csv"
    code, _, err = await run_process(*upsert(source, hubspot_emulator, "--errors", str(errors)))
    assert code == 1, err
    assert "failures by reason" in err
    assert "3  VALIDATION_ERROR INVALID_OPTION, property 'level': e.g. line 19: 'expert' is " in err
    assert "not one of the allowed options: beginner, intermediate, advanced" in err
    raw = errors.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfcourse_code;level;price;_error_line;")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert sorted(r["_error_line"] for r in rows) == ["152", "19", "301"]
    guru = next(r for r in rows if r["level"] == "guru")
    assert (guru["_error_code"], guru["_error_property"], guru["_error_value"]) == (
        "INVALID_OPTION",
        "level",
        "guru",
    )
    assert guru["_error_allowed"] == "beginner | intermediate | advanced"
    assert "{" not in guru["_error_message"]  # plain text, no embedded JSON

    fixed = tmp_path / "fixed.csv"
    fixed.write_bytes(raw.replace(b";expert;", b";advanced;").replace(b";guru;", b";advanced;"))
    code, _, err = await run_process(*upsert(fixed, hubspot_emulator))
    assert code == 0, err
    stored = by_property(hubspot_emulator.records("0-410"), "course_code")
    assert len(stored) == 300 and stored["R0299"]["properties"]["level"] == "advanced"


@pytest.mark.hubspot_emulator(strict=True, properties=DEMO_PROPERTIES)
async def test_jsonl_errors_carry_the_parsed_reason(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    source = levels_csv(tmp_path / "in.csv", 120, {5: "expert"})
    errors = tmp_path / "failed.jsonl"
    code, _, err = await run_process(*upsert(source, hubspot_emulator, "--errors", str(errors)))
    assert code == 1, err
    (dead,) = read_jsonl(errors)
    assert dead["properties"]["level"] == "expert"
    fields = {k: dead["_error"][k] for k in ("code", "property", "value", "allowed", "line")}
    assert fields == {
        "code": "INVALID_OPTION",
        "property": "level",
        "value": "expert",
        "allowed": ["beginner", "intermediate", "advanced"],
        "line": 7,
    }
    assert dead["_error"]["message"].startswith("expert was not one of the allowed options")


# -- 4. runs you can schedule ---------------------------------------------------------------


@pytest.mark.hubspot_emulator(strict=True, properties=DEMO_PROPERTIES)
async def test_summary_json_and_a_resumed_runs_totals_and_exit(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    source = levels_csv(tmp_path / "in.csv", 300, {17: "expert"})
    summary, checkpoint = tmp_path / "summary.json", tmp_path / "ck.jsonl"
    argv = upsert(source, hubspot_emulator, "--checkpoint", str(checkpoint))
    code, _, err = await run_process(*argv, "--summary-json", str(summary), "--quiet")
    assert code == 1, err
    assert err.splitlines() == ["asyncbatch: 1 records failed (keep them with --errors)"]
    document = json.loads(summary.read_text())
    assert document["exit_code"] == 1
    assert document["records"] == {
        "in_file": 300,
        "read": 300,
        "skipped_checkpoint": 0,
        "written": 299,
        "failed": 1,
        "outcome_unknown": 0,
        "unfinished": 0,
        "not_sent": 0,
        "bad_rows": 0,
    }
    (group,) = document["failures"]
    assert group["count"] == 1 and group["property"] == "level"
    assert group["example"]["line"] == 19 and group["example"]["value"] == "expert"
    assert document["checkpoint"] == {
        "finished": 300,
        "written": 299,
        "failed": 1,
        "outcome_unknown": 0,
    }
    assert document["timings"]["validation_seconds"] >= 0

    # Nothing left to send: the rerun reports every run's totals and the failure on record.
    code, _, err = await run_process(*argv, "--summary-json", str(summary), "--no-progress")
    assert code == 1, err
    assert "skipped (checkpoint)   300" in err
    assert "all runs (checkpoint)  299 written, 1 failed of 300 records" in err
    assert "progress:" not in err
    assert err.splitlines()[-1] == (
        "asyncbatch: 1 records failed in earlier runs (keep them with --errors)"
    )
    assert json.loads(summary.read_text())["checkpoint"]["failed"] == 1


async def test_a_refused_token_stops_before_the_file_is_read(
    make_hubspot_emulator: MakeEmulator, tmp_path: Path
) -> None:
    emulator = await make_hubspot_emulator(token="the-right-token", strict=False)
    source = courses_csv(tmp_path / "in.csv", 300, bad={5: ",beginner,5"})  # would exit 2
    errors = tmp_path / "failed.jsonl"
    code, _, err = await run_process(*upsert(source, emulator, "--errors", str(errors)))
    assert code == 3, err
    assert err.splitlines()[-1].startswith(
        "asyncbatch: stopped: the run could not go on, nothing was sent: HubSpot refused the "
        "token: HTTP 401"
    )
    assert emulator.stats.total_requests == 1  # one cheap request
    assert not errors.exists()


async def test_plain_progress_lines_have_a_timestamp_total_and_eta(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    source = courses_csv(tmp_path / "in.csv", 300)
    code, _, err = await run_process(
        *upsert(source, hubspot_emulator, "--progress-interval", "0.001", "--rate", "100/s")
    )
    assert code == 0, err
    lines = [line for line in err.splitlines() if " progress: " in line]
    assert lines, err
    stamp, _, rest = lines[-1].partition(" progress: ")
    assert len(stamp) == 20 and stamp.endswith("Z")
    assert "/300 records (" in rest and "%)" in rest and ", ETA " in rest
