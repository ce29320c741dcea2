"""The drop-folder import as a Temporal Schedule: created (or updated) by one command.

    python starter.py schedule --folder DIR [--at 09:45 --at 14:15] [--profile NAME | --mapping FILE]
                               [--school-urn URN] [--trigger]

The Schedule (ID ``feed-import``, or ``--id``) starts a ``FeedImportWorkflow`` after each
registration session, Monday to Friday, in Europe/London time (GMT or BST as the day is); the
workflow itself skips a day no school in the directory is open. Re-running the command updates
the Schedule in place (``ScheduleAlreadyRunningError`` -> ``handle.update``), so it is how the
folder, the times or the profile are changed. A run that could not start on time (the cluster
was down) is caught up for at most ``CATCHUP`` afterwards, not Temporal's default of a year, and
a run still going when the next is due makes that one skip (``ScheduleOverlapPolicy.SKIP``).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import uuid
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TextIO

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from whereabouts.connect import connect
from whereabouts.directory import load_directory
from whereabouts.feed.drop import DropImportInput, DropImportResult, why_not_a_school_day
from whereabouts.feed.profiles.spec import ProfileError, load_mapping, profile_names
from whereabouts.feed.report import EXIT_UNREACHABLE, EXIT_UNREADABLE
from whereabouts.settings import Settings
from whereabouts.times import LONDON
from whereabouts.workflows.feed_import import FeedImportWorkflow

SCHEDULE_ID = "feed-import"
WORKFLOW_ID = "feed-import-run"  # the Schedule appends each run's start time
# After the morning register (closes by 09:30 in most schools) and the afternoon one.
SESSION_TIMES = (time(9, 45), time(14, 15))
TIME_ZONE = "Europe/London"
CATCHUP = timedelta(hours=1)
MONDAY, FRIDAY = 1, 5  # ScheduleCalendarSpec counts Sunday as 0


def build_schedule(inp: DropImportInput, task_queue: str, at: Sequence[time] = SESSION_TIMES) -> Schedule:
    calendars = [
        ScheduleCalendarSpec(
            hour=[ScheduleRange(t.hour)],
            minute=[ScheduleRange(t.minute)],
            day_of_week=[ScheduleRange(MONDAY, FRIDAY)],
            comment=f"after the {'morning' if t.hour < 12 else 'afternoon'} register",
        )
        for t in at
    ]
    return Schedule(
        action=ScheduleActionStartWorkflow(
            FeedImportWorkflow.run, inp, id=WORKFLOW_ID, task_queue=task_queue
        ),
        spec=ScheduleSpec(calendars=calendars, time_zone_name=TIME_ZONE),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP),
        state=ScheduleState(note=f"imports the feeds dropped in {inp.folder}"),
    )


async def ensure_schedule(
    client: Client,
    inp: DropImportInput,
    task_queue: str,
    *,
    at: Sequence[time] = SESSION_TIMES,
    schedule_id: str = SCHEDULE_ID,
) -> tuple[ScheduleHandle, bool]:
    """The Schedule created, or brought up to date if it exists; True if it was created."""
    schedule = build_schedule(inp, task_queue, at)
    try:
        return await client.create_schedule(schedule_id, schedule), True
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(schedule_id)

        async def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await handle.update(replace)
        return handle, False


def _time(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a time as HH:MM (09:45)") from None


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="starter.py schedule",
        description="Create or update the Temporal Schedule that imports the feeds dropped in a folder.",
    )
    p.add_argument("--folder", type=Path, required=True, help="the drop folder the MIS writes feeds into")
    p.add_argument(
        "--at",
        type=_time,
        action="append",
        metavar="HH:MM",
        help="a run time, Europe/London, Monday to Friday (repeat; default 09:45 and 14:15)",
    )
    how = p.add_mutually_exclusive_group()
    how.add_argument("--profile", choices=profile_names(), help="the feeds are this MIS's own export")
    how.add_argument("--mapping", type=Path, metavar="FILE", help="the feeds' columns as this mapping says")
    p.add_argument("--school-urn", metavar="URN", help="the school of one-school exports with no URN column")
    p.add_argument("--id", default=SCHEDULE_ID, help=f"the Schedule's ID (default {SCHEDULE_ID})")
    p.add_argument("--trigger", action="store_true", help="also run it once now")
    return p.parse_args(argv)


async def schedule_command(
    argv: Sequence[str], *, settings: Settings | None, stdout: TextIO, stderr: TextIO
) -> int:
    """``starter.py schedule``: exit 0 done, 2 bad arguments or setup, 3 Temporal unreachable."""
    from whereabouts.cli.common import CommandError, load_settings, open_client

    args = _arguments(argv)
    try:
        settings = settings or load_settings(EXIT_UNREADABLE)
        if args.mapping:
            try:
                load_mapping(args.mapping)  # refused now, not at 09:45
            except ProfileError as exc:
                raise CommandError(EXIT_UNREADABLE, str(exc)) from None
        folder = args.folder.resolve()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        inp = DropImportInput(
            folder=str(folder),
            profile=args.profile,
            mapping=str(args.mapping.resolve()) if args.mapping else None,
            school_urn=args.school_urn,
        )
        client = await open_client(
            settings, unreachable=EXIT_UNREACHABLE, bad_setup=EXIT_UNREADABLE, signs_as="feed"
        )
        at = args.at or list(SESSION_TIMES)
        handle, created = await ensure_schedule(client, inp, settings.task_queue, at=at, schedule_id=args.id)
        if args.trigger:
            await handle.trigger()
    except CommandError as exc:
        stderr.write(f"starter: {exc}\n")
        return exc.code
    times = ", ".join(f"{t:%H:%M}" for t in at)
    stdout.write(
        f"schedule {args.id} {'created' if created else 'updated'}: imports {folder} at {times} "
        f"{TIME_ZONE}, Monday to Friday (school days only), catch-up {CATCHUP}, overlapping runs skipped"
        f"{'; triggered once now' if args.trigger else ''}\n"
        f'  each run: a {FeedImportWorkflow.__name__} in the Web UI (WorkflowType="FeedImportWorkflow"); '
        f"files taken go to {folder / 'done'} with their reports\n"
    )
    return 0


async def demo_run(settings: Settings, drop: Path, sample: Path, *, wait: float = 120.0) -> str:
    """``make run``: the Schedule on ``drop``, the sample dropped in and imported once now.

    On a school day that is the Schedule's own trigger; on any other day the Schedule's run
    would rightly skip, so the sample is imported by one run of the same workflow started by
    hand (``only_school_days=False``), as an operator would from the Web UI. Returns the run's
    summary, or why there is none.
    """
    drop.mkdir(mode=0o700, parents=True, exist_ok=True)
    client = await connect(settings, signs_as="feed")
    inp = DropImportInput(folder=str(drop))
    handle, _ = await ensure_schedule(client, inp, settings.task_queue)
    shutil.copyfile(sample, drop / sample.name)
    today = datetime.now(LONDON).date()
    closed = why_not_a_school_day(load_directory(settings.directory_path), today)
    if closed is None:
        before = len((await handle.describe()).info.recent_actions)
        await handle.trigger()
        workflow_id = None
        for _ in range(int(wait * 5)):
            actions = (await handle.describe()).info.recent_actions
            if len(actions) > before:
                workflow_id = actions[-1].action.workflow_id  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.2)
        if workflow_id is None:
            return "the schedule's run did not start (see the Web UI)"
        run = client.get_workflow_handle(workflow_id, result_type=DropImportResult)
        how = f"schedule {SCHEDULE_ID} triggered: run {workflow_id}"
    else:
        run = await client.start_workflow(
            FeedImportWorkflow.run,
            inp.model_copy(update={"only_school_days": False}),
            id=f"{WORKFLOW_ID}-make-run-{uuid.uuid4().hex[:8]}",
            task_queue=settings.task_queue,
        )
        how = f"today no school is open ({closed}): run {run.id} started by hand"
    try:
        result = await asyncio.wait_for(run.result(), wait)
    except TimeoutError:
        return f"{how}: still running (see the Web UI)"
    return f"{how}: {result.summary()}"
