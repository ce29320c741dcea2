"""The case's later stages, on the real dev server with the compressed clock (a school day in
1.5 s): home visit, referral, the LA's decision and chase, and the refusals staff meet.

The time-skipping server cannot carry these: it hangs on updates after a long skip.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date

from tests.conftest import FAST_DAY_SECONDS, finish, refused, until, until_prompted
from tests.factories import make_case
from whereabouts.models import (
    CallRecord,
    CaseResult,
    LaDecisionRecord,
    ParentContact,
    RiskAssessment,
    VisitRecord,
    Withdrawal,
)
from whereabouts.vocabulary import CmeOutcome, CmeStage, RiskStatus
from whereabouts.workflows.case import CmeCaseWorkflow

OFFICE = "office@testhill.example.org"
LA_CME = "cme@testshire.example.gov.uk"
VIC = "vic@testhill.example.org"
WHOLE_CASE = 15 * FAST_DAY_SECONDS + 10


def subjects(smtp, address):
    return [str(r.message["Subject"]) for r in smtp.to(address)]


async def test_home_visit_child_seen(dev_env, settings, smtp, fast_worker, start_case):
    h = await start_case(dev_env.client, make_case(date.today()))
    await until(h, lambda s: s.stage is CmeStage.DAY1_CALL and s.next_action_at, "day 1")
    await refused(
        h.execute_update(CmeCaseWorkflow.record_visit, VisitRecord(outcome="child_seen", by="V")),
        "No home visit is booked",
    )
    status = await until(h, lambda s: s.visit_booked_for is not None, "visit booked", WHOLE_CASE)
    assert status.stage is CmeStage.HOME_VISIT
    # Nobody recorded a risk assessment, so the visit asked the DSL for one.
    assert status.risk is RiskStatus.REQUESTED
    await until(h, lambda s: bool(smtp.to(VIC)), "booking e-mail")
    booking = smtp.to(VIC)[0].message
    assert "text/calendar" in [p.get_content_type() for p in booking.walk()]
    assert "risk assessment" in booking.get_body(preferencelist=("plain",)).get_content()
    await h.execute_update(
        CmeCaseWorkflow.record_visit,
        VisitRecord(outcome="child_seen", by="Vic Visitor", spoke_to="mother"),
    )
    result: CaseResult = await h.result()
    assert result.outcome is CmeOutcome.CHILD_SEEN
    assert not smtp.to(LA_CME)


async def test_visit_no_answer_referral_then_the_child_located(
    dev_env, settings, smtp, fast_worker, start_case
):
    case = make_case(date.today())
    h = await start_case(dev_env.client, case)
    await until(h, lambda s: s.visit_booked_for is not None, "visit booked", WHOLE_CASE)
    await refused(
        h.execute_update(
            CmeCaseWorkflow.record_la_decision, LaDecisionRecord(decision="remove_from_roll", by="LA")
        ),
        "not been referred",
    )
    await h.execute_update(
        CmeCaseWorkflow.record_visit,
        VisitRecord(outcome="no_answer", by="Vic Visitor", note="curtains drawn, post piling up"),
    )
    await refused(
        h.execute_update(CmeCaseWorkflow.record_visit, VisitRecord(outcome="child_seen", by="V")),
        "home visit outcome is already recorded",
    )
    status = await until(h, lambda s: s.referred_at is not None, "referral", WHOLE_CASE)
    assert status.stage is CmeStage.REFERRED
    # Checks done, but the parents keep their 3 working days: no referral before the deadline.
    assert status.referred_at >= status.letter_deadline
    await until(h, lambda s: bool(smtp.to(LA_CME)), "referral e-mail")
    referral = smtp.to(LA_CME)[0].message
    body = referral.get_body(preferencelist=("plain",)).get_content()
    assert "curtains drawn" in body and "Home visit: no answer" in body
    attached = [p for p in referral.walk() if p.get_filename() == "cme-referral.json"]
    data = json.loads(attached[0].get_content())
    assert data["case"]["pupil"]["upn"] == case.pupil.upn  # the LA gets the UPN; the ID has none
    assert data["home_visit"]["outcome"]["outcome"] == "no_answer"
    # Referred on Day 10, but not yet deletable: regulation 9(1)(i) needs 20 school days of
    # register marks and both sides' enquiries (the whole rule is in tests/test_register.py).
    await refused(
        h.execute_update(
            CmeCaseWorkflow.record_la_decision,
            LaDecisionRecord(decision="remove_from_roll", by="LA officer", note="moved abroad"),
        ),
        "cannot be deleted from the roll yet.*9\\(1\\)\\(i\\)",
    )
    await h.execute_update(
        CmeCaseWorkflow.record_la_decision,
        LaDecisionRecord(decision="child_located", by="LA officer", note="on roll in another LA"),
    )
    result: CaseResult = await h.result()
    assert result.outcome is CmeOutcome.CHILD_LOCATED
    outbox = [json.loads(x) for x in settings.mis_outbox.read_text().splitlines()]
    assert [x["value"] for x in outbox if x["kind"] == "case_outcome"] == ["child_located"]


async def test_la_silent_is_chased_keep_on_roll_keeps_waiting(
    dev_env, settings, smtp, fast_worker, start_case
):
    h = await start_case(dev_env.client, make_case(date.today()))
    await until(h, lambda s: s.referred_at is not None, "referral", WHOLE_CASE)
    await until(h, lambda s: any("Decision needed" in x for x in subjects(smtp, LA_CME)), "chase", WHOLE_CASE)
    await h.execute_update(
        CmeCaseWorkflow.record_la_decision, LaDecisionRecord(decision="keep_on_roll", by="LA officer")
    )
    status = await until(h, lambda s: s.stage is CmeStage.REFERRED, "still referred")
    assert status.outcome is None and "LA decision" in status.pending
    await h.execute_update(CmeCaseWorkflow.withdraw, Withdrawal(reason="opened in error", by="T. Hale"))
    result: CaseResult = await h.result()
    assert result.outcome is CmeOutcome.WITHDRAWN
    # The LA hears that the case it was sent is closed.
    assert any("case closed" in x for x in subjects(smtp, LA_CME))


async def test_refusals_change_nothing(dev_env, settings, smtp, fast_worker, start_case):
    h = await start_case(dev_env.client, make_case(date.today()))
    await until(h, lambda s: s.stage is CmeStage.DAY1_CALL and s.next_action_at, "day 1")
    await until_prompted(h)  # the prompt's entry is in before the snapshot
    before = await h.query(CmeCaseWorkflow.chronology_entries)
    await h.execute_update(CmeCaseWorkflow.record_call, CallRecord(outcome="no_answer", by="T"))
    after_first = await h.query(CmeCaseWorkflow.chronology_entries)
    assert len(after_first) == len(before) + 1
    # A second outcome for the same call.
    await refused(
        h.execute_update(CmeCaseWorkflow.record_call, CallRecord(outcome="no_answer", by="T")),
        "Day 1 call outcome is already recorded",
    )
    # Risk: at-risk needs a concern (refused by the model before it reaches the case).
    try:
        RiskAssessment(at_risk=True, by="D")
        raise AssertionError("at-risk without a concern must be refused")
    except ValueError as exc:
        assert "at least one concern" in str(exc)
    await h.execute_update(CmeCaseWorkflow.record_risk, RiskAssessment(at_risk=False, by="D. Lead"))
    # The DSL may record a new assessment at any time; the chronology keeps each one.
    await h.execute_update(CmeCaseWorkflow.record_risk, RiskAssessment(at_risk=False, by="D. Lead"))
    assert "Risk re-assessed: not at risk" in [
        e.what for e in await h.query(CmeCaseWorkflow.chronology_entries)
    ]
    await h.execute_update(CmeCaseWorkflow.record_contact, ParentContact(by="T", reason="rang in"))
    await h.result()
    # An action on a closed case: the workflow has completed, so Temporal refuses it outright.
    try:
        await h.execute_update(CmeCaseWorkflow.withdraw, Withdrawal(reason="late", by="T"))
        raise AssertionError("an update on a closed case must fail")
    except Exception as exc:
        assert "completed" in str(exc).lower() or "closed" in str(exc).lower()
    closed = [e.what for e in await h.query(CmeCaseWorkflow.chronology_entries)]
    assert closed[len(after_first) :].count("Case closed: parent contact") == 1


async def test_every_visit_outcome_takes_its_path(dev_env, settings, smtp, fast_worker, start_case):
    """One case per home-visit outcome, side by side: seen or in contact closes the case; moved
    away or refused access goes to the DSL and on to the referral, where the LA decides (keep on
    roll, then the child found; the child found). Each is recorded for the replay test."""
    paths = {
        "child_seen": [],
        "parent_contact": [],
        "moved_away": ["keep_on_roll", "child_located"],
        "refused_access": ["child_located"],
    }
    handles = {
        outcome: await start_case(dev_env.client, make_case(date.today()), record_as=f"visit_{outcome}")
        for outcome in paths
    }

    async def one(outcome: str, h) -> CaseResult:
        await until(h, lambda s: s.visit_booked_for is not None, "visit booked", WHOLE_CASE)
        await h.execute_update(
            CmeCaseWorkflow.record_visit,
            VisitRecord(outcome=outcome, by="Vic Visitor", spoke_to="a neighbour"),
        )
        if paths[outcome]:  # the LA decides once it has the referral
            await until(h, lambda s: any(h.id in x for x in subjects(smtp, LA_CME)), "referral", WHOLE_CASE)
        for decision in paths[outcome]:
            await h.execute_update(
                CmeCaseWorkflow.record_la_decision,
                LaDecisionRecord(decision=decision, by="LA officer", note=f"LA: {decision}"),
            )
        return await finish(dev_env, h)

    results = dict(zip(handles, await asyncio.gather(*(one(o, h) for o, h in handles.items())), strict=True))
    assert results["child_seen"].outcome is CmeOutcome.CHILD_SEEN
    assert results["parent_contact"].outcome is CmeOutcome.PARENT_CONTACT
    for concerning in ("moved_away", "refused_access"):
        whats = [e.what for e in results[concerning].chronology]
        assert results[concerning].outcome is CmeOutcome.CHILD_LOCATED
        assert any("DSL" in w for w in whats), "\n".join(whats)  # a concerning visit: the DSL
        assert any(w.startswith("Referred to the local authority") for w in whats), "\n".join(whats)
    kept = [e.what for e in results["moved_away"].chronology]
    assert any("keep" in w.lower() and "roll" in w.lower() for w in kept), kept  # waited on after it


async def test_a_referral_on_its_way_when_the_la_decides_is_recorded_as_sent(
    dev_env, settings, smtp, fast_worker, start_case
):
    """The LA records its decision while the referral is still being taken by the mail server
    (held before its "250"): the case lets that message arrive and says it was sent, instead of
    cutting it off, or worse, the LA having it with no line in the record (a CI run saw both)."""
    h = await start_case(dev_env.client, make_case(date.today()), record_as="close_while_referral_sending")
    await until(h, lambda s: s.visit_booked_for is not None, "visit booked", WHOLE_CASE)
    smtp.accept_delay = 2.0  # the LA's mail server is slow to say "250"
    await h.execute_update(CmeCaseWorkflow.record_visit, VisitRecord(outcome="no_answer", by="Vic Visitor"))
    for _ in range(int(4 * WHOLE_CASE)):
        if any(LA_CME in to for to in list(smtp.in_flight)):
            break
        await asyncio.sleep(0.25)
    else:
        raise AssertionError("the referral never reached the mail server")
    await h.execute_update(
        CmeCaseWorkflow.record_la_decision,
        LaDecisionRecord(decision="child_located", by="LA officer", note="on roll elsewhere"),
    )
    result = await finish(dev_env, h)
    smtp.accept_delay = 0.0
    whats = [e.what for e in result.chronology]
    assert result.outcome is CmeOutcome.CHILD_LOCATED
    assert any(h.id in x for x in subjects(smtp, LA_CME)), "the LA's copy of the referral"
    sent = whats.index("Referred to the local authority: CME referral e-mailed")
    assert sent < whats.index("Case closed: child located"), "\n".join(whats)
