"""Prompts, alerts and tasks: the e-mails that tell a person what to do next about a case.

Each kind has a template in ``templates/messages/<kind>.txt.j2`` (first line ``Subject: ...``) and
a fixed set of recipients taken from the school directory, so a prompt can never go to someone
the directory does not name. Every prompt ends with the exact ``admin.py`` command that records
each possible outcome, because the fastest way to lose a child is a step nobody wrote down.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from whereabouts.activities.deps import Deps
from whereabouts.activities.mail import Mail, send_all
from whereabouts.directory import LocalAuthority, School
from whereabouts.steps import NoticeRequest, NoticeResult
from whereabouts.vocabulary import FLAG_LABELS, CallOutcome, LaDecision, RiskConcern, VisitOutcome

# Who receives each kind. "parents": every contact with parental responsibility and an e-mail.
RECIPIENTS: dict[str, tuple[str, ...]] = {
    "day1_call": ("office",),
    "day1_callback": ("office",),
    "day2_call": ("office",),
    "risk_assessment_request": ("dsl",),
    "missing_child_alert": ("dsl", "office"),
    "parent_advice": ("parents",),
    "safeguarding_escalation": ("police", "social_care", "dsl"),
    "la_chase": ("la_cme",),
    "closed_after_referral": ("la_cme", "office"),
    "office_task": ("office",),
}


def _recipients(role: str, school: School, la: LocalAuthority, req: NoticeRequest) -> list[tuple[str, str]]:
    match role:
        case "office":
            return [(f"{school.name} attendance office", str(school.attendance_inbox))]
        case "dsl":
            return [(school.dsl.name, str(school.dsl.email))]
        case "police":
            return [(la.police.name, str(la.police.email))]
        case "social_care":
            return [(la.social_care.name, str(la.social_care.email))]
        case "la_cme":
            return [(f"{la.name} CME tracking", str(la.cme_inbox))]
        case "parents":
            return [
                (c.name, str(c.email)) for c in req.case.contacts if c.parental_responsibility and c.email
            ]
    raise ValueError(f"unknown recipient role {role}")


class NoticeActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def render(self, req: NoticeRequest) -> tuple[str, str]:
        school = self.deps.directory.school(req.case.school_urn)
        template = self.deps.messages.get_template(f"{req.kind}.txt.j2")
        text = template.render(
            case=req.case,
            pupil=req.case.pupil,
            school=school,
            la=self.deps.directory.la_for(req.case.school_urn),
            case_id=req.ref.case_id,
            due_at=req.due_at,
            facts=req.facts,
            assessment=req.assessment,
            flag_labels=FLAG_LABELS,
            call_outcomes=list(CallOutcome),
            visit_outcomes=list(VisitOutcome),
            la_decisions=list(LaDecision),
            concerns=list(RiskConcern),
        )
        first, _, body = text.partition("\n")
        if not first.startswith("Subject:"):
            raise ValueError(f"template {req.kind}.txt.j2 must start with 'Subject:'")
        return first.removeprefix("Subject:").strip(), body.lstrip("\n")

    @activity.defn(name="send_notice")
    async def send_notice(self, req: NoticeRequest) -> NoticeResult:
        if req.kind not in RECIPIENTS:
            raise ApplicationError(f"unknown notice kind {req.kind}", non_retryable=True)
        school = self.deps.directory.school(req.case.school_urn)
        la = self.deps.directory.la_for(req.case.school_urn)
        subject, text = self.render(req)
        mails = [
            Mail(to=addr, to_name=name, subject=subject, text=text, step=req.ref.step)
            for role in RECIPIENTS[req.kind]
            for name, addr in _recipients(role, school, la, req)
        ]
        ids = await send_all(self.deps.settings, req.ref.key, mails, step=req.ref.step)
        return NoticeResult(sent=len(ids), message_ids=ids)
