"""The parts of ``read``, ``create`` and ``archive`` on the command line, one by one: ids files,
ids from CSV and JSON Lines, a read's output line, errors lines by input shape, the journal's
records of unknown outcome, failures of unknown outcome settled and counted, exit codes, and a
create aborted with records in flight."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import random
from pathlib import Path

import pytest

import asyncbatch
from asyncbatch.cli._checkpoint import Checkpoint, RangeSet
from asyncbatch.cli._exit import Outcome, exit_code, exit_line
from asyncbatch.cli._input import InputError, only_ids, parse_ids, resolve_source
from asyncbatch.cli._job import _Run
from asyncbatch.cli._output import JsonlErrors, JsonlWriter, failed_line, read_line
from asyncbatch.cli._prepare import JobOptions, prepare
from asyncbatch.cli._progress import Tally, summary_rows
from asyncbatch.cli._records import SourceRecord
from asyncbatch.cli._sinks import Origin, Sinks, settle
from asyncbatch.cli._summary import RunFacts
from asyncbatch.cli._verbs import VERBS, is_unknown


def failed(
    category: str | None,
    *,
    id_: str = "7",
    final: bool = False,
    sent: bool = True,
    position: int = 0,
) -> asyncbatch.FailedInput:
    return asyncbatch.FailedInput(
        positions=(position,),
        input=asyncbatch.BatchInput(id=id_, properties={"level": "beginner"}),
        reason="why",
        error=asyncbatch.StandardError(category=category or "", message="why"),
        category=category,
        final=final,
        sent=sent,
    )


# -- ids -------------------------------------------------------------------------------------


def test_an_ids_file_is_one_id_a_line() -> None:
    lines = [b"\xef\xbb\xbf 101 \n", b"\n", b"102\r\n", b"\xff\xfe\n", b"  \n", b"a@b.test"]
    found = list(parse_ids(lines))
    assert [(r.position, r.line, r.record) for r in found if r.record] == [
        (0, 1, {"id": "101"}),
        (1, 3, {"id": "102"}),
        (3, 6, {"id": "a@b.test"}),
    ]
    (bad,) = [r for r in found if r.error]
    assert bad.line == 4 and "not utf-8 text: byte 0xff" in bad.error
    with pytest.raises(InputError, match="no ids, only blank lines"):
        list(parse_ids([b"\n", b" \n"]))
    with pytest.raises(InputError, match="the file is empty"):
        list(parse_ids([]))


def test_ids_come_from_a_csv_column_or_a_json_lines_id() -> None:
    rows = [
        SourceRecord(0, 2, {"id": "1", "properties": {"name": "x"}}),
        SourceRecord(1, 3, {"id": "e@x.test", "idProperty": "email", "createdAt": "..."}),
        SourceRecord(2, 4, {"properties": {}}),
        SourceRecord(3, 5, None, "not valid JSON", None, "{"),
    ]
    read = list(only_ids(iter(rows), id_property=True))
    assert read[0].record == {"id": "1"}
    assert read[1].record == {"id": "e@x.test", "idProperty": "email"}
    assert read[2] is rows[2] and read[3] is rows[3]  # the planner and the check refuse them
    archive = list(only_ids(iter(rows), id_property=False))
    assert archive[1].record is None and archive[1].column == "idProperty"
    assert "archive takes record ids only" in (archive[1].error or "")
    assert json.loads(str(archive[1].raw))["idProperty"] == "email"


def test_closing_the_ids_closes_the_file_reader() -> None:
    closed: list[bool] = []

    def reader() -> object:
        try:
            yield SourceRecord(0, 1, {"id": "1"})
            yield SourceRecord(1, 2, {"id": "2"})
        finally:
            closed.append(True)

    ids = only_ids(reader(), id_property=False)  # type: ignore[arg-type]
    next(ids)
    ids.close()
    assert closed == [True]


def test_the_ids_format_is_the_id_commands_own(tmp_path: Path) -> None:
    (tmp_path / "ids").write_text("1\n")
    (tmp_path / "ids.txt").write_text("1\n")
    assert resolve_source(str(tmp_path / "ids"), None, ("ids", "csv", "jsonl")).format == "ids"
    assert resolve_source(str(tmp_path / "ids.txt"), None, ("ids", "csv")).format == "ids"
    with pytest.raises(InputError, match="pass --format csv or jsonl"):
        resolve_source(str(tmp_path / "ids.txt"), None)
    with pytest.raises(InputError, match="'ids' is not read here"):
        resolve_source(str(tmp_path / "ids.txt"), "ids")


# -- output lines ----------------------------------------------------------------------------


def test_a_read_line_is_input_for_update_with_the_rest_aside() -> None:
    result = asyncbatch.SimplePublicObject(
        id="42",
        properties={"email": "a@b.test", "phone": None, "hs_object_id": "42", "createdate": "x"},
        archived=False,
        properties_with_history={"email": [{"value": "a@b.test"}]},
    )

    def writable(name: str) -> bool:
        return name not in ("hs_object_id", "createdate")

    line = json.loads(read_line(result, lines=[3], positions=[2], writable=writable))
    assert line["id"] == "42" and "idProperty" not in line
    assert line["properties"] == {"email": "a@b.test", "phone": ""}  # no value: cleared back
    assert line["_record"]["properties"] == {"hs_object_id": "42", "createdate": "x"}
    assert line["_record"]["propertiesWithHistory"] == {"email": [{"value": "a@b.test"}]}
    assert line["_input"] == {"lines": [3], "positions": [2]}
    named = json.loads(
        read_line(result, lines=[3], positions=[2], writable=writable, id_property="email")
    )
    assert (named["id"], named["idProperty"]) == ("a@b.test", "email")
    unnamed = json.loads(
        read_line(result, lines=[3], positions=[2], writable=writable, id_property="phone")
    )
    assert unnamed["id"] == "42" and "idProperty" not in unnamed  # no value to name it by


def test_an_errors_line_is_in_the_commands_input_shape() -> None:
    new = failed("VALIDATION_ERROR", id_="")
    created = json.loads(failed_line(new, lines=[2], positions=[1], shape="new"))
    assert "id" not in created and created["properties"] == {"level": "beginner"}
    missing = json.loads(
        failed_line(failed("OBJECT_NOT_FOUND"), lines=[2], positions=[1], shape="id")
    )
    assert missing["id"] == "7" and "properties" not in missing
    assert missing["_error"]["category"] == "OBJECT_NOT_FOUND"


# -- the journal -----------------------------------------------------------------------------


def test_range_set_remove_matches_a_plain_set() -> None:
    rng = random.Random(17)
    for _ in range(200):
        ranges, plain = RangeSet(), set()
        for _ in range(12):
            start = rng.randrange(60)
            end = start + rng.randrange(12)
            if rng.random() < 0.6:
                ranges.add(start, end)
                plain.update(range(start, end))
            else:
                ranges.remove(start, end)
                plain.difference_update(range(start, end))
            assert {p for s, e in ranges.ranges() for p in range(s, e)} == plain
            spans = ranges.ranges()
            assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))


def test_the_journal_keeps_unknown_outcomes_until_a_later_answer(tmp_path: Path) -> None:
    path, header = tmp_path / "ck.jsonl", {"operation": "create"}
    checkpoint = Checkpoint.open(path, header)
    checkpoint.record(range(0, 100))
    checkpoint.record(range(100, 200), unknown=range(100, 200))
    checkpoint.record([200, 201], failed=[201], unknown=[200])
    checkpoint.close()
    again = Checkpoint.open(path, header)
    assert len(again.done) == 202 and again.unknown.ranges() == [[100, 201]]
    assert again.failed.ranges() == [[201, 202]]
    again.record(range(150, 160))  # resent (--resend-unknown) and answered
    again.close()
    last = Checkpoint.open(path, header)
    assert last.unknown.ranges() == [[100, 150], [160, 201]]
    last.close()
    # A reader that knows no "unknown" sees them as done: never resent.
    entry = json.loads(path.read_text().splitlines()[2])
    assert entry == {"done": [[100, 200]], "unknown": [[100, 200]]}


def test_a_settled_chunk_journals_its_unknown_outcomes_as_finished() -> None:
    create = VERBS["create"]
    now = dt.datetime.now(dt.UTC)
    result = asyncbatch.BatchResult(
        status="CANCELED",
        results=[],
        errors=[],
        num_errors=0,
        started_at=now,
        completed_at=now,
        failed=[
            failed("OUTCOME_UNKNOWN", position=0),
            failed("MISSING_FROM_RESPONSE", position=1),
            failed("RATE_LIMIT", position=2),
        ],
    )
    origins = {0: Origin(10, 11), 1: Origin(11, 12), 2: Origin(12, 13)}
    settled = settle(result, lambda ps: [origins[p] for p in ps], lambda f: is_unknown(create, f))
    assert settled.unknown_positions == [10, 11]
    assert sorted(settled.finished) == [10, 11]  # the 429 is proven unapplied: resent
    update = VERBS["update"]
    assert not is_unknown(update, failed("MISSING_FROM_RESPONSE"))  # safe to resend


# -- counts and exit codes -------------------------------------------------------------------


def test_unknown_outcomes_have_their_own_row_and_exit_1() -> None:
    tally = Tally(read=10, written=6, failed=4, unknown=3)
    rows = dict(summary_rows(tally, done="created"))
    assert rows["created"] == "6" and rows["failed"] == "1"
    assert rows["outcome unknown"].startswith("3 (may have been created")
    outcome = Outcome(written=0, failed=3, unknown=3, unfinished=0)
    assert exit_code(outcome) == 1  # not "no answer" (3): a rerun would not resend them
    line = exit_line(outcome, checkpoint="ck", errors="err.jsonl")
    assert line is not None and line.startswith("3 records may or may not have been created")
    assert "records failed" not in line and line.endswith("(see err.jsonl)")
    before = Outcome(unknown_before=2)
    assert exit_code(before) == 1
    assert "2 records of unknown outcome are on record" in str(
        exit_line(before, checkpoint=None, errors=None)
    )
    cancelled = Outcome(cancelled=True)
    assert exit_code(cancelled) == 130
    assert exit_line(cancelled, checkpoint=None, errors=None) == (
        "cancelled: not confirmed, nothing was sent"
    )


@pytest.mark.asyncio
async def test_an_aborted_create_journals_its_records_in_flight_as_unknown(
    tmp_path: Path,
) -> None:
    source = tmp_path / "new.jsonl"
    source.write_text("".join(f'{{"properties": {{"n": "{i}"}}}}\n' for i in range(5)))
    options = JobOptions(
        operation="create",
        object_type="0-410",
        file=str(source),
        checkpoint=tmp_path / "ck.jsonl",
        errors=tmp_path / "err.jsonl",
        sandbox=True,
    )
    run = _Run(prepare(options), RunFacts())
    async with contextlib.AsyncExitStack() as stack:
        run.sinks = Sinks.open(options, run.job.source, stack)
        # Records 2 and 3 were handed to the client; 3 was answered, 2 not (the run aborted).
        for client_position, file_position in ((0, 2), (1, 3)):
            run.pending[client_position] = Origin(file_position, file_position + 1)
            run.in_flight[client_position] = {"properties": {"n": str(file_position)}}
        run._origins((1,))
        run._settle_in_flight()
    assert run.tally.unknown == 1 and not run.in_flight
    (dead,) = [json.loads(line) for line in (tmp_path / "err.jsonl").read_text().splitlines()]
    assert dead == {
        "properties": {"n": "2"},
        "_error": dead["_error"],
    }
    assert dead["_error"]["category"] == "OUTCOME_UNKNOWN" and dead["_error"]["line"] == 3
    entries = [json.loads(line) for line in (tmp_path / "ck.jsonl").read_text().splitlines()]
    assert entries[1:] == [{"done": [[2, 3]], "unknown": [[2, 3]]}]


def test_jsonl_errors_write_unknown_lines(tmp_path: Path) -> None:
    writer = JsonlWriter(tmp_path / "e.jsonl", append=False)
    errors = JsonlErrors(writer, shape="new")
    errors.unknown({"properties": {"n": 1.5}}, line=4, position=3, reason="aborted")
    errors.close()
    line = json.loads((tmp_path / "e.jsonl").read_text())
    assert line["properties"] == {"n": 1.5} and line["_error"]["position"] == 3
