"""What each ``admin.py`` command does once its words are checked: list, show, record.

The case decides: an action is a Temporal update whose validator refuses, with one sentence and
before anything changes, what the procedure does not allow. So these commands only ask, and
report in staff's terms what the case answered (exit 1 for a refusal, 4 when nobody answers).
How the answers look is ``casefile_view``'s; how a case is found is ``admin_find``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from whereabouts.cli import casefile_view as view
from whereabouts.cli.admin_args import OK, REFUSED, UNREACHABLE
from whereabouts.cli.admin_find import (
    UNANSWERED,
    Naming,
    Waits,
    case_handle,
    find_case,
    not_answering,
    visible,
)
from whereabouts.cli.admin_records import ACTIONS, StaffRecord
from whereabouts.cli.common import CommandError, first_line
from whereabouts.directory import Directory, DirectoryError, load_directory
from whereabouts.models import CaseInput, CaseResult
from whereabouts.search import (
    CME_ATTENTION,
    CME_NEXT_ACTION_AT,
    CME_OUTCOME,
    CME_RISK,
    CME_SCHOOL_URN,
    CME_STAGE,
)
from whereabouts.settings import get_settings
from whereabouts.times import LONDON, when
from whereabouts.vocabulary import CmeOutcome
from whereabouts.workflows.case import CmeCaseWorkflow

LIST_CONCURRENCY = 16  # next-action queries in flight at once while listing
# The execution statuses ``cases`` lists without --all, as the visibility store spells them.
LISTED = ("Running", "Failed", "Terminated", "TimedOut", "Canceled")


# --------------------------------------------------------------------------------------------
# cases: the list, from search attributes only
# --------------------------------------------------------------------------------------------
async def cmd_cases(
    client: Client,
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    waits: Waits,
    *,
    directory_path: Path | None = None,
) -> int:
    """The list. DAYS OPEN counts school days since Day 1: a running case's own count (its status
    query), else (closed, or not answering) on the school directory's calendar at
    ``directory_path`` (default: the settings' directory) from the case's first day."""
    # Open cases, and those whose run ended without the procedure closing them: an operator must
    # see those, or a failed case would leave the list unseen.
    clauses = [] if args.all else [f"ExecutionStatus IN ({', '.join(map(repr, LISTED))})"]
    # Every value below has been checked against its vocabulary or format, so none can break
    # out of its quotes.
    if args.school:
        clauses.append(f"{CME_SCHOOL_URN.name} = '{args.school}'")
    if args.stage:
        clauses.append(f"{CME_STAGE.name} = '{args.stage.value}'")
    if args.risk:
        clauses.append(f"{CME_RISK.name} = '{args.risk.value}'")
    if args.due_before:
        clauses.append(f"{CME_NEXT_ACTION_AT.name} < '{args.due_before.strftime('%Y-%m-%dT%H:%M:%SZ')}'")
    query = visible(*clauses)
    now = datetime.now(UTC)
    listed = [(w, _row(w, now)) async for w in client.list_workflows(query, rpc_timeout=waits.listing)]
    rows = [r for _, r in listed]
    await _latest_runs(client, rows, waits)
    # An older run of a pupil's case is history: the newest run says how the case stands.
    rows = view.sort_rows([r for r in rows if args.all or r.latest])
    if not await _next_actions(client, rows, waits):
        err.write("admin: some cases did not say their next action (is the worker running?)\n")
    await _days_open(listed, rows, directory_path or get_settings().directory_path, now)
    if args.json:
        out.write(json.dumps({"query": query, "cases": [r.as_json() for r in rows]}, indent=2) + "\n")
    elif rows:
        out.write(view.case_table(rows, show_outcome=args.all) + "\n")
    else:
        out.write(f"No {'' if args.all else 'open '}cases match.\n")
    return OK


def _row(w: WorkflowExecution, now: datetime) -> view.CaseRow:
    sa = w.typed_search_attributes
    status = w.status.name.lower() if w.status else "unknown"
    due = sa.get(CME_NEXT_ACTION_AT)
    running = w.status is WorkflowExecutionStatus.RUNNING
    return view.CaseRow(
        case_id=w.id,
        run_id=w.run_id,
        school_urn=sa.get(CME_SCHOOL_URN),
        stage=sa.get(CME_STAGE),
        risk=sa.get(CME_RISK),
        next_action_at=due if running else None,
        overdue=bool(running and due and due < now),
        opened_at=w.start_time,
        days_open=0,  # school days since Day 1: filled in by ``_days_open``
        status=status,
        # A case ended by an operator (terminated) has no procedure outcome: say how it ended.
        outcome=sa.get(CME_OUTCOME) or (None if running else status),
        attention=sa.get(CME_ATTENTION) or [],
    )


async def _latest_runs(client: Client, rows: list[view.CaseRow], waits: Waits) -> None:
    """Mark each run that ended badly but is not its workflow ID's newest as not ``latest``: a
    pupil whose terminated case was started again is one case, standing as its newest run."""
    gate = asyncio.Semaphore(LIST_CONCURRENCY)

    async def one(row: view.CaseRow) -> None:
        async with gate:
            try:
                newest = await client.get_workflow_handle(row.case_id).describe(rpc_timeout=waits.list_query)
            except RPCError:
                return  # cannot tell: keep it listed rather than hide it
            row.latest = newest.run_id == row.run_id

    await asyncio.gather(*(one(r) for r in rows if r.status in view.ENDED_BADLY))


async def _next_actions(client: Client, rows: list[view.CaseRow], waits: Waits) -> bool:
    """Fill in each open case's next-action wording (not a search attribute); False if some
    case did not answer. Stops asking once one times out, so no worker means one short wait."""
    gate = asyncio.Semaphore(LIST_CONCURRENCY)
    unanswered = False

    async def one(row: view.CaseRow) -> None:
        nonlocal unanswered
        async with gate:
            if unanswered:
                return
            handle = client.get_workflow_handle(row.case_id, run_id=row.run_id)
            try:
                status = await handle.query(CmeCaseWorkflow.status, rpc_timeout=waits.list_query)
            except (RPCError, WorkflowQueryFailedError) as exc:
                if isinstance(exc, RPCError) and exc.status in UNANSWERED:
                    unanswered = True
                return
            row.next_action = status.next_action
            row.school_day = status.school_day

    await asyncio.gather(*(one(r) for r in rows if r.status == "running"))
    return not unanswered


async def _days_open(
    listed: list[tuple[WorkflowExecution, view.CaseRow]], rows: list[view.CaseRow], path: Path, now: datetime
) -> None:
    """DAYS OPEN: school days since Day 1 (Day 1 shows 0). A running case that answered counts
    its own school days; any other (closed, or its worker not answering) is counted on the school
    directory's calendar from its first day (the feed's memo, else the day it started) to its
    close, or to today."""
    directory: Directory | None
    try:
        directory = load_directory(path)
    except DirectoryError:
        directory = None  # already said once, by the term-dates warning: count weekdays
    shown = {id(r) for r in rows}
    for w, row in listed:
        if id(row) not in shown:
            continue
        if row.school_day is not None:
            row.days_open = max(row.school_day - 1, 0)
            continue
        first = await _first_day(w)
        end = (w.close_time or now).astimezone(LONDON).date()
        row.days_open = view.school_days_since(directory, row.school_urn, first, end)


async def _first_day(w: WorkflowExecution) -> date:
    """The case's first day of absence, as the feed wrote it in the memo; else the day it started."""
    try:
        return date.fromisoformat(str((await w.memo())["first_day_absent"]))
    except Exception:  # no memo (started by hand), or one that cannot be read
        return w.start_time.astimezone(LONDON).date()


# --------------------------------------------------------------------------------------------
# show: one case file, for staff
# --------------------------------------------------------------------------------------------
async def cmd_show(
    client: Client, args: argparse.Namespace, out: TextIO, err: TextIO, waits: Waits, naming: Naming
) -> int:
    desc = await find_case(client, args.case, waits, naming)
    handle = case_handle(client, desc)
    try:
        status = await handle.query(CmeCaseWorkflow.status, rpc_timeout=waits.query)
        chronology = await handle.query(CmeCaseWorkflow.chronology_entries, rpc_timeout=waits.query)
    except (RPCError, WorkflowQueryFailedError) as exc:
        raise not_answering(desc.id, exc) from None
    case = await _case_input(client, handle, err, waits)
    if args.json:
        out.write(json.dumps(view.casefile_json(status, chronology, case), indent=2) + "\n")
    else:
        if desc.status is WorkflowExecutionStatus.TERMINATED:
            out.write("(this case was ended by an operator, not by the procedure)\n")
        out.write(view.casefile(status, chronology, case, datetime.now(UTC)) + "\n")
    return OK


async def _case_input(
    client: Client, handle: WorkflowHandle[Any, CaseResult], err: TextIO, waits: Waits
) -> CaseInput | None:
    """The pupil and contacts, from the case's first event: staff need the numbers to phone.

    Optional: a case file without them is still worth showing, so any failure is one line."""
    try:
        async for event in handle.fetch_history_events(page_size=1, rpc_timeout=waits.query):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            (case,) = await client.data_converter.decode(payloads, [CaseInput])
            return case
    except Exception as exc:
        err.write(f"admin: pupil details unavailable: {first_line(exc)}\n")
    return None


# --------------------------------------------------------------------------------------------
# The actions: one update each, and what the case says next
# --------------------------------------------------------------------------------------------
async def cmd_action(
    client: Client,
    args: argparse.Namespace,
    record: StaffRecord,
    closes: CmeOutcome | None,
    out: TextIO,
    waits: Waits,
    naming: Naming,
) -> int:
    update = ACTIONS[args.command].update
    desc = await find_case(client, args.case, waits, naming)
    closed = CommandError(REFUSED, f"case {desc.id} is closed: nothing more can be recorded")
    if desc.status is not WorkflowExecutionStatus.RUNNING:
        raise closed
    handle = case_handle(client, desc)
    try:
        status = await handle.execute_update(update, record, rpc_timeout=waits.update)
    except WorkflowUpdateFailedError as exc:
        sentence = getattr(exc.cause, "message", None) or first_line(exc.cause or exc)
        raise CommandError(REFUSED, f"{desc.id}: {sentence} Nothing was changed.") from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise CommandError(
            UNREACHABLE,
            f"case {desc.id} did not answer within {waits.update.seconds} s: is the worker running? "
            "The action may still be recorded when it is; check with `admin.py show`.",
        ) from None
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:  # closed between our look and the update
            raise closed from None
        raise
    out.write(f"{desc.id}: recorded by {status.acted_by or record.by}.\n")  # as the case verified it
    if closes is not None:
        out.write(await _closing(handle, desc.id, closes, waits) + "\n")
        return OK
    # The update answers as the handler left the case; the procedure may have moved on in the
    # same step (e.g. to the call-back after no answer), so ask once more for what is next.
    with contextlib.suppress(RPCError, WorkflowQueryFailedError):
        status = await handle.query(CmeCaseWorkflow.status, rpc_timeout=waits.query)
    nxt = status.next_action or "-"
    if status.next_action_at:
        nxt += f", by {when(status.next_action_at)}"
    out.write(f"  stage {status.stage.value}, risk {status.risk.words}; next: {nxt}\n")
    if status.pending:
        out.write(f"  waiting for: {'; '.join(status.pending)}\n")
    return OK


async def _closing(
    handle: WorkflowHandle[Any, CaseResult], wid: str, outcome: CmeOutcome, waits: Waits
) -> str:
    """Wait briefly for the case to finish closing (the MIS write-back, any notice to the LA)."""
    try:
        result = await asyncio.wait_for(handle.result(), waits.close_seconds)
        return f"  case closed: {result.outcome.words}."
    except Exception:
        return f"  the case is closing ({outcome.words}); `admin.py show {wid}` confirms it."
