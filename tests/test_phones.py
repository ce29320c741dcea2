"""Phone numbers through ``phonenumbers``: impossible numbers refused with row and column, one
format kept, mobiles first, for a feed in our own layout and for one fed through a profile."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from whereabouts.directory import load_directory
from whereabouts.feed import check_phone, read_feed
from whereabouts.feed.checks import is_mobile, mobiles_first
from whereabouts.feed.profiles import load_profile

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("bad", ["00000 000000", "1234567890", "999999999999999", "+999 1234 5678"])
def test_impossible_numbers_are_refused(bad):
    with pytest.raises(ValueError, match="not a phone number"):
        check_phone(bad)


def test_numbers_are_kept_in_one_format_and_mobiles_told_apart():
    assert check_phone("+447700900123") == check_phone("07700900123") == "07700 900123"
    assert is_mobile("07700 900123") and not is_mobile("01632 960123")
    assert mobiles_first(["01632 960123", "07700 900123", "01632 960123"]) == ["07700 900123", "01632 960123"]


def test_a_profile_fed_contact_lists_its_mobile_first_and_a_bad_number_names_row_and_column():
    contacts = "Adno,Priority,Contact Name,Telephone,Mobile\n"
    contacts += "001101,1,Ewa Nowak,01632 960511,07700 900511\n"
    contacts += "001102,1,Sam Bright,1234567890,\n"
    marks = (EXAMPLES / "sims-marks.csv").read_text().replace(",/\n", ",N\n")  # Oscar's row an N
    feed = read_feed(
        marks,
        directory=load_directory(EXAMPLES / "schools.toml"),
        today=date(2026, 11, 27),
        profile=load_profile("sims"),
        contacts_text=contacts,
        school_urn="990101",
    )
    lena = next(r for r in feed.rows if r.upn == "J940200121101")
    assert lena.contact1_phone == ["07700 900511", "01632 960511"]
    oscar = next(r for r in feed.rejects if r.original.get("upn") == "Y940200121102")
    assert (oscar.row, oscar.field, oscar.value) == (4, "contact1_phone", "1234567890")
