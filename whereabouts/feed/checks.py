"""The checks on one value, each failing with a reason a school office can act on.

A reason goes to the terminal, the integration's log and the rejects file, where a person in the
school office reads it and fixes the cell, so it says what a right value looks like ("a UPN has
13 characters", "use YYYY-MM-DD or DD/MM/YYYY") and never quotes the value itself: names,
addresses and phone numbers must not reach a log. The libraries doing the real work (stdnum for
UPNs, email-validator) speak in exception classes; this is where they are turned into words.
Kept apart from the row model so each check can be read, and used, on its own.
"""

from __future__ import annotations

import re
from datetime import date

from email_validator import EmailNotValidError, validate_email
from stdnum.exceptions import InvalidComponent
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.gb import upn as upn_lib

from whereabouts.feed.columns import SESSIONS

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


def check_postcode(value: str) -> str:
    """A UK postcode, in capitals with one space: "ex9 1zz" and "EX91ZZ" are "EX9 1ZZ"."""
    m = _POSTCODE.match(re.sub(r"\s+", " ", value.upper()))
    if not m:
        raise ValueError("not a UK postcode")
    return f"{m.group(1)} {m.group(2)}"


def check_language(value: str) -> str:
    """An ISO 639-1 or DfE census language code, in lower case."""
    if not _LANGUAGE.match(value.lower()):
        raise ValueError("use an ISO 639-1 or DfE census language code (pl, ur, POL, ...)")
    return value.lower()


def check_code(value: object) -> str:
    """An attendance code as registers write them, in upper case."""
    text = str(value).strip().upper()
    if not _CODE.match(text):
        raise ValueError("not an attendance code (N, /, \\, L, I, ...)")
    return text
