"""The Day 3 letter's languages: which letter a family can read, and the letter in words.

Languages are data, not code: each folder under ``templates/letters/`` with a ``meta.toml``,
``body.html.j2`` and ``body.txt.j2`` is a language, found by the codes its ``meta.toml`` lists
(ISO 639-1 and the DfE school-census codes). A school adds or replaces a language by dropping in
a folder. A language we have no folder for gets the English letter and the office gets a task to
arrange an interpreter: a machine guess at a safeguarding letter is worse than none.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2
from babel.dates import format_date, format_time

from whereabouts.times import LONDON

ENGLISH = "en"
_REGION = re.compile(r"[a-z]{2}|[0-9]{3}")  # a BCP 47 region subtag (lower-cased)
_PARAGRAPH = re.compile(r"<p(?=[\s>])([^>]*)>")
SIGNATURE_PARTS = ("text-end", "sign-off", "signatory")


def mark_signature(body: str, section: int) -> str:
    """Every letter body ends with its last paragraph of text, the sign-off ("Yours sincerely,")
    and the signatory's name: give those three ids (``letter1-text-end``, ``letter1-sign-off``,
    ``letter1-signatory``), so the printed page can be checked to keep them on one page. The body
    is our own template's output, in which every value is escaped, so a ``<p`` is a paragraph."""
    found = [m for m in _PARAGRAPH.finditer(body) if "id=" not in m.group(1)][-3:]
    if len(found) < 3:
        return body
    for match, part in reversed(list(zip(found, SIGNATURE_PARTS, strict=True))):
        at = match.start() + 2
        body = f'{body[:at]} id="letter{section}-{part}"{body[at:]}'
    return body


@dataclass(frozen=True)
class LetterLanguage:
    folder: str
    name: str
    native: str
    lang: str
    locale: str
    dir: str
    codes: tuple[str, ...]
    subject: str
    draft: bool


class LetterLibrary:
    """Every language folder under ``templates/letters``, indexed by the codes it answers to."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(root),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html", "html.j2"), default_for_string=False
            ),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.languages: dict[str, LetterLanguage] = {}
        self._by_code: dict[str, str] = {}
        for meta_path in sorted(root.glob("*/meta.toml")):
            meta = tomllib.loads(meta_path.read_text(encoding="utf-8"))
            folder = meta_path.parent.name
            lang = LetterLanguage(
                folder=folder,
                name=meta["name"],
                native=meta.get("native", meta["name"]),
                lang=meta.get("lang", folder),
                locale=meta.get("locale", folder),
                dir=meta.get("dir", "ltr"),
                codes=tuple(c.lower() for c in meta.get("codes", [folder])),
                subject=meta["subject"],
                draft=meta.get("status", "draft") != "checked",
            )
            self.languages[folder] = lang
            for code in (folder, lang.lang, *lang.codes):  # lang: e.g. "pa-Guru", "pt-PT"
                self._by_code[code.lower()] = folder
        if ENGLISH not in self.languages:
            raise FileNotFoundError(f"{root}: the English letter ({ENGLISH}/meta.toml) is missing")

    @property
    def english(self) -> LetterLanguage:
        return self.languages[ENGLISH]

    def resolve(self, code: str | None) -> LetterLanguage | None:
        """The folder for an ISO 639-1 or DfE census code; English for none; None if unknown."""
        if not code or not code.strip():
            return self.english
        key = code.strip().lower().replace("_", "-")
        # A region subtag may be dropped ("pt-BR" gets the Portuguese letter), a script subtag may
        # not: "pa-Arab" is Panjabi in Shahmukhi, which a family cannot read in the Gurmukhi letter.
        base, *rest = key.split("-")
        general = "-".join([base, *(sub for sub in rest if not _REGION.fullmatch(sub))])
        folder = self._by_code.get(key) or self._by_code.get(general)
        return self.languages[folder] if folder else None

    def facts(self, lang: LetterLanguage, data: dict) -> dict:
        """The letter's data with dates written in the letter's own language."""
        loc = lang.locale

        def full(d: date) -> str:
            return format_date(d, format="full", locale=loc)

        def moment(dt: datetime) -> str:
            local = dt.astimezone(LONDON)
            return f"{full(local.date())}, {format_time(local, format='short', locale=loc)}"

        return {
            **data,
            "letter_date": full(data["letter_date"]),
            "first_day": full(data["first_day"]),
            "visit_day": full(data["visit_day"]),  # the day the home visit is booked for
            "deadline": full(data["deadline"].astimezone(LONDON).date()),
            "calls": [moment(c) for c in data["calls"]],
        }

    def render(self, languages: list[LetterLanguage], data: dict, printable: bool) -> tuple[str, str, str]:
        """(subject, html, text) of one letter holding each language in turn. ``printable``: the
        html is the A4 page the PDF is made from (``_layout_print.html.j2``), not the e-mail's."""
        sections: list[dict[str, Any]] = []
        for n, lang in enumerate(languages, start=1):
            facts = self.facts(lang, data)
            body = self.env.get_template(f"{lang.folder}/body.html.j2").render(**facts)
            sections.append(
                {
                    "lang": lang,
                    "html": mark_signature(body, n) if printable else body,
                    "text": self.env.get_template(f"{lang.folder}/body.txt.j2").render(**facts),
                    "subject": self.env.from_string(lang.subject).render(**facts),
                }
            )
        subject = " / ".join(s["subject"] for s in sections)
        common = {
            **data,
            "sections": sections,
            "printable": printable,
            "letter_date": self.facts(self.english, data)["letter_date"],
        }
        layout = "_layout_print.html.j2" if printable else "_layout.html.j2"
        html = self.env.get_template(layout).render(**common)
        text = self.env.get_template("_layout.txt.j2").render(**common)
        return subject, html, text
