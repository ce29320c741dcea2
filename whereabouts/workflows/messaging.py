"""How a case sends, and what it writes down about each message.

The record is evidence: a chronology entry says someone was told only once the mail server took
the message. A message refused for good never ends the case: it is written down (what, to whom by
role, why), shown where staff and operators look, and sent another way, as a task for the office
naming the address that failed (or for the DSL, when the office's own inbox is the one refusing).
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from whereabouts.activities.mis import MisActivities
    from whereabouts.activities.notices import NoticeActivities
    from whereabouts.models import RiskAssessment
    from whereabouts.steps import MisBatch, MisLine, NoticeRequest, Sent
    from whereabouts.times import short

from whereabouts.workflows.activity_calls import mail_activity, quick_activity, quick_local_activity
from whereabouts.workflows.gate import Gate
from whereabouts.workflows.state import SYSTEM

T = TypeVar("T")

# What each notice is, as a chronology entry or an office task names it.
NOTICE_WORDS = {
    "day1_call": "Day 1 call prompt",
    "day1_callback": "call-back prompt",
    "day2_call": "Day 2 call prompt",
    "risk_assessment_request": "risk assessment request",
    "missing_child_alert": "missing-child alert",
    "parent_advice": "missing-child advice",
    "safeguarding_escalation": "safeguarding referral",
    "escalation_not_delivered": "notice that the escalation was not delivered",
    "referral_not_delivered": "notice that the referral was not delivered",
    "la_chase": "chase to the LA",
    "closed_after_referral": "closing notice to the LA",
    "office_task": "office task",
    "ten_day_return": "10-day return",
    "deletion_return": "deletion return",
}


class Messaging(Gate):
    """Sends prompts, alerts and tasks; accounts for every message; writes MIS lines."""

    async def _tracked(self, step: str, sending: Awaitable[T], *, mail: bool = True) -> T:
        """Await an activity; however it ends, its "waiting for the mail server" (or "retrying")
        note goes, and the chronology says when the wait ended."""
        if mail:
            self.sending.add(step)
        try:
            result = await sending
        except BaseException:
            self._delay_over(step, done=False, mail=mail)
            raise
        finally:
            self.sending.discard(step)
        self._delay_over(step, done=True, mail=mail)
        return result

    def _delay_over(self, step: str, *, done: bool, mail: bool) -> None:
        if self.delays.pop(step, None) is None:
            return
        since = short(self.delay_since.pop(step))
        what = step.replace("_", " ")
        if mail and done:
            self._log(f"Mail for {what} went out after a delay", SYSTEM, f"waiting since {since}")
        elif mail:
            self._log(f"Mail for {what} stopped waiting for the mail server", SYSTEM, f"since {since}")
        else:
            self._log(f"{what.capitalize()} {'done' if done else 'stopped'} after retrying", SYSTEM, since)
        self._publish()

    async def _notice(
        self,
        kind: str,
        summary: str,
        *,
        due_at: datetime | None = None,
        facts: dict[str, str] | None = None,
        assessment: RiskAssessment | None = None,
        step: str | None = None,
        to: list[str] | None = None,
        route: bool = True,
    ) -> list[Sent]:
        """E-mail the people the directory names for this kind of notice; account for each message.

        ``route``: send a refused message another way (an office task). A caller that routes it
        itself (an escalation, the advice) says False.
        """
        req = NoticeRequest(
            ref=self._ref(step or kind),
            kind=kind,
            case=self.case,
            due_at=due_at,
            facts=facts or {},
            assessment=assessment,
            to=to,
        )
        sent = await self._tracked(
            step or kind, mail_activity(NoticeActivities.send_notice, req, summary=summary)
        )
        await self._account(NOTICE_WORDS.get(kind, kind.replace("_", " ")), sent, route=route)
        return sent

    async def _account(self, what: str, sent: list[Sent], *, route: bool = True) -> None:
        """Write down each message the server refused, show it, and (``route``) send it another way."""
        dsl_has_it = any(s.accepted and s.role == "dsl" for s in sent)
        for s in sent:
            if s.accepted:
                continue
            self._log(f"NOT delivered: {what} to {s.to_label}", SYSTEM, f"{s.address} refused: {s.refused}")
            self.undelivered.append(f"{what} to {s.role.replace('_', ' ')} ({s.refused})")
            self._publish()
            if route and not (s.role == "office" and dsl_has_it):  # the DSL has this one already
                await self._office_task(
                    f"could not deliver the {what} to {s.to_label}",
                    f"The mail server refused the {what} to {s.to_label} ({s.address}): {s.refused}.\n"
                    "Please give them the message another way (phone them), and correct the address "
                    "in the MIS or the school directory.",
                    office_refused=s.role == "office",
                )

    async def _office_task(self, title: str, body: str, *, office_refused: bool = False) -> bool:
        """Something a person in the office must do by hand. If the office inbox refuses it (or
        is the one that refused), the DSL gets it; True if someone's mail server took it."""
        for to, who in ((["office"], "Office"), (["dsl"], "DSL")):
            if office_refused and to == ["office"]:
                continue
            sent = await self._notice(
                "office_task",
                f"{who} task: {title}",
                facts={"title": title, "body": body},
                step=f"task_{len(self.chronology)}",
                to=to,
                route=False,
            )
            if any(s.accepted for s in sent):
                self._log(f"{who} task e-mailed: {title}", SYSTEM)
                return True
        self._log(f"Task could not be e-mailed to the office or the DSL: {title}", SYSTEM)
        return False

    async def _mis(self, step: str, lines: list[MisLine], *, local: bool = False) -> None:
        """Lines for the school's MIS (mark changes, reasons, the outcome), written together;
        ``local``: by the worker within this workflow task (``quick_local_activity``)."""
        if not lines:
            return
        batch = MisBatch(
            ref=self._ref(step),
            school_urn=self.case.school_urn,
            upn=self.case.pupil.upn,
            mis_pupil_id=getattr(self.case, "mis_pupil_id", None),
            lines=lines,
            at=workflow.now(),
        )
        kinds = sorted({line.kind.replace("_", " ") for line in lines})
        summary = f"Record in the MIS: {', '.join(kinds)}"
        call = quick_local_activity if local else quick_activity
        await self._tracked(step, call(MisActivities.record_in_mis, batch, summary=summary), mail=False)

    async def _mis_note(self, step: str, kind: str, value: str, comment: str | None) -> None:
        """One case line (``case_outcome`` or ``note``) for the pupil's MIS record."""
        await self._mis(step, [MisLine(step=step, kind=kind, value=value, comment=comment)])

    def _accepted(self, sent: list[Sent], role: str) -> list[Sent]:
        return [s for s in sent if s.accepted and s.role == role]
