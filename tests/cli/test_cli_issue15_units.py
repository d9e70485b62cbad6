"""Issue 15's parts, one by one: the CSV reader on real exports (delimiters, encodings, line
numbers, long fields), the bad-row check and policy, reasons as fields and their groups, the
checkpoint's failures, the exit code of skipped rows, and the summary document."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

import asyncbatch
from asyncbatch.cli._checkpoint import Checkpoint
from asyncbatch.cli._csv import (
    MAX_FIELD_CHARS,
    check_encoding,
    decode_lines,
    detect_delimiter,
    parse_csv,
    parse_delimiter,
)
from asyncbatch.cli._exit import Outcome, exit_code, exit_line
from asyncbatch.cli._output import csv_error_row
from asyncbatch.cli._reasons import FailureGroups, reason_of, reason_of_row
from asyncbatch.cli._records import InputError, SourceRecord
from asyncbatch.cli._summary import RunFacts, summary_document
from asyncbatch.cli._validate import RowCheck, refusal, scan


def read(data: bytes, **options: object) -> list[SourceRecord]:
    undecodable: list[tuple[int, str]] = []
    encoding = str(options.pop("encoding", "utf-8"))
    lines = decode_lines(data.splitlines(keepends=True), encoding, undecodable)
    return list(
        parse_csv(lines, encoding=encoding, undecodable=undecodable, **options)  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [
        ("id,name", ","),
        ("id;name;price", ";"),
        ("id\tname", "\t"),
        ("id|name", "|"),
        ('"a;b",c', ","),  # inside quotes does not count
        ("id", ","),
        ("id;name,with comma;x", ";"),
    ],
)
def test_detect_delimiter(header: str, delimiter: str) -> None:
    assert detect_delimiter(header) == delimiter


def test_parse_delimiter_and_check_encoding() -> None:
    assert parse_delimiter("tab") == parse_delimiter("\\t") == "\t"
    assert parse_delimiter(";") == ";"
    for bad in ("", ";;", '"', "\n"):
        with pytest.raises(ValueError, match="not a delimiter"):
            parse_delimiter(bad)
    assert check_encoding("Latin-1") == "iso8859-1"
    assert check_encoding("utf-8-sig") == "utf-8"
    with pytest.raises(ValueError, match="unknown encoding"):
        check_encoding("klingon")
    with pytest.raises(ValueError, match="iconv -f utf-16"):
        check_encoding("utf-16")


def test_each_undecodable_line_is_a_bad_row_at_its_own_line() -> None:
    rows = [b"id;name\r\n"] + [b"%d;ok\r\n" % i for i in range(3000)]
    rows[2001] = "2000;caf\xe9\r\n".encode("latin-1")  # line 2002, past any decoder buffer
    records = read(b"\xef\xbb\xbf" + b"".join(rows))
    bad = [r for r in records if r.error is not None]
    assert len(records) == 3000 and len(bad) == 1
    assert (bad[0].line, bad[0].column) == (2002, "name")
    assert bad[0].error is not None and "byte 0xe9" in bad[0].error
    assert bad[0].raw == ("2000", "caf\udce9")  # the byte kept, to be written back as it was
    good = read("id;name\n1;caf\xe9\n".encode("latin-1"), encoding="latin-1")
    assert good[0].record == {"id": "1", "properties": {"name": "café"}}


def test_csv_syntax_errors_and_long_fields_are_bad_rows_and_reading_goes_on() -> None:
    long = "y" * (MAX_FIELD_CHARS + 1)
    text = f'id,v\n1,"a"b\n2,ok\n3,"{long}"\n4,"x\n'
    records = read(text.encode())
    assert [(r.line, r.error is None) for r in records] == [
        (2, False),
        (3, True),
        (4, False),
        (5, False),
    ]
    assert records[0].error is not None and "not valid CSV" in records[0].error
    assert records[2].error is not None and "longer than 33,554,432 characters" in records[2].error
    assert records[3].error == "a quote opened on line 5 is never closed (read up to line 5)"
    assert csv.field_size_limit() >= MAX_FIELD_CHARS


def test_underscore_columns_are_not_properties() -> None:
    (record,) = read(b"id,level,_error_line,_error_message\n1,expert,3,bad\n")
    assert record.record == {"id": "1", "properties": {"level": "expert"}}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"id,name\n\n", "no records after the header row"),
        (b"\xe9,x\n1,2\n", "not utf-8 text: byte 0xe9 in the header row"),
    ],
)
def test_empty_header_only_and_undecodable_header_are_input_errors(
    data: bytes, message: str
) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read(data)


def test_row_check_judges_as_the_planner_and_names_the_csv_column() -> None:
    check = RowCheck(operation="upsert", id_property="code", chunk_size=2, id_column="code")
    records = [
        SourceRecord(0, 2, {"id": "A", "properties": {"n": "1"}}),
        SourceRecord(1, 3, {"id": "", "properties": {}}),
        SourceRecord(2, 4, None, "3 fields, but the header has 2", None, ("a", "b", "c")),
        SourceRecord(3, 5, {"id": "B", "properties": {"n": {"x": 1}}}),
        SourceRecord(4, 6, {"id": "C", "properties": {}}),
    ]
    found = scan(records, check)
    assert (found.records, found.bad) == (5, 3)
    assert [row.describe() for row in found.first_bad[:2]] == [
        "line 3, column 'code': id must not be empty",
        "line 4: 3 fields, but the header has 2",
    ]
    assert found.first_bad[2].describe().startswith("line 5, column 'n': unsupported value type")
    assert check.chunks == 1  # A and C: one chunk of two
    assert refusal(found, skip_bad_rows=True, max_bad_rows=None) is None
    assert refusal(found, skip_bad_rows=True, max_bad_rows=3) is None
    assert "more than --max-bad-rows 2" in str(refusal(found, skip_bad_rows=True, max_bad_rows=2))
    assert "3 bad rows of 5; nothing was sent" in str(
        refusal(found, skip_bad_rows=False, max_bad_rows=None)
    )


def refused(**error: object) -> asyncbatch.FailedInput:
    return asyncbatch.FailedInput(
        positions=(0,),
        input=asyncbatch.BatchInput("C1", {"level": "expert", "price": "x"}, id_property="code"),
        reason="VALIDATION_ERROR: ...",
        error=asyncbatch.StandardError(**error),  # type: ignore[arg-type]
        final=True,
        category="VALIDATION_ERROR",
        code="INVALID_OPTION",
        property_name="level",
    )


def test_reason_of_a_whole_request_refusal_picks_this_inputs_problem() -> None:
    option = "expert was not one of the allowed options: [beginner, advanced]"
    embedded = (
        'Property values were not valid: [{"isValid":false,"message":"x was not a valid '
        'number.","error":"INVALID_LONG","name":"price"},{"isValid":false,"message":"'
        + option
        + '","error":"INVALID_OPTION","name":"level"}]'
    )
    reason = reason_of(refused(category="VALIDATION_ERROR", message=embedded))
    assert reason.fields() == {
        "code": "INVALID_OPTION",
        "property": "level",
        "value": "expert",
        "allowed": ["beginner", "advanced"],
        "message": option,
    }
    assert reason.short() == "'expert' is not one of the allowed options: beginner, advanced"
    plain = reason_of(refused(category="RATE_LIMIT", message="You have reached your daily limit."))
    assert plain.message == "You have reached your daily limit." and plain.allowed == ()


def test_failure_groups_count_by_kind_and_keep_the_first_example() -> None:
    groups = FailureGroups()
    failed = reason_of(
        refused(
            category="VALIDATION_ERROR",
            message="expert was not one of the allowed options: [a]",
            errors=[
                asyncbatch.ErrorDetail(
                    message="expert was not one of the allowed options: [a]",
                    code="INVALID_OPTION",
                    context={"propertyName": ["level"]},
                )
            ],
        )
    )
    groups.add(failed, line=7)
    groups.add(failed, line=9, count=2)
    from asyncbatch.cli._validate import BadRow

    groups.add(reason_of_row(BadRow(3, 4, "id must not be empty", "code")), line=4)
    first, second = groups.top()
    assert (first.count, first.line, first.describe()) == (
        3,
        7,
        "VALIDATION_ERROR INVALID_OPTION, property 'level'",
    )
    assert second.describe() == "BAD_ROW, property 'code'"
    assert groups.total == 4


def test_csv_error_row_keeps_the_input_columns_and_adds_the_reason() -> None:
    reason = reason_of(refused(category="VALIDATION_ERROR", message="m"))
    row = csv_error_row(
        ("code", "level", "_error_line"),
        cells={"code": "C1", "level": "expert"},
        raw=None,
        reason=reason,
        lines=[3, 9],
        final=True,
    )
    assert row[:5] == ["C1", "expert", "3 9", "VALIDATION_ERROR", "INVALID_OPTION"]
    misfit = csv_error_row(
        ("code", "level"),
        cells=None,
        raw=("a", "b", "c"),
        reason=reason,
        lines=[4],
        final=True,
        delimiter=";",
    )
    assert misfit[:2] == ["", ""] and misfit[-1] == "a;b;c"


def test_checkpoint_journals_failures_and_reads_old_lines(tmp_path: Path) -> None:
    path = tmp_path / "ck.jsonl"
    header = {"file": "/x.csv", "operation": "upsert"}
    journal = Checkpoint.open(path, header)
    journal.record([0, 1, 2, 3], failed=[2])
    journal.close()
    with path.open("ab") as file:
        file.write(b'{"done": [[4, 6]]}\n')  # a line of a version without failures
    again = Checkpoint.open(path, header)
    assert again.done.ranges() == [[0, 6]] and again.failed.ranges() == [[2, 3]]
    again.close()


def test_skipped_bad_rows_and_earlier_failures_exit_1() -> None:
    assert exit_code(Outcome(written=5, bad_rows=2)) == 1
    assert exit_code(Outcome(failed_before=1)) == 1
    assert exit_line(Outcome(failed=2, bad_rows=1), checkpoint=None, errors="e.csv") == (
        "2 records failed and 1 bad rows were skipped (see e.csv)"
    )


def test_summary_document_counts_every_record_once() -> None:
    from asyncbatch.cli._progress import Tally

    facts = RunFacts(started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    facts.tally = Tally(read=10, bad=1, written=5, failed=3, unfinished=2, unsent=1)
    facts.checkpoint_done, facts.checkpoint_failed = 7, 2
    document = summary_document(
        facts,
        command={"operation": "upsert"},
        exit_code=3,
        message="stopped",
        finished_at=dt.datetime(2026, 1, 1, 0, 0, 2, tzinfo=dt.UTC),
    )
    records = document["records"]
    parts = ("written", "failed", "outcome_unknown", "unfinished", "not_sent", "bad_rows")
    assert sum(records[k] for k in parts) == records["read"] == 10
    assert document["checkpoint"] == {
        "finished": 7,
        "written": 5,
        "failed": 2,
        "outcome_unknown": 0,
    }
    assert document["timings"]["total_seconds"] == 2.0
    assert document["started_at"] == "2026-01-01T00:00:00.000000Z"
