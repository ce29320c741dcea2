"""The CME referral to the local authority, with the evidence an LA tracking officer needs.

The e-mail carries the fields LA "report a child missing" forms ask for, the DSL's risk appraisal,
the home visit and the full chronology, in words, plus the same as JSON for the LA's systems.
"""

from __future__ import annotations

import json

from temporalio import activity

from whereabouts import metrics
from whereabouts.activities.deps import Deps
from whereabouts.activities.mail import Attachment, Mail, send_each
from whereabouts.directory import LocalAuthority, School
from whereabouts.steps import ReferralRequest, Sent
from whereabouts.times import day, when
from whereabouts.vocabulary import FLAG_LABELS, LaDecision


def referral_text(req: ReferralRequest, school: School, la: LocalAuthority) -> str:
    p = req.case.pupil
    a = req.assessment
    lines = [
        f"{school.name} (URN {school.urn}) reports a child missing from education.",
        f"Why now: {req.reason}",
        "",
        "PUPIL",
        f"  Name:            {p.full_name}",
        f"  Date of birth:   {day(p.date_of_birth)}",
        f"  UPN:             {p.upn}",
        f"  Year group:      {p.year_group}",
        f"  Address:         {', '.join(p.address.lines())}",
        f"  Date last attended: {_last_attended(req)}",
        f"  First day of unexplained absence: {day(req.case.first_day_absent)}",
        "  Flags:           " + (", ".join(FLAG_LABELS[f] for f in p.flags) if p.flags else "none recorded"),
        "",
        "PARENTS AND CONTACTS",
    ]
    for c in req.case.contacts:
        lines.append(
            f"  {c.name} ({c.relationship}{', parental responsibility' if c.parental_responsibility else ''})"
            f": {' / '.join(c.phones) or 'no phone'}; {c.email or 'no e-mail'};"
            f" language {c.language or 'not recorded'}"
        )
    lines += ["", "CONTACT ATTEMPTS (calls, as staff recorded them)"]
    for t in req.attempts:
        number = f", rang {t.number}" if t.number else ""
        note = f"; {t.note}" if t.note else ""
        lines.append(f"  {when(t.at)}  {t.label} by {t.by}{number}: {t.outcome}{note}")
    if not req.attempts:
        lines.append("  No call outcome was recorded.")
    lines += ["", "LETTER (Day 3)"]
    lines += _letter_lines(req)
    lines += ["", "WHO ELSE HAS BEEN TOLD"]
    lines += [f"  {t}" for t in req.told] or ["  Nobody outside the school has been told by Whereabouts."]
    lines += ["", "DSL RISK APPRAISAL"]
    if a is None:
        lines.append("  No risk assessment recorded.")
    else:
        lines.append(f"  {'AT RISK' if a.at_risk else 'Not at risk'} (by {a.by})")
        if a.concerns:
            lines.append("  Concerns: " + ", ".join(c.words for c in a.concerns))
        if a.note:
            lines.append(f"  Reasoning: {a.note}")
    lines += ["", "HOME VISIT"]
    if req.visit_booking is None:
        lines.append("  Not booked.")
    else:
        lines.append(
            f"  Booked for {when(req.visit_booking.slot)}; visiting: " + ", ".join(req.visit_booking.staff)
        )
        if req.visit:
            lines.append(f"  Outcome: {req.visit.outcome.words} (recorded by {req.visit.by})")
            lines.append(f"  Spoke to: {req.visit.spoke_to or 'not recorded'}")
            if req.visit.note:
                lines.append(f"  Note: {req.visit.note}")
        else:
            lines.append("  No outcome recorded.")
    lines += ["", "CHRONOLOGY"]
    for e in req.chronology:
        lines.append(f"  {when(e.at)}  {e.what}  [{e.by}]" + (f"\n      {e.detail}" if e.detail else ""))
    lines += [
        "",
        "Please tell the school your decision. The school records it with:",
        f'  python admin.py la-decision {req.ref.case_id} DECISION --note "YOUR NOTE"',
        f"Decisions: {', '.join(d.value for d in LaDecision)}",
        f"School contact: {school.dsl.name}, {school.dsl.email}, {school.phone}",
    ]
    return "\n".join(lines) + "\n"


def _last_attended(req: ReferralRequest) -> str:
    if req.last_attended is None:
        return "not known"
    if req.last_attended_assumed:
        return f"{day(req.last_attended)} (assumed: the school day before the first absence)"
    return day(req.last_attended)


def _letter_lines(req: ReferralRequest) -> list[str]:
    letter = req.letter
    if letter is None:
        return ["  No letter has gone."]
    lines = []
    for s in letter.sent:
        if s.role == "parent":
            how = "e-mailed" if s.accepted else f"NOT delivered by e-mail ({s.refused})"
            lines.append(f"  {s.to_label}: {how}, in {letter.language_words}")
    lines += [f"  Print-ready copy to the office to post: {p}" for p in letter.posted]
    if letter.deadline:
        lines.append(f"  Deadline given to the family: {when(letter.deadline)}")
    return lines


class ReferralActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn(name="file_referral")
    @metrics.referral_filed
    async def file_referral(self, req: ReferralRequest) -> list[Sent]:
        school = self.deps.directory.school(req.case.school_urn)
        la = self.deps.directory.la_for(req.case.school_urn)
        text = referral_text(req, school, la)
        data = json.dumps(
            {
                "case_id": req.ref.case_id,
                "school": {"urn": school.urn, "name": school.name},
                "case": req.case.model_dump(mode="json"),
                "last_attended": req.last_attended.isoformat() if req.last_attended else None,
                "last_attended_assumed": req.last_attended_assumed,
                "contact_attempts": [a.model_dump(mode="json") for a in req.attempts],
                "letter": req.letter.model_dump(mode="json", exclude={"message_ids"}) if req.letter else None,
                "told": req.told,
                "risk_assessment": req.assessment.model_dump(mode="json") if req.assessment else None,
                "home_visit": {
                    "booking": req.visit_booking.model_dump(mode="json") if req.visit_booking else None,
                    "outcome": req.visit.model_dump(mode="json") if req.visit else None,
                },
                "chronology": [e.model_dump(mode="json") for e in req.chronology],
            },
            indent=2,
            ensure_ascii=False,
        ).encode()
        subject = f"CME referral: case {req.ref.case_id} from {school.name} (URN {school.urn})"
        attachment = Attachment(filename="cme-referral.json", content_type="application/json", data=data)
        mails = [
            Mail(
                to=str(la.cme_inbox),
                to_name=f"{la.name} CME tracking",
                role="la_cme",
                subject=subject,
                text=text,
                attachments=[attachment],
                step=req.ref.step,
            ),
            Mail(
                to=str(school.dsl.email),
                to_name=school.dsl.name,
                role="dsl",
                label=f"the DSL, {school.dsl.name}",
                subject="Copy: " + subject,
                text=text,
                step=req.ref.step,
            ),
        ]
        return await send_each(self.deps.settings, req.ref.key, mails)
