"""Whole cases with mail refused and steps failing, on the dev server with the compressed clock
(a school day in 1.5 s): every failure visible and routed, the case running on to its referral.

The time-skipping server cannot carry these: it hangs on updates after a long skip.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from temporalio.client import WorkflowExecutionStatus

from tests.conftest import FAST_DAY_SECONDS, until
from tests.factories import make_case
from whereabouts.models import CallRecord, ChildSeen, Contact, RiskAssessment, SafeguardingPlan, VisitRecord
from whereabouts.search import CME_ATTENTION
from whereabouts.times import when
from whereabouts.vocabulary import CmeOutcome, RiskStatus
from whereabouts.workflows.case import CmeCaseWorkflow

OFFICE = "office@testhill.example.org"
DSL = "dsl@testhill.example.org"
PARENT = "parent.one@family.example.net"
SECOND = "parent.two@family.example.net"
POLICE = "hub@police.example.org"
MASH = "mash@testshire.example.gov.uk"
LA_CME = "cme@testshire.example.gov.uk"
VIC = "vic@testhill.example.org"
WHOLE_CASE = 15 * FAST_DAY_SECONDS + 20


def body(received) -> str:
    return received.message.get_body(("plain",)).get_content()


def subjects(smtp, address: str) -> list[str]:
    return [str(r.message["Subject"]) for r in smtp.to(address)]


async def whats(handle) -> list[str]:
    return [e.what for e in await handle.query(CmeCaseWorkflow.chronology_entries)]


async def test_refused_office_police_and_parent_still_reach_the_referral_every_failure_routed(
    dev_env, settings, smtp, fast_worker, start_case
):
    for address in (OFFICE, POLICE, PARENT):
        smtp.refuse[address] = "550 5.1.1 mailbox unavailable"
    case = make_case(date.today(), language="pl")
    second = Contact(name="Sam Testperson", relationship="father", email=SECOND, parental_responsibility=True)
    case = case.model_copy(update={"contacts": [case.contacts[0], second]})
    h = await start_case(dev_env.client, case)
    await until(h, lambda s: s.next_action_at is not None, "day 1")
    await h.execute_update(
        CmeCaseWorkflow.record_call, CallRecord(outcome="not_reassured", by="T. Hale", note="evasive")
    )
    await until(h, lambda s: s.risk is RiskStatus.REQUESTED, "DSL asked")
    await h.execute_update(
        CmeCaseWorkflow.record_risk,
        RiskAssessment(at_risk=True, concerns=["domestic_abuse"], note="open CP plan", by="D. Lead"),
    )
    # The DSL's plan lets the routine letter and visit go ahead (they are held until it is recorded).
    await h.execute_update(
        CmeCaseWorkflow.record_plan,
        SafeguardingPlan(letter="send", visit="school", note="risk is outside the home", by="D. Lead"),
    )
    status = await until(h, lambda s: s.referred_at is not None, "referral", WHOLE_CASE)
    for _ in range(60):  # the referral's chronology entry follows the mail server's answer
        if any(e.startswith("Referred to the local authority") for e in await whats(h)):
            break
        await asyncio.sleep(0.25)

    assert (await h.describe()).status is WorkflowExecutionStatus.RUNNING  # never FAILED
    entries = await whats(h)
    for must in (
        "NOT delivered: Day 1 call prompt to Test Hill Primary attendance office",
        "ESCALATION NOT DELIVERED: police have NOT been told",
        "Children's social care notified by e-mail: child at risk",
        "NOT delivered: Day 3 letter to Grace Testperson (mother)",
        "Day 3 letter e-mailed to Sam Testperson (father)",
        "NOT delivered: home visit invitation to Test Hill Primary attendance office",
        "Referred to the local authority: CME referral e-mailed",
    ):
        assert must in entries or any(e.startswith(must) for e in entries), (must, entries)
    assert not any(e.startswith("Police notified") for e in entries)
    # Routed: the office's inbox refuses, so the DSL gets the office's tasks, the letter to post
    # (naming the refused parent address) among them, and the urgent escalation notice.
    dsl = subjects(smtp, DSL)
    assert any("NOT told" in x for x in dsl)
    letter_task = next(r for r in smtp.to(DSL) if "Day 3 letter tasks" in str(r.message["Subject"]))
    assert (
        "Day 3 letter: print-ready copy for posting sent to the DSL (the office inbox refused it)" in entries
    )
    assert f"the mail server refused {PARENT}" in body(letter_task)
    assert [a.get_filename() for a in letter_task.message.iter_attachments()] == [
        "day3-letter-contact1-pl.pdf"
    ]
    assert smtp.to(SECOND) and smtp.to(MASH) and smtp.to(VIC)
    assert not smtp.to(OFFICE) and not smtp.to(POLICE) and not smtp.to(PARENT)
    # Visible where staff and operators look.
    assert any(p.startswith("URGENT: police NOT told") for p in status.pending)
    assert any(a.startswith("not delivered: Day 3 letter to parent") for a in status.attention)
    attention = (await h.describe()).typed_search_attributes.get(CME_ATTENTION) or []
    assert {"undelivered", "escalation_not_delivered"} <= set(attention)
    # The referral tells the LA the truth about who was told.
    referral = body(smtp.to(LA_CME)[0])
    assert "Testshire MASH (children's social care): safeguarding referral e-mailed" in referral
    assert "Grace Testperson (mother): NOT delivered by e-mail" in referral
    await h.signal(CmeCaseWorkflow.child_seen, ChildSeen(by="MIS", where="returned"))
    assert (await h.result()).outcome is CmeOutcome.CHILD_SEEN


async def test_the_referral_carries_last_attended_every_call_and_who_the_visitors_spoke_to(
    dev_env, settings, smtp, fast_worker, start_case
):
    last = date.today() - timedelta(days=14)
    told = make_case(date.today()).model_copy(update={"last_attended": last})
    assumed = make_case(date.today())
    h = await start_case(dev_env.client, told)
    other = await start_case(dev_env.client, assumed)
    await until(h, lambda s: s.next_action_at is not None, "day 1")
    rang_at = datetime.now(UTC) - timedelta(minutes=3)
    await h.execute_update(
        CmeCaseWorkflow.record_call,
        CallRecord(outcome="no_answer", at=rang_at, number="07700 900123", note="voicemail", by="T. Hale"),
    )
    await until(h, lambda s: s.visit_booked_for is not None, "visit booked", WHOLE_CASE)
    await h.execute_update(
        CmeCaseWorkflow.record_visit,
        VisitRecord(outcome="no_answer", spoke_to="neighbour at no. 9", note="curtains drawn", by="Vic"),
    )
    await until(h, lambda s: s.referred_at is not None, "referral", WHOLE_CASE)
    await until(other, lambda s: s.referred_at is not None, "referral", WHOLE_CASE)
    await until(h, lambda s: len(smtp.to(LA_CME)) >= 2, "both referrals e-mailed")
    mine, theirs = (
        next(body(r) for r in smtp.to(LA_CME) if c.id in str(r.message["Subject"]))
        for c in (h, other)  # the subject names the case, never the pupil's UPN
    )
    assert f"  Date last attended: {last.strftime('%a %-d %b %Y')}" in mine.splitlines()
    assert "(assumed: the school day before the first absence)" in theirs
    assert "CONTACT ATTEMPTS" in mine
    assert f"{when(rang_at)}  Day 1 call by T. Hale, rang 07700 900123: no answer; voicemail" in mine
    assert "Spoke to: neighbour at no. 9" in mine
    assert "Grace Testperson (mother): e-mailed, in English" in mine
    for handle in (h, other):
        await handle.signal(CmeCaseWorkflow.child_seen, ChildSeen(by="MIS", where="returned"))


async def test_a_step_stuck_retrying_is_shown_then_clears(dev_env, settings, smtp, fast_worker, start_case):
    settings.var_dir.parent.mkdir(parents=True, exist_ok=True)
    settings.var_dir.write_text("not a folder")  # the MIS outbox cannot be written
    h = await start_case(dev_env.client, make_case(date.today()))
    await until(h, lambda s: s.next_action_at is not None, "day 1")
    call = asyncio.create_task(
        h.execute_update(
            CmeCaseWorkflow.record_call, CallRecord(outcome="safe_with_parent", reason="flu", by="T. Hale")
        )
    )
    status = await until(h, lambda s: any("MIS write-back retrying" in p for p in s.pending), "shown", 20)
    assert "retrying" in ((await h.describe()).typed_search_attributes.get(CME_ATTENTION) or [])
    assert not any("@" in p for p in status.pending)  # the note names the step, never a person
    settings.var_dir.unlink()  # the disk is fixed
    await asyncio.wait_for(call, 30)
    result = await asyncio.wait_for(h.result(), 30)
    assert result.outcome is CmeOutcome.EXPLAINED_ABSENCE
    assert any(e.what == "Outcome done after retrying" for e in result.chronology)
