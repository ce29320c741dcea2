"""Encryption of every payload before it leaves the process (AES-256-GCM).

Case payloads hold children's names, dates of birth, addresses, phone numbers and safeguarding
concerns. Temporal stores payloads in its database and shows them in the Web UI; with this codec
on every client and worker both only ever see ciphertext, and a person who may read them uses the
codec server (``whereabouts/codec_server.py``), which asks for a token.

Keys rotate: ``WHEREABOUTS_CODEC_KEYS`` lists ``id:base64key`` pairs, newest last. New payloads
use the newest key; each payload names its key, so payloads written with an older key still
decode as long as that key stays in the list.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class CodecKeyError(Exception):
    """Keys are missing or malformed; the message says which setting to fix."""


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
    """The local stack's key file under ``var/``: created on first run, read afterwards."""
    path = var_dir / "codec-keys"
    if path.exists():
        return path.read_text().strip()
    if not create:
        return None
    var_dir.mkdir(parents=True, exist_ok=True)
    spec = new_key_spec("local-1")
    path.write_text(spec + "\n")
    path.chmod(0o600)
    return spec


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise CodecKeyError("no encryption keys")
        self._keys = {kid: AESGCM(key) for kid, key in keys}
        self._current = keys[-1][0]

    async def encode(self, payloads: Iterable[Payload]) -> list[Payload]:
        aes = self._keys[self._current]
        out = []
        for p in payloads:
            nonce = os.urandom(NONCE_BYTES)
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: self._current.encode()},
                    data=nonce + aes.encrypt(nonce, p.SerializeToString(), None),
                )
            )
        return out

    async def decode(self, payloads: Iterable[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                out.append(p)
                continue
            kid = p.metadata.get(KEY_ID, b"").decode()
            aes = self._keys.get(kid)
            if aes is None:
                raise CodecKeyError(f"payload was encrypted with key {kid!r}, which is not configured")
            inner = Payload()
            inner.ParseFromString(aes.decrypt(p.data[:NONCE_BYTES], p.data[NONCE_BYTES:], None))
            out.append(inner)
        return out
