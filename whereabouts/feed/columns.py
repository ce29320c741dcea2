"""The feed's columns, named once.

The row model checks them, both readers map a header onto them, the rejects file writes them
back out and an MIS export is set up from the same list (the README's). A rejects file is fed
straight back in once a person has fixed it, so what is read and what is written must never
drift apart: every other module (and any integration) takes the names from here.
"""

from __future__ import annotations

import re

CONTACT_ADDRESS_FIELDS = ("address_line1", "address_line2", "town", "postcode")
CONTACT_FIELDS = (
    "name",
    "relationship",
    "phone",
    "email",
    "language",
    "parental_responsibility",
    "restriction",  # blank, no_contact or court_order: such a contact gets no letter, advice or copy
    # Where this contact lives, when not with the pupil (a parent apart): printed copies use it.
    *CONTACT_ADDRESS_FIELDS,
)
MAX_CONTACTS = 2
COLUMNS: tuple[str, ...] = (
    "school_urn",
    "upn",
    "mis_pupil_id",  # optional: the MIS's own pupil ID, for the write-back
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
    "last_attended",  # optional, N rows only: the pupil's last day in school, for the referral
    *(f"contact{n}_{f}" for n in range(1, MAX_CONTACTS + 1) for f in CONTACT_FIELDS),
    "flags",
    "social_worker_email",  # optional, N rows only: the child's social worker (CP plan, looked after)
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


def column_name(name: object) -> str:
    """Header cells as spreadsheets mangle them: ' School URN ' is school_urn."""
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())
