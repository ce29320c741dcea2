"""Every path of the seed procedure, driven as staff would drive it, against the time-skipping
test server, a real worker and a real SMTP server."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from tests.conftest import finish, refused, school_morning, until, until_waiting_for, walk_until
from tests.factories import make_case
from whereabouts.models import (
    CallRecord,
    ChildSeen,
    ParentContact,
    RiskAssessment,
)
from whereabouts.schooldays import is_bank_holiday
from whereabouts.vocabulary import CmeOutcome, CmeStage, RiskStatus
from whereabouts.workflows.case import CmeCaseWorkflow

HISTORIES = Path(__file__).parent / "histories"
OFFICE = "office@testhill.example.org"
DSL = "dsl@testhill.example.org"
PARENT = "parent.one@family.example.net"
AUNT = "aunt@family.example.net"
LA_CME = "cme@testshire.example.gov.uk"
POLICE = "hub@police.example.org"
MASH = "mash@testshire.example.gov.uk"


def subjects(smtp, address):
    return [str(r.message["Subject"]) for r in smtp.to(address)]


def outbox(settings):
    path = settings.mis_outbox
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def outcome_line(settings) -> dict:
    """The case's outcome as the MIS write-back carries it."""
    (line,) = [x for x in outbox(settings) if x["kind"] == "case_outcome"]
    return line


async def today(env) -> date:
    return (await env.get_current_time()).date()


def waiting_for(item: str):
    return lambda s: any(p.startswith(item) for p in s.pending)


async def test_explained_on_day1(env, settings, smtp, worker, start_case):
    case = make_case(await school_morning(env))
    h = await start_case(env.client, case, record_as="explained_day1")
    await until_waiting_for(h, "Day 1 call outcome")
    await until(h, lambda s: bool(smtp.to(OFFICE)), "day 1 prompt", 10)
    assert any("Day 1 call needed" in s for s in subjects(smtp, OFFICE))
    prompt = smtp.to(OFFICE)[0].message.get_content()
    assert f"python admin.py call {h.id} safe_with_parent --reason" in prompt
    assert "Robin Testperson" in prompt

    await h.execute_update(
        CmeCaseWorkflow.record_call,
        CallRecord(outcome="safe_with_parent", reason="ill with flu", code="i", by="T. Hale"),
    )
    result = await finish(env, h)
    assert result.outcome is CmeOutcome.EXPLAINED_ABSENCE
    whats = [e.what for e in result.chronology]
    assert "Day 1 call: safe with parent" in whats
    assert whats[-1] == "Case closed: explained absence"
    # The MIS is told the outcome, and the Day 1 N becomes I (illness), with the reason.
    outcome, change = outbox(settings)
    assert (outcome["kind"], outcome["value"]) == ("case_outcome", "explained_absence")
    assert (change["kind"], change["date"], change["old_code"], change["new_code"]) == (
        "mark_change",
        case.first_day_absent.isoformat(),
        "N",
        "I",
    )
    assert change["school_urn"] == case.school_urn and change["upn"] == case.pupil.upn
    assert "ill with flu" in change["comment"] and "T. Hale" in change["comment"]
    # In one write: the MIS never has the outcome without the mark it changes.
    assert outcome["recorded_at"] == change["recorded_at"]
    # Nobody else was bothered.
    assert not smtp.to(DSL) and not smtp.to(PARENT)


async def test_no_answer_callback_then_contact(env, settings, smtp, worker, start_case):
    case = make_case(await school_morning(env))
    h = await start_case(env.client, case, record_as="no_answer_callback_contact")
    await until_waiting_for(h, "Day 1 call outcome")
    await h.execute_update(CmeCaseWorkflow.record_call, CallRecord(outcome="no_answer", by="T. Hale"))
    status = await walk_until(env, h, waiting_for("Day 1 call-back outcome"), "call-back prompt")
    assert status.risk is RiskStatus.REQUESTED
    assert status.stage is CmeStage.RISK_ASSESSMENT
    assert any("Call back now" in s for s in subjects(smtp, OFFICE))
    assert any("Risk assessment needed" in s for s in subjects(smtp, DSL))

    await h.execute_update(
        CmeCaseWorkflow.record_call,
        CallRecord(outcome="no_answer", by="T. Hale", note="voicemail full"),
    )
    await h.signal(
        CmeCaseWorkflow.parent_responded, ParentContact(by="MIS", reason="rang office: at hospital")
    )
    result = await finish(env, h)
    assert result.outcome is CmeOutcome.PARENT_CONTACT
    assert outcome_line(settings)["value"] == "parent_contact"


async def test_not_reassured_at_risk_escalates_and_search_continues(env, settings, smtp, worker, start_case):
    case = make_case(await school_morning(env))
    h = await start_case(env.client, case, record_as="not_reassured_escalated")
    await until_waiting_for(h, "Day 1 call outcome")
    await h.execute_update(
        CmeCaseWorkflow.record_call,
        CallRecord(outcome="not_reassured", by="T. Hale", note="a man answered, would not say"),
    )
    await until(h, lambda s: s.risk is RiskStatus.REQUESTED, "risk requested")
    await until(h, lambda s: bool(smtp.to(DSL)), "DSL asked")
    await h.execute_update(
        CmeCaseWorkflow.record_risk,
        RiskAssessment(at_risk=True, concerns=["forced_marriage"], note="sibling history", by="D. Lead"),
    )
    await until(h, lambda s: bool(smtp.to(POLICE)) and bool(smtp.to(MASH)), "escalation e-mails")
    escalation = smtp.to(POLICE)[0].message.get_content()
    assert "forced marriage" in escalation and "Robin Testperson" in escalation
    status = await until(h, lambda s: s.risk is RiskStatus.ESCALATED, "escalated")
    # The search carries on: Day 2 still prompts the follow-up call.
    status = await walk_until(env, h, waiting_for("Day 2 call outcome"), "Day 2")
    assert status.risk is RiskStatus.ESCALATED
    await until(h, lambda s: any("Day 2 follow-up" in x for x in subjects(smtp, OFFICE)), "day 2 prompt")
    await h.signal(CmeCaseWorkflow.child_seen, ChildSeen(by="MIS", where="arrived at school"))
    result = await finish(env, h)
    assert result.outcome is CmeOutcome.CHILD_SEEN
    assert any("AT RISK" in e.what for e in result.chronology)


async def test_child_missing_parent_concerned_gets_advice(env, settings, smtp, worker, start_case):
    case = make_case(await school_morning(env))
    h = await start_case(env.client, case, record_as="missing_parent_concerned")
    await until_waiting_for(h, "Day 1 call outcome")
    await h.execute_update(
        CmeCaseWorkflow.record_call,
        CallRecord(outcome="missing_parent_concerned", by="T. Hale", note="not home since last night"),
    )
    await until(h, lambda s: bool(smtp.to(PARENT)) and bool(smtp.to(DSL)), "advice and alert")
    advice = smtp.to(PARENT)[0].message.get_content()
    for must in ("police", "GP", "A&E", "Call the school"):
        assert must in advice
    assert not smtp.to(AUNT), "advice goes to contacts with parental responsibility only"
    alert = smtp.to(DSL)[0]
    assert "URGENT" in str(alert.message["Subject"])
    status = await until(h, lambda s: s.risk is RiskStatus.REQUESTED, "DSL asked")
    assert status.stage is CmeStage.RISK_ASSESSMENT and status.outcome is None  # case stays open
    await h.execute_update(CmeCaseWorkflow.record_seen, ChildSeen(by="T. Hale", where="found at a friend's"))
    result = await finish(env, h)
    assert result.outcome is CmeOutcome.CHILD_SEEN


async def test_letter_then_parent_replies_on_day4(env, settings, smtp, worker, start_case):
    case = make_case(await school_morning(env), language="pl")
    h = await start_case(env.client, case, record_as="letter_parent_replies")
    await until_waiting_for(h, "Day 1 call outcome")
    # No Day 1 outcome recorded: Day 2's follow-up call is prompted.
    status = await walk_until(env, h, waiting_for("Day 2 call outcome"), "Day 2")
    assert status.stage is CmeStage.DAY2_CALL
    await h.execute_update(CmeCaseWorkflow.record_call, CallRecord(outcome="no_answer", by="T. Hale"))
    status = await walk_until(env, h, lambda s: s.letter_deadline is not None, "Day 3 letter")
    await until(h, lambda s: bool(smtp.to(PARENT)), "letter")
    letter = smtp.to(PARENT)[0].message
    assert "Robin" in str(letter["Subject"])
    assert status.stage is CmeStage.DAY3_LETTER
    # Day 4: the parent replies to the letter.
    await env.sleep(timedelta(days=1))
    await h.signal(CmeCaseWorkflow.parent_responded, ParentContact(by="MIS", reason="replied to letter"))
    result = await finish(env, h)
    assert result.outcome is CmeOutcome.PARENT_CONTACT
    assert any(e.what.startswith("Day 3 letter") for e in result.chronology)
    assert not smtp.to(LA_CME)


def _bank_holiday_start(today: date) -> date:
    """Two school days before the next weekday bank holiday at least a week away."""
    d = today + timedelta(days=7)
    while not (is_bank_holiday(d) and d.weekday() < 5):
        d += timedelta(days=1)
    start = d - timedelta(days=1)
    while start.weekday() >= 5 or is_bank_holiday(start):
        start -= timedelta(days=1)
    return start


async def test_no_contact_referral_on_day10_across_bank_holiday(env, settings, smtp, worker, start_case):
    first = _bank_holiday_start(await today(env))
    case = make_case(first)
    h = await start_case(env.client, case, record_as="referral_bank_holiday")
    status = await walk_until(env, h, lambda s: s.referred_at is not None, "referral")
    await until(h, lambda s: bool(smtp.to(LA_CME)), "referral e-mail")
    referral = smtp.to(LA_CME)
    assert referral, "the LA's CME inbox receives the referral"
    body = referral[0].message.get_body(preferencelist=("plain",)).get_content()
    for field in (
        "Date of birth",
        "UPN",
        "Year group",
        "Address",
        "DSL RISK APPRAISAL",
        "CHRONOLOGY",
        "HOME VISIT",
    ):
        assert field in body
    # Referral on Day 10, counting school days across the bank holiday.
    dates: list[date] = []
    d = first
    while len(dates) < 10:
        if d.weekday() < 5 and not is_bank_holiday(d):
            dates.append(d)
        d += timedelta(days=1)
    assert status.referred_at.date() == dates[9]
    await refused(
        h.execute_update(CmeCaseWorkflow.record_call, CallRecord(outcome="no_answer", by="x")),
        "No call is waiting",
    )
    # The LA's decision is tested on the dev server (tests/test_case_long_paths.py): the
    # time-skipping server hangs on updates sent after a long skip.
    await h.signal(CmeCaseWorkflow.child_seen, ChildSeen(by="MIS", where="returned to school"))
    result = await finish(env, h)
    assert result.outcome is CmeOutcome.CHILD_SEEN
    assert any(e.what.startswith("Referred") for e in result.chronology)
