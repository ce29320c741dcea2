"""The tests' staff: each action signed with the key of the person it names.

In the product each process holds one key (admin.py a member of staff's, starter.py the feed's,
the worker its own). A test plays every part at once, so its clients sign each update and signal
with the key of the person the record names in ``by`` (the people in tests/data/schools.toml,
keys in tests/data/keys/), the feed's marks with the feed's key and the worker's reports with the
worker's. The case still checks every signature against the directory: a name with no key here
is an error in the test, not a silent stand-in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from whereabouts.identity import load_key, sign
from whereabouts.signing import Clock, Signer, record_json

KEYS = Path(__file__).resolve().parent / "data" / "keys"
EXAMPLE_KEYS = Path(__file__).resolve().parent.parent / "examples" / "keys"
INDEX: dict[str, str] = json.loads((KEYS / "index.json").read_text())
BY_ACTION = {"feed_mark": "feed", "delivery_delayed": "worker"}


def key_of(name: str) -> Ed25519PrivateKey:
    """The private key of a test person (tests/data/keys/index.json)."""
    file = INDEX.get(name, name)
    path = KEYS / f"{file}.key"
    if not path.exists():
        raise LookupError(f"no test key for {name!r}: add the person to tests/data/schools.toml")
    return load_key(path)


def key_file(name: str) -> Path:
    return KEYS / f"{INDEX.get(name, name)}.key"


async def _wall() -> datetime:
    return datetime.now(UTC)


class TestSigner(Signer):
    """Signs as the person each record names; ``clock`` follows the test server's time."""

    __test__ = False  # not a test class

    def __init__(self, clock: Clock = _wall) -> None:
        super().__init__(key_of("T. Hale"), clock)
        self.examples = False  # True: a worker on examples/schools.toml, whose demo keys sign

    def _key(self, action: str, record: Any) -> Ed25519PrivateKey:
        if self.examples:  # the demo people of examples/schools.toml (examples/keys/)
            who = BY_ACTION.get(action) or ("la-officer" if action.startswith("record_la_") else "staff")
            return load_key(EXAMPLE_KEYS / f"{who}.key")
        return key_of(BY_ACTION.get(action) or getattr(record, "by", None) or "T. Hale")

    async def signed(self, action: str, case_id: str, args: Sequence[Any]) -> list[Any]:
        if len(args) != 1 or "signed" not in type(args[0]).model_fields:
            return list(args)
        record = args[0]
        if record.signed is not None:  # a test that signed it itself (a forgery, a replay)
            return list(args)
        at = await self.clock()
        signature = sign(self._key(action, record), action, case_id, record_json(record), at)
        return [record.model_copy(update={"signed": signature})]
