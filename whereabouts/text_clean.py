"""Text that reaches a terminal, an e-mail or a letter: no control codes, no bidi overrides.

A name, an address or a note comes from an MIS export or a person typing, and goes on to a
terminal (``admin.py show``), an e-mail to the police and a letter to a family. A terminal
escape sequence in a surname can rewrite what the attendance officer's screen shows; a bidi
override (U+202E) can make "Ali" read "ilA" in a letter or hide the end of a note; a NUL or a
CR/LF can cut a line or forge a header-looking line in an e-mail body. So:

- bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) are removed: they
  change how the rest of the text reads and never carry meaning of their own (the plain
  direction marks U+200E, U+200F and U+061C, which right-to-left names may use, are kept);
- in a one-line field (a name, an address line, a reason) any other control character, line
  breaks included, cannot be meaningful and is refused, naming the character;
- in a note, line breaks are kept (CR/LF and CR become LF) and tabs too; any other control
  character is refused.
"""

from __future__ import annotations

import re
from enum import Enum

BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
# C0 controls, DEL and C1 controls; a note may keep tab and line feed.
_LINE_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
_NOTE_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(value: str, *, multiline: bool = False) -> str:
    """``value`` without bidi overrides; ValueError naming the first control character left."""
    text = BIDI_CONTROLS.sub("", value)
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    bad = (_NOTE_CONTROLS if multiline else _LINE_CONTROLS).search(text)
    if bad:
        char = bad.group()
        what = "a line break" if char in "\r\n" else f"a control character (U+{ord(char):04X})"
        where = "" if multiline else " in a one-line field"
        raise ValueError(f"contains {what}{where}; remove it and try again")
    return text


def clean_tree(value: object, *, multiline: bool = False) -> object:
    """``clean`` every string in a value (a string, or a list of them); other values as they are."""
    if isinstance(value, Enum):  # a StrEnum is a str: it stays the member it is
        return value
    if isinstance(value, str):
        cleaned = clean(value, multiline=multiline)
        return value if cleaned == value else cleaned
    if isinstance(value, list):
        return [clean_tree(v, multiline=multiline) for v in value]
    return value
