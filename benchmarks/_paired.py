"""Paired figures (issue 19 item 2): asyncbatch and the hand-written peer run alternately,
each run a fresh process, and every figure is the ratio asyncbatch / peer within one pair,
summarised over the pairs as a median with its spread (min-max and the interquartile range).
Pure: no I/O.

A ratio is formed only where both sides did the same work: speed and CPU per record only when
neither lost a record (in rate-bound the peer, which has no limiter, loses most of them to
429s, so there only the time to the first request is paired; asyncbatch's share of the
ceiling and its 429s are its own figures against issue 6's target).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

#: Fields of a row that are medians over its runs in a paired scenario.
MEDIAN_FIELDS = (
    "wall_s",
    "rec_per_s",
    "share",
    "written",
    "lost",
    "requests",
    "http_429",
    "client_429s",
    "client_requests",
    "cpu_us_per_record",
    "cpu_s",
    "max_rss_mb",
    "max_window_requests",
    "max_in_flight",
    "emulator_ms_per_request",
    "first_request_ms",
    "first_write_ms",
    "gc_us_per_record",
    "check_us_per_record",
    "share_with_reads",
    "other_requests",
)
#: Kept per run in the JSON (``per_run``).
PER_RUN_FIELDS = (
    "wall_s",
    "rec_per_s",
    "share",
    "written",
    "requests",
    "http_429",
    "cpu_us_per_record",
    "first_request_ms",
    "first_write_ms",
    "gc_us_per_record",
    "gc_collections",
    "check_us_per_record",
    "share_with_reads",
)


def median_row(label: str, runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One row for ``runs`` of one tool: each of ``MEDIAN_FIELDS`` the median of the runs
    that have it (integers stay integers: the lower median), the rest from the first run."""
    done = [r for r in runs if r.get("wall_s") is not None]
    if not done:
        return {**runs[0], "tool": label}
    row = {**done[0], "tool": label, "runs": len(done), "failed_runs": len(runs) - len(done)}
    for field in MEDIAN_FIELDS:
        values = [r[field] for r in done if r.get(field) is not None]
        if not values:
            row[field] = None
        elif all(isinstance(v, int) for v in values):
            row[field] = statistics.median_low(values)
        else:
            row[field] = statistics.median(values)
    row["per_run"] = [{k: r.get(k) for k in PER_RUN_FIELDS} for r in done]
    return row


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and quartiles (inclusive method) of ``values``."""
    if not values:
        return {"n": 0, "median": None, "min": None, "max": None, "q1": None, "q3": None}
    q1, q3 = values[0], values[0]
    if len(values) >= 2:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return {
        "n": len(values),
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "q1": q1,
        "q3": q3,
    }


def _ratio(
    pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]],
    field: str,
    *,
    whole: bool,
) -> list[float]:
    """``field`` of asyncbatch / ``field`` of the peer, per pair (``whole``: only pairs in
    which neither lost a record)."""
    ratios = []
    for mine, theirs in pairs:
        a, b = mine.get(field), theirs.get(field)
        if a is None or not b:
            continue
        if whole and (mine.get("lost") or theirs.get("lost")):
            continue
        ratios.append(a / b)
    return ratios


def _figure(
    name: str,
    field: str,
    pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]],
    target: tuple[str, Callable[[float], bool]] | None,
    *,
    whole: bool,
) -> dict[str, Any]:
    ratios = spread(_ratio(pairs, field, whole=whole))
    mine = [m[field] for m, _ in pairs if m.get(field) is not None]
    theirs = [t[field] for _, t in pairs if t.get(field) is not None]
    met = None
    if target is not None and ratios["median"] is not None:
        met = target[1](ratios["median"])
    return {
        "figure": name,
        "field": field,
        "kind": "ratio",
        "asyncbatch": statistics.median(mine) if mine else None,
        "peer": statistics.median(theirs) if theirs else None,
        "ratio": ratios,
        "target": target[0] if target else None,
        "met": met,
    }


def _own(
    name: str,
    field: str,
    runs: Sequence[dict[str, Any]],
    target: tuple[str, Callable[[float], bool]] | None,
    peer_runs: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A figure of asyncbatch's own (no ratio), over its runs; the peer's median beside it."""
    values = spread([r[field] for r in runs if r.get(field) is not None])
    theirs = [r[field] for r in peer_runs if r.get(field) is not None]
    met = None
    if target is not None and values["median"] is not None:
        met = target[1](values["median"])
    return {
        "figure": name,
        "field": field,
        "kind": "own",
        "asyncbatch": values["median"],
        "peer": statistics.median(theirs) if theirs else None,
        "ratio": values,
        "target": target[0] if target else None,
        "met": met,
    }


def _at_most(bound: float) -> Callable[[float], bool]:
    return lambda value: value <= bound


def _at_least(bound: float) -> Callable[[float], bool]:
    return lambda value: value >= bound


def paired_figures(
    kind: str, mine: Sequence[dict[str, Any]], theirs: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The scenario's figures (``kind``: rate, latency or cpu), issue 19's targets beside
    those it sets."""
    pairs = [
        (m, t)
        for m, t in zip(mine, theirs, strict=False)
        if m.get("wall_s") is not None and t.get("wall_s") is not None
    ]
    done = [m for m, _ in pairs]
    figures: list[dict[str, Any]] = []
    if kind == "rate":
        zero = ("0 (max over runs)", _at_most(0))
        figures.append(_own("share of the ceiling", "share", done, (">= 0.98", _at_least(0.98))))
        figures.append(_own("share, schema read counted", "share_with_reads", done, None))
        figures.append(_max_429s(done, zero))
    else:
        speed_target = (">= 1.0", _at_least(1.0)) if kind == "latency" else None
        figures.append(_figure("speed (rec/s)", "rec_per_s", pairs, speed_target, whole=True))
        figures.append(
            _figure(
                "client CPU us/rec",
                "cpu_us_per_record",
                pairs,
                ("<= 1.5", _at_most(1.5)),
                whole=True,
            )
        )
    figures.append(
        _figure(
            "call to 1st request ms",
            "first_request_ms",
            pairs,
            ("<= 1.0", _at_most(1.0)),
            whole=False,
        )
    )
    figures.append(_figure("call to 1st write ms", "first_write_ms", pairs, None, whole=False))
    if kind == "cpu":
        figures.append(_figure("GC us/rec", "gc_us_per_record", pairs, None, whole=True))
        figures.append(
            _own(
                "property check us/rec",
                "check_us_per_record",
                done,
                ("< 2 (issue 14)", lambda v: v < 2.0),
            )
        )
    return figures


def _max_429s(
    runs: Sequence[dict[str, Any]], target: tuple[str, Callable[[float], bool]]
) -> dict[str, Any]:
    values = [r["http_429"] for r in runs if r.get("http_429") is not None]
    worst = max(values) if values else None
    return {
        "figure": "429s",
        "field": "http_429",
        "kind": "own",
        "asyncbatch": worst,
        "peer": None,
        "ratio": spread([float(v) for v in values]),
        "target": target[0],
        "met": None if worst is None else target[1](worst),
    }


def _number(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def paired_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The paired block printed under the table: one line per scenario and figure."""
    header = (
        "scenario",
        "figure",
        "asyncbatch",
        "peer",
        "ratio / value",
        "min-max",
        "IQR",
        "target",
        "",
    )
    table: list[tuple[str, ...]] = []
    pairs_seen: set[int] = set()
    for row in rows:
        for figure in row.get("paired") or ():
            spread_ = figure["ratio"]
            pairs_seen.add(spread_["n"])
            met = "" if figure["met"] is None else ("met" if figure["met"] else "NOT met")
            table.append(
                (
                    row["scenario"],
                    figure["figure"] + ("" if figure["kind"] == "ratio" else " (own)"),
                    _number(figure["asyncbatch"], 2),
                    _number(figure["peer"], 2),
                    _number(spread_["median"]),
                    f"{_number(spread_['min'])}-{_number(spread_['max'])}",
                    f"{_number(spread_['q1'])}-{_number(spread_['q3'])}",
                    figure["target"] or "-",
                    met,
                )
            )
    if not table:
        return []
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]

    def line(values: Sequence[str]) -> str:
        cells = [v.ljust(widths[i]) if i < 2 else v.rjust(widths[i]) for i, v in enumerate(values)]
        return "  " + " | ".join(cells).rstrip()

    counts = ", ".join(str(n) for n in sorted(pairs_seen))
    lines = [
        "",
        f"Paired: asyncbatch / peer, alternated in fresh processes ({counts} pairs): the ratio's "
        "median over the pairs, its min-max and interquartile range; asyncbatch and peer "
        "columns are medians. (own): asyncbatch's own figure over its runs, not a ratio.",
        line(header),
        "  " + "-+-".join("-" * w for w in widths),
    ]
    lines.extend(line(r) for r in table)
    return lines
