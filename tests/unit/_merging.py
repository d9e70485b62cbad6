"""Helpers shared by the merge tests (``test_merge``, ``test_merge_facts``): plan records and
merge chunk outcomes at a fixed time. Pure: no I/O, no event loop."""

from __future__ import annotations

import datetime as dt
from typing import Any

from asyncbatch._merge import ChunkOutcome, merge_outcomes
from asyncbatch._models import BatchResult, RunStats
from asyncbatch._plan import Plan, plan_chunks

#: Every merged call's start and end.
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def plan_records(records: list[dict[str, Any]], **kwargs: Any) -> Plan:
    """``plan_chunks`` of an update, unless ``operation=`` says otherwise."""
    kwargs.setdefault("operation", "update")
    return plan_chunks(records, **kwargs)


def merge_all(plan: Plan, outcomes: list[ChunkOutcome], **kwargs: Any) -> BatchResult:
    """``merge_outcomes`` of ``plan``, started and completed at ``T0``."""
    return merge_outcomes(
        plan.items, outcomes, stats=RunStats(), started_at=T0, completed_at=T0, **kwargs
    )


def numbered_records(n: int) -> list[dict[str, Any]]:
    """``n`` update inputs with ids ``"0"``.. and one property."""
    return [{"id": str(i), "properties": {"n": i}} for i in range(n)]
