"""Shared helpers of the command-line tests (files, emulator lookups, subprocess set-up)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

RunCli = Callable[..., Awaitable[tuple[int, str, str]]]


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def by_property(records: list[dict[str, Any]], name: str) -> dict[str, dict[str, Any]]:
    """Stored emulator records keyed by one of their properties."""
    return {r["properties"][name]: r for r in records if name in r["properties"]}


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HUBSPOT_ACCESS_TOKEN"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env.update(extra)
    return env


CLI = [sys.executable, "-m", "asyncbatch"]
