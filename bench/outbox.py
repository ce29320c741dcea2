"""The MIS outbox as it fills: what one close's append costs with a term's lines already in it.

    python -m bench.outbox [LINES]        or as part of ``make bench``

Why: the outbox is never rewritten (``whereabouts/mis_outbox.py``), so over a term an LA's file
holds millions of lines, and every close appends to it under its lock. An append must not write
a line id twice, and it used to read the whole file to be sure: each close then cost more than
the one before. Now each process reads only what was written since its last append
(``whereabouts/outbox_index.py``).

How: a file of ``LINES`` synthetic lines (a real size: about 400 bytes each), then 200 appends of
a close's two lines, each after a line from another worker that this process has not read. The
baseline is the same appends as they were, each reading the whole file for its ids (5 of them:
about a second each). Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench import Beside, Figures, print_figures, scaled
from whereabouts import mis_outbox

LINES = 200_000
APPENDS = 200
APPENDS_BEFORE = 5  # each reads the whole file: about a second each at 200,000 lines


def line(n: int, step: str) -> dict[str, str]:
    case = f"cme-990201-{n:020d}"
    return {
        "id": f"{case}/0190a1b2-c3d4-7e5f-8a9b-{n:012d}/{step}",
        "kind": "case_outcome",
        "school_urn": "990201",
        "upn": "A123456789012",
        "value": "parent_contact",
        "comment": "synthetic: parent rang the office " + "x" * 150,
        "case_id": case,
        "recorded_at": "2026-11-30T10:15:00+00:00",
    }


def fill(path: Path, lines: int) -> None:
    with path.open("wb") as fh:
        for n in range(lines):
            fh.write(mis_outbox.encode(line(n, "mark")))


def append_reading_all(path: Path, records: list[dict[str, str]]) -> None:
    """The baseline: the append as it was, reading the whole file for its ids each time."""
    with path.open("a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        present, _ = mis_outbox._scan(fh, {r["id"] for r in records})
        data = b"".join(mis_outbox.encode(r) for r in records if r["id"] not in present)
        mis_outbox._write_all(fh.fileno(), data)
        os.fsync(fh.fileno())


def appends(path: Path, first: int, count: int, *, reading_all: bool) -> float:
    """Seconds per append of a close's two lines; between them another worker appends one."""
    began = time.perf_counter()
    for k in range(count):
        n = first + k
        with path.open("ab") as other:  # another worker's line, which this one has not read
            other.write(mis_outbox.encode(line(n, "other")))
        records = [line(n, "outcome"), line(n, "reason")]
        if reading_all:
            append_reading_all(path, records)
        else:
            mis_outbox.append_new(path, records)
    return (time.perf_counter() - began) / count


async def main(lines: int | None = None) -> Figures:
    lines = lines or scaled(LINES, least=1_000)
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp:
        path = Path(tmp) / "mis-outbox.jsonl"
        fill(path, lines)
        size_mb = os.path.getsize(path) / 1e6
        began = time.perf_counter()
        mis_outbox.append_new(path, [line(lines, "warm")])  # a worker's first append reads it all
        first_s = time.perf_counter() - began
        now = appends(path, lines + 1, APPENDS, reading_all=False)
        before = appends(path, lines + 1 + APPENDS, APPENDS_BEFORE, reading_all=True)
        ids = [json.loads(raw)["id"] for raw in path.read_bytes().splitlines()]
        assert len(ids) == len(set(ids)), "an id was written twice"
    return print_figures(
        {
            "lines already in the outbox": lines,
            "outbox size, MB": round(size_mb, 1),
            "a worker's first append (reads the file once), ms": round(first_s * 1000),
            "appends of a close's two lines (baseline's)": f"{APPENDS} ({APPENDS_BEFORE})",
            "append, ms (baseline: reading the whole file each time)": Beside(
                round(now * 1000, 2), round(before * 1000, 2)
            ),
            "append, times faster than reading the whole file": round(before / now),
        }
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else None))
