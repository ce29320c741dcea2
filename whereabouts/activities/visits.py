"""Booking the Day 5/6 home visit: each visiting staff member gets a meeting request.

The invitation is what calendar clients (Outlook, Exchange, Google, Apple) take as a meeting
request (iMIP, RFC 6047): one message, ``multipart/alternative``, of the e-mail text and a
``text/calendar; method=REQUEST`` part holding a VEVENT with METHOD:REQUEST, the school's
attendance office as ORGANIZER (the visitors' accept or decline goes there), each visitor as an
ATTENDEE asked to reply (RSVP), a UID that stays the same for the case's visit, and a SEQUENCE.

Diaries are shared: a colleague, a cover supervisor or a whole team may see an event's title and
place. So the calendar object names no child, no parent, no UPN (the case ID holds one) and no
address: its LOCATION says only that the address is in the e-mail, and it is marked private. The
e-mail itself, to the two visitors only, says where to go, who lives there, what must be in place
before they knock (a risk assessment) and how to record what they found. The attendance office
gets the same e-mail without a calendar part: it is the organiser, and the replies come to it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from icalendar import Alarm, Calendar, Event, vCalAddress, vText
from temporalio import activity
from temporalio.exceptions import ApplicationError

from whereabouts import metrics
from whereabouts.activities.deps import Deps
from whereabouts.activities.mail import Mail, Outbox, Refused, build_message, message_id
from whereabouts.directory import Person, School
from whereabouts.school_time import SchoolTime
from whereabouts.steps import CaseRef, Sent, VisitBooking, VisitBookingRequest
from whereabouts.times import when
from whereabouts.vocabulary import VisitOutcome

VISIT_LENGTH = timedelta(hours=1)
VISIT_NOTICE = timedelta(hours=1)  # a slot sooner than this is too soon to go (compressed: scaled)
LOCATION = "Home visit (address in the e-mail)"
SUMMARY = "Home visit (attendance) - {school}"
DESCRIPTION = (
    "A home visit for the school's attendance procedure. Where to go, who you will see, the risk "
    "assessment and how to record the outcome are in the invitation e-mail, not here: calendars "
    "are shared."
)


def visit_uid(ref: CaseRef) -> str:
    """The visit's iCalendar UID: the same for every message about this case's visit (a resent or
    updated invitation replaces the event, never adds one), and naming neither the case nor the
    pupil (a UID shows in calendar exports)."""
    digest = hashlib.sha256(f"{ref.case_id}|{ref.run_id}|home-visit".encode()).hexdigest()[:32]
    return f"{digest}@whereabouts.invalid"


def visit_invite(
    req: VisitBookingRequest, school: School, staff: list[Person], *, sequence: int = 0
) -> bytes:
    """The iCalendar REQUEST for the visit: when, who, and nothing about the child."""
    cal = Calendar()
    cal.add("prodid", "-//Whereabouts//CME home visit//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "REQUEST")
    ev = Event()
    ev.add("uid", visit_uid(req.ref))
    ev.add("sequence", sequence)
    ev.add("dtstamp", datetime.now(UTC))
    ev.add("dtstart", req.slot.astimezone(UTC))
    ev.add("dtend", (req.slot + VISIT_LENGTH).astimezone(UTC))
    ev.add("summary", SUMMARY.format(school=school.name))
    ev.add("location", LOCATION)
    ev.add("description", DESCRIPTION)
    ev.add("class", "PRIVATE")  # shared calendars show "private appointment", not the title
    ev.add("status", "CONFIRMED")
    ev.add("transp", "OPAQUE")
    organizer = vCalAddress(f"mailto:{school.attendance_inbox}")
    organizer.params["cn"] = vText(f"{school.name} attendance office")
    ev["organizer"] = organizer
    for person in staff:
        attendee = vCalAddress(f"mailto:{person.email}")
        attendee.params["cn"] = vText(person.name)
        attendee.params["cutype"] = vText("INDIVIDUAL")
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        attendee.params["partstat"] = vText("NEEDS-ACTION")
        attendee.params["rsvp"] = vText("TRUE")
        ev.add("attendee", attendee, encode=False)
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", "Home visit: check the risk assessment before you go")
    alarm.add("trigger", timedelta(minutes=-30))
    ev.add_component(alarm)
    cal.add_component(ev)
    return cal.to_ical()


def with_meeting_request(msg: EmailMessage, ics: bytes) -> EmailMessage:
    """The e-mail's text and the invitation as alternatives of one another, as iMIP asks: a
    calendar client shows the meeting (Accept / Decline), a mail client the text."""
    msg.add_alternative(
        ics.decode("utf-8"), subtype="calendar", charset="utf-8", params={"method": "REQUEST"}
    )
    return msg


class _Invitations(Outbox):
    """``Outbox``'s sending (each message once, each answer recorded before the next goes,
    refusals reported, a server that cannot take a message now retried) for messages that carry
    a meeting request, which ``mail.build_message`` does not build: it builds the message, this
    adds the calendar."""

    async def send_invites(self, mails: list[tuple[Mail, bytes | None]]) -> list[Sent]:
        results: list[Sent] = []
        waiting: list[ApplicationError] = []
        for mail, ics in mails:
            msg_id = message_id(self.case_key, mail.step, mail.to)
            if msg_id in self.done:
                results.append(self.done[msg_id])
                continue
            sent = Sent(
                role=mail.role,
                to_label=mail.label or mail.to_name or mail.role,
                address=mail.to,
                message_id=msg_id,
                accepted=True,
            )
            try:
                msg = build_message(self.settings, mail, msg_id, datetime.now(UTC))
                await self.deliver(with_meeting_request(msg, ics) if ics else msg)
            except Refused as refused:
                sent.accepted, sent.refused = False, refused.reason
                metrics.increment(metrics.EMAILS_FAILED, {"kind": "permanent"})
            except ApplicationError as exc:
                waiting.append(exc)
                continue
            self.done[msg_id] = sent
            results.append(sent)
            await self.record()
        if waiting:
            raise ApplicationError(
                f"{len(waiting)} of {len(mails)} message(s) waiting for the mail server: {waiting[0].message}"
            )
        return results


class VisitActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    @activity.defn(name="book_home_visit")
    async def book_home_visit(self, req: VisitBookingRequest) -> VisitBooking:
        """Invite the two visiting staff to the slot (the office copied), or to the next one still
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
        invite = visit_invite(booked, school, staff)
        text = visit_text(booked, school, staff)
        # A client may title the event with the message's subject: it names no one either.
        subject = f"Home visit booked {when(slot)} ({school.name})"
        mails: list[tuple[Mail, bytes | None]] = [
            (
                Mail(
                    to=str(p.email),
                    to_name=p.name,
                    role="visitor",
                    subject=subject,
                    text=text,
                    step=req.ref.step,
                ),
                invite,
            )
            for p in staff
        ]
        office = Mail(
            to=str(school.attendance_inbox),
            to_name=f"{school.name} attendance office",
            role="office",
            subject=f"Home visit booked {when(slot)}: case {req.ref.case_id} ({school.name})",
            text=(
                "You are the organiser of this home visit: the visiting staff have been sent a meeting\n"
                "request, and their replies (accept or decline) come to this inbox.\n\n" + text
            ),
            step=req.ref.step,
        )
        mails.append((office, None))
        sent = await _Invitations(self.deps.settings, req.ref.key).send_invites(mails)
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
        "The address is in this e-mail only: the calendar entry says 'address in the e-mail', since\n"
        "calendars are shared. Do not copy it into the entry.\n\n"
        f"Before you go: the risk assessment must be in place. Now: {req.risk_summary}.\n"
        f"Ask the designated safeguarding lead ({school.dsl.name}) if anything has changed.\n\n"
        "Afterwards, record what you found, and who you spoke to (the LA's referral asks for it),\n"
        "with one of these:\n" + outcomes + "\n"
    )
