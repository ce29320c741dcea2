"""Names and notes reach a terminal, an e-mail and a letter clean: no terminal escapes, NUL,
stray line breaks or bidi overrides, whether they come from the feed or from a person typing."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from tests.conftest import TEST_DIRECTORY
from tests.factories import TEST_URN, last_school_day, make_case, make_upn
from whereabouts.directory import load_directory
from whereabouts.feed import COLUMNS, read_feed
from whereabouts.models import Address, CallRecord, ChildSeen, DeliveryDelay, ParentContact
from whereabouts.text_clean import clean
from whereabouts.workflows import views
from whereabouts.workflows.state import CaseState


def test_a_bidi_override_is_removed_and_direction_marks_are_kept():
    # U+202E would make the rest of the line read backwards in a letter or on a screen.
    assert ParentContact(reason="ill\u202e with flu", by="office").reason == "ill with flu"
    assert clean("\u2067Aisha\u2069") == "Aisha"
    assert clean("\u200fعائشة") == "\u200fعائشة"  # a right-to-left mark carries no override


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("7 Row\x1b[2J", "a control character (U+001B)"),  # clears an officer's terminal
        ("7 Row\x00", "a control character (U+0000)"),
        ("7 Row\r\nBcc: someone", "a line break"),
    ],
)
def test_a_one_line_field_with_a_control_character_is_refused_naming_it(value, said):
    with pytest.raises(ValidationError) as info:
        Address(line1=value, town="Exampleton", postcode="EX9 1ZZ")
    assert said in str(info.value) and "line1" in str(info.value)


def test_a_note_keeps_its_lines_but_not_an_escape_sequence():
    rec = CallRecord(outcome="no_answer", note="rang twice\r\nvoicemail full\tleft a message", by="x")
    assert rec.note == "rang twice\nvoicemail full\tleft a message"
    with pytest.raises(ValidationError, match=r"U\+001B"):
        ChildSeen(note="seen \x1b]8;;http://x\x1b\\here", by="x")


def test_a_feed_row_with_a_control_character_is_rejected_and_the_good_rows_go_in():
    day = last_school_day()
    buf = io.StringIO()
    out = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    out.writeheader()
    base = {
        "school_urn": TEST_URN,
        "forename": "Robin",
        "date_of_birth": "14/03/2015",
        "year_group": "6",
        "address_line1": "7 Imaginary Row",
        "town": "Exampleton",
        "postcode": "EX9 1ZZ",
        "attendance_date": day.isoformat(),
        "session": "AM",
        "attendance_code": "N",
        "contact1_name": "Grace Testperson",
        "contact1_phone": "07700 900123",
    }
    out.writerow(base | {"upn": make_upn(serial=11), "surname": "Test\x1b[31mperson"})
    out.writerow(base | {"upn": make_upn(serial=12), "surname": "Testperson\u202e"})
    checked = read_feed(buf.getvalue(), directory=load_directory(TEST_DIRECTORY), today=day)
    assert [(r.row, r.field) for r in checked.rejects] == [(2, "surname")]
    assert "U+001B" in checked.rejects[0].reason
    (good,) = checked.rows
    assert good.surname == "Testperson"


def test_a_delay_reason_is_shown_in_the_web_ui_never_rendered_as_a_link():
    state = CaseState(make_case(last_school_day()))
    delay = DeliveryDelay(step="day1_call", activity="send_notice", attempt=2, reason="[click](https://evil)")
    state.delays[delay.step] = views.delay_note("e-mail", datetime(2026, 12, 1, tzinfo=UTC), 2, delay.reason)
    details = views.current_details(state, datetime(2026, 12, 1, 9, tzinfo=UTC))
    assert "[click](https://evil)" not in details and "\\[click\\]" in details
