"""The home-visit invitation is a meeting request, and the calendar it lands in learns nothing
about the child.

What calendar clients take as a meeting request (RFC 6047 iMIP; Microsoft's MS-OXCMAIL): one
message, multipart/alternative, of text/plain and text/calendar with method=REQUEST, the
iCalendar object carrying METHOD:REQUEST, an ORGANIZER, each ATTENDEE asked to RSVP, a UID and a
SEQUENCE. Diaries are shared, so nothing in the calendar object names the pupil, a parent, the UPN
or the case (whose ID holds the UPN), or says where they live; the e-mail to the visitors does.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar
from temporalio.testing import ActivityEnvironment

from tests.factories import case_id_of, make_case, sessions_for
from whereabouts.activities.deps import Deps
from whereabouts.activities.visits import LOCATION, VisitActivities, visit_invite, visit_uid
from whereabouts.directory import load_directory
from whereabouts.settings import Settings
from whereabouts.steps import CaseRef, VisitBookingRequest
from whereabouts.times import LONDON

from .conftest import TEST_DIRECTORY

VIC, VAL, OFFICE = "vic@testhill.example.org", "val@testhill.example.org", "office@testhill.example.org"
SCHOOL = load_directory(TEST_DIRECTORY).school("990201")


def request(slot: datetime | None = None, run_id: str = "run-1") -> VisitBookingRequest:
    case = make_case(date(2027, 5, 24))
    # Something of every kind a calendar must not show, so the test can look for each.
    pupil = case.pupil.model_copy(
        update={
            "address": case.pupil.address.model_copy(
                update={"line1": "14 Quillon Terrace", "line2": "Flat 3", "postcode": "EX7 4QQ"}
            )
        }
    )
    case = case.model_copy(update={"pupil": pupil})
    slot = slot or (datetime.now(UTC) + timedelta(days=3)).replace(hour=13, minute=0, second=0, microsecond=0)
    return VisitBookingRequest(
        ref=CaseRef(case_id=case_id_of(case), run_id=run_id, step="home_visit"),
        case=case,
        slot=slot,
        latest=slot + timedelta(hours=2),
        risk_summary="assessed not at risk by Dana Lead",
        sessions=sessions_for(date.today()),
    )


def private_words(req: VisitBookingRequest) -> list[str]:
    """Everything about the child and family that a shared calendar must not show."""
    pupil = req.case.pupil
    words = [pupil.forename, pupil.surname, pupil.full_name, pupil.upn, req.ref.case_id]
    words += [line for line in pupil.address.lines()]
    for contact in req.case.contacts:
        words += [contact.name, *contact.phones]
    words += ["Quillon", "EX7 4QQ", "EX7", "Testperson"]
    return words


def unfolded(ics: bytes) -> str:
    """The iCalendar text with its folded lines joined, so no word hides across a fold."""
    return ics.decode().replace("\r\n ", "").replace("\r\n\t", "")


def the_event(ics: bytes):
    cal = Calendar.from_ical(ics)
    [event] = [c for c in cal.walk("VEVENT")]
    return cal, event


def test_the_calendar_object_is_a_request_that_names_no_one():
    req = request()
    ics = visit_invite(req, SCHOOL, SCHOOL.visit_staff)
    cal, event = the_event(ics)

    assert cal["METHOD"] == "REQUEST" and cal["VERSION"] == "2.0"
    assert str(event["ORGANIZER"]) == f"mailto:{OFFICE}"
    assert event["ORGANIZER"].params["CN"] == "Test Hill Primary attendance office"
    attendees = event["ATTENDEE"]
    assert [str(a) for a in attendees] == [f"mailto:{VIC}", f"mailto:{VAL}"]
    for attendee, person in zip(attendees, SCHOOL.visit_staff, strict=True):
        assert attendee.params["CN"] == person.name
        assert attendee.params["RSVP"] == "TRUE"
        assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
        assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
    assert event["SEQUENCE"] == 0
    assert event.decoded("DTSTART") == req.slot.astimezone(UTC)
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(hours=1)
    assert str(event["LOCATION"]) == LOCATION == "Home visit (address in the e-mail)"
    assert str(event["CLASS"]) == "PRIVATE"
    assert str(event["SUMMARY"]) == "Home visit (attendance) - Test Hill Primary"

    text = unfolded(ics)
    for word in private_words(req):
        assert word not in text, f"{word!r} is in the calendar object"
    assert req.case.pupil.upn not in text  # the UPN, not even inside the UID


def test_the_uid_is_stable_for_the_visit_and_differs_between_visits():
    req = request()
    first = the_event(visit_invite(req, SCHOOL, SCHOOL.visit_staff))[1]
    again = the_event(visit_invite(req, SCHOOL, SCHOOL.visit_staff))[1]  # a retried step
    assert first["UID"] == again["UID"] == visit_uid(req.ref)
    other = request(run_id="run-2")
    assert visit_uid(other.ref) != visit_uid(req.ref)
    assert str(first["UID"]).endswith("@whereabouts.invalid")
    later = the_event(visit_invite(req, SCHOOL, SCHOOL.visit_staff, sequence=1))[1]
    assert later["UID"] == first["UID"] and later["SEQUENCE"] == 1  # an update replaces it


async def book(settings: Settings, req: VisitBookingRequest):
    return await ActivityEnvironment().run(VisitActivities(Deps.from_settings(settings)).book_home_visit, req)


async def test_each_visitor_gets_a_meeting_request_with_the_address_in_the_body(settings, smtp):
    req = request()
    booking = await book(settings, req)

    assert [(s.role, s.address, s.accepted) for s in booking.sent] == [
        ("visitor", VIC, True),
        ("visitor", VAL, True),
        ("office", OFFICE, True),
    ]
    assert booking.staff == ["Vic Visitor", "Val Visitor"] and len(set(booking.message_ids)) == 3
    for address in (VIC, VAL):
        [received] = smtp.to(address)
        msg = received.message
        # One message: text and calendar as alternatives, not an attachment.
        assert msg.get_content_type() == "multipart/alternative"
        parts = list(msg.iter_parts())
        assert [p.get_content_type() for p in parts] == ["text/plain", "text/calendar"]
        calendar = parts[1]
        assert calendar.get_param("method") == "REQUEST"
        assert calendar.get_content_charset() == "utf-8"
        assert calendar.get_content_disposition() is None  # inline, as iMIP has it
        assert not list(msg.iter_attachments())
        ics = calendar.get_content().encode()
        cal, event = the_event(ics)
        assert cal["METHOD"] == "REQUEST" and str(event["UID"]) == visit_uid(req.ref)
        for word in private_words(req):
            assert word not in unfolded(ics), word

        # The e-mail says where to go, who lives there, and how to record the outcome.
        text = parts[0].get_content()
        assert "14 Quillon Terrace, Flat 3, Exampleton, EX7 4QQ" in text
        assert req.case.pupil.full_name in text and req.case.pupil.upn in text
        assert "07700 900123" in text  # a contact's number
        assert "assessed not at risk by Dana Lead" in text
        assert f"python admin.py visit {req.ref.case_id} " in text
        assert booking.slot.astimezone(LONDON).strftime("%-d %b %Y, %H:%M") in text
        # The subject a client may title the event with names no one.
        subject = str(msg["Subject"])
        assert subject.startswith("Home visit booked ") and subject.endswith("(Test Hill Primary)")
        for word in private_words(req):
            assert word not in subject, word

    # The office, the organiser, gets the e-mail (with the case) and no second request.
    [office] = smtp.to(OFFICE)
    assert office.message.get_content_type() == "text/plain"
    text = office.message.get_content()
    assert "You are the organiser of this home visit" in text and "14 Quillon Terrace" in text
    assert req.ref.case_id in str(office.message["Subject"])


async def test_a_refused_visitor_does_not_stop_the_other_invitation(settings, smtp):
    smtp.refuse[VIC] = "550 5.1.1 mailbox unavailable"
    booking = await book(settings, request())

    refused = [s for s in booking.sent if not s.accepted]
    assert [(s.address, s.refused) for s in refused] == [(VIC, "550 5.1.1 mailbox unavailable")]
    [received] = smtp.to(VAL)
    assert received.message.get_content_type() == "multipart/alternative"
    assert smtp.to(OFFICE)


async def test_a_late_booking_names_the_next_slot_in_both_body_and_calendar(settings, smtp):
    past = datetime(2026, 1, 9, 14, tzinfo=UTC)
    booking = await book(settings, request(slot=past, run_id=f"run-{uuid.uuid4().hex[:6]}"))
    assert booking.slot > datetime.now(UTC)
    msg = smtp.to(VIC)[0].message
    _, event = the_event(list(msg.iter_parts())[1].get_content().encode())
    assert event.decoded("DTSTART") == booking.slot.astimezone(UTC)
