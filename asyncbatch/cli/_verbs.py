"""The command line's verbs as data: what differs between ``update``, ``upsert``, ``create``,
``read`` and ``archive`` for a job (its operation's ``OperationSpec``, the input formats it
reads, the word for what it did), so that one job runner (``_job``) runs them all. Pure: no I/O.

A verb's records are what its operation takes (``OperationSpec.shape``): whole records
(update, upsert), records without ids (create) or ids alone (read, archive). A verb whose
operation is not safe to resend (create) has failures of unknown outcome (``is_unknown``): they
may have been applied, so they are journaled as finished and never resent without the user's
say-so.
"""

from __future__ import annotations

from typing import Literal

import attrs

from .._models import FailedInput
from .._operations import ARCHIVE, CREATE, READ, UPDATE, UPSERT, OperationSpec

__all__ = ["OUTCOME_UNKNOWN", "VERBS", "Verb", "VerbName", "is_unknown", "verb"]

VerbName = Literal["update", "upsert", "create", "read", "archive"]

#: The client's category of a failure that may follow the write's application (create).
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
#: An answer that named an input neither in results nor in errors: for a create, it may or
#: may not have been made, so it is of unknown outcome too.
_MISSING = "MISSING_FROM_RESPONSE"


@attrs.frozen
class Verb:
    """One command that sends a file through the client.

    Attributes:
        name: the command (and the client's verb).
        spec: its batch operation.
        done: what a record it finished was, for the summary (``written``, ``found``...).
        formats: the input formats it reads.
    """

    name: VerbName
    spec: OperationSpec
    done: str
    formats: tuple[str, ...] = ("csv", "jsonl")

    @property
    def takes_ids(self) -> bool:
        """Its inputs are ids alone (read, archive)."""
        return self.spec.shape == "id"

    @property
    def creates(self) -> bool:
        """Its inputs carry no id: HubSpot assigns one (create)."""
        return self.spec.shape == "new"


VERBS: dict[str, Verb] = {
    v.name: v
    for v in (
        Verb("update", UPDATE, "written"),
        Verb("upsert", UPSERT, "written"),
        Verb("create", CREATE, "created"),
        Verb("read", READ, "found", ("ids", "csv", "jsonl")),
        Verb("archive", ARCHIVE, "archived", ("ids", "csv", "jsonl")),
    )
}


def verb(name: str) -> Verb:
    """The verb called ``name`` (a programming error if there is none)."""
    return VERBS[name]


def is_unknown(verb: Verb, failed: FailedInput) -> bool:
    """Whether ``failed`` may have been applied all the same: the client's
    ``OUTCOME_UNKNOWN``, or, for an operation not safe to resend, an input the answer did not
    name."""
    if failed.category == OUTCOME_UNKNOWN:
        return True
    return not verb.spec.resend_safe and failed.category == _MISSING and failed.sent
