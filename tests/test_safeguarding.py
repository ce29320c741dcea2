"""Safeguarding branches a DSL would sign off (issue 16), driven as staff drive them.

Time-skipping server, a real worker and a real SMTP server. Each test asserts what reaches the SMTP
server and, as much, what does not: at risk, no standard letter and no routine visit until the
DSL's plan; a new concern always back to the DSL; no visit without a risk assessment; the missing
child path; the flags on Day 1; a contact the school must not contact.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.conftest import finish, refused, school_morning, skip_to, until, until_waiting_for, walk_until
from tests.factories import make_case
from whereabouts.models import (
    CallRecord,
    ChildSeen,
    Contact,
    MissingUpdate,
    ParentContact,
    RiskAssessment,
    SafeguardingPlan,
)
from whereabouts.vocabulary import CmeOutcome, RiskStatus
from whereabouts.workflows.case import CmeCaseWorkflow

OFFICE = "office@testhill.example.org"
DSL = "dsl@testhill.example.org"
PARENT = "parent.one@family.example.net"
SECOND = "parent.two@family.example.net"
POLICE = "hub@police.example.org"
MASH = "mash@testshire.example.gov.uk"
VIC = "vic@testhill.example.org"
VSH = "vsh@testshire.example.gov.uk"
WORKER = "sw.jones@testshire.example.gov.uk"


def subjects(smtp, address: str) -> list[str]:
    return [str(r.message["Subject"]) for r in smtp.to(address)]


def body(received) -> str:
    return received.message.get_body(("plain",)).get_content()


def letters(smtp, address: str) -> list:
    return [r for r in smtp.to(address) if "Please contact" in str(r.message["Subject"])]


async def whats(handle) -> list[str]:
    return [e.what for e in await handle.query(CmeCaseWorkflow.chronology_entries)]


def waiting_for(item: str):
    return lambda s: any(p.startswith(item) for p in s.pending)


async def judged_at_risk(env, h) -> None:
    await until_waiting_for(h, "Day 1 call outcome")
    await h.execute_update(
        CmeCaseWorkflow.record_call, CallRecord(outcome="not_reassured", by="T. Hale", note="uncle answered")
    )
    await until(h, lambda s: s.risk is RiskStatus.REQUESTED, "DSL asked")
    await h.execute_update(
        CmeCaseWorkflow.record_risk,
        RiskAssessment(at_risk=True, concerns=["forced_marriage"], note="sibling taken abroad", by="D. Lead"),
    )


async def test_at_risk_holds_the_letter_and_the_visit_until_the_dsls_plan(
    env, settings, smtp, worker, start_case
):
    h = await start_case(env.client, make_case(await school_morning(env)), record_as="at_risk_plan")
    await judged_at_risk(env, h)
    await walk_until(env, h, lambda s: "held" in (s.next_action or ""), "the letter held")
    assert not letters(smtp, PARENT)  # no "we must tell the council" to the family
    assert "Day 3 letter held: the child is judged at risk; the DSL decides" in await whats(h)
    plan_needed = [r for r in smtp.to(DSL) if "plan is needed" in str(r.message["Subject"])]
    assert plan_needed and "admin.py plan" in body(plan_needed[0])
    await h.execute_update(
        CmeCaseWorkflow.record_plan,
        SafeguardingPlan(
            letter="hold", visit="joint", note="joint visit with MASH on Thursday", by="D. Lead"
        ),
    )
    status = await walk_until(env, h, lambda s: s.visit_booked_for is not None, "the joint visit")
    assert "Safeguarding plan: letter hold, visit joint" in await whats(h)
    assert "Joint visit with police or social care, arranged by the DSL" in await whats(h)
    assert not letters(smtp, PARENT) and not smtp.to(VIC)  # no letter, no routine invitations
    assert status.risk is RiskStatus.ESCALATED
    # Found: police and social care hear how the case they were told of closed.
    await h.signal(CmeCaseWorkflow.child_seen, ChildSeen(by="MIS feed", where="present mark"))
    result = await finish(env, h)
    assert result.outcome is CmeOutcome.CHILD_SEEN
    assert any("case closed" in x for x in subjects(smtp, POLICE))
    assert any("case closed" in x for x in subjects(smtp, MASH))


async def test_a_judgement_of_risk_is_revised_only_with_a_reason_and_not_silently(
    env, settings, smtp, worker, start_case
):
    h = await start_case(env.client, make_case(await school_morning(env)))
    await judged_at_risk(env, h)
    await until(h, lambda s: bool(smtp.to(POLICE)), "police told")
    await refused(
        h.execute_update(CmeCaseWorkflow.record_risk, RiskAssessment(at_risk=False, by="D. Lead")),
        "only the DSL can revise that, with the reason",
    )
    await h.execute_update(
        CmeCaseWorkflow.record_risk,
        RiskAssessment(at_risk=False, note="child safe with grandparents, seen by MASH", by="D. Lead"),
    )
    await until(h, lambda s: any("revised" in x for x in subjects(smtp, POLICE)), "police told of it")
    assert "Risk re-assessed: NOT at risk, revising the at-risk judgement" in await whats(h)
    for _ in range(100):  # the revision's messages all sent before the next test skips time
        if not (await h.describe()).raw_description.pending_activities:
            break
        await asyncio.sleep(0.1)


async def test_a_new_concern_after_not_at_risk_goes_back_to_the_dsl(env, settings, smtp, worker, start_case):
    h = await start_case(env.client, make_case(await school_morning(env)), record_as="new_concern_day2")
    await until_waiting_for(h, "Day 1 call outcome")
    await h.execute_update(
        CmeCaseWorkflow.record_call, CallRecord(outcome="not_reassured", by="T. Hale", note="mother vague")
    )
    await until(h, lambda s: s.risk is RiskStatus.REQUESTED, "DSL asked")
    await h.execute_update(
        CmeCaseWorkflow.record_risk, RiskAssessment(at_risk=False, note="known family", by="D. Lead")
    )
    await walk_until(env, h, waiting_for("Day 2 call outcome"), "Day 2")
    await h.execute_update(
        CmeCaseWorkflow.record_call,
        CallRecord(outcome="not_reassured", by="T. Hale", note="unknown man answered: child has gone away"),
    )
    status = await until(h, lambda s: s.risk is RiskStatus.REQUESTED, "asked again")
    await until(h, lambda s: any("New concern" in x for x in subjects(smtp, DSL)), "the DSL told")
    concern = [r for r in smtp.to(DSL) if "New concern" in str(r.message["Subject"])]
    assert concern and "child has gone away" not in str(concern[0].message["Subject"])
    assert "Whereabouts asks you to assess the child's risk again" in body(concern[0])
    assert any(w.startswith("New concern for the DSL (risk not at risk until now)") for w in await whats(h))
    assert "DSL risk assessment" in " ".join(status.pending)
    await h.signal(CmeCaseWorkflow.child_seen, ChildSeen(by="MIS feed", where="present mark"))
    await finish(env, h)


async def test_no_visit_goes_ahead_without_a_risk_assessment(env, settings, smtp, worker, start_case):
    h = await start_case(
        env.client, make_case(await school_morning(env)), record_as="visit_without_assessment"
    )
    # Nobody records anything; the DSL never answers.
    status = await walk_until(env, h, lambda s: s.visit_booked_for is not None, "visit booked")
    invite = smtp.to(VIC)[0]
    assert "not yet recorded: check with the DSL before visiting" in body(invite)
    await skip_to(env, status.visit_booked_for - timedelta(minutes=59))  # an hour before the slot
    await until(h, lambda s: any("Do NOT go" in x for x in subjects(smtp, VIC)), "visitors held")
    assert any("no risk assessment recorded" in x for x in subjects(smtp, DSL))
    assert "Visit on hold: no risk assessment an hour before it; DSL and visitors told" in await whats(h)
    await h.execute_update(
        CmeCaseWorkflow.record_risk, RiskAssessment(at_risk=False, note="checked with MASH", by="D. Lead")
    )
    await until(h, lambda s: any("may go ahead" in x for x in subjects(smtp, VIC)), "visitors cleared")
    assert status.visit_booked_for is not None
    await h.signal(CmeCaseWorkflow.child_seen, ChildSeen(by="MIS feed", where="present mark"))
    await finish(env, h)


async def test_the_missing_child_path_reads_right(env, settings, smtp, worker, start_case):
    h = await start_case(env.client, make_case(await school_morning(env)), record_as="reported_missing")
    await until_waiting_for(h, "Day 1 call outcome")
    await h.execute_update(
        CmeCaseWorkflow.record_call,
        CallRecord(outcome="missing_parent_concerned", by="T. Hale", note="not home since last night"),
    )
    await until(h, lambda s: any("URGENT" in x for x in subjects(smtp, DSL)), "DSL alerted")
    # The parent rings back: still missing. Recorded; the case stays open; "contact" cannot close it.
    await h.execute_update(
        CmeCaseWorkflow.record_still_missing, MissingUpdate(note="police ref 2207, no news", by="T. Hale")
    )
    await refused(
        h.execute_update(CmeCaseWorkflow.record_contact, ParentContact(reason="rang in", by="T. Hale")),
        "does not close the case",
    )
    status = await walk_until(env, h, waiting_for("Day 2 call outcome"), "Day 2")
    assert status.outcome is None and "Parent: the child is still missing" in await whats(h)
    [day2] = [r for r in smtp.to(OFFICE) if "Day 2 follow-up" in str(r.message["Subject"])]
    assert "told the school that this child is missing" in body(day2)
    assert "has not yet made contact" not in body(day2)
    # Day 3: no "we do not know why... we could not speak to you" letter to that parent.
    await walk_until(env, h, lambda s: "held" in (s.next_action or ""), "the letter held")
    assert not letters(smtp, PARENT)
    assert "Day 3 letter held: the parent reported the child missing; the DSL decides" in await whats(h)
    await h.execute_update(CmeCaseWorkflow.record_seen, ChildSeen(by="T. Hale", where="found at a friend's"))
    assert (await finish(env, h)).outcome is CmeOutcome.CHILD_SEEN


async def test_seen_at_once_cancels_what_is_not_yet_sent(env, settings, smtp, worker, start_case):
    h = await start_case(env.client, make_case(await school_morning(env)))
    await until_waiting_for(h, "Day 1 call outcome")
    smtp.accept_delay = 1.0  # the advice is still with the mail server when the child turns up
    await h.execute_update(
        CmeCaseWorkflow.record_call, CallRecord(outcome="missing_parent_concerned", by="T. Hale")
    )
    await h.execute_update(CmeCaseWorkflow.record_seen, ChildSeen(by="T. Hale", where="walked in at 10:05"))
    await finish(env, h)
    smtp.accept_delay = 0.0
    assert not any("URGENT" in x for x in subjects(smtp, DSL))  # the alert never went
    assert "Case closed: child seen" in await whats(h)


async def test_cp_plan_and_looked_after_flags_act_on_day1(env, settings, smtp, worker, start_case):
    first = await school_morning(env)
    cp = await start_case(
        env.client, make_case(first, flags=["cp_plan"], social_worker_email=WORKER), record_as="flags_day1"
    )
    lac = await start_case(env.client, make_case(first, flags=["looked_after"]))
    for h in (cp, lac):
        await until(h, lambda s: s.risk is RiskStatus.REQUESTED, "DSL asked on Day 1 at once")
    await until(cp, lambda s: bool(smtp.to(WORKER)), "the social worker told")
    await until(lac, lambda s: bool(smtp.to(VSH)) and bool(smtp.to(MASH)), "VSH and social care told")
    assert "child protection plan" in body(smtp.to(WORKER)[0])
    assert "looked after child" in body(smtp.to(VSH)[0])
    assert any(
        w.startswith("Told of the unexplained absence by e-mail: the child's social worker")
        for w in await whats(cp)
    )
    for h in (cp, lac):
        await h.signal(CmeCaseWorkflow.child_seen, ChildSeen(by="MIS feed", where="present mark"))
    await finish(env, cp)
    await asyncio.wait_for(lac.result(), 10)


async def test_a_contact_the_school_must_not_contact_gets_nothing(env, settings, smtp, worker, start_case):
    case = make_case(await school_morning(env))
    barred = Contact(
        name="Sam Testperson",
        relationship="father",
        email=SECOND,
        parental_responsibility=True,
        restriction="court_order",
    )
    case = case.model_copy(update={"contacts": [case.contacts[0], barred]})
    h = await start_case(env.client, case, record_as="contact_restricted")
    await until_waiting_for(h, "Day 1 call outcome")
    prompt = body(smtp.to(OFFICE)[0])
    assert "Sam Testperson (father, parental responsibility): DO NOT CONTACT (court order)" in prompt
    await h.execute_update(
        CmeCaseWorkflow.record_call, CallRecord(outcome="missing_parent_concerned", by="T. Hale")
    )
    await until(h, lambda s: bool(smtp.to(PARENT)), "advice to the mother")
    await h.execute_update(CmeCaseWorkflow.record_seen, ChildSeen(by="T. Hale", where="at home"))
    await finish(env, h)
    assert smtp.to(SECOND) == []  # no advice, no letter, no copy


async def test_a_polish_parent_gets_the_missing_child_advice_in_polish(
    env, settings, smtp, worker, start_case
):
    h = await start_case(env.client, make_case(await school_morning(env), language="pl"))
    await until_waiting_for(h, "Day 1 call outcome")
    await h.execute_update(
        CmeCaseWorkflow.record_call, CallRecord(outcome="missing_parent_concerned", by="T. Hale")
    )
    await until(h, lambda s: bool(smtp.to(PARENT)), "the advice")
    advice = smtp.to(PARENT)[0].message
    assert advice["Content-Language"] == "pl"
    text = advice.get_body(("plain",)).get_content()
    assert text.index("zaginęło") < text.index("Call the police on 101")  # Polish first, then English
    assert " / " in str(advice["Subject"])
    await h.execute_update(CmeCaseWorkflow.record_seen, ChildSeen(by="T. Hale", where="at home"))
    await finish(env, h)
