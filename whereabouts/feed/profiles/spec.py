"""A column profile as data: what one MIS export calls the feed's columns, and how it spells codes.

A school's IT cannot change what SIMS, Arbor, Bromcom or Wonde export, and an LA cannot ship code
to every school, so a profile is a TOML file (``whereabouts/feed/profiles/*.toml``, or a mapping
file an LA writes, ``--mapping FILE``) and this module turns it into a checked ``Profile``. A
mistake in a mapping file (a typo in a key, a code the regulations do not list) stops the
import with the file, the key and what is allowed: a silently ignored line would feed the wrong
column, or read a present mark as an absence.

The keys (see the shipped profiles and ``examples/mapping-example.toml``):

- ``name``, ``title``, ``format`` (``csv`` or ``json``), ``sources`` (where the layout is
  documented), ``notes`` (what is documented and what is assumed), ``extends`` (a mapping file
  starts from a shipped profile and changes what differs).
- ``[marks]``: a feed column (``whereabouts.feed.columns.COLUMNS``) = the header names the export
  may use, first match wins; a name may be a list of headers joined with a space (house number
  and street). In a JSON profile the names are dotted paths (``date_of_birth.date``).
- ``[contacts]``: the contacts report, one row per contact: ``join`` (``mis_pupil_id`` and/or
  ``upn``, tried in order), the pupil's keys, and each contact field (``name``, ``phone``, ...,
  ``priority``). Every phone column that is present is read (home, mobile, work).
- ``[constants]``: a column every row has (``school_urn`` for a one-school export).
- ``[codes]``, ``[sessions]``, ``[values.COLUMN]``: how the export spells a value, and what the
  feed means by it (``Present = "/"``, ``Morning = "AM"``). Codes must be register codes
  (``whereabouts.register_codes``); matching ignores case and spaces at the ends.
- ``date_formats``: ``strptime`` formats beyond the ones every profile reads.
- ``[json]``: where a JSON export keeps its records (``records``, ``marks``, ``contacts``, ``school_urn``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whereabouts.feed.columns import COLUMNS, CONTACT_FIELDS, SESSIONS, column_name
from whereabouts.register_codes import CODE_WORDS

PROFILES_DIR = Path(__file__).resolve().parent
FORMATS = ("csv", "json")
JOIN_KEYS = ("mis_pupil_id", "upn")
CONTACT_KEYS = (*CONTACT_FIELDS, "priority", *JOIN_KEYS)
JSON_KEYS = ("records", "marks", "contacts", "school_urn")
TOP_KEYS = (
    "name",
    "title",
    "format",
    "sources",
    "notes",
    "extends",
    "marks",
    "contacts",
    "constants",
    "codes",
    "sessions",
    "values",
    "date_formats",
    "json",
)
Alternative = tuple[str, ...]  # one header (or path), or several whose values are joined by a space


class ProfileError(Exception):
    """A profile or mapping file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Profile:
    """One MIS export layout, checked. ``marks`` and ``contacts`` map feed columns (and contact
    fields) to the names the export may use, in order of preference."""

    name: str
    title: str
    format: str
    path: Path
    sources: tuple[str, ...] = ()
    notes: str = ""
    marks: dict[str, tuple[Alternative, ...]] = field(default_factory=dict)
    contacts: dict[str, tuple[Alternative, ...]] = field(default_factory=dict)
    join: tuple[str, ...] = JOIN_KEYS
    constants: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> {spelling: value}
    date_formats: tuple[str, ...] = ()
    json: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How a person names it on the command line."""
        return f"--profile {self.name}" if self.path.parent == PROFILES_DIR else f"--mapping {self.path}"

    def value(self, column: str, raw: str) -> str:
        """``raw`` as the feed spells it: the profile's word for it, else unchanged."""
        table = self.values.get(column)
        if not table:
            return raw
        key = raw.strip()
        return table.get(key, table.get(key.casefold(), raw))


def profile_names() -> list[str]:
    """The shipped profiles, by name."""
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


def load_profile(name: str) -> Profile:
    """A shipped profile by name (``sims``, ``arbor``, ``bromcom``, ``wonde``)."""
    path = PROFILES_DIR / f"{name}.toml"
    if name not in profile_names():
        raise ProfileError(f"no profile {name!r}: the profiles are {', '.join(profile_names())}")
    return load_mapping(path)


def load_mapping(path: Path) -> Profile:
    """A profile from a TOML file: a shipped one, or an LA's mapping (which may ``extend`` one)."""
    data = _read(path)
    base = data.pop("extends", None)
    if base is not None:
        if not isinstance(base, str) or base not in profile_names():
            raise ProfileError(f"{path}: extends = {base!r}: name one of {', '.join(profile_names())}")
        parent = _read(PROFILES_DIR / f"{base}.toml")
        parent.pop("extends", None)
        data = _merge(parent, data)
    return _build(path, data)


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read it ({exc.strerror})") from None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Tables merged key by key (a mapping changes one column, one code); anything else replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _build(path: Path, data: dict[str, Any]) -> Profile:
    def fail(where: str, why: str) -> ProfileError:
        return ProfileError(f"{path}: {where}: {why}")

    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise fail(", ".join(unknown), f"not a profile key (the keys are {', '.join(TOP_KEYS)})")
    fmt = data.get("format", "csv")
    if fmt not in FORMATS:
        raise fail("format", f"{fmt!r}: use csv or json")
    marks = _columns(data.get("marks", {}), COLUMNS, "[marks]", fail)
    contacts_table = dict(data.get("contacts", {}))
    join = contacts_table.pop("join", list(JOIN_KEYS))
    if not isinstance(join, list) or not join or any(j not in JOIN_KEYS for j in join):
        raise fail("[contacts] join", f"{join!r}: a list of {' and/or '.join(JOIN_KEYS)}")
    contacts = _columns(contacts_table, CONTACT_KEYS, "[contacts]", fail)
    values: dict[str, dict[str, str]] = {}
    for column, table in _table(data, "values", fail).items():
        if column not in COLUMNS:
            raise fail(f"[values.{column}]", "not a feed column")
        values[column] = _spellings(_as_table(table, f"[values.{column}]", fail), f"[values.{column}]", fail)
    codes = _spellings(_table(data, "codes", fail), "[codes]", fail)
    for spelling, code in codes.items():
        if code not in CODE_WORDS:
            shown = ", ".join(list(CODE_WORDS)[:8])
            raise fail(
                f"[codes] {spelling}",
                f"{code!r} is not a register code (the 2024 regulations': {shown}, ...)",
            )
    sessions = _spellings(_table(data, "sessions", fail), "[sessions]", fail)
    for spelling, session in sessions.items():
        if session not in SESSIONS:
            raise fail(f"[sessions] {spelling}", f"{session!r}: use AM or PM")
    values["attendance_code"] = values.get("attendance_code", {}) | codes
    defaults = {"am": "AM", "pm": "PM", "morning": "AM", "afternoon": "PM"}
    values["session"] = defaults | values.get("session", {}) | sessions
    constants = {str(k): str(v) for k, v in _table(data, "constants", fail).items()}
    bad = [k for k in constants if k not in COLUMNS]
    if bad:
        raise fail(f"[constants] {bad[0]}", "not a feed column")
    paths = {}
    for key, value in _table(data, "json", fail).items():
        if key not in JSON_KEYS:
            raise fail(f"[json] {key}", f"not a key (the keys are {', '.join(JSON_KEYS)})")
        paths[key] = tuple(value) if isinstance(value, list) else (str(value),)
    formats = data.get("date_formats", [])
    if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
        raise fail("date_formats", 'a list of strptime formats, e.g. ["%d-%b-%Y"]')
    return Profile(
        name=str(data.get("name", path.stem)),
        title=str(data.get("title", path.stem)),
        format=fmt,
        path=path,
        sources=tuple(str(s) for s in data.get("sources", [])),
        notes=str(data.get("notes", "")),
        marks=marks,
        contacts=contacts,
        join=tuple(join),
        constants=constants,
        values=values,
        date_formats=tuple(formats),
        json=paths,
    )


def _table(data: dict[str, Any], key: str, fail: Any) -> dict[str, Any]:
    return _as_table(data.get(key, {}), f"[{key}]", fail)


def _as_table(value: Any, where: str, fail: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(where, "must be a table")
    return value


def _spellings(table: dict[str, Any], where: str, fail: Any) -> dict[str, str]:
    """A spelling table, each spelling also kept case-folded, so ``present`` finds ``Present``."""
    out: dict[str, str] = {}
    for spelling, value in table.items():
        if not isinstance(value, str):
            raise fail(f"{where} {spelling}", "the value must be text, in quotes")
        out[spelling.strip()] = value
        out.setdefault(spelling.strip().casefold(), value)
    return out


def _columns(
    table: Any, allowed: tuple[str, ...], where: str, fail: Any
) -> dict[str, tuple[Alternative, ...]]:
    """``column = ["Header", ["Part", "Part"]]`` as alternatives; a lone string is one header."""
    out: dict[str, tuple[Alternative, ...]] = {}
    for column, spec in _as_table(table, where, fail).items():
        if column not in allowed:
            raise fail(f"{where} {column}", f"not a column here (use {', '.join(allowed)})")
        items = spec if isinstance(spec, list) else [spec]
        alternatives: list[Alternative] = []
        for item in items:
            parts = item if isinstance(item, list) else [item]
            if not parts or not all(isinstance(p, str) and p.strip() for p in parts):
                raise fail(f"{where} {column}", "give header names in quotes, or lists of them")
            alternatives.append(tuple(parts))
        out[column] = tuple(alternatives)
    return out


def header_key(name: str) -> str:
    """A header as it is matched: the same spreadsheet-proof spelling the feed's own reader uses."""
    return column_name(name)
