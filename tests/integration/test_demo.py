"""The README's main job (``asyncbatch demo``) runs end to end on the embedded emulator."""

from __future__ import annotations

import io

import pytest

from asyncbatch.cli._demo import load_sample, run_demo


def test_bundled_sample_has_at_least_10000_courses() -> None:
    records = list(load_sample())
    assert len({r["id"] for r in records}) >= 10_000
    assert all(set(r) == {"id", "properties"} for r in records)


@pytest.mark.asyncio
async def test_demo_writes_the_sample_and_prints_the_summary() -> None:
    out = io.StringIO()
    result = await run_demo(out)
    text = out.getvalue()
    assert len(result.results) == 10_000
    assert len(result.failed) == 12  # the dozen courses with an invalid level
    assert result.stats.rate_limited == 0
    for label in ("records written", "records failed", "requests", "elapsed", "records/s"):
        assert label in text
    assert "10,000 (10,000 new)" in text
