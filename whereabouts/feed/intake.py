"""Feeding checked rows to Temporal: each mark started, noted in or closing its pupil's case.

This is the one place a case is started from a feed, so the rules that keep feeding repeatable
live here and nowhere else: the case ID is the pupil's (a keyed pseudonym of URN and UPN,
``whereabouts/pseudonym.py``), so a row fed twice finds the case it started; the memo says which
episode a case is, so yesterday's file fed again is told from a new absence; one pupil's marks go
in the order they happened (date, then AM before PM) while different pupils go concurrently, with
a bound. Temporal trouble never raises: the report says which rows went in before it, and feeding
the same rows again later is safe, which is what lets ``starter.py``, an HTTP endpoint and a
folder watcher all answer any failure with "feed it again"."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from whereabouts.errors import first_line
from whereabouts.feed.checked import Feed
from whereabouts.feed.columns import SESSIONS
from whereabouts.feed.report import FailedRow, FeedReport, RowRef
from whereabouts.feed.row import FeedRow
from whereabouts.models import CaseInput, FeedStamp, PreviousEpisode
from whereabouts.pseudonym import Pseudonyms, pseudonyms_for
from whereabouts.register_codes import MarkMeaning, at_or_after, meaning
from whereabouts.settings import Settings
from whereabouts.times import LONDON
from whereabouts.workflows.case import CmeCaseWorkflow

# Starts in flight at once: enough to keep a local or remote frontend busy, few enough that a
# 10,000-row feed does not open 10,000 requests and trip the server's rate limits.
DEFAULT_CONCURRENCY = 64
# A pupil seen and then absent again in one feed needs the first case closed (by the worker)
# before the second can start; wait this long, then ask for the row to be fed again.
CLOSE_WAIT_SECONDS = 5.0
_UNREACHABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED}


class _Pupil:
    """What this feed has already done to one pupil's case, as their marks go by in order."""

    def __init__(self) -> None:
        self.closing_signalled = False  # a mark that closes the case went in: a later N is new


async def feed(
    client: Client,
    checked: Feed,
    settings: Settings,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[int, int], None] | None = None,
    name: str = "feed",
    ids: Pseudonyms | None = None,
) -> FeedReport:
    """Start, mark or close cases for a checked feed's rows; never raises for Temporal trouble.

    ``checked`` is a ``Feed`` as ``read_feed`` returns it: its rejects (and where it was cut
    short) are listed in the report beside what its rows did. One pupil's marks are handled in
    the order they happened (date, then AM before PM), different pupils concurrently, at most
    ``concurrency`` requests at once. If Temporal becomes unreachable the report's
    ``unreachable`` says why, ``started`` holds what went in, and ``not_done`` what did not;
    feeding the same rows again later is safe. ``ids`` names the cases (default: the settings'
    pseudonym key; ``PseudonymKeyError`` if there is none).
    """
    began = time.monotonic()
    ids = ids or pseudonyms_for(settings)
    rows = checked.rows
    report = FeedReport.of(checked, name=name)
    ignored: Counter[str] = Counter()
    pupils: dict[str, list[FeedRow]] = {}
    for row in rows:
        # Every mark for a pupil may matter: N starts a case, and any other mark for an open
        # case is the register's word on it (seen, explained, still absent). Administrative
        # codes (not on roll, school closed) never do.
        if meaning(row.attendance_code) is MarkMeaning.NOT_A_MARK:
            ignored[row.attendance_code] += 1
        else:
            pupils.setdefault(ids.case_id(row.school_urn, row.upn), []).append(row)

    total = len(rows)
    done = total - sum(len(v) for v in pupils.values())
    gate = asyncio.Semaphore(concurrency)

    async def one_pupil(case_id: str, marks: list[FeedRow]) -> None:
        nonlocal done
        pupil = _Pupil()
        for row in sorted(marks, key=lambda r: r.order):
            async with gate:
                if report.unreachable:
                    report.not_done.append(row.row)
                else:
                    try:
                        await _handle_row(client, settings, case_id, row, pupil, report, ignored)
                    except RPCError as exc:
                        if exc.status in _UNREACHABLE:
                            report.unreachable = report.unreachable or first_line(exc)
                            report.not_done.append(row.row)
                        else:
                            report.failed.append(_failed(row, case_id, exc))
                    except Exception as exc:  # one row's surprise must not stop the others
                        report.failed.append(_failed(row, case_id, exc))
            done += 1
            if progress:
                progress(done, total)

    if progress:
        progress(done, total)
    await asyncio.gather(*(one_pupil(cid, marks) for cid, marks in pupils.items()))
    report.ignored = dict(sorted(ignored.items()))
    for name_ in (
        "started",
        "already_open",
        "already_handled",
        "closed_as_seen",
        "closed_as_explained",
        "corrections",
        "deferred",
        "failed",
    ):
        getattr(report, name_).sort(key=lambda r: r.row)
    report.not_done.sort()
    report.seconds = round(time.monotonic() - began, 3)
    return report


async def _handle_row(
    client: Client,
    settings: Settings,
    case_id: str,
    row: FeedRow,
    pupil: _Pupil,
    report: FeedReport,
    ignored: Counter[str],
) -> None:
    handle = client.get_workflow_handle(case_id)
    ref = RowRef(row=row.row, case_id=case_id)
    if row.starts_case:
        await _absent(client, settings, handle, row, ref, pupil, report)
    else:
        await _mark(handle, row, ref, pupil, report, ignored)


async def _absent(
    client: Client,
    settings: Settings,
    handle: WorkflowHandle,
    row: FeedRow,
    ref: RowRef,
    pupil: _Pupil,
    report: FeedReport,
) -> None:
    """N: start a case, or note the mark in the open one, or leave a closed episode closed."""
    stamp = FeedStamp(attendance_date=row.attendance_date, session=row.session, attendance_code="N")
    if not pupil.closing_signalled and await _first_case(client, settings, handle, row):
        report.started.append(ref)
        return
    for _ in range(3):  # the case can change under us (started or closed elsewhere): decide again
        desc = await _describe(handle)
        if desc is not None and desc.status == WorkflowExecutionStatus.RUNNING and pupil.closing_signalled:
            # Seen earlier in this feed, absent again later: a new episode once the old one closes.
            desc = await _wait_closed(handle)
            if desc is None or desc.status == WorkflowExecutionStatus.RUNNING:
                report.deferred.append(ref)
                return
        if desc is not None and desc.status == WorkflowExecutionStatus.RUNNING:
            first_day, _ = _first_mark(desc)
            if row.attendance_date < first_day:
                # Before this case began: an earlier episode's mark (e.g. a re-fed old file).
                report.already_handled.append(ref)
                return
            try:
                await handle.signal(CmeCaseWorkflow.feed_mark, stamp)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    continue
                raise
            report.already_open.append(ref)
            return
        previous = None
        if desc is not None:
            first_day, _ = _first_mark(desc)
            if first_day >= row.attendance_date:
                report.already_handled.append(ref)
                return
            previous = _previous(desc)
        case = row.to_case().model_copy(update={"previous": previous})
        try:
            await _start(client, settings, handle, row, case, WorkflowIDReusePolicy.ALLOW_DUPLICATE)
        except WorkflowAlreadyStartedError:
            continue  # started a moment ago by someone else: it is open, so note the mark in it
        pupil.closing_signalled = False
        until = previous.covered_until if previous is not None else None
        if until is not None and row.attendance_date <= until:
            report.corrections.append(ref)  # the case asks the office to correct it, and closes
        else:
            report.started.append(ref)
        return
    raise RuntimeError("the case kept changing while the row was handled; feed the row again")


async def _first_case(client: Client, settings: Settings, handle: WorkflowHandle, row: FeedRow) -> bool:
    """Start the pupil's first case in one call; False if the pupil already has one, open or
    closed (then ``_absent`` reads it and decides).

    Most N marks on a morning are a pupil's first: refusing any earlier run with this ID
    (REJECT_DUPLICATE, FAIL on conflict) makes the start itself the check, so a morning feed
    costs one call per new case and no describe, and a second run of the same feed still
    starts nothing twice.
    """
    try:
        await _start(client, settings, handle, row, row.to_case(), WorkflowIDReusePolicy.REJECT_DUPLICATE)
    except WorkflowAlreadyStartedError:
        return False
    return True


async def _start(
    client: Client,
    settings: Settings,
    handle: WorkflowHandle,
    row: FeedRow,
    case: CaseInput,
    reuse: WorkflowIDReusePolicy,
) -> None:
    await client.start_workflow(
        CmeCaseWorkflow.run,
        case,
        id=handle.id,
        task_queue=settings.task_queue,
        id_reuse_policy=reuse,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        static_summary=f"CME case: school URN {row.school_urn}",
        memo=_memo(row),
    )


def _memo(row: FeedRow) -> dict[str, str]:
    """Read back by the next feed: which episode this case is (see ``_first_mark``)."""
    return {"first_day_absent": row.attendance_date.isoformat(), "first_session": row.session or ""}


async def _mark(
    handle: WorkflowHandle,
    row: FeedRow,
    ref: RowRef,
    pupil: _Pupil,
    report: FeedReport,
    ignored: Counter[str],
) -> None:
    """Any other mark for an open case goes to it; the case reads it (``register.py``).

    The report says what the mark will do, by the same rules the case applies: a present or
    late mark for the case's first session or later closes it as seen, an explained code as
    explained, anything else is noted in it. A mark for a pupil with no open case, or from
    before the absence began (a re-fed old file), is left alone.
    """
    desc = await _describe(handle)
    if desc is None or desc.status != WorkflowExecutionStatus.RUNNING or pupil.closing_signalled:
        ignored[row.attendance_code] += 1
        return
    first_day, first_session = _first_mark(desc)
    if not at_or_after(row.attendance_date, row.session, first_day, first_session):
        ignored[row.attendance_code] += 1
        return
    stamp = FeedStamp(
        attendance_date=row.attendance_date, session=row.session, attendance_code=row.attendance_code
    )
    try:
        await handle.signal(CmeCaseWorkflow.feed_mark, stamp)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        ignored[row.attendance_code] += 1
        return
    match meaning(row.attendance_code):
        case MarkMeaning.SEEN:
            pupil.closing_signalled = True
            report.closed_as_seen.append(ref)
        case MarkMeaning.EXPLAINED:
            pupil.closing_signalled = True
            report.closed_as_explained.append(ref)
        case _:
            report.already_open.append(ref)


def _previous(desc: _Latest) -> PreviousEpisode | None:
    """The last episode, as its memo says it closed (a case still open, or closed before these
    memos were written, has none)."""
    memo = desc.memo
    if isinstance(memo.get("episode"), dict):  # one field since close-in-one-task
        memo = {**memo, **memo["episode"]}
    if not memo.get("closed_on"):
        return None
    covered = memo.get("covered_until")
    try:
        return PreviousEpisode(
            first_day=date.fromisoformat(str(memo["first_day_absent"])),
            closed_on=date.fromisoformat(str(memo["closed_on"])),
            outcome=str(memo.get("outcome") or ""),
            school_days=int(memo.get("school_days") or 0),
            linked_days=int(memo.get("linked_days") or 0),
            episodes=int(memo.get("episodes") or 1),
            covered_until=date.fromisoformat(str(covered)) if covered else None,
            covered_code=str(memo.get("covered_code") or "") or None,
        )
    except (KeyError, ValueError):
        return None  # a memo written by hand or damaged: start afresh rather than guess


@dataclass(frozen=True)
class _Latest:
    """The latest run with a case ID, as much of it as the feed reads."""

    status: WorkflowExecutionStatus
    start_time: datetime
    memo: dict[str, Any]


async def _describe(handle: WorkflowHandle) -> _Latest | None:
    """The latest run with this case ID, open or closed; None if the pupil never had a case.

    Read from the raw description: the feed needs the status, start and memo, not the search
    attributes (whose decoding a closed case's unset timestamp can trip on the test server).
    """
    client = handle._client
    try:
        raw = await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=client.namespace, execution=WorkflowExecution(workflow_id=handle.id)
            )
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    info = raw.workflow_execution_info
    fields = info.memo.fields
    values = await client.data_converter.decode(list(fields.values())) if fields else []
    return _Latest(
        status=WorkflowExecutionStatus(info.status),
        start_time=info.start_time.ToDatetime(tzinfo=UTC),
        memo=dict(zip(fields.keys(), values, strict=True)),
    )


def _first_mark(desc: _Latest) -> tuple[date, str]:
    """The first day (and session) of absence a case was started for, from its memo.

    A case started without the memo (by hand, or before this starter) counts from the day it
    was started, in school time.
    """
    memo = desc.memo
    try:
        first = date.fromisoformat(str(memo["first_day_absent"]))
    except (KeyError, ValueError):
        first = desc.start_time.astimezone(LONDON).date()
    session = str(memo.get("first_session") or "")
    return first, session if session in SESSIONS else ""


async def _wait_closed(handle: WorkflowHandle) -> _Latest | None:
    deadline = time.monotonic() + CLOSE_WAIT_SECONDS
    desc = await _describe(handle)
    while desc is not None and desc.status == WorkflowExecutionStatus.RUNNING:
        if time.monotonic() > deadline:
            return desc
        await asyncio.sleep(0.2)
        desc = await _describe(handle)
    return desc


def _failed(row: FeedRow, case_id: str, exc: BaseException) -> FailedRow:
    return FailedRow(row=row.row, case_id=case_id, error=f"{type(exc).__name__}: {first_line(exc)}")
