"""The ``asyncbatch`` command line: argument parsing and output only; calls the public API.

Subcommands: ``emulator`` (serve the local HubSpot emulator) and ``demo`` (the main job on the
embedded emulator). Does I/O (terminal, network on loopback). No traceback reaches the user:
errors print one line and set the exit code (2 usage, 1 failure).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    from .emulator.__main__ import add_arguments

    parser = argparse.ArgumentParser(
        prog="asyncbatch",
        description="Batch update and upsert for HubSpot CRM v3, chunked, concurrent and "
        "rate-limited.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    emulator = commands.add_parser(
        "emulator",
        help="serve a local HubSpot batch emulator",
        description="A local HubSpot CRM v3 batch server for tests and benchmarks.",
    )
    add_arguments(emulator)
    commands.add_parser(
        "demo", help="upsert the bundled 10,000-course sample into an embedded emulator"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``asyncbatch``; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "emulator":
            from .emulator.__main__ import run

            return run(args)
        from ._demo import run_demo

        result = asyncio.run(run_demo())
        return 0 if not result.failed else 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, no traceback, for any failure we did not foresee
        print(f"asyncbatch: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
