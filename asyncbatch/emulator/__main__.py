"""Command line of the emulator: ``python -m asyncbatch.emulator --port N``. Does network I/O.

Serves until SIGINT or SIGTERM, after printing the base URL it listens on. ``add_arguments`` and
``run`` let another command line (``asyncbatch emulator``) reuse the options.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import signal
import sys
from pathlib import Path
from typing import Any, cast

from ._app import Emulator
from ._config import (
    ALL_FAULT_KINDS,
    EmulatorConfig,
    FaultConfig,
    FaultKind,
    OAuthApp,
    PropertyDef,
    ValidationRule,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to ``parser``."""
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    add("--port", type=int, default=8080, help="port; 0 picks a free one (default: %(default)s)")
    add("--token", default=None, help="the one accepted bearer token (default: any non-empty)")
    add("--rate-limit", type=int, default=100, metavar="N", help="requests per window per token")
    add("--rate-window", type=float, default=10.0, metavar="SECONDS", help="rolling window")
    add("--daily-limit", type=int, default=None, metavar="N", help="daily request cap per token")
    add("--latency", type=float, default=0.0, metavar="SECONDS", help="added to every answer")
    add("--jitter", type=float, default=0.0, metavar="SECONDS", help="uniform extra latency")
    add("--fault-rate", type=float, default=0.0, metavar="P", help="share of faulty requests")
    add(
        "--fault-kinds",
        default=",".join(ALL_FAULT_KINDS),
        metavar="K1,K2",
        help="comma-separated fault kinds (default: all: %(default)s)",
    )
    add("--fault-seed", type=int, default=0, help="seed of fault injection")
    add("--slow-seconds", type=float, default=30.0, help="delay of the 'slow' fault")
    add("--retry-after", type=float, default=1.0, metavar="SECONDS", help="477's Retry-After")
    add(
        "--properties",
        type=Path,
        default=None,
        metavar="FILE",
        help='JSON: {"OBJECT_TYPE": [{"name": ..., "type": ..., "options": [...], '
        '"fieldType": ..., "hasUniqueValue": ..., "calculated": ..., "readOnlyValue": ...}]}; '
        "added to HubSpot's default properties",
    )
    add(
        "--lenient",
        action="store_true",
        help="accept any object type and undeclared property; validation 400s name the inputs "
        "(the default is as strict as HubSpot)",
    )
    add(
        "--strict-properties",
        action="store_true",
        help="with --lenient: reject properties not declared for a declared object type",
    )
    add("--portal-id", type=int, default=12345678, help="account id HubSpot's messages name")
    add(
        "--token-expires-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="refuse each token with 401 EXPIRED_AUTHENTICATION this long after its first use",
    )
    add(
        "--validation-rules",
        type=Path,
        default=None,
        metavar="FILE",
        help='JSON: {"OBJECT_TYPE": [{"whenProperty": ..., "whenValue": ..., "requires": '
        "[...]}]}; admin rules enforced on writes through API 2026-09",
    )
    add(
        "--validation-207",
        action="store_true",
        help="invalid values -> 207 per input when every input has an objectWriteTraceId",
    )
    add(
        "--oauth-app",
        default=None,
        metavar="ID,SECRET,REFRESH_TOKEN",
        help="issue access tokens at POST /oauth/v1/token (refresh grant) to this app; the "
        "API then accepts only those tokens (and --token)",
    )
    add(
        "--oauth-token-lifetime",
        type=int,
        default=1800,
        metavar="SECONDS",
        help="how long an issued access token lasts (HubSpot's expires_in: %(default)s)",
    )
    add("--no-shuffle", action="store_true", help="return results in input order")
    add("--seed", type=int, default=0, help="seed of result order and jitter")


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """Build an ``EmulatorConfig`` from parsed ``add_arguments`` options."""
    properties: dict[str, list[PropertyDef]] = {}
    if args.properties is not None:
        raw = json.loads(args.properties.read_text(encoding="utf-8"))
        for object_type, defs in raw.items():
            properties[object_type] = [_property_def(d) for d in defs]
    kinds = tuple(k.strip() for k in args.fault_kinds.split(",") if k.strip())
    # getattr: another command line may build ``args`` without this newer option.
    rules_file: Path | None = getattr(args, "validation_rules", None)
    oauth = _oauth_app(
        getattr(args, "oauth_app", None), getattr(args, "oauth_token_lifetime", 1800)
    )
    return EmulatorConfig(
        token=args.token,
        rate_limit_requests=args.rate_limit,
        rate_limit_window_seconds=args.rate_window,
        daily_limit=args.daily_limit,
        latency_seconds=args.latency,
        jitter_seconds=args.jitter,
        faults=FaultConfig(
            rate=args.fault_rate,
            kinds=cast("tuple[FaultKind, ...]", kinds),  # validated by FaultConfig
            seed=args.fault_seed,
            slow_seconds=args.slow_seconds,
            retry_after_seconds=args.retry_after,
        ),
        properties=properties,
        strict=not args.lenient,
        strict_properties=args.strict_properties,
        portal_id=args.portal_id,
        token_expires_after_seconds=args.token_expires_after,
        oauth=oauth,
        validation_errors_as_207=args.validation_207,
        validation_rules={} if rules_file is None else _validation_rules(rules_file),
        shuffle_results=not args.no_shuffle,
        seed=args.seed,
    )


def _oauth_app(value: str | None, lifetime: int) -> OAuthApp | None:
    """``--oauth-app ID,SECRET,REFRESH_TOKEN`` as an ``OAuthApp`` (the emulator's own test
    credentials: never a real app's)."""
    if value is None:
        return None
    parts = value.split(",")
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise ValueError("--oauth-app takes ID,SECRET,REFRESH_TOKEN")
    client_id, secret, refresh = (p.strip() for p in parts)
    return OAuthApp(
        client_id=client_id,
        client_secret=secret,
        refresh_token=refresh,
        token_lifetime_seconds=lifetime,
    )


def _property_def(raw: dict[str, Any]) -> PropertyDef:
    """A ``PropertyDef`` from a definition in HubSpot's JSON names."""
    return PropertyDef(
        raw["name"],
        raw.get("type", "string"),
        raw.get("options", ()),
        field_type=raw.get("fieldType"),
        has_unique_value=bool(raw.get("hasUniqueValue", False)),
        calculated=bool(raw.get("calculated", False)),
        read_only_value=bool(raw.get("readOnlyValue", False)),
    )


def _validation_rules(path: Path) -> dict[str, list[ValidationRule]]:
    """Rules per object type from a JSON file in HubSpot's camelCase names."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected an object of object types")
    return {
        object_type: [
            ValidationRule(rule["whenProperty"], rule["whenValue"], rule["requires"])
            for rule in rules
        ]
        for object_type, rules in raw.items()
    }


def _freeze_after_full_collections() -> None:
    """Freeze what this process holds now and, after each full collection, what survived it
    (``gc.freeze``), so a full collection walks only what is new. The store only grows, and
    a full collection of the process with 10,000 records stored held the loop 15-27 ms: a
    request arriving meanwhile was counted that late, and a client keeping the default 10 ms
    from a 1 s window then got a 429. What is frozen is still freed when no longer
    referenced (only cycles among it are not)."""
    gc.collect()
    gc.freeze()

    def freeze(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

    gc.callbacks.append(freeze)


async def serve(config: EmulatorConfig, host: str, port: int) -> None:
    """Run an emulator until SIGINT or SIGTERM (the process's own: its collections are
    kept short, ``_freeze_after_full_collections``)."""
    _freeze_after_full_collections()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        emulator = Emulator(config)
        await emulator.start(host=host, port=port)
        stack.push_async_callback(emulator.stop)
        print(f"HubSpot emulator listening on {emulator.url}", flush=True)
        await stop.wait()


def run(args: argparse.Namespace) -> int:
    """Serve with parsed options; returns the exit code."""
    try:
        config = config_from_args(args)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(config, args.host, args.port))
    except KeyboardInterrupt:  # before the signal handlers were installed
        return 130
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m asyncbatch.emulator``."""
    parser = argparse.ArgumentParser(
        prog="python -m asyncbatch.emulator",
        description="A local HubSpot CRM batch server (API v3, 2026-03 and 2026-09).",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
