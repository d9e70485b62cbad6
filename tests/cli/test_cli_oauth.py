"""The command line authenticating as a public app from the environment: ``HUBSPOT_CLIENT_ID``,
``HUBSPOT_CLIENT_SECRET`` and ``HUBSPOT_REFRESH_TOKEN`` (``asyncbatch.cli._credentials``),
end to end against the emulator's token endpoint on 127.0.0.1.

What HubSpot does, and where it says so (the emulator encodes it, ``asyncbatch.emulator._oauth``):
the refresh grant (``POST /oauth/v1/token``, "Refresh an access token",
https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/refresh-oauth-token)
answers an access token that lasts ``expires_in`` 1800 seconds, then is refused with a 401
``EXPIRED_AUTHENTICATION``; a refresh token that no longer works is a 400 ``BAD_REFRESH_TOKEN``
(https://www.nango.dev/blog/hubspot-oauth-bad-refresh-token); answers to OAuth-authorized
requests carry no ``X-HubSpot-RateLimit-Daily-Remaining`` (developer changelog,
https://developers.hubspot.com/changelog/rate-limit-headers-will-now-appear-for-oauth-authenticated-calls).

Time is the emulator's fake clock, moved when the emulator has seen a given number of API
requests (``Script``): nothing sleeps.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from asyncbatch.emulator import Emulator, EmulatorConfig, OAuthApp
from tests.cli._helpers import RunCli, write_jsonl

pytestmark = pytest.mark.asyncio

CLIENT_ID = "7d0c5e1a-cli-client-id"
CLIENT_SECRET = "5ecre7-cli-client-secret-0f9a"
REFRESH_TOKEN = "cli-refresh-token-2b7e-91c4"
STATIC = "a-private-app-token-in-a-file"
APP = OAuthApp(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)
VARIABLES = {
    "HUBSPOT_CLIENT_ID": CLIENT_ID,
    "HUBSPOT_CLIENT_SECRET": CLIENT_SECRET,
    "HUBSPOT_REFRESH_TOKEN": REFRESH_TOKEN,
}
OAUTH_NO_DAILY = (
    "left today: unknown (HubSpot sends no X-HubSpot-RateLimit-Daily-Remaining to "
    "OAuth-authorized requests)"
)


class Script:
    """The emulator's clock: still, until the emulator has seen ``at`` API requests; then
    ``jump`` seconds later (a token it issued has expired), and ``then()`` is called once."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.emulator: Emulator | None = None
        self.at: int | None = None
        self.jump = 0.0
        self.then: Callable[[], None] = lambda: None

    def __call__(self) -> float:
        emulator = self.emulator
        if self.at is not None and emulator is not None:
            if emulator.stats.total_requests >= self.at:
                self.at = None
                self.now += self.jump
                self.then()
        return self.now


@pytest_asyncio.fixture
async def script() -> AsyncIterator[Script]:
    yield Script()


@pytest_asyncio.fixture
async def emulator(script: Script) -> AsyncIterator[Emulator]:
    """A lenient emulator with the app, accepting its tokens and the static one (only)."""
    config = EmulatorConfig(strict=False, oauth=APP, token=STATIC)
    async with Emulator(config, clock=script) as emu:
        script.emulator = emu
        yield emu


@pytest.fixture
def oauth_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in VARIABLES.items():
        monkeypatch.setenv(name, value)


def courses(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"C{i}", "properties": {"course_code": f"C{i}", "level": "beginner"}}
        for i in range(n)
    ]


def upsert(path: Path, emulator: Emulator, *more: str) -> list[str]:
    head = ["upsert", "0-410", str(path), "--id-property", "course_code"]
    return [*head, "--base-url", emulator.url, *more]


def assert_no_secret(emulator: Emulator, *texts: str) -> None:
    secrets = [CLIENT_SECRET, REFRESH_TOKEN, STATIC, *emulator.issued_tokens]
    for text, secret in itertools.product(texts, secrets):
        assert secret not in text, f"a secret shows in {text[:300]!r}"


def outputs(tmp_path: Path, *names: str) -> list[str]:
    return [(tmp_path / name).read_text() for name in names if (tmp_path / name).exists()]


async def test_an_oauth_app_from_the_environment_runs_the_job(
    emulator: Emulator, oauth_env: None, run_cli: RunCli, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", courses(250))
    files = ["--out", str(tmp_path / "out.jsonl"), "--errors", str(tmp_path / "err.jsonl")]
    files += ["--summary-json", str(tmp_path / "run.json"), "--daily-reserve", "10"]
    code, out, err = await run_cli(*upsert(source, emulator, *files))
    assert code == 0, err
    assert len(emulator.records("0-410")) == 250
    # One access token, asked for before the first request; HUBSPOT_ACCESS_TOKEN (the test's
    # "test-token", which this emulator would refuse) was not used, and the job said so.
    assert emulator.stats.token_grants == 1 and emulator.stats.status_counts[401] == 0
    assert (
        "asyncbatch: note: authenticating with the OAuth app of HUBSPOT_CLIENT_ID, "
        "HUBSPOT_CLIENT_SECRET and HUBSPOT_REFRESH_TOKEN (its access token refreshed as it "
        "expires); HUBSPOT_ACCESS_TOKEN is set too and not used\n"
    ) in err
    # No daily figure for an OAuth app: said, and the job went on despite --daily-reserve.
    assert f"3 chunks + the schema read); {OAUTH_NO_DAILY}, 10 kept by --daily-reserve\n" in err
    document = json.loads((tmp_path / "run.json").read_text())
    assert document["exit_code"] == 0 and document["records"]["written"] == 250
    assert document["daily_budget"]["remaining_at_start"] is None
    assert document["daily_budget"]["fits"] is None
    code, dry, dry_err = await run_cli(*upsert(source, emulator, "--dry-run"))
    assert code == 0, dry_err
    assert (
        "  credentials     the OAuth app of HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET and "
        "HUBSPOT_REFRESH_TOKEN (its access token refreshed as it expires)\n"
    ) in dry
    assert (
        f"daily budget    4 requests needed (3 chunks + the schema read); {OAUTH_NO_DAILY}" in dry
    )
    assert emulator.stats.token_grants == 2  # the dry run's own client asked for one
    assert_no_secret(emulator, out, err, dry, dry_err, *outputs(tmp_path, "run.json", "out.jsonl"))


async def test_a_token_file_wins_over_the_oauth_app(
    emulator: Emulator,
    oauth_env: None,
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(STATIC + "\n")
    source = write_jsonl(tmp_path / "in.jsonl", courses(150))
    argv = upsert(source, emulator, "--token-file", str(token_file))
    code, _, err = await run_cli(*argv)
    assert code == 0, err
    assert emulator.stats.token_grants == 0 and emulator.stats.status_counts[401] == 0
    assert "left today after the schema read" in err  # a private app's token: the figure
    assert "note: authenticating" not in err
    # With --token-file the OAuth variables are not read at all, a partial set included.
    monkeypatch.delenv("HUBSPOT_REFRESH_TOKEN")
    code, dry, err = await run_cli(*argv, "--dry-run")
    assert code == 0, err
    assert f"  credentials     --token-file {token_file}\n" in dry
    assert_no_secret(emulator, err, dry)


@pytest.mark.parametrize(
    "given",
    [
        ("HUBSPOT_CLIENT_ID",),
        ("HUBSPOT_CLIENT_SECRET",),
        ("HUBSPOT_REFRESH_TOKEN",),
        ("HUBSPOT_CLIENT_ID", "HUBSPOT_CLIENT_SECRET"),
        ("HUBSPOT_CLIENT_SECRET", "HUBSPOT_REFRESH_TOKEN"),
    ],
)
async def test_an_incomplete_oauth_app_is_a_usage_error_naming_what_is_missing(
    emulator: Emulator,
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    given: tuple[str, ...],
) -> None:
    for name in given:
        monkeypatch.setenv(name, VARIABLES[name])
    if "HUBSPOT_CLIENT_ID" not in given:
        monkeypatch.setenv("HUBSPOT_CLIENT_ID", "  ")  # blank: as good as unset
    missing = [name for name in VARIABLES if name not in given]
    source = write_jsonl(tmp_path / "in.jsonl", courses(10))
    summary = tmp_path / "run.json"
    for more in ([], ["--dry-run"], ["--summary-json", str(summary)]):
        code, out, err = await run_cli(*upsert(source, emulator, *more))
        assert code == 2, err
        (line,) = err.splitlines()
        assert line.startswith("asyncbatch: error: incomplete OAuth credentials: ")
        shown = " and ".join(missing) if len(missing) == 2 else missing[0]
        verb = "are" if len(missing) == 2 else "is"
        assert f"credentials: {shown} {verb} not set (" in line
        assert_no_secret(emulator, out, err)
    assert json.loads(summary.read_text())["exit_code"] == 2
    assert emulator.stats.total_requests == 0 and emulator.stats.token_grants == 0
    # The sandbox has its own token: the environment's credentials are not read.
    sandbox = ["upsert", "0-410", str(source), "--id-property", "course_code", "--sandbox"]
    code, _, err = await run_cli(*sandbox, "--dry-run")
    assert code == 0, err


async def test_a_refused_first_refresh_stops_the_job_before_anything_is_sent(
    emulator: Emulator,
    oauth_env: None,
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = "a-refresh-token-hubspot-never-gave"
    monkeypatch.setenv("HUBSPOT_REFRESH_TOKEN", wrong)
    source = write_jsonl(tmp_path / "in.jsonl", courses(150))
    summary = tmp_path / "run.json"
    more = ["--summary-json", str(summary), "--checkpoint", str(tmp_path / "run.ckpt")]
    code, out, err = await run_cli(*upsert(source, emulator, *more))
    assert code == 3, err
    (line,) = [line for line in err.splitlines() if not line.startswith("asyncbatch: note:")]
    assert line == (
        "asyncbatch: stopped: the run could not go on, nothing was sent: HubSpot refused to "
        "refresh the OAuth access token (400 BAD_REFRESH_TOKEN: missing or invalid refresh "
        "token): check the app's client id and secret, or get a new refresh token (the app "
        "may have been uninstalled or its access revoked); the app's credentials came from "
        "HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET and HUBSPOT_REFRESH_TOKEN"
    )
    document = json.loads(summary.read_text())
    assert document["exit_code"] == 3 and document["message"] == line.removeprefix("asyncbatch: ")
    assert document["records"]["read"] == 0 and document["records"]["written"] == 0
    assert not (tmp_path / "run.ckpt").exists()  # stopped before any output was opened
    assert emulator.stats.total_requests == 0 and emulator.stats.token_refusals == 1
    code, dry, dry_err = await run_cli(*upsert(source, emulator, "--dry-run", "-q"))
    assert code == 3
    (dry_line,) = dry_err.splitlines()
    assert "nothing was sent: HubSpot refused to refresh the OAuth access token" in dry_line
    assert_no_secret(emulator, out, err, dry, dry_err, summary.read_text(), wrong)
    assert all(wrong not in text for text in (out, err, dry, dry_err, summary.read_text()))


async def test_a_token_expiring_mid_run_is_refreshed_and_every_record_written(
    emulator: Emulator, script: Script, oauth_env: None, run_cli: RunCli, tmp_path: Path
) -> None:
    # The schema read and three chunks; then the token HubSpot issued has expired.
    script.at, script.jump = 5, 1801.0
    source = write_jsonl(tmp_path / "in.jsonl", courses(100))
    summary = tmp_path / "run.json"
    more = ["--chunk-size", "10", "--concurrency", "1", "--summary-json", str(summary)]
    code, out, err = await run_cli(*upsert(source, emulator, *more))
    assert code == 0, err
    assert len(emulator.records("0-410")) == 100
    assert emulator.stats.token_grants == 2  # the first token, and one after the expiry
    assert emulator.stats.status_counts[401] >= 1  # the refused chunk(s), resent
    document = json.loads(summary.read_text())
    assert document["records"]["written"] == 100 and document["exit_code"] == 0
    assert_no_secret(emulator, out, err, summary.read_text())


async def test_a_refresh_refused_mid_run_stops_it_with_every_record_accounted_for(
    emulator: Emulator, script: Script, oauth_env: None, run_cli: RunCli, tmp_path: Path
) -> None:
    # After the schema read and three chunks the app is uninstalled and its token expires.
    script.at, script.jump, script.then = 5, 1801.0, emulator.revoke_refresh_tokens
    source = write_jsonl(tmp_path / "in.jsonl", courses(100))
    summary, errors = tmp_path / "run.json", tmp_path / "err.jsonl"
    more = ["--chunk-size", "10", "--concurrency", "1", "-q", "--summary-json", str(summary)]
    more += ["--errors", str(errors), "--checkpoint", str(tmp_path / "run.ckpt")]
    code, out, err = await run_cli(*upsert(source, emulator, *more))
    assert code == 3, err
    (line,) = err.splitlines()
    assert line.startswith("asyncbatch: stopped: the run could not go on: ")
    assert "HubSpot refused to refresh the OAuth access token (400 BAD_REFRESH_TOKEN" in line
    records = json.loads(summary.read_text())["records"]
    assert records["in_file"] == 100
    written = len(emulator.records("0-410"))
    assert records["written"] == written >= 30 and records["failed"] == 0
    refused = emulator.stats.status_counts[401]  # the chunk(s) sent with the expired token
    assert refused in (1, 2) and records["unfinished"] == 10 * refused
    # Every record read is counted once; the rest of the file was not read, left for the
    # rerun (the exit line says to rerun from the checkpoint).
    parts = ("written", "failed", "outcome_unknown", "unfinished", "not_sent", "bad_rows")
    assert sum(records[part] for part in parts) == records["read"] <= 100
    assert "rerun the same command to resume from" in line
    assert emulator.stats.token_grants == 1 and emulator.stats.token_refusals == 1
    texts = [out, err, *outputs(tmp_path, "run.json", "err.jsonl", "run.ckpt")]
    # The rerun (with a token that works) sends exactly what was not written.
    token_file = tmp_path / "token"
    token_file.write_text(STATIC)
    code, out, err = await run_cli(
        *upsert(source, emulator, *more, "--token-file", str(token_file))
    )
    assert code == 0, err
    rerun = json.loads(summary.read_text())["records"]
    assert rerun["skipped_checkpoint"] == written and rerun["written"] == 100 - written
    assert len(emulator.records("0-410")) == 100
    assert_no_secret(emulator, *texts, out, err)
