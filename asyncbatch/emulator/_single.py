"""HubSpot's single-record update, ``PATCH /crm/v3/objects/{objectType}/{objectId}``
(``?idProperty=``), as the official SDK's ``basic_api.update`` sends it: served as a batch of
one by ``_batch.process``, its answer turned into the single-record shape. Pure: no I/O.

The benchmarks' web-backend scenario measures the SDK writing one record per request with it.
"""

from __future__ import annotations

from typing import Any

from ._inputs import Answer
from ._shapes import error_body

__all__ = ["SINGLE_PATH", "single_answer", "single_update_payload"]

SINGLE_PATH = "/crm/v3/objects/{objectType}/{objectId}"

#: What HubSpot answers a single-record update of a record that does not exist.
NOT_FOUND_MESSAGE = "Object not found.  objectId are usually numeric."


def single_update_payload(object_id: str, id_property: str | None, body: Any) -> dict[str, Any]:
    """The batch update payload of one ``PATCH`` body (``{"properties": {...}}``): an input
    whose body is not an object, or has no properties, goes on for the batch to refuse."""
    properties = body.get("properties") if isinstance(body, dict) else None
    item: dict[str, Any] = {"id": object_id, "properties": properties}
    if id_property:
        item["idProperty"] = id_property
    return {"inputs": [item]}


def single_answer(answer: Answer, object_id: str) -> Answer:
    """The batch ``answer`` of one input as HubSpot's single-record answer: 200 with the object
    written, 404 ``OBJECT_NOT_FOUND`` for a record that does not exist, any other error as a
    whole-request one; whole-request refusals (400, 409) pass through."""
    body = answer.body
    if not isinstance(body, dict) or "results" not in body:
        return answer
    errors = body.get("errors") or []
    if errors:
        error = errors[0]
        category = error.get("category") or "VALIDATION_ERROR"
        if category == "OBJECT_NOT_FOUND":
            return Answer(404, error_body(category, NOT_FOUND_MESSAGE, context={"id": [object_id]}))
        details = error.get("errors") or None
        return Answer(400, error_body(category, error.get("message", ""), errors=details))
    result = dict(body["results"][0])
    result.pop("objectWriteTraceId", None)
    return Answer(200, result, answer.written)
