"""The staff script: see the cases, read one, record what happened.

    python admin.py cases [--school URN] [--stage STAGE] [--risk RISK] [--due-before DATE] [--all] [--json]
    python admin.py show CASE [--json]
    python admin.py call CASE OUTCOME [--reason TEXT] [--note TEXT] [--by NAME]
    python admin.py risk CASE (--at-risk | --not-at-risk) [--concern C ...] [--note TEXT] [--by NAME]
    python admin.py visit CASE OUTCOME [--note TEXT] [--spoke-to TEXT] [--by NAME]
    python admin.py contact CASE [--reason TEXT] [--by NAME]
    python admin.py seen CASE [--where TEXT] [--by NAME]
    python admin.py la-decision CASE DECISION [--note TEXT] [--by NAME]
    python admin.py withdraw CASE --reason TEXT [--by NAME]

CASE is the case ID (``cme-<URN>-<UPN>``) or the UPN alone when only one case has it.

The case decides: every action is a Temporal update whose validator refuses what the procedure
does not allow, with one sentence, before anything changes. This script only checks the words
(so a typing slip is caught before it reaches the case), finds the case, and reports.

Exit codes: 0 done; 1 the case refused the action, or is closed (nothing changed); 2 bad usage
(unknown word, missing reason, ambiguous UPN, bad settings); 3 no such case; 4 Temporal, or the
worker behind a case, is not answering.

``cases`` reads only Temporal's visibility store (search attributes, no personal data) plus each
open case's next-action wording; ``show`` is for staff and names the pupil and the contacts.
Settings and the connection are the worker's (``whereabouts.settings``, ``whereabouts.connect``),
so the same command works against the local stack and a remote cluster with TLS or an API key.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import getpass
import json
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, TextIO

from pydantic import BaseModel, ValidationError
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from whereabouts import casefile_view as view
from whereabouts.cli.common import exit_now
from whereabouts.codec import CodecKeyError
from whereabouts.connect import TemporalUnreachable, connect
from whereabouts.models import (
    CallRecord,
    CaseInput,
    CaseResult,
    ChildSeen,
    LaDecisionRecord,
    ParentContact,
    RiskAssessment,
    VisitRecord,
    Withdrawal,
    case_id,
)
from whereabouts.search import CME_NEXT_ACTION_AT, CME_OUTCOME, CME_RISK, CME_SCHOOL_URN, CME_STAGE
from whereabouts.settings import Settings, get_settings
from whereabouts.times import LONDON
from whereabouts.vocabulary import (
    CLOSING_LA_DECISIONS,
    CLOSING_VISIT_OUTCOMES,
    CallOutcome,
    CmeStage,
    LaDecision,
    RiskConcern,
    RiskStatus,
    VisitOutcome,
)
from whereabouts.workflows.case import CmeCaseWorkflow

OK, REFUSED, USAGE, NO_CASE, UNREACHABLE = 0, 1, 2, 3, 4

WORKFLOW_TYPE = "CmeCase"
UPDATE_TIMEOUT = timedelta(seconds=30)  # an update waits for the worker; never hang for ever
QUERY_TIMEOUT = timedelta(seconds=10)
LIST_TIMEOUT = timedelta(seconds=30)
LIST_QUERY_TIMEOUT = timedelta(seconds=5)  # next-action wording per listed case
CLOSE_WAIT_SECONDS = 10.0  # after a closing action, how long to wait to confirm the outcome
LIST_CONCURRENCY = 16

CASE_ID = re.compile(r"^cme-(\d{6})-([A-Za-z0-9]{13})$", re.IGNORECASE)
UPN = re.compile(r"^[A-Za-z0-9]{13}$")
URN = re.compile(r"^\d{6}$")
UNANSWERED = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}


class Stop(Exception):
    """Ends the command with one line for the person and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------------------------
# Words: the procedure's vocabulary, with a suggestion for a near miss
# --------------------------------------------------------------------------------------------
def vocabulary(kind: type[StrEnum], noun: str) -> Callable[[str], StrEnum]:
    """An argparse type for one vocabulary: 'No-Answer' is no_answer; 'no_anser' gets a hint."""
    values = [v.value for v in kind]

    def parse(text: str) -> StrEnum:
        key = text.strip().lower().replace("-", "_").replace(" ", "_")
        if key in values:
            return kind(key)
        near = difflib.get_close_matches(key, values, n=1)
        if near:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}: did you mean {near[0]}?")
        raise argparse.ArgumentTypeError(f"{text!r} is not {noun}; choose from {', '.join(values)}")

    return parse


def one_of(kind: type[StrEnum]) -> str:
    return ", ".join(v.value for v in kind)


def school_urn(text: str) -> str:
    if not URN.match(text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a school URN (six digits)")
    return text.strip()


def due_date(text: str) -> datetime:
    """'today', 'tomorrow', a date (midnight, school time) or an ISO date-time, as a UTC instant."""
    word = text.strip().lower()
    today = datetime.now(LONDON).date()
    days = {"today": 0, "tomorrow": 1}
    try:
        if word in days:
            day = today + timedelta(days=days[word])
            return datetime.combine(day, datetime.min.time(), LONDON).astimezone(UTC)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", word):
            return datetime.combine(date.fromisoformat(word), datetime.min.time(), LONDON).astimezone(UTC)
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        moment = None
    if moment is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: use YYYY-MM-DD, an ISO date-time, 'today' or 'tomorrow'"
        )
    return (moment if moment.tzinfo else moment.replace(tzinfo=LONDON)).astimezone(UTC)


def login() -> str:
    """Who is recording, when --by is not given: the person logged in to this machine."""
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): still record, but say so
        return "unknown"


# --------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="admin.py",
        description="Whereabouts for staff: list cases, read one, record what happened.",
        epilog="CASE is the case ID (cme-<URN>-<UPN>) or the UPN when only one case has it. "
        "Exit codes: 0 done, 1 refused by the case or case closed (nothing changed), 2 bad usage, "
        "3 no such case, 4 Temporal or the worker not answering.",
    )
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("cases", help="list open cases, overdue first (no personal data)")
    p.add_argument("--school", type=school_urn, metavar="URN", help="one school's cases")
    p.add_argument("--stage", type=vocabulary(CmeStage, "a stage"), help=f"one of: {one_of(CmeStage)}")
    p.add_argument(
        "--risk", type=vocabulary(RiskStatus, "a risk status"), help=f"one of: {one_of(RiskStatus)}"
    )
    p.add_argument(
        "--due-before",
        type=due_date,
        metavar="DATE",
        help="next action due before DATE (YYYY-MM-DD in school time, an ISO date-time, today, tomorrow)",
    )
    p.add_argument("--all", action="store_true", help="closed cases too")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")

    p = sub.add_parser("show", help="one case: status, next action, full chronology")
    p.add_argument("case", metavar="CASE", help="case ID (cme-<URN>-<UPN>) or UPN")
    p.add_argument("--json", action="store_true", help="status and chronology as JSON")

    def action(name: str, help: str, description: str) -> argparse.ArgumentParser:
        a = sub.add_parser(name, help=help, description=description)
        a.add_argument("case", metavar="CASE", help="case ID (cme-<URN>-<UPN>) or UPN")
        return a

    def by(a: argparse.ArgumentParser) -> None:
        a.add_argument("--by", metavar="NAME", help="who did it (default: your login name)")

    p = action(
        "call",
        "record a call's outcome",
        "Record the outcome of the call the case is waiting for (Day 1, call-back or Day 2). "
        "safe_with_parent needs --reason and closes the case; not_reassured asks the DSL for a "
        "risk assessment; missing_parent_concerned sends the parent the advice and alerts the DSL.",
    )
    p.add_argument(
        "outcome",
        metavar="OUTCOME",
        type=vocabulary(CallOutcome, "a call outcome"),
        help=f"one of: {one_of(CallOutcome)}",
    )
    p.add_argument("--reason", help="the reason for the absence (needed for safe_with_parent)")
    p.add_argument("--note")
    by(p)

    p = action(
        "risk",
        "record the DSL's risk assessment",
        "Record the designated safeguarding lead's judgement. --at-risk (with at least one "
        "--concern) notifies police and children's social care at once; the search goes on.",
    )
    judgement = p.add_mutually_exclusive_group(required=True)
    judgement.add_argument(
        "--at-risk", dest="at_risk", action="store_true", default=None, help="needs at least one --concern"
    )
    judgement.add_argument("--not-at-risk", dest="at_risk", action="store_false")
    p.add_argument(
        "--concern",
        dest="concerns",
        metavar="C",
        nargs="+",
        action="extend",
        default=[],
        type=vocabulary(RiskConcern, "a concern"),
        help=f"one or more of: {one_of(RiskConcern)}",
    )
    p.add_argument("--note")
    by(p)

    p = action(
        "visit",
        "record the home visit's outcome",
        "Record what the home visit found. child_seen and parent_contact close the case.",
    )
    p.add_argument(
        "outcome",
        metavar="OUTCOME",
        type=vocabulary(VisitOutcome, "a visit outcome"),
        help=f"one of: {one_of(VisitOutcome)}",
    )
    p.add_argument("--note")
    p.add_argument("--spoke-to", metavar="TEXT", help="who the visitors spoke to")
    by(p)

    p = action("contact", "the parent made contact (closes the case)", "The parent made contact.")
    p.add_argument("--reason", help="what the parent said")
    p.add_argument("--note")
    by(p)

    p = action("seen", "the child has been seen (closes the case)", "The child has been seen.")
    p.add_argument("--where", metavar="TEXT", help="where, or by whom")
    p.add_argument("--note")
    by(p)

    p = action(
        "la-decision",
        "record the local authority's decision",
        "Record the LA's decision on a referred case. remove_from_roll and child_located close "
        "the case; keep_on_roll keeps it waiting (and chased).",
    )
    p.add_argument(
        "decision",
        metavar="DECISION",
        type=vocabulary(LaDecision, "an LA decision"),
        help=f"one of: {one_of(LaDecision)}",
    )
    p.add_argument("--note")
    by(p)

    p = action("withdraw", "close a case opened in error", "Withdraw the case, with the reason.")
    p.add_argument("--reason", required=True)
    by(p)
    return top


# What each action sends, and the outcome it closes the case with (None: the case stays open).
def _call(a) -> tuple[BaseModel, str | None]:
    rec = CallRecord(outcome=a.outcome, reason=a.reason, note=a.note, by=a.by)
    return rec, "explained_absence" if rec.outcome is CallOutcome.SAFE_WITH_PARENT else None


def _risk(a) -> tuple[BaseModel, str | None]:
    return RiskAssessment(at_risk=a.at_risk, concerns=a.concerns, note=a.note, by=a.by), None


def _visit(a) -> tuple[BaseModel, str | None]:
    rec = VisitRecord(outcome=a.outcome, note=a.note, spoke_to=a.spoke_to, by=a.by)
    closing = CLOSING_VISIT_OUTCOMES.get(rec.outcome)
    return rec, closing.value if closing else None


def _contact(a) -> tuple[BaseModel, str | None]:
    return ParentContact(reason=a.reason, note=a.note, by=a.by), "parent_contact"


def _seen(a) -> tuple[BaseModel, str | None]:
    return ChildSeen(where=a.where, note=a.note, by=a.by), "child_seen"


def _la(a) -> tuple[BaseModel, str | None]:
    rec = LaDecisionRecord(decision=a.decision, note=a.note, by=a.by)
    closing = CLOSING_LA_DECISIONS.get(rec.decision)
    return rec, closing.value if closing else None


def _withdraw(a) -> tuple[BaseModel, str | None]:
    return Withdrawal(reason=a.reason, by=a.by), "withdrawn"


ACTIONS: dict[str, tuple[Any, Callable[[argparse.Namespace], tuple[BaseModel, str | None]]]] = {
    "call": (CmeCaseWorkflow.record_call, _call),
    "risk": (CmeCaseWorkflow.record_risk, _risk),
    "visit": (CmeCaseWorkflow.record_visit, _visit),
    "contact": (CmeCaseWorkflow.record_contact, _contact),
    "seen": (CmeCaseWorkflow.record_seen, _seen),
    "la-decision": (CmeCaseWorkflow.record_la_decision, _la),
    "withdraw": (CmeCaseWorkflow.withdraw, _withdraw),
}
OPTION_FOR_FIELD = {"concerns": "--concern", "outcome": "OUTCOME", "decision": "DECISION"}


def invalid(exc: ValidationError) -> str:
    """The first problem with an action, in the command's own terms: '--reason: ...'."""
    first = exc.errors()[0]
    msg = first["msg"].removeprefix("Value error, ")
    field = str(first["loc"][0]) if first["loc"] else ""
    if not field:
        return msg
    return f"{OPTION_FOR_FIELD.get(field, '--' + field.replace('_', '-'))}: {msg}"


# --------------------------------------------------------------------------------------------
# Finding a case
# --------------------------------------------------------------------------------------------
def _query(*clauses: str) -> str:
    return " AND ".join([f"WorkflowType = '{WORKFLOW_TYPE}'", *clauses])


async def find_case(client: Client, text: str) -> WorkflowExecutionDescription:
    """The case a person means: its full ID, or a UPN that only one case ends with.

    The visibility store cannot match the end of a workflow ID (no ENDS_WITH), so a UPN is
    matched here against the open cases first, then the closed ones.
    """
    text = text.strip()
    if text.lower().startswith("cme-"):
        m = CASE_ID.match(text)
        wid = case_id(m[1], m[2]) if m else text
    elif UPN.match(text):
        wid = await _by_upn(client, text.upper())
    else:
        raise Stop(USAGE, f"{text!r} is neither a case ID (cme-<URN>-<UPN>) nor a UPN (13 characters)")
    try:
        return await client.get_workflow_handle(wid).describe(rpc_timeout=QUERY_TIMEOUT)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise Stop(NO_CASE, f"no case {wid}") from None
        raise


async def _by_upn(client: Client, upn: str) -> str:
    for query in (_query("ExecutionStatus = 'Running'"), _query()):
        ids = sorted(
            {
                w.id
                async for w in client.list_workflows(query, rpc_timeout=LIST_TIMEOUT)
                if w.id.upper().endswith(f"-{upn}")
            }
        )
        if len(ids) > 1:
            raise Stop(USAGE, f"UPN {upn} matches several cases ({', '.join(ids)}): give the full case ID")
        if ids:
            return ids[0]
    raise Stop(NO_CASE, f"no case for UPN {upn}")


def _handle(client: Client, desc: WorkflowExecutionDescription) -> WorkflowHandle:
    return client.get_workflow_handle(desc.id, run_id=desc.run_id, result_type=CaseResult)


def _not_answering(wid: str, exc: BaseException) -> Stop:
    return Stop(
        UNREACHABLE,
        f"case {wid} did not answer ({_first_line(exc)}): is the worker running?",
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


# --------------------------------------------------------------------------------------------
# The commands
# --------------------------------------------------------------------------------------------
async def cmd_cases(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    clauses = [] if args.all else ["ExecutionStatus = 'Running'"]
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
    query = _query(*clauses)
    now = datetime.now(UTC)
    rows = [_row(w, now) async for w in client.list_workflows(query, rpc_timeout=LIST_TIMEOUT)]
    rows = view.sort_rows(rows)
    if not await _next_actions(client, rows):
        err.write("admin: some cases did not say their next action (is the worker running?)\n")
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
        days_open=((w.close_time or now) - w.start_time).days,
        status=status,
        # A case ended by an operator (terminated) has no procedure outcome: say how it ended.
        outcome=sa.get(CME_OUTCOME) or (None if running else status),
    )


async def _next_actions(client: Client, rows: list[view.CaseRow]) -> bool:
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
                status = await handle.query(CmeCaseWorkflow.status, rpc_timeout=LIST_QUERY_TIMEOUT)
            except (RPCError, WorkflowQueryFailedError) as exc:
                if isinstance(exc, RPCError) and exc.status in UNANSWERED:
                    unanswered = True
                return
            row.next_action = status.next_action

    await asyncio.gather(*(one(r) for r in rows if r.status == "running"))
    return not unanswered


async def cmd_show(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    desc = await find_case(client, args.case)
    handle = _handle(client, desc)
    try:
        status = await handle.query(CmeCaseWorkflow.status, rpc_timeout=QUERY_TIMEOUT)
        chronology = await handle.query(CmeCaseWorkflow.chronology_entries, rpc_timeout=QUERY_TIMEOUT)
    except (RPCError, WorkflowQueryFailedError) as exc:
        raise _not_answering(desc.id, exc) from None
    case = await _case_input(client, handle, err)
    if args.json:
        out.write(json.dumps(view.casefile_json(status, chronology, case), indent=2) + "\n")
    else:
        if desc.status is WorkflowExecutionStatus.TERMINATED:
            out.write("(this case was ended by an operator, not by the procedure)\n")
        out.write(view.casefile(status, chronology, case, datetime.now(UTC)) + "\n")
    return OK


async def _case_input(client: Client, handle: WorkflowHandle, err: TextIO) -> CaseInput | None:
    """The pupil and contacts, from the case's first event: staff need the numbers to phone.

    Optional: a case file without them is still worth showing, so any failure is one line."""
    try:
        async for event in handle.fetch_history_events(page_size=1, rpc_timeout=QUERY_TIMEOUT):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            (case,) = await client.data_converter.decode(payloads, [CaseInput])
            return case
    except Exception as exc:
        err.write(f"admin: pupil details unavailable: {_first_line(exc)}\n")
    return None


async def cmd_action(
    client: Client, args: argparse.Namespace, record: BaseModel, closes: str | None, out: TextIO
) -> int:
    update = ACTIONS[args.command][0]
    desc = await find_case(client, args.case)
    closed = Stop(REFUSED, f"case {desc.id} is closed: nothing more can be recorded")
    if desc.status is not WorkflowExecutionStatus.RUNNING:
        raise closed
    handle = _handle(client, desc)
    try:
        status = await handle.execute_update(update, record, rpc_timeout=UPDATE_TIMEOUT)
    except WorkflowUpdateFailedError as exc:
        sentence = getattr(exc.cause, "message", None) or _first_line(exc.cause or exc)
        raise Stop(REFUSED, f"{desc.id}: {sentence} Nothing was changed.") from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise Stop(
            UNREACHABLE,
            f"case {desc.id} did not answer within {UPDATE_TIMEOUT.seconds} s: is the worker running? "
            "The action may still be recorded when it is; check with `admin.py show`.",
        ) from None
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:  # closed between our look and the update
            raise closed from None
        raise
    out.write(f"{desc.id}: recorded by {record.by}.\n")  # type: ignore[attr-defined]
    if closes:
        out.write(await _closing(handle, desc.id, closes) + "\n")
        return OK
    # The update answers as the handler left the case; the procedure may have moved on in the
    # same step (e.g. to the call-back after no answer), so ask once more for what is next.
    with contextlib.suppress(RPCError, WorkflowQueryFailedError):
        status = await handle.query(CmeCaseWorkflow.status, rpc_timeout=QUERY_TIMEOUT)
    nxt = status.next_action or "-"
    if status.next_action_at:
        nxt += f", by {view.when(status.next_action_at)}"
    out.write(f"  stage {status.stage.value}, risk {view.words(status.risk.value)}; next: {nxt}\n")
    if status.pending:
        out.write(f"  waiting for: {'; '.join(status.pending)}\n")
    return OK


async def _closing(handle: WorkflowHandle, wid: str, outcome: str) -> str:
    """Wait briefly for the case to finish closing (the MIS write-back, any notice to the LA)."""
    try:
        result = await asyncio.wait_for(handle.result(), CLOSE_WAIT_SECONDS)
        return f"  case closed: {view.words(result.outcome.value)}."
    except Exception:
        return f"  the case is closing ({view.words(outcome)}); `admin.py show {wid}` confirms it."


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------
async def run(
    argv: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """The command, callable in-process (tests); returns the exit code."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            args = parser().parse_args(argv)
        except SystemExit as exc:  # --help (0) or a usage error (2), already printed
            return int(exc.code or 0)
    try:
        return await _run(args, settings, out, err)
    except Stop as stop:
        err.write(f"admin: {stop}\n")
        return stop.code
    finally:
        out.flush()
        err.flush()


async def _run(args: argparse.Namespace, settings: Settings | None, out: TextIO, err: TextIO) -> int:
    record, closes = None, None
    if args.command in ACTIONS:
        args.by = args.by or login()
        try:  # the words are checked before anything is sent
            record, closes = ACTIONS[args.command][1](args)
        except ValidationError as exc:
            raise Stop(USAGE, invalid(exc)) from None
    try:
        settings = settings or get_settings()
    except ValidationError as exc:
        raise Stop(USAGE, f"settings: {invalid(exc)}") from None
    try:
        client = await connect(settings)
    except TemporalUnreachable as exc:
        raise Stop(UNREACHABLE, str(exc)) from None
    except CodecKeyError as exc:
        raise Stop(USAGE, f"cannot start: {exc}") from None
    try:
        if args.command == "cases":
            return await cmd_cases(client, args, out, err)
        if args.command == "show":
            return await cmd_show(client, args, out, err)
        assert record is not None
        return await cmd_action(client, args, record, closes, out)
    except RPCError as exc:
        if exc.status in UNANSWERED:
            raise Stop(
                UNREACHABLE, f"Temporal at {settings.temporal_address} is not answering: {_first_line(exc)}"
            ) from None
        raise Stop(UNREACHABLE, f"Temporal refused: {_first_line(exc)}") from None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return asyncio.run(run(argv))
    except KeyboardInterrupt:
        print("admin: interrupted", file=sys.stderr)
        return 130


def console_main() -> None:
    """The ``whereabouts-admin`` command and ``python admin.py``."""
    exit_now(main())


if __name__ == "__main__":
    console_main()
