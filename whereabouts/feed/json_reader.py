"""The JSON reader: an array of objects, or JSON lines, read item by item so damage stays with
the item it is in.

An integration platform posts JSON; a copy or an upload can stop half way, and a JSON-lines
export can hold one bad line among thousands of good ones. ``json.loads`` would refuse the whole
file for either, and every good item is a child someone should be looking for this morning, so
items are decoded one at a time (``JSONDecoder.raw_decode``):

- JSON lines: a line that is not valid JSON is a reject, and reading goes on at the next line
  that starts an object. Broken at the very end of a file with no final line break: cut short.
- An array cut short keeps the items before the cut (``Feed.cut_at`` says where) and rejects the
  cut item. An array broken in the middle (the file still ends with ``]``) is unreadable: where
  one item ends and the next begins is then anyone's guess.
- Values come out as the text a CSV cell would hold, so both formats go through the same checks.

Whatever an item holds, it stays with that item: a lone UTF-16 surrogate (``"\\ud800"``, what a
UTF-16 exporter leaves when it cuts an emoji in two), which no UTF-8 file can hold, a number
too long to convert, nesting too deep to decode, or a list of lists, each makes that item a
reject (its values kept with U+FFFD for the broken character), and the items around it go in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from whereabouts.feed.checked import Feed
from whereabouts.feed.columns import COLUMNS, column_name
from whereabouts.feed.rejects import MAX_CELL_CHARS, FeedUnreadable, Problem, Reject, kept, writable

_OBJECT_LINE = re.compile(r"\n[ \t]*\{")
_DECODER = json.JSONDecoder()
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_SURROGATE = re.compile("[\ud800-\udfff]")
BROKEN_CHARACTER = (
    "holds a broken character (half of a UTF-16 pair, as an exporter leaves when it cuts an emoji "
    "in two; shown as \ufffd): correct the value in the MIS and feed the row again"
)


def json_records(text: str) -> tuple[Feed, Iterable[tuple[int, dict[str, str] | Reject | None]]]:
    """An array of objects, or JSON lines (one object per line, or objects one after another)."""
    feed = Feed(format="json", columns=[])
    items = _json_array(text, feed) if text[0] == "[" else _json_lines(text, feed)
    if not items:
        raise FeedUnreadable("the JSON feed holds no rows")
    seen: list[str] = []
    records: list[tuple[int, dict[str, str] | Reject | None]] = []
    for pos, item in enumerate(items, start=1):
        if isinstance(item, Reject):
            records.append((pos, item))
            continue
        if not isinstance(item, dict):
            records.append((pos, None))
            continue
        try:
            raw = {column_name(k): _json_text(v) for k, v in item.items()}
        except RecursionError:
            records.append((pos, _deep_item(pos)))
            continue
        broken = [k for k, v in raw.items() if _SURROGATE.search(k) or _SURROGATE.search(v)]
        if broken:  # no UTF-8 file (rejects, Temporal's JSON) can hold it: shown as U+FFFD
            raw = {writable(k): writable(v) for k, v in raw.items()}
            problems = [Problem(writable(c), raw[writable(c)], BROKEN_CHARACTER) for c in broken]
            seen += [k for k in raw if k not in seen]
            records.append((pos, Reject(pos, problems, raw)))
            continue
        seen += [k for k in raw if k not in seen]
        nested = [column_name(k) for k, v in item.items() if _nested(v)]
        if nested:
            problems = [Problem(c, raw[c], "a text value, not a JSON object") for c in nested]
            records.append((pos, Reject(pos, problems, raw)))
            continue
        records.append((pos, raw))
    feed.columns = [c for c in COLUMNS if c in seen] + [
        c for c in seen if c not in COLUMNS and not c.startswith("reject_")
    ]
    feed.unknown_columns = [c for c in feed.columns if c not in COLUMNS]
    return feed, records


def _nested(value: Any) -> bool:
    """A JSON object, or a list holding lists or objects: no column holds either."""
    return isinstance(value, dict) or (
        isinstance(value, list) and any(isinstance(v, dict | list) for v in value)
    )


def _deep_item(n: int) -> Reject:
    return Reject(n, [Problem("(row)", "", "nested too deeply to be a row (lists in lists in lists...)")], {})


def _undecodable(exc: BaseException) -> str:
    """Why ``raw_decode`` could not read an item that is not simply broken JSON."""
    if isinstance(exc, RecursionError):
        return "nested too deeply to be a row (lists in lists in lists...)"
    return "holds a number far too long to be a value of any column"


def _value_end(text: str, pos: int) -> int | None:
    """Where the JSON value at ``pos`` ends, found without decoding it (no recursion, no number
    conversion): strings skipped whole, brackets counted. None: it never ends (cut short)."""
    depth, i, n = 0, pos, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            if i >= n:
                return None
            i += 1
            if depth == 0:
                return i
            continue
        if c in "[{":
            depth += 1
        elif c in "]}":
            if depth == 0:
                return i  # a number or word, ended by the array's own ]
            depth -= 1
            if depth == 0:
                return i + 1
        elif depth == 0 and (c == "," or c.isspace()):
            return i
        i += 1
    return None


def _skip_space(text: str, pos: int) -> int:
    space = _JSON_SPACE.match(text, pos)
    return space.end() if space else pos


def _excerpt(text: str, start: int, end: int) -> str:
    """text[start:end] without trailing space, for a reject: a huge one is cut without copying it."""
    while end > start and text[end - 1].isspace():
        end -= 1
    return kept(text[start : min(end, start + MAX_CELL_CHARS + 1)], end - start)


def _cut_item(feed: Feed, n: int, text: str, pos: int) -> Reject:
    feed.cut_at = f"in the middle of item {n}"
    reason = "the file ends in the middle of this item: it was cut short"
    return Reject(n, [Problem("(row)", _excerpt(text, pos, len(text)), reason)], {})


def _json_array(text: str, feed: Feed) -> list[Any]:
    """Items one by one, so a file cut short keeps the items before the cut (see ``Feed.cut_at``).

    Broken anywhere but at its end (the file still closes with ``]``), the array is unreadable:
    where one item ends and the next begins is then anyone's guess.
    """
    items: list[Any] = []
    closed = text.rstrip().endswith("]")
    pos = _skip_space(text, 1)
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            if pos >= len(text):
                feed.cut_at = f"after item {len(items)} (no closing ])"
                return items
            try:
                value, pos = _DECODER.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                if closed:
                    raise FeedUnreadable(
                        f"not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})"
                    ) from None
                items.append(_cut_item(feed, len(items) + 1, text, pos))
                return items
            except (ValueError, RecursionError) as exc:  # well-formed, but not decodable here
                end = _value_end(text, pos)
                if end is None:
                    items.append(_cut_item(feed, len(items) + 1, text, pos))
                    return items
                n = len(items) + 1
                items.append(Reject(n, [Problem("(row)", _excerpt(text, pos, end), _undecodable(exc))], {}))
                pos = end
            else:
                items.append(value)
            pos = _skip_space(text, pos)
            if pos < len(text) and text[pos] == ",":
                pos = _skip_space(text, pos + 1)
                if text.startswith("]", pos):  # a trailing comma, as people type
                    pos += 1
                    break
            elif pos < len(text) and text[pos] == "]":
                pos += 1
                break
            elif pos < len(text):
                line, column = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
                raise FeedUnreadable(
                    f"not valid JSON at line {line} column {column} (expected , or ] after item {len(items)})"
                )
    if text[pos:].strip():
        raise FeedUnreadable("JSON: text after the closing ]")
    return items


def _json_lines(text: str, feed: Feed) -> list[Any]:
    """Objects one after another: a broken one is a reject, and reading goes on at the next line
    that starts an object. Broken at the very end of a file with no final line break: cut short."""
    items: list[Any] = []
    pos = _skip_space(text, 0)
    while pos < len(text):
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
            found = _OBJECT_LINE.search(text, pos)
            resume = found.start() + 1 if found else len(text)
            broken = isinstance(exc, json.JSONDecodeError)
            if broken and found is None and not text.endswith(("\n", "\r")):
                items.append(_cut_item(feed, len(items) + 1, text, pos))
                return items
            if isinstance(exc, json.JSONDecodeError):
                reason = f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            else:
                reason = _undecodable(exc)
            items.append(Reject(len(items) + 1, [Problem("(row)", _excerpt(text, pos, resume), reason)], {}))
            pos = resume
        else:
            items.append(value)
        pos = _skip_space(text, pos)
    return items


def _json_text(value: Any) -> str:
    """JSON values as the text a CSV cell would hold: 990101 -> "990101", true -> "yes"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ";".join(_json_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)  # rejected by the caller; shown in the rejects file as it came
    return str(value)
