"""Test doubles: a fake monotonic clock and HubSpot-shaped answers. No network I/O."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson


class FakeClock:
    """Virtual time: ``sleep`` advances ``now`` instead of waiting."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


def inputs_of(data: Any) -> list[dict[str, Any]]:
    """The ``inputs`` of a request body as aioresponses hands it to a callback."""
    body = orjson.loads(data)
    inputs: list[dict[str, Any]] = body["inputs"]
    return inputs


def echo_results(inputs: list[dict[str, Any]], *, upsert: bool = False) -> list[dict[str, Any]]:
    """HubSpot-shaped results for ``inputs``, in reverse order (HubSpot does not keep order)."""
    results = []
    for n, item in enumerate(inputs):
        result: dict[str, Any] = {
            "id": str(1000 + n) if item.get("idProperty") else item["id"],
            "properties": dict(item["properties"]),
            "createdAt": "2024-01-01T00:00:00.000Z",
            "updatedAt": "2024-01-02T00:00:00.000Z",
            "archived": False,
        }
        if item.get("objectWriteTraceId"):
            result["objectWriteTraceId"] = item["objectWriteTraceId"]
        if upsert:
            result["new"] = n % 2 == 0
        results.append(result)
    return list(reversed(results))


def batch_body(
    results: list[dict[str, Any]], errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": "2024-01-02T00:00:00.000Z",
        "completedAt": "2024-01-02T00:00:01.000Z",
    }
    if errors:
        body["errors"] = errors
        body["numErrors"] = len(errors)
    return body
