"""How an ``asyncbatch update|upsert|create|read|archive`` run ends: its exit code and the last
line the user reads.

Pure: no I/O. ``exit_code`` is the one place that maps a run's ``Outcome`` to an exit code:

- 2: a usage or input error (a bad option, file, line or value; also a dry run that found
  invalid records);
- 3: the run could not go on: authentication, the daily limit (or a job that does not fit
  what is left of it today), unreadable definitions with ``--check-properties on``, the shared
  rate limiter's Redis gone, an output file that cannot be written, or no record got an answer
  from HubSpot (a network outage: every failure was transient and nothing was written);
- 130: interrupted (SIGINT/SIGTERM; rerun the same command to resume), or an archive not
  confirmed (nothing sent);
- 1: some records failed (see ``--errors``; a create's of unknown outcome among them), bad rows
  were skipped (``--skip-bad-rows``), or, resuming a checkpoint, an earlier run's failures are
  on record; also a dry run that found records the account's property definitions refuse (they
  would fail);
- 0: every record written.

When several apply, the first in that order (2, 3, 130, 1, 0) wins.
"""

from __future__ import annotations

import attrs

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_STOPPED",
    "EXIT_USAGE",
    "Outcome",
    "exit_code",
    "exit_line",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_STOPPED = 3
EXIT_INTERRUPTED = 130


@attrs.frozen(kw_only=True)
class Outcome:
    """What a run came to, as far as its exit code and last line are concerned.

    Attributes:
        usage_error: a bad option, file, line or value, said for the user (file and line
            included).
        stop_reason: why the run could not go on, said for the user (secrets already masked).
        nothing_sent: the stop came before anything was sent or any output file opened.
        interrupted: a first SIGINT/SIGTERM ended the input; ``aborted``: a second one
            dropped the chunks in flight.
        written: records written; ``failed``: records failed; ``unfinished``: the failed
            ones without a final answer (the rerun sends them again).
        unfinished_reason: the reason of one unfinished record, to say why nothing was
            answered.
        bad_rows: bad rows skipped (``--skip-bad-rows``), not sent.
        failed_before: failures journaled by earlier runs of a resumed checkpoint.
        unknown: the failed records that may have been applied (a create's
            ``OUTCOME_UNKNOWN``); ``unknown_before``: those on record from earlier runs.
        cancelled: the user answered no to a confirmation (nothing sent).
        would_fail: a dry run: records the property definitions refuse (none was sent).
    """

    usage_error: str | None = None
    stop_reason: str | None = None
    nothing_sent: bool = False
    interrupted: bool = False
    aborted: bool = False
    written: int = 0
    failed: int = 0
    unfinished: int = 0
    unfinished_reason: str | None = None
    bad_rows: int = 0
    failed_before: int = 0
    unknown: int = 0
    unknown_before: int = 0
    cancelled: bool = False
    would_fail: int = 0

    @property
    def unanswered(self) -> bool:
        """Records were tried and none got an answer: nothing written, no failure final
        (nor of unknown outcome: those are not resent, so a rerun does not answer them)."""
        return (
            self.failed > 0
            and self.written == 0
            and self.unknown == 0
            and self.unfinished >= self.failed
        )


def exit_code(outcome: Outcome) -> int:
    """The exit code of a run that came to ``outcome`` (first of 2, 3, 130, 1, 0)."""
    if outcome.usage_error is not None:
        return EXIT_USAGE
    if outcome.stop_reason is not None or outcome.unanswered:
        return EXIT_STOPPED
    if outcome.interrupted or outcome.aborted or outcome.cancelled:
        return EXIT_INTERRUPTED
    if (
        outcome.failed
        or outcome.bad_rows
        or outcome.failed_before
        or outcome.unknown_before
        or outcome.would_fail
    ):
        return EXIT_FAILED
    return EXIT_OK


def exit_line(outcome: Outcome, *, checkpoint: str | None, errors: str | None) -> str | None:
    """The last line printed (after ``asyncbatch: ``), None for a run that wrote everything.

    ``checkpoint`` and ``errors`` are the ``--checkpoint`` and ``--errors`` paths, if given:
    the line says where to resume from and where the failed inputs are.
    """
    code = exit_code(outcome)
    resume = f"; rerun the same command to resume from {checkpoint}" if checkpoint else ""
    if code == EXIT_USAGE:
        return f"error: {outcome.usage_error}"
    if code == EXIT_STOPPED:
        reason = outcome.stop_reason
        if reason is None:
            last = f" (last: {outcome.unfinished_reason})" if outcome.unfinished_reason else ""
            reason = f"no record got an answer from HubSpot{last}"
        if outcome.nothing_sent:
            return f"stopped: the run could not go on, nothing was sent: {reason.rstrip('. ')}"
        return f"stopped: the run could not go on: {reason.rstrip('. ')}{resume}"
    if code == EXIT_INTERRUPTED:
        if outcome.cancelled:
            return "cancelled: not confirmed, nothing was sent"
        return f"{'aborted' if outcome.aborted else 'interrupted'}{resume}"
    if code == EXIT_FAILED:
        if outcome.would_fail:
            return (
                f"dry run: {outcome.would_fail:,} records would fail for their values (listed "
                "above); nothing was sent"
            )
        return _failed_line(outcome, errors)
    return None


def _failed_line(outcome: Outcome, errors: str | None) -> str:
    where = f" (see {errors})" if errors else " (keep them with --errors)"
    parts = []
    if outcome.failed > outcome.unknown:
        parts.append(f"{outcome.failed - outcome.unknown:,} records failed")
    if outcome.unknown:
        parts.append(
            f"{outcome.unknown:,} records may or may not have been created (outcome unknown: "
            "never resent without --resend-unknown; read them back, or upsert on a unique "
            "property)"
        )
    if outcome.bad_rows:
        parts.append(f"{outcome.bad_rows:,} bad rows were skipped")
    if outcome.failed_before:
        parts.append(f"{outcome.failed_before:,} records failed in earlier runs")
    if outcome.unknown_before:
        parts.append(
            f"{outcome.unknown_before:,} records of unknown outcome are on record from "
            "earlier runs (--resend-unknown sends them again)"
        )
    return " and ".join(parts) + where
