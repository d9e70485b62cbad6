"""Regenerate asyncbatch/_data/courses_sample.jsonl.gz, the demo's bundled course records.

Deterministic (seeded): 10,000 distinct courses, then 60 later corrections of earlier ones
(duplicates the client coalesces) and 12 records with a level the demo emulator rejects.
Writes one file; run ``python benchmarks/make_sample.py``.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

LEVELS = ["beginner", "intermediate", "advanced"]
TOPICS = ["python", "sql", "etl", "crm", "analytics", "apis", "security", "cloud"]
OUT = Path(__file__).resolve().parent.parent / "asyncbatch" / "_data" / "courses_sample.jsonl.gz"


def course(rng: random.Random, n: int, level: str | None = None) -> dict[str, object]:
    code = f"CRS-{n:05d}"
    return {
        "id": code,
        "properties": {
            "course_code": code,
            "hs_course_name": f"{rng.choice(TOPICS).upper()} {rng.choice(LEVELS)} {n}",
            "level": level or rng.choice(LEVELS),
            "duration_hours": str(rng.randint(2, 60)),
            "start_date": f"2027-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "price": f"{rng.randint(0, 900)}.{rng.choice(['00', '50', '99'])}",
            "topics": ";".join(sorted(rng.sample(TOPICS, rng.randint(1, 3)))),
        },
    }


def main() -> None:
    rng = random.Random(410)
    records = [course(rng, n) for n in range(10_000)]
    for n in rng.sample(range(10_000), 60):
        records.append({"id": f"CRS-{n:05d}", "properties": {"price": "49.00"}})
    for n in rng.sample(range(10_000, 10_100), 12):
        records.insert(rng.randrange(len(records)), course(rng, n, level="expert"))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(OUT, "wb", mtime=0) as handle:
        for record in records:
            handle.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
    print(f"wrote {len(records)} records to {OUT}")


if __name__ == "__main__":
    main()
