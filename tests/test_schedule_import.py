"""The scheduled drop-folder import on a real Temporal dev server (the time-skipping server has
no Schedules): created idempotently with its times, catch-up and overlap policy; each trigger a
``FeedImportWorkflow`` that takes each dropped file once, moves it aside with its report, and
keeps a bad file's rejects."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import uuid
from datetime import date, timedelta
from pathlib import Path

from temporalio.client import Client, ScheduleHandle, ScheduleOverlapPolicy

from tests.factories import last_school_day, make_upn
from whereabouts.activities.deps import Deps
from whereabouts.feed import COLUMNS
from whereabouts.feed.drop import DropImportInput, DropImportResult, why_not_a_school_day
from whereabouts.feed.schedule import CATCHUP, ensure_schedule
from whereabouts.worker import build_worker


def write_feed(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        out.writeheader()
        for row in rows:
            out.writerow(row)


def mark(code: str, upn: str | None = None, on: date | None = None) -> dict[str, str]:
    return {
        "school_urn": "990201",
        "upn": upn or make_upn(),
        "attendance_date": (on or last_school_day()).isoformat(),
        "session": "AM",
        "attendance_code": code,
    }


async def ran(client: Client, handle: ScheduleHandle, runs: int) -> DropImportResult:
    """The result of the schedule's ``runs``-th run (waiting for it to start and finish)."""
    for _ in range(100):
        desc = await handle.describe()
        if len(desc.info.recent_actions) >= runs:
            action = desc.info.recent_actions[runs - 1].action
            wf = client.get_workflow_handle(action.workflow_id, result_type=DropImportResult)  # type: ignore[attr-defined]
            return await wf.result()
        await asyncio.sleep(0.2)
    raise AssertionError(f"the schedule never made run {runs}")


@contextlib.asynccontextmanager
async def schedule(dev_env, settings, folder: Path):
    inp = DropImportInput(folder=str(folder), only_school_days=False)
    handle, created = await ensure_schedule(
        dev_env.client, inp, settings.task_queue, schedule_id=f"feed-import-{uuid.uuid4().hex[:8]}"
    )
    assert created
    try:
        async with build_worker(dev_env.client, settings, Deps.from_settings(settings)):
            yield handle
    finally:
        await handle.delete()


async def test_creating_the_schedule_twice_updates_it_with_its_times_and_policies(
    dev_env, settings, tmp_path
):
    client = dev_env.client
    sid = f"feed-import-{uuid.uuid4().hex[:8]}"
    first = DropImportInput(folder=str(tmp_path / "drop"))
    handle, created = await ensure_schedule(client, first, settings.task_queue, schedule_id=sid)
    try:
        again = DropImportInput(folder=str(tmp_path / "drop"), profile="sims", school_urn="990201")
        handle2, created2 = await ensure_schedule(client, again, settings.task_queue, schedule_id=sid)
        assert (created, created2) == (True, False)
        assert handle2.id == handle.id
        desc = await handle.describe()
        spec = desc.schedule.spec
        assert spec.time_zone_name == "Europe/London"
        times = sorted((c.hour[0].start, c.minute[0].start) for c in spec.calendars)
        assert times == [(9, 45), (14, 15)]
        for c in spec.calendars:
            assert (c.day_of_week[0].start, c.day_of_week[0].end) == (1, 5)  # Monday to Friday
        assert desc.schedule.policy.catchup_window == CATCHUP == timedelta(hours=1)
        assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        (arg,) = desc.schedule.action.args  # type: ignore[attr-defined]
        assert json.loads(arg.data)["profile"] == "sims"  # the update took
        listed = [s.id async for s in await client.list_schedules() if s.id == sid]
        assert listed == [sid]  # one schedule, not two
    finally:
        await handle.delete()


async def test_a_trigger_takes_each_dropped_file_once_with_its_report_and_rejects(
    dev_env, settings, tmp_path
):
    drop = tmp_path / "drop"
    drop.mkdir()
    write_feed(drop / "am.csv", [mark("/"), mark("I"), {**mark("/"), "upn": "A123"}])
    (drop / "notes.txt").write_text("not a feed: left alone")
    async with schedule(dev_env, settings, drop) as handle:
        await handle.trigger()
        result = await ran(dev_env.client, handle, 1)
        assert [f.name for f in result.files] == ["am.csv"]
        taken = result.files[0]
        assert taken.counts["rows"] == 3 and taken.counts["rejected"] == 1 and taken.counts["ignored"] == 2
        assert not (drop / "am.csv").exists()
        moved = Path(taken.taken_as)
        assert moved.parent == drop / "done" and moved.name.endswith("-am.csv") and moved.exists()
        report = json.loads(Path(taken.report_file).read_text())
        assert Path(taken.report_file).parent == moved.parent and report["rows"] == 3
        rejects = list(csv.DictReader(Path(taken.rejects_file or "").open()))
        assert [(r["reject_row"], r["reject_field"]) for r in rejects] == [("4", "upn")]
        assert rejects[0]["upn"] == "A123"  # the row kept whole, to fix and feed again
        assert (drop / "notes.txt").exists()
        # The Web UI's view: memo and result hold file names and counts, no pupil.
        desc = await handle.describe()
        wf = dev_env.client.get_workflow_handle(desc.info.recent_actions[0].action.workflow_id)
        memo = await (await wf.describe()).memo()
        assert memo["files"] == ["am.csv"] and memo["totals"]["rejected"] == 1
        assert "A123" not in json.dumps(memo) and "A123" not in result.model_dump_json()

        await handle.trigger()
        second = await ran(dev_env.client, handle, 2)
        assert second.files == [] and second.summary().startswith("nothing to import")
        assert len([p for p in (drop / "done").iterdir() if p.name.endswith("-am.csv")]) == 1


async def test_an_unreadable_file_is_taken_with_a_report_saying_why(dev_env, settings, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "export.csv").write_text("Adno,UPN,Legal Surname,Date,Session,Mark\n1,X,Y,27/11/2026,AM,N\n")
    async with schedule(dev_env, settings, drop) as handle:
        await handle.trigger()
        result = await ran(dev_env.client, handle, 1)
        (taken,) = result.files
        assert taken.unreadable and "--profile sims" in taken.unreadable
        assert json.loads(Path(taken.report_file).read_text())["unreadable"] == taken.unreadable
        assert result.totals["unreadable"] == 1


def test_a_run_on_a_day_no_school_is_open_skips(settings):
    directory = Deps.from_settings(settings).directory
    saturday = date(2026, 11, 28)
    assert "not a school day" in (why_not_a_school_day(directory, saturday) or "")
    assert why_not_a_school_day(directory, last_school_day()) is None


async def test_make_run_drops_the_sample_and_imports_it_once(dev_env, settings, tmp_path):
    from whereabouts.feed.schedule import SCHEDULE_ID, demo_run

    settings.temporal_address = dev_env.client.service_client.config.target_host
    sample = tmp_path / "sample-absences.csv"
    write_feed(sample, [mark("/"), mark("I")])
    drop = tmp_path / "drop"
    async with build_worker(dev_env.client, settings, Deps.from_settings(settings)):
        try:
            said = await demo_run(settings, drop, sample, wait=30)
        finally:
            await dev_env.client.get_schedule_handle(SCHEDULE_ID).delete()
    assert "1 file(s): 2 rows" in said, said
    assert not (drop / sample.name).exists() and len(list((drop / "done").glob("*.report.json"))) == 1
