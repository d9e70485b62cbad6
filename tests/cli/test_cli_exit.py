"""The one function from a run's outcome to its exit code, over every combination of what can
happen, and the last line the user reads."""

from __future__ import annotations

import itertools

import pytest

from asyncbatch.cli._exit import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STOPPED,
    EXIT_USAGE,
    Outcome,
    exit_code,
    exit_line,
)

# (written, failed, unfinished): nothing tried; all written; some refused for their data;
# some failed transiently; all failed, some answered; all failed, none answered (an outage).
COUNTS = [(0, 0, 0), (5, 0, 0), (5, 2, 0), (5, 2, 2), (0, 2, 1), (0, 2, 2)]
OUTCOMES = [
    Outcome(
        usage_error=usage,
        stop_reason=stop,
        interrupted=interrupted,
        aborted=aborted,
        written=written,
        failed=failed,
        unfinished=unfinished,
    )
    for usage, stop, interrupted, aborted, (written, failed, unfinished) in itertools.product(
        [None, "bad line"], [None, "daily limit"], [False, True], [False, True], COUNTS
    )
]


@pytest.mark.parametrize("outcome", OUTCOMES, ids=repr)
def test_exit_code_is_the_first_that_applies_in_the_documented_order(outcome: Outcome) -> None:
    unanswered = (
        outcome.failed > 0 and outcome.written == 0 and outcome.unfinished == outcome.failed
    )
    applies = {
        EXIT_USAGE: outcome.usage_error is not None,
        EXIT_STOPPED: outcome.stop_reason is not None or unanswered,
        EXIT_INTERRUPTED: outcome.interrupted or outcome.aborted,
        EXIT_FAILED: outcome.failed > 0,
    }
    expected = next((code for code in (2, 3, 130, 1) if applies[code]), EXIT_OK)
    assert exit_code(outcome) == expected


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        (Outcome(), 0),
        (Outcome(written=10), 0),
        (Outcome(written=8, failed=2), 1),
        (Outcome(written=8, failed=2, unfinished=2), 1),
        (Outcome(failed=10, unfinished=10), 3),  # a network outage: nothing answered
        (Outcome(failed=10, unfinished=9), 1),  # one refused for its data: HubSpot answered
        (Outcome(interrupted=True, written=3), 130),
        (Outcome(aborted=True, interrupted=True, failed=1), 130),
        (Outcome(stop_reason="401", interrupted=True, written=1, failed=1), 3),
        (Outcome(usage_error="line 3", stop_reason="401", aborted=True, failed=1), 2),
        (Outcome(stop_reason="Redis gone", nothing_sent=True), 3),
    ],
)
def test_exit_code_examples(outcome: Outcome, code: int) -> None:
    assert exit_code(outcome) == code


def test_every_outcome_but_success_has_a_last_line() -> None:
    for outcome in OUTCOMES:
        line = exit_line(outcome, checkpoint=None, errors=None)
        assert (line is None) == (exit_code(outcome) == EXIT_OK)


@pytest.mark.parametrize(
    ("outcome", "line"),
    [
        (Outcome(usage_error="in.csv, line 3: bad"), "error: in.csv, line 3: bad"),
        (
            Outcome(stop_reason="401 Unauthorized.", failed=3, unfinished=3),
            "stopped: the run could not go on: 401 Unauthorized; rerun the same command to "
            "resume from ck",
        ),
        (
            Outcome(failed=4, unfinished=4, unfinished_reason="TRANSPORT_ERROR: refused"),
            "stopped: the run could not go on: no record got an answer from HubSpot (last: "
            "TRANSPORT_ERROR: refused); rerun the same command to resume from ck",
        ),
        (
            Outcome(stop_reason="Redis at redis://h failed.", nothing_sent=True),
            "stopped: the run could not go on, nothing was sent: Redis at redis://h failed",
        ),
        (Outcome(interrupted=True), "interrupted; rerun the same command to resume from ck"),
        (
            Outcome(interrupted=True, aborted=True),
            "aborted; rerun the same command to resume from ck",
        ),
        (Outcome(written=1, failed=1234), "1,234 records failed (see err.jsonl)"),
    ],
)
def test_exit_line(outcome: Outcome, line: str) -> None:
    assert exit_line(outcome, checkpoint="ck", errors="err.jsonl") == line
