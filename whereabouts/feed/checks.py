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

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType, ValidationResult
from stdnum.exceptions import InvalidComponent
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.gb import upn as upn_lib

from whereabouts.feed.columns import SESSIONS
from whereabouts.vocabulary import ContactRestriction

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
# Numbers are read as UK numbers unless they start with + (or 00) and a country code.
PHONE_REGION = "GB"
UK_COUNTRY_CODE = 44
# Ofcom keeps these ranges for TV and radio drama and never allocates them ("Telephone numbers for
# drama purposes"; https://www.bbc.com/news/blogs-magazine-monitor-32348371 quotes Ofcom on both),
# so no family can own one. phonenumbers calls them invalid, being unallocated; they are accepted
# here, as the mobile or landline their range stands for, because every sample and test in this
# repository uses them: fictional data must never hold a number that rings a real person.
_DRAMA_RANGES: tuple[tuple[re.Pattern[str], bool], ...] = (
    (re.compile(r"^\+447700900\d{3}$"), True),  # 07700 900000 to 900999: mobile
    (re.compile(r"^\+441632960\d{3}$"), False),  # 01632 960000 to 960999: a fictional area code
)
_LANGUAGE = re.compile(r"^[a-z]{2,4}(-[a-z0-9]{2,8})?$")
_CODE = re.compile(r"^[A-Z0-9/\\#\-]{1,2}$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_UK_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_MIS_PUPIL_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
# How MIS exports and spreadsheets write a contact restriction, once lower-cased and with every
# run of spaces, hyphens and punctuation read as one underscore: "No contact", "Court-Order",
# "DO NOT CONTACT".
_RESTRICTIONS: dict[str, ContactRestriction] = {
    "no_contact": ContactRestriction.NO_CONTACT,
    "nocontact": ContactRestriction.NO_CONTACT,
    "do_not_contact": ContactRestriction.NO_CONTACT,
    "court_order": ContactRestriction.COURT_ORDER,
    "courtorder": ContactRestriction.COURT_ORDER,
}


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
    """A phone number a person can ring, in the one format Whereabouts keeps.

    The format is the one an office in England dials: a UK number in its national format, with
    the spaces Ofcom's plan puts in it (``07700 900123``, ``020 7946 0018``), a number abroad in
    international format (``+48 601 234 567``). One spelling per number, so the same number from
    two columns is one number, and a person reads and dials it as written; nothing here dials
    by machine, which is what E.164 (``+447700900123``) is for.

    ``phonenumbers`` (Google's libphonenumber) decides what is a number: a digit count accepted
    ``00000 000000``, ``1234567890`` and ``999999999999999``. The reason never quotes the number.
    """
    return _parse_phone(value)[0]


def is_mobile(number: str) -> bool:
    """Whether a number (as ``check_phone`` keeps it) is a mobile: the Day 2 call wants one."""
    try:
        return _parse_phone(number)[1]
    except ValueError:
        return False


def mobiles_first(numbers: list[str]) -> list[str]:
    """Each number once, mobiles first, otherwise in the MIS's order (its first is its main)."""
    unique = list(dict.fromkeys(numbers))
    return sorted(unique, key=lambda n: not is_mobile(n))


def _parse_phone(value: str) -> tuple[str, bool]:
    text = value.strip()
    if not _PHONE_CHARS.match(text):
        raise ValueError(
            "not a phone number: use digits, spaces and a leading + (separate several with ; or /)"
        )
    digits = re.sub(r"\D", "", text)
    if not text.lstrip("(").startswith(("+", "0")):
        raise ValueError(
            "not a phone number: a UK number starts with 0, one abroad with + and its country code "
            "(a spreadsheet may have dropped the 0: keep the column as text)"
        )
    try:
        number = phonenumbers.parse(text, PHONE_REGION)
    except NumberParseException:
        raise ValueError("not a phone number") from None
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    for pattern, mobile in _DRAMA_RANGES:
        if pattern.match(e164):
            return _formatted(number), mobile
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == ValidationResult.TOO_LONG or len(digits) > 15:
        raise ValueError("not a phone number: too many digits for a number in that country")
    if possible == ValidationResult.INVALID_COUNTRY_CODE:
        raise ValueError("not a phone number: no country has that code (after the +)")
    if possible != ValidationResult.IS_POSSIBLE:
        raise ValueError("not a phone number: too few digits (give the area code too)")
    if not phonenumbers.is_valid_number(number):
        raise ValueError(
            "not a phone number in use: no number in that country starts like this; check it in the MIS"
        )
    return _formatted(number), phonenumbers.number_type(number) == PhoneNumberType.MOBILE


def _formatted(number: phonenumbers.PhoneNumber) -> str:
    """National format for the UK numbering plan (Jersey, Guernsey and the Isle of Man share it)."""
    if number.country_code == UK_COUNTRY_CODE:
        return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


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


def check_restriction(value: str) -> ContactRestriction:
    """A contact the school must not contact: no_contact or court_order, as an MIS spells them."""
    key = re.sub(r"[^a-z]+", "_", value.strip().lower()).strip("_")
    try:
        return _RESTRICTIONS[key]
    except KeyError:
        words = " or ".join(r.value for r in ContactRestriction)
        raise ValueError(
            f"not a contact restriction: use {words} (the contact must not be contacted), or leave blank"
        ) from None


def check_mis_pupil_id(value: str) -> str:
    """The MIS's own pupil ID, kept as it is written (the write-back sends it back unchanged)."""
    if not _MIS_PUPIL_ID.match(value):
        raise ValueError("an MIS pupil ID is 1 to 40 letters, digits, - or _")
    return value


def check_code(value: object) -> str:
    """An attendance code as registers write them, in upper case."""
    text = str(value).strip().upper()
    if not _CODE.match(text):
        raise ValueError("not an attendance code (N, /, \\, L, I, ...)")
    return text
