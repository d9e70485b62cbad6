"""The command line's pure parts: rate parsing, CSV and JSON Lines parsing with line numbers,
the checkpoint's range set and journal, the dead-letter line shape, the progress line."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import asyncbatch
from asyncbatch._plan import plan_chunks
from asyncbatch.cli._checkpoint import Checkpoint, CheckpointError, RangeSet, ranges_of
from asyncbatch.cli._input import (
    InputError,
    Source,
    open_records,
    parse_csv,
    parse_jsonl,
    resolve_source,
)
from asyncbatch.cli._output import failed_line
from asyncbatch.cli._prepare import parse_rate
from asyncbatch.cli._progress import Tally, estimate, progress_line


@pytest.mark.parametrize(
    ("text", "requests", "seconds"),
    [("190/10s", 190, 10.0), ("100/s", 100, 1.0), ("5/500ms", 5, 0.5), (" 7 / 2.5s ", 7, 2.5)],
)
def test_parse_rate(text: str, requests: int, seconds: float) -> None:
    rate = parse_rate(text)
    assert (rate.requests, rate.per_seconds) == (requests, seconds)


@pytest.mark.parametrize("text", ["190", "190/10", "10/0s", "0/10s", "a/10s", "190/10m", ""])
def test_parse_rate_refuses_other_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"N/Ds|at least 1"):
        parse_rate(text)


def test_jsonl_numbers_lines_skips_blanks_and_drops_underscore_keys() -> None:
    lines = [
        b'{"id": "1", "properties": {"a": "x"}}\n',
        b"\n",
        b'{"id": "2", "properties": {}, "_error": {"reason": "r"}}\n',
        b"{not json\n",
        b"[1, 2]\n",
    ]
    records = list(parse_jsonl(lines))
    assert [(r.position, r.line) for r in records] == [(0, 1), (1, 3), (2, 4), (3, 5)]
    assert records[1].record == {"id": "2", "properties": {}}
    assert records[2].error is not None and records[2].error.startswith("not valid JSON")
    assert records[3].error is not None and "JSON object" in records[3].error


def test_csv_columns_become_properties() -> None:
    text = 'id,name,note\n1,Ada,"two\nlines"\n\n2,,x\n3,Bob\n'
    records = list(parse_csv(io.StringIO(text)))
    assert [(r.position, r.line) for r in records] == [(0, 2), (1, 5), (2, 6)]
    assert records[0].record == {"id": "1", "properties": {"name": "Ada", "note": "two\nlines"}}
    assert records[1].record == {"id": "2", "properties": {"note": "x"}}  # empty cell left out
    assert records[2].error == "2 fields, but the header has 3"


def test_csv_empty_clears_and_id_as_property() -> None:
    text = "code,name\nC1,\n"
    (record,) = parse_csv(io.StringIO(text), id_column="code", empty_clears=True)
    assert record.record == {"id": "C1", "properties": {"name": ""}}
    (record,) = parse_csv(io.StringIO(text), id_column="code", id_as_property=True)
    assert record.record == {"id": "C1", "properties": {"code": "C1"}}


@pytest.mark.parametrize(
    ("header", "message"),
    [("name,price", "no id column 'id'"), ("id,,x", "column 2"), ("id,a,a", "'a' appears twice")],
)
def test_csv_bad_header_is_an_input_error_on_line_1(header: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        list(parse_csv(io.StringIO(header + "\n1,2,3\n")))
    assert caught.value.line == 1


def test_resolve_source_formats(tmp_path: Path) -> None:
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(b"id\n1\n2\n"))
    (tmp_path / "b.txt").write_text("{}")
    assert resolve_source(str(tmp_path / "a.csv.gz"), None).format == "csv"
    assert resolve_source("sample:courses", None).sample == "courses_sample.jsonl.gz"
    with pytest.raises(InputError, match="--format"):
        resolve_source(str(tmp_path / "b.txt"), None)
    with pytest.raises(InputError, match="--format"):
        resolve_source("-", None)
    with pytest.raises(InputError, match="no such file"):
        resolve_source(str(tmp_path / "missing.csv"), None)
    source = resolve_source(str(tmp_path / "a.csv.gz"), None)
    assert [r.record for r in open_records(source)] == [
        {"id": "1", "properties": {}},
        {"id": "2", "properties": {}},
    ]


def test_bundled_sample_reads_as_records() -> None:
    source = Source(name="sample:courses", format="jsonl", sample="courses_sample.jsonl.gz")
    records = list(open_records(source))
    assert len(records) == 10_072
    assert all(r.error is None for r in records)


@given(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 40))))
def test_range_set_matches_a_plain_set(spans: list[tuple[int, int]]) -> None:
    ranges = RangeSet()
    plain: set[int] = set()
    for start, length in spans:
        ranges.add(start, start + length)
        plain.update(range(start, start + length))
    assert len(ranges) == len(plain)
    assert all((i in ranges) == (i in plain) for i in range(-1, 345))
    flat = ranges.ranges()
    assert flat == ranges_of(plain)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(flat))  # disjoint, apart


def test_checkpoint_resumes_and_refuses_another_job(tmp_path: Path) -> None:
    path = tmp_path / "ck.jsonl"
    header = {"file": "/x.csv", "size": 10, "operation": "upsert", "object_type": "0-410"}
    first = Checkpoint.open(path, header)
    assert not first.resumed
    first.record([0, 1, 2, 5])
    first.record([3, 4])
    first.close()
    with path.open("ab") as f:
        f.write(b'{"done": [[9')  # torn by a crash mid-write
    again = Checkpoint.open(path, header)
    assert again.resumed and again.done.ranges() == [[0, 6]]
    again.record([6])
    again.close()
    assert Checkpoint.open(path, header).done.ranges() == [[0, 7]]
    with pytest.raises(CheckpointError, match="size 10 \\(now 11\\)"):
        Checkpoint.open(path, {**header, "size": 11})


def test_failed_line_feeds_back_as_input() -> None:
    failed = asyncbatch.FailedInput(
        positions=(4, 9),
        input=asyncbatch.BatchInput(
            "C1", {"level": "expert"}, id_property="code", object_write_trace_id="ab12-3"
        ),
        reason="VALIDATION_ERROR: bad level",
        error=asyncbatch.StandardError(category="VALIDATION_ERROR", message="bad level"),
        status_code=400,
        final=True,
    )
    line = failed_line(failed, lines=[6, 11], positions=[4, 9])
    (parsed,) = parse_jsonl([line])
    assert parsed.record == {"id": "C1", "properties": {"level": "expert"}, "idProperty": "code"}
    fed_back = plan_chunks([parsed.record], operation="upsert").items[0].input
    assert (fed_back.id, fed_back.id_property) == ("C1", "code")
    assert b'"_error":{"reason":"VALIDATION_ERROR: bad level","category":"VALIDATION_ERROR"' in line
    assert b'"line":6' in line and b'"lines":[6,11]' in line


def test_progress_line_with_a_timestamp_total_percentage_and_eta() -> None:
    tally = Tally(started=100.0, written=3397, failed=3, stats=asyncbatch.RunStats(requests=35))
    wall = dt.datetime(2026, 5, 1, 12, 0, 3, tzinfo=dt.UTC)
    rate = asyncbatch.RateLimit(1000, 10.0)
    now = estimate(tally, rate=rate, chunk_size=100, now=104.0)
    assert progress_line(tally, now, wall=wall) == (
        "2026-05-01T12:00:03Z progress: 3,400 records, 3 failed, 35 requests, 0 429s, "
        "850 records/s, 8.8 req/s"
    )
    tally.total = 10_200
    now = estimate(tally, rate=rate, chunk_size=100, now=104.0)
    assert progress_line(tally, now, wall=wall).endswith(
        "progress: 3,400/10,200 records (33.3%), 3 failed, 35 requests, 0 429s, "
        "850 records/s, 8.8 req/s, ETA 8 s"
    )


def test_eta_and_rate_follow_the_rate_limiter_not_the_first_burst() -> None:
    # 50 requests per 10 s: the first 50 go at once (5,000 records in 1 s), then 5 per second.
    tally = Tally(started=0.0, written=5000, total=35_000)
    tally.stats = asyncbatch.RunStats(requests=50)
    now = estimate(tally, rate=asyncbatch.RateLimit(50, 10.0), chunk_size=100, now=1.0)
    assert now.eta_seconds == pytest.approx(59.0)  # the answers so far would say 6 s
    assert now.requests_per_second == pytest.approx(350 / 60)  # they would say 50
    assert now.percent == pytest.approx(100 * 5000 / 35_000)
    nothing_yet = estimate(
        Tally(started=0.0, total=500), rate=asyncbatch.RateLimit(), chunk_size=100, now=0.5
    )
    assert nothing_yet.eta_seconds is None
