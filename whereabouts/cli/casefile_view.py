"""How ``admin.py`` shows cases to staff: the case list, one case file, and its timeline.

It sits beside the staff script, its only user, and apart from its commands, so the words and
layout can change without touching how cases are found or changed. Times are shown in school time
(Europe/London), because staff read them against the school day; JSON carries UTC ISO 8601,
because scripts compare them.

The case list is built from search attributes only, which hold no personal data, so a list can be
printed, pasted or e-mailed without naming a child. A case that is not running normally (its run
ended badly, or its ``CmeAttention`` holds a reason) is listed first, with why, so that nothing
leaves the list unseen. The case file is for staff and names the pupil and the contacts they need
to phone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from whereabouts.directory import Directory
from whereabouts.models import CaseInput, CaseStatus, ChronologyEntry, Contact
from whereabouts.schooldays import SchoolCalendar, is_bank_holiday
from whereabouts.times import LONDON, day, iso, when
from whereabouts.vocabulary import OPERATOR_ATTENTION, Attention

# How a run that did not end by the procedure ended (its execution status, lower case): an
# operator must look, since no step of the procedure will move the case on.
ENDED_BADLY = frozenset({"failed", "terminated", "timed_out", "canceled"})
FORTNIGHT = 14  # days without one school day in the directory: its terms are missing, count weekdays
# Each CmeAttention reason as the NEEDS column says it, after "operator:" or "staff:".
ATTENTION_WORDS: dict[str, str] = {
    Attention.UNDELIVERED: "message not delivered",
    Attention.ESCALATION_NOT_DELIVERED: "escalation not delivered",
    Attention.REFERRAL_NOT_DELIVERED: "referral not delivered",
    Attention.ADVICE_NOT_GIVEN: "advice not given",
    Attention.RETRYING: "step retrying",
    Attention.CALENDAR: "school calendar assumed",
    Attention.STOPPED: "procedure stopped",
}


# --------------------------------------------------------------------------------------------
# The case list
# --------------------------------------------------------------------------------------------
class CaseRow(BaseModel):
    """One line of ``admin.py cases``: search attributes and execution facts, no personal data."""

    case_id: str
    run_id: str
    school_urn: str | None = None
    stage: str | None = None
    risk: str | None = None
    next_action: str | None = None
    next_action_at: datetime | None = None
    overdue: bool = False
    opened_at: datetime
    days_open: int  # school days since Day 1 (Day 1 is 0)
    school_day: int | None = None  # a running case's own count, from its status query
    status: str
    outcome: str | None = None
    attention: list[str] = []  # the CmeAttention search attribute's values
    latest: bool = True  # the newest run of its workflow ID (an older one is history)

    @property
    def needs(self) -> list[str]:
        """Who must look and why: 'operator: terminated', 'staff: escalation not delivered'."""
        out = [f"operator: {self.status.replace('_', ' ')}"] if self.ended_badly else []
        # A case closed by its procedure (or an older run) needs nobody, whatever it last said.
        for reason in self.attention if self.status == "running" or self.ended_badly else []:
            who = "operator" if reason in OPERATOR_ATTENTION else "staff"
            out.append(f"{who}: {ATTENTION_WORDS.get(reason, reason.replace('_', ' '))}")
        return sorted(out, key=lambda n: not n.startswith("operator:"))

    @property
    def ended_badly(self) -> bool:
        return self.latest and self.status in ENDED_BADLY

    def as_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude={"latest", "school_day"})
        data["next_action_at"] = iso(self.next_action_at)
        data["opened_at"] = iso(self.opened_at)
        data["needs"] = self.needs
        return data


def school_days_since(directory: Directory | None, urn: str | None, first: date, end: date) -> int:
    """School days from Day 1 (the first school day on or after ``first``) to ``end``: 0 on Day 1.

    Counted on the school's calendar in the directory; on weekdays less bank holidays where the
    school is not in it, the directory cannot be read, or its term dates give no school day in
    the whole of that time (as a case does when its school's calendar cannot give it days).
    """
    days = [first + timedelta(days=n) for n in range((end - first).days + 1)]
    if directory is not None and urn is not None and directory.has_school(urn):
        calendar = SchoolCalendar(directory.school(urn))
        own = [d for d in days if calendar.is_school_day(d)]
        if own or len(days) <= FORTNIGHT:
            return max(len(own) - 1, 0)
    weekdays = [d for d in days if d.weekday() < 5 and not is_bank_holiday(d)]
    return max(len(weekdays) - 1, 0)


def sort_rows(rows: list[CaseRow]) -> list[CaseRow]:
    """For an operator first, then for staff, then overdue; then earliest next action first,
    cases with nothing due last."""
    far = datetime.max.replace(tzinfo=UTC)

    def who(r: CaseRow) -> int:
        needs = r.needs
        if any(n.startswith("operator:") for n in needs):
            return 0
        return 1 if needs else 2 if r.overdue else 3

    return sorted(rows, key=lambda r: (who(r), r.next_action_at or far, r.opened_at, r.case_id))


def case_table(rows: Sequence[CaseRow], *, show_outcome: bool = False) -> str:
    """An aligned plain-text table: it must read well in a terminal and in an e-mail."""
    headers = ["CASE", "SCHOOL", "STAGE", "RISK", "NEXT ACTION", "DUE", "DAYS OPEN"]
    if show_outcome:
        headers.append("OUTCOME")
    headers.append("NEEDS")
    lines = []
    for r in rows:
        due = when(r.next_action_at, year=False)
        if r.overdue:
            due += " OVERDUE"
        cells = [
            r.case_id,
            r.school_urn or "-",
            r.stage or "-",
            r.risk or "-",
            r.next_action or "-",
            due,
            str(r.days_open),
        ]
        if show_outcome:
            cells.append(r.outcome or "-")
        cells.append("; ".join(r.needs) or "-")
        lines.append(cells)
    widths = [max(len(h), *(len(c[i]) for c in lines)) if lines else len(h) for i, h in enumerate(headers)]
    out = [headers, *lines]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in out)


# --------------------------------------------------------------------------------------------
# One case file
# --------------------------------------------------------------------------------------------
def pupil_json(case: CaseInput | None) -> dict[str, Any] | None:
    """Who the case is about and who to phone: for staff only, never in the case list."""
    if case is None:
        return None
    p = case.pupil
    return {
        "upn": p.upn,
        "name": p.full_name,
        "year_group": p.year_group,
        "flags": [f.value for f in p.flags],
        "address": p.address.lines(),
        "mis_pupil_id": case.mis_pupil_id,
        "first_day_absent": case.first_day_absent.isoformat(),
        "last_attended": case.last_attended.isoformat() if case.last_attended else None,
        "social_worker_email": case.social_worker_email,
        "contacts": [
            {
                "name": c.name,
                "relationship": c.relationship,
                "phones": c.phones,
                "email": c.email,
                "language": c.language,
                "parental_responsibility": c.parental_responsibility,
                "may_be_contacted": c.may_be_contacted,
                "restriction": c.restriction.value if c.restriction else None,
                "address": c.address.lines() if c.address else None,
            }
            for c in case.contacts
        ],
    }


def contact_line(c: Contact) -> str:
    """One contact as staff read it. A contact the school must not contact says so first, and
    without the numbers: nobody rings them by mistake from this screen (nor from a prompt)."""
    who = f"{c.name} ({c.relationship})"
    if c.restriction is not None:
        bits = [who, f"DO NOT CONTACT: {c.restriction.words}"]
    else:
        bits = [who, ", ".join(c.phones) or "no phone"]
        if c.email:
            bits.append(str(c.email))
        if c.language and c.language.lower() not in ("en", "eng"):
            bits.append(f"language {c.language}")
    if not c.parental_responsibility:
        bits.append("no parental responsibility")
    if c.address is not None:
        bits.append(f"lives at {', '.join(c.address.lines())}")
    return "; ".join(bits)


def casefile_json(
    status: CaseStatus, chronology: list[ChronologyEntry], case: CaseInput | None
) -> dict[str, Any]:
    return {
        "status": status.model_dump(mode="json"),
        "pupil": pupil_json(case),
        "chronology": [e.model_dump(mode="json") for e in chronology],
    }


def casefile(
    status: CaseStatus, chronology: list[ChronologyEntry], case: CaseInput | None, now: datetime
) -> str:
    """The case as staff read it: who, where it stands, what is due, then what has happened."""
    s = status
    lines = [f"Case {s.case_id}   school {s.school_urn}, opened {when(s.opened_at)}"]
    if case is not None:
        p = case.pupil
        flags = f" ({', '.join(f.value for f in p.flags)})" if p.flags else ""
        lines.append(f"Pupil:           {p.full_name}, year {p.year_group}{flags}")
        lines.append(f"Address:         {', '.join(p.address.lines())}")
        for n, c in enumerate(case.contacts):
            lines.append(f"{'Contacts:' if n == 0 else '':<17}{contact_line(c)}")
        if case.social_worker_email:
            lines.append(f"Social worker:   {case.social_worker_email}")
        last = day(case.last_attended) if case.last_attended else "not sent by the MIS"
        lines.append(f"Last attended:   {last} (first day absent {day(case.first_day_absent)})")
    next_line = "-"
    if s.next_action:
        next_line = s.next_action
        if s.next_action_at:
            next_line += f", by {when(s.next_action_at)}"
            if s.next_action_at < now:
                next_line += " (OVERDUE)"
    lines += [
        f"Stage:           {s.stage.value} (school day {s.school_day})",
        f"Risk:            {s.risk.words}",
        f"Next action:     {next_line}",
        f"Letter deadline: {when(s.letter_deadline)}",
        f"Home visit:      {when(s.visit_booked_for)}",
        f"Referred to LA:  {when(s.referred_at)}",
        f"Register:        {s.register_days} continuous school days coded G, N or O (from the marks)",
        f"10-day return:   {when(s.ten_day_return_at) if s.ten_day_return_at else 'not yet'}",
        f"Enquiries:       {', '.join(s.enquiries) or 'none ticked'}",
        *(f"{'Before deletion:' if n == 0 else '':<17}{need}" for n, need in enumerate(s.deletion_needs)),
        f"Waiting for:     {'; '.join(s.pending) or '-'}",
        *(f"{'Needs attention:' if n == 0 else '':<17}{line}" for n, line in enumerate(s.attention or ["-"])),
        f"Outcome:         {s.outcome.words if s.outcome else '-'}",
        "",
        "Chronology",
        *timeline(chronology),
    ]
    return "\n".join(lines)


def timeline(chronology: Sequence[ChronologyEntry]) -> list[str]:
    """Entries grouped under their school-time date: what, who, then any detail indented."""
    lines: list[str] = []
    shown: date | None = None
    for e in chronology:
        local = e.at.astimezone(LONDON)
        if local.date() != shown:
            shown = local.date()
            lines.append(f"  {day(shown)}")
        lines.append(f"    {local.strftime('%H:%M')}  {e.what}  [{e.by}]")
        if e.detail:
            lines.append(f"           {e.detail}")
    return lines or ["  (nothing recorded)"]
