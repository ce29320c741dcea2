"""The morning attendance feed: read it, check every row, and turn the good ones into cases.

Schools export the morning's marks from their MIS as CSV (or JSON); this module turns that text
into validated ``FeedRow`` objects and, for an absence, the ``CaseInput`` a case starts with.
It knows nothing of Temporal, so ``starter.py``, an HTTP endpoint or a folder watcher can all
share it, and ``--dry-run`` can check a feed without a cluster.

A bad row never stops the good ones: it becomes a ``Reject`` naming the row, the column, the
value and the reason, written back out with the original columns so a person can fix it and
feed it again. Only a feed that cannot be read at all (not UTF-8, binary, no header, JSON broken
in the middle of an array, cut short before any usable row) stops, with ``FeedUnreadable``.

Garbage is contained to the row it is in, because every good row is a child someone should be
looking for this morning:

- A CSV row with more cells than the header, or fewer than its last named column, is rejected:
  its values may sit under the wrong columns. Blank lines and rows of only commas (spreadsheets
  leave them) are skipped, keeping their row number; they carry no mark to reject.
- A quote that opens a cell and never closes would swallow the rows after it. A record that
  runs over several lines is kept only if it is well formed and the next line is not a row of
  its own (a line break inside a quoted address is legal CSV); otherwise only its first line is
  rejected, and reading goes on from the next line.
- A feed cut short (a copy or an upload that stopped): the complete rows before the cut are
  read as usual, the cut row or item is rejected and kept, and ``Feed.cut_short`` says where the
  file ends, so the caller can tell the office to export the feed again (feeding it twice is
  harmless). A cut exactly at a line break cannot be seen. Cut before any usable row: unreadable.
- JSON lines: a line that is not valid JSON is a reject, and reading goes on at the next line
  that starts an object. A JSON array broken in the middle (not cut at its end) is unreadable.
- Huge values: a cell longer than ``MAX_CELL_CHARS`` is rejected as damaged before any other
  check, and a line longer than ``MAX_LINE_CHARS`` is split by a bounded scanner instead of the
  CSV parser, so memory and time stay in proportion to the file, never to one field. In the
  rejects file (and ``Reject.value``) such a value keeps its first ``KEPT_CHARS`` characters
  followed by ``... [cut: N characters in the feed]``: enough to recognise it, small enough to
  open in a spreadsheet (Excel stops at 32,767 characters a cell); the rest of the row is kept
  whole so it can be fixed and fed again. ``MAX_FEED_BYTES`` bounds a whole feed.

Reasons never quote names, addresses or phone numbers: they go to the terminal and to logs.
The value itself is only kept for the rejects file, which already holds the whole row.
"""

from __future__ import annotations

import csv
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

# Bounds on garbage (see the module docstring). No column holds more than 254 characters (an
# e-mail address), a whole row a few thousand: anything far beyond is a damaged or wrong file.
MAX_CELL_CHARS = 1_000
KEPT_CHARS = 200
MAX_LINE_CHARS = 65_536  # below csv's own field limit (131,072), so csv never sees a longer line
MAX_RECORD_LINES = 20  # a quoted cell may hold line breaks, but not a page of them
MAX_FEED_BYTES = 256 * 1024 * 1024  # a county's morning feed is a few MB
_OBJECT_LINE = re.compile(r"\n[ \t]*\{")
# Physical lines with their endings, split where csv splits (CRLF, CR, LF): io.StringIO does the
# same but holds the text at 4 bytes a character, five times a plain feed's size.
_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")
# What a binary file is, by its first bytes, so the office is told what to do with it.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "compressed with gzip: uncompress it and feed the CSV inside"),
    (b"PK\x03\x04", "a ZIP archive or an Excel workbook (.xlsx): save the sheet as 'CSV UTF-8'"),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls): save the sheet as 'CSV UTF-8'"),
    (b"%PDF", "a PDF document: export the marks from the MIS as CSV"),
    (b"\x89PNG", "a PNG image: export the marks from the MIS as CSV"),
    (b"\xff\xd8\xff", "a JPEG image: export the marks from the MIS as CSV"),
)


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

    def __post_init__(self) -> None:
        # Huge values are cut here, once, so no Reject ever holds (or writes out) megabytes.
        self.original = {k: kept(v) for k, v in self.original.items()}
        self.problems = [Problem(p.column, kept(p.value), p.reason) for p in self.problems]

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


def kept(value: str, size: int | None = None) -> str:
    """A value as the rejects file keeps it: whole, or if longer than ``MAX_CELL_CHARS`` (``size``
    when the caller only has its head) its first ``KEPT_CHARS`` characters and a note."""
    size = len(value) if size is None else size
    if size <= MAX_CELL_CHARS:
        return value
    return f"{value[:KEPT_CHARS]}... [cut: {size:,} characters in the feed]"


def too_long(size: int) -> str:
    return (
        f"{size:,} characters: far longer than anything this column holds, so the file is "
        f"probably damaged (the rejects file keeps the first {KEPT_CHARS})"
    )


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
    cut_at: str | None = None  # where a file cut short ends: "in the middle of row 7"

    @property
    def size(self) -> int:
        return len(self.rows) + len(self.rejects)

    @property
    def cut_short(self) -> str | None:
        """One line for the office when the file ends early: rows after the cut are missing."""
        if self.cut_at is None:
            return None
        return (
            f"the file is cut short: it ends {self.cut_at}; rows after the cut are missing: "
            "export the feed again and feed the whole file (rows already in are recognised)"
        )


def column_name(name: object) -> str:
    """Header cells as spreadsheets mangle them: ' School URN ' is school_urn."""
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def decode(data: bytes) -> str:
    """Bytes to text, refusing what is not a UTF-8 text file (a spreadsheet, an image...)."""
    if not data or data.isspace():  # not data.strip(): no copy of a big file to find out
        raise FeedUnreadable("the feed is empty")
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise FeedUnreadable(f"the feed is a binary file, not CSV or JSON text: {what}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FeedUnreadable("the feed is UTF-16 text (Excel's 'Unicode Text'): save it as 'CSV UTF-8'")
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
        huge = [Problem(c, v, too_long(len(v))) for c, v in raw.items() if len(v) > MAX_CELL_CHARS]
        if huge:  # damaged: checked no further (a 10 MB e-mail address is not worth parsing)
            feed.rejects.append(Reject(row, huge, dict(raw)))
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
    if feed.cut_at and not feed.rows:
        raise FeedUnreadable(
            f"the file is cut short: it ends {feed.cut_at}, and no complete row before the cut "
            "could be used: export the feed again"
        )
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


class _TooLong(Exception):
    """A record ran over a line too long for csv, or over too many lines."""


class _Lines:
    """Physical lines from ``start`` on, for one csv record, counting what csv takes."""

    def __init__(self, lines: list[str], start: int) -> None:
        self.lines, self.start, self.taken = lines, start, 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        at = self.start + self.taken
        if at >= len(self.lines):
            raise StopIteration
        if len(self.lines[at]) > MAX_LINE_CHARS or self.taken >= MAX_RECORD_LINES:
            self.taken += 1  # the line is part of the record that could not be read
            raise _TooLong
        self.taken += 1
        return self.lines[at]


def _record(lines: list[str], start: int) -> tuple[list[str], int, str | None]:
    """The record starting at line ``start``: its cells, the lines it spans, or what broke it."""
    source = _Lines(lines, start)
    try:
        cells = next(csv.reader(source), [])
    except csv.Error as exc:
        return [], max(source.taken, 1), f"not valid CSV ({exc})"
    except _TooLong:
        return [], source.taken, "runs on over too many lines (an unclosed quote?)"
    return cells, max(source.taken, 1), None


def _one_line(line: str, **fmt: Any) -> list[str]:
    return next(csv.reader([line.rstrip("\r\n")], **fmt), [])


def _open_quote(line: str) -> bool:
    """Whether a line ends inside a quoted cell: a sentinel line after it would join that cell."""
    return list(csv.reader([line.rstrip("\r\n") + "\n", "\x01\n"]))[-1] != ["\x01"]


def _blank(cells: list[str]) -> bool:
    return not any(c.strip() for c in cells)


def _scan_cells(line: str, count: int) -> tuple[list[str], list[int], bool]:
    """The first ``count`` cells of a line too long for csv, each cut to its first
    ``MAX_CELL_CHARS + 1`` characters, their full lengths, and whether more cells follow.

    Linear in the line, never copies more than that of one cell, and stops after ``count``
    cells, so a 50 MB line of anything costs no more than reading it once. CSV quoting as csv
    reads it (a quote closes a quoted cell; ``""`` is a quote); a quote left open runs to the end
    of the line, as it is the line's own damage.
    """
    end = len(line)
    while end and line[end - 1] in "\r\n":  # not rstrip: that would copy the whole line
        end -= 1
    cells: list[str] = []
    sizes: list[int] = []
    pos = 0
    while True:
        cell = _Cell(line)
        if pos < end and line[pos] == '"':
            pos += 1
            while pos < end:
                quote = line.find('"', pos, end)
                if quote < 0:
                    cell.take(pos, end)
                    pos = end
                elif quote + 1 < end and line[quote + 1] == '"':
                    cell.take(pos, quote + 1)
                    pos = quote + 2
                else:
                    cell.take(pos, quote)
                    pos = quote + 1
                    break
        comma = line.find(",", pos, end)
        comma = end if comma < 0 else comma
        cell.take(pos, comma)
        cells.append("".join(cell.head))
        sizes.append(cell.size)
        if comma >= end:
            return cells, sizes, False
        if len(cells) == count:
            return cells, sizes, True
        pos = comma + 1


class _Cell:
    """One cell of an over-long line: its first characters and its full length."""

    def __init__(self, line: str) -> None:
        self.line = line
        self.head: list[str] = []
        self.size = 0
        self.room = MAX_CELL_CHARS + 1

    def take(self, a: int, b: int) -> None:
        if self.room > 0:
            self.head.append(self.line[a : min(b, a + self.room)])
            self.room -= len(self.head[-1])
        self.size += b - a


def _csv_records(text: str) -> tuple[Feed, Iterable[tuple[int, dict[str, str] | Reject]]]:
    lines = _LINE.findall(text)
    if len(lines[0]) > MAX_LINE_CHARS:
        raise FeedUnreadable(f"the first line is {len(lines[0]):,} characters long: not a header row")
    header, used, error = _record(lines, 0)
    if error:
        raise FeedUnreadable(f"not CSV: the header row {error}")
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
    # Rows may leave out cells for trailing unnamed header columns, never a named one.
    needed = max(i for i, c in enumerate(columns) if c) + 1
    ends_cleanly = text.endswith(("\n", "\r"))

    def fits(cells: list[str]) -> bool:
        return needed <= len(cells) <= len(columns)

    def name(i: int) -> str:
        return (columns[i] or f"column {i + 1}") if i < len(columns) else "(row)"

    def original(cells: list[str]) -> dict[str, str]:
        return {c: v for c, v in zip(columns, cells, strict=False) if c in feed.columns}

    def next_is_a_row(first: int, last: int) -> bool:
        """Whether the first non-blank line in [first, last) is a whole row on its own."""
        for line in lines[first:last]:
            cells = _one_line(line)
            if not _blank(cells):
                return fits(cells)
        return False

    def long_line(row: int, line: str) -> Reject:
        cells, sizes, more = _scan_cells(line, len(columns))
        problems = [
            Problem(name(i), kept(v, n), too_long(n))
            for i, (v, n) in enumerate(zip(cells, sizes, strict=True))
            if n > MAX_CELL_CHARS
        ]
        if more:
            problems.append(
                Problem("(row)", f"over {len(columns)} cells", f"more cells than the header's {len(columns)}")
            )
        if not problems:
            problems.append(
                Problem("(row)", "", f"the line is {len(line):,} characters long: far longer than any row")
            )
        return Reject(
            row,
            problems,
            {c: kept(v, n) for c, v, n in zip(columns, cells, sizes, strict=False) if c in feed.columns},
        )

    def open_quote(row: int, line: str) -> Reject:
        """A row whose quote never closes, from its own line: split at every comma if that gives
        the header's shape (the stray quote kept, for a person to see and delete)."""
        cells = _one_line(line, quoting=csv.QUOTE_NONE)
        if not fits(cells):
            cells = _one_line(line)
        at = next((i for i, c in enumerate(cells) if c.count('"') % 2), len(cells) - 1)
        column, value = (name(at), cells[at]) if cells else ("(row)", "")
        reason = (
            'a quote (") opens this cell and never closes, so it would swallow the rows after it: '
            "remove the stray quote (or close it) and feed the row again"
        )
        return Reject(row, [Problem(column, value, reason)], original(cells))

    def cut(row: int, cells: list[str], inside_quote: bool) -> Reject:
        feed.cut_at = f"in the middle of row {row}"
        where = "inside a quoted cell" if inside_quote else f"after {len(cells)} of its {len(columns)} cells"
        reason = f"the file ends in the middle of this row ({where}): it was cut short"
        column, value = (name(len(cells) - 1), cells[-1]) if cells else ("(row)", "")
        return Reject(row, [Problem(column, value, reason)], original(cells))

    def records() -> Iterable[tuple[int, dict[str, str] | Reject]]:
        row, i = 1, used
        while i < len(lines):
            row += 1
            if len(lines[i]) > MAX_LINE_CHARS:
                yield row, long_line(row, lines[i])
                i += 1
                continue
            cells, spans, error = _record(lines, i)
            if error is None and _blank(cells):
                i += spans
                continue  # a blank line or a row of only commas: spreadsheets leave them
            if spans > 1 and (error or not fits(cells) or next_is_a_row(i + 1, i + spans)):
                yield row, open_quote(row, lines[i])  # only this line: the rows after it are rows
                i += 1
                continue
            last = i + spans >= len(lines)
            quote_left_open = last and spans == 1 and '"' in lines[i] and _open_quote(lines[i])
            if last and not ends_cleanly and (error or quote_left_open or len(cells) < needed):
                yield row, cut(row, cells, quote_left_open)
            elif error:
                yield row, Reject(row, [Problem("(row)", "", error)], original(cells))
            elif quote_left_open:
                yield row, open_quote(row, lines[i])
            elif not fits(cells):
                hint = (
                    "a value with a comma in it needs quotes"
                    if len(cells) > len(columns)
                    else "a cell or a comma is missing"
                )
                count = f"{len(cells)} cell{'' if len(cells) == 1 else 's'}"
                reason = (
                    f"{count} but the header has {len(columns)} ({hint}): values may be in the wrong columns"
                )
                yield row, Reject(row, [Problem("(row)", count, reason)], original(cells))
            else:
                yield row, original(cells)
            i += spans

    return feed, list(records())


def _json_records(text: str) -> tuple[Feed, Iterable[tuple[int, dict[str, str] | Reject | None]]]:
    """An array of objects, or JSON lines (one object per line, or objects one after another)."""
    feed = Feed(format="json", columns=[])
    items = _json_array(text, feed) if text[0] == "[" else _json_lines(text, feed)
    if not items:
        raise FeedUnreadable("the JSON feed holds no rows")
    seen: list[str] = []
    records: list[tuple[int, dict[str, str] | Reject | None]] = []
    for pos, item in enumerate(items, start=1):
        if isinstance(item, Reject):
            records.append((pos, item))
            continue
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
    feed.columns = [c for c in COLUMNS if c in seen] + [
        c for c in seen if c not in COLUMNS and not c.startswith("reject_")
    ]
    feed.unknown_columns = [c for c in feed.columns if c not in COLUMNS]
    return feed, records


_DECODER = json.JSONDecoder()


_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def _skip_space(text: str, pos: int) -> int:
    space = _JSON_SPACE.match(text, pos)
    return space.end() if space else pos


def _excerpt(text: str, start: int, end: int) -> str:
    """text[start:end] without trailing space, for a reject: a huge one is cut without copying it."""
    while end > start and text[end - 1].isspace():
        end -= 1
    return kept(text[start : min(end, start + MAX_CELL_CHARS + 1)], end - start)


def _cut_item(feed: Feed, n: int, text: str, pos: int) -> Reject:
    feed.cut_at = f"in the middle of item {n}"
    reason = "the file ends in the middle of this item: it was cut short"
    return Reject(n, [Problem("(row)", _excerpt(text, pos, len(text)), reason)], {})


def _json_array(text: str, feed: Feed) -> list[Any]:
    """Items one by one, so a file cut short keeps the items before the cut (see ``Feed.cut_at``).

    Broken anywhere but at its end (the file still closes with ``]``), the array is unreadable:
    where one item ends and the next begins is then anyone's guess.
    """
    items: list[Any] = []
    closed = text.rstrip().endswith("]")
    pos = _skip_space(text, 1)
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            if pos >= len(text):
                feed.cut_at = f"after item {len(items)} (no closing ])"
                return items
            try:
                value, pos = _DECODER.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                if closed:
                    raise FeedUnreadable(
                        f"not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})"
                    ) from None
                items.append(_cut_item(feed, len(items) + 1, text, pos))
                return items
            items.append(value)
            pos = _skip_space(text, pos)
            if pos < len(text) and text[pos] == ",":
                pos = _skip_space(text, pos + 1)
                if text.startswith("]", pos):  # a trailing comma, as people type
                    pos += 1
                    break
            elif pos < len(text) and text[pos] == "]":
                pos += 1
                break
            elif pos < len(text):
                line, column = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
                raise FeedUnreadable(
                    f"not valid JSON at line {line} column {column} (expected , or ] after item {len(items)})"
                )
    if text[pos:].strip():
        raise FeedUnreadable("JSON: text after the closing ]")
    return items


def _json_lines(text: str, feed: Feed) -> list[Any]:
    """Objects one after another: a broken one is a reject, and reading goes on at the next line
    that starts an object. Broken at the very end of a file with no final line break: cut short."""
    items: list[Any] = []
    pos = _skip_space(text, 0)
    while pos < len(text):
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            found = _OBJECT_LINE.search(text, pos)
            resume = found.start() + 1 if found else len(text)
            if found is None and not text.endswith(("\n", "\r")):
                items.append(_cut_item(feed, len(items) + 1, text, pos))
                return items
            reason = f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            items.append(Reject(len(items) + 1, [Problem("(row)", _excerpt(text, pos, resume), reason)], {}))
            pos = resume
        else:
            items.append(value)
        pos = _skip_space(text, pos)
    return items


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
