"""Processes the runner starts: the emulator (``python -m asyncbatch.emulator``) and the clients
under test (``python -m benchmarks.child``). Every wait is bounded; every process is ended by
its own pid (SIGTERM, then SIGKILL) when the block that started it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
_URL_RE = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


async def _end(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)


def _tail(handle: IO[bytes], limit: int = 2000) -> str:
    handle.flush()
    handle.seek(0)
    return handle.read().decode(errors="replace")[-limit:]


class Emulator:
    """A running emulator process and its ``/_emulator`` introspection."""

    def __init__(self, url: str, session: aiohttp.ClientSession, pid: int) -> None:
        self.url = url
        self._session = session
        self._pid = pid

    def cpu_seconds(self) -> float | None:
        """The emulator process's user+sys CPU time so far (Linux ``/proc``; else ``None``)."""
        try:
            fields = Path(f"/proc/{self._pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    async def stats(self) -> dict[str, Any]:
        async with self._session.get(f"{self.url}/_emulator/stats") as response:
            response.raise_for_status()
            body: dict[str, Any] = await response.json()
            return body

    async def reset(self) -> None:
        async with self._session.post(f"{self.url}/_emulator/reset") as response:
            response.raise_for_status()

    async def preload(self, object_type: str, properties: list[dict[str, str]]) -> None:
        """Create these records directly (not requests: no counters move)."""
        url = f"{self.url}/_emulator/preload/{object_type}"
        inputs = [{"properties": p} for p in properties]
        async with self._session.post(url, json={"inputs": inputs}) as response:
            response.raise_for_status()


@contextlib.asynccontextmanager
async def emulator(
    *,
    token: str,
    rate: int,
    window: float,
    latency: float,
    properties: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> AsyncIterator[Emulator]:
    """Start ``python -m asyncbatch.emulator --port 0`` on 127.0.0.1 with these limits. It is
    as strict as HubSpot (its default); ``properties`` (``{object type: [definition in
    HubSpot's JSON names]}``) are declared besides HubSpot's defaults (``--properties``)."""
    argv = [
        sys.executable,
        "-m",
        "asyncbatch.emulator",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--token",
        token,
        "--rate-limit",
        str(rate),
        "--rate-window",
        str(window),
        "--latency",
        str(latency),
    ]
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile() as stderr:
        if properties:
            declared = Path(tmp) / "properties.json"
            declared.write_text(json.dumps(properties), encoding="utf-8")
            argv += ["--properties", str(declared)]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            cwd=ROOT,
        )
        try:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT)
            match = _URL_RE.search(line.decode(errors="replace"))
            if match is None:
                raise RuntimeError(f"emulator did not start: {line!r} {_tail(stderr)}")
            timeout = aiohttp.ClientTimeout(total=60)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                yield Emulator(match.group(1), session, proc.pid)
        finally:
            await _end(proc)


class Child:
    """One client under test; see ``benchmarks.child`` for the READY/GO/RESULT protocol."""

    def __init__(self, proc: asyncio.subprocess.Process, stderr: IO[bytes]) -> None:
        self._proc = proc
        self._stderr = stderr

    async def ready(self) -> None:
        line = await self._line(START_TIMEOUT)
        if line != "READY":
            raise RuntimeError(f"client did not start: {line!r} {_tail(self._stderr)}")

    def go(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(b"GO\n")

    async def result(self, wait_s: float) -> dict[str, Any]:
        line = await self._line(wait_s)
        if not line.startswith("RESULT "):
            raise RuntimeError(f"client failed: {line!r} {_tail(self._stderr)}")
        outcome: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
        return outcome

    async def _line(self, wait_s: float) -> str:
        assert self._proc.stdout is not None
        raw = await asyncio.wait_for(self._proc.stdout.readline(), wait_s)
        return raw.decode(errors="replace").strip()


@contextlib.asynccontextmanager
async def child(spec: dict[str, Any]) -> AsyncIterator[Child]:
    """Start ``python -m benchmarks.child SPEC``; ended on exit whatever happened."""
    with tempfile.TemporaryFile() as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.child",
            json.dumps(spec),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            limit=2**24,
            cwd=ROOT,
        )
        try:
            yield Child(proc, stderr)
        finally:
            await _end(proc)


async def run_children(specs: list[dict[str, Any]], wait_s: float) -> list[dict[str, Any]]:
    """Start every client, wait until all are READY, say GO to all at once, collect RESULTs."""
    async with contextlib.AsyncExitStack() as stack:
        children = [await stack.enter_async_context(child(spec)) for spec in specs]
        await asyncio.gather(*(c.ready() for c in children))
        for c in children:
            c.go()
        return list(await asyncio.gather(*(c.result(wait_s) for c in children)))
