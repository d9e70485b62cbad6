"""Invariants every write call must keep, checked against a result (and the emulator's store).

- ``assert_accounted(result, n_inputs)``: each input position 0..n-1 appears exactly once
  across ``result.result_positions`` and ``result.failed[*].positions`` (SPEC 3: "every input
  ends up exactly once in the aggregate, either written or failed with a reason").
- ``assert_stored_matches(result, emulator, object_type, id_property=None)``: every record the
  result says was written is stored by the emulator with the properties and timestamps the
  result reports (for a record answered twice in one call, the later answer), and, given an
  id property, its value finds that same record. The store may be *newer* than the answer,
  never older: a request the client gave up on (timeout, reset) can still be applied by the
  server after the resend was answered; it writes the same values, with a later timestamp.

Pure assertions on values; the emulator is read in-process, no request is sent.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from asyncbatch import BatchResult
from asyncbatch._convert import format_datetime, parse_datetime
from asyncbatch.emulator import Emulator

__all__ = ["assert_accounted", "assert_stored_matches"]


def assert_accounted(result: BatchResult, n_inputs: int) -> None:
    """Every input position ``0..n_inputs-1`` is in the result exactly once, written or failed.

    ``result_positions`` has one entry per entry of ``results``.
    """
    assert len(result.result_positions) == len(result.results), (
        f"{len(result.results)} results but {len(result.result_positions)} position entries"
    )
    seen = Counter(p for positions in result.result_positions for p in positions)
    seen.update(p for failed in result.failed for p in failed.positions)
    missing = sorted(p for p in range(n_inputs) if seen[p] == 0)
    twice = sorted(p for p, count in seen.items() if count > 1)
    stray = sorted(p for p in seen if not 0 <= p < n_inputs)
    assert not (missing or twice or stray), (
        f"of {n_inputs} inputs: missing {missing[:10]}, counted twice {twice[:10]}, "
        f"out of range {stray[:10]}"
    )


def assert_stored_matches(
    result: BatchResult, emulator: Emulator, object_type: str, id_property: str | None = None
) -> None:
    """What ``emulator`` stores equals what ``result`` says was written.

    For each record in ``result.results`` (the latest answer per record id, by input
    position): the emulator holds a record with that id, every property the answer reports has
    the stored value, ``createdAt`` agrees and the stored ``updatedAt`` is not older than the
    answer's (an abandoned request may land after its resend was answered). With
    ``id_property``, the answer's value of it finds that very record through the emulator's
    unique-property lookup.
    """
    latest: dict[str, tuple[int, Any]] = {}
    for answer, positions in zip(result.results, result.result_positions, strict=True):
        last = max(positions)
        if answer.id not in latest or latest[answer.id][0] < last:
            latest[answer.id] = (last, answer)
    for record_id, (_, answer) in latest.items():
        try:
            stored = emulator.record(object_type, record_id)
        except KeyError:
            raise AssertionError(
                f"result says {object_type} {record_id} was written; the emulator has no such "
                "record"
            ) from None
        # The emulator answers with the stored properties plus three it derives; the
        # modification time is compared below, as a time.
        view = {**stored["properties"], "hs_object_id": stored["id"]}
        view["hs_createdate"] = stored["createdAt"]
        differ = {
            name: (value, view.get(name))
            for name, value in answer.properties.items()
            if name != "hs_lastmodifieddate" and view.get(name) != value
        }
        assert not differ, f"{object_type} {record_id}: (answered, stored) differ: {differ}"
        if answer.created_at is not None:
            assert format_datetime(answer.created_at) == stored["createdAt"], record_id
        stored_update = parse_datetime(stored["updatedAt"])
        answered = answer.properties.get("hs_lastmodifieddate")
        for when in (answer.updated_at, None if answered is None else parse_datetime(answered)):
            assert when is None or when <= stored_update, (
                f"{object_type} {record_id}: answered as modified at {when}, but the stored "
                f"record is older ({stored_update})"
            )
        if id_property is not None and id_property in answer.properties:
            key = answer.properties[id_property]
            assert key is not None, f"{object_type} {record_id}: {id_property} is null"
            found = emulator.record(object_type, key, id_property)
            assert found["id"] == record_id, (
                f"{id_property}={key!r} finds {found['id']}, the result says {record_id}"
            )
