"""A case's memory into and out of ``CarriedCase``, for continuing as new (``whereabouts/carried.py``).

Pure functions of the state: no I/O, no clock. ``restore`` is the exact inverse of ``snapshot``
for every field the next run needs; a field added to ``CaseState`` and not here is caught by
tests/test_continue_as_new.py, which compares the two runs' status and chronology.
"""

from __future__ import annotations

from datetime import date, datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from whereabouts.carried import CarriedCase, Mark
    from whereabouts.shared_values import shared_schedule

from whereabouts.workflows.state import CallSlot, CaseState


def _marks(items: dict[tuple[date, str], str]) -> list[Mark]:
    return [Mark(day=d, session=s, code=c) for (d, s), c in items.items()]


def snapshot(state: CaseState, *, run: int, la_chases: int, la_wait_from: datetime) -> CarriedCase:
    assert state.schedule is not None, "a case continues only once it is waiting on the LA"
    return CarriedCase(
        run=run,
        la_chases=la_chases,
        la_wait_from=la_wait_from,
        step=state.step,
        risk=state.risk,
        chronology=list(state.chronology),
        schedule=state.schedule,
        calls={slot.value: record for slot, record in state.calls.items()},
        call_times={slot.value: at for slot, at in state.call_times.items()},
        day1_recorded_at=state.day1_recorded_at,
        assessment=state.assessment,
        assessments=list(state.assessments),
        concerns=state.concerns,
        plan=state.plan,
        reported_missing_at=state.reported_missing_at,
        plan_asked=state.plan_asked,
        visit_booking=state.visit_booking,
        visit=state.visit,
        referred_at=state.referred_at,
        la_decisions=list(state.la_decisions),
        letter_deadline=state.letter_deadline,
        marks=_marks(state.marks),
        feed_marks=[Mark(day=d, session=s, code=c) for d, s, c in sorted(state.feed_marks)],
        written=_marks(state.written),
        n_rule_at=state.n_rule_at,
        ten_day_return_at=state.ten_day_return_at,
        enquiries=list(state.enquiries.values()),
        la_updates=list(state.la_updates),
        la_overdue_since=state.la_overdue_since,
        removal=state.removal,
        delays=dict(state.delays),
        delay_since=dict(state.delay_since),
        undelivered=list(state.undelivered),
        not_told=sorted(state.not_told),
        advice_pending=state.advice_pending,
        told=list(state.told),
        letter=state.letter,
        stopped=state.stopped,
        caught_up_at=state.caught_up_at,
        callback_merged=state.callback_merged,
        due=dict(state.due),
        dsl_asked_at=state.dsl_asked_at,
        holiday_checks=sorted(state.holiday_checks),
        used_signatures=list(state.used_signatures),
        refused_signals=sorted(state.refused_signals),
        acted_by=state.acted_by,
        calendar_version=state.calendar_version,
    )


def restore(state: CaseState, carried: CarriedCase) -> None:
    state.step = carried.step
    state.risk = carried.risk
    state.chronology = list(carried.chronology)
    state.schedule = shared_schedule(carried.schedule)
    state.calls = {CallSlot(k): v for k, v in carried.calls.items()}
    state.call_times = {CallSlot(k): v for k, v in carried.call_times.items()}
    state.day1_recorded_at = carried.day1_recorded_at
    state.assessment = carried.assessment
    state.assessments = list(carried.assessments)
    state.concerns = carried.concerns
    state.plan = carried.plan
    state.reported_missing_at = carried.reported_missing_at
    state.plan_asked = carried.plan_asked
    state.visit_booking = carried.visit_booking
    state.visit = carried.visit
    state.referred_at = carried.referred_at
    state.la_decisions = list(carried.la_decisions)
    state.letter_deadline = carried.letter_deadline
    state.marks = {(m.day, m.session): m.code for m in carried.marks}
    state.feed_marks = {(m.day, m.session, m.code) for m in carried.feed_marks}
    state.written = {(m.day, m.session): m.code for m in carried.written}
    state.n_rule_at = carried.n_rule_at
    state.ten_day_return_at = carried.ten_day_return_at
    state.enquiries = {e.item: e for e in carried.enquiries}
    state.la_updates = list(carried.la_updates)
    state.la_overdue_since = carried.la_overdue_since
    state.removal = carried.removal
    state.delays = dict(carried.delays)
    state.delay_since = dict(carried.delay_since)
    state.undelivered = list(carried.undelivered)
    state.not_told = set(carried.not_told)
    state.advice_pending = carried.advice_pending
    state.told = list(carried.told)
    state.letter = carried.letter
    state.stopped = carried.stopped
    state.caught_up_at = carried.caught_up_at
    state.callback_merged = carried.callback_merged
    state.due = dict(carried.due)
    state.dsl_asked_at = carried.dsl_asked_at
    state.holiday_checks = set(carried.holiday_checks)
    state.used_signatures = list(carried.used_signatures)
    state.refused_signals = set(carried.refused_signals)
    state.acted_by = carried.acted_by
    state.calendar_version = carried.calendar_version
    state._times = None
