"""An MIS export read through a column profile: its rows become the feed's own rows.

A school cannot change what SIMS, Arbor, Bromcom or Wonde export, so this is where an export's
columns (``Adno``, ``Legal Surname``, ``Mark``) and spellings (``Morning``, ``Present``) are turned
into the feed's columns (``whereabouts.feed.columns``), before any check: the rows that come out
go through the very same ``FeedRow`` checks, rejects file and intake as a feed in our own layout,
so a rejected row names a feed column and the rejects file can be fixed and fed back without a
profile. A profile only renames and respells; it never decides whether a row is good.

Several rows per pupil: a marks report has a row per mark (AM and PM are two rows), and the
contacts may come in a report of their own, one row per contact (``--contacts FILE``), joined to
each mark on the MIS pupil id or the UPN (the profile's ``[contacts] join``, tried in order). A
pupil's contacts are taken in the MIS's priority order, at most ``MAX_CONTACTS``; every phone
column a contact has (home, mobile, work) is read, and ``FeedRow`` lists mobiles first.

A JSON profile (Wonde's API) reads one document: a list of students (``[json] records``), each
with its marks (``[json] marks``) and contacts (``[json] contacts``) nested in it; a path
starting ``mark.`` is read from the mark, any other from the student (or, for a contact field,
from the contact).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from whereabouts.feed.checked import Feed
from whereabouts.feed.columns import COLUMNS, MAX_CONTACTS, column_name
from whereabouts.feed.csv_reader import csv_records
from whereabouts.feed.profiles.spec import Alternative, Profile, header_key
from whereabouts.feed.rejects import FeedUnreadable, Problem, Reject

Records = list[tuple[int, dict[str, str] | Reject]]
Getter = Callable[[str], str | None]
DATE_COLUMNS = ("attendance_date", "date_of_birth", "last_attended")
# The columns a profile must find (or be given) for the export to be an attendance feed at all.
REQUIRED = ("school_urn", "upn", "attendance_date", "attendance_code")
_NO_PRIORITY = 10**6


def read_profiled(
    text: str, profile: Profile, *, contacts_text: str | None = None, school_urn: str | None = None
) -> tuple[Feed, Records]:
    """The export's rows as feed rows (not yet checked), with a ``Feed`` to hold what the checks
    find. Raises ``FeedUnreadable`` when the export is not the profile's (its header says which
    columns are missing)."""
    constants = dict(profile.constants) | ({"school_urn": school_urn} if school_urn else {})
    if profile.format == "json":
        records = _json_marks(text, profile, constants)
    else:
        contacts = _csv_contacts(contacts_text, profile) if contacts_text is not None else {}
        records = _csv_marks(text, profile, constants, contacts)
    seen = {c for _, r in records for c in (r.original if isinstance(r, Reject) else r)}
    return Feed(format=profile.format, columns=[c for c in COLUMNS if c in seen]), records


def missing_columns(profile: Profile, has: Callable[[str], bool], constants: dict[str, str]) -> list[str]:
    """The required feed columns this export gives no column for, each with the header the
    profile looks for first (``upn ('UPN')``)."""
    out = []
    for column in REQUIRED:
        if column in constants:
            continue
        alternatives = profile.marks.get(column, ())
        if not any(all(has(p) for p in alt) for alt in alternatives):
            wanted = " or ".join(repr(" + ".join(alt)) for alt in alternatives[:2]) or "no header named"
            out.append(f"{column} ({wanted})")
    return out


def _pick(alternatives: Iterable[Alternative], get: Getter, every: bool = False) -> str | None:
    """The first alternative with a value (``every``: all of them, joined by ``; `` as phone
    numbers are); an alternative of several parts joins them with a space."""
    found: list[str] = []
    for alt in alternatives:
        parts = [get(p) for p in alt]
        value = " ".join(v.strip() for v in parts if v and v.strip())
        if value:
            if not every:
                return value
            found.append(value)
    return "; ".join(dict.fromkeys(found)) if found else None


def _spelled(profile: Profile, column: str, value: str) -> str:
    """A value as the feed spells it: the profile's word for it, dates in the profile's formats."""
    value = profile.value(column, value)
    if column in DATE_COLUMNS and profile.date_formats:
        for fmt in profile.date_formats:
            try:
                return datetime.strptime(value.strip(), fmt).date().isoformat()
            except ValueError:
                continue
    return value


def _mark_row(profile: Profile, get: Getter, constants: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for column, alternatives in profile.marks.items():
        value = _pick(alternatives, get, every=column.endswith("_phone"))
        if value is not None:
            out[column] = _spelled(profile, column, value)
    for column, value in constants.items():
        out.setdefault(column, value)
    return out


def _contact(profile: Profile, get: Getter) -> dict[str, str]:
    out: dict[str, str] = {}
    for field, alternatives in profile.contacts.items():
        value = _pick(alternatives, get, every=field == "phone")
        if value is not None:
            out[field] = (
                value
                if field in ("priority", "upn", "mis_pupil_id")
                else _spelled(profile, f"contact1_{field}", value)
            )
    return out


def _with_contacts(row: dict[str, str], contacts: list[dict[str, str]]) -> dict[str, str]:
    """``row`` with the first ``MAX_CONTACTS`` contacts by priority in its contact columns; a
    column the marks report filled itself is kept."""
    ordered = sorted(enumerate(contacts), key=lambda ic: (_priority(ic[1]), ic[0]))
    for n, (_, contact) in enumerate(ordered[:MAX_CONTACTS], start=1):
        for field, value in contact.items():
            if field not in ("priority", "upn", "mis_pupil_id"):
                row.setdefault(f"contact{n}_{field}", value)
    return row


def _priority(contact: dict[str, str]) -> int:
    try:
        return int(float(contact.get("priority", "")))
    except ValueError:
        return _NO_PRIORITY


def _key(join: str, value: str) -> tuple[str, str]:
    return join, value.strip().upper() if join == "upn" else value.strip()


# --- CSV ----------------------------------------------------------------------------------------
def _header_check(profile: Profile, constants: dict[str, str], what: str) -> Callable[[list[str]], None]:
    def check(header: list[str]) -> None:
        keys = {column_name(h) for h in header}
        missing = missing_columns(profile, lambda p: header_key(p) in keys, constants)
        if missing:
            urn = (
                " (a one-school export: give --school-urn URN)"
                if any("school_urn" in m for m in missing)
                else ""
            )
            raise FeedUnreadable(
                f"the {what} is not laid out as {profile.label} ({profile.title}) reads it: "
                f"no column for {', '.join(missing)}{urn}; rename the columns in the export's "
                "report, or write a mapping file (--mapping FILE)"
            )

    return check


def _contact_check(profile: Profile) -> Callable[[list[str]], None]:
    def check(header: list[str]) -> None:
        keys = {column_name(h) for h in header}
        joins = [
            j
            for j in profile.join
            if any(all(header_key(p) in keys for p in a) for a in profile.contacts.get(j, ()))
        ]
        names = profile.contacts.get("name", ())
        if not joins or not any(all(header_key(p) in keys for p in a) for a in names):
            wanted = ", ".join(
                f"{j} ({' or '.join(repr(' + '.join(a)) for a in profile.contacts.get(j, ())[:2])})"
                for j in profile.join
            )
            raise FeedUnreadable(
                f"the contacts file is not laid out as {profile.label} reads it: it needs a contact "
                f"name column and a pupil key to join on: {wanted}"
            )

    return check


def _cells_getter(cells: dict[str, str], present: set[str]) -> Getter:
    def get(part: str) -> str | None:
        key = header_key(part)
        return cells.get(key) if key in present else None

    return get


def _csv_marks(
    text: str,
    profile: Profile,
    constants: dict[str, str],
    contacts: dict[tuple[str, str], list[dict[str, str]]],
) -> Records:
    raw, records = csv_records(text, header_check=_header_check(profile, constants, "feed"))
    present = set(raw.columns)
    out: Records = []
    for row, record in records:
        if isinstance(record, Reject):
            mapped = _mark_row(profile, _cells_getter(record.original, present), constants)
            out.append((row, Reject(row, record.problems, mapped)))  # damaged: its cells, as feed columns
            continue
        mapped = _mark_row(profile, _cells_getter(record, present), constants)
        for join in profile.join:
            value = mapped.get(join)
            if value and _key(join, value) in contacts:
                _with_contacts(mapped, contacts[_key(join, value)])
                break
        out.append((row, mapped))
    return out


def _csv_contacts(text: str, profile: Profile) -> dict[tuple[str, str], list[dict[str, str]]]:
    """The contacts report by pupil key: each contact under every key it names (MIS id, UPN)."""
    raw, records = csv_records(text.removeprefix("\ufeff"), header_check=_contact_check(profile))
    present = set(raw.columns)
    index: dict[tuple[str, str], list[dict[str, str]]] = {}
    for _, record in records:
        if isinstance(record, Reject):
            continue  # a damaged contact row: the pupil's mark still goes in, with the contacts that read
        contact = _contact(profile, _cells_getter(record, present))
        if not contact.get("name"):
            continue
        for join in profile.join:
            if contact.get(join):
                index.setdefault(_key(join, contact[join]), []).append(contact)
    return index


# --- JSON ---------------------------------------------------------------------------------------
def _path(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _json_getter(data: dict[str, Any]) -> Getter:
    def get(path: str) -> str | None:
        return _text(_path(data, path))

    return get


def _items(data: Any, path: str) -> list[Any]:
    found = _path(data, path)
    return found if isinstance(found, list) else []


def _json_marks(text: str, profile: Profile, constants: dict[str, str]) -> Records:
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise FeedUnreadable(f"not valid JSON for {profile.label}: {exc}") from None
    records_path = profile.json.get("records", ("data",))[0]
    students = document if isinstance(document, list) else _items(document, records_path)
    if not students:
        raise FeedUnreadable(
            f"the JSON holds no students where {profile.label} looks ({records_path!r}): "
            f"is it {profile.title}?"
        )
    marks_path = profile.json.get("marks", ("attendance.data",))[0]
    contacts_path = profile.json.get("contacts", ("contacts.data",))[0]
    first = next((s for s in students if isinstance(s, dict)), {})
    sample_mark = next((m for m in _items(first, marks_path) if isinstance(m, dict)), {})
    missing = missing_columns(
        profile,
        lambda p: _path(sample_mark if p.startswith("mark.") else first, p.removeprefix("mark.")) is not None,
        constants,
    )
    if missing and first:
        urn = " (give --school-urn URN)" if any("school_urn" in m for m in missing) else ""
        raise FeedUnreadable(
            f"the JSON is not what {profile.label} reads: no value for {', '.join(missing)}{urn}"
        )
    out: Records = []
    row = 0
    for student in students:
        if not isinstance(student, dict):
            row += 1
            out.append((row, Reject(row, [Problem("(row)", "", "not a JSON object: a student is one")], {})))
            continue
        contacts = [
            _contact(profile, _json_getter(c)) for c in _items(student, contacts_path) if isinstance(c, dict)
        ]
        for mark in _items(student, marks_path):
            row += 1

            def get(p: str, mark: Any = mark, student: dict[str, Any] = student) -> str | None:
                return _text(_path(mark, p[5:]) if p.startswith("mark.") else _path(student, p))

            mapped = _mark_row(profile, get, constants)
            out.append((row, _with_contacts(mapped, [c for c in contacts if c.get("name")])))
    if not out:
        raise FeedUnreadable(
            f"the JSON's students hold no marks where {profile.label} looks ({marks_path!r})"
        )
    return out
