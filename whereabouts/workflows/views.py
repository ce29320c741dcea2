"""What operators and staff read about a case: its status, what it waits for, the Web UI's view.

Pure functions of the case's state, so they can be tested without a Temporal server and changed
without touching the procedure. Search attributes, current details and delay notes are kept in
clear by Temporal, so they name the step, never the child.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from whereabouts.models import CaseStatus
    from whereabouts.search import (
        CME_ATTENTION,
        CME_NEXT_ACTION_AT,
        CME_OUTCOME,
        CME_RISK,
        CME_SCHOOL_URN,
        CME_STAGE,
    )
    from whereabouts.times import short
    from whereabouts.vocabulary import Agency, Attention, CmeStage, RiskStatus

if TYPE_CHECKING:
    from whereabouts.workflows.state import CaseState

DAY1_STAGES = (CmeStage.DAY1_CALL, CmeStage.DAY1_CALLBACK)
MARKDOWN = re.compile(r"[\\`*_\[\]<>!|]")
# What an operator calls what a step does, for "waiting on the mail server" and "retrying" notes.
MAIL_LABELS = {
    "send_day3_letter": "Day 3 letter",
    "book_home_visit": "home visit invitations",
    "file_referral": "CME referral",
    "send_notice": "e-mail",
}
STEP_LABELS = {
    "schedule_case": "school-day schedule",
    "working_days_after": "LA chase date",
    "record_in_mis": "MIS write-back",
}
AGENCY_WORDS = {Agency.POLICE: "police", Agency.SOCIAL_CARE: "children's social care", Agency.LA: "the LA"}


def day1_stage(stage: CmeStage, risk: RiskStatus) -> CmeStage:
    """A pending risk assessment on Day 1 is the stage that matters most to the DSL."""
    if stage in DAY1_STAGES and risk is RiskStatus.REQUESTED:
        return CmeStage.RISK_ASSESSMENT
    return stage


def school_day(state: CaseState, now: datetime) -> int:
    """Which school day of the case it is, counted on the case's own school days."""
    return state.times.day_number(now) if state.schedule is not None else 1


def pending(state: CaseState, now: datetime) -> list[str]:
    """What the case is waiting for from a person (marked once overdue), then any step waiting."""
    out = []
    if state.awaiting_call:
        out.append(_due(state, f"{state.awaiting_call.label} outcome", now))
    if state.risk is RiskStatus.REQUESTED:
        out.append(_due(state, "DSL risk assessment", now))
    if state.visit_booking and state.visit is None and state.stage is CmeStage.HOME_VISIT:
        out.append(_due(state, "home visit outcome", now))
    if state.stage is CmeStage.REFERRED:
        since = state.la_overdue_since
        out.append(f"LA decision (OVERDUE since {short(since)})" if since else "LA decision")
    return out + undone(state) + list(state.delays.values())


def _due(state: CaseState, item: str, now: datetime) -> str:
    due = state.due.get(item)
    return f"{item} (OVERDUE since {short(due)})" if due is not None and due < now else item


def overdue(state: CaseState, now: datetime) -> list[str]:
    """The pending items past their due time: what the Web UI and ``admin.py`` flag first."""
    return [p for p in pending(state, now) if "OVERDUE" in p]


def undone(state: CaseState) -> list[str]:
    """What a refused e-mail left undone that staff must do by hand: the loudest lines of all."""
    out = []
    escalation = [a for a in (Agency.POLICE, Agency.SOCIAL_CARE) if a in state.not_told]
    if escalation:
        out.append(
            f"URGENT: {' and '.join(AGENCY_WORDS[a] for a in escalation)} NOT told of the escalation: "
            f"phone them, then record it (admin.py notified CASE {escalation[0].value})"
        )
    if Agency.LA in state.not_told:
        out.append("the LA has NOT received the referral: send it another way (admin.py notified CASE la)")
    if state.advice_pending:
        out.append("missing-child advice to give the parent by phone (admin.py advised CASE)")
    return out


def needs_attention(state: CaseState) -> list[str]:
    """What went wrong that a person should know about, beyond what the case waits for."""
    out = [f"not delivered: {note}" for note in state.undelivered]
    if state.schedule is not None and state.schedule.fallback:
        out.append(f"schedule counted on weekdays less bank holidays: {state.schedule.fallback}")
    if state.stopped:
        out.append(f"procedure stopped, an operator must look: {state.stopped}")
    return out


def attention(state: CaseState) -> list[str]:
    """The ``CmeAttention`` values: why the case needs a person, for the case list's filters."""
    if state.stage is CmeStage.CLOSED:
        # Closing writes the outcome back and tells people: a step of it stuck retrying is
        # still an operator's business.
        return [Attention.RETRYING.value] if state.delays else []
    reasons = {
        Attention.UNDELIVERED: bool(state.undelivered),
        Attention.ESCALATION_NOT_DELIVERED: bool({Agency.POLICE, Agency.SOCIAL_CARE} & state.not_told),
        Attention.REFERRAL_NOT_DELIVERED: Agency.LA in state.not_told,
        Attention.ADVICE_NOT_GIVEN: state.advice_pending,
        Attention.LA_OVERDUE: state.la_overdue_since is not None,
        Attention.RETRYING: bool(state.delays),
        Attention.CALENDAR: bool(state.schedule and state.schedule.fallback),
        Attention.STOPPED: state.stopped is not None,
    }
    return [a.value for a in Attention if reasons[a]]


def status(state: CaseState, *, case_id: str, opened_at: datetime, now: datetime) -> CaseStatus:
    """The ``status`` query's answer: ``admin.py`` and the feed read it."""
    return CaseStatus(
        case_id=case_id,
        school_urn=state.case.school_urn,
        acted_by=state.acted_by,
        stage=state.stage,
        risk=state.risk,
        next_action=state.next_action,
        next_action_at=state.next_action_at,
        outcome=state.shown_outcome,
        opened_at=opened_at,
        school_day=school_day(state, now),
        letter_deadline=state.letter_deadline,
        visit_booked_for=state.visit_booking.slot if state.visit_booking else None,
        referred_at=state.referred_at,
        pending=pending(state, now),
        attention=needs_attention(state),
        **state._register_view(),
    )


def upsert_key(state: CaseState) -> tuple[Any, ...]:
    """What the search attributes are made of: they are upserted only when this changes."""
    outcome = state.shown_outcome
    return (
        state.stage.value,
        state.risk.value,
        state.next_action_at,
        outcome.value if outcome else "",
        tuple(attention(state)),
    )


def search_attributes(state: CaseState) -> list[SearchAttributeUpdate[Any]]:
    """The Web UI's and ``admin.py cases``' filters: stage, school, risk, next action, outcome."""
    outcome = state.shown_outcome
    updates: list[SearchAttributeUpdate[Any]] = [
        CME_STAGE.value_set(state.stage.value),
        CME_SCHOOL_URN.value_set(state.case.school_urn),
        CME_RISK.value_set(state.risk.value),
        CME_NEXT_ACTION_AT.value_set(state.next_action_at)
        if state.next_action_at
        else CME_NEXT_ACTION_AT.value_unset(),
    ]
    if outcome:
        updates.append(CME_OUTCOME.value_set(outcome.value))
    updates.append(CME_ATTENTION.value_set(attention(state)))
    return updates


def plain(text: str) -> str:
    """Markdown's own characters escaped: a reason an error gave is shown, never rendered (a
    link or an image in it must not become one in the Web UI)."""
    return MARKDOWN.sub(lambda m: "\\" + m.group(), text).replace("://", ":\\/\\/")


def current_details(state: CaseState, now: datetime) -> str:
    """The Web UI's "current details" (markdown): where the case stands, without opening it."""
    outcome = state.shown_outcome
    lines = [
        f"**Stage:** {state.stage.value} (school day {school_day(state, now)})",
        f"**Risk:** {state.risk.value}",
        f"**Next:** {state.next_action or '-'} ({short(state.next_action_at)})",
    ]
    if state.letter_deadline:
        lines.append(f"**Letter deadline:** {short(state.letter_deadline)}")
    if outcome:
        lines.append(f"**Outcome:** {outcome.value}")
    if state.delays:
        lines.append("**Delayed:** " + plain("; ".join(state.delays.values())))
    if undone(state):
        lines.append("**Waiting for:** " + plain("; ".join(undone(state))))
    if overdue(state, now):
        lines.append("**Overdue:** " + plain("; ".join(overdue(state, now))))
    if needs_attention(state):
        lines.append("**Needs attention:** " + plain("; ".join(needs_attention(state))))
    return "\n\n".join(lines)


def mail_label(activity: str, step: str) -> str:
    """'Day 3 letter', 'e-mail (day1 call)' for a notice, 'MIS write-back': which step waits."""
    if activity in STEP_LABELS:
        return STEP_LABELS[activity]
    label = MAIL_LABELS.get(activity, "e-mail")
    if activity == "send_notice":
        label = f"{label} ({step.replace('_', ' ')})"
    return label


def delay_note(label: str, since: datetime, attempt: int, reason: str, *, mail: bool = True) -> str:
    """The line under "Waiting for" while a step is being retried."""
    waiting = "waiting for the mail server" if mail else "retrying"
    return f"{label} {waiting} since {short(since)}, try {attempt}: {reason}"
