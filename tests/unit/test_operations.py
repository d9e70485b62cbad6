"""Operations as data: each spec, and what planning and reading take from it."""

from __future__ import annotations

import orjson
import pytest

from asyncbatch import InvalidInputError, SimplePublicObject, SimplePublicUpsertObject
from asyncbatch._operations import OPERATIONS, UPDATE, UPSERT, OperationSpec, operation_spec
from asyncbatch._plan import plan_chunks
from asyncbatch._protocol import decipher_response


def test_specs_by_name() -> None:
    assert operation_spec("update") is UPDATE
    assert operation_spec(UPSERT) is UPSERT
    assert set(OPERATIONS) == {"update", "upsert", "create", "read", "archive"}
    assert UPDATE.path == "batch/update"
    assert UPSERT.result_class is SimplePublicUpsertObject
    assert UPDATE.result_class is SimplePublicObject
    with pytest.raises(ValueError, match="unknown batch operation"):
        operation_spec("delete")  # not a batch operation


def test_needs_id_property_is_what_planning_checks() -> None:
    record = {"id": "1", "properties": {"a": "b"}}
    assert plan_chunks([record], operation=UPDATE).inputs == 1
    with pytest.raises(InvalidInputError, match="upsert needs an id property"):
        plan_chunks([record], operation=UPSERT)


def test_success_statuses_come_from_the_spec() -> None:
    # A spec answering 204 with no body (as batch/archive does) reads as success with no
    # results; the same status is an error for update.
    archive = OperationSpec(
        name="archive",
        needs_id_property=False,
        success_statuses=frozenset({204}),
        result_class=SimplePublicObject,
        resend_safe=True,
        answer_lists_results=False,
    )
    assert decipher_response(204, {}, b"", operation=archive).response is not None
    assert decipher_response(204, {}, b"", operation=UPDATE).error is not None
    body = orjson.dumps({"status": "COMPLETE", "results": []})
    assert decipher_response(201, {}, body, operation=UPDATE).error is not None
