"""``--summary-json PATH``: a run's facts for schedulers (cron, Airflow): counts, failures by
reason, timings, the exit code and, with a checkpoint, the totals of every run on it.

``RunFacts`` collects what a run found as it goes; ``summary_document`` (pure) turns it into
the document; ``write_summary`` writes it (file I/O: a temporary file renamed over PATH, so
a reader never sees half of it; ``-`` writes to stdout).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import attrs
import orjson

from ._budget import JobBudget
from ._progress import Tally
from ._reasons import FailureGroups
from ._validate import Scan

__all__ = ["SUMMARY_VERSION", "RunFacts", "summary_document", "write_summary"]

SUMMARY_VERSION = 1


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.define
class RunFacts:
    """What a run found, for its summary: filled in as the run goes."""

    started_at: dt.datetime = attrs.field(factory=_now)
    tally: Tally | None = None
    groups: FailureGroups = attrs.field(factory=FailureGroups)
    scan: Scan | None = None
    #: With a checkpoint: the records finished and, of them, failed and of unknown outcome,
    #: over every run.
    checkpoint_done: int | None = None
    checkpoint_failed: int | None = None
    checkpoint_unknown: int = 0
    #: The daily budget weighed before sending (None: the run stopped before that).
    budget: JobBudget | None = None


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def summary_document(
    facts: RunFacts,
    *,
    command: dict[str, Any],
    exit_code: int,
    message: str | None,
    finished_at: dt.datetime,
) -> dict[str, Any]:
    """The ``--summary-json`` document of a run (``command``: what was run, no secrets)."""
    t = facts.tally or Tally()
    s = t.stats
    document: dict[str, Any] = {
        "asyncbatch_summary": SUMMARY_VERSION,
        **command,
        "exit_code": exit_code,
        "message": message,
        "started_at": _iso(facts.started_at),
        "finished_at": _iso(finished_at),
        "timings": {
            "total_seconds": round((finished_at - facts.started_at).total_seconds(), 3),
            "validation_seconds": round(facts.scan.seconds, 3) if facts.scan else None,
            "sending_seconds": round(t.elapsed(), 3) if facts.tally is not None else None,
        },
        "records": {
            "in_file": facts.scan.records if facts.scan else None,
            "read": t.read,
            "skipped_checkpoint": t.skipped,
            "written": t.written,
            "failed": t.refused,
            "outcome_unknown": t.unknown,
            "unfinished": t.unfinished - t.unsent,
            "not_sent": t.not_sent,
            "bad_rows": t.bad,
        },
        "requests": {
            "requests": s.requests,
            "chunks": s.chunks,
            "split_requests": s.split_requests,
            "retries": s.retries,
            "rate_limited": s.rate_limited,
            "coalesced": s.coalesced,
        },
        "failures": facts.groups.to_json(),
        "checkpoint": None,
        "daily_budget": _budget(facts.budget),
    }
    if facts.checkpoint_done is not None:
        failed = facts.checkpoint_failed or 0
        unknown = facts.checkpoint_unknown
        document["checkpoint"] = {
            "finished": facts.checkpoint_done,
            "written": facts.checkpoint_done - failed - unknown,
            "failed": failed,
            "outcome_unknown": unknown,
        }
    return document


def _budget(budget: JobBudget | None) -> dict[str, Any] | None:
    if budget is None:
        return None
    return {
        "needed": budget.needed,
        "remaining_at_start": budget.remaining,
        "reserve": budget.reserve,
        "fits": budget.fits,
    }


def write_summary(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` to ``path`` whole (or to stdout for ``-``).

    Raises:
        OSError: it cannot be written.
    """
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
    if str(path) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    directory = path.parent if str(path.parent) else Path(".")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
