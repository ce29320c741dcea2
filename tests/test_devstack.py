"""``make run``'s own logic, without a server: the sample feed dated for today, and the rehearsal's
separate state (its own folder, the same encryption key as ``admin.py`` reads).
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, timedelta

import pytest
from temporalio.api.common.v1 import Payload

from whereabouts.connect import codec_for
from whereabouts.devstack import __main__ as devstack
from whereabouts.devstack import sample
from whereabouts.directory import load_directory
from whereabouts.feed import read_feed
from whereabouts.feed.checks import parse_date
from whereabouts.schooldays import SchoolCalendar
from whereabouts.settings import ROOT, Settings

SAMPLE = ROOT / "examples" / "absences.csv"
DIRECTORY = load_directory(ROOT / "examples" / "schools.toml")
SAMPLE_DAY = date(2026, 11, 27)  # the register day examples/absences.csv is written for

# Days that test the rule: a school day; a Saturday; Christmas Day (in the holiday); the first
# day back, when one school has an INSET day and the other has not started; a Monday after a
# half-term, when an earlier date must step back over the holiday; a bank holiday Monday.
DAYS = [
    date(2026, 12, 1),
    date(2026, 12, 5),
    date(2026, 12, 25),
    date(2027, 1, 4),
    date(2026, 11, 2),
    date(2027, 5, 3),
    date(2027, 9, 2),
]


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def school_days_between(calendar: SchoolCalendar, a: date, b: date) -> int:
    """School days in [a, b): how many school days a is before b."""
    return sum(calendar.is_school_day(a + timedelta(days=n)) for n in range((b - a).days))


@pytest.mark.parametrize("today", DAYS, ids=str)
def test_the_moved_sample_is_on_school_days_and_keeps_its_spacing(today):
    original = rows(SAMPLE.read_text())
    moved = sample.move_feed(SAMPLE.read_text(), DIRECTORY, today)
    assert moved.sample_day == SAMPLE_DAY and moved.notes == []
    after = rows(moved.text)
    assert len(after) == len(original)
    for before, now in zip(original, after, strict=True):
        calendar = SchoolCalendar(DIRECTORY.school(now["school_urn"]))
        register = moved.register_days[now["school_urn"]]
        # The register day is today where the school is open, else its last school day.
        assert register <= today and calendar.is_school_day(register)
        between = [register + timedelta(days=n) for n in range(1, (today - register).days + 1)]
        assert not any(calendar.is_school_day(d) for d in between)
        for col in ("attendance_date", "last_attended"):
            if not before[col]:
                assert now[col] == ""
                continue
            was, is_ = parse_date(before[col]), parse_date(now[col])
            assert calendar.is_school_day(is_), (col, now)
            # As many school days before the register day as in the sample, in the same format.
            assert school_days_between(calendar, is_, register) == school_days_between(
                calendar, was, SAMPLE_DAY
            )
            assert ("/" in now[col]) == ("/" in before[col])
        # Nothing else moves: dates of birth, names, codes, sessions.
        assert {k: v for k, v in now.items() if k not in sample.MOVED} == {
            k: v for k, v in before.items() if k not in sample.MOVED
        }


@pytest.mark.parametrize("today", DAYS, ids=str)
def test_the_moved_sample_is_a_feed_the_starter_takes_whole(today):
    moved = sample.move_feed(SAMPLE.read_text(), DIRECTORY, today)
    feed = read_feed(moved.text, directory=DIRECTORY, today=today)
    assert feed.rejects == [] and len(feed.rows) == 9
    assert sample.feed_day(moved.text) == max(moved.register_days.values())


@pytest.mark.parametrize("today", DAYS[:2], ids=str)
def test_the_moved_sample_keeps_the_safeguarding_columns(today):
    """Restrictions, a contact's own address (quoted, with a comma), the social worker's e-mail and
    the MIS pupil ID reach each case from the moved copy exactly as from the sample itself."""
    original = rows(SAMPLE.read_text())
    leo = next(r for r in original if r["forename"] == "Leo")
    assert leo["contact2_restriction"] and leo["contact2_postcode"]  # the sample shows them
    leo["contact2_address_line1"] = 'Flat 12, "Ferry Court"'
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(original[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(original)
    text = buf.getvalue()

    def cases(feed_text: str, on: date) -> dict[str, dict]:
        feed = read_feed(feed_text, directory=DIRECTORY, today=on)
        assert feed.rejects == [], feed.rejects
        return {
            r.upn: r.to_case().model_dump(
                include={"contacts", "social_worker_email", "mis_pupil_id", "pupil"}
            )
            for r in feed.rows
            if r.starts_case
        }

    before = cases(text, SAMPLE_DAY)
    after = cases(sample.move_feed(text, DIRECTORY, today).text, today)
    assert after == before
    father = after["F928200120013"]["contacts"][1]
    assert father["restriction"] == "court_order" and father["address"]["line1"] == 'Flat 12, "Ferry Court"'
    assert after["H940400117015"]["social_worker_email"]


def test_the_summary_says_which_day_the_sample_stands_for():
    def said(today: date) -> str:
        moved = sample.move_feed(SAMPLE.read_text(), DIRECTORY, today)
        return sample.describe(moved.register_days, today, DIRECTORY)

    assert said(date(2026, 12, 1)) == "Tue 1 Dec 2026 (today's morning register)"
    assert (
        said(date(2026, 12, 5)) == "Fri 4 Dec 2026 (the last school day: today, Sat 5 Dec 2026, is not one)"
    )
    # Oakfield is back on Mon 2 Nov 2026 after half-term only for an INSET day; Riverside is open.
    assert said(date(2026, 11, 2)) == (
        "Oakfield Primary School Fri 23 Oct 2026; Riverside Academy Mon 2 Nov 2026 "
        "(today, Mon 2 Nov 2026, where a school is open, else its last school day)"
    )


def test_a_school_without_terms_this_year_is_dated_on_weekdays_and_said():
    later = date(2030, 3, 5)  # a Tuesday; the example directory's terms end in July 2028
    moved = sample.move_feed(SAMPLE.read_text(), DIRECTORY, later)
    assert moved.register_days == {"990101": later, "990102": later}
    assert len(moved.notes) == 2 and "has no school day in the directory's term dates" in moved.notes[0]
    mia = rows(moved.text)[0]
    assert (mia["attendance_date"], mia["last_attended"]) == ("2030-03-05", "2030-03-04")


# --------------------------------------------------------------------------------------------
# The rehearsal's own state
# --------------------------------------------------------------------------------------------
def test_a_rehearsal_runs_on_its_own_state_with_the_key_admin_reads(tmp_path, monkeypatch):
    monkeypatch.delenv("WHEREABOUTS_CODEC_KEYS", raising=False)
    real = Settings(var_dir=tmp_path / "var")
    rehearsal = Settings(var_dir=tmp_path / "var", school_day_seconds=20)
    assert devstack.state_dir(real) == tmp_path / "var"
    assert devstack.state_dir(rehearsal) == tmp_path / "var" / "rehearsal"

    token = devstack.local_secrets(real.var_dir)  # make run's first step: the key, under var/
    assert devstack.child_env(real, devstack.state_dir(real), token).get("WHEREABOUTS_VAR_DIR") is None
    env = devstack.child_env(rehearsal, devstack.state_dir(rehearsal), token)
    assert env["WHEREABOUTS_VAR_DIR"] == str(tmp_path / "var" / "rehearsal")
    assert env["WHEREABOUTS_CODEC_KEYS"] == (tmp_path / "var" / "codec-keys").read_text().strip()

    # The rehearsal's worker (its folder, the key from the environment) and admin.py (var/, the
    # key file there) read each other's payloads.
    worker = Settings(var_dir=tmp_path / "var" / "rehearsal", codec_keys=env["WHEREABOUTS_CODEC_KEYS"])
    admin = Settings(var_dir=tmp_path / "var")
    wc, ac = codec_for(worker), codec_for(admin)
    assert wc is not None and ac is not None
    payload = Payload(metadata={"encoding": b"json/plain"}, data=b'"Mia"')
    assert asyncio.run(ac.decode(asyncio.run(wc.encode([payload])))) == [payload]


def test_starting_afresh_clears_one_state_and_keeps_the_key(tmp_path):
    var = tmp_path / "var"
    rehearsal = var / "rehearsal"
    for state in (var, rehearsal):
        (state / "mail").mkdir(parents=True)
        (state / "mail" / "1.eml").write_text("x")
        for name in (
            "temporal.db",
            "mis-outbox.jsonl",
            "mis-outbox.ack",
            "sample-absences.csv",
            "rejects.csv",
        ):
            (state / name).write_text("x")
    (var / "codec-keys").write_text("local-1:key")
    (var / "codec-token").write_text("token")
    gone = devstack.clear_state(rehearsal)
    assert set(gone) == {
        "temporal.db",
        "mail",
        "mis-outbox.jsonl",
        "mis-outbox.ack",
        "sample-absences.csv",
        "rejects.csv",
    }
    assert not any(rehearsal.iterdir())
    assert (var / "temporal.db").exists() and (var / "mail" / "1.eml").exists()  # the real cases stay
    devstack.clear_state(var)
    assert sorted(p.name for p in var.iterdir()) == ["codec-keys", "codec-token", "rehearsal"]


def test_a_state_with_cases_feeds_the_sample_it_started_with(tmp_path):
    settings = Settings(var_dir=tmp_path / "var")
    found = devstack.sample_feed(settings, settings.var_dir, fresh=True)
    assert found is not None
    fed, dated = found
    assert fed == tmp_path / "var" / "sample-absences.csv"
    assert dated.endswith(("(today's morning register)", "is not one)", "else its last school day)"))
    # A later run on the same state feeds the file it started with (so nothing changes), and says
    # which day that was.
    older = sample.move_feed(SAMPLE.read_text(), DIRECTORY, date(2026, 12, 1)).text
    fed.write_text(older)
    found = devstack.sample_feed(settings, settings.var_dir, fresh=False)
    assert found is not None and found[0] == fed and fed.read_text() == older
    assert found[1].startswith("Tue 1 Dec 2026")
    # Started afresh, it is dated again.
    found = devstack.sample_feed(settings, settings.var_dir, fresh=True)
    assert found is not None and found[1] == dated
