"""The morning attendance feed: read it, check every row, and turn the good ones into cases.

Schools export the morning's marks from their MIS as CSV (or JSON); this module turns that text
into validated ``FeedRow`` objects and, for an absence, the ``CaseInput`` a case starts with.
It knows nothing of Temporal, so ``starter.py``, an HTTP endpoint or a folder watcher can all
share it, and ``--dry-run`` can check a feed without a cluster.

A bad row never stops the good ones: it becomes a ``Reject`` naming the row, the column, the
value and the reason, written back out with the original columns so a person can fix it and
feed it again. Only a feed that cannot be read at all (not UTF-8, binary, broken JSON, no
header) stops, with ``FeedUnreadable``.

Reasons never quote names, addresses or phone numbers: they go to the terminal and to logs.
The value itself is only kept for the rejects file, which already holds the whole row.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from stdnum.exceptions import InvalidComponent
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.gb import upn as upn_lib

from whereabouts.directory import Directory, load_directory
from whereabouts.models import Address, CaseInput, Contact, Pupil, case_id
from whereabouts.settings import Settings, get_settings
from whereabouts.vocabulary import ABSENCE_CODE_STARTS_CASE, PRESENT_CODES, PupilFlag

# --------------------------------------------------------------------------------------------
# The columns
# --------------------------------------------------------------------------------------------
CONTACT_FIELDS = ("name", "relationship", "phone", "email", "language", "parental_responsibility")
MAX_CONTACTS = 2
COLUMNS: tuple[str, ...] = (
    "school_urn",
    "upn",
    "forename",
    "surname",
    "date_of_birth",
    "year_group",
    "address_line1",
    "address_line2",
    "town",
    "postcode",
    "attendance_date",
    "session",
    "attendance_code",
    *(f"contact{n}_{f}" for n in range(1, MAX_CONTACTS + 1) for f in CONTACT_FIELDS),
    "flags",
)
# Every row needs these to say which pupil and which mark; without them in the header the first
# line is not a header at all (or the file is not an attendance feed).
MARK_COLUMNS = ("school_urn", "upn", "attendance_date", "attendance_code")
# An N row starts a case, so it also needs what the case's calls, letter and visit use. Other
# marks do not: a present mark must close a case even if that morning's export lacks a phone.
CASE_COLUMNS = (
    "forename",
    "surname",
    "date_of_birth",
    "year_group",
    "address_line1",
    "town",
    "postcode",
    "contact1_name",
)
REJECT_COLUMNS = ("reject_row", "reject_field", "reject_value", "reject_reason")
SESSIONS = ("AM", "PM")

# LA numbers stdnum (python-stdnum 2.2) does not list yet: its list is DfE's of January 2011.
# A UPN from one of these current LAs is valid if everything else about it is (format and check
# letter). Source: DfE "LA and region codes" (Get Information About Schools). Add new ones here.
EXTRA_LA_NUMBERS: dict[int, str] = {
    838: "Dorset (2019)",
    839: "Bournemouth, Christchurch and Poole (2019)",
    940: "North Northamptonshire (2021)",
    941: "West Northamptonshire (2021)",
    942: "Cumberland (2023)",
    943: "Westmorland and Furness (2023)",
}

_TRUE = {"yes", "y", "true", "1"}
_FALSE = {"no", "n", "false", "0"}
_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")
_PHONE_CHARS = re.compile(r"^\+?[0-9 ()\-.]+$")
_LANGUAGE = re.compile(r"^[a-z]{2,4}(-[a-z0-9]{2,8})?$")
_CODE = re.compile(r"^[A-Z0-9/\\#\-]{1,2}$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_UK_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
OLDEST_PUPIL_YEARS = 25


class FeedUnreadable(Exception):
    """The feed cannot be read at all; the message says why in one line, naming no pupil."""


# --------------------------------------------------------------------------------------------
# Field checks, each giving a reason a school office can act on
# --------------------------------------------------------------------------------------------
def check_upn(value: str) -> str:
    """A UPN as DfE issues it, by stdnum, plus the LAs created since stdnum's list was made."""
    number = upn_lib.compact(value)
    try:
        return upn_lib.validate(number)
    except InvalidComponent:
        # stdnum checks the LA number before the check letter: do the rest ourselves.
        if int(number[1:4]) not in EXTRA_LA_NUMBERS:
            raise ValueError(
                f"LA number {number[1:4]} is not a local authority number; check the UPN"
            ) from None
        if upn_lib.calc_check_digit(number[1:]) != number[0]:
            raise ValueError("the check letter does not match the rest of the UPN") from None
        return number
    except StdnumError as exc:
        kind = type(exc).__name__
        reason = {
            "InvalidLength": "a UPN has 13 characters",
            "InvalidFormat": "a UPN is a letter, 11 digits and a digit or letter",
            "InvalidChecksum": "the check letter does not match the rest of the UPN",
        }.get(kind, "not a valid UPN")
        raise ValueError(reason) from None


def parse_date(value: object) -> date:
    """ISO (2026-11-27) or UK (27/11/2026): what MIS exports and spreadsheets write."""
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if m := _ISO_DATE.match(text):
        y, mo, d = (int(x) for x in m.groups())
    elif m := _UK_DATE.match(text):
        d, mo, y = (int(x) for x in m.groups())
    else:
        raise ValueError("not a date: use YYYY-MM-DD or DD/MM/YYYY")
    try:
        return date(y, mo, d)
    except ValueError:
        raise ValueError("not a real date (no such day in the calendar)") from None


def parse_yes_no(value: object) -> bool:
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("use yes or no")


def check_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if not _PHONE_CHARS.match(value) or not 10 <= len(digits) <= 15:
        raise ValueError("not a phone number (10 to 15 digits; separate several with ; or /)")
    return value


def check_email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid e-mail address: {exc}") from None


def session_rank(session: str | None) -> int:
    """Order of marks within a day: a whole-day mark, then AM, then PM."""
    return 0 if not session else 1 + SESSIONS.index(session)


# --------------------------------------------------------------------------------------------
# The row
# --------------------------------------------------------------------------------------------
class FeedRow(BaseModel):
    """One attendance mark, checked. Columns are the fields, so a fault names its column.

    The fields are validated in declaration order: the mark first, so the checks on the pupil's
    details know whether this row starts a case (code N) and must carry them.
    Validation context: ``directory`` (the school must be in it) and ``today`` (no marks from
    the future).
    """

    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=True, str_strip_whitespace=True)

    row: int = Field(ge=1, description="1-based data row; CSV header is row 1, first JSON item is 1")
    school_urn: str
    upn: str
    attendance_date: date
    session: str | None = None
    attendance_code: str
    forename: str | None = Field(default=None, max_length=100)
    surname: str | None = Field(default=None, max_length=100)
    date_of_birth: date | None = None
    year_group: str | None = Field(default=None, max_length=10)
    address_line1: str | None = Field(default=None, max_length=200)
    address_line2: str | None = Field(default=None, max_length=200)
    town: str | None = Field(default=None, max_length=100)
    postcode: str | None = None
    contact1_name: str | None = Field(default=None, max_length=200)
    contact1_relationship: str | None = Field(default=None, max_length=60)
    contact1_phone: list[str] = Field(default_factory=list)
    contact1_email: str | None = None
    contact1_language: str | None = None
    contact1_parental_responsibility: bool | None = None
    contact2_name: str | None = Field(default=None, max_length=200)
    contact2_relationship: str | None = Field(default=None, max_length=60)
    contact2_phone: list[str] = Field(default_factory=list)
    contact2_email: str | None = None
    contact2_language: str | None = None
    contact2_parental_responsibility: bool | None = None
    flags: list[PupilFlag] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _only_the_mark_unless_n(cls, data: Any) -> Any:
        """Any mark but N is checked only for the columns naming the mark.

        A present mark must close an open case, and an authorised absence is only counted, even
        if that morning's export has a stale e-mail address or a malformed phone number beside it.
        """
        if not isinstance(data, dict):
            return data
        if str(data.get("attendance_code") or "").strip().upper() == ABSENCE_CODE_STARTS_CASE:
            return data
        return {k: v for k, v in data.items() if k in (*MARK_COLUMNS, "session", "row")}

    # --- the mark ----------------------------------------------------------------------
    @field_validator("school_urn")
    @classmethod
    def _urn(cls, v: str, info: ValidationInfo) -> str:
        if not re.fullmatch(r"\d{6}", v):
            raise ValueError("a school URN is 6 digits")
        directory: Directory | None = (info.context or {}).get("directory")
        if directory is not None and not directory.has_school(v):
            raise ValueError("not a school in the school directory (WHEREABOUTS_DIRECTORY_PATH)")
        return v

    @field_validator("upn")
    @classmethod
    def _upn(cls, v: str) -> str:
        return check_upn(v)

    @field_validator("attendance_date", "date_of_birth", mode="before")
    @classmethod
    def _date(cls, v: object) -> date | None:
        return None if v is None else parse_date(v)

    @field_validator("attendance_date")
    @classmethod
    def _not_future(cls, v: date, info: ValidationInfo) -> date:
        today: date = (info.context or {}).get("today") or date.today()
        if v > today + timedelta(days=1):  # a day's grace for clocks and time zones
            raise ValueError("in the future: registers are marked on the day")
        return v

    @field_validator("session", mode="before")
    @classmethod
    def _session(cls, v: object) -> str | None:
        if v is None:
            return None
        text = str(v).strip().upper()
        if text not in SESSIONS:
            raise ValueError("use AM, PM or leave blank")
        return text

    @field_validator("attendance_code", mode="before")
    @classmethod
    def _code(cls, v: object) -> str:
        text = str(v).strip().upper()
        if not _CODE.match(text):
            raise ValueError("not an attendance code (N, /, \\, L, I, ...)")
        return text

    # --- what a case needs ---------------------------------------------------------------
    @field_validator(*CASE_COLUMNS)
    @classmethod
    def _needed_for_a_case(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None and info.data.get("attendance_code") == ABSENCE_CODE_STARTS_CASE:
            raise ValueError("missing (an N mark starts a case, which needs it)")
        return v

    @field_validator("date_of_birth")
    @classmethod
    def _born(cls, v: date | None, info: ValidationInfo) -> date | None:
        seen = info.data.get("attendance_date")
        if v is None or seen is None:
            return v
        if v >= seen:
            raise ValueError("on or after the attendance date")
        if (seen - v).days > OLDEST_PUPIL_YEARS * 366:
            raise ValueError(f"more than {OLDEST_PUPIL_YEARS} years before the attendance date")
        return v

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, v: str | None) -> str | None:
        if v is None:
            return None
        m = _POSTCODE.match(re.sub(r"\s+", " ", v.upper()))
        if not m:
            raise ValueError("not a UK postcode")
        return f"{m.group(1)} {m.group(2)}"

    @field_validator("contact1_phone", "contact2_phone", mode="before")
    @classmethod
    def _phones(cls, v: object) -> list[str]:
        if v is None:
            return []
        parts = v if isinstance(v, list) else re.split(r"[;/]", str(v))
        return [check_phone(p.strip()) for p in (str(x) for x in parts) if p.strip()]

    @field_validator("contact1_email", "contact2_email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return None if v is None else check_email(v)

    @field_validator("contact1_language", "contact2_language")
    @classmethod
    def _language(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if not _LANGUAGE.match(v.lower()):
            raise ValueError("use an ISO 639-1 or DfE census language code (pl, ur, POL, ...)")
        return v.lower()

    @field_validator("contact1_parental_responsibility", "contact2_parental_responsibility", mode="before")
    @classmethod
    def _pr(cls, v: object) -> bool | None:
        return None if v is None else parse_yes_no(v)

    @field_validator("flags", mode="before")
    @classmethod
    def _flags(cls, v: object) -> list[PupilFlag]:
        if v is None:
            return []
        parts = v if isinstance(v, list) else str(v).split(";")
        out: list[PupilFlag] = []
        for part in (str(p).strip().lower().replace(" ", "_").replace("-", "_") for p in parts):
            if not part:
                continue
            try:
                out.append(PupilFlag(part))
            except ValueError:
                known = ", ".join(f.value for f in PupilFlag)
                raise ValueError(f"unknown flag {part!r}: use {known}, separated by ;") from None
        return out

    @model_validator(mode="after")
    def _contacts(self) -> FeedRow:
        """Across columns: a second contact needs a name; an N mark needs a number to ring."""
        for n in range(2, MAX_CONTACTS + 1):
            if self.contact_name(n) is None and self._contact_given(n):
                raise _fault(f"contact{n}_name", "missing: contact details given without a name")
        if self.starts_case and not any(c.phones for c in self.contacts()):
            raise _fault("contact1_phone", "no contact has a phone number: the Day 1 call needs one")
        return self

    # --- what the feed does with it ------------------------------------------------------
    @property
    def case_id(self) -> str:
        return case_id(self.school_urn, self.upn)

    @property
    def starts_case(self) -> bool:
        return self.attendance_code == ABSENCE_CODE_STARTS_CASE

    @property
    def is_present(self) -> bool:
        return self.attendance_code in PRESENT_CODES

    @property
    def order(self) -> tuple[date, int, int]:
        """When the mark was made, for handling one pupil's marks in the order they happened."""
        return (self.attendance_date, session_rank(self.session), self.row)

    def contact_name(self, n: int) -> str | None:
        return getattr(self, f"contact{n}_name")

    def _contact_given(self, n: int) -> bool:
        return any(getattr(self, f"contact{n}_{f}") not in (None, []) for f in CONTACT_FIELDS)

    def contacts(self) -> list[Contact]:
        out = []
        for n in range(1, MAX_CONTACTS + 1):
            name = self.contact_name(n)
            if name is None:
                continue
            pr = getattr(self, f"contact{n}_parental_responsibility")
            out.append(
                Contact(
                    name=name,
                    relationship=getattr(self, f"contact{n}_relationship") or "parent",
                    phones=getattr(self, f"contact{n}_phone"),
                    email=getattr(self, f"contact{n}_email"),
                    language=getattr(self, f"contact{n}_language"),
                    # Blank: the first contact is taken to be a parent, others are not.
                    parental_responsibility=(n == 1) if pr is None else pr,
                )
            )
        return out

    def to_case(self) -> CaseInput:
        """The case this N mark starts. Raises ValueError for any other mark."""
        if not self.starts_case:
            raise ValueError(f"row {self.row}: code {self.attendance_code} does not start a case")
        assert self.forename and self.surname and self.date_of_birth and self.year_group
        assert self.address_line1 and self.town and self.postcode
        return CaseInput(
            school_urn=self.school_urn,
            pupil=Pupil(
                upn=self.upn,
                forename=self.forename,
                surname=self.surname,
                date_of_birth=self.date_of_birth,
                year_group=self.year_group,
                address=Address(
                    line1=self.address_line1, line2=self.address_line2, town=self.town, postcode=self.postcode
                ),
                flags=self.flags,
            ),
            contacts=self.contacts(),
            first_day_absent=self.attendance_date,
        )


def _fault(column: str, reason: str) -> PydanticCustomError:
    """A cross-column fault that still names one column for the rejects file."""
    return PydanticCustomError("feed_row", "{reason}", {"column": column, "reason": reason})


# --------------------------------------------------------------------------------------------
# Rejects
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    column: str
    value: str
    reason: str


@dataclass
class Reject:
    """A row that did not go in: where it is, what is wrong, and the row as it came."""

    row: int
    problems: list[Problem]
    original: dict[str, str]

    # One line per row in the rejects file; several faults in one row are joined with " | ".
    @property
    def field(self) -> str:
        return " | ".join(p.column for p in self.problems)

    @property
    def value(self) -> str:
        return " | ".join(p.value for p in self.problems)

    @property
    def reason(self) -> str:
        """One fault: its reason. Several: each reason once, after the columns it applies to."""
        if len(self.problems) == 1:
            return self.problems[0].reason
        columns: dict[str, list[str]] = {}
        for p in self.problems:
            columns.setdefault(p.reason, []).append(p.column)
        return " | ".join(f"{', '.join(cols)}: {reason}" for reason, cols in columns.items())


def _problems(exc: ValidationError, raw: Mapping[str, str]) -> list[Problem]:
    out = []
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        column = ctx.get("column") or (str(err["loc"][0]) if err["loc"] else "(row)")
        reason = str(ctx.get("reason") or err["msg"]).removeprefix("Value error, ")
        if err["type"] == "missing":
            reason = "missing"
        out.append(Problem(column=column, value=raw.get(column, ""), reason=reason))
    return out


# --------------------------------------------------------------------------------------------
# Reading a feed
# --------------------------------------------------------------------------------------------
@dataclass
class Feed:
    """A feed read and checked: good rows, rejects, and its columns (for the rejects file)."""

    format: str  # "csv" or "json"
    columns: list[str]
    rows: list[FeedRow] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.rows) + len(self.rejects)


def column_name(name: object) -> str:
    """Header cells as spreadsheets mangle them: ' School URN ' is school_urn."""
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def decode(data: bytes) -> str:
    """Bytes to text, refusing what is not a UTF-8 text file (a spreadsheet, an image...)."""
    if not data.strip():
        raise FeedUnreadable("the feed is empty")
    if b"\x00" in data[:65536]:
        raise FeedUnreadable("the feed is a binary file, not CSV or JSON text (save it as CSV UTF-8)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedUnreadable(
            f"the feed is not UTF-8 text (byte {exc.start}): save it as 'CSV UTF-8' and feed it again"
        ) from None
    return text


def read_feed(text: str, *, directory: Directory | None, today: date | None = None) -> Feed:
    """Read and check a whole feed; raises FeedUnreadable only when nothing in it can be used.

    ``directory=None`` skips the URN check: only for tools without a directory to hand.
    """
    text = text.removeprefix("\ufeff")
    stripped = text.lstrip()
    if not stripped:
        raise FeedUnreadable("the feed is empty")
    if stripped[0] in "[{":
        feed, records = _json_records(stripped)
    else:
        feed, records = _csv_records(text)
    context = {"directory": directory, "today": today}
    for row, raw in records:
        if raw is None:
            feed.rejects.append(Reject(row, [Problem("(row)", "", "not a JSON object")], {}))
            continue
        if isinstance(raw, Reject):
            feed.rejects.append(raw)
            continue
        cleaned = {k: v for k, v in ((k, _blank_to_none(v)) for k, v in raw.items()) if v is not None}
        try:
            parsed = FeedRow.model_validate({**cleaned, "row": row}, context=context)
            if parsed.starts_case:
                parsed.to_case()  # the case model has the last word
        except ValidationError as exc:
            feed.rejects.append(Reject(row, _problems(exc, raw), dict(raw)))
            continue
        feed.rows.append(parsed)
    return feed


def parse_feed(
    text: str,
    *,
    directory: Directory | None = None,
    settings: Settings | None = None,
    today: date | None = None,
) -> tuple[list[FeedRow], list[Reject]]:
    """The good rows and the rejects of a feed's text, for integrations (HTTP, a folder watcher).

    URNs are always checked against a school directory: the one given, else the one the settings
    (``WHEREABOUTS_DIRECTORY_PATH``) name. Raises ``FeedUnreadable`` (nothing usable) and
    ``DirectoryError`` (no directory to check against).
    """
    if directory is None:
        directory = load_directory((settings or get_settings()).directory_path)
    feed = read_feed(text, directory=directory, today=today)
    return feed.rows, feed.rejects


def _blank_to_none(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    return value


def _csv_records(text: str) -> tuple[Feed, Iterable[tuple[int, dict[str, str] | Reject]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except csv.Error as exc:
        raise FeedUnreadable(f"not CSV: {exc}") from None
    columns = [column_name(c) for c in header]
    missing = [c for c in MARK_COLUMNS if c not in columns]
    if missing:
        hint = " (the file looks separated by ';' or tabs: use commas)" if len(header) == 1 else ""
        raise FeedUnreadable(
            f"no header row: the first line must name the columns (missing: {', '.join(missing)}){hint}"
        )
    dupes = sorted({c for c in columns if c and columns.count(c) > 1})
    if dupes:
        raise FeedUnreadable(f"the header names a column twice: {', '.join(dupes)}")
    feed = Feed(
        format="csv",
        columns=[c for c in columns if c and c not in REJECT_COLUMNS and c != "reject_feed"],
        unknown_columns=[c for c in columns if c and c not in COLUMNS and not c.startswith("reject_")],
    )

    def records() -> Iterable[tuple[int, dict[str, str] | Reject]]:
        row = 1
        try:
            for cells in reader:
                row += 1
                if not any(c.strip() for c in cells):
                    continue  # a blank line: spreadsheets leave them, it keeps its number
                raw = {c: v for c, v in zip(columns, cells, strict=False) if c in feed.columns}
                if len(cells) > len(columns):
                    yield (
                        row,
                        Reject(
                            row,
                            [Problem("(row)", "", f"{len(cells)} cells but the header has {len(columns)}")],
                            raw,
                        ),
                    )
                    continue
                yield row, raw
        except csv.Error as exc:
            raise FeedUnreadable(f"row {row + 1}: not valid CSV ({exc})") from None

    return feed, list(records())


def _json_records(text: str) -> tuple[Feed, Iterable[tuple[int, dict[str, str] | Reject | None]]]:
    """An array of objects, or JSON lines (one object per line, or objects one after another)."""
    decoder = json.JSONDecoder()
    items: list[Any] = []
    try:
        if text[0] == "[":
            value, end = decoder.raw_decode(text)
            if text[end:].strip():
                raise FeedUnreadable("JSON: text after the closing ]")
            if not isinstance(value, list):
                raise FeedUnreadable("JSON: expected an array of objects")
            items = value
        else:
            pos = 0
            while pos < len(text):
                value, pos = decoder.raw_decode(text, pos)
                items.append(value)
                while pos < len(text) and text[pos].isspace():
                    pos += 1
    except json.JSONDecodeError as exc:
        raise FeedUnreadable(
            f"not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}): is the file cut short?"
        ) from None
    if not items:
        raise FeedUnreadable("the JSON feed holds no rows")
    seen: list[str] = []
    records: list[tuple[int, dict[str, str] | Reject | None]] = []
    for pos, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            records.append((pos, None))
            continue
        raw = {column_name(k): _json_text(v) for k, v in item.items()}
        seen += [k for k in raw if k not in seen]
        nested = [column_name(k) for k, v in item.items() if isinstance(v, dict)]
        if nested:
            problems = [Problem(c, raw[c], "a text value, not a JSON object") for c in nested]
            records.append((pos, Reject(pos, problems, raw)))
            continue
        records.append((pos, raw))
    columns = [c for c in COLUMNS if c in seen] + [
        c for c in seen if c not in COLUMNS and not c.startswith("reject_")
    ]
    feed = Feed(
        format="json",
        columns=columns,
        unknown_columns=[c for c in columns if c not in COLUMNS],
    )
    return feed, records


def _json_text(value: Any) -> str:
    """JSON values as the text a CSV cell would hold: 990101 -> "990101", true -> "yes"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ";".join(_json_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)  # rejected by the caller; shown in the rejects file as it came
    return str(value)


# --------------------------------------------------------------------------------------------
# Writing the rejects
# --------------------------------------------------------------------------------------------
def write_rejects(path, feeds: list[tuple[str, Feed]], *, feed_column: bool | None = None) -> int:
    """The rejects as CSV a person can fix and feed again: original columns, then why.

    Several feeds into one file get a ``reject_feed`` column too, saying which feed each row
    came from (row numbers are per feed). Returns the number of rows written.
    """
    columns: list[str] = []
    for _, feed in feeds:
        columns += [c for c in feed.columns if c not in columns]
    if not columns:
        columns = list(COLUMNS)
    with_feed = len(feeds) > 1 if feed_column is None else feed_column
    header = [*columns, *REJECT_COLUMNS, *(["reject_feed"] if with_feed else [])]
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\r\n")
        out.writerow(header)
        for name, feed in feeds:
            for r in feed.rejects:
                line = [r.original.get(c, "") for c in columns]
                line += [str(r.row), r.field, r.value, r.reason]
                if with_feed:
                    line.append(name)
                out.writerow(line)
                count += 1
    return count
