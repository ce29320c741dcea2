"""One attendance mark as a checked row: ``FeedRow``, and what a failed check says about it.

The columns are the model's fields, so every fault pydantic finds names the column a person has
to fix in the rejects file. The rules about which columns a mark needs live here, beside the
fields: an N mark starts a case and must carry everything the case's calls, letter and visit
use, while any other mark is checked only for the columns naming the mark, because a present
mark must close an open case even if that morning's export has a stale e-mail address beside it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from whereabouts.directory import Directory
from whereabouts.feed import checks
from whereabouts.feed.columns import (
    CASE_COLUMNS,
    CONTACT_ADDRESS_FIELDS,
    CONTACT_FIELDS,
    MARK_COLUMNS,
    MAX_CONTACTS,
    SESSIONS,
)
from whereabouts.feed.rejects import Problem
from whereabouts.models import Address, CaseInput, Contact, Pupil
from whereabouts.schooldays import SchoolCalendar
from whereabouts.text_clean import clean_tree
from whereabouts.vocabulary import ABSENCE_CODE_STARTS_CASE, PRESENT_CODES, ContactRestriction, PupilFlag

OLDEST_PUPIL_YEARS = 25
ADDRESS_NEEDS = ("address_line1", "town", "postcode")  # of a contact's own address, once any is given


class FeedRow(BaseModel):
    """One attendance mark, checked. Columns are the fields, so a fault names its column.

    The fields are validated in declaration order: the mark first, so the checks on the pupil's
    details know whether this row starts a case (code N) and must carry them, and its code
    before its date, so an N mark's date is checked against the school's calendar.
    Validation context: ``directory`` (the school must be in it, and an N mark must fall on one
    of its school days) and ``today`` (no marks from the future).
    """

    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=True, str_strip_whitespace=True)

    row: int = Field(ge=1, description="1-based data row; CSV header is row 1, first JSON item is 1")
    # Built once, when the row is checked (the case model has the last word), and reused by the
    # feed: building it again per start cost about 1 ms a row, a tenth of the feed's start rate
    # (bench.start_feed).
    _built_contacts: list[Contact] | None = PrivateAttr(default=None)
    _built_case: CaseInput | None = PrivateAttr(default=None)
    school_urn: str
    upn: str
    mis_pupil_id: str | None = None
    attendance_code: str
    attendance_date: date
    session: str | None = None
    forename: str | None = Field(default=None, max_length=100)
    surname: str | None = Field(default=None, max_length=100)
    date_of_birth: date | None = None
    last_attended: date | None = None
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
    contact1_restriction: ContactRestriction | None = None
    contact1_address_line1: str | None = Field(default=None, max_length=200)
    contact1_address_line2: str | None = Field(default=None, max_length=200)
    contact1_town: str | None = Field(default=None, max_length=100)
    contact1_postcode: str | None = None
    contact2_name: str | None = Field(default=None, max_length=200)
    contact2_relationship: str | None = Field(default=None, max_length=60)
    contact2_phone: list[str] = Field(default_factory=list)
    contact2_email: str | None = None
    contact2_language: str | None = None
    contact2_parental_responsibility: bool | None = None
    contact2_restriction: ContactRestriction | None = None
    contact2_address_line1: str | None = Field(default=None, max_length=200)
    contact2_address_line2: str | None = Field(default=None, max_length=200)
    contact2_town: str | None = Field(default=None, max_length=100)
    contact2_postcode: str | None = None
    flags: list[PupilFlag] = Field(default_factory=list)
    social_worker_email: str | None = None

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

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, v: Any, info: ValidationInfo) -> Any:
        """A name, an address, a phone number is one line with no terminal escapes, NUL or bidi
        overrides: the row is rejected naming the column (``whereabouts.text_clean``). An address
        cell typed over two lines (Alt+Enter in Excel) is one line of the address block, joined
        with a comma, as the letter's window shows it."""
        if isinstance(v, str) and "address" in (info.field_name or ""):
            v = ", ".join(
                part.strip()
                for part in v.replace("\r\n", "\n").replace("\r", "\n").split("\n")
                if part.strip()
            )
        return clean_tree(v)

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
        return checks.check_upn(v)

    @field_validator("mis_pupil_id")
    @classmethod
    def _mis_pupil_id(cls, v: str | None) -> str | None:
        return None if v is None else checks.check_mis_pupil_id(v)

    @field_validator("attendance_date", "date_of_birth", "last_attended", mode="before")
    @classmethod
    def _date(cls, v: object) -> date | None:
        return None if v is None else checks.parse_date(v)

    @field_validator("attendance_date")
    @classmethod
    def _not_future(cls, v: date, info: ValidationInfo) -> date:
        today: date = (info.context or {}).get("today") or date.today()
        if v > today + timedelta(days=1):  # a day's grace for clocks and time zones
            raise ValueError("in the future: registers are marked on the day")
        return v

    @field_validator("attendance_date")
    @classmethod
    def _school_day(cls, v: date, info: ValidationInfo) -> date:
        """An N mark on a day the school is shut cannot be scheduled: its case's Day 1 is a
        school day, so the row is refused here rather than start a case that cannot count."""
        directory: Directory | None = (info.context or {}).get("directory")
        urn = info.data.get("school_urn")
        if directory is None or urn is None or info.data.get("attendance_code") != ABSENCE_CODE_STARTS_CASE:
            return v
        school = directory.school(urn)
        why = SchoolCalendar(school).why_not_school_day(v)
        if why:
            raise ValueError(
                f"not a school day at {school.name} (URN {urn}): {why}; "
                "correct the date (or the mark in the MIS) and feed the row again"
            )
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
        return checks.check_code(v)

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

    @field_validator("last_attended")
    @classmethod
    def _attended_before(cls, v: date | None, info: ValidationInfo) -> date | None:
        absent = info.data.get("attendance_date")
        if v is not None and absent is not None and v >= absent:
            raise ValueError("on or after the attendance date: the last day attended comes before it")
        return v

    @field_validator("postcode", "contact1_postcode", "contact2_postcode")
    @classmethod
    def _postcode(cls, v: str | None) -> str | None:
        return None if v is None else checks.check_postcode(v)

    @field_validator("contact1_phone", "contact2_phone", mode="before")
    @classmethod
    def _phones(cls, v: object) -> list[str]:
        """Each number checked and kept in one format (``checks.check_phone``), mobiles first:
        the Day 2 call is made from a mobile to a mobile where it can be, and the prompts list a
        contact's numbers in this order. A bad number is named by its place in the cell, never
        quoted, so the reason can go to a log."""
        if v is None:
            return []
        parts = v if isinstance(v, list) else re.split(r"[;/]", str(v))
        numbers = [p.strip() for p in (str(x) for x in parts) if p.strip()]
        out = []
        for i, number in enumerate(numbers):
            try:
                out.append(checks.check_phone(number))
            except ValueError as exc:
                if len(numbers) == 1:
                    raise
                raise ValueError(f"the {_ordinal(i + 1)} number: {exc}") from None
        return checks.mobiles_first(out)

    @field_validator("contact1_email", "contact2_email", "social_worker_email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return None if v is None else checks.check_email(v)

    @field_validator("contact1_language", "contact2_language")
    @classmethod
    def _language(cls, v: str | None) -> str | None:
        return None if v is None else checks.check_language(v)

    @field_validator("contact1_parental_responsibility", "contact2_parental_responsibility", mode="before")
    @classmethod
    def _pr(cls, v: object) -> bool | None:
        return None if v is None else checks.parse_yes_no(v)

    @field_validator("contact1_restriction", "contact2_restriction", mode="before")
    @classmethod
    def _restriction(cls, v: object) -> ContactRestriction | None:
        return None if v is None else checks.check_restriction(str(v))

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
        """Across columns: a second contact needs a name; a contact's own address, once any of it
        is given, needs its first line, town and postcode; an N mark needs a number to ring."""
        for n in range(2, MAX_CONTACTS + 1):
            if self.contact_name(n) is None and self._contact_given(n):
                raise _fault(f"contact{n}_name", "missing: contact details given without a name")
        for n in range(1, MAX_CONTACTS + 1):
            given = {f: getattr(self, f"contact{n}_{f}") for f in CONTACT_ADDRESS_FIELDS}
            missing = [f for f in ADDRESS_NEEDS if given[f] is None]
            if any(v is not None for v in given.values()) and missing:
                named = [f"contact{n}_{f}" for f in missing]
                raise _fault(
                    named[0],
                    f"missing: contact {n}'s own address is given in part, and it needs its first line, "
                    f"town and postcode (missing: {', '.join(named)})",
                )
        if self.starts_case and not any(c.phones for c in self.contacts()):
            raise _fault("contact1_phone", "no contact has a phone number: the Day 1 call needs one")
        return self

    # --- what the feed does with it ------------------------------------------------------
    @property
    def starts_case(self) -> bool:
        return self.attendance_code == ABSENCE_CODE_STARTS_CASE

    @property
    def is_present(self) -> bool:
        return self.attendance_code in PRESENT_CODES

    @property
    def order(self) -> tuple[date, int, int]:
        """When the mark was made, for handling one pupil's marks in the order they happened."""
        return (self.attendance_date, checks.session_rank(self.session), self.row)

    def contact_name(self, n: int) -> str | None:
        return getattr(self, f"contact{n}_name")

    def _contact_given(self, n: int) -> bool:
        return any(getattr(self, f"contact{n}_{f}") not in (None, []) for f in CONTACT_FIELDS)

    def contacts(self) -> list[Contact]:
        if self._built_contacts is None:
            self._built_contacts = self._build_contacts()
        return self._built_contacts

    def _build_contacts(self) -> list[Contact]:
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
                    restriction=getattr(self, f"contact{n}_restriction"),
                    address=self.contact_address(n),
                )
            )
        return out

    def contact_address(self, n: int) -> Address | None:
        """Where contact ``n`` lives when the feed gives it (checked complete by ``_contacts``)."""
        line1, line2, town, postcode = (getattr(self, f"contact{n}_{f}") for f in CONTACT_ADDRESS_FIELDS)
        if line1 is None or town is None or postcode is None:
            return None
        return Address(line1=line1, line2=line2, town=town, postcode=postcode)

    def to_case(self) -> CaseInput:
        """The case this N mark starts (one instance per row: copy it to change it). Raises
        ValueError for any other mark."""
        if not self.starts_case:
            raise ValueError(f"row {self.row}: code {self.attendance_code} does not start a case")
        if self._built_case is None:
            self._built_case = self._build_case()
        return self._built_case

    def _build_case(self) -> CaseInput:
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
            first_session=self.session,
            last_attended=self.last_attended,
            social_worker_email=self.social_worker_email,
            mis_pupil_id=self.mis_pupil_id,
        )


def _ordinal(n: int) -> str:
    return {1: "first", 2: "second", 3: "third"}.get(n, f"{n}th")


def _fault(column: str, reason: str) -> PydanticCustomError:
    """A cross-column fault that still names one column for the rejects file."""
    return PydanticCustomError("feed_row", "{reason}", {"column": column, "reason": reason})


def problems_of(exc: ValidationError, raw: Mapping[str, str]) -> list[Problem]:
    """A failed ``FeedRow`` as the rejects file lists it: one ``Problem`` per faulty column."""
    out = []
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        column = ctx.get("column") or (str(err["loc"][0]) if err["loc"] else "(row)")
        reason = str(ctx.get("reason") or err["msg"]).removeprefix("Value error, ")
        if err["type"] == "missing":
            reason = "missing"
        out.append(Problem(column=column, value=raw.get(column, ""), reason=reason))
    return out
