"""The command line's parts behind issue 12's fixes, one by one: which answers are journaled,
exact JSON numbers, read errors as input errors, the input's fingerprint, output paths that
are one file, cutting a torn line, the formats table, and the masking of URL pieces."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import zlib
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

import asyncbatch
from asyncbatch.cli._input import (
    FORMATS,
    InputError,
    Source,
    open_records,
    parse_jsonl,
    resolve_source,
)
from asyncbatch.cli._output import JsonlWriter
from asyncbatch.cli._prepare import JobOptions, UsageError, check_paths, url_secret_pieces
from asyncbatch.cli._sinks import Origin, settle


def failed(position: int, **facts: object) -> asyncbatch.FailedInput:
    return asyncbatch.FailedInput(
        positions=(position,),
        input=asyncbatch.BatchInput(f"R{position}", {}),
        reason=f"reason {position}",
        error=asyncbatch.StandardError(),
        **facts,  # type: ignore[arg-type]
    )


def result_of(*failures: asyncbatch.FailedInput, written: int = 0) -> asyncbatch.BatchResult:
    now = dt.datetime.now(dt.UTC)
    return asyncbatch.BatchResult(
        status="COMPLETE",
        results=[asyncbatch.SimplePublicObject(id=f"W{i}") for i in range(written)],
        result_positions=[(100 + i,) for i in range(written)],
        errors=[],
        num_errors=0,
        started_at=now,
        completed_at=now,
        failed=list(failures),
    )


def test_only_written_and_final_failures_are_finished() -> None:
    result = result_of(
        failed(1, final=True, sent=True),  # refused for its data
        failed(2, final=False, sent=True, category="TRANSPORT_ERROR"),
        failed(3, final=False, sent=False, category="NOT_SENT"),
        failed(4, final=False, sent=True, category="MISSING_FROM_RESPONSE"),
        failed(5, final=False, sent=True, stopped_run=True),
        written=2,
    )
    settled = settle(result, lambda positions: [Origin(p + 1000, p + 1) for p in positions])
    assert sorted(settled.finished) == [1001, 1100, 1101]
    assert settled.stop_reason == "reason 5"


def test_the_stop_error_comes_before_a_stopped_inputs_reason() -> None:
    stopped = result_of(failed(1, stopped_run=True, sent=False))
    assert settle(stopped, lambda p: []).stop_reason == "reason 1"
    error = asyncbatch.AsyncBatchError("the daily limit is spent")
    with_error = attrs.evolve(stopped, stop_error=error)
    assert settle(with_error, lambda p: []).stop_reason == "the daily limit is spent"
    assert settle(result_of(failed(2)), lambda p: []).stop_reason is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (b"123456789012345678901234567890", 123456789012345678901234567890),
        (b"0.10000000000000000001", Decimal("0.10000000000000000001")),
        (b"1.50", Decimal("1.50")),
        (b"-0.0", Decimal("-0.0")),
        (b"12", 12),
        (b"9" * 400, int("9" * 400)),  # past a double's range: orjson refuses it
        (b'[1.5, {"x": [2.25]}]', [Decimal("1.5"), {"x": [Decimal("2.25")]}]),
    ],
)
def test_jsonl_numbers_are_exact(text: bytes, value: object) -> None:
    (record,) = parse_jsonl([b'{"id": "1", "properties": {"v": ' + text + b"}}"])
    assert record.record == {"id": "1", "properties": {"v": value}}
    assert type(record.record["properties"]["v"]) is type(value)  # type: ignore[index]


def test_jsonl_number_past_pythons_digit_limit_is_a_bad_line() -> None:
    lines = [b'{"id": "1", "properties": {"v": ' + b"9" * 5000 + b"}}", b'{"v": NaN}', b"{"]
    too_long, nan, torn = parse_jsonl(lines)
    assert too_long.error is not None and "not a number HubSpot can take" in too_long.error
    assert nan.error is not None and nan.error.startswith("not valid JSON")
    assert torn.error is not None and torn.error.startswith("not valid JSON")


def test_corrupt_gzip_mid_stream_is_an_input_error(tmp_path: Path) -> None:
    deflate = zlib.compressobj(6, zlib.DEFLATED, 31)
    data = bytearray(deflate.compress(b'{"id": "1", "properties": {}}\n' * 5000))
    data += deflate.flush(zlib.Z_FULL_FLUSH)
    broken = len(data)
    data += deflate.compress(b'{"id": "2", "properties": {}}\n') + deflate.flush()
    data[broken] = 0xFF
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(bytes(data))
    records = open_records(resolve_source(str(path), None))
    with pytest.raises(InputError, match=r"not valid gzip data after line \d+ \(Error -3"):
        for _ in records:
            pass


def test_truncated_gzip_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"id": "1", "properties": {}}\n' * 5000)[:-200])
    with pytest.raises(InputError, match="cannot read after line"):
        list(open_records(resolve_source(str(path), None)))


def test_fingerprint_follows_content_not_name(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"x" * 200_000)
    first = Source("a", "jsonl", path=path).fingerprint()
    moved = path.rename(tmp_path / "b.jsonl")
    assert Source("b", "jsonl", path=moved).fingerprint() == first
    stat = moved.stat()
    for offset in (0, 199_999):  # the first and the last block
        data = bytearray(b"x" * 200_000)
        data[offset] = ord("y")
        moved.write_bytes(bytes(data))
        os.utime(moved, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert Source("b", "jsonl", path=moved).fingerprint() != first
    moved.write_bytes(b"x" * 200_000)
    os.utime(moved, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # touched
    assert Source("b", "jsonl", path=moved).fingerprint() != first


def options(tmp_path: Path, **paths: str) -> JobOptions:
    return JobOptions(
        operation="update",
        object_type="0-410",
        file=str(tmp_path / "in.jsonl"),
        **{k: Path(v.format(dir=tmp_path)) for k, v in paths.items()},  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "paths",
    [
        {"out": "{dir}/in.jsonl"},
        {"errors": "{dir}/sub/../in.jsonl"},
        {"checkpoint": "{dir}/link.jsonl"},
        {"out": "{dir}/o", "checkpoint": "{dir}/o"},
        {"errors": "{dir}/hard.jsonl"},
        {"checkpoint": "-"},
    ],
)
def test_outputs_that_are_one_file_are_refused(tmp_path: Path, paths: dict[str, str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("{}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.jsonl").symlink_to(source)
    os.link(source, tmp_path / "hard.jsonl")
    with pytest.raises(UsageError, match=r"same file as|--checkpoint needs a file"):
        check_paths(options(tmp_path, **paths), resolve_source(str(source), None))


def test_distinct_outputs_pass(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("{}\n")
    paths = {"out": "-", "errors": "{dir}/e", "checkpoint": "{dir}/c"}
    check_paths(options(tmp_path, **paths), resolve_source(str(source), None))


@pytest.mark.parametrize(
    ("content", "kept"),
    [
        (b'{"a": 1}\n{"b": 2}\n{"c": ', b'{"a": 1}\n{"b": 2}\n'),
        (b'{"a": 1}\n', b'{"a": 1}\n'),
        (b'{"torn', b""),
        (b"", b""),
        (b"x" * 100_000 + b"\n" + b"y" * 70_000, b"x" * 100_000 + b"\n"),  # across blocks
    ],
)
def test_resuming_an_output_cuts_its_torn_last_line(
    tmp_path: Path, content: bytes, kept: bytes
) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(content)
    writer = JsonlWriter(path, append=True)
    writer.write(b'{"new": 1}\n')
    writer.close()
    assert path.read_bytes() == kept + b'{"new": 1}\n'


def test_formats_table_gives_suffixes_and_choices(tmp_path: Path) -> None:
    assert list(FORMATS) == ["csv", "jsonl", "ids"]
    for name, fmt in FORMATS.items():
        for suffix in fmt.suffixes:
            (tmp_path / f"f{suffix}.gz").write_bytes(gzip.compress(b""))
            found = resolve_source(str(tmp_path / f"f{suffix}.gz"), None, list(FORMATS))
            assert found.format == name


def test_url_pieces_cover_what_redis_py_misreads() -> None:
    pieces = url_secret_pieces("redis://u:S3C/r3t@h:6379/0?password=pw%40x")
    for piece in ("S3C/r3t", "S3C", "r3t", "pw%40x", "pw@x"):
        assert piece in pieces
    assert "6379" not in pieces and "h" not in pieces
