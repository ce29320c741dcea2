"""The school directory from the sources an LA already has: the DfE's register and term dates.

Two imports update ``schools.toml`` (``whereabouts-directory``, ``whereabouts/cli/directory.py``):

- ``gias``: each school's name, address and phone from the *Get Information About Schools*
  (GIAS) establishment extract, the CSV the DfE publishes every day (``edubasealldata*.csv``, or
  a download of selected establishments). It is Windows-1252 text, one row per establishment, with
  columns such as ``URN``, ``EstablishmentName``, ``LA (code)``, ``LA (name)``,
  ``EstablishmentStatus (name)``, ``Street``, ``Locality``, ``Address3``, ``Town``,
  ``Postcode`` and ``TelephoneNum``.
- ``terms``: a school's terms and INSET days from an iCalendar (``.ics``) file, as many LAs and
  schools publish them: events for terms (or for the first and last days of term), for holidays
  and half terms, and for INSET (training) days. Terms are the runs of school-open days between
  the holidays.

What a person typed stays: only the fields an import owns are changed (GIAS: ``name``,
``address``, ``phone``; terms: the ``terms`` and ``inset_days`` within the dates the file covers),
and the file keeps its comments and layout (``tomlkit``). Every change is reported, the previous
file is kept beside it (``schools.toml.bak-YYYYMMDD-HHMMSS``), and the new one replaces it in one
step, so a failure half way leaves the old file whole. A bad row or event is reported with where
it is, the field, the value and what is wrong: a GIAS row's problem leaves that school as it was
and the others still go in; a problem in a term-dates file changes no school's terms, since terms
worked out without one of its holidays would count school days in that holiday.
"""

from __future__ import annotations

import csv
import difflib
import io
import itertools
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import tomlkit
from icalendar import Calendar
from pydantic import ValidationError
from tomlkit.items import AoT, Table

from whereabouts.directory import Directory
from whereabouts.times import LONDON

# The GIAS columns an import reads (the extract has about 130).
GIAS_COLUMNS = (
    "URN",
    "LA (code)",
    "LA (name)",
    "EstablishmentName",
    "EstablishmentStatus (name)",
    "Street",
    "Locality",
    "Address3",
    "Town",
    "Postcode",
    "TelephoneNum",
)
ADDRESS_COLUMNS = ("Street", "Locality", "Address3", "Town", "Postcode")
CLOSED = "Closed"
# What a school needs that GIAS does not have: a person fills these in.
BY_HAND = ("attendance_inbox", "dsl", "visit_staff", "terms")
LA_BY_HAND = ("cme_inbox", "social_care", "police")
_URN = re.compile(r"\d{6}")
_POSTCODE = re.compile(r"([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})")  # without its space
_PHONE = re.compile(r"[0-9 ()+\-]+")


class SourceError(Exception):
    """The source or the directory cannot be used at all: nothing was changed."""


@dataclass(frozen=True)
class Problem:
    """A row or event that could not be used: where it is, the field, the value, and why."""

    where: str  # "row 7 (URN 990105)", "event 3 (line 21, 'Autumn term')"
    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field} {self.value!r}: {self.reason}"


@dataclass
class Report:
    """What an import did (or, with ``dry_run``, would do)."""

    source: str
    directory: Path
    read: str = ""  # "412 rows, Windows-1252", "38 events"
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    to_fill_in: list[str] = field(default_factory=list)  # what a person must add before use
    written: bool = False
    backup: Path | None = None
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated)

    @property
    def exit_code(self) -> int:
        """0: all done; 1: done, but rows were rejected or entries need filling in by hand."""
        return 1 if self.problems or self.to_fill_in else 0

    def lines(self) -> list[str]:
        verb = "would change" if self.dry_run else "changed"
        out = [f"{self.source}: {self.read}"]
        if not self.changed:
            out.append(f"{self.directory}: nothing to change")
        else:
            counts = f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged"
            out.append(f"{self.directory}: {verb}: {counts}")
        out += [f"  added   {x}" for x in self.added]
        out += [f"  updated {x}" for x in self.updated]
        out += [f"  same    {x}" for x in self.unchanged]
        out += [f"  note: {x}" for x in self.notes]
        if self.problems:
            out.append(f"{len(self.problems)} problem(s); what they concern was left as it was:")
            out += [f"  {p}" for p in self.problems]
        if self.to_fill_in:
            out.append("Fill in by hand before the worker can use the directory:")
            out += [f"  {x}" for x in self.to_fill_in]
        if self.backup:
            out.append(f"The previous file is kept as {self.backup}")
        if self.dry_run:
            out.append("Dry run: nothing was written.")
        return out


# --------------------------------------------------------------------------------------------
# Reading the sources
# --------------------------------------------------------------------------------------------
def decode(data: bytes) -> tuple[str, str]:
    """GIAS publishes Windows-1252; a copy saved again by a spreadsheet may be UTF-8 (often with a
    byte-order mark). (text, the encoding's name)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "UTF-8"
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
        return data.decode("latin-1"), "Latin-1"


@dataclass(frozen=True)
class GiasSchool:
    row: int
    urn: str
    name: str
    la_code: str
    la_name: str
    status: str
    address: list[str]
    phone: str


def read_gias(data: bytes, *, la: str, urns: set[str] | None = None) -> tuple[list[GiasSchool], Report]:
    """The extract's schools in LA ``la`` (its ``LA (code)``, e.g. 940), or only those in
    ``urns``; each bad row is a problem, and the other rows still count."""
    text, encoding = decode(data)
    report = Report(source="", directory=Path())
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise SourceError("the file is empty") from None
    missing = [c for c in GIAS_COLUMNS if c not in header]
    if missing:
        raise SourceError(
            f"not a GIAS establishment extract: no {', '.join(repr(c) for c in missing)} column"
            f"{'s' if len(missing) > 1 else ''} (its first columns: {', '.join(header[:6])})"
        )
    at = {name: header.index(name) for name in GIAS_COLUMNS}
    found: list[GiasSchool] = []
    rows = in_la = 0
    wanted = set(urns or ())
    seen: set[str] = set()
    for number, cells in enumerate(reader, start=2):  # row 1 is the header
        if not any(c.strip() for c in cells):
            continue
        rows += 1
        if len(cells) != len(header):
            report.problems.append(
                Problem(f"row {number}", "row", f"{len(cells)} cells", f"the header has {len(header)}")
            )
            continue
        value = {name: cells[i].strip() for name, i in at.items()}
        urn = value["URN"]
        where = f"row {number} (URN {urn})"
        if value["LA (code)"] != la:
            if urn in wanted:
                report.problems.append(
                    Problem(
                        where,
                        "LA (code)",
                        value["LA (code)"],
                        f"the school is in {value['LA (name)'] or 'another LA'}, not LA {la}",
                    )
                )
                seen.add(urn)
            continue
        in_la += 1
        if wanted and urn not in wanted:
            continue
        seen.add(urn)
        school, problems = _gias_school(number, where, value)
        report.problems += problems
        if school:
            found.append(school)
    for urn in sorted(wanted - seen):
        report.problems.append(Problem(f"URN {urn}", "URN", urn, "not in the extract"))
    report.read = f"{rows} rows ({in_la} in LA {la}), {encoding}"
    return found, report


def _gias_school(number: int, where: str, value: dict[str, str]) -> tuple[GiasSchool | None, list[Problem]]:
    problems: list[Problem] = []
    urn = value["URN"]
    if not _URN.fullmatch(urn):
        problems.append(Problem(where, "URN", urn, "a URN is 6 digits"))
    if not value["EstablishmentName"]:
        problems.append(Problem(where, "EstablishmentName", "", "the school has no name"))
    match = _POSTCODE.fullmatch(re.sub(r"\s+", "", value["Postcode"].upper()))
    if not match:
        problems.append(Problem(where, "Postcode", value["Postcode"], "not a UK postcode"))
    lines = [value[c] for c in ADDRESS_COLUMNS[:-1] if value[c]]
    if match:
        lines.append(f"{match.group(1)} {match.group(2)}")
    if len(lines) < 2:
        problems.append(Problem(where, "Street", value["Street"], "an address needs a street or town"))
    phone = value["TelephoneNum"]
    if phone and (not _PHONE.fullmatch(phone) or sum(c.isdigit() for c in phone) < 10):
        problems.append(Problem(where, "TelephoneNum", phone, "not a phone number"))
    if problems:
        return None, problems
    school = GiasSchool(
        row=number,
        urn=urn,
        name=value["EstablishmentName"],
        la_code=value["LA (code)"],
        la_name=value["LA (name)"],
        status=value["EstablishmentStatus (name)"],
        address=lines,
        phone=phone,
    )
    return school, []


# --------------------------------------------------------------------------------------------
# Term dates from iCalendar
# --------------------------------------------------------------------------------------------
_INSET = re.compile(
    r"\binset\b|training day|staff (development|training)|(teacher|professional) (development|training)"
    r"|\bpd day\b|non[- ]pupil|closed (to|for) (pupils|students)|teacher day"
)
_BANK = re.compile(r"bank holiday|good friday|easter monday|christmas day|boxing day|new year'?s day")
_HALF_TERM = re.compile(r"half[- ]?term")
_START = re.compile(
    r"\bterm (starts|begins|start|begin|opens)\b|(first day|start|beginning) of (the )?(\w+ )?term"
    r"|\bschool (re)?opens\b|pupils return|students return"
)
_END = re.compile(
    r"\bterm (ends|end|finishes|closes)\b|(last day|end) of (the )?(\w+ )?term"
    r"|\bschools? closes?\b|breaks? up"
)
_HOLIDAY = re.compile(r"holiday|\bbreak\b|vacation|\bclosed\b|closure")
_TERM = re.compile(r"\bterm\b|\bsemester\b")


def classify(words: str) -> str | None:
    """What an event is, from its summary (and categories): inset, bank, holiday, start, end,
    term, or None (a parents' evening, a sports day: not a school-day matter)."""
    t = " ".join(words.lower().split())
    if _INSET.search(t):
        return "inset"
    if _BANK.search(t):
        return "bank"
    if _HALF_TERM.search(t):
        return "holiday"
    if _START.search(t):
        return "start"
    if _END.search(t):
        return "end"
    if _HOLIDAY.search(t):
        return "holiday"
    if _TERM.search(t):
        return "term"
    return None


@dataclass
class TermDates:
    terms: list[tuple[date, date]]
    inset_days: list[date]
    first: date  # the dates the file covers: a school's terms and INSET days in them are replaced
    last: date


def _day(value: date | datetime) -> date:
    if isinstance(value, datetime):
        return (value.astimezone(LONDON) if value.tzinfo else value).date()
    return value


def _event_days(ev: Any) -> tuple[date, date]:
    """An event's first and last day. An all-day event ends the day before its DTEND (RFC 5545;
    a DTEND equal to DTSTART, as some programs write a one-day event, is that one day); a timed
    one ends on the day it ends, or the day before if it ends at midnight."""
    start = ev.decoded("DTSTART")
    timed = isinstance(start, datetime)
    if "DTEND" in ev:
        end = ev.decoded("DTEND")
    elif "DURATION" in ev:
        end = start + ev.decoded("DURATION")
    else:
        end = start if timed else start + timedelta(days=1)
    first = _day(start)
    if isinstance(end, datetime):
        local = end.astimezone(LONDON) if end.tzinfo else end
        last = local.date()
        if local.time() == time(0) and end > start:
            last -= timedelta(days=1)
    else:
        last = first if end == start else end - timedelta(days=1)
    return first, last


def _merge(spans: list[tuple[date, date]]) -> list[tuple[date, date]]:
    out: list[tuple[date, date]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + timedelta(days=1):
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _minus(spans: list[tuple[date, date]], holes: list[tuple[date, date]]) -> list[tuple[date, date]]:
    out = []
    for a, b in spans:
        pieces = [(a, b)]
        for h1, h2 in holes:
            nxt = []
            for x, y in pieces:
                if h2 < x or h1 > y:
                    nxt.append((x, y))
                    continue
                if x < h1:
                    nxt.append((x, h1 - timedelta(days=1)))
                if y > h2:
                    nxt.append((h2 + timedelta(days=1), y))
            pieces = nxt
        out += pieces
    return out


def _weekdays(a: date, b: date) -> tuple[date, date] | None:
    """A term trimmed to start and end on weekdays (a holiday that ends on a Sunday: the term
    starts on the Monday)."""
    while a <= b and a.weekday() >= 5:
        a += timedelta(days=1)
    while b >= a and b.weekday() >= 5:
        b -= timedelta(days=1)
    return (a, b) if a <= b else None


def read_terms(data: bytes) -> tuple[TermDates | None, Report]:
    """Terms and INSET days from an iCalendar file; None (with the problems) if it cannot be
    used as a whole."""
    report = Report(source="", directory=Path())
    text, _ = decode(data)
    try:
        cal = Calendar.from_ical(text)
    except ValueError as exc:
        raise SourceError(f"not an iCalendar file: {exc}") from None
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    event_lines = [
        n for n, line in enumerate(unfolded.splitlines(), start=1) if line.strip() == "BEGIN:VEVENT"
    ]
    spans: dict[str, list[tuple[date, date]]] = {"term": [], "holiday": [], "start": [], "end": []}
    inset: set[date] = set()
    ignored: list[str] = []
    everything: list[date] = []
    events = list(cal.walk("VEVENT"))
    if not events:
        raise SourceError("the file has no events (VEVENT)")
    for n, ev in enumerate(events, start=1):
        summary = str(ev.get("SUMMARY", "")).strip()
        line = f", line {event_lines[n - 1]}" if n <= len(event_lines) else ""
        where = f"event {n}{line} ({summary!r})" if summary else f"event {n}{line}"
        categories = ev.get("CATEGORIES")
        cats = " ".join(str(c) for cat in _as_list(categories) for c in getattr(cat, "cats", [cat]))
        kind = classify(f"{summary} {cats}")
        if kind is None:
            ignored.append(summary or f"event {n}")
            continue
        if "DTSTART" not in ev:
            report.problems.append(Problem(where, "DTSTART", "", "the event has no start"))
            continue
        if "RRULE" in ev:
            report.problems.append(
                Problem(where, "RRULE", _ical(ev["RRULE"]), "repeating events are not read: list each")
            )
            continue
        try:
            first, last = _event_days(ev)
        except (ValueError, TypeError) as exc:
            report.problems.append(Problem(where, "DTSTART", str(ev.get("DTSTART")), f"not a date ({exc})"))
            continue
        if last < first:
            report.problems.append(
                Problem(
                    where,
                    "DTEND",
                    _ical(ev.get("DTEND")),
                    f"ends before it starts ({first})",
                )
            )
            continue
        if not (2000 <= first.year <= 2100 and 2000 <= last.year <= 2100):
            report.problems.append(
                Problem(where, "DTSTART", first.isoformat(), "not a plausible school year")
            )
            continue
        if kind == "term" and (last - first).days > 140:
            report.problems.append(
                Problem(where, "DTEND", last.isoformat(), f"a term of {(last - first).days + 1} days")
            )
            continue
        everything += [first, last]
        if kind == "bank":
            continue  # England's bank holidays are counted already (the holidays package)
        if kind == "inset":
            for k in range((last - first).days + 1):
                day = first + timedelta(days=k)
                if day.weekday() < 5:
                    inset.add(day)
            continue
        spans[kind].append((first, last))
    if ignored:
        shown = ", ".join(repr(x) for x in ignored[:5]) + (", ..." if len(ignored) > 5 else "")
        report.notes.append(f"{len(ignored)} event(s) that are not terms, holidays or INSET days: {shown}")
    report.read = f"{len(events)} events"
    if report.problems:
        return None, report

    holidays = _merge(spans["holiday"])
    terms = list(spans["term"])
    starts, ends = sorted(a for a, _ in spans["start"]), sorted(a for a, _ in spans["end"])
    for s in starts:  # a "term starts" day, then the next "term ends" day
        after = [e for e in ends if e >= s]
        if not after:
            report.notes.append(f"term starting {s} has no end in the file: left out")
            continue
        terms.append((s, after[0]))
    if not terms:
        # Holidays only: the terms are the school-open runs between them.
        terms = [
            (a[1] + timedelta(days=1), b[0] - timedelta(days=1))
            for a, b in itertools.pairwise(holidays)
            if b[0] - a[1] > timedelta(days=1)
        ]
        if holidays:
            report.notes.append(
                f"the file has holidays but no term dates: terms are the runs between them, from "
                f"{holidays[0][1] + timedelta(days=1)} to {holidays[-1][0] - timedelta(days=1)}"
            )
    worked = [t for t in (_weekdays(a, b) for a, b in _minus(_merge(terms), holidays)) if t]
    if not worked:
        report.problems.append(Problem("the file", "VEVENT", f"{len(events)} events", "no term dates in it"))
        return None, report
    return TermDates(worked, sorted(inset), min(everything), max(everything)), report


def _ical(value: Any) -> str:
    """A property as the file writes it (20270104, FREQ=WEEKLY)."""
    raw = value.to_ical() if hasattr(value, "to_ical") else value
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------------------------------
# The directory file
# --------------------------------------------------------------------------------------------
def load_document(path: Path) -> tomlkit.TOMLDocument:
    if not path.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except (tomlkit.exceptions.ParseError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: not valid TOML: {exc}") from None


def _schools(doc: tomlkit.TOMLDocument) -> AoT:
    if "schools" not in doc:
        doc.append("schools", tomlkit.aot())
    schools = doc["schools"]
    if not isinstance(schools, AoT):
        raise SourceError("schools: expected [[schools]] entries")
    return schools


def _find(schools: AoT, urn: str) -> Table | None:
    return next((t for t in schools if str(t.get("urn", "")) == urn), None)


def _label(table: Table | dict) -> str:
    return f"{table.get('urn')} {table.get('name')}"


def _local_authority(doc: tomlkit.TOMLDocument, code: str, name: str, as_la: str | None) -> str | None:
    las = doc.get("local_authorities") or []
    if as_la:
        return as_la if any(str(x.get("code")) == as_la for x in las) else None
    for x in las:
        if str(x.get("code")) == code or str(x.get("name", "")).strip().lower() == name.strip().lower():
            return str(x.get("code"))
    return None


def apply_gias(
    doc: tomlkit.TOMLDocument,
    found: list[GiasSchool],
    report: Report,
    *,
    la: str,
    urns: set[str] | None,
    as_la: str | None = None,
) -> None:
    """Update each school in the directory from its GIAS row (name, address, phone), and add
    the schools named in ``urns`` that the directory does not have yet."""
    schools = _schools(doc)
    for school in found:
        table = _find(schools, school.urn)
        if table is None:
            if not urns or school.urn not in urns:
                continue  # another of the LA's schools: only those named are added
            if school.status == CLOSED:
                report.problems.append(
                    Problem(
                        f"row {school.row} (URN {school.urn})",
                        "EstablishmentStatus (name)",
                        school.status,
                        "a closed school is not added",
                    )
                )
                continue
            key = _local_authority(doc, la, school.la_name, as_la)
            if key is None:
                if as_la or doc.get("local_authorities"):
                    report.problems.append(
                        Problem(
                            f"row {school.row} (URN {school.urn})",
                            "LA (code)",
                            la,
                            f"no [[local_authorities]] entry for {school.la_name or 'LA ' + la} in the "
                            + (
                                f"directory with code {as_la!r}"
                                if as_la
                                else "directory: name it with --as-la CODE"
                            ),
                        )
                    )
                    continue
                key = la
                authority = tomlkit.table()
                authority.add("code", la)
                authority.add("name", school.la_name or f"LA {la}")
                if "local_authorities" not in doc:
                    doc.append("local_authorities", tomlkit.aot())
                doc["local_authorities"].append(authority)
                report.added.append(f"local authority {la} {school.la_name} (from GIAS)")
                report.to_fill_in.append(f"local authority {la} {school.la_name}: {', '.join(LA_BY_HAND)}")
            table = tomlkit.table()
            table.add("urn", school.urn)
            table.add("name", school.name)
            table.add("la", key)
            table.add("address", school.address)
            if school.phone:
                table.add("phone", school.phone)
            table.add(
                tomlkit.comment(
                    f"From GIAS. By hand: {', '.join(BY_HAND)} (see README: The school directory)"
                )
            )
            schools.append(table)
            status = "" if school.status.startswith("Open") else f" (GIAS status: {school.status})"
            report.added.append(f"{_label(table)}{status}")
            need = [*BY_HAND] if school.phone else ["phone", *BY_HAND]
            report.to_fill_in.append(f"{_label(table)}: {', '.join(need)}")
            continue
        what = []
        for key, new in (("name", school.name), ("address", school.address), ("phone", school.phone)):
            if not new:
                report.notes.append(f"{_label(table)}: GIAS has no {key}; kept {table.get(key)!r}")
                continue
            old = table.get(key)
            plain = list(old) if key == "address" and old is not None else old
            if plain != new:
                what.append(f"{key} {_show(plain)} -> {_show(new)}")
                table[key] = new
        if school.status == CLOSED:
            report.notes.append(
                f"{_label(table)} is Closed in GIAS: remove it from the directory once its cases are done"
            )
        (report.updated if what else report.unchanged).append(
            f"{_label(table)}" + (f": {'; '.join(what)}" if what else "")
        )
    if not urns:
        in_file = {str(t.get("urn")) for t in schools}
        others = len({s.urn for s in found if s.status != CLOSED} - in_file)
        if others:
            report.notes.append(
                f"{others} open school(s) of LA {la} in the extract are not in the directory: "
                "add one with --urn URN"
            )


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(repr(str(v)) for v in value) + "]"
    return repr(None if value is None else str(value))


def apply_terms(doc: tomlkit.TOMLDocument, dates: TermDates, urns: list[str], report: Report) -> None:
    """Each school's terms and INSET days within the dates the file covers, from the file; those
    outside them (another year typed by hand) are kept."""
    schools = _schools(doc)
    for urn in urns:
        table = _find(schools, urn)
        if table is None:
            report.problems.append(
                Problem(
                    f"URN {urn}",
                    "--urn",
                    urn,
                    "not in the directory: add it first (whereabouts-directory gias)",
                )
            )
            continue
        old_terms = [(_as_date(t["start"]), _as_date(t["end"])) for t in table.get("terms", [])]
        kept = [t for t in old_terms if t[1] < dates.first or t[0] > dates.last]
        new_terms = sorted({*kept, *dates.terms})
        old_inset = [_as_date(d) for d in table.get("inset_days", [])]
        new_inset = sorted({*(d for d in old_inset if not dates.first <= d <= dates.last), *dates.inset_days})
        what = []
        gone = [t for t in old_terms if t not in new_terms]
        came = [t for t in new_terms if t not in old_terms]
        if gone or came:
            what.append(
                "terms"
                + (f" -{', -'.join(_span(t) for t in gone)}" if gone else "")
                + (f" +{', +'.join(_span(t) for t in came)}" if came else "")
            )
            table["terms"] = _terms_array(new_terms)
        lost = [d for d in old_inset if d not in new_inset]
        new = [d for d in new_inset if d not in old_inset]
        if lost or new:
            what.append(
                "INSET days"
                + (f" -{', -'.join(d.isoformat() for d in lost)}" if lost else "")
                + (f" +{', +'.join(d.isoformat() for d in new)}" if new else "")
            )
            table["inset_days"] = new_inset
        if kept:
            report.notes.append(
                f"{_label(table)}: kept {len(kept)} term(s) outside {dates.first} to {dates.last}"
            )
        (report.updated if what else report.unchanged).append(
            f"{_label(table)}" + (f": {'; '.join(what)}" if what else "")
        )


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _span(t: tuple[date, date]) -> str:
    return f"{t[0]}..{t[1]}"


def _terms_array(terms: list[tuple[date, date]]) -> Any:
    """One term a line, as the example directory writes them."""
    body = "".join(f"  {{ start = {a.isoformat()}, end = {b.isoformat()} }},\n" for a, b in terms)
    return tomlkit.parse(f"terms = [\n{body}]\n")["terms"]


def check(text: str, report: Report) -> None:
    """What the worker would say of the new file: each problem goes to ``to_fill_in`` (an added
    school without its DSL, say), unless a person already has it listed."""
    data = tomllib.loads(text)
    try:
        Directory.model_validate(data)
    except ValidationError as exc:
        if not report.to_fill_in:
            for err in exc.errors()[:10]:
                loc = list(err["loc"])
                where = ".".join(str(p) for p in loc)
                if len(loc) > 1 and loc[0] in ("schools", "local_authorities") and isinstance(loc[1], int):
                    entry = data[loc[0]][loc[1]]
                    label = (
                        _label(entry) if loc[0] == "schools" else f"{entry.get('code')} {entry.get('name')}"
                    )
                    where = f"{loc[0]}[{loc[1]}] ({label})" + "".join(f".{p}" for p in loc[2:])
                report.to_fill_in.append(f"{where}: {err['msg']}")


_BEFORE_BRACE = re.compile(r"\s+(?=\})")
_UNSPACED_CLOSE = re.compile(r"(\{ [^{}]*[^ {}])\}")


def keep_layout(original: str, rendered: str) -> str:
    """The new text with every line that did not change exactly as the person wrote it.

    tomlkit keeps comments and order, but drops the space before ``}`` after a date in an
    inline table (``{ start = 2026-09-02, end = 2026-10-23 }``), which would make every term line
    look changed. Lines equal but for that keep their own text; lines that are new are tidied
    the same way, and a new ``[[table]]`` gets a blank line before it."""
    old, new = original.splitlines(keepends=True), rendered.splitlines(keepends=True)

    def key(line: str) -> str:
        return _BEFORE_BRACE.sub("", line.rstrip())

    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, [key(x) for x in old], [key(x) for x in new], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out += old[i1:i2]
            continue
        for line in new[j1:j2]:
            if line.startswith("[[") and out and out[-1].strip():
                out.append("\n")
            out.append(_UNSPACED_CLOSE.sub(r"\1 }", line))
    return "".join(out)


def write(path: Path, doc: tomlkit.TOMLDocument, report: Report, *, now: datetime | None = None) -> None:
    """Keep the old file beside the new one, and swap the new one in in one step."""
    original = path.read_text(encoding="utf-8") if path.exists() else ""
    text = keep_layout(original, tomlkit.dumps(doc))
    check(text, report)
    if report.dry_run or not report.changed:
        return
    if path.exists():
        stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
        backup = path.with_name(f"{path.name}.bak-{stamp}")
        n = 1
        while backup.exists():  # two runs in one second: each keeps its own
            backup = path.with_name(f"{path.name}.bak-{stamp}-{n}")
            n += 1
        backup.write_bytes(path.read_bytes())
        report.backup = backup
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    report.written = True


# --------------------------------------------------------------------------------------------
# The two imports, as the command runs them
# --------------------------------------------------------------------------------------------
def import_gias(
    source: Path,
    into: Path,
    *,
    la: str,
    urns: set[str] | None = None,
    as_la: str | None = None,
    dry_run: bool = False,
) -> Report:
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise SourceError(f"{source}: {exc.strerror or exc}") from None
    found, report = read_gias(data, la=la.strip(), urns=urns)
    report.source, report.directory, report.dry_run = str(source), into, dry_run
    doc = load_document(into)
    apply_gias(doc, found, report, la=la.strip(), urns=urns, as_la=as_la)
    write(into, doc, report)
    return report


def import_terms(source: Path, into: Path, *, urns: list[str], dry_run: bool = False) -> Report:
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise SourceError(f"{source}: {exc.strerror or exc}") from None
    dates, report = read_terms(data)
    report.source, report.directory, report.dry_run = str(source), into, dry_run
    if dates is None:
        report.notes.append("no school's terms were changed")
        return report
    report.read += (
        f": {len(dates.terms)} terms and {len(dates.inset_days)} INSET days, {dates.first} to {dates.last}"
    )
    if not into.exists():
        raise SourceError(
            f"{into}: no such directory file (add the school with whereabouts-directory gias first)"
        )
    doc = load_document(into)
    apply_terms(doc, dates, urns, report)
    write(into, doc, report)
    return report
