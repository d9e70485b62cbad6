"""``asyncbatch emulator``: serve the local HubSpot emulator, with the command line's click
options, error style and exit codes (2: a bad option or ``--properties`` file, named; 3: the
server could not start, such as a port in use; 0 after SIGINT or SIGTERM).

The options are those of ``python -m asyncbatch.emulator`` (``asyncbatch.emulator.__main__``),
whose ``config_from_args`` builds the configuration, so the two cannot drift apart in what an
option means. Importing needs click; running does network I/O and reads ``--properties``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from ..emulator import ALL_FAULT_KINDS
from ._exit import EXIT_OK, EXIT_STOPPED, EXIT_USAGE

__all__ = ["emulator_command", "properties_problem"]


def properties_problem(path: Path) -> str | None:
    """What is wrong with a ``--properties`` file (reads it), None when it has the shape
    ``{"OBJECT_TYPE": [{"name": ..., ...}, ...], ...}``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return f"cannot read it: {exc.strerror}"
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"not JSON: {exc}"
    shape = '{"OBJECT_TYPE": [{"name": ..., "type": ..., "options": [...]}, ...]}'
    if not isinstance(raw, dict):
        return f"expected an object, {shape}"
    for object_type, definitions in raw.items():
        if not isinstance(definitions, list) or not all(
            isinstance(d, dict) and isinstance(d.get("name"), str) for d in definitions
        ):
            return f"{object_type!r} must list definitions with a 'name': {shape}"
    return None


def _fail(message: str, code: int) -> int:
    print(f"asyncbatch: error: {message}", file=sys.stderr, flush=True)
    return code


_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--host",), {"default": "127.0.0.1", "show_default": True, "help": "Interface."}),
    (("--port",), {"type": int, "default": 8080, "show_default": True, "help": "0: any."}),
    (("--token",), {"help": "The one accepted bearer token (default: any non-empty)."}),
    (("--rate-limit",), {"type": int, "default": 100, "show_default": True, "metavar": "N",
                         "help": "Requests per window per token."}),
    (("--rate-window",), {"type": float, "default": 10.0, "show_default": True,
                          "metavar": "SECONDS", "help": "The rolling window."}),
    (("--daily-limit",), {"type": int, "metavar": "N", "help": "Daily requests per token."}),
    (("--latency",), {"type": float, "default": 0.0, "metavar": "SECONDS",
                      "help": "Added to every answer."}),
    (("--jitter",), {"type": float, "default": 0.0, "metavar": "SECONDS",
                     "help": "Uniform extra latency."}),
    (("--fault-rate",), {"type": float, "default": 0.0, "metavar": "P",
                         "help": "Share of requests given a fault."}),
    (("--fault-kinds",), {"default": ",".join(ALL_FAULT_KINDS), "metavar": "K1,K2",
                          "help": f"Fault kinds (default: all: {','.join(ALL_FAULT_KINDS)})."}),
    (("--fault-seed",), {"type": int, "default": 0, "help": "Seed of fault injection."}),
    (("--slow-seconds",), {"type": float, "default": 30.0, "help": "The 'slow' fault's delay."}),
    (("--retry-after",), {"type": float, "default": 1.0, "metavar": "SECONDS",
                          "help": "The 477 fault's Retry-After."}),
    (("--properties",), {"type": click.Path(dir_okay=False, path_type=Path), "metavar": "FILE",
                         "help": 'JSON {"OBJECT_TYPE": [{"name", "type", "options", '
                         '"fieldType", "hasUniqueValue", "calculated", "readOnlyValue"}]}, '
                         "added to HubSpot's default properties."}),
    (("--lenient",), {"is_flag": True, "help": "Any object type and undeclared property; "
                      "validation 400s name the inputs (default: as strict as HubSpot)."}),
    (("--strict-properties",), {"is_flag": True, "help": "With --lenient: refuse properties "
                                "not declared for a declared object type."}),
    (("--portal-id",), {"type": int, "default": 12345678, "help": "The account id named."}),
    (("--token-expires-after",), {"type": float, "metavar": "SECONDS", "help": "Refuse each "
                                  "token with 401 EXPIRED_AUTHENTICATION this long after use."}),
    (("--validation-207",), {"is_flag": True, "help": "Invalid values: a 207 per input when "
                             "every input has an objectWriteTraceId."}),
    (("--no-shuffle",), {"is_flag": True, "help": "Results in input order."}),
    (("--seed",), {"type": int, "default": 0, "help": "Seed of result order and jitter."}),
]  # fmt: skip


def _with_options(command: Any) -> Any:
    for names, settings in reversed(_OPTIONS):
        command = click.option(*names, **settings)(command)
    return command


@click.command(name="emulator")
@_with_options
def emulator_command(**options: Any) -> int:
    """Serve a local HubSpot CRM v3 emulator (batch endpoints, property definitions, rate
    limits, faults) until interrupted; prints the URL it listens on.

    Exit codes: 0 stopped by SIGINT/SIGTERM, 2 a bad option or --properties file, 3 the
    server could not start (a port in use).
    """
    from ..emulator.__main__ import config_from_args, serve

    properties: Path | None = options["properties"]
    if properties is not None:
        problem = properties_problem(properties)
        if problem is not None:
            return _fail(f"--properties {properties}: {problem}", EXIT_USAGE)
    try:
        config = config_from_args(argparse.Namespace(**options))
    except (ValueError, KeyError, TypeError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        asyncio.run(serve(config, options["host"], options["port"]))
    except OSError as exc:
        where = f"{options['host']}:{options['port']}"
        return _fail(f"cannot listen on {where}: {exc.strerror or exc}", EXIT_STOPPED)
    return EXIT_OK
