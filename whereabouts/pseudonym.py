"""Case IDs: a keyed pseudonym of school and pupil, never the UPN itself.

Temporal encrypts payloads (``whereabouts/codec.py``) but not workflow IDs, search attributes
or its own logs, and an operator lists cases by ID. A UPN is personal data whose use the DfE
restricts to education purposes, so it must not be what Temporal keeps in clear. The ID is
``cme-<URN>-<pseudonym>``: the school's URN (public: it names no child) and an HMAC-SHA256 of URN
and UPN under a key only the feed, the worker and ``admin.py`` hold. It is deterministic, so a
row fed twice, or next term's absence, still finds the pupil's case; without the key an ID
cannot be turned back into a UPN, nor a UPN into its ID (a UPN has few enough values to be
guessed, which is why a plain hash would not do).

The key comes from ``WHEREABOUTS_PSEUDONYM_KEY`` (base64, 32 bytes), else (local only) from
``var/pseudonym-key``, which ``make run`` creates. A throwaway demo (``demo_unencrypted``) with no
key file uses a published demo key: its IDs are still not UPNs, but anyone can work them out.
Keep the key for as long as any case exists: a new key gives every pupil a new case ID, so an
open case would no longer be found by its next mark.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from pathlib import Path

from whereabouts.settings import Settings, private_dir, write_private

KEY_FILE = "pseudonym-key"
PREFIX = "cme-"
# Anyone may know this one: only for a demo with no real child in it (``demo_unencrypted``).
DEMO_KEY = hashlib.sha256(b"whereabouts demo pseudonym key: not a secret").digest()
CASE_ID = re.compile(r"^cme-(\d{6})-([a-z2-7]{20})$")
_UPN = re.compile(r"^[A-Z0-9]{13}$")


class PseudonymKeyError(Exception):
    """No usable pseudonym key; the message says which setting or file to fix."""


@dataclass(frozen=True)
class Pseudonyms:
    """Works a case ID out from a school and a pupil, with this deployment's key."""

    key: bytes
    demo: bool = False

    def case_id(self, school_urn: str, upn: str) -> str:
        message = f"whereabouts-case-v1\x00{school_urn}\x00{upn.strip().upper()}".encode()
        mac = hmac.new(self.key, message, hashlib.sha256).digest()
        # 20 base32 characters: 100 bits, lower case so it reads as an ID, not a word.
        return f"{PREFIX}{school_urn}-{base64.b32encode(mac).decode()[:20].lower()}"


def is_case_id(text: str) -> bool:
    return CASE_ID.match(text) is not None


def looks_like_upn(text: str) -> bool:
    return _UPN.match(text.strip().upper()) is not None


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def parse_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (ValueError, binascii.Error):
        raise PseudonymKeyError(f"{where}: the pseudonym key is not base64") from None
    if len(key) != 32:
        raise PseudonymKeyError(f"{where}: the pseudonym key must be 32 bytes, got {len(key)}")
    return key


def local_key(var_dir: Path, create: bool) -> str | None:
    """``var/pseudonym-key``: made once (0600 in a 0700 folder), read afterwards; None if absent."""
    path = var_dir / KEY_FILE
    if not path.exists():
        if not create:
            return None
        private_dir(var_dir)
        try:
            write_private(path, f"{new_key()}\n".encode(), exclusive=True)
        except FileExistsError:  # another process made it first: use theirs
            pass
    return path.read_text().strip()


def pseudonyms_for(settings: Settings, create_local_key: bool = False) -> Pseudonyms:
    """The pseudonyms these settings call for, or ``PseudonymKeyError`` in one line."""
    if settings.pseudonym_key is not None:
        return Pseudonyms(parse_key(settings.pseudonym_key.get_secret_value(), "WHEREABOUTS_PSEUDONYM_KEY"))
    if settings.environment == "production":
        raise PseudonymKeyError(
            "WHEREABOUTS_PSEUDONYM_KEY is not set: production refuses to name cases without it "
            "(case IDs would otherwise carry the pupil's UPN in clear)"
        )
    path = settings.var_dir / KEY_FILE
    try:
        text = local_key(settings.var_dir, create=create_local_key)
    except OSError as exc:
        raise PseudonymKeyError(f"cannot read the pseudonym key {path}: {exc.strerror}") from None
    if text:
        return Pseudonyms(parse_key(text, str(path)))
    if settings.demo_unencrypted:
        return Pseudonyms(DEMO_KEY, demo=True)
    problem = "is empty" if text is not None else "does not exist"
    raise PseudonymKeyError(
        f"no pseudonym key: {path} {problem} (`make run` creates it; or set "
        "WHEREABOUTS_PSEUDONYM_KEY); it turns a pupil's UPN into their case ID"
    )
