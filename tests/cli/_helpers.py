"""Shared helpers of the command-line tests (files, emulator lookups, subprocess set-up)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncbatch.emulator import Emulator

OAUTH_VARIABLES = ("HUBSPOT_CLIENT_ID", "HUBSPOT_CLIENT_SECRET", "HUBSPOT_REFRESH_TOKEN")

RunCli = Callable[..., Awaitable[tuple[int, str, str]]]


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def by_property(records: list[dict[str, Any]], name: str) -> dict[str, dict[str, Any]]:
    """Stored emulator records keyed by one of their properties."""
    return {r["properties"][name]: r for r in records if name in r["properties"]}


def batch_requests(emulator: Emulator) -> int:
    """The requests an emulator got beside the one schema read that opens every run (the CLI
    checks the token with it), which the lenient emulator answers 404."""
    return emulator.stats.total_requests - emulator.stats.status_counts[404]


def upsert_argv(path: Path, emulator: Emulator, *more: str) -> list[str]:
    """``asyncbatch upsert`` of the JSONL file ``path`` into the courses (``0-410``), keyed by
    ``course_code``, at ``emulator``; ``more`` options after."""
    return [
        "upsert",
        "0-410",
        str(path),
        "--id-property",
        "course_code",
        "--base-url",
        emulator.url,
        *more,
    ]


def subprocess_env(**extra: str) -> dict[str, str]:
    credentials = ("HUBSPOT_ACCESS_TOKEN", *OAUTH_VARIABLES)
    env = {k: v for k, v in os.environ.items() if k not in credentials}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env.update(extra)
    return env


CLI = [sys.executable, "-m", "asyncbatch"]


async def run_process(
    *argv: str, stdin: bytes | None = None, limit_seconds: float = 60.0
) -> tuple[int, str, str]:
    """``asyncbatch *argv`` as a real process (with a token in its environment)."""
    process = await asyncio.create_subprocess_exec(
        *CLI,
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=subprocess_env(HUBSPOT_ACCESS_TOKEN="process-token"),
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), limit_seconds)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def journaled(checkpoint: Path) -> set[int]:
    """The positions a checkpoint journal names as finished (a torn line is skipped)."""
    done: set[int] = set()
    for line in checkpoint.read_text().splitlines()[1:]:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        done.update(p for start, end in entry["done"] for p in range(start, end))
    return done
