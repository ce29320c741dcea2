"""The feed and the school's calendar: an N mark the case could not schedule is refused, and the
``last_attended`` column reaches the case. Reading and checking only: no server needed."""

from __future__ import annotations

import io
from datetime import date, timedelta

from tests.conftest import ROOT, TEST_DIRECTORY
from tests.factories import TEST_URN
from tests.test_starter import DIRECTORY, NAMES, csv_text, new_upn, row
from whereabouts.cli import starter
from whereabouts.directory import load_directory
from whereabouts.feed import read_feed

FED_ON = date(2027, 1, 15)  # "today" for the fixed dates below, so none is in the future
AGAIN = "; correct the date (or the mark in the MIS) and feed the row again"
SHUT = f"not a school day at Test Hill Primary (URN {TEST_URN}): "


def holidays_directory(tmp_path):
    """The test school with a Christmas holiday (19 Dec 2026 to 3 Jan 2027) and an INSET day."""
    text = TEST_DIRECTORY.read_text().replace(
        "terms = [{ start = 2026-01-01, end = 2099-12-31 }]",
        "terms = [{ start = 2026-01-01, end = 2026-12-18 }, { start = 2027-01-04, end = 2099-12-31 }]\n"
        "inset_days = [2027-01-04]",
    )
    path = tmp_path / "schools.toml"
    path.write_text(text)
    return load_directory(path)


def test_an_n_mark_on_a_day_the_school_is_shut_is_refused_naming_the_school_and_the_day(tmp_path):
    rows = [
        row(new_upn(), on=date(2026, 12, 5)),  # 2: a Saturday
        row(new_upn(), on=date(2026, 12, 25)),  # 3: Christmas Day
        row(new_upn(), on=date(2026, 12, 21)),  # 4: in the Christmas holiday
        row(new_upn(), on=date(2027, 1, 4)),  # 5: the INSET day
        row(new_upn(), on=date(2027, 1, 5)),  # 6: a school day
        row(new_upn(), "/", on=date(2026, 12, 5)),  # 7: other marks are not refused for the day
        row(new_upn(), "I", on=date(2026, 12, 25)),  # 8
    ]
    checked = read_feed(csv_text(rows), directory=holidays_directory(tmp_path), today=FED_ON)
    assert [r.row for r in checked.rows] == [6, 7, 8]
    assert [(r.row, r.field, r.value) for r in checked.rejects] == [
        (2, "attendance_date", "2026-12-05"),
        (3, "attendance_date", "2026-12-25"),
        (4, "attendance_date", "2026-12-21"),
        (5, "attendance_date", "2027-01-04"),
    ]
    assert [r.reason for r in checked.rejects] == [
        SHUT + "Sat 5 Dec 2026 is a weekend" + AGAIN,
        SHUT + "Fri 25 Dec 2026 is a bank holiday (Christmas Day)" + AGAIN,
        SHUT + "Mon 21 Dec 2026 is outside Test Hill Primary's term dates in the school directory" + AGAIN,
        SHUT + "Mon 4 Jan 2027 is an INSET day at Test Hill Primary" + AGAIN,
    ]
    # Without a directory there is no calendar to check against: the row is read.
    unchecked = read_feed(csv_text(rows[:1]), directory=None, today=FED_ON)
    assert not unchecked.rejects and unchecked.rows[0].attendance_date == date(2026, 12, 5)


async def test_a_dry_run_refuses_an_n_mark_on_a_weekend_too(settings, tmp_path):
    saturday = date.today() - timedelta(days=(date.today().weekday() - 5) % 7)  # today or before
    path = tmp_path / "today.csv"
    path.write_text(csv_text([row(new_upn(), on=saturday)]))
    out, err = io.StringIO(), io.StringIO()
    code = await starter.run([str(path), "--dry-run"], settings=settings, stdout=out, stderr=err)
    assert code == 1, err.getvalue()
    said = f"row 2: attendance_date: {SHUT}{saturday.strftime('%a %-d %b %Y')} is a weekend{AGAIN}"
    assert said in out.getvalue(), out.getvalue()
    assert not any(n in out.getvalue() + err.getvalue() for n in NAMES)


def test_last_attended_reaches_the_case_and_must_come_before_the_absence():
    absent, before = date(2027, 1, 13), date(2027, 1, 12)
    upns = [new_upn() for _ in range(6)]
    rows = [
        row(upns[0], on=absent, last_attended="12/01/2027"),  # 2: UK date, as the MIS writes it
        row(upns[1], on=absent),  # 3: not sent: not known to the case
        row(upns[2], on=absent, last_attended=absent.isoformat()),  # 4: the day of the absence
        row(upns[3], on=absent, last_attended="2027-01-14"),  # 5: after it
        row(upns[4], on=absent, last_attended="12.01.2027"),  # 6: not a date
        row(upns[5], "/", on=absent, last_attended="whenever"),  # 7: only N rows read it
    ]
    checked = read_feed(csv_text(rows), directory=DIRECTORY, today=FED_ON)
    assert [r.row for r in checked.rows] == [2, 3, 7]
    assert checked.rows[0].to_case().last_attended == before
    assert checked.rows[1].to_case().last_attended is None
    assert [(r.row, r.field) for r in checked.rejects] == [
        (4, "last_attended"),
        (5, "last_attended"),
        (6, "last_attended"),
    ]
    reasons = [r.reason for r in checked.rejects]
    after = "on or after the attendance date: the last day attended comes before it"
    assert reasons[0] == reasons[1] == after
    assert reasons[2] == "not a date: use YYYY-MM-DD or DD/MM/YYYY"


def test_the_examples_carry_last_attended_for_some_rows():
    examples = load_directory(ROOT / "examples" / "schools.toml")
    last: dict[str, date | None] = {}
    for name in ("absences.csv", "absences.json"):
        feed = read_feed((ROOT / "examples" / name).read_text(), directory=examples, today=date(2026, 11, 27))
        last |= {r.upn: r.to_case().last_attended for r in feed.rows if r.starts_case}
    assert last["M940200119011"] == date(2026, 11, 26)  # CSV, ISO date
    assert last["F928200120013"] == date(2026, 11, 26)  # CSV, UK date
    assert last["U941200119022"] == date(2026, 11, 25)  # JSON
    assert last["Z940200121012"] is None  # not every MIS sends it
