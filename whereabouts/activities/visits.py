"""Booking the Day 5/6 home visit: the two visiting staff get an e-mail with a calendar invite.

The invite is an iCalendar REQUEST so it lands in their diaries; the e-mail says what must be in
place before they knock (a risk assessment) and how to record what they found.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event, vCalAddress, vText
from temporalio import activity

from whereabouts.activities.deps import Deps
from whereabouts.activities.mail import Attachment, Mail, send_each
from whereabouts.directory import Person, School
from whereabouts.school_time import SchoolTime
from whereabouts.steps import VisitBooking, VisitBookingRequest
from whereabouts.times import when
from whereabouts.vocabulary import VisitOutcome

VISIT_LENGTH = timedelta(hours=1)
VISIT_NOTICE = timedelta(hours=1)  # a slot sooner than this is too soon to go (compressed: scaled)


def visit_invite(req: VisitBookingRequest, school: School, staff: list[Person]) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Whereabouts//CME home visit//EN")
    cal.add("version", "2.0")
    cal.add("method", "REQUEST")
    ev = Event()
    ev.add("uid", f"{req.ref.case_id}-{req.ref.run_id}-home-visit@whereabouts.invalid")
    ev.add("dtstamp", datetime.now(UTC))
    ev.add("dtstart", req.slot.astimezone(UTC))
    ev.add("dtend", (req.slot + VISIT_LENGTH).astimezone(UTC))
    ev.add("summary", f"CME home visit - case {req.ref.case_id}")
    ev.add("location", ", ".join(req.case.pupil.address.lines()))
    ev.add(
        "description",
        f"Home visit for children-missing-education case {req.ref.case_id}. "
        f"Risk assessment: {req.risk_summary}. "
        f"Record the outcome: python admin.py visit {req.ref.case_id} OUTCOME",
    )
    organizer = vCalAddress(f"mailto:{school.attendance_inbox}")
    organizer.params["cn"] = vText(school.name)
    ev["organizer"] = organizer
    for person in staff:
        attendee = vCalAddress(f"mailto:{person.email}")
        attendee.params["cn"] = vText(person.name)
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        ev.add("attendee", attendee, encode=False)
    cal.add_component(ev)
    return cal.to_ical()


class VisitActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn(name="book_home_visit")
    async def book_home_visit(self, req: VisitBookingRequest) -> VisitBooking:
        """Invite the two visiting staff (and the office) to the slot, or to the next one still
        ahead if it has passed: an invitation never names a time already gone."""
        school = self.deps.directory.school(req.case.school_urn)
        slot, latest = req.slot, req.latest
        day_seconds = self.deps.settings.school_day_seconds
        notice = VISIT_NOTICE if day_seconds is None else timedelta(seconds=day_seconds / 7)
        lead = datetime.now(UTC) + notice
        if slot <= lead:
            slot, latest, _ = SchoolTime(req.sessions).next_visit_slot(lead)
        booked = req.model_copy(update={"slot": slot, "latest": latest})
        staff = school.visit_staff[:2]
        invite = Attachment(
            filename="home-visit.ics",
            content_type="text/calendar; method=REQUEST",
            data=visit_invite(booked, school, staff),
        )
        subject = f"Home visit booked {when(slot)}: case {req.ref.case_id} ({school.name})"
        text = visit_text(booked, school, staff)
        people = [("visitor", p.name, str(p.email)) for p in staff]
        people.append(("office", f"{school.name} attendance office", str(school.attendance_inbox)))
        mails = [
            Mail(
                to=addr,
                to_name=name,
                role=role,
                subject=subject,
                text=text,
                attachments=[invite],
                step=req.ref.step,
            )
            for role, name, addr in people
        ]
        sent = await send_each(self.deps.settings, req.ref.key, mails)
        return VisitBooking(
            slot=slot,
            latest=latest,
            staff=[p.name for p in staff],
            message_ids=[s.message_id for s in sent],
            sent=sent,
        )


def visit_text(req: VisitBookingRequest, school: School, staff: list[Person]) -> str:
    """What the visiting staff need: when, who, where, the risk assessment, how to record it."""
    pupil = req.case.pupil
    outcomes = "\n".join(
        f'  python admin.py visit {req.ref.case_id} {o.value} --spoke-to "WHO YOU SPOKE TO" '
        '--note "WHAT YOU SAW"'
        for o in VisitOutcome
    )
    contacts = "; ".join(f"{c.name} ({c.relationship}) {' / '.join(c.phones)}" for c in req.case.contacts)
    return (
        f"A home visit is booked for {when(req.slot)} (at the latest {when(req.latest)}).\n"
        f"Visiting: {' and '.join(p.name for p in staff)}. Always go in pairs.\n\n"
        f"Case:    {req.ref.case_id}\n"
        f"Pupil:   {pupil.full_name} (UPN {pupil.upn}), year {pupil.year_group}\n"
        f"Address: {', '.join(pupil.address.lines())}\n"
        f"Contacts: {contacts}\n\n"
        f"Before you go: the risk assessment must be in place. Now: {req.risk_summary}.\n"
        f"Ask the designated safeguarding lead ({school.dsl.name}) if anything has changed.\n\n"
        "Afterwards, record what you found, and who you spoke to (the LA's referral asks for it),\n"
        "with one of these:\n" + outcomes + "\n"
    )
