"""The parts behind ``--dry-run``'s value summary, the daily budget and the proxy (issues 14,
18): ``JobBudget``'s arithmetic and words, ``ValueReport``'s grouping, ``RowCheck``'s request
count (the client's checker, a checkpoint's finished records), reading a checkpoint read-only,
and which proxy the environment names for a base URL (``HTTPS_PROXY`` for HubSpot's https)."""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncbatch._refusals import Problem
from asyncbatch._schema import PropertyDefinition, PropertyOption, PropertySchema
from asyncbatch.cli._budget import JobBudget
from asyncbatch.cli._checkpoint import Checkpoint, CheckpointError, RangeSet, peek_done
from asyncbatch.cli._network import env_proxy, job_proxy, proxy_secrets
from asyncbatch.cli._records import SourceRecord
from asyncbatch.cli._validate import RowCheck
from asyncbatch.cli._value_report import ValueReport

LEVEL = PropertyDefinition(
    "level",
    "enumeration",
    "select",
    tuple(PropertyOption(v, v.title()) for v in ("beginner", "intermediate", "advanced")),
)
SCHEMA = PropertySchema(
    "0-410",
    {
        "course_code": PropertyDefinition("course_code", has_unique_value=True),
        "level": LEVEL,
        "price": PropertyDefinition("price", "number"),
    },
)


@pytest.mark.parametrize(
    ("chunks", "remaining", "reserve", "fits"),
    [
        (9, 99, 90, True),  # exactly what the client can send before the reserve
        (10, 99, 90, False),
        (0, 0, 0, True),
        (5, 3, 10, False),  # fewer left than the reserve: nothing can be sent
        (None, 99, 0, None),  # stdin: the need is unknown
        (5, None, 0, None),  # no daily header: what is left is unknown
    ],
)
def test_a_job_fits_when_its_chunks_are_what_is_left_above_the_reserve(
    chunks: int | None, remaining: int | None, reserve: int, fits: bool | None
) -> None:
    budget = JobBudget(chunks=chunks, schema_read=True, remaining=remaining, reserve=reserve)
    assert budget.fits is fits
    refused = budget.refusal(allow_partial=False)
    assert (refused is not None) is (fits is False)
    assert budget.refusal(allow_partial=True) is None


def test_budget_words() -> None:
    budget = JobBudget(chunks=21, schema_read=True, remaining=999_999)
    assert budget.needed == 22
    assert budget.describe() == (
        "22 requests needed (21 chunks + the schema read); 999,999 left today after the "
        "schema read: it fits"
    )
    unknown = JobBudget(chunks=3, schema_read=False, remaining=None, unknown_because="why")
    assert unknown.needed == 3
    assert unknown.describe() == "3 requests needed (3 chunks); left today: unknown (why)"


def test_value_report_groups_by_property_and_code_with_a_few_examples() -> None:
    report = ValueReport(SCHEMA)
    for line in range(2, 8):
        report.add(Problem("level", "INVALID_OPTION", f"x{line}", "x was not one"), line)
    report.add(Problem("colour", "PROPERTY_DOESNT_EXIST", None, "no colour"), 9)
    report.add(Problem("price", "INVALID_LONG", "a" * 60, "not a long"), 10)
    assert report.refused == 8
    assert report.lines() == [
        "level: INVALID_OPTION, 6 records (e.g. line 2, 'x2'; line 3, 'x3'; line 4, 'x4')",
        "  why: x was not one",
        "  allowed: beginner, intermediate, advanced",
        "colour: PROPERTY_DOESNT_EXIST, 1 record (e.g. line 9)",
        "  why: no colour",
        f"price: INVALID_LONG, 1 record (e.g. line 10, '{'a' * 39}…')",
        "  why: not a long",
    ]


def test_value_report_shortens_long_option_lists() -> None:
    many = PropertyDefinition(
        "topic", "enumeration", options=tuple(PropertyOption(f"t{i}") for i in range(12))
    )
    report = ValueReport(PropertySchema("0-410", {"topic": many}))
    report.add(Problem("topic", "INVALID_OPTION", "zz", "zz was not one"), 2)
    assert report.lines()[-1] == (
        "  allowed: t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, … (12 in all)"
    )


def record(n: int, **properties: str) -> SourceRecord:
    data = {"id": f"C{n}", "properties": {"course_code": f"C{n}", **properties}}
    return SourceRecord(position=n, line=n + 1, record=data)


def test_row_check_counts_the_requests_the_run_will_send() -> None:
    levels = ["beginner", "expert", "nope", "expert", "Advanced", "intermediate"]
    rows = [record(n, level=level) for n, level in enumerate(levels)]
    check = RowCheck(operation="upsert", id_property="course_code", chunk_size=2, schema=SCHEMA)
    assert all(check.bad(row) is None for row in rows)  # a refused value is not a bad row
    check.finish()
    # Chunks [0, 1] [2, 3] [4, 5]: the second holds only refused records.
    assert (check.chunks, check.requests) == (3, 2)
    assert check.values is not None and check.values.refused == 3
    assert check.values.lines()[0] == (
        "level: INVALID_OPTION, 3 records (e.g. line 2, 'expert'; line 3, 'nope'; line 4, 'expert')"
    )
    # A resumed checkpoint's finished records are not sent again: a chunk of them is no
    # request.
    done = RangeSet()
    done.add(0, 2)
    check = RowCheck(operation="upsert", id_property="course_code", chunk_size=2, skip=done)
    for row in rows:
        check.bad(row)
    check.finish()
    assert (check.chunks, check.requests) == (3, 2)
    assert check.values is None


def test_peek_done_reads_a_checkpoint_without_writing(tmp_path: Path) -> None:
    path = tmp_path / "ck.jsonl"
    header = {"file": "x", "input": {"size": 1}, "operation": "upsert"}
    assert len(peek_done(path, header)) == 0
    assert not path.exists()  # nothing created
    checkpoint = Checkpoint.open(path, header)
    checkpoint.record([0, 1, 2, 5])
    checkpoint.close()
    before = path.read_bytes()
    assert peek_done(path, header).ranges() == [[0, 3], [5, 6]]
    assert path.read_bytes() == before
    with pytest.raises(CheckpointError, match="another input or job"):
        peek_done(path, {**header, "operation": "update"})


def test_peek_done_counts_a_creates_unknown_records_as_to_send_with_resend_unknown(
    tmp_path: Path,
) -> None:
    # A create's records of unknown outcome are journaled as finished: a rerun skips them,
    # and its budget does not count them, unless --resend-unknown sends them again.
    path = tmp_path / "ck.jsonl"
    header = {"file": "x", "input": {"size": 1}, "operation": "create"}
    checkpoint = Checkpoint.open(path, header)
    checkpoint.record(range(10), unknown=[3, 4, 7])
    checkpoint.close()
    assert peek_done(path, header).ranges() == [[0, 10]]
    assert peek_done(path, header, resend_unknown=True).ranges() == [[0, 3], [5, 7], [8, 10]]


HUBSPOT = "https://api.hubapi.com"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))  # no .netrc of the machine's
    return monkeypatch


def test_the_environments_proxy_goes_by_the_base_urls_scheme(clean_env: pytest.MonkeyPatch) -> None:
    assert env_proxy(HUBSPOT) is None
    clean_env.setenv("HTTP_PROXY", "http://plain:3128")
    assert env_proxy(HUBSPOT) is None  # HubSpot is https: HTTP_PROXY is not its proxy
    assert env_proxy("http://127.0.0.1:8080") == "http://plain:3128"
    clean_env.setenv("HTTPS_PROXY", "proxy.corp:3128")  # no scheme: http, as curl takes it
    assert env_proxy(HUBSPOT) == "http://proxy.corp:3128"
    assert job_proxy(HUBSPOT, None) == "http://proxy.corp:3128"
    assert job_proxy(HUBSPOT, "http://given:1") == "http://given:1"  # --proxy wins
    assert job_proxy(HUBSPOT, None, sandbox=True) is None
    clean_env.setenv("NO_PROXY", "example.com,.hubapi.com")
    assert env_proxy(HUBSPOT) is None
    clean_env.delenv("NO_PROXY")
    clean_env.setenv("HTTPS_PROXY", "https://tls-proxy:443")  # aiohttp ignores these
    assert env_proxy(HUBSPOT) is None


def test_netrc_credentials_for_the_environments_proxy_are_secrets(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine proxy.corp login ops password N3trc-pw\n")
    netrc.chmod(0o600)
    clean_env.setenv("NETRC", str(netrc))
    clean_env.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    assert env_proxy(HUBSPOT) == "http://ops:N3trc-pw@proxy.corp:3128"
    assert "N3trc-pw" in proxy_secrets(None, HUBSPOT)
    clean_env.setenv("HTTPS_PROXY", "http://own:pw2@proxy.corp:3128")  # its own credentials
    assert env_proxy(HUBSPOT) == "http://own:pw2@proxy.corp:3128"
    assert {"pw2", "S3cr"} <= set(proxy_secrets("http://u:S3cr@given:1", HUBSPOT))
