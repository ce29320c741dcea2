"""Column profiles: each shipped MIS layout read from a small synthetic export in its documented
shape, contacts joined from a report of their own, mobiles first; a header that fits nothing
names what is missing and the nearest profile; a mapping file's mistake names file and key."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest

from whereabouts.cli.starter import run
from whereabouts.directory import load_directory
from whereabouts.feed import FeedUnreadable, read_feed
from whereabouts.feed.profiles import ProfileError, load_mapping, load_profile, profile_names

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DIRECTORY = load_directory(EXAMPLES / "schools.toml")
REGISTER_DAY = date(2026, 11, 27)  # the examples' register day (a Friday)


def read(marks: str, profile: str, contacts: str | None = None, **kw):
    return read_feed(
        (EXAMPLES / marks).read_text(),
        directory=DIRECTORY,
        today=REGISTER_DAY,
        profile=load_profile(profile),
        contacts_text=(EXAMPLES / contacts).read_text() if contacts else None,
        school_urn="990101",
        **kw,
    )


def test_the_shipped_profiles_cite_their_sources_and_say_what_is_assumed():
    assert set(profile_names()) >= {"sims", "arbor", "bromcom", "wonde"}
    for name in profile_names():
        profile = load_profile(name)
        assert profile.sources and all(s.startswith("https://") for s in profile.sources), name
        assert "Documented" in profile.notes and "Assumed" in profile.notes, name


def test_a_sims_marks_report_with_its_contacts_report_joined_on_the_admission_number():
    feed = read("sims-marks.csv", "sims", "sims-contacts.csv")
    by_row = {r.row: r for r in feed.rows}
    assert sorted(by_row) == [2, 3, 4]  # Lena AM and PM (two rows, one pupil), Oscar
    lena = by_row[2]
    assert (lena.upn, lena.mis_pupil_id, lena.forename, lena.attendance_date) == (
        "J940200121101",
        "001101",
        "Lena",
        REGISTER_DAY,
    )
    assert lena.date_of_birth == date(2019, 3, 14) and lena.address_line1 == "21 Larch Road"
    assert (by_row[3].session, by_row[3].attendance_code) == ("PM", "N")
    # Priority 1 first though listed second; every phone column read, the mobile first.
    assert lena.contact1_name == "Ewa Nowak" and lena.contact1_relationship == "mother"
    assert lena.contact1_phone == ["07700 900511", "01632 960511"]
    assert lena.contact2_name == "Tomasz Nowak" and lena.contact1_parental_responsibility is True
    assert lena.contacts()[0].phones[0] == "07700 900511"  # what the Day 2 prompt lists first
    # A bad row is a reject naming row, column and value; the good rows still go in.
    (reject,) = feed.rejects
    assert (reject.row, reject.field, reject.value) == (5, "attendance_date", "31/11/2026")
    assert reject.original["upn"] == "M940200121103"  # kept, in the feed's own columns


def test_an_arbor_report_with_its_marks_spelled_as_words():
    feed = read("arbor-marks.csv", "arbor", "arbor-guardians.csv")
    assert not feed.rejects
    assert [(r.attendance_code, r.session) for r in feed.rows] == [("N", "AM"), ("/", "AM")]
    assert feed.rows[0].contact1_phone == ["07700 900511", "01632 960511"]
    assert feed.rows[0].to_case().contacts[0].name == "Ewa Nowak"


def test_a_bromcom_report_joined_on_the_student_id():
    feed = read("bromcom-marks.csv", "bromcom", "bromcom-contacts.csv")
    assert not feed.rejects
    assert feed.rows[0].mis_pupil_id == "BR1101" and feed.rows[0].contact1_name == "Ewa Nowak"
    assert feed.rows[1].attendance_code == "L"


def test_a_wonde_document_of_students_with_contacts_and_session_attendance():
    feed = read("wonde-students.json", "wonde")
    assert not feed.rejects
    assert [(r.upn, r.session, r.attendance_code) for r in feed.rows] == [
        ("J940200121101", "AM", "N"),
        ("J940200121101", "PM", "N"),
        ("Y940200121102", "AM", "/"),
    ]
    lena = feed.rows[0]
    assert lena.date_of_birth == date(2019, 3, 14) and lena.year_group == "2" and lena.postcode == "EX1 5LR"
    assert (lena.contact1_name, lena.contact2_name) == ("Ewa Nowak", "Tomasz Nowak")
    assert lena.contact1_phone == ["07700 900511", "01632 960511"]


def test_a_contact_joined_on_the_upn_when_the_mis_id_is_not_in_the_contacts_report():
    marks = (EXAMPLES / "sims-marks.csv").read_text()
    contacts = "UPN,Priority,Contact Name,Relationship,Telephone,Mobile\n"
    contacts += "J940200121101,1,Ewa Nowak,Mother,01632 960511,07700 900511\n"
    feed = read_feed(
        marks,
        directory=DIRECTORY,
        today=REGISTER_DAY,
        profile=load_profile("sims"),
        contacts_text=contacts,
        school_urn="990101",
    )
    assert feed.rows[0].contact1_name == "Ewa Nowak"
    # Oscar has no contact in this report: his present mark still goes in (only N needs one).
    assert any(r.upn == "Y940200121102" for r in feed.rows)


def test_a_sims_header_fed_without_a_profile_names_the_missing_columns_and_the_profile():
    with pytest.raises(FeedUnreadable) as info:
        read_feed((EXAMPLES / "sims-marks.csv").read_text(), directory=DIRECTORY, today=REGISTER_DAY)
    message = str(info.value)
    assert "no header row" not in message
    assert "missing: school_urn, attendance_date, attendance_code" in message
    assert "--profile sims" in message and "--school-urn" in message


def test_a_header_no_profile_fits_whole_names_the_nearest_and_what_it_lacks():
    with pytest.raises(FeedUnreadable) as info:
        read_feed("Adno,UPN,Legal Surname,Reg Group\n1,2,3,4\n", directory=DIRECTORY, today=REGISTER_DAY)
    message = str(info.value)
    assert "nearest is --profile sims" in message and "attendance_code ('Mark'" in message
    assert "--mapping FILE" in message


def test_an_export_that_is_not_the_profiles_says_which_columns_it_lacks():
    with pytest.raises(FeedUnreadable, match=r"no column for .*attendance_code \('Mark'"):
        read_feed("UPN,Date\nJ940200121101,27/11/2026\n", directory=DIRECTORY, profile=load_profile("sims"))


def test_a_mapping_file_extends_a_profile():
    profile = load_mapping(EXAMPLES / "mapping-example.toml")
    text = "Adno,UPN,Legal Surname,Legal Forename,Register Date,Session,Session Mark (AM/PM)\n"
    text += "001102,Y940200121102,Bright,Oscar,27/11/2026,AM,/\n"
    feed = read_feed(text, directory=DIRECTORY, today=REGISTER_DAY, profile=profile)
    assert not feed.rejects and feed.rows[0].school_urn == "990101"  # [constants]


def test_a_mapping_file_with_a_typo_names_the_file_and_the_key(tmp_path):
    bad = tmp_path / "ours.toml"
    bad.write_text('extends = "sims"\n[marks]\nattendence_code = ["Mark"]\n')
    with pytest.raises(ProfileError) as info:
        load_mapping(bad)
    assert str(bad) in str(info.value) and "attendence_code" in str(info.value)
    bad.write_text('extends = "sims"\n[codes]\n"Absent" = "A9"\n')
    with pytest.raises(ProfileError, match=r"\[codes\] Absent.*not a register code"):
        load_mapping(bad)


async def test_the_starter_reads_an_export_with_its_profile_and_contacts(settings):
    out, err = io.StringIO(), io.StringIO()
    code = await run(
        [
            str(EXAMPLES / "sims-marks.csv"),
            "--profile",
            "sims",
            "--contacts",
            str(EXAMPLES / "sims-contacts.csv"),
            "--school-urn",
            "990201",
            "--dry-run",
            "--rejects",
            str(settings.var_dir.parent / "rejects.csv"),
        ],
        settings=settings,
        stdout=out,
        stderr=err,
    )
    assert "4 rows" in out.getvalue() and code in (0, 1), err.getvalue()
    code = await run(
        [str(EXAMPLES / "sims-marks.csv"), "--dry-run"], settings=settings, stdout=out, stderr=err
    )
    assert code == 2 and "--profile sims" in out.getvalue() + err.getvalue()
