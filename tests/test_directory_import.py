"""The school directory from real sources: a GIAS extract and a term-dates calendar.

The files here are made in the shape of the real ones, with fictional schools (URNs 99xxxx) in a
fictional LA: the GIAS establishment extract's own column names in its own order, Windows-1252,
CRLF, every field quoted where it needs to be; an LA's term dates as iCalendar, all-day VEVENTs for
terms, half terms and holidays, INSET days, a bank holiday, a parents' evening.
"""

from __future__ import annotations

import csv
import difflib
import io
import shutil
import subprocess
import sys
import tomllib
from datetime import date
from importlib import metadata
from pathlib import Path

import pytest

from whereabouts.cli.directory import main
from whereabouts.directory import DirectoryError, load_directory
from whereabouts.directory_import import SourceError, classify, import_gias, import_terms, read_terms
from whereabouts.schooldays import SchoolCalendar

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "schools.toml"
LA = "999"  # a fictional LA number (real ones are 201 to 942)

# The GIAS establishment extract's columns, in its order (its first 71, then a few of the rest).
GIAS_HEADER = [
    "URN", "LA (code)", "LA (name)", "EstablishmentNumber", "EstablishmentName",
    "TypeOfEstablishment (code)", "TypeOfEstablishment (name)", "EstablishmentTypeGroup (code)",
    "EstablishmentTypeGroup (name)", "EstablishmentStatus (code)", "EstablishmentStatus (name)",
    "ReasonEstablishmentOpened (code)", "ReasonEstablishmentOpened (name)", "OpenDate",
    "ReasonEstablishmentClosed (code)", "ReasonEstablishmentClosed (name)", "CloseDate",
    "PhaseOfEducation (code)", "PhaseOfEducation (name)", "StatutoryLowAge", "StatutoryHighAge",
    "Boarders (code)", "Boarders (name)", "NurseryProvision (name)", "OfficialSixthForm (code)",
    "OfficialSixthForm (name)", "Gender (code)", "Gender (name)", "ReligiousCharacter (code)",
    "ReligiousCharacter (name)", "ReligiousEthos (name)", "Diocese (code)", "Diocese (name)",
    "AdmissionsPolicy (code)", "AdmissionsPolicy (name)", "SchoolCapacity", "SpecialClasses (code)",
    "SpecialClasses (name)", "CensusDate", "NumberOfPupils", "NumberOfBoys", "NumberOfGirls",
    "PercentageFSM", "TrustSchoolFlag (code)", "TrustSchoolFlag (name)", "Trusts (code)",
    "Trusts (name)", "SchoolSponsorFlag (name)", "SchoolSponsors (name)", "FederationFlag (name)",
    "Federations (code)", "Federations (name)", "UKPRN", "FEHEIdentifier",
    "FurtherEducationType (name)", "OfstedLastInsp", "OfstedSpecialMeasures (code)",
    "OfstedSpecialMeasures (name)", "LastChangedDate", "Street", "Locality", "Address3", "Town",
    "County (name)", "Postcode", "SchoolWebsite", "TelephoneNum", "HeadTitle (name)",
    "HeadFirstName", "HeadLastName", "HeadPreferredJobTitle", "GOR (name)", "Easting", "Northing",
    "UPRN",
]  # fmt: skip


def gias_row(urn: str, name: str, street: str, town: str, postcode: str, phone: str, **more: str) -> dict:
    row = {
        "URN": urn,
        "LA (code)": LA,
        "LA (name)": "Exampleshire",
        "EstablishmentNumber": urn[-4:],
        "EstablishmentName": name,
        "TypeOfEstablishment (code)": "1",
        "TypeOfEstablishment (name)": "Community school",
        "EstablishmentTypeGroup (name)": "Local authority maintained schools",
        "EstablishmentStatus (code)": "1",
        "EstablishmentStatus (name)": "Open",
        "OpenDate": "01-09-1975",
        "PhaseOfEducation (name)": "Primary",
        "StatutoryLowAge": "4",
        "StatutoryHighAge": "11",
        "NumberOfPupils": "212",
        "LastChangedDate": "14-10-2026",
        "Street": street,
        "Town": town,
        "County (name)": "Exampleshire",
        "Postcode": postcode,
        "SchoolWebsite": "https://www.school.example.org",
        "TelephoneNum": phone,
        "HeadTitle (name)": "Mrs",
        "HeadFirstName": "Claire",
        "HeadLastName": "Dunn",
        "GOR (name)": "East Midlands",
        "Easting": "480000",
        "Northing": "270000",
    }
    return {**row, **more}


OAKFIELD = gias_row(
    "990101", "Oakfield Primary School", "Oakfield Lane", "Exampleton", "ex1  2ab", "01632 960011",
    Locality="Upper Exampleton",
)  # fmt: skip
RIVERSIDE = gias_row("990102", "Riverside Academy", "12 Mill Street", "Exampleton", "EX3 9ZZ", "01632 960002")
BROOKSIDE = gias_row(
    "990103", "St Clément’s CofE Primary School", "Brook Road", "Exampleton", "EX4 1CD", "01632 960003"
)
ELSEWHERE = gias_row("990201", "Far Away Primary", "1 Far Lane", "Otherton", "EX8 1AA", "01632 960099") | {
    "LA (code)": "998",
    "LA (name)": "Otherlandshire",
}


def gias_csv(rows: list[dict], *, encoding: str = "cp1252") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(GIAS_HEADER)
    for row in rows:
        writer.writerow([row.get(c, "") for c in GIAS_HEADER])
    return out.getvalue().encode(encoding)


@pytest.fixture
def directory(tmp_path) -> Path:
    path = tmp_path / "schools.toml"
    shutil.copy(EXAMPLE, path)
    return path


def extract(tmp_path: Path, rows: list[dict], **kw) -> Path:
    path = tmp_path / "edubasealldata20261130.csv"
    path.write_bytes(gias_csv(rows, **kw))
    return path


def school(path: Path, urn: str) -> dict:
    return next(s for s in tomllib.loads(path.read_text())["schools"] if s["urn"] == urn)


def changed_lines(before: bytes, after: bytes) -> list[str]:
    """The lines a person sees change in a diff: every other line is byte for byte as it was."""
    diff = difflib.ndiff(before.decode().splitlines(), after.decode().splitlines())
    return sorted(line for line in diff if line[:2] in ("- ", "+ "))


HAND_KEPT = ("dsl", "deputy_dsl", "head_teacher", "letter_signatory", "visit_staff", "terms", "inset_days")


# --------------------------------------------------------------------------------------------
# GIAS
# --------------------------------------------------------------------------------------------
def test_gias_updates_name_address_and_phone_and_keeps_what_was_typed(tmp_path, directory):
    before = directory.read_bytes()
    typed = {urn: school(directory, urn) for urn in ("990101", "990102")}
    source = extract(tmp_path, [OAKFIELD, RIVERSIDE, BROOKSIDE, ELSEWHERE])

    report = import_gias(source, directory, la=LA)

    assert report.exit_code == 0 and report.written and not report.problems
    assert report.read == "4 rows (3 in LA 999), Windows-1252"
    [updated] = report.updated
    assert updated.startswith("990101 Oakfield Primary School: address ")
    assert "['Oakfield Lane', 'Exampleton', 'EX1 2AB'] -> ['Oakfield Lane', 'Upper Exampleton'," in updated
    assert "phone '01632 960001' -> '01632 960011'" in updated
    assert report.unchanged == ["990102 Riverside Academy"]
    assert any(
        "1 open school(s) of LA 999 in the extract are not in the directory" in n for n in report.notes
    )

    oak = school(directory, "990101")
    assert oak["address"] == ["Oakfield Lane", "Upper Exampleton", "Exampleton", "EX1 2AB"]
    assert oak["phone"] == "01632 960011" and oak["name"] == "Oakfield Primary School"
    for urn, was in typed.items():  # what a person typed, untouched
        now = school(directory, urn)
        for key in (*HAND_KEPT, "hours", "attendance_inbox", "la"):
            assert now.get(key) == was.get(key), (urn, key)
    assert changed_lines(before, directory.read_bytes()) == [
        '+ address = ["Oakfield Lane", "Upper Exampleton", "Exampleton", "EX1 2AB"]',
        '+ phone = "01632 960011"',
        '- address = ["Oakfield Lane", "Exampleton", "EX1 2AB"]',
        '- phone = "01632 960001"',
    ]
    text = directory.read_text()
    assert text.startswith("# School directory for the local stack and the tests.")  # comments kept
    assert "# and it goes to the deputy DSL and the head teacher." in text
    assert load_directory(directory).school("990101").phone == "01632 960011"  # the worker takes it
    assert report.backup is not None and report.backup.read_bytes() == before  # nothing lost
    assert report.backup.name.startswith("schools.toml.bak-")

    # The same extract again: nothing to change, and nothing written.
    again = import_gias(source, directory, la=LA)
    assert not again.changed and not again.written and again.backup is None
    assert again.unchanged == ["990101 Oakfield Primary School", "990102 Riverside Academy"]


def test_a_dry_run_says_what_would_change_and_writes_nothing(tmp_path, directory):
    before = directory.read_bytes()
    report = import_gias(extract(tmp_path, [OAKFIELD]), directory, la=LA, dry_run=True)
    assert report.changed and not report.written and report.backup is None
    assert directory.read_bytes() == before
    lines = "\n".join(report.lines())
    assert "would change: 0 added, 1 updated" in lines and "Dry run: nothing was written." in lines
    assert sorted(p.name for p in directory.parent.iterdir()) == [
        "edubasealldata20261130.csv",
        "schools.toml",
    ]


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8-sig"])
def test_the_extract_is_read_in_windows_1252_or_a_spreadsheet_s_utf_8(tmp_path, directory, encoding):
    source = extract(tmp_path, [BROOKSIDE], encoding=encoding)
    if encoding == "cp1252":
        assert "St Cl\xe9ment\x92s".encode("latin-1") in source.read_bytes()  # é and ’ as the DfE writes them
    report = import_gias(source, directory, la=LA, urns={"990103"}, as_la="EXA")
    assert report.read.endswith("Windows-1252" if encoding == "cp1252" else "UTF-8")
    assert school(directory, "990103")["name"] == "St Clément’s CofE Primary School"


def test_a_named_school_is_added_with_what_a_person_must_fill_in(tmp_path, directory):
    report = import_gias(
        extract(tmp_path, [OAKFIELD, BROOKSIDE]), directory, la=LA, urns={"990103"}, as_la="EXA"
    )

    assert report.added == ["990103 St Clément’s CofE Primary School"]
    assert report.updated == []  # only the named school is touched
    assert report.to_fill_in == [
        "990103 St Clément’s CofE Primary School: attendance_inbox, dsl, visit_staff, terms"
    ]
    assert report.exit_code == 1  # written, and a person has work to do
    added = school(directory, "990103")
    assert added == {
        "urn": "990103",
        "name": "St Clément’s CofE Primary School",
        "la": "EXA",
        "address": ["Brook Road", "Exampleton", "EX4 1CD"],
        "phone": "01632 960003",
    }
    assert "# From GIAS. By hand: attendance_inbox, dsl, visit_staff, terms" in directory.read_text()
    # Until a person adds them, the worker refuses the file and says what is missing.
    with pytest.raises(DirectoryError, match=r"schools\[2\]\.attendance_inbox: Field required"):
        load_directory(directory)
    # The old file is kept.
    assert report.backup is not None and load_directory(report.backup).has_school("990101")


def test_a_new_school_needs_its_local_authority_in_the_directory(tmp_path, directory):
    before = directory.read_bytes()
    report = import_gias(extract(tmp_path, [BROOKSIDE]), directory, la=LA, urns={"990103"})
    [problem] = report.problems
    assert str(problem) == (
        "row 2 (URN 990103): LA (code) '999': no [[local_authorities]] entry for Exampleshire in the "
        "directory: name it with --as-la CODE"
    )
    assert not report.changed and directory.read_bytes() == before


def test_a_directory_can_start_from_gias_alone(tmp_path):
    into = tmp_path / "new-schools.toml"
    report = import_gias(extract(tmp_path, [OAKFIELD, RIVERSIDE]), into, la=LA, urns={"990101", "990102"})
    assert report.added == [
        "local authority 999 Exampleshire (from GIAS)",
        "990101 Oakfield Primary School",
        "990102 Riverside Academy",
    ]
    assert report.to_fill_in[0] == "local authority 999 Exampleshire: cme_inbox, social_care, police"
    made = tomllib.loads(into.read_text())
    assert made["local_authorities"] == [{"code": "999", "name": "Exampleshire"}]
    assert [s["la"] for s in made["schools"]] == ["999", "999"]
    assert report.backup is None  # there was nothing before


def test_bad_rows_are_reported_with_row_field_and_value_and_the_rest_go_in(tmp_path, directory):
    typed = school(directory, "990101")
    bad_postcode = OAKFIELD | {"Postcode": "NOT A PC"}
    new_phone = RIVERSIDE | {"TelephoneNum": "01632 960022"}
    bad_urn = BROOKSIDE | {"URN": "99010X"}
    bad_phone = gias_row("990104", "Lane End Infants", "Lane End", "Exampleton", "EX5 5EE", "call the office")
    source = extract(tmp_path, [bad_postcode, new_phone, bad_urn, bad_phone])
    with source.open("ab") as f:
        f.write(b'"990105","999","Exampleshire","cut short"\r\n')

    report = import_gias(source, directory, la=LA)

    assert [str(p) for p in report.problems] == [
        "row 2 (URN 990101): Postcode 'NOT A PC': not a UK postcode",
        "row 4 (URN 99010X): URN '99010X': a URN is 6 digits",
        "row 5 (URN 990104): TelephoneNum 'call the office': not a phone number",
        f"row 6: row '4 cells': the header has {len(GIAS_HEADER)}",
    ]
    assert report.updated == ["990102 Riverside Academy: phone '01632 960002' -> '01632 960022'"]
    assert school(directory, "990101") == typed  # its bad row changed nothing
    assert school(directory, "990102")["phone"] == "01632 960022"
    assert report.exit_code == 1
    lines = report.lines()
    assert "4 problem(s); what they concern was left as it was:" in lines


def test_a_school_named_but_missing_or_in_another_la_is_a_problem(tmp_path, directory):
    report = import_gias(
        extract(tmp_path, [OAKFIELD, ELSEWHERE]), directory, la=LA, urns={"990199", "990201"}
    )
    assert [str(p) for p in report.problems] == [
        "row 3 (URN 990201): LA (code) '998': the school is in Otherlandshire, not LA 999",
        "URN 990199: URN '990199': not in the extract",
    ]
    assert not report.changed


def test_a_closed_school_is_flagged_not_removed(tmp_path, directory):
    closed = RIVERSIDE | {"EstablishmentStatus (name)": "Closed", "CloseDate": "31-08-2026"}
    report = import_gias(extract(tmp_path, [closed]), directory, la=LA)
    assert (
        "990102 Riverside Academy is Closed in GIAS: remove it from the directory once its cases are done"
        in (report.notes)
    )
    assert load_directory(directory).has_school("990102")


def test_a_file_that_is_not_a_gias_extract_changes_nothing(tmp_path, directory, capsys):
    before = directory.read_bytes()
    with pytest.raises(SourceError, match=r"not a GIAS establishment extract: no 'URN', 'LA \(code\)'"):
        import_gias(ROOT / "examples" / "absences.csv", directory, la=LA)
    assert main(["gias", str(ROOT / "examples" / "absences.csv"), "--la", LA, "--into", str(directory)]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("whereabouts-directory: not a GIAS establishment extract")
        and "nothing was changed" in err
    )
    assert directory.read_bytes() == before


# --------------------------------------------------------------------------------------------
# Term dates from iCalendar
# --------------------------------------------------------------------------------------------
def vevent(n: int, summary: str, start: str, end: str | None = None, *, extra: str = "") -> str:
    """An all-day event as LAs' calendars write them (DTEND the day after the last day)."""
    lines = [
        "BEGIN:VEVENT",
        f"UID:exampleshire-term-dates-2027-28-{n}@exampleshire.example.gov.uk",
        "DTSTAMP:20260301T090000Z",
        f"DTSTART;VALUE=DATE:{start}",
    ]
    if end:
        lines.append(f"DTEND;VALUE=DATE:{end}")
    lines += [f"SUMMARY:{summary}", "TRANSP:TRANSPARENT", *filter(None, extra.split("\n")), "END:VEVENT"]
    return "\r\n".join(lines)


def calendar(*events: str) -> bytes:
    head = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Exampleshire Council//School term dates//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:Exampleshire school term dates 2027 to 2028",
        "X-WR-TIMEZONE:Europe/London",
    ]
    return ("\r\n".join([*head, *events, "END:VCALENDAR"]) + "\r\n").encode()


# The example directory's 2027-28 year: terms split by the half terms.
TERMS_2027_28 = [
    (date(2027, 9, 2), date(2027, 10, 22)),
    (date(2027, 11, 1), date(2027, 12, 17)),
    (date(2028, 1, 4), date(2028, 2, 11)),
    (date(2028, 2, 21), date(2028, 3, 31)),
    (date(2028, 4, 18), date(2028, 5, 26)),
    (date(2028, 6, 5), date(2028, 7, 20)),
]
HOLIDAYS = [
    vevent(10, "October half term", "20271025", "20271030"),
    vevent(11, "Christmas holiday", "20271220", "20280104"),
    vevent(12, "February half term", "20280214", "20280219"),
    vevent(13, "Easter holiday", "20280403", "20280418"),
    vevent(14, "May half term", "20280529", "20280603"),
]
OTHER = [
    vevent(20, "INSET day", "20270901", "20270902", extra="CATEGORIES:INSET"),
    vevent(21, "Teacher training day (school closed to pupils)", "20280104", "20280105"),
    vevent(22, "Staff development day", "20280605"),  # no DTEND: one day
    vevent(23, "Early May bank holiday", "20280501", "20280502"),
    vevent(24, "Year 6 parents' evening", "20280125", "20280126"),
]
BY_TERMS = calendar(
    vevent(1, "Autumn term", "20270902", "20271218"),
    vevent(2, "Spring term", "20280104", "20280401"),
    vevent(3, "Summer term", "20280418", "20280721"),
    *HOLIDAYS,
    *OTHER,
)
BY_HOLIDAYS = calendar(
    vevent(1, "Summer holiday", "20270722", "20270902"),
    *HOLIDAYS,
    vevent(15, "Summer holidays", "20280721", "20280901"),
    *OTHER,
)
BY_MARKERS = calendar(
    vevent(1, "First day of autumn term", "20270902", "20270903"),
    vevent(2, "Autumn term ends", "20271217", "20271218"),
    vevent(3, "Spring term starts", "20280104", "20280105"),
    vevent(4, "Last day of spring term", "20280331", "20280401"),
    vevent(5, "Summer term begins", "20280418", "20280419"),
    vevent(6, "End of summer term", "20280720", "20280721"),
    *HOLIDAYS,
    *OTHER,
)


@pytest.mark.parametrize(
    "published", [BY_TERMS, BY_HOLIDAYS, BY_MARKERS], ids=["terms", "holidays", "markers"]
)
def test_terms_are_the_school_open_runs_between_the_holidays(published):
    dates, report = read_terms(published)
    assert dates is not None, report.problems
    assert dates.terms == TERMS_2027_28
    assert dates.inset_days == [date(2027, 9, 1), date(2028, 1, 4), date(2028, 6, 5)]
    assert any("Year 6 parents' evening" in n for n in report.notes)  # said, not guessed at


def test_terms_replace_those_of_the_year_the_file_covers_and_keep_the_rest(tmp_path, directory):
    before = directory.read_bytes()
    riverside = school(directory, "990102")
    ics = tmp_path / "exampleshire-term-dates-2027-28.ics"
    ics.write_bytes(BY_TERMS)

    report = import_terms(ics, directory, urns=["990101", "990102"])

    assert report.exit_code == 0 and report.written
    assert report.read == "13 events: 6 terms and 3 INSET days, 2027-09-01 to 2028-07-20"
    assert report.updated == [
        "990101 Oakfield Primary School: INSET days +2028-06-05",
        "990102 Riverside Academy: INSET days +2028-01-04, +2028-06-05",
    ]
    oak = load_directory(directory).school("990101")
    year = [(t.start, t.end) for t in oak.terms if date(2027, 9, 1) <= t.start <= date(2028, 8, 31)]
    assert year == TERMS_2027_28
    assert (oak.terms[0].start, oak.terms[0].end) == (date(2026, 9, 2), date(2026, 10, 23))  # 2026-27: kept
    assert date(2026, 11, 2) in oak.inset_days  # an INSET day outside the file's year: kept
    calendar_ = SchoolCalendar(oak)
    assert not calendar_.is_school_day(date(2027, 10, 27))  # half term
    assert not calendar_.is_school_day(date(2028, 6, 5))  # the new INSET day
    assert calendar_.is_school_day(date(2028, 6, 6))
    now = school(directory, "990102")
    for key in ("dsl", "visit_staff", "hours", "address", "phone"):
        assert now[key] == riverside[key], key
    assert report.backup is not None and report.backup.read_bytes() == before
    assert "# School hours, unless a school says otherwise" in directory.read_text()


def test_changed_term_dates_are_said_term_by_term(tmp_path, directory):
    moved = BY_TERMS.replace(
        b"DTSTART;VALUE=DATE:20280529\r\nDTEND;VALUE=DATE:20280603",
        b"DTSTART;VALUE=DATE:20280522\r\nDTEND;VALUE=DATE:20280527",
    )
    ics = tmp_path / "terms.ics"
    ics.write_bytes(moved)
    before = directory.read_bytes()
    report = import_terms(ics, directory, urns=["990101"])
    assert changed_lines(before, directory.read_bytes()) == [
        "+   { start = 2028-04-18, end = 2028-05-19 },",
        "+   { start = 2028-05-29, end = 2028-07-20 },",
        "+ inset_days = [2026-09-01, 2026-11-02, 2027-01-04, 2027-06-07, 2027-09-01, 2028-01-04, 2028-06-05]",
        "-   { start = 2028-04-18, end = 2028-05-26 },",
        "-   { start = 2028-06-05, end = 2028-07-20 },",
        "- inset_days = [2026-09-01, 2026-11-02, 2027-01-04, 2027-06-07, 2027-09-01, 2028-01-04]",
    ]
    [line] = report.updated
    assert line.startswith(
        "990101 Oakfield Primary School: terms -2028-04-18..2028-05-26, -2028-06-05..2028-07-20"
    )
    assert "+2028-04-18..2028-05-19, +2028-05-29..2028-07-20" in line


def test_a_bad_event_changes_no_school_and_says_where_it_is(tmp_path, directory, capsys):
    before = directory.read_bytes()
    bad = calendar(
        vevent(1, "Autumn term", "20270902", "20271218"),
        vevent(2, "October half term", "20271030", "20271025"),
        vevent(3, "INSET day", "20270901", "20270902", extra="RRULE:FREQ=YEARLY;COUNT=3"),
    )
    ics = tmp_path / "terms.ics"
    ics.write_bytes(bad)

    report = import_terms(ics, directory, urns=["990101"])

    assert [str(p) for p in report.problems] == [
        "event 2, line 16 ('October half term'): DTEND '20271025': ends before it starts (2027-10-30)",
        "event 3, line 24 ('INSET day'): RRULE 'FREQ=YEARLY;COUNT=3': "
        "repeating events are not read: list each",
    ]
    assert not report.changed and directory.read_bytes() == before
    assert "no school's terms were changed" in report.notes
    assert main(["terms", str(ics), "--urn", "990101", "--into", str(directory)]) == 2
    assert "event 2, line 16 ('October half term')" in capsys.readouterr().out


def test_terms_for_a_school_not_in_the_directory_is_a_problem(tmp_path, directory):
    ics = tmp_path / "terms.ics"
    ics.write_bytes(BY_TERMS)
    report = import_terms(ics, directory, urns=["990101", "990188"])
    assert [str(p) for p in report.problems] == [
        "URN 990188: --urn '990188': not in the directory: add it first (whereabouts-directory gias)"
    ]
    assert report.updated and report.exit_code == 1  # the school it knows is done


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"URN,EstablishmentName\r\n990101,Oakfield\r\n", "not an iCalendar file"),
        (calendar(), "the file has no events"),
    ],
)
def test_a_file_that_is_not_term_dates_changes_nothing(tmp_path, directory, content, message):
    ics = tmp_path / "terms.ics"
    ics.write_bytes(content)
    with pytest.raises(SourceError, match=message):
        import_terms(ics, directory, urns=["990101"])


def test_timed_events_count_by_their_day_in_london():
    timed = calendar(
        vevent(1, "Autumn term", "20270902", "20271218"),
        "\r\n".join(
            [
                "BEGIN:VEVENT",
                "UID:t1@example",
                "DTSTAMP:20260301T090000Z",
                "DTSTART;TZID=Europe/London:20271105T083000",
                "DTEND;TZID=Europe/London:20271105T153000",
                "SUMMARY:Staff training day",
                "END:VEVENT",
                "BEGIN:VEVENT",
                "UID:t2@example",
                "DTSTAMP:20260301T090000Z",
                "DTSTART:20271112T000000Z",
                "DTEND:20271113T000000Z",
                "SUMMARY:INSET",
                "END:VEVENT",
            ]
        ),
    )
    dates, _ = read_terms(timed)
    assert dates is not None and dates.inset_days == [date(2027, 11, 5), date(2027, 11, 12)]


@pytest.mark.parametrize(
    ("summary", "kind"),
    [
        ("Autumn Term", "term"),
        ("Spring term 2", "term"),
        ("October half-term", "holiday"),
        ("Half term", "holiday"),
        ("Christmas holidays", "holiday"),
        ("Easter break", "holiday"),
        ("INSET Day", "inset"),
        ("Teacher Training Day", "inset"),
        ("Professional development day - school closed to pupils", "inset"),
        ("Term starts", "start"),
        ("Schools break up for summer", "end"),
        ("Last day of term", "end"),
        ("First day of autumn term", "start"),
        ("End of the summer term", "end"),
        ("Good Friday", "bank"),
        ("Spring bank holiday", "bank"),
        ("Sports day", None),
    ],
)
def test_what_an_event_is(summary, kind):
    assert classify(summary) == kind


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------
def test_the_command_end_to_end(tmp_path, directory, capsys):
    source = extract(tmp_path, [OAKFIELD, BROOKSIDE])
    ics = tmp_path / "terms.ics"
    ics.write_bytes(BY_HOLIDAYS)
    args = ["gias", str(source), "--la", LA, "--urn", "990101", "--into", str(directory)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"{source}: 2 rows (2 in LA 999), Windows-1252" in out
    assert "changed: 0 added, 1 updated, 0 unchanged" in out
    assert "The previous file is kept as" in out
    assert (
        main(["terms", str(ics), "--urn", "990101", "--urn", "990102", "--into", str(directory), "--dry-run"])
        == 0
    )
    assert "Dry run: nothing was written." in capsys.readouterr().out


def test_the_command_is_installed_and_runs_with_python_m():
    scripts = {ep.name: ep.value for ep in metadata.entry_points(group="console_scripts")}
    assert scripts["whereabouts-directory"] == "whereabouts.cli.directory:console_main"
    out = subprocess.run(
        [sys.executable, "-m", "whereabouts.cli.directory", "terms", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0 and "--urn URN" in out.stdout and "TERMS.ics" in out.stdout
