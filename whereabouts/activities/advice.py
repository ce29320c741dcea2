"""The missing-child advice, in the family's language as well as in English.

When a parent tells the school on the phone that their child is missing, Whereabouts e-mails
them what to do now: call the police (999 if the child is in danger), contact everyone and
everywhere the child knows, call the GP and the A&E departments near home and school, and call
the school back. A frightened parent who reads English poorly should not have to puzzle that
out, so the advice goes in the family's language first, with the English below it: for anyone
helping the family, and because every translation is a draft until a fluent speaker checks it.

The languages are the Day 3 letter's. ``templates/advice/<folder>/`` has a folder for each
folder in ``templates/letters/``, and a contact's language code (ISO 639-1 or DfE census) is
resolved by :meth:`LetterLibrary.resolve`, so the letter and the advice always agree on what a
family reads. A code we have no advice for gets the English alone, flagged ``unknown``, so the
caller can ask the office to arrange an interpreter.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from whereabouts.activities.letter_library import ENGLISH, LetterLanguage, LetterLibrary

SEPARATOR = "-" * 60  # as in templates/letters/_layout.txt.j2


@dataclass(frozen=True)
class AdviceLanguage:
    """One folder of ``templates/advice``: its ``meta.toml``, with the letter's as defaults."""

    folder: str
    name: str
    native: str
    lang: str
    dir: str
    subject: str
    draft: bool

    @property
    def heading(self) -> str:
        """The language's names, for the line above its section ("polski / Polish")."""
        return self.name if self.native == self.name else f"{self.native} / {self.name}"


@dataclass(frozen=True)
class Advice:
    """One rendered e-mail of advice, ready for ``Mail`` (``lang`` is for Content-Language)."""

    subject: str
    text: str
    lang: str
    languages: list[str]
    draft: bool
    unknown: bool


class AdviceLibrary:
    """Every language folder under ``templates/advice``, found by the letters' language codes."""

    def __init__(self, root: Path, letters: LetterLibrary) -> None:
        self.root = root
        self.letters = letters
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(root),
            autoescape=False,  # plain text only: nothing here is ever HTML
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.languages: dict[str, AdviceLanguage] = {}
        for meta_path in sorted(root.glob("*/meta.toml")):
            folder = meta_path.parent.name
            meta = tomllib.loads(meta_path.read_text(encoding="utf-8"))
            self.languages[folder] = _language(folder, meta, letters.languages.get(folder))
        if ENGLISH not in self.languages:
            raise FileNotFoundError(f"{root}: the English advice ({ENGLISH}/meta.toml) is missing")

    @property
    def english(self) -> AdviceLanguage:
        return self.languages[ENGLISH]

    def resolve(self, language_code: str | None) -> AdviceLanguage | None:
        """The advice for a contact's language code; English for none; None if we have none."""
        letter = self.letters.resolve(language_code)
        return self.languages.get(letter.folder) if letter else None

    def render(self, language_code: str | None, data: dict[str, Any]) -> Advice:
        """The advice for a family whose language is ``language_code``: theirs first, then the
        English (or the English alone). ``data`` holds ``child_forename``, ``school_name``,
        ``school_phone``, ``school_address`` (a list of lines) and ``parent_name``; a missing
        one raises ``jinja2.UndefinedError`` rather than sending a gap to a frightened parent."""
        found = self.resolve(language_code)
        english = self.english
        sections = [english] if found is None or found.folder == ENGLISH else [found, english]
        text = ""
        for n, lang in enumerate(sections):
            if n:  # the letters' layout: two blank lines, then the next language's names
                text += f"\n\n\n{SEPARATOR}\n{lang.heading}\n{SEPARATOR}\n\n"
            text += self.env.get_template(f"{lang.folder}/body.txt.j2").render(**data).strip()
        subjects = [" ".join(self.env.from_string(s.subject).render(**data).split()) for s in sections]
        return Advice(
            subject=" / ".join(subjects),
            text=text + "\n",
            lang=sections[0].lang,
            languages=[s.name for s in sections],
            draft=any(s.draft for s in sections),
            unknown=found is None,
        )


def _language(folder: str, meta: dict[str, Any], letter: LetterLanguage | None) -> AdviceLanguage:
    """An advice folder's metadata; names, tag and direction fall back to the letter's."""

    def pick(key: str, default: str) -> str:
        return str(meta.get(key, getattr(letter, key) if letter else default))

    return AdviceLanguage(
        folder=folder,
        name=pick("name", folder),
        native=pick("native", pick("name", folder)),
        lang=pick("lang", folder),
        dir=pick("dir", "ltr"),
        subject=str(meta["subject"]),
        draft=meta.get("status", "draft") != "checked",
    )
