"""Which profile would read a header that is not the feed's own: the message an office acts on.

A SIMS report fed as it is used to get "no header row", which sent people looking for a blank
first line. A header that names none of the feed's columns is most often an MIS export fed
without its profile, so the refusal says which required columns are missing and which shipped
profile fits the header (or, if none fits it whole, the nearest and what it still lacks, and
that a mapping file can say the rest).
"""

from __future__ import annotations

from whereabouts.feed.columns import column_name
from whereabouts.feed.profiles.mapped import missing_columns
from whereabouts.feed.profiles.spec import Profile, ProfileError, header_key, load_profile, profile_names

MAPPING_HINT = "write a mapping file for it (--mapping FILE; examples/mapping-example.toml shows how)"


def _matched(profile: Profile, keys: set[str]) -> int:
    """How many of the profile's columns the header has: the nearest profile matches most."""
    return sum(
        any(all(header_key(p) in keys for p in alt) for alt in alternatives)
        for alternatives in profile.marks.values()
    )


def unmatched_header(header: list[str], missing: list[str]) -> str:
    """Why a CSV header that lacks the feed's columns (``missing``) was refused, and what fits."""
    keys = {column_name(h) for h in header}
    base = f"the header does not name the feed's columns (missing: {', '.join(missing)})"
    scored: list[tuple[int, int, str, Profile, list[str]]] = []
    for name in profile_names():
        try:
            profile = load_profile(name)
        except ProfileError:
            continue
        if profile.format != "csv":
            continue
        lacks = missing_columns(profile, lambda p: header_key(p) in keys, dict(profile.constants))
        needs_urn = [m for m in lacks if m.startswith("school_urn")]
        lacks = [m for m in lacks if not m.startswith("school_urn")]  # --school-urn gives it
        scored.append((len(lacks), -_matched(profile, keys), name, profile, lacks + needs_urn))
    if not scored:
        return f"{base}; {MAPPING_HINT}"
    lacking, matched, name, profile, lacks = min(scored)
    urn = " --school-urn URN" if any(m.startswith("school_urn") for m in lacks) else ""
    if lacking == 0:
        return f"{base}; it is laid out as {profile.title} exports it: feed it with --profile {name}{urn}"
    if matched < 0:
        shown = ", ".join(m for m in lacks if not m.startswith("school_urn"))
        return (
            f"{base}; no profile fits it whole: the nearest is --profile {name} ({profile.title}), "
            f"which also needs {shown}; rename those columns in the export's report, or {MAPPING_HINT}"
        )
    return (
        f"no header row: the first line must name the columns (missing: {', '.join(missing)}), "
        f"and it matches none of the MIS profiles ({', '.join(profile_names())}) either; if it "
        f"is an MIS export, {MAPPING_HINT}"
    )
