"""``admin.py``'s command line: its words, its options, its exit codes, and the record each action sends.

Apart from the commands so that everything a person can type, and every way it can be wrong, is
checked here before Temporal is asked anything: a typing slip in a vocabulary word gets the right
word suggested (exit 2) instead of reaching the case. The mapping from arguments to the action
models (``ACTIONS``) is here too, because building a record is the last check of what was typed
(the models' own rules, reported in the command's terms by ``invalid``).
"""

from __future__ import annotations

import argparse
import difflib
import getpass
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Any, NamedTuple

from pydantic import ValidationError
from temporalio.workflow import UpdateMethodMultiParam

from whereabouts.cli.admin_times import due_date, not_future, past_time
from whereabouts.models import (
    AdviceGiven,
    AgencyTold,
    CallRecord,
    CaseStatus,
    ChildSeen,
    LaDecisionRecord,
    ParentContact,
    RiskAssessment,
    VisitRecord,
    Withdrawal,
)
from whereabouts.vocabulary import (
    CLOSING_LA_DECISIONS,
    CLOSING_VISIT_OUTCOMES,
    Agency,
    CallOutcome,
    CmeOutcome,
    CmeStage,
    LaDecision,
    RiskConcern,
    RiskStatus,
    VisitOutcome,
)
from whereabouts.workflows.case import CmeCaseWorkflow

OK, REFUSED, USAGE, NO_CASE, UNREACHABLE = 0, 1, 2, 3, 4

URN = re.compile(r"^\d{6}$")


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

    p = sub.add_parser(
        "cases", help="list open cases (and any that ended badly): needing a person first, then overdue"
    )
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

    def word(a: argparse.ArgumentParser, dest: str, kind: type[StrEnum], noun: str) -> None:
        a.add_argument(
            dest, metavar=dest.upper(), type=vocabulary(kind, noun), help=f"one of: {one_of(kind)}"
        )

    def by(a: argparse.ArgumentParser) -> None:
        a.add_argument("--by", metavar="NAME", help="who did it (default: your login name)")

    def at(a: argparse.ArgumentParser, what: str) -> None:
        a.add_argument(
            "--at",
            metavar="TIME",
            type=past_time,
            help=f"when {what}: HH:MM today (school time) or YYYY-MM-DDTHH:MM (default: now)",
        )

    p = action(
        "call",
        "record a call's outcome",
        "Record the outcome of the call the case is waiting for (Day 1, call-back or Day 2). "
        "safe_with_parent needs --reason and closes the case; not_reassured asks the DSL for a "
        "risk assessment; missing_parent_concerned sends the parent the advice and alerts the DSL.",
    )
    word(p, "outcome", CallOutcome, "a call outcome")
    p.add_argument("--reason", help="the reason for the absence (needed for safe_with_parent)")
    at(p, "the call was made")
    p.add_argument("--number", metavar="TEXT", help="the number that was rung")
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
        "Record what the home visit found, and who the visitors spoke to with --spoke-to (the "
        "parent, a neighbour, nobody): the LA's referral reports it. child_seen and "
        "parent_contact close the case.",
    )
    word(p, "outcome", VisitOutcome, "a visit outcome")
    p.add_argument(
        "--spoke-to",
        metavar="TEXT",
        help="who the visitors spoke to, and who they are to the child (e.g. 'neighbour at no. 9', 'nobody')",
    )
    p.add_argument("--note", help="anything else the visit found")
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
    word(p, "decision", LaDecision, "an LA decision")
    p.add_argument("--note")
    by(p)

    p = action("withdraw", "close a case opened in error", "Withdraw the case, with the reason.")
    p.add_argument("--reason", required=True)
    by(p)

    p = action(
        "notified",
        "record that an agency was told by phone (or in person)",
        "Record that police, children's social care or the local authority were told about the "
        "case by staff themselves, e.g. by phone when Whereabouts' e-mail to them was not "
        "delivered. The case says it is waiting for this until it is recorded.",
    )
    word(p, "agency", Agency, "an agency")
    at(p, "they were told")
    p.add_argument("--note", help="who was told, and what was said")
    by(p)

    p = action(
        "advised",
        "record that staff gave the parent the missing-child advice",
        "Record that staff gave the parent the advice for a missing child themselves (police, "
        "people and places the child knows, GP and A&E, report back), on the phone or in person, "
        "e.g. when Whereabouts' e-mail could not reach the parent.",
    )
    at(p, "it was given")
    p.add_argument("--note", help="to whom, and how")
    by(p)
    return top


# --------------------------------------------------------------------------------------------
# What each action sends, and the outcome it closes the case with (None: the case stays open)
# --------------------------------------------------------------------------------------------
StaffRecord = (
    CallRecord
    | RiskAssessment
    | VisitRecord
    | ParentContact
    | ChildSeen
    | LaDecisionRecord
    | Withdrawal
    | AgencyTold
    | AdviceGiven
)
Recorded = tuple[StaffRecord, CmeOutcome | None]


def _call(a: argparse.Namespace) -> Recorded:
    at = not_future(a.at)
    rec = CallRecord(outcome=a.outcome, reason=a.reason, note=a.note, by=a.by, at=at, number=a.number)
    return rec, CmeOutcome.EXPLAINED_ABSENCE if rec.outcome is CallOutcome.SAFE_WITH_PARENT else None


def _risk(a: argparse.Namespace) -> Recorded:
    return RiskAssessment(at_risk=a.at_risk, concerns=a.concerns, note=a.note, by=a.by), None


def _visit(a: argparse.Namespace) -> Recorded:
    rec = VisitRecord(outcome=a.outcome, note=a.note, spoke_to=a.spoke_to, by=a.by)
    return rec, CLOSING_VISIT_OUTCOMES.get(rec.outcome)


def _contact(a: argparse.Namespace) -> Recorded:
    return ParentContact(reason=a.reason, note=a.note, by=a.by), CmeOutcome.PARENT_CONTACT


def _seen(a: argparse.Namespace) -> Recorded:
    return ChildSeen(where=a.where, note=a.note, by=a.by), CmeOutcome.CHILD_SEEN


def _la(a: argparse.Namespace) -> Recorded:
    rec = LaDecisionRecord(decision=a.decision, note=a.note, by=a.by)
    return rec, CLOSING_LA_DECISIONS.get(rec.decision)


def _withdraw(a: argparse.Namespace) -> Recorded:
    return Withdrawal(reason=a.reason, by=a.by), CmeOutcome.WITHDRAWN


def _notified(a: argparse.Namespace) -> Recorded:
    return AgencyTold(agency=a.agency, at=not_future(a.at), note=a.note, by=a.by), None


def _advised(a: argparse.Namespace) -> Recorded:
    return AdviceGiven(at=not_future(a.at), note=a.note, by=a.by), None


class Action(NamedTuple):
    """One recording command: the case's update, and how the arguments become its record."""

    update: UpdateMethodMultiParam[[CmeCaseWorkflow, Any], CaseStatus]
    record: Callable[[argparse.Namespace], Recorded]


ACTIONS: dict[str, Action] = {
    "call": Action(CmeCaseWorkflow.record_call, _call),
    "risk": Action(CmeCaseWorkflow.record_risk, _risk),
    "visit": Action(CmeCaseWorkflow.record_visit, _visit),
    "contact": Action(CmeCaseWorkflow.record_contact, _contact),
    "seen": Action(CmeCaseWorkflow.record_seen, _seen),
    "la-decision": Action(CmeCaseWorkflow.record_la_decision, _la),
    "withdraw": Action(CmeCaseWorkflow.withdraw, _withdraw),
    "notified": Action(CmeCaseWorkflow.record_agency_told, _notified),
    "advised": Action(CmeCaseWorkflow.record_advice_given, _advised),
}
OPTION_FOR_FIELD = {"concerns": "--concern", "outcome": "OUTCOME", "decision": "DECISION", "agency": "AGENCY"}


def invalid(exc: ValidationError) -> str:
    """The first problem with an action, in the command's own terms: '--reason: ...'."""
    first = exc.errors()[0]
    msg = first["msg"].removeprefix("Value error, ")
    field = str(first["loc"][0]) if first["loc"] else ""
    if not field:
        return msg
    return f"{OPTION_FOR_FIELD.get(field, '--' + field.replace('_', '-'))}: {msg}"
