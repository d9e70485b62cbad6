"""Where a client's CPU goes, per record, in buckets: validation, property check, planning,
encoding, transport, dispatch, reading, merging, other, and the garbage collector (GC). No I/O
but reading a profile file.

The figures come from samples (``child.Sampler``: the Python stack at each 1/250 s or so of
the process's CPU, weighted by the CPU since the previous one, taken in every paired run):
each bucket's share of the sampled CPU outside the collector, times the runs' median CPU per
record outside it, plus the collector's own time (``gc.callbacks``). A sample is charged to
the innermost frame of its stack that has a bucket.

A function is put in a bucket by its module (and, in ``_plan.py`` and ``_protocol.py``, its
name): ``bucket_of``. Code that belongs to no bucket by itself (attrs' and cattrs' generated
functions, ``_convert``, ``_models``, the standard library's helpers) is charged to its
callers: the next frame out in a sample; in a cProfile run, its callers in proportion to the
time it spent under each (cProfile keeps that per caller). In a cProfile run built-ins are
functions of their own: ``orjson.dumps`` is encoding, ``orjson.loads`` reading,
``select.epoll.poll`` transport, the others their callers'; in a sample, time in C belongs to
the Python frame that called it.

cProfile (``--profile``'s cross-check, ``bucket_seconds``) pays its own cost per call: it
takes about ten times the CPU of a plain run for asyncbatch (many small calls per record) and
twice for the peer, so the shares it gives lean towards code of many small calls. Sampling
costs the same per second of CPU whatever runs, well under 1 %.
"""

from __future__ import annotations

import pstats
import re
from collections.abc import Mapping
from typing import Any

BUCKETS = (
    "validation",
    "property check",
    "planning",
    "encoding",
    "transport",
    "dispatch",
    "reading",
    "merging",
    "other",
)
GC = "GC"
#: What each bucket holds, for the table's footer and the README.
BUCKET_NOTES = {
    "validation": "records' shape and values: asyncbatch/_values.py, _plan.py's _normalize, "
    "_convert_properties, _text, validate_*, check_*",
    "property check": "asyncbatch/_schema.py (all_pass, check_items and the judges of issue 14)",
    "planning": "the rest of _plan.py: keys, coalescing, trace ids, BatchInput/PlannedInput, "
    "chunks",
    "encoding": "request bodies: _protocol.encode_*, orjson.dumps (the peer: aiohttp's json= "
    "and json.dumps)",
    "transport": "aiohttp, yarl, multidict, asyncio's loop, sockets, epoll; "
    "asyncbatch/_transport.py",
    "dispatch": "asyncbatch's scheduler, limiter, retry and client (_dispatch, _schedule, "
    "_retry, _limiters, _client, _refusals) and anyio",
    "reading": "answers: orjson.loads / json.loads, _protocol's readers, result objects "
    "(attrs constructors, cattrs, timestamps)",
    "merging": "asyncbatch/_merge.py and what it builds",
    "other": "anything else (the benchmark's own code, the call's top)",
    GC: "the cyclic garbage collector, timed through gc.callbacks in the runs not profiled",
}

_VALIDATION_NAME = re.compile(r"^_?(normali[sz]e|convert|text|validate|check|refuse|integer)")
_ASYNCBATCH_MODULES = {
    "_values.py": "validation",
    "_schema.py": "property check",
    "_merge.py": "merging",
    "_transport.py": "transport",
    "_dispatch.py": "dispatch",
    "_schedule.py": "dispatch",
    "_retry.py": "dispatch",
    "_client.py": "dispatch",
    "_refusals.py": "dispatch",
    "_tokens.py": "dispatch",
    "_writer.py": "dispatch",
}
# Modules charged to their callers: results and conversion (reading or merging, by caller).
_ASYNCBATCH_CALLERS = {"_convert.py", "_models.py", "_operations.py", "_exceptions.py"}
_TRANSPORT_PACKAGES = (
    "/aiohttp/",
    "/yarl/",
    "/multidict/",
    "/aiosignal/",
    "/frozenlist/",
    "/propcache/",
    "/aiohappyeyeballs/",
    "/asyncio/",
)
_TRANSPORT_FILES = ("selectors.py", "socket.py", "ssl.py")
_BUILTINS = (
    ("orjson.dumps", "encoding"),
    ("orjson.loads", "reading"),
    ("select.epoll", "transport"),
    ("_socket.socket", "transport"),
    ("_contextvars.Context", "transport"),  # the loop running a callback
)

Func = tuple[str, int, str]


def bucket_of(func: Func) -> str | None:
    """The bucket ``func`` belongs to by itself, or None: charge it to its callers."""
    filename, _, name = func
    if filename == "~":  # a built-in
        return next((bucket for key, bucket in _BUILTINS if key in name), None)
    path = filename.replace("\\", "/")
    if "/asyncbatch/" in path and "/asyncbatch/emulator/" not in path:
        return _asyncbatch_bucket(path, name)
    if "/anyio/" in path:
        return "dispatch"
    if any(package in path for package in _TRANSPORT_PACKAGES) or path.endswith(_TRANSPORT_FILES):
        return "transport"
    if "/json/" in path:
        if path.endswith("encoder.py") or name == "dumps":
            return "encoding"
        if path.endswith("decoder.py") or name == "loads":
            return "reading"
    if path.endswith("/benchmarks/child.py"):
        return "other"
    return None


def bucket_of_stack(frames: list[Func]) -> str:
    """The bucket of a sampled stack (innermost frame first): its innermost frame's that has
    one."""
    for frame in frames:
        bucket = bucket_of(frame)
        if bucket is not None:
            return bucket
    return "other"


def _asyncbatch_bucket(path: str, name: str) -> str | None:
    module = path.rsplit("/", 1)[-1]
    if "/_limiters/" in path:
        return "dispatch"
    if module == "_plan.py":
        return "validation" if _VALIDATION_NAME.match(name) else "planning"
    if module == "_protocol.py":
        return "encoding" if "encode" in name else "reading"
    if module in _ASYNCBATCH_MODULES:
        return _ASYNCBATCH_MODULES[module]
    if module in _ASYNCBATCH_CALLERS:
        return None
    return "other"


class _Graph:
    """Each function's share in each bucket: its own, or its callers' (weighted)."""

    def __init__(self, stats: Mapping[Func, Any]) -> None:
        self._stats = stats
        self._shares: dict[Func, dict[str, float]] = {}

    def shares(self, func: Func, visiting: frozenset[Func] = frozenset()) -> dict[str, float]:
        known = self._shares.get(func)
        if known is not None:
            return known
        own = bucket_of(func)
        if own is not None:
            result = {own: 1.0}
        elif func in visiting or func not in self._stats:
            return {"other": 1.0}  # a cycle of bucket-less functions, or the graph's top
        else:
            result = self._from_callers(func, visiting | {func})
        self._shares[func] = result
        return result

    def _from_callers(self, func: Func, visiting: frozenset[Func]) -> dict[str, float]:
        callers: Mapping[Func, Any] = self._stats[func][4]
        # Per caller: (primitive calls, calls, own time under it, cumulative under it).
        weights = {caller: float(values[2]) for caller, values in callers.items()}
        if sum(weights.values()) <= 0:
            weights = {caller: float(values[1]) for caller, values in callers.items()}
        total = sum(weights.values())
        if total <= 0:
            return {"other": 1.0}
        result: dict[str, float] = {}
        for caller, weight in weights.items():
            for bucket, share in self.shares(caller, visiting).items():
                result[bucket] = result.get(bucket, 0.0) + share * weight / total
        return result


def bucket_seconds(profile_path: str) -> dict[str, float]:
    """The profile's own time (``tottime``) summed per bucket, in seconds."""
    stats: Mapping[Func, Any] = pstats.Stats(profile_path).stats  # type: ignore[attr-defined]
    graph = _Graph(stats)
    seconds = dict.fromkeys(BUCKETS, 0.0)
    for func, values in stats.items():
        own = float(values[2])
        if own <= 0:
            continue
        for bucket, share in graph.shares(func).items():
            seconds[bucket] += own * share
    return seconds


def scaled(
    weights: Mapping[str, float], *, cpu_us_per_record: float, gc_us_per_record: float
) -> dict[str, float]:
    """µs per record by bucket: each bucket's share of ``weights`` (samples or profiled
    seconds; a ``GC`` entry is left out) times the CPU per record outside the collector, and
    the collector's own."""
    outside = {b: float(weights.get(b, 0.0)) for b in BUCKETS}
    total = sum(outside.values())
    rest = max(0.0, cpu_us_per_record - gc_us_per_record)
    figures = {b: (v / total * rest if total > 0 else 0.0) for b, v in outside.items()}
    figures[GC] = gc_us_per_record
    return figures


def from_samples(
    seconds: Mapping[str, float],
    *,
    samples: int,
    cpu_us_per_record: float,
    gc_us_per_record: float,
) -> dict[str, Any]:
    """The breakdown of sampled runs (``seconds``: the CPU the samples carried, per bucket):
    µs per record by bucket, the samples behind it, and the collector's sampled share beside
    its timed figure, as a check on the sampler."""
    total = sum(seconds.values())
    return {
        "us_per_record": scaled(
            seconds, cpu_us_per_record=cpu_us_per_record, gc_us_per_record=gc_us_per_record
        ),
        "total_us_per_record": cpu_us_per_record,
        "samples": samples,
        "sampled_seconds": dict(seconds),
        "gc_sampled_us_per_record": (
            seconds.get(GC, 0.0) / total * cpu_us_per_record if total else None
        ),
    }
