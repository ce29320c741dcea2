"""The school directory: who to tell, for each school and its local authority.

Read once at worker start from a TOML file an LA maintains. A mistake in it would send a child's
referral to nobody, so a missing or malformed file stops the worker with the file, the key and
what is wrong, rather than failing on the first case that needs the bad entry.
"""

from __future__ import annotations

import tomllib
from datetime import date, time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, model_validator

from whereabouts.identity import Person as IdentityPerson


class DirectoryError(Exception):
    """The directory cannot be used; the message names the file, the key and the problem."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Person(_Model):
    name: str = Field(min_length=1)
    email: EmailStr
    phone: str | None = None


class Agency(_Model):
    name: str = Field(min_length=1)
    email: EmailStr
    phone: str = Field(min_length=3)


class LocalAuthority(_Model):
    code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    cme_inbox: EmailStr
    social_care: Agency
    police: Agency
    virtual_school_head: Person | None = None  # told when a looked-after child goes missing


class Term(_Model):
    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Term:
        if self.end < self.start:
            raise ValueError(f"term ends ({self.end}) before it starts ({self.start})")
        return self


class SchoolHours(_Model):
    """When a school's office is open: prompts to the office land in these hours (never at 18:35),
    while safeguarding messages go at any hour. ``afternoon`` starts the PM session: a PM-only N
    mark counts its school time from then."""

    opens: time = time(9, 0)
    afternoon: time = time(13, 0)
    closes: time = time(16, 0)

    @model_validator(mode="after")
    def _ordered(self) -> SchoolHours:
        if not self.opens < self.afternoon < self.closes:
            raise ValueError(
                f"hours must run opens < afternoon < closes: {self.opens}, {self.afternoon}, {self.closes}"
            )
        return self


class School(_Model):
    urn: str = Field(pattern=r"^\d{6}$")
    name: str = Field(min_length=1)
    la: str = Field(min_length=1)
    address: list[str] = Field(min_length=2)
    phone: str = Field(min_length=3)
    attendance_inbox: EmailStr
    dsl: Person
    deputy_dsl: Person | None = None  # a DSL request not answered in time goes here too
    head_teacher: Person | None = None
    hours: SchoolHours | None = None  # default: the directory's default_hours
    visit_staff: list[Person] = Field(min_length=2)
    letter_signatory: Person | None = None
    terms: list[Term] = Field(min_length=1)
    inset_days: list[date] = Field(default_factory=list)

    @property
    def signatory(self) -> Person:
        return self.letter_signatory or self.dsl


class Directory(_Model):
    local_authorities: list[LocalAuthority] = Field(min_length=1)
    schools: list[School] = Field(min_length=1)
    # Who may act on cases, with their roles and public keys (``whereabouts.identity``): staff
    # with their schools, LA officers with their LA, services (the feed, the worker) with neither.
    people: list[IdentityPerson] = Field(default_factory=list)
    default_hours: SchoolHours = SchoolHours()
    # A DSL risk-assessment request unanswered for this many school hours is chased; as long
    # again, and it goes to the deputy DSL and the head teacher.
    dsl_reply_school_hours: float = Field(default=2.0, gt=0, le=7)

    @model_validator(mode="after")
    def _consistent(self) -> Directory:
        codes = {la.code for la in self.local_authorities}
        seen: set[str] = set()
        for i, school in enumerate(self.schools):
            if school.la not in codes:
                raise ValueError(
                    f"schools[{i}].la: {school.la!r} is not a local authority in this file "
                    f"(known: {', '.join(sorted(codes))})"
                )
            if school.urn in seen:
                raise ValueError(f"schools[{i}].urn: {school.urn!r} appears twice")
            seen.add(school.urn)
        keys: set[str] = set()
        for i, person in enumerate(self.people):
            unknown = [u for u in person.schools if u not in seen] + [c for c in person.las if c not in codes]
            if unknown:
                raise ValueError(f"people[{i}] ({person.name}): {', '.join(unknown)} not in this file")
            if person.public_key in keys:
                raise ValueError(f"people[{i}] ({person.name}): the same public key as someone above")
            keys.add(person.public_key)
        return self

    def school(self, urn: str) -> School:
        for school in self.schools:
            if school.urn == urn:
                return school
        raise KeyError(f"school URN {urn} is not in the school directory")

    def has_school(self, urn: str) -> bool:
        return any(s.urn == urn for s in self.schools)

    def hours_for(self, school: School) -> SchoolHours:
        return school.hours or self.default_hours

    def la_for(self, urn: str) -> LocalAuthority:
        code = self.school(urn).la
        return next(la for la in self.local_authorities if la.code == code)

    def people_for(self, urn: str) -> list[IdentityPerson]:
        """Who may act on this school's cases: its staff, its LA's officers, and the services."""
        la = self.school(urn).la
        return [p for p in self.people if p.covers(urn, la)]


def _loc(loc: tuple[object, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_directory(path: Path) -> Directory:
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DirectoryError(f"{path}: school directory file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise DirectoryError(f"{path}: not valid TOML: {exc}") from None
    try:
        return Directory.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{_loc(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise DirectoryError(f"{path}: {problems}") from None
