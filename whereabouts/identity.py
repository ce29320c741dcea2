"""Who did what, provably: staff keys, signed actions, and the roles each action needs.

A chronology is evidence, so "by Ms Okafor" must mean Ms Okafor did it, not that someone typed
her name. Each person who acts on a case (office staff, the DSL and deputies, the head, the
visiting staff, the LA's tracking officers) and each service (the MIS feed, the worker) has an
Ed25519 key pair: the private key stays with them (``admin.py keygen`` makes it, readable by its
owner only), the public key goes in the school directory with their roles and schools. Every
update and signal carries a ``Signature`` over the action's name, the case, the record itself and
the time; the case checks it against the directory's keys (loaded by an activity and refreshed
daily) and refuses, in one sentence, an action that is unsigned, badly signed, stale, from
someone the directory does not know for this school, or from a role that may not take it. The
chronology then names the verified person, never a free-text ``--by``.

Why signatures rather than Temporal's own identities: a workflow cannot see who called it (the
client's identity string is whatever the client says), and mTLS or JWT authorization at the
server decides who may use the namespace at all, not which member of staff may record a risk
assessment. A signature travels with the action into the case's history, so the proof is kept
with the record it proves.
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

MAX_SKEW = timedelta(minutes=10)  # a signature older (or newer) than this is stale: sign again
KEY_PREFIX = "ed25519:"


class Role(StrEnum):
    OFFICE = "office"
    DSL = "dsl"
    DEPUTY_DSL = "deputy_dsl"
    HEAD = "head"
    VISITOR = "visitor"
    LA_OFFICER = "la_officer"
    FEED = "feed"  # the MIS feed: the register's marks, a parent's call logged by the MIS
    WORKER = "worker"  # the worker's own reports (a step being retried)


ROLE_WORDS = {
    Role.OFFICE: "the attendance office",
    Role.DSL: "the DSL",
    Role.DEPUTY_DSL: "a deputy DSL",
    Role.HEAD: "the head teacher",
    Role.VISITOR: "the visiting staff",
    Role.LA_OFFICER: "an LA tracking officer",
    Role.FEED: "the MIS feed",
    Role.WORKER: "the Whereabouts worker",
}

_SCHOOL_STAFF = (Role.OFFICE, Role.DSL, Role.DEPUTY_DSL, Role.HEAD)
_SAFEGUARDING = (Role.DSL, Role.DEPUTY_DSL)
# Which roles may take each action: the case refuses anyone else with one sentence.
ACTION_ROLES: dict[str, tuple[Role, ...]] = {
    "record_call": _SCHOOL_STAFF,
    "record_risk": _SAFEGUARDING,
    "record_plan": _SAFEGUARDING,
    "record_visit": (Role.VISITOR, *_SCHOOL_STAFF),
    "record_contact": (*_SCHOOL_STAFF, Role.VISITOR),
    "record_seen": (*_SCHOOL_STAFF, Role.VISITOR),
    "record_still_missing": _SCHOOL_STAFF,
    "record_agency_told": (*_SAFEGUARDING, Role.HEAD, Role.OFFICE),
    "record_advice_given": _SCHOOL_STAFF,
    "record_enquiry": _SCHOOL_STAFF,
    "withdraw": (*_SAFEGUARDING, Role.HEAD),
    "record_la_decision": (Role.LA_OFFICER,),
    "record_la_update": (Role.LA_OFFICER,),
    # Signals. The worker may speak for the feed: the Schedule's drop-folder import runs in it
    # (whereabouts/feed/drop.py), and the worker runs every case's logic anyway.
    "feed_mark": (Role.FEED, Role.WORKER),
    "parent_responded": (Role.FEED, Role.WORKER, *_SCHOOL_STAFF),
    "child_seen": (Role.FEED, Role.WORKER, *_SCHOOL_STAFF),
    "delivery_delayed": (Role.WORKER,),
}


class Signature(BaseModel):
    """Who signed an action, when, and the signature over it (``signing_bytes``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: str = Field(min_length=8, max_length=64)
    signed_at: datetime
    value: str = Field(min_length=10, max_length=200)


class Person(BaseModel):
    """One entry of the roster a case checks signatures against."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    roles: list[Role] = Field(min_length=1)
    schools: list[str] = Field(default_factory=list, description="URNs; empty: every school (services)")
    las: list[str] = Field(default_factory=list, description="LA codes, for LA officers")
    public_key: str = Field(pattern=r"^ed25519:[A-Za-z0-9+/=]{40,60}$")

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def covers(self, school_urn: str, la_code: str) -> bool:
        """Whether this person acts for the case's school (or, an LA officer, for its LA)."""
        if not self.schools and not self.las:
            return True
        return school_urn in self.schools or la_code in self.las


class Roster(BaseModel):
    """The people who may act on one school's cases, as the directory says today."""

    model_config = ConfigDict(extra="forbid")

    school_urn: str
    la_code: str
    people: tuple[Person, ...] = ()  # shared between the school's cases (shared_values.py)
    loaded_at: datetime

    def by_key(self, key: str) -> Person | None:
        return next((p for p in self.people if p.key_id == key), None)


def key_id(public_key: str) -> str:
    """A short, stable name for a public key: the start of its SHA-256."""
    return hashlib.sha256(public_key.encode()).hexdigest()[:16]


def signing_bytes(action: str, case_id: str, record_json: str, signed_at: datetime) -> bytes:
    """What is signed: the action, the case, the record (without its signature) and the time."""
    return "\n".join(("whereabouts-action-v1", action, case_id, signed_at.isoformat(), record_json)).encode()


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------
def public_key_text(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_PREFIX + base64.b64encode(raw).decode()


def new_key(path: Path) -> str:
    """Make a key pair; the private key is written readable by its owner only. Returns the
    public key line for the directory. Refuses to overwrite a key that is there."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return public_key_text(key)


def load_key(path: Path) -> Ed25519PrivateKey:
    """A private key file; an error that says which file and why, never the key."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise KeyError(f"no signing key at {path} (admin.py keygen makes one)") from None
    except (ValueError, TypeError):
        raise KeyError(f"{path} is not a Whereabouts signing key (an Ed25519 PEM private key)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyError(f"{path} is not an Ed25519 key")
    return key


def sign(key: Ed25519PrivateKey, action: str, case_id: str, record_json: str, at: datetime) -> Signature:
    value = key.sign(signing_bytes(action, case_id, record_json, at))
    return Signature(
        key_id=key_id(public_key_text(key)), signed_at=at, value=base64.b64encode(value).decode()
    )


def _public(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text.removeprefix(KEY_PREFIX)))


# --------------------------------------------------------------------------------------------
# Checking an action
# --------------------------------------------------------------------------------------------
def check(
    roster: Roster | None,
    action: str,
    case_id: str,
    record_json: str,
    signature: Signature | None,
    now: datetime,
) -> Person:
    """The verified person who took ``action``, or ValueError with the one sentence to show."""
    if roster is None:
        raise ValueError("This case is still loading who may act on it; try again in a moment.")
    if signature is None:
        raise ValueError(
            "This action is not signed: record it with admin.py (with your own key), not another tool."
        )
    person = roster.by_key(signature.key_id)
    if person is None:
        raise ValueError(
            "The key this action was signed with is not in the school directory for this school: "
            "ask the directory's keeper to add your public key (admin.py keygen prints it)."
        )
    try:
        _public(person.public_key).verify(
            base64.b64decode(signature.value),
            signing_bytes(action, case_id, record_json, signature.signed_at),
        )
    except (InvalidSignature, ValueError):
        raise ValueError("The signature on this action does not match it: nothing was recorded.") from None
    if abs(now - signature.signed_at) > MAX_SKEW:
        raise ValueError(
            f"This action was signed at {signature.signed_at:%H:%M %d %b} UTC, too long ago (or this "
            "computer's clock is wrong): record it again."
        )
    if not person.covers(roster.school_urn, roster.la_code):
        raise ValueError(f"{person.name} does not act for this school in the school directory.")
    allowed = ACTION_ROLES.get(action, ())
    if not any(r in allowed for r in person.roles):
        who = " or ".join(ROLE_WORDS[r] for r in allowed) or "nobody"
        raise ValueError(f"Only {who} can {ACTION_WORDS.get(action, action.replace('_', ' '))}.")
    return person


ACTION_WORDS = {
    "record_call": "record a call's outcome",
    "record_risk": "record a risk assessment",
    "record_plan": "record the safeguarding plan",
    "record_visit": "record the home visit",
    "record_contact": "record that the parent made contact",
    "record_seen": "record that the child was seen",
    "record_still_missing": "record that the child is still missing",
    "record_agency_told": "record that an agency was told",
    "record_advice_given": "record that the advice was given",
    "record_enquiry": "tick the school's enquiries",
    "withdraw": "withdraw a case",
    "record_la_decision": "record the LA's decision",
    "record_la_update": "record the LA's enquiries or feedback",
}
