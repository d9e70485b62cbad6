"""The invariant checkers of tests/invariants.py pass on good results and fail on bad ones.

Results are made by hand; the emulator is used in-process (preload, no request).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from asyncbatch import BatchInput, BatchResult, FailedInput, SimplePublicObject, StandardError
from asyncbatch._convert import parse_datetime
from asyncbatch.emulator import Emulator, EmulatorConfig
from tests.invariants import assert_accounted, assert_stored_matches

T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def _result(
    positions: list[tuple[int, ...]],
    failed: list[tuple[int, ...]] | None = None,
    results: list[SimplePublicObject] | None = None,
) -> BatchResult:
    answers = results or [SimplePublicObject(id=str(i)) for i in range(len(positions))]
    return BatchResult(
        status="COMPLETE",
        results=answers,
        errors=[],
        num_errors=len(failed or []),
        started_at=T0,
        completed_at=T0,
        failed=[
            FailedInput(
                positions=p,
                input=BatchInput(id="x", properties={}),
                reason="no",
                error=StandardError(),
            )
            for p in failed or []
        ],
        result_positions=positions,
    )


def test_accounted_passes_when_every_position_is_there_once() -> None:
    assert_accounted(_result([(0, 3), (1,)], failed=[(2,), (4,)]), 5)
    assert_accounted(_result([]), 0)


@pytest.mark.parametrize(
    ("positions", "failed", "n", "words"),
    [
        ([(0,), (1,)], [], 3, "missing [2]"),
        ([(0, 1)], [(1,)], 2, "counted twice [1]"),
        ([(0,)], [(5,)], 1, "out of range [5]"),
    ],
)
def test_accounted_fails(
    positions: list[tuple[int, ...]], failed: list[tuple[int, ...]], n: int, words: str
) -> None:
    with pytest.raises(AssertionError, match=words.replace("[", r"\[").replace("]", r"\]")):
        assert_accounted(_result(positions, failed), n)


def test_accounted_fails_when_positions_and_results_disagree() -> None:
    result = _result([(0,)], results=[SimplePublicObject(id="1"), SimplePublicObject(id="2")])
    with pytest.raises(AssertionError, match="2 results but 1 position"):
        assert_accounted(result, 1)


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig(token="t")) as emu:
        yield emu


def _as_answered(stored: dict[str, Any], **changes: str) -> SimplePublicObject:
    """The answer the emulator would have given for ``stored``, with ``changes``."""
    properties: dict[str, str | None] = {
        **stored["properties"],
        "hs_object_id": stored["id"],
        "hs_createdate": stored["createdAt"],
        "hs_lastmodifieddate": stored["updatedAt"],
        **changes,
    }
    return SimplePublicObject(
        id=stored["id"],
        properties=properties,
        created_at=parse_datetime(stored["createdAt"]),
        updated_at=parse_datetime(stored["updatedAt"]),
    )


@pytest.mark.asyncio
async def test_stored_matches_passes_and_fails(emulator: Emulator) -> None:
    (rid,) = emulator.preload("contacts", [{"email": "a@x.io", "tier": "gold"}])
    stored = emulator.record("contacts", rid)

    good = _result([(0,)], results=[_as_answered(stored)])
    assert_stored_matches(good, emulator, "contacts", id_property="email")

    wrong_value = _result([(0,)], results=[_as_answered(stored, tier="silver")])
    with pytest.raises(AssertionError, match="tier"):
        assert_stored_matches(wrong_value, emulator, "contacts")

    nowhere = _result([(0,)], results=[SimplePublicObject(id="999")])
    with pytest.raises(AssertionError, match="no such record"):
        assert_stored_matches(nowhere, emulator, "contacts")

    later = parse_datetime(stored["updatedAt"]) + dt.timedelta(seconds=1)
    newer_than_store = _result(
        [(0,)], results=[SimplePublicObject(id=rid, properties={}, updated_at=later)]
    )
    with pytest.raises(AssertionError, match="older"):
        assert_stored_matches(newer_than_store, emulator, "contacts")


@pytest.mark.asyncio
async def test_stored_matches_uses_the_latest_answer(
    emulator: Emulator,
) -> None:
    (first,) = emulator.preload("contacts", [{"email": "a@x.io", "tier": "gold"}])
    stored = emulator.record("contacts", first)
    earlier = _as_answered(stored, tier="bronze")  # answered first, then overwritten in-call
    latest = _as_answered(stored)
    assert_stored_matches(
        _result([(0,), (1,)], results=[earlier, latest]), emulator, "contacts", "email"
    )
    with pytest.raises(AssertionError, match="tier"):
        assert_stored_matches(
            _result([(1,), (0,)], results=[earlier, latest]), emulator, "contacts"
        )
