"""What operators and staff read about a case, from its state alone: no Temporal server.

The views (``whereabouts/workflows/views.py``) are pure functions of the case's memory, so the
status ``admin.py`` prints, the Web UI's current details and the search attributes can be checked
here in milliseconds, and a wording change never needs a workflow run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from tests.conftest import TEST_DIRECTORY
from tests.factories import make_case
from whereabouts.case_schedule import build_schedule
from whereabouts.directory import load_directory
from whereabouts.models import CallRecord
from whereabouts.vocabulary import CmeOutcome, CmeStage, RiskStatus
from whereabouts.workflows import views
from whereabouts.workflows.state import CallSlot, CaseState, Closing

SCHOOL = load_directory(TEST_DIRECTORY).school("990201")
MONDAY = date(2027, 1, 18)  # term time, no bank holiday in the next two weeks
OPENED = datetime(2027, 1, 18, 9, 0, tzinfo=UTC)


def a_case() -> CaseState:
    state = CaseState(make_case(MONDAY))
    state.schedule = build_schedule(SCHOOL, MONDAY, OPENED, None)
    return state


def status(state: CaseState, now: datetime):
    return views.status(state, case_id="cme-test", opened_at=OPENED, now=now)


def test_a_pending_risk_assessment_on_day1_is_the_stage_the_dsl_sees():
    assert views.day1_stage(CmeStage.DAY1_CALL, RiskStatus.REQUESTED) is CmeStage.RISK_ASSESSMENT
    assert views.day1_stage(CmeStage.DAY1_CALLBACK, RiskStatus.REQUESTED) is CmeStage.RISK_ASSESSMENT
    # Later in the procedure the step itself is what matters; the risk shows in its own column.
    assert views.day1_stage(CmeStage.DAY2_CALL, RiskStatus.REQUESTED) is CmeStage.DAY2_CALL
    assert views.day1_stage(CmeStage.DAY1_CALL, RiskStatus.NOT_AT_RISK) is CmeStage.DAY1_CALL


def test_waiting_for_lists_the_call_the_dsl_and_the_mail_server():
    state = a_case()
    state.awaiting_call = CallSlot.DAY1_CALLBACK
    state.risk = RiskStatus.REQUESTED
    state.delays["day3_letter"] = "Day 3 letter waiting for the mail server since ..."
    assert views.pending(state, OPENED) == [
        "Day 1 call-back outcome",
        "DSL risk assessment",
        "Day 3 letter waiting for the mail server since ...",
    ]
    state.awaiting_call = None
    state.risk = RiskStatus.NOT_AT_RISK
    state.delays.clear()
    assert views.pending(state, OPENED) == []


def test_school_day_follows_the_schedule_across_the_weekend():
    state = a_case()
    s = state.schedule
    assert s is not None
    assert status(state, OPENED + timedelta(hours=1)).school_day == 1
    assert status(state, s.day2_call + timedelta(minutes=1)).school_day == 2
    assert status(state, s.day3_letter + timedelta(minutes=1)).school_day == 3
    assert status(state, s.day10_referral + timedelta(minutes=1)).school_day == 10
    # Day 10 of a case opened on a Monday is the Friday of the next week: the weekend is skipped.
    assert s.school_dates[9] == date(2027, 1, 29)


def test_outcome_shows_only_once_the_case_has_closed():
    state = a_case()
    state.closing = Closing(CmeOutcome.CHILD_SEEN, "MIS feed", "present mark")
    assert status(state, OPENED).outcome is None  # still closing: the MIS write-back may be pending
    assert not any(u.key.name == "CmeOutcome" for u in views.search_attributes(state))
    state.stage = CmeStage.CLOSED
    assert status(state, OPENED).outcome is CmeOutcome.CHILD_SEEN
    outcome = [u for u in views.search_attributes(state) if u.key.name == "CmeOutcome"]
    assert [u.value for u in outcome] == ["child_seen"]


def test_what_temporal_shows_in_clear_names_the_step_never_the_child():
    state = a_case()
    state.stage = CmeStage.DAY2_CALL
    state.next_action, state.next_action_at = (
        "record the Day 2 call outcome",
        datetime(2027, 6, 1, 8, 0, tzinfo=UTC),
    )
    state.calls[CallSlot.DAY1] = CallRecord(outcome="no_answer", by="T. Hale", note="Grace sounded scared")
    details = views.current_details(state, OPENED)
    assert "**Stage:** day2_call" in details
    # Read in school time, with the zone: 08:00 UTC on 1 June is 09:00 BST.
    assert "record the Day 2 call outcome (Tue 1 Jun 09:00 BST)" in details
    shown = details + repr([(u.key.name, getattr(u, "value", None)) for u in views.search_attributes(state)])
    for personal in ("Robin", "Testperson", "Grace", "Imaginary", "EX9", "07700", state.case.pupil.upn):
        assert personal not in shown


def test_a_mail_delay_note_names_the_mail_and_the_wait():
    since = datetime(2027, 1, 20, 9, 0, tzinfo=UTC)
    label = views.mail_label("send_notice", "day1_call")
    assert label == "e-mail (day1 call)"
    note = views.delay_note(label, since, 3, "mail server unreachable (OSError); will retry")
    assert note == (
        "e-mail (day1 call) waiting for the mail server since Wed 20 Jan 09:00 GMT, try 3: "
        "mail server unreachable (OSError); will retry"
    )
    assert views.mail_label("send_day3_letter", "day3_letter") == "Day 3 letter"
