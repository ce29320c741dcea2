"""Times as people read them: school time (Europe/London), one way everywhere.

Staff read a time against the school day, so every time a person reads (an e-mail, a letter, the
chronology, ``admin.py``, the Web UI's summaries and current details) is written in
Europe/London, whatever the server's zone; scripts get UTC ISO 8601 (``iso``), because they compare.
Where a time stands alone and could be misread (a Web UI summary next to the UI's own UTC clock),
``short`` names the zone (GMT or BST).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def when(value: datetime | None, *, year: bool = True) -> str:
    """'Mon 30 Nov 2026, 09:00' in school time; '-' when there is no time."""
    if value is None:
        return "-"
    return value.astimezone(LONDON).strftime("%a %-d %b %Y, %H:%M" if year else "%a %-d %b %H:%M")


def short(value: datetime | None) -> str:
    """'Tue 3 Jun 09:00 BST': a summary or a note, with the zone, as the Web UI shows it."""
    if value is None:
        return "-"
    return value.astimezone(LONDON).strftime("%a %-d %b %H:%M %Z")


def day(value: date) -> str:
    """'Mon 30 Nov 2026'."""
    return value.strftime("%a %-d %b %Y")


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 for JSON: what a script compares."""
    return value.astimezone(UTC).isoformat() if value else None
