"""``python -m benchmarks``: every scenario, one table, the same table as JSON.

Options: ``--scenario NAME`` (repeatable), ``--tool NAME`` (repeatable), ``--quick`` (small
sizes: a smoke run), ``--pairs N`` (asyncbatch and the peer alternate N times in the paired
scenarios), ``--profile`` (the cpu-bound CPU breakdown and asyncbatch's top functions
instead). The packages of the ``bench`` extra in pyproject.toml are installed into this
interpreter first if missing.
scale-out's Redis is ``$ASYNCBATCH_BENCH_REDIS_URL`` (default redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _missing_bench_requirements() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = pyproject["project"]["optional-dependencies"].get("bench", [])
    missing = []
    for requirement in requirements:
        name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(requirement)
    return missing


def ensure_bench_extra() -> None:
    """Install the ``bench`` extra's packages that this interpreter lacks (``make bench`` only
    installs ``.[dev]``)."""
    missing = _missing_bench_requirements()
    if not missing:
        return
    print(f"installing the bench extra: {' '.join(missing)}", file=sys.stderr, flush=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", *missing], check=True, timeout=600
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="asyncbatch against its peers on the HubSpot emulator (separate processes).",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help="run only this scenario (repeatable): rate-bound, latency-bound, cpu-bound, "
        "shared-budget, scale-out, memory, refusals, web-backend, loop-stall",
    )
    parser.add_argument(
        "--tool",
        action="append",
        metavar="NAME",
        help="run only this tool (repeatable): asyncbatch, peer, sdk-sequential, sdk-threads, "
        "aiohttp-aiolimiter, asyncbatch-unchecked (rate-bound only), bisection (refusals "
        "only), writer, per-record-upsert, sdk-basic-threads (web-backend only)",
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=None,
        metavar="N",
        help="asyncbatch and the peer alternate N times in rate-bound, latency-bound and "
        "cpu-bound (fresh process per run; default 5, --quick 2; --profile 1)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run, ~1 min)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cpu-bound only: the CPU breakdown per record of asyncbatch and the peer, and "
        "asyncbatch's top functions under cProfile",
    )
    parser.add_argument("--top", type=int, default=15, help="functions listed by --profile")
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="where to write the table as JSON "
        "(default: benchmarks/results/latest.json, or latest-quick.json with --quick)",
    )
    args = parser.parse_args(argv)

    ensure_bench_extra()
    # Imported only now: the runner's imports need the bench extra.
    import asyncio

    from ._runner import RESULTS, SCENARIOS, format_table, profile_cpu, run_scenario, write_json

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.pairs is not None and args.pairs < 0:
        parser.error("--pairs must be 0 or more")
    if args.profile:
        pairs = 1 if args.pairs is None else args.pairs
        print(asyncio.run(profile_cpu(args.quick, args.top, pairs, log)))
        return 0
    names = args.scenario or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {list(SCENARIOS)}")

    async def run_all() -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        for name in names:
            log(f"scenario {name} ...")
            scenario = SCENARIOS[name]
            rows.extend(await run_scenario(scenario, args.quick, log, args.tool, args.pairs))
        return rows

    rows = asyncio.run(run_all())
    print(format_table(rows, args.quick))
    path = args.json or RESULTS / ("latest-quick.json" if args.quick else "latest.json")
    write_json(rows, args.quick, path)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
