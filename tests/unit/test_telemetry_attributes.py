"""The request attributes of the OpenTelemetry observer: a masked ``url.full`` and the
convention's ``server.*``, ``error.type`` names. Pure: no event loop, no I/O."""

from __future__ import annotations

import asyncio

import pytest

import asyncbatch
from asyncbatch._telemetry import error_type, fixed_attributes


def test_url_full_is_masked_and_stays_out_of_the_metrics() -> None:
    url = "https://user:pa55word@api.hubapi.com/crm/v3/objects/x/batch/read?archived=false&k=SECRET"
    fixed = fixed_attributes("POST", url, "read", "x")
    shown = str(fixed.span["url.full"])
    assert "pa55word" not in shown and "SECRET" not in shown
    assert shown.startswith("https://user:***@api.hubapi.com/crm/v3/objects/x/batch/read?")
    assert fixed.span["server.address"] == "api.hubapi.com"
    assert fixed.span["server.port"] == 443
    assert "url.full" not in fixed.metric
    assert fixed.metric == {
        "http.request.method": "POST",
        "server.address": "api.hubapi.com",
        "server.port": 443,
        "asyncbatch.operation": "read",
        "asyncbatch.object_type": "x",
    }


@pytest.mark.parametrize(
    ("url", "port"),
    [("http://127.0.0.1/crm", 80), ("http://127.0.0.1:8123/crm", 8123), ("https://h:8443/", 8443)],
)
def test_server_port_defaults_by_scheme(url: str, port: int) -> None:
    assert fixed_attributes("GET", url, "properties", "x").metric["server.port"] == port


def test_error_type_names_the_class() -> None:
    assert error_type(asyncbatch.RequestTimeoutError("t")) == "asyncbatch.RequestTimeoutError"
    assert error_type(asyncio.CancelledError()) == "asyncio.exceptions.CancelledError"
    assert error_type(ValueError("x")) == "ValueError"
