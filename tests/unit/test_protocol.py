"""Reading HubSpot's answers and building request bodies. Pure: no event loop."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from asyncbatch import (
    APIError,
    AuthenticationError,
    BatchInput,
    MalformedResponseError,
    RateLimitError,
    RateLimitInfo,
    ServerError,
    SimplePublicUpsertObject,
    ValidationError,
)
from asyncbatch._operations import UPDATE, UPSERT
from asyncbatch._protocol import decipher_response, encode_inputs, parse_retry_after
from tests import strategies as abst


def _body(data: Any) -> bytes:
    return json.dumps(data).encode()


UPDATE_200 = {
    "status": "COMPLETE",
    "results": [
        {
            "id": "512",
            "properties": {"name": "Ada", "hs_lastmodifieddate": "2024-05-01T12:00:00.000Z"},
            "createdAt": "2019-10-30T03:30:17.883Z",
            "updatedAt": "2019-12-07T16:50:06.678Z",
            "archived": False,
            "objectWriteTraceId": "ab-0",
        }
    ],
    "requestedAt": "2024-05-01T12:00:00.000Z",
    "startedAt": "2024-05-01T12:00:00.100Z",
    "completedAt": "2024-05-01T12:00:00.300Z",
    "links": {"self": "https://api.hubapi.com/x"},
}


def test_200_update() -> None:
    reply = decipher_response(200, {}, _body(UPDATE_200), operation=UPDATE)
    assert reply.error is None
    response = reply.response
    assert response is not None
    assert response.status == "COMPLETE"
    (result,) = response.results
    assert result.id == "512"
    assert result.properties["name"] == "Ada"
    assert result.created_at == dt.datetime(2019, 10, 30, 3, 30, 17, 883000, tzinfo=dt.UTC)
    assert result.object_write_trace_id == "ab-0"
    assert result.archived is False
    assert response.started_at == dt.datetime(2024, 5, 1, 12, 0, 0, 100000, tzinfo=dt.UTC)
    assert response.requested_at is not None
    assert response.links == {"self": "https://api.hubapi.com/x"}
    assert response.errors == []


@pytest.mark.parametrize("new", [True, False])
def test_200_upsert_reads_new(new: bool) -> None:
    data = json.loads(json.dumps(UPDATE_200))
    data["results"][0]["new"] = new
    reply = decipher_response(200, {}, _body(data), operation=UPSERT)
    assert reply.response is not None
    (result,) = reply.response.results
    assert isinstance(result, SimplePublicUpsertObject)
    assert result.new is new


def test_207_with_errors() -> None:
    data = {
        "status": "COMPLETE",
        "results": [],
        "numErrors": 1,
        "errors": [
            {
                "status": "error",
                "category": "VALIDATION_ERROR",
                "subCategory": "x.y",
                "message": "Property values were not valid",
                "context": {"ids": ["7", "9"], "objectWriteTraceId": ["ab-1"]},
                "errors": [
                    {
                        "message": "bad date",
                        "code": "INVALID_DATE",
                        "in": "closedate",
                        "subCategory": "sc",
                        "context": {"propertyName": ["closedate"]},
                    }
                ],
                "links": {"knowledge": "https://example.com"},
                "id": "err-1",
            }
        ],
        "startedAt": "2024-05-01T12:00:00.100Z",
        "completedAt": "2024-05-01T12:00:00.300Z",
    }
    reply = decipher_response(207, {}, _body(data), operation=UPDATE)
    assert reply.error is None and reply.response is not None
    assert reply.status == 207
    assert reply.response.num_errors == 1
    (error,) = reply.response.errors
    assert error.category == "VALIDATION_ERROR"
    assert error.sub_category == "x.y"
    assert error.context == {"ids": ["7", "9"], "objectWriteTraceId": ["ab-1"]}
    assert error.links == {"knowledge": "https://example.com"}
    assert error.id == "err-1"
    (detail,) = error.errors
    assert detail.message == "bad date"
    assert detail.code == "INVALID_DATE"
    assert detail.in_ == "closedate"
    assert detail.sub_category == "sc"
    assert detail.context == {"propertyName": ["closedate"]}


def test_omitted_fields_and_unknown_fields() -> None:
    data = {"results": [{"id": "1", "surprise": {"a": 1}}], "status": "COMPLETE", "extra": [1]}
    reply = decipher_response(200, {}, _body(data), operation=UPDATE)
    assert reply.response is not None
    assert reply.response.started_at is None
    assert reply.response.links is None
    assert reply.response.results[0].id == "1"
    assert reply.response.results[0].properties == {}


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>502 Bad Gateway</body></html>",
        b'{"status": "COMPLETE", "results": [',
        b"",
        b"[]",
        b'"COMPLETE"',
        b'{"status": "COMPLETE", "results": {"id": "1"}}',
        b'{"status": "COMPLETE", "results": [], "errors": "none"}',
        b'{"results": [1, 2]}',
        b'{"results": [{"properties": {}}]}',  # result without an id
        b"\xff\xfe\x00",
    ],
    ids=repr,
)
@pytest.mark.parametrize("status", [200, 207])
def test_unreadable_success_is_malformed(status: int, body: bytes) -> None:
    reply = decipher_response(status, {}, body, operation=UPDATE)
    assert reply.response is None
    assert isinstance(reply.error, MalformedResponseError)
    assert reply.error.status == status


@pytest.mark.parametrize(
    "result",
    [
        {"id": "1", "createdAt": 12.5},
        {"id": "1", "properties": "x"},
        {"id": "1", "createdAt": "yesterday"},
        {"id": "1", "archived": "no"},
        {"id": ["1"]},
        {"id": "1", "properties": {"a": {"b": 1}}},
        {"id": "1", "objectWriteTraceId": 5},
    ],
    ids=repr,
)
def test_wrong_types_never_escape(result: dict[str, Any]) -> None:
    reply = decipher_response(200, {}, _body({"results": [result]}), operation=UPSERT)
    assert (reply.response is None) != (reply.error is None)
    if reply.error is not None:
        assert isinstance(reply.error, MalformedResponseError)


def test_400_validation_error() -> None:
    body = {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": "Duplicate IDs found in batch input: [1]. IDs must be unique",
        "correlationId": "c-1",
        "context": {"ids": ["1"]},
    }
    reply = decipher_response(400, {}, _body(body), operation=UPDATE)
    assert reply.response is None
    error = reply.error
    assert type(error) is ValidationError
    assert error.status == 400
    assert error.category == "VALIDATION_ERROR"
    assert error.body == body
    assert "Duplicate IDs" in str(error)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors(status: int) -> None:
    body = {"status": "error", "category": "INVALID_AUTHENTICATION", "message": "expired"}
    reply = decipher_response(status, {}, _body(body), operation=UPDATE)
    assert type(reply.error) is AuthenticationError
    assert reply.error.status == status


@pytest.mark.parametrize("policy", ["TEN_SECONDLY_ROLLING", "SECONDLY", "DAILY"])
def test_429_policy(policy: str) -> None:
    body = {
        "status": "error",
        "errorType": "RATE_LIMIT",
        "policyName": policy,
        "message": "You have reached your limit.",
        "correlationId": "c",
    }
    reply = decipher_response(429, {"Retry-After": "3"}, _body(body), operation=UPDATE)
    error = reply.error
    assert isinstance(error, RateLimitError)
    assert error.policy == policy
    assert error.status == 429
    assert error.retry_after == 3.0
    assert error.category == "RATE_LIMIT"


def test_429_without_body() -> None:
    reply = decipher_response(429, {}, b"", operation=UPDATE)
    assert isinstance(reply.error, RateLimitError)
    assert reply.error.policy is None
    assert reply.error.retry_after is None


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [
        (423, {}, None),
        (477, {"Retry-After": "30"}, 30.0),
        (477, {"retry-after": "1.5"}, 1.5),
        (503, {"Retry-After": "soon"}, None),
        (503, {"Retry-After": "-1"}, None),
    ],
)
def test_retryable_statuses_retry_after(
    status: int, headers: dict[str, str], retry_after: float | None
) -> None:
    reply = decipher_response(status, headers, b'{"message": "later"}', operation=UPDATE)
    assert type(reply.error) is ServerError
    assert reply.error.status == status
    assert reply.error.retry_after == retry_after


@pytest.mark.parametrize("status", [500, 502, 503, 504, 521, 523, 524, 599])
@pytest.mark.parametrize("body", [b"<html>Bad Gateway</html>", b"", b'{"message": "oops"}'])
def test_server_errors(status: int, body: bytes) -> None:
    reply = decipher_response(status, {}, body, operation=UPDATE)
    assert type(reply.error) is ServerError
    assert reply.error.status == status
    assert reply.response is None


@pytest.mark.parametrize("status", [404, 409, 415])
def test_other_4xx_are_validation_errors(status: int) -> None:
    reply = decipher_response(status, {}, b'{"category": "CONFLICT"}', operation=UPDATE)
    assert type(reply.error) is ValidationError
    assert reply.error.status == status


@pytest.mark.parametrize("status", [201, 204, 301, 100])
def test_other_statuses_are_api_errors(status: int) -> None:
    reply = decipher_response(status, {}, b"", operation=UPDATE)
    assert isinstance(reply.error, APIError)
    assert reply.response is None


def test_error_body_excerpt_is_bounded() -> None:
    reply = decipher_response(502, {}, b"x" * 100_000, operation=UPDATE)
    assert reply.error is not None
    assert len(str(reply.error)) < 1000
    assert isinstance(reply.error.body, str) and len(reply.error.body) < 1000


# --- rate-limit headers ----------------------------------------------------------------------

FULL_HEADERS = {
    "X-HubSpot-RateLimit-Max": "190",
    "X-HubSpot-RateLimit-Remaining": "187",
    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    "X-HubSpot-RateLimit-Daily": "1000000",
    "X-HubSpot-RateLimit-Daily-Remaining": "999000",
    "X-HubSpot-RateLimit-Secondly": "19",
    "X-HubSpot-RateLimit-Secondly-Remaining": "18",
}
FULL_INFO = RateLimitInfo(
    max=190,
    remaining=187,
    interval_ms=10000,
    daily=1000000,
    daily_remaining=999000,
    secondly=19,
    secondly_remaining=18,
)


def test_rate_limit_headers() -> None:
    assert RateLimitInfo.from_headers(FULL_HEADERS) == FULL_INFO


def test_rate_limit_headers_lower_case_and_multidict() -> None:
    lower = {k.lower(): v for k, v in FULL_HEADERS.items()}
    assert RateLimitInfo.from_headers(lower) == FULL_INFO
    assert RateLimitInfo.from_headers(CIMultiDict(lower)) == FULL_INFO
    assert RateLimitInfo.from_headers(CIMultiDict(FULL_HEADERS)) == FULL_INFO


def test_rate_limit_headers_missing() -> None:
    assert RateLimitInfo.from_headers({}) == RateLimitInfo()
    info = RateLimitInfo.from_headers({"X-HubSpot-RateLimit-Max": "100"})
    assert info.max == 100
    assert info.remaining is None


@pytest.mark.parametrize("value", ["abc", "-5", "", "1.5", "1e3", " "])
def test_rate_limit_headers_nonsense(value: str) -> None:
    headers = {name: value for name in FULL_HEADERS}
    assert RateLimitInfo.from_headers(headers) == RateLimitInfo()


def test_zero_interval_is_none() -> None:
    info = RateLimitInfo.from_headers({"X-HubSpot-RateLimit-Interval-Milliseconds": "0"})
    assert info.interval_ms is None


def test_reply_carries_rate_info() -> None:
    reply = decipher_response(200, FULL_HEADERS, _body(UPDATE_200), operation=UPDATE)
    assert reply.rate == FULL_INFO
    reply = decipher_response(429, FULL_HEADERS, b"", operation=UPDATE)
    assert reply.rate == FULL_INFO


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("5", 5.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("x", None),
        ("-1", None),
        ("nan", None),
        ("inf", None),
        ("99999", 3600.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


# --- encode_inputs ---------------------------------------------------------------------------


def test_encode_inputs_camel_case_and_omits_none() -> None:
    body = encode_inputs(
        [
            BatchInput(id="1", properties={"a": "x"}),
            BatchInput(id="k", properties={}, id_property="ext_key", object_write_trace_id="t"),
        ]
    )
    assert orjson.loads(body) == {
        "inputs": [
            {"id": "1", "properties": {"a": "x"}},
            {"id": "k", "properties": {}, "idProperty": "ext_key", "objectWriteTraceId": "t"},
        ]
    }


def test_encode_no_inputs() -> None:
    assert orjson.loads(encode_inputs([])) == {"inputs": []}


# --- never raises ----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    status=st.integers(100, 599) | st.sampled_from([200, 207, 200, 207, 429, 400]),
    headers=abst.response_headers,
    body=abst.response_bodies,
    upsert=st.booleans(),
)
def test_decipher_never_raises(
    status: int, headers: dict[str, str], body: bytes, upsert: bool
) -> None:
    reply = decipher_response(status, headers, body, operation=UPSERT if upsert else UPDATE)
    assert (reply.response is None) != (reply.error is None)
    assert reply.status == status
    if reply.response is not None:
        assert status in (200, 207)
    else:
        assert isinstance(reply.error, APIError)
        assert reply.error.status == status
        str(reply.error)
        repr(reply.error)


@pytest.mark.parametrize(
    "result",
    [
        {"id": None, "properties": {}},
        {"id": ["1"], "properties": {}},
    ],
)
def test_wrong_scalar_types_are_malformed_not_invented(result: dict[str, object]) -> None:
    body = orjson.dumps({"status": "COMPLETE", "results": [result]})
    reply = decipher_response(200, {}, body, operation=UPDATE)
    assert reply.response is None
    assert isinstance(reply.error, MalformedResponseError)


@pytest.mark.parametrize(
    "extra",
    [
        {"numErrors": "abc"},
        {"numErrors": -5},
        {"requestedAt": "yesterday"},
        {"startedAt": 1e20},
        {"links": ["not", "a", "dict"]},
        {"status": 7},
    ],
)
def test_bad_decoration_keeps_written_results(extra: dict[str, object]) -> None:
    # Issue 12 item 9: one unused field with a bad value made the whole answer "malformed",
    # so written records were reported failed and resent. numErrors is recomputed.
    error = {"status": "error", "category": "VALIDATION_ERROR", "message": "bad", "context": {}}
    body = orjson.dumps(
        {"status": "COMPLETE", "results": [{"id": "1"}], "errors": [error], **extra}
    )
    reply = decipher_response(207, {}, body, operation=UPDATE)
    assert reply.response is not None, reply.error
    assert [r.id for r in reply.response.results] == ["1"]
    assert reply.response.num_errors == 1


@pytest.mark.parametrize(
    "result",
    [
        {"id": "1", "archived": "no"},
        {"id": "1", "createdAt": "yesterday", "updatedAt": 1e20},
        {"id": "1", "properties": {"a": "x", "b": None}, "new": "maybe"},
    ],
)
def test_bad_result_decoration_keeps_the_result(result: dict[str, object]) -> None:
    body = orjson.dumps({"status": "COMPLETE", "results": [result]})
    reply = decipher_response(200, {}, body, operation=UPSERT)
    assert reply.response is not None, reply.error
    assert reply.response.results[0].id == "1"


def test_error_ids_with_a_null_keep_the_named_ids() -> None:
    error = {"category": "VALIDATION_ERROR", "message": "bad", "context": {"ids": [None, "7"]}}
    body = orjson.dumps({"status": "COMPLETE", "results": [], "errors": [error]})
    reply = decipher_response(207, {}, body, operation=UPDATE)
    assert reply.response is not None, reply.error
    assert reply.response.errors[0].context["ids"] == ["7"]


def test_context_ids_as_a_bare_string_is_malformed() -> None:
    body = orjson.dumps(
        {"status": "COMPLETE", "results": [], "errors": [{"context": {"ids": "123"}}]}
    )
    reply = decipher_response(207, {}, body, operation=UPDATE)
    assert isinstance(reply.error, MalformedResponseError)


def test_numbers_in_string_fields_are_read_as_text() -> None:
    body = orjson.dumps({"status": "COMPLETE", "results": [{"id": 512, "properties": {"n": 17}}]})
    reply = decipher_response(200, {}, body, operation=UPDATE)
    assert reply.response is not None
    assert reply.response.results[0].id == "512"
    assert reply.response.results[0].properties["n"] == "17"


# The fast reading of result objects must agree with the converter wherever it answers.
_usual_results = st.fixed_dictionaries(
    {"id": st.text(max_size=4)},
    optional={
        "properties": st.dictionaries(st.text(max_size=4), st.none() | st.text(max_size=4)),
        "createdAt": st.sampled_from(["2019-10-30T03:30:17.883Z", "2024-05-01T12:00:00+02:00"]),
        "updatedAt": st.none() | st.just("2019-12-07T16:50:06.678Z"),
        "archived": st.booleans(),
        "new": st.booleans(),
        "objectWriteTraceId": st.none() | st.text(max_size=4),
    },
)


@given(
    raw=_usual_results | st.dictionaries(abst._result_keys, abst.json_values, max_size=6),
    upsert=st.booleans(),
)
@settings(max_examples=300)
def test_fast_result_reading_agrees_with_the_converter(raw: dict[str, Any], upsert: bool) -> None:
    from asyncbatch._convert import structure
    from asyncbatch._models import SimplePublicObject
    from asyncbatch._protocol import _read_object

    cls = SimplePublicUpsertObject if upsert else SimplePublicObject
    try:
        expected: object = structure(raw, cls)
    except Exception as exc:
        expected = type(exc)
    fast = _read_object(raw, cls, {})
    if fast is not None:
        assert fast == expected
        assert type(fast) is cls


def test_fast_result_reading_takes_the_usual_shape() -> None:
    from asyncbatch._protocol import _read_object

    raw = UPDATE_200["results"][0]
    read = _read_object({**raw, "new": True}, SimplePublicUpsertObject, {})
    assert isinstance(read, SimplePublicUpsertObject)
    assert read.new is True
    assert read.created_at == dt.datetime(2019, 10, 30, 3, 30, 17, 883000, tzinfo=dt.UTC)


def test_results_sharing_a_timestamp_share_one_parse() -> None:
    result = {**UPDATE_200["results"][0]}
    body = orjson.dumps({"status": "COMPLETE", "results": [result, {**result, "id": "513"}]})
    reply = decipher_response(200, {}, body, operation=UPDATE)
    assert reply.response is not None
    first, second = reply.response.results
    assert first.updated_at is second.updated_at
