"""Encryption of every payload before it leaves the process (AES-256-GCM), and refusal of any
payload that was not sealed with one of our keys.

Case payloads hold children's names, dates of birth, addresses, phone numbers and safeguarding
concerns. Temporal stores payloads in its database and shows them in the Web UI; with this codec
on every client and worker both only ever see ciphertext, and a person who may read them uses the
codec server (``whereabouts/codec_server.py``).

Keys rotate: ``WHEREABOUTS_CODEC_KEYS`` lists ``id:base64key`` pairs, newest last. New payloads
use the newest key; each payload names its key, so payloads written with an older key still
decode as long as that key stays in the list.

Each payload is sealed for its case: the workflow ID goes in the payload's metadata (it is no
secret: Temporal shows it beside every payload) and is bound to the ciphertext as AES-GCM
associated data, so the codec server's log of who decoded which case cannot be lied to, and a
payload copied out of one case's history into another case is refused.

*Refused, never wedged.* A payload a client sent without our key (a plain ``temporal workflow
signal ... --input '{...}'``), one that does not decrypt (tampered with, or a key we do not
have), or one sealed for another case does not decode to anything a case could act on: it
becomes a marker payload (encoding ``binary/whereabouts-refused``) that no payload converter
reads. The worker's decoding of an activation must not raise, since an error there fails the
workflow task and the case would retry it for ever, stuck; a marker instead fails the one
argument's conversion inside the workflow, and temporalio 1.35 then *drops* a signal whose
input does not convert (``_process_signal_job`` logs "dropping the signal") and *rejects* an
update before its validator runs (``_apply_do_update``: not past validation, so an update
failure, not a task failure). The case carries on, readable and actionable. The codec server
decodes strictly: a payload it cannot open gets a 4xx there, never a marker.
"""

from __future__ import annotations

import base64
import copy
import logging
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec, SerializationContext, WithSerializationContext

from whereabouts.settings import PRIVATE_FILE, private_dir, write_private

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
CASE_ID_PREFIX = "cme-"  # the case workflows' IDs (whereabouts.models.case_id)
CASE = "whereabouts-case"  # the workflow ID a payload is sealed for (its AES-GCM associated data)
REFUSED = b"binary/whereabouts-refused"
REFUSED_WHY = "whereabouts-refused"
NONCE_BYTES = 12
KEY_FILE = "codec-keys"

log = logging.getLogger("whereabouts.codec")


class CodecKeyError(Exception):
    """Keys are missing or malformed; the message says which setting to fix."""


class PayloadRefused(ValueError):
    """A payload that was not sealed with one of our keys for this case; ``reason`` says how,
    in words that name no one (never the payload)."""

    def __init__(self, reason: str, case: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.case = case


def parse_keys(spec: str) -> list[tuple[str, bytes]]:
    keys = []
    for n, part in enumerate(filter(None, (p.strip() for p in spec.split(","))), start=1):
        kid, sep, b64 = part.partition(":")
        if not sep or not kid:
            raise CodecKeyError(f"WHEREABOUTS_CODEC_KEYS entry {n}: expected 'key-id:base64-key'")
        try:
            key = base64.b64decode(b64, validate=True)
        except ValueError:
            raise CodecKeyError(f"WHEREABOUTS_CODEC_KEYS entry {n} ({kid}): key is not base64") from None
        if len(key) != 32:
            raise CodecKeyError(
                f"WHEREABOUTS_CODEC_KEYS entry {n} ({kid}): key must be 32 bytes (AES-256), got {len(key)}"
            )
        keys.append((kid, key))
    if not keys:
        raise CodecKeyError("WHEREABOUTS_CODEC_KEYS is empty")
    return keys


def new_key_spec(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def local_keys(var_dir: Path, create: bool) -> str | None:
    """The local stack's key file under ``var/``: created on first run (0600, in a 0700 folder,
    never readable by anyone else even for an instant), read afterwards. None: no file (and
    ``create`` is false). An empty file reads as ``""``, which callers refuse."""
    path = var_dir / KEY_FILE
    if not path.exists():
        if not create:
            return None
        private_dir(var_dir)
        spec = new_key_spec("local-1")
        try:
            write_private(path, f"{spec}\n".encode(), exclusive=True)
            return spec
        except FileExistsError:  # another process made it first: use theirs
            pass
    info = path.stat()
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
        path.chmod(PRIVATE_FILE)  # a key file from before files were made private
    return path.read_text().strip()


def _sealed_for(case: str | None) -> bytes | None:
    return b"whereabouts-case\x00" + case.encode() if case else None


def refused_marker(reason: str) -> Payload:
    """What a refused payload decodes to: nothing a converter reads, only why (no data)."""
    return Payload(metadata={"encoding": REFUSED, REFUSED_WHY: reason.encode()}, data=b"")


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """AES-256-GCM for every payload, sealed for the case (workflow ID) of its context.

    ``strict``: ``decode`` raises ``PayloadRefused`` instead of returning a marker (the codec
    server, which answers a person, not a workflow). ``case``: the workflow the payloads belong
    to; the SDK sets it through ``with_context`` for every payload it encodes or decodes for a
    workflow or one of its activities.
    """

    def __init__(
        self, keys: Sequence[tuple[str, bytes]], *, case: str | None = None, strict: bool = False
    ) -> None:
        if not keys:
            raise CodecKeyError("no encryption keys")
        self._keys = {kid: AESGCM(key) for kid, key in keys}
        self._current = keys[-1][0]
        self._case = case
        self._strict = strict

    @property
    def case(self) -> str | None:
        return self._case

    def with_context(self, context: SerializationContext) -> Self:
        case = getattr(context, "workflow_id", None)
        # Only a case is sealed for its ID. A Schedule's runs (the feed import) get an ID the
        # server makes when each run starts ("feed-import-run-<time>"), so nothing can be sealed
        # for it in advance; those payloads are file names and counts, never a child's details.
        if not (isinstance(case, str) and case.startswith(CASE_ID_PREFIX)):
            case = None
        if case == self._case:
            return self
        clone = copy.copy(self)
        clone._case = case
        return clone

    def strictly(self) -> EncryptionCodec:
        """The same keys, refusing by raising (for the codec server)."""
        clone = copy.copy(self)
        clone._strict = True
        return clone

    async def encode(self, payloads: Iterable[Payload]) -> list[Payload]:
        aes = self._keys[self._current]
        metadata = {"encoding": ENCODING, KEY_ID: self._current.encode()}
        if self._case:
            metadata[CASE] = self._case.encode()
        out = []
        for p in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = aes.encrypt(nonce, p.SerializeToString(), _sealed_for(self._case))
            out.append(Payload(metadata=metadata, data=nonce + sealed))
        return out

    def open(self, p: Payload) -> Payload:
        """The payload inside ``p``, or ``PayloadRefused`` saying why not."""
        if p.metadata.get("encoding") != ENCODING:
            raise PayloadRefused("not encrypted: sent by a client without the key", self._case)
        try:
            kid = p.metadata.get(KEY_ID, b"").decode()
            raw_case = p.metadata.get(CASE)
            case = raw_case.decode() if raw_case is not None else None
        except UnicodeDecodeError:
            raise PayloadRefused("damaged metadata", self._case) from None
        aes = self._keys.get(kid)
        if aes is None:
            raise PayloadRefused(f"encrypted with key {kid[:40]!r}, which is not configured", case)
        if self._case and case and case != self._case:
            raise PayloadRefused("sealed for another case", self._case)
        if len(p.data) <= NONCE_BYTES:
            raise PayloadRefused("does not decrypt: cut short", case)
        try:
            raw = aes.decrypt(p.data[:NONCE_BYTES], p.data[NONCE_BYTES:], _sealed_for(case))
        except InvalidTag:
            raise PayloadRefused(
                "does not decrypt: tampered with, or not sealed by Whereabouts", case
            ) from None
        inner = Payload()
        try:
            inner.ParseFromString(raw)
        except DecodeError:
            raise PayloadRefused("decrypts to something that is not a payload", case) from None
        return inner

    async def decode(self, payloads: Iterable[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            try:
                out.append(self.open(p))
            except PayloadRefused as refused:
                if self._strict:
                    raise
                log.warning("refused a payload for case %s: %s", self._case or "-", refused.reason)
                out.append(refused_marker(refused.reason))
        return out
