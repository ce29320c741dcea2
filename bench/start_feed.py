"""How fast the morning feed opens cases: a synthetic 5,000-row feed through ``feed()``,
beside a one-line workflow started the same way (same options, same concurrency, same client).

    python bench/start_feed.py [ROWS]        or as part of ``make bench``

Against a local dev server started in-process (in memory). No worker runs: starting a workflow
only needs the frontend to accept it and write its first events, so the figure is the start rate
alone, not how fast workers then pick the cases up. The client encrypts payloads as production
does. A pupil's first case costs the feed one request (the start itself refuses an earlier run
with the case's ID, ``feed/intake.py``). The baseline's starts are split, half before the feed
and half after, so a server that slows as it fills weighs on both alike. Then a tenth of the
same feed runs again: it must start nothing. Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import shutil
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from temporalio import workflow

from bench import Beside, Figures, print_figures, scaled

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: python bench/start_feed.py
    sys.path.insert(0, str(ROOT))

ROWS = 5_000  # twice this many starts (the feed, the baseline), and a tenth again
WARM_UP = 200


@workflow.defn(name="BenchOneLine")
class OneLine:
    @workflow.run
    async def run(self, x: str) -> str:
        return x


def synthetic_feed(rows: int, on: date) -> str:
    """A feed of N marks for one school, every pupil different; fictional throughout."""
    from stdnum.gb import upn

    from whereabouts.feed import COLUMNS

    buf = io.StringIO()
    out = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    out.writeheader()
    for i in range(rows):
        body = f"{(928, 940, 941)[i % 3]}{2000 + i // 1000:04d}15{i % 1000:03d}"
        out.writerow(
            {
                "school_urn": "990201",
                "upn": upn.calc_check_digit(body) + body,
                "forename": "Robin",
                "surname": f"Benchperson{i}",
                "date_of_birth": "2015-03-14",
                "year_group": "6",
                "address_line1": f"{i % 200 + 1} Imaginary Row",
                "town": "Exampleton",
                "postcode": "EX9 1ZZ",
                "attendance_date": on.isoformat(),
                "session": "AM",
                "attendance_code": "N",
                "contact1_name": "Grace Benchperson",
                "contact1_relationship": "mother",
                "contact1_phone": f"07700 900{i % 1000:03d}; 01632 960{i % 1000:03d}",
                "contact1_email": f"parent{i}@family.example.net",
                "contact1_language": ("pl", "ur", "")[i % 3],
                "contact2_name": "Aunt Synthia",
                "contact2_phone": "07700 900456",
                "flags": "eal" if i % 4 == 0 else "",
            }
        )
    return buf.getvalue()


async def _one_line_starts(client, settings, rows: int, prefix: str) -> float:
    """The trivial workflow, started as ``feed()`` starts a case: same options, same bound."""
    from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

    from whereabouts.feed import DEFAULT_CONCURRENCY

    gate = asyncio.Semaphore(DEFAULT_CONCURRENCY)

    async def one(i: int) -> None:
        wid = f"{prefix}-{i}"
        async with gate:
            await client.start_workflow(
                OneLine.run,
                "x",
                id=wid,
                task_queue=settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                static_summary="CME case: school URN 990201",
                memo={"first_day_absent": "2026-11-27", "first_session": "AM"},
            )

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(rows)))
    return time.perf_counter() - began


async def main(rows: int | None = None) -> Figures:
    from temporalio.testing import WorkflowEnvironment

    from bench.stack import make_pseudonym_key
    from tests.factories import last_school_day, school_day_before
    from whereabouts.codec import EncryptionCodec, new_key_spec, parse_keys
    from whereabouts.converter import payload_data_converter
    from whereabouts.directory import load_directory
    from whereabouts.feed import DEFAULT_CONCURRENCY, feed, read_feed
    from whereabouts.search import ALL_KEYS
    from whereabouts.settings import Settings

    rows = rows or scaled(ROWS)
    settings = Settings(
        directory_path=ROOT / "tests" / "data" / "schools.toml",
        var_dir=Path(tempfile.mkdtemp(prefix="bench-var-")),
        task_queue=f"bench-feed-{uuid.uuid4().hex[:6]}",
    )
    make_pseudonym_key(settings.var_dir)
    converter = dataclasses.replace(
        payload_data_converter, payload_codec=EncryptionCodec(parse_keys(new_key_spec("bench")))
    )
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        data_converter=converter,
        search_attributes=list(ALL_KEYS),
        dev_server_log_level="error",
        ui=False,
    )
    figures: Figures = {}
    try:
        client = env.client
        on = school_day_before(last_school_day())  # "yesterday" at school
        text = synthetic_feed(rows, on)
        directory = load_directory(settings.directory_path)
        began = time.perf_counter()
        checked = read_feed(text, directory=directory)
        parse_s = time.perf_counter() - began
        assert not checked.rejects, checked.rejects[:3]

        await _one_line_starts(client, settings, WARM_UP, "warm-up")
        before_s = await _one_line_starts(client, settings, rows // 2, "one-line-a")
        report = await feed(client, checked, settings)
        if len(report.started) != rows:
            print(f"  note: feed started {len(report.started)} of {rows}: {report.counts()}")
        feed_s = report.seconds
        after_s = await _one_line_starts(client, settings, rows - rows // 2, "one-line-b")
        # The same feed again (its first tenth): every case is open, so nothing starts twice.
        again_rows = max(rows // 10, 1)
        again = await feed(client, read_feed(synthetic_feed(again_rows, on), directory=directory), settings)

        started_per_s = len(report.started) / feed_s
        one_line_per_s = rows / (before_s + after_s)
        figures = {
            "rows": rows,
            "concurrency": DEFAULT_CONCURRENCY,
            "worker": "none (start rate only)",
            "parse + check, rows/s": round(rows / parse_s),
            "feed() cases started/s (baseline: one-line workflow)": Beside(
                round(started_per_s), round(one_line_per_s)
            ),
            "feed / one-line": round(started_per_s / one_line_per_s, 2),
            f"same feed again ({again_rows} rows): started": len(again.started),
            f"same feed again ({again_rows} rows): noted in the open case": len(again.already_open),
        }
    finally:
        await env.shutdown()
        shutil.rmtree(settings.var_dir, ignore_errors=True)
    return print_figures(figures)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else None))
