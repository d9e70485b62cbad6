"""Issue 12, "Nothing lost, really": the command line's defects, each run as a real process on
real files (against the emulator fixture where something is sent).

1. Only final answers are journaled: a network outage or exhausted 5xx retries leave the
   records for the rerun; a run in which nothing got an answer exits 3.
2. A corrupt gzip mid-stream: the chunks in flight finish and are journaled, one line names
   the file, exit 2.
3. An output path that is the input (or another output) is refused before anything is
   opened; ``--out -`` writes to stdout.
4. A checkpoint is matched to its input by content, not by path and size.
5. A resumed ``--out`` / ``--errors`` is cut back to its last complete line.
6. JSON Lines numbers reach HubSpot digit for digit.
7. An output that cannot be written is named; ``--concurrency`` has a ceiling.
8. A Redis password in a query or with unescaped ``@`` / ``/`` is never printed.

No test sleeps to wait for something: each waits on the child process's exit.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import zlib
from pathlib import Path

import pytest

from asyncbatch.cli._demo import DEMO_PROPERTIES
from asyncbatch.emulator import Emulator
from tests.cli._helpers import (
    batch_requests,
    by_property,
    closed_port,
    journaled,
    read_jsonl,
    run_process,
    write_jsonl,
)

pytestmark = pytest.mark.asyncio


def courses(n: int, *, prefix: str = "C") -> list[dict[str, object]]:
    return [
        {"id": f"{prefix}{i:05}", "properties": {"course_code": f"{prefix}{i:05}", "n": str(i)}}
        for i in range(n)
    ]


def upsert(path: Path, base_url: str, *more: str) -> list[str]:
    key = ["--id-property", "course_code"]
    return ["upsert", "0-410", str(path), *key, "--base-url", base_url, *more]


def stored_positions(emulator: Emulator) -> set[int]:
    return {int(code[1:]) for code in by_property(emulator.records("0-410"), "course_code")}


# -- 1. only final answers are journaled ---------------------------------------------------


async def test_network_outage_stops_before_the_file_is_read_and_the_rerun_sends_everything(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", courses(150))
    checkpoint, errors = tmp_path / "ck.jsonl", tmp_path / "failed.jsonl"
    more = ["--checkpoint", str(checkpoint), "--errors", str(errors), "--timeout", "2"]
    down = f"http://127.0.0.1:{closed_port()}"

    code, _, err = await run_process(*upsert(source, down, *more))
    assert code == 3, err
    assert f"stopped: the run could not go on, nothing was sent: no answer from {down}" in err
    assert not checkpoint.exists() and not errors.exists()  # checked before anything opened

    code, _, err = await run_process(*upsert(source, hubspot_emulator.url, *more))
    assert code == 0, err
    assert stored_positions(hubspot_emulator) == set(range(150))
    assert journaled(checkpoint) == set(range(150))


async def test_connections_reset_mid_run_journal_nothing_and_the_rerun_sends_them(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", courses(150))
    checkpoint, errors = tmp_path / "ck.jsonl", tmp_path / "failed.jsonl"
    more = ["--checkpoint", str(checkpoint), "--errors", str(errors), "--concurrency", "1"]
    hubspot_emulator.inject("reset", count=1000)  # every batch request: no answer at all
    code, _, err = await run_process(*upsert(source, hubspot_emulator.url, *more))
    assert code == 3, err
    assert "stopped: the run could not go on: no record got an answer from HubSpot" in err
    assert journaled(checkpoint) == set()  # nothing is marked done
    dead = read_jsonl(errors)
    assert len(dead) == 150 and not any(d["_error"]["final"] for d in dead)

    hubspot_emulator.reset()  # the network is back (and the store empty)
    code, _, err = await run_process(*upsert(source, hubspot_emulator.url, *more))
    assert code == 0, err
    assert stored_positions(hubspot_emulator) == set(range(150))
    assert journaled(checkpoint) == set(range(150))


async def test_exhausted_5xx_retries_are_resent_by_the_rerun(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", courses(300))
    checkpoint = tmp_path / "ck.jsonl"
    argv = upsert(
        source, hubspot_emulator.url, "--checkpoint", str(checkpoint), "--concurrency", "1"
    )
    hubspot_emulator.inject("503", count=5)  # every try of the first chunk
    code, _, err = await run_process(*argv)
    assert code == 1, err  # some written: HubSpot answered, this is not an outage
    assert journaled(checkpoint) == set(range(100, 300))
    assert stored_positions(hubspot_emulator) == set(range(100, 300))

    code, _, err = await run_process(*argv)
    assert code == 0, err
    assert "skipped (checkpoint)   200" in err
    assert stored_positions(hubspot_emulator) == set(range(300))
    assert journaled(checkpoint) == set(range(300))


# -- 2. a corrupt gzip mid-stream -------------------------------------------------------------


def corrupt_gzip(records: list[dict[str, object]]) -> tuple[bytes, int]:
    """The records gzip'd, with the deflate block after the middle made invalid, and how many
    lines the gzip reader yields before ``zlib.error`` (the bytes it inflated in the failing
    call are lost with it, as they are for the command line)."""
    text = [(json.dumps(r) + "\n").encode() for r in records]
    half = len(text) // 2
    deflate = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: a gzip wrapper
    data = bytearray(deflate.compress(b"".join(text[:half])))
    data += deflate.flush(zlib.Z_FULL_FLUSH)  # the next block starts on a byte of its own
    broken = len(data)
    data += deflate.compress(b"".join(text[half:])) + deflate.flush()
    data[broken] = 0xFF  # BTYPE 11: "invalid block type"
    lines = 0
    with contextlib.suppress(zlib.error), gzip.open(io.BytesIO(bytes(data))) as reader:
        for _ in reader:
            lines += 1
    assert lines < half, "the corruption did not make zlib fail"
    return bytes(data), lines


async def test_corrupt_gzip_file_is_refused_before_anything_is_sent(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    data, _ = corrupt_gzip(courses(8000))
    source = tmp_path / "in.jsonl.gz"
    source.write_bytes(data)
    checkpoint = tmp_path / "ck.jsonl"
    more = ["--checkpoint", str(checkpoint), "--concurrency", "4"]
    code, _, err = await run_process(*upsert(source, hubspot_emulator.url, *more))
    assert code == 2, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"asyncbatch: error: {source}: not valid gzip data after line ")
    assert batch_requests(hubspot_emulator) == 0  # the validation pass read it first
    assert not checkpoint.exists()


async def test_corrupt_gzip_mid_stdin_finishes_in_flight_chunks_then_exits_2(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    data, readable = corrupt_gzip(courses(8000))
    assert 500 < readable < 7900  # fewer than 100 requests: within the emulator's rate
    argv = upsert(Path("-"), hubspot_emulator.url, "--format", "jsonl", "--concurrency", "4")
    code, _, err = await run_process(*argv, stdin=data)
    assert code == 2, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("asyncbatch: error: <stdin>: not valid gzip data after line ")
    written = stored_positions(hubspot_emulator)
    assert f"; {len(written):,} records were written before the run stopped" in last
    assert written == set(range(len(written)))
    assert len(written) >= readable - 100  # at most the chunk being filled is left unsent


# -- 3. an output that is the input ---------------------------------------------------------


@pytest.mark.parametrize(
    ("more", "message"),
    [
        (["--out", "{input}"], "--out {input} is the same file as FILE"),
        (["--errors", "{hardlink}"], "--errors {hardlink} is the same file as FILE"),
        (["--checkpoint", "{symlink}"], "--checkpoint {symlink} is the same file as FILE"),
        (["--out", "{dir}/x", "--errors", "{dir}/./x"], "is the same file as --out"),
        (["--out", "-", "--errors", "-"], "--errors stdout is the same file as --out"),
        (["--token-file", "{dir}/token", "--out", "{dir}/token"], "same file as --token-file"),
    ],
)
async def test_an_output_naming_the_input_is_refused_before_anything_is_opened(
    tmp_path: Path, more: list[str], message: str
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", courses(10))
    before = source.read_bytes()
    os.link(source, tmp_path / "hard.jsonl")
    (tmp_path / "sym.jsonl").symlink_to(source)
    (tmp_path / "token").write_text("pat-token\n")
    names = {
        "input": str(source),
        "hardlink": str(tmp_path / "hard.jsonl"),
        "symlink": str(tmp_path / "sym.jsonl"),
        "dir": str(tmp_path),
    }
    argv = upsert(source, f"http://127.0.0.1:{closed_port()}", *(m.format(**names) for m in more))
    code, _, err = await run_process(*argv)
    assert code == 2, err
    assert message.format(**names) in err
    assert source.read_bytes() == before
    assert (tmp_path / "token").read_text() == "pat-token\n"
    assert not (tmp_path / "x").exists()


async def test_out_dash_writes_results_to_stdout(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", courses(120))
    code, out, err = await run_process(*upsert(source, hubspot_emulator.url, "--out", "-"))
    assert code == 0, err
    results = [json.loads(line) for line in out.splitlines()]
    assert sorted(p for r in results for p in r["_input"]["positions"]) == list(range(120))
    assert not (Path.cwd() / "-").exists()


# -- 4. a checkpoint is matched by content ------------------------------------------------


async def test_checkpoint_refuses_a_same_size_file_with_other_content(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", courses(200))
    checkpoint = tmp_path / "ck.jsonl"
    argv = upsert(source, hubspot_emulator.url, "--checkpoint", str(checkpoint))
    code, _, err = await run_process(*argv)
    assert code == 0, err
    stat = source.stat()
    write_jsonl(source, courses(200, prefix="D"))  # another export, the same size
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and even the same mtime
    assert source.stat().st_size == stat.st_size

    code, _, err = await run_process(*argv)
    assert code == 2, err
    assert "was written for another input or job: input sha256" in err
    assert batch_requests(hubspot_emulator) == 2  # the D records were not skipped unsent


async def test_checkpoint_follows_a_file_moved_unchanged(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", courses(200))
    checkpoint = tmp_path / "ck.jsonl"
    code, _, err = await run_process(
        *upsert(source, hubspot_emulator.url, "--checkpoint", str(checkpoint))
    )
    assert code == 0, err
    moved = source.rename(tmp_path / "renamed.jsonl")
    code, _, err = await run_process(
        *upsert(moved, hubspot_emulator.url, "--checkpoint", str(checkpoint))
    )
    assert code == 0, err
    assert "skipped (checkpoint)   200" in err
    assert batch_requests(hubspot_emulator) == 2


# -- 5. a torn last line is cut on resuming -------------------------------------------------


@pytest.mark.hubspot_emulator(properties=DEMO_PROPERTIES)
async def test_resume_cuts_a_torn_last_line_of_out_and_errors(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    records = courses(300)
    records[5]["properties"]["level"] = "expert"  # type: ignore[index]
    records[250]["properties"]["level"] = "expert"  # type: ignore[index]
    source = write_jsonl(tmp_path / "in.jsonl", records)
    out, errors, checkpoint = tmp_path / "out.jsonl", tmp_path / "err.jsonl", tmp_path / "ck"
    argv = upsert(
        source,
        hubspot_emulator.url,
        *("--out", str(out), "--errors", str(errors), "--checkpoint", str(checkpoint)),
        *("--concurrency", "1"),
    )
    code, _, err = await run_process(*argv)
    assert code == 1, err
    # A crash while the last chunk's lines were being written: its journal line never came,
    # and both files end in half a line.
    lines = checkpoint.read_text().splitlines(keepends=True)
    last = json.loads(lines[-1])["done"]
    assert last[0][0] >= 200
    checkpoint.write_text("".join(lines[:-1]))
    for path in (out, errors):
        with path.open("ab") as file:
            file.write(b'{"id": "C00299", "proper')

    code, _, err = await run_process(*argv)
    assert code == 1, err
    results, dead = read_jsonl(out), read_jsonl(errors)  # every line parses
    assert {p for r in results for p in r["_input"]["positions"]} == set(range(300)) - {5, 250}
    # The resent chunk's lines come again (at least once): what matters is that none is torn.
    assert {d["_error"]["position"] for d in dead} == {5, 250}


# -- 6. numbers digit for digit -------------------------------------------------------------


async def test_jsonl_numbers_reach_hubspot_digit_for_digit(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"id": "N1", "properties": {"course_code": "N1", "big": 123456789012345678901234567890,'
        ' "long": 0.10000000000000000001, "price": 1.50, "small": 12, "sci": 1e3}}\n'
    )
    code, _, err = await run_process(*upsert(source, hubspot_emulator.url))
    assert code == 0, err
    (stored,) = hubspot_emulator.records("0-410")
    assert stored["properties"]["big"] == "123456789012345678901234567890"
    assert stored["properties"]["long"] == "0.10000000000000000001"
    assert stored["properties"]["price"] == "1.50"
    assert stored["properties"]["small"] == "12"
    assert stored["properties"]["sci"] == "1000"


# -- 7. files named, concurrency bounded ---------------------------------------------------


async def test_an_output_that_cannot_be_written_is_named_and_exits_3(
    hubspot_emulator: Emulator, tmp_path: Path
) -> None:
    if not Path("/dev/full").exists():  # noqa: ASYNC240
        pytest.skip("needs /dev/full (writes fail with ENOSPC)")
    source = write_jsonl(tmp_path / "in.jsonl", courses(150))
    checkpoint = tmp_path / "ck.jsonl"
    more = ["--out", "/dev/full", "--checkpoint", str(checkpoint)]
    code, _, err = await run_process(*upsert(source, hubspot_emulator.url, *more))
    assert code == 3, err
    assert "Traceback" not in err
    assert "cannot write /dev/full: No space left on device" in err
    assert journaled(checkpoint) == set()  # lines not on disk: not journaled


async def test_concurrency_above_the_ceiling_is_a_usage_error(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", courses(10))
    argv = upsert(source, f"http://127.0.0.1:{closed_port()}", "--concurrency", "2000000")
    code, _, err = await run_process(*argv, limit_seconds=30)
    assert code == 2, err
    assert "--concurrency" in err and "1<=x<=100" in err
    code, out, _ = await run_process("upsert", "--help")
    assert code == 0
    assert "1 to 100" in " ".join(out.split())


# -- 8. Redis passwords in any form -------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "pieces"),
    [
        ("redis://127.0.0.1:{port}/0?password=S3CRETpw", ["S3CRETpw"]),
        ("redis://ops:p4ss@w0rd@127.0.0.1:{port}/0", ["p4ss", "w0rd"]),
        ("redis://ops:S3C/r3t@127.0.0.1:{port}/0", ["S3C", "r3t"]),
        ("redis://:pw@S3/cr3t@127.0.0.1:{port}/0?password=Qx9", ["S3", "cr3t", "Qx9"]),
    ],
)
async def test_redis_passwords_are_never_printed(
    tmp_path: Path, url: str, pieces: list[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", courses(10))
    url = url.format(port=closed_port())
    base = f"http://127.0.0.1:{closed_port()}"
    printed = []
    for more in (["--dry-run"], []):
        code, out, err = await run_process(*upsert(source, base, "--redis-url", url, *more))
        assert "Traceback" not in err
        assert code in (0, 2, 3), err
        printed.append(out + err)
    assert all(piece not in text for piece in pieces for text in printed), printed
