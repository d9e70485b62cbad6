"""``asyncbatch`` as a real process: stdin, the sandbox on the bundled sample, the missing
extra, and resuming after SIGINT, a double SIGINT and SIGKILL from the checkpoint.

No test sleeps to wait: each waits on the child's stderr (its progress lines) or its exit,
bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import gzip
import re
import signal
import subprocess
from pathlib import Path

import pytest

from asyncbatch.emulator import Emulator
from asyncbatch.emulator.pytest_plugin import MakeEmulator
from tests.cli._helpers import (
    CLI,
    by_property,
    journaled,
    read_jsonl,
    run_process,
    subprocess_env,
    write_jsonl,
)

TIMEOUT = 30.0


@pytest.mark.asyncio
async def test_csv_and_gzipped_jsonl_from_stdin(hubspot_emulator: Emulator) -> None:
    csv_text = "course_code,level\n" + "".join(f"S{i},beginner\n" for i in range(150))
    argv = [
        "upsert",
        "0-410",
        "-",
        "--id-property",
        "course_code",
        "--id-column",
        "course_code",
        "--base-url",
        hubspot_emulator.url,
    ]
    code, _, err = await run_process(*argv, "--format", "csv", stdin=csv_text.encode())
    assert code == 0, err
    assert len(by_property(hubspot_emulator.records("0-410"), "course_code")) == 150
    jsonl = "".join(
        f'{{"id": "S{i}", "properties": {{"level": "advanced"}}}}\n' for i in range(150)
    )
    code, _, err = await run_process(
        *argv, "--format", "jsonl", stdin=gzip.compress(jsonl.encode())
    )
    assert code == 0, err
    stored = by_property(hubspot_emulator.records("0-410"), "course_code")
    assert len(stored) == 150
    assert {r["properties"]["level"] for r in stored.values()} == {"advanced"}
    assert hubspot_emulator.stats.total_writes == 300


def test_sandbox_runs_the_bundled_sample(tmp_path: Path) -> None:
    failed = tmp_path / "failed.jsonl"
    completed = subprocess.run(
        [
            *CLI,
            "upsert",
            "0-410",
            "sample:courses",
            "--id-property",
            "course_code",
            "--sandbox",
            "--errors",
            str(failed),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=subprocess_env(),
    )
    assert completed.returncode == 1, completed.stderr  # the dozen "expert" courses
    assert "records read           10,072" in completed.stderr
    assert "10,000 records stored in the emulator" in completed.stderr
    assert "429s                   0" in completed.stderr
    dead = read_jsonl(failed)
    assert len(dead) == 12
    assert {d["properties"]["level"] for d in dead} == {"expert"}


def test_without_click_one_line_and_exit_2() -> None:
    code = "import sys; sys.modules['click'] = None; from asyncbatch.cli import main; "
    code += "sys.exit(main(['update', '0-410', 'x.csv']))"
    completed = subprocess.run(
        [CLI[0], "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=subprocess_env(),
    )
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1
    assert "pip install 'asyncbatch[cli]'" in completed.stderr


# -- resuming ------------------------------------------------------------------------------

N_RECORDS = 3000
_PROGRESS = re.compile(r"\S+ progress: ([\d,]+)/[\d,]+ records")


_ROW = re.compile(r"^  (\S.*?)\s{2,}([\d,]+)\b", re.MULTILINE)


def summary_counts(err: str) -> dict[str, int]:
    """The summary's rows that start with a count, by label."""
    return {label: int(count.replace(",", "")) for label, count in _ROW.findall(err)}


def writes_by_position(emulator: Emulator) -> dict[int, int]:
    """How many writes each record received, by its position in the input file."""
    stored = by_property(emulator.records("0-410"), "course_code")
    return {
        int(code[1:]): emulator.stats.writes_to("0-410", record["id"])
        for code, record in stored.items()
    }


async def interrupted_run(argv: list[str], how: str) -> tuple[int, str]:
    """Start the run, wait for a progress line showing finished records, interrupt it."""
    process = await asyncio.create_subprocess_exec(
        *CLI,
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=subprocess_env(HUBSPOT_ACCESS_TOKEN="process-token"),
    )
    assert process.stderr is not None
    seen: list[str] = []
    try:
        while True:
            line = (await asyncio.wait_for(process.stderr.readline(), TIMEOUT)).decode()
            assert line, "the run ended before it was interrupted:\n" + "".join(seen)
            seen.append(line)
            match = _PROGRESS.match(line)
            if match and int(match.group(1).replace(",", "")) > 0:
                break
        if how == "SIGKILL":
            process.kill()
        else:
            process.send_signal(signal.SIGINT)
        if how == "SIGINT twice":
            while "interrupt again to abort" not in seen[-1]:  # the first one was taken
                line = (await asyncio.wait_for(process.stderr.readline(), TIMEOUT)).decode()
                assert line, "the run ended before the second SIGINT:\n" + "".join(seen)
                seen.append(line)
            process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, "".join(seen) + err.decode()


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["SIGINT", "SIGINT twice", "SIGKILL"])
async def test_resume_after_interruption_sends_no_finished_chunk_again(
    make_hubspot_emulator: MakeEmulator, tmp_path: Path, how: str
) -> None:
    latency = 0.2 if how == "SIGINT twice" else 0.05  # the abort must find chunks in flight
    # The server's window is short so that the rerun does not see the first run's requests
    # in it (the client's limiter would take them for another client's and slow down).
    emulator = await make_hubspot_emulator(
        latency_seconds=latency,
        rate_limit_requests=1000,
        rate_limit_window_seconds=1.0,
        strict=False,
    )
    source = write_jsonl(
        tmp_path / "in.jsonl",
        ({"id": f"k{i}", "properties": {"course_code": f"k{i}", "n": i}} for i in range(N_RECORDS)),
    )
    checkpoint = tmp_path / "ck.jsonl"
    argv = [
        "upsert",
        "0-410",
        str(source),
        "--id-property",
        "course_code",
        "--base-url",
        emulator.url,
        "--rate",
        "20/1s",
        "--concurrency",
        "4",
        "--checkpoint",
        str(checkpoint),
        "--out",
        str(tmp_path / "out.jsonl"),
        "--progress-interval",
        "0.1",
    ]

    code, err = await interrupted_run(argv, how)
    assert "Traceback" not in err
    done = journaled(checkpoint)
    first = writes_by_position(emulator)
    assert 0 < len(done) < N_RECORDS
    assert all(first[p] == 1 for p in done)  # journaled only once answered
    if how == "SIGKILL":
        assert code == -signal.SIGKILL
    else:
        assert code == 130, err
        assert ("aborted" if how == "SIGINT twice" else "interrupted; rerun") in err
    if how == "SIGINT":
        assert set(first) == done  # in-flight chunks finished and were journaled
        assert f"written                {len(done):,}" in err
    if how != "SIGKILL":  # every record read is in exactly one line of the summary
        counts = summary_counts(err)
        parts = ("written", "failed", "unfinished", "not sent", "bad rows")
        assert counts["records read"] == sum(counts.get(part, 0) for part in parts) > 0
        if how == "SIGINT twice":
            assert counts["not sent"] > 0  # the chunks in flight were dropped, and said so

    code, _, err = await run_process(*argv)
    assert code == 0, err
    assert f"skipped (checkpoint)   {len(done):,}" in err
    writes = writes_by_position(emulator)
    assert set(writes) == set(range(N_RECORDS))  # none lost
    assert all(writes[p] == 1 for p in done)  # journaled chunks were not sent again
    if how == "SIGINT":
        assert set(writes.values()) == {1}  # every record written exactly once
    assert journaled(checkpoint) == set(range(N_RECORDS))
    results = read_jsonl(tmp_path / "out.jsonl")
    assert {p for r in results for p in r["_input"]["positions"]} == set(range(N_RECORDS))
