"""``asyncbatch update|upsert --redis-url``: the rate budget shared through a real Redis, against
the emulator fixture, in-process. A shared run writes everything and leaves only expiring keys;
Redis unreachable at the start sends nothing and touches no output file (exit 3); Redis going
away mid-run stops the run like the daily limit (exit 3, the rest resumes); bad options are
one-line usage errors (exit 2); the URL's password is never printed.

No test sleeps to wait: the mid-run failure is a proxy that cuts Redis off when the client asks
for its third request start.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
import redis.asyncio as redis_asyncio

from asyncbatch._limiters import KEY_PREFIX, RateLimit
from asyncbatch._limiters._redis import _ACQUIRE
from asyncbatch._redact import redact_url
from asyncbatch.cli._prepare import shared_rate
from asyncbatch.emulator import Emulator
from tests.cli._helpers import (
    RunCli,
    batch_requests,
    by_property,
    closed_port,
    read_jsonl,
    upsert_argv,
    write_jsonl,
)

SECRET = "pw-S3CRET-7f2a"


def courses(n: int) -> list[dict[str, object]]:
    return [{"id": f"R{i:04}", "properties": {"course_code": f"R{i:04}", "n": i}} for i in range(n)]


#: What the limiter sends to count a request start: ``EVALSHA`` of its acquire script (the
#: script that moves starts, ``aclose``'s, is another).
ACQUIRE_SHA = hashlib.sha1(_ACQUIRE.encode()).hexdigest().encode()


class CuttingProxy:
    """A TCP proxy to Redis that forwards everything until the client sends its ``cut_at``-th
    request start (``ACQUIRE_SHA``), then drops that command, stops listening and aborts every
    connection: Redis has gone away, mid-run."""

    def __init__(self, host: str, port: int, *, cut_at: int) -> None:
        self.host, self.port, self.cut_at = host, port, cut_at
        self.evalshas = 0
        self.cut = False
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    def _cut(self) -> None:
        self.cut = True
        if self._server is not None:
            self._server.close()  # new connections are refused from now on
        for writer in self._writers:
            writer.transport.abort()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if upstream:
                    self.evalshas += data.count(ACQUIRE_SHA)
                    if self.evalshas >= self.cut_at:
                        self._cut()
                        return
                writer.write(data)
                await writer.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        if self.cut:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self._writers.append(up_writer)
        await asyncio.gather(
            self._pipe(reader, up_writer, upstream=True),
            self._pipe(up_reader, writer, upstream=False),
        )
        writer.transport.abort()
        up_writer.transport.abort()

    def close(self) -> None:
        self._cut()


@pytest_asyncio.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis_asyncio.Redis]:
    client = redis_asyncio.from_url(redis_url, socket_timeout=5)
    try:
        yield client
    finally:
        await client.aclose()


# -- the pure part ------------------------------------------------------------------------


def test_shared_rate_evolves_the_rate_and_keeps_it_without_a_url() -> None:
    rate = RateLimit(190, 10)
    assert shared_rate(rate, None, None) is rate
    shared = shared_rate(rate, "redis://h:6379/1", None)
    assert (shared.requests, shared.per_seconds) == (190, 10)
    assert (shared.redis_url, shared.key) == ("redis://h:6379/1", "default")
    assert shared_rate(rate, "unix:///run/redis.sock", "acct-1").key == "acct-1"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://user:{SECRET}@h:6379/0", "redis://user:***@h:6379/0"),
        (f"rediss://:{SECRET}@h", "rediss://:***@h"),
        (f"redis//:{SECRET}@h", "***@h"),  # not a URL, but a password all the same
        ("redis://h:6379", "redis://h:6379"),
    ],
)
def test_shown_url_hides_the_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


# -- against the emulator and a real Redis ------------------------------------------------


@pytest.mark.asyncio
async def test_shared_budget_writes_everything_and_its_keys_expire(
    hubspot_emulator: Emulator,
    run_cli: RunCli,
    tmp_path: Path,
    redis_url: str,
    redis_key: str,
    redis_client: redis_asyncio.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_jsonl(tmp_path / "in.jsonl", courses(250))
    argv = upsert_argv(tmp_path / "in.jsonl", hubspot_emulator, "--rate", "100/60s")
    code, _, err = await run_cli(*argv, "--redis-url", redis_url, "--redis-key", redis_key)
    assert code == 0, err
    assert len(by_property(hubspot_emulator.records("0-410"), "course_code")) == 250
    assert f"shared budget          in Redis at {redis_url}, key '{redis_key}'" in err
    starts = f"{KEY_PREFIX}{{{redis_key}}}:starts"
    # Every request counts in the shared window: the schema read and three chunks.
    assert await redis_client.zcard(starts) == hubspot_emulator.stats.total_requests == 4
    # The window is 60.6 s (the margin included); the key outlives it by a second at most.
    assert 0 < await redis_client.pttl(starts) <= 61_600
    assert not await redis_client.exists(f"{KEY_PREFIX}{{{redis_key}}}:pause")  # no 429

    # The same budget from the environment: the second job's starts count in the same window.
    monkeypatch.setenv("ASYNCBATCH_REDIS_URL", redis_url)
    monkeypatch.setenv("ASYNCBATCH_REDIS_KEY", redis_key)
    code, _, err = await run_cli(*argv)
    assert code == 0, err
    assert await redis_client.zcard(starts) == hubspot_emulator.stats.total_requests == 8
    assert 0 < await redis_client.pttl(starts) <= 61_600
    names = [n async for n in redis_client.scan_iter(match=f"{KEY_PREFIX}{{{redis_key}}}*")]
    assert names == [starts.encode()]
    assert all([await redis_client.pttl(name) > 0 for name in names])  # nothing lives forever


@pytest.mark.asyncio
async def test_unreachable_redis_exits_3_sends_nothing_and_touches_no_output(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    write_jsonl(tmp_path / "in.jsonl", courses(150))
    out, errors, checkpoint = tmp_path / "out.jsonl", tmp_path / "err.jsonl", tmp_path / "ck"
    out.write_text("earlier results\n")
    errors.write_text("earlier failures\n")
    port = closed_port()
    argv = upsert_argv(
        tmp_path / "in.jsonl",
        hubspot_emulator,
        "--redis-url",
        f"redis://ops:{SECRET}@127.0.0.1:{port}/0",
        "--out",
        str(out),
        "--errors",
        str(errors),
        "--checkpoint",
        str(checkpoint),
    )
    code, stdout, err = await run_cli(*argv)
    assert code == 3, err
    assert err.count("\n") == 1  # one line, no summary, no traceback
    assert err.startswith(
        "asyncbatch: stopped: the run could not go on, nothing was sent: the shared rate "
        f"limiter's Redis at redis://ops:***@127.0.0.1:{port}/0 failed while starting: "
        "ConnectionError"
    )
    assert SECRET not in stdout + err
    assert hubspot_emulator.stats.total_requests == 0
    assert not checkpoint.exists()  # the rerun starts from the beginning, as it must
    assert out.read_text() == "earlier results\n"
    assert errors.read_text() == "earlier failures\n"


@pytest.mark.asyncio
async def test_redis_refusing_the_password_exits_3_without_printing_it(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path, redis_url: str
) -> None:
    parts = urlsplit(redis_url)
    if parts.password:
        pytest.skip("the test Redis has a password: a wrong one is tested elsewhere")
    wrong = parts._replace(netloc=f"nobody:{SECRET}@{parts.hostname}:{parts.port or 6379}")
    write_jsonl(tmp_path / "in.jsonl", courses(10))
    argv = upsert_argv(tmp_path / "in.jsonl", hubspot_emulator, "--redis-url", wrong.geturl())
    code, stdout, err = await run_cli(*argv)
    assert code == 3, err
    assert "nothing was sent" in err and "nobody:***@" in err
    assert SECRET not in stdout + err
    assert hubspot_emulator.stats.total_requests == 0


@pytest.mark.asyncio
async def test_redis_gone_mid_run_stops_with_exit_3_and_the_rest_resumes(
    hubspot_emulator: Emulator,
    run_cli: RunCli,
    tmp_path: Path,
    redis_url: str,
    redis_key: str,
) -> None:
    parts = urlsplit(redis_url)
    proxy = CuttingProxy(parts.hostname or "127.0.0.1", parts.port or 6379, cut_at=4)
    proxy_url = await proxy.start()
    write_jsonl(tmp_path / "in.jsonl", courses(500))
    failed, checkpoint = tmp_path / "failed.jsonl", tmp_path / "ck.jsonl"
    argv = upsert_argv(
        tmp_path / "in.jsonl",
        hubspot_emulator,
        "--concurrency",
        "1",
        "--redis-key",
        redis_key,
        "--errors",
        str(failed),
        "--checkpoint",
        str(checkpoint),
    )
    try:
        code, _, err = await run_cli(*argv, "--redis-url", proxy_url)
    finally:
        proxy.close()
    assert code == 3, err
    assert proxy.cut
    assert (
        "asyncbatch: stopped: the run could not go on: the shared rate limiter's Redis at "
        f"{proxy_url} failed while counting a request: ConnectionError"
    ) in err
    assert f"; rerun the same command to resume from {checkpoint}" in err
    # Three starts were counted (the schema read and two chunks), so three requests went
    # out; nothing was sent uncounted.
    assert hubspot_emulator.stats.total_requests == 3
    assert len(hubspot_emulator.records("0-410")) == 200
    dead = read_jsonl(failed)
    assert dead and all(not d["_error"]["final"] for d in dead)  # left for the rerun
    assert all(d["_error"]["line"] > 200 for d in dead)
    entries = read_jsonl(checkpoint)[1:]
    assert sorted(p for e in entries for a, b in e["done"] for p in range(a, b)) == list(range(200))

    code, _, err = await run_cli(*argv, "--redis-url", redis_url)
    assert code == 0, err
    assert len(by_property(hubspot_emulator.records("0-410"), "course_code")) == 500
    assert batch_requests(hubspot_emulator) == 5
    assert "skipped (checkpoint)   200" in err


@pytest.mark.asyncio
async def test_dry_run_names_the_shared_budget_without_contacting_redis(
    hubspot_emulator: Emulator, run_cli: RunCli, tmp_path: Path
) -> None:
    write_jsonl(tmp_path / "in.jsonl", courses(250))
    port = closed_port()  # nothing listens: a dry run that connected would fail
    argv = upsert_argv(
        tmp_path / "in.jsonl",
        hubspot_emulator,
        "--dry-run",
        "--redis-url",
        f"redis://:{SECRET}@127.0.0.1:{port}/2",
        "--redis-key",
        "acct-42",
    )
    code, stdout, err = await run_cli(*argv)
    assert code == 0, err
    assert (
        f"shared budget   in Redis at redis://:***@127.0.0.1:{port}/2, key 'acct-42' "
        "(not contacted)"
    ) in stdout
    assert SECRET not in stdout + err
    # Its one request is the property definitions' read (issue 14), Redis never contacted.
    assert hubspot_emulator.stats.routes == {"GET /crm/v3/properties/{objectType}": 1}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("more", "env", "message"),
    [
        (["--redis-url", f"http://ops:{SECRET}@h:6379"], {}, "must be a redis://, rediss://"),
        (["--redis-url", f"redis://:{SECRET}@h:port/0"], {}, "Port could not be cast"),
        (["--redis-url", f"redis//:{SECRET}@h"], {}, "got '***@h'"),
        (["--redis-url", "redis://[::1"], {}, "got 'redis://[::1'"),  # nothing to hide in it
        (["--redis-url", "unix://"], {}, "a unix:// URL needs the socket's path"),
        (["--redis-url", ""], {}, "must be a redis://, rediss://"),
        (["--redis-url", f"redis://:{SECRET}@h", "--redis-key", "a b"], {}, "--redis-key must"),
        (["--redis-url", "redis://h", "--redis-key", "k" * 201], {}, "--redis-key must be 1 to"),
        (["--redis-key", "acct-1"], {}, "it needs --redis-url URL"),
        ([], {"ASYNCBATCH_REDIS_KEY": "acct-1"}, "it needs --redis-url URL"),
        ([], {"ASYNCBATCH_REDIS_URL": f"ftp://:{SECRET}@h"}, "got 'ftp://:***@h'"),
        (["--dry-run", "--redis-key", "acct-1"], {}, "it needs --redis-url URL"),
    ],
)
async def test_bad_redis_options_exit_2_in_one_line(
    hubspot_emulator: Emulator,
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    more: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    write_jsonl(tmp_path / "in.jsonl", courses(3))
    code, stdout, err = await run_cli(*upsert_argv(tmp_path / "in.jsonl", hubspot_emulator, *more))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("asyncbatch: error: --redis-")
    assert message in err
    assert SECRET not in stdout + err
    assert hubspot_emulator.stats.total_requests == 0
