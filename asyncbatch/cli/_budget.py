"""A job's daily budget: the requests it needs against what HubSpot says the account has left
today (``X-HubSpot-RateLimit-Daily-Remaining``), and whether it may start. Pure: no I/O.

The need is one request per chunk that holds a record to send (records the property definitions
refuse are never sent; with a checkpoint, chunks of finished records are not sent again) plus
the schema read. Retries, 429s and the splits that isolate a bad record are not counted, so it
is a floor. HubSpot's count is the account's, shared by all its apps, and resets at midnight in
the account's time zone; OAuth-authorized requests get no daily header (HubSpot's API usage
guidelines, https://developers.hubspot.com/docs/api/usage-details), and then it is unknown and
the job goes on.

A job fits when its chunks are at most the requests left after the schema read less
``--daily-reserve`` (the client sends while more than the reserve is left, so that is exactly
what it can send). One that does not fit is refused before anything is sent, unless
``--allow-partial``: then it runs until the client stops at the reserve, like a ``DAILY`` stop.
"""

from __future__ import annotations

import attrs

__all__ = ["JobBudget"]

HEADER = "X-HubSpot-RateLimit-Daily-Remaining"


@attrs.frozen(kw_only=True)
class JobBudget:
    """What a job needs of the account's daily requests, and what is left.

    Attributes:
        chunks: requests for the records (None: unknown, stdin is read as it comes).
        schema_read: the property definitions were asked for (one request, already made).
        remaining: HubSpot's count after that first request (None: unknown).
        unknown_because: why ``remaining`` is unknown, for the message.
        reserve: ``--daily-reserve``.
    """

    chunks: int | None
    schema_read: bool
    remaining: int | None
    unknown_because: str = f"HubSpot sent no {HEADER}"
    reserve: int = 0

    @property
    def needed(self) -> int | None:
        """Every request of the job, the schema read included."""
        return None if self.chunks is None else self.chunks + self.schema_read

    @property
    def sendable(self) -> int | None:
        """Requests the client may still send before it stops at the reserve."""
        return None if self.remaining is None else max(0, self.remaining - self.reserve)

    @property
    def fits(self) -> bool | None:
        """Whether the job fits; None when either side is unknown."""
        if self.chunks is None or self.sendable is None:
            return None
        return self.chunks <= self.sendable

    def describe(self) -> str:
        """``22 requests needed (21 chunks + the schema read); 999,999 left today after the
        schema read: it fits``."""
        read = " + the schema read" if self.schema_read else ""
        if self.chunks is None:
            need = f"requests needed: unknown (stdin is read as it comes){read}"
        else:
            chunks = f"{self.chunks:,} chunk{'s' if self.chunks != 1 else ''}"
            need = f"{self.needed:,} requests needed ({chunks}{read})"
        if self.remaining is None:
            left = f"left today: unknown ({self.unknown_because})"
        else:
            after = " after the schema read" if self.schema_read else ""
            left = f"{self.remaining:,} left today{after}"
        kept = f", {self.reserve:,} kept by --daily-reserve" if self.reserve else ""
        verdict = {True: ": it fits", False: ": it does not fit", None: ""}[self.fits]
        return f"{need}; {left}{kept}{verdict}"

    def refusal(self, *, allow_partial: bool) -> str | None:
        """Why the job must not start (None: it may)."""
        if self.fits is not False or allow_partial:
            return None
        assert self.chunks is not None and self.remaining is not None
        kept = f", {self.reserve:,} of them kept by --daily-reserve" if self.reserve else ""
        return (
            f"this job needs {self.chunks:,} more requests and HubSpot says {self.remaining:,} "
            f"are left today for the account{kept}: it would stop part-way; pass "
            "--allow-partial to send what fits (with --checkpoint, rerun the same command "
            "after the daily reset to send the rest)"
        )
