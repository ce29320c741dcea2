"""What each ``admin.py`` action sends to the case: the record built from the arguments.

Building a record is the last check of what was typed: the models' own rules (a safe child needs
a reason, an at-risk judgement a concern) are reported here in the command's terms (``invalid``),
so a person reads "--reason: ..." and not a pydantic field path. ``ACTIONS`` maps each recording
command to the case's update and its builder, and says which outcome (if any) it closes with.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NamedTuple

from pydantic import ValidationError
from temporalio.workflow import UpdateMethodMultiParam

from whereabouts.cli.admin_times import Misused, not_future
from whereabouts.models import (
    AdviceGiven,
    AgencyTold,
    CallRecord,
    CaseStatus,
    ChildSeen,
    LaDecisionRecord,
    LaUpdate,
    MissingUpdate,
    ParentContact,
    RiskAssessment,
    SafeguardingPlan,
    SchoolEnquiry,
    VisitRecord,
    Withdrawal,
)
from whereabouts.vocabulary import (
    CLOSING_LA_DECISIONS,
    CLOSING_VISIT_OUTCOMES,
    CallOutcome,
    CmeOutcome,
)
from whereabouts.workflows.case import CmeCaseWorkflow

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
    | SafeguardingPlan
    | MissingUpdate
    | LaUpdate
    | SchoolEnquiry
)
Recorded = tuple[StaffRecord, CmeOutcome | None]


def _call(a: argparse.Namespace) -> Recorded:
    at = not_future(a.at)
    rec = CallRecord(
        outcome=a.outcome,
        reason=a.reason,
        code=a.code,
        until=a.until,
        note=a.note,
        by=a.by,
        at=at,
        number=a.number,
    )
    return rec, CmeOutcome.EXPLAINED_ABSENCE if rec.outcome is CallOutcome.SAFE_WITH_PARENT else None


def _risk(a: argparse.Namespace) -> Recorded:
    return RiskAssessment(at_risk=a.at_risk, concerns=a.concerns, note=a.note, by=a.by), None


def _visit(a: argparse.Namespace) -> Recorded:
    closes = CLOSING_VISIT_OUTCOMES.get(a.outcome)
    if a.concern and closes is not None:
        # The case would close on it, and the concern reach nobody: the DSL must hear it first.
        raise Misused(
            f"--concern: {a.outcome.value} closes the case, so a concern recorded with it would reach "
            "nobody: tell the DSL now (admin.py risk CASE ... records their judgement), then record "
            "the visit without --concern, saying what worried you in --note"
        )
    rec = VisitRecord(outcome=a.outcome, note=a.note, spoke_to=a.spoke_to, by=a.by, concern=a.concern)
    return rec, closes


def _plan(a: argparse.Namespace) -> Recorded:
    return SafeguardingPlan(letter=a.letter, visit=a.visit, note=a.note, by=a.by), None


def _still_missing(a: argparse.Namespace) -> Recorded:
    return MissingUpdate(note=a.note, by=a.by), None


def _contact(a: argparse.Namespace) -> Recorded:
    rec = ParentContact(reason=a.reason, code=a.code, until=a.until, note=a.note, by=a.by)
    return rec, CmeOutcome.PARENT_CONTACT


def _seen(a: argparse.Namespace) -> Recorded:
    return ChildSeen(where=a.where, note=a.note, by=a.by), CmeOutcome.CHILD_SEEN


def _la(a: argparse.Namespace) -> Recorded:
    rec = LaDecisionRecord(
        decision=a.decision, note=a.note, by=a.by, new_address=a.new_address, new_school=a.new_school
    )
    return rec, CLOSING_LA_DECISIONS.get(rec.decision)


def _la_update(a: argparse.Namespace) -> Recorded:
    return LaUpdate(kind=a.kind, note=a.note, complete=a.complete, by=a.by), None


def _enquiry(a: argparse.Namespace) -> Recorded:
    return SchoolEnquiry(item=a.item, note=a.note, by=a.by), None


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
    "plan": Action(CmeCaseWorkflow.record_plan, _plan),
    "still-missing": Action(CmeCaseWorkflow.record_still_missing, _still_missing),
    "contact": Action(CmeCaseWorkflow.record_contact, _contact),
    "seen": Action(CmeCaseWorkflow.record_seen, _seen),
    "la-decision": Action(CmeCaseWorkflow.record_la_decision, _la),
    "la-update": Action(CmeCaseWorkflow.record_la_update, _la_update),
    "enquiry": Action(CmeCaseWorkflow.record_enquiry, _enquiry),
    "withdraw": Action(CmeCaseWorkflow.withdraw, _withdraw),
    "notified": Action(CmeCaseWorkflow.record_agency_told, _notified),
    "advised": Action(CmeCaseWorkflow.record_advice_given, _advised),
}
OPTION_FOR_FIELD = {
    "concerns": "--concern",
    "outcome": "OUTCOME",
    "decision": "DECISION",
    "agency": "AGENCY",
    "kind": "KIND",
    "item": "ITEM",
}


def invalid(exc: ValidationError) -> str:
    """The first problem with an action, in the command's own terms: '--reason: ...'."""
    first = exc.errors()[0]
    msg = first["msg"].removeprefix("Value error, ")
    field = str(first["loc"][0]) if first["loc"] else ""
    if not field:
        return msg
    return f"{OPTION_FOR_FIELD.get(field, '--' + field.replace('_', '-'))}: {msg}"
