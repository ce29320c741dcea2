"""Prompts, alerts and tasks: the e-mails that tell a person what to do next about a case.

Each kind has a template in ``templates/messages/<kind>.txt.j2`` (first line ``Subject: ...``) and
a fixed set of recipients taken from the school directory, so a prompt can never go to someone
the directory does not name. Every prompt ends with the exact ``admin.py`` command that records
each possible outcome, because the fastest way to lose a child is a step nobody wrote down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from whereabouts.activities.advice import AdviceLibrary
from whereabouts.activities.deps import Deps
from whereabouts.activities.letter_library import LetterLibrary
from whereabouts.activities.mail import Mail, send_each
from whereabouts.directory import LocalAuthority, School
from whereabouts.models import CaseInput
from whereabouts.steps import NoticeRequest, Sent
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
    "escalation_not_delivered": ("dsl", "office"),
    "referral_not_delivered": ("dsl", "office"),
    "catch_up": ("office",),
    "outcome_reminder": ("office",),
    "dsl_chase": ("dsl",),
    "dsl_unanswered": ("deputy_dsl", "head", "dsl"),
    "pre_holiday_check": ("dsl",),
    "visit_cancelled": ("visitors", "office"),
    "new_concern": ("dsl",),
    "escalation_revised": ("police", "social_care", "dsl"),
    "escalation_closed": ("police", "social_care", "dsl"),
    "plan_needed": ("dsl", "office"),
    "flagged_absence": ("social_worker",),
    "visit_blind": ("dsl",),
    "visit_hold": ("visitors", "office"),
    "visit_cleared": ("visitors", "office"),
    "la_chase": ("la_cme",),
    "closed_after_referral": ("la_cme", "office"),
    "office_task": ("office",),
    "ten_day_return": ("la_cme", "dsl"),
    "deletion_return": ("la_cme", "dsl"),
}
ROLES = (
    "office",
    "dsl",
    "deputy_dsl",
    "head",
    "visitors",
    "police",
    "social_care",
    "social_worker",
    "virtual_school",
    "la_cme",
    "parents",
)


def recipients(role: str, school: School, la: LocalAuthority, case: CaseInput) -> list[Recipient]:
    """Who ``role`` is for this case, from the directory (or the case's contacts, for parents)."""
    match role:
        case "office":
            return [Recipient("office", f"{school.name} attendance office", str(school.attendance_inbox))]
        case "dsl":
            return [Recipient("dsl", f"the DSL, {school.dsl.name}", str(school.dsl.email), school.dsl.name)]
        case "deputy_dsl" | "head":
            person = school.deputy_dsl if role == "deputy_dsl" else school.head_teacher
            title = "the deputy DSL" if role == "deputy_dsl" else "the head teacher"
            return (
                [Recipient(role, f"{title}, {person.name}", str(person.email), person.name)] if person else []
            )
        case "visitors":
            return [Recipient("visitor", p.name, str(p.email)) for p in school.visit_staff[:2]]
        case "police":
            return [Recipient("police", la.police.name, str(la.police.email))]
        case "social_care":
            return [Recipient("social_care", la.social_care.name, str(la.social_care.email))]
        case "social_worker":  # the child's own, else the LA's children's social care inbox
            if case.social_worker_email:
                return [
                    Recipient("social_worker", "the child's social worker", str(case.social_worker_email))
                ]
            return [
                Recipient(
                    "social_worker",
                    f"{la.social_care.name} (no social worker named)",
                    str(la.social_care.email),
                )
            ]
        case "virtual_school":
            head = la.virtual_school_head
            if head is None:
                return []
            return [
                Recipient(
                    "virtual_school", f"the Virtual School Head, {head.name}", str(head.email), head.name
                )
            ]
        case "la_cme":
            return [Recipient("la_cme", f"{la.name} CME tracking", str(la.cme_inbox))]
        case "parents":
            return [
                Recipient("parent", f"{c.name} ({c.relationship})", str(c.email), c.name, c.language)
                for c in case.contacts
                if c.parental_responsibility and c.email and c.may_be_contacted
            ]
    raise ValueError(f"unknown recipient role {role}")


@dataclass(frozen=True)
class Recipient:
    role: str
    label: str  # as the chronology names them
    address: str
    name: str | None = None  # the display name on the envelope (default: the label)
    language: str | None = None  # a parent's language code: their advice comes in it


class NoticeActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        letters = LetterLibrary(deps.settings.templates_dir / "letters")
        self.advice = AdviceLibrary(deps.settings.templates_dir / "advice", letters)

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

    @staticmethod
    def _advice_data(req: NoticeRequest, school: School, r: Recipient) -> dict[str, Any]:
        return {
            "child_forename": req.case.pupil.forename,
            "school_name": school.name,
            "school_phone": school.phone,
            "school_address": school.address,
            "parent_name": r.name or r.label,
        }

    @activity.defn(name="send_notice")
    async def send_notice(self, req: NoticeRequest) -> list[Sent]:
        """Each recipient's message on its own; what became of each (none: nobody to send to)."""
        roles = req.to or RECIPIENTS.get(req.kind)
        if roles is None or any(r not in ROLES for r in roles):
            raise ApplicationError(f"unknown notice kind or role: {req.kind}", non_retryable=True)
        school = self.deps.directory.school(req.case.school_urn)
        la = self.deps.directory.la_for(req.case.school_urn)
        # The advice to a parent is rendered per parent, in their language (templates/advice/).
        subject, text = ("", "") if req.kind == "parent_advice" else self.render(req)
        mails = []
        for role in roles:
            for r in recipients(role, school, la, req.case):
                parent = r.role == "parent"
                words, body, lang = subject, text, None
                if req.kind == "parent_advice":  # in the parent's own language, then English
                    advice = self.advice.render(r.language, self._advice_data(req, school, r))
                    words, body, lang = advice.subject, advice.text, advice.lang
                mails.append(
                    Mail(
                        to=r.address,
                        to_name=r.name or r.label,
                        role=r.role,
                        label=r.label,
                        # Parents see the school as the sender, and a reply reaches the school.
                        from_name=school.name if parent else None,
                        reply_to=str(school.attendance_inbox) if parent else None,
                        subject=words,
                        text=body,
                        language=lang,
                        step=req.ref.step,
                    )
                )
        return await send_each(self.deps.settings, req.ref.key, mails)
