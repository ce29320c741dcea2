"""The Day 3 letter: plain English, in the family's language too, e-mailed or printed to post.

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
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jinja2
from babel.dates import format_date, format_time
from temporalio import activity

from whereabouts import metrics
from whereabouts.activities.deps import Deps
from whereabouts.activities.mail import Attachment, Mail, send_all
from whereabouts.directory import School
from whereabouts.models import Contact
from whereabouts.steps import LetterRequest, LetterResult
from whereabouts.times import LONDON

ENGLISH = "en"
_REGION = re.compile(r"[a-z]{2}|[0-9]{3}")  # a BCP 47 region subtag (lower-cased)


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
            "deadline": full(data["deadline"].astimezone(LONDON).date()),
            "calls": [moment(c) for c in data["calls"]],
        }

    def render(self, languages: list[LetterLanguage], data: dict, printable: bool) -> tuple[str, str, str]:
        """(subject, html, text) of one letter holding each language in turn."""
        sections: list[dict[str, Any]] = []
        for lang in languages:
            facts = self.facts(lang, data)
            sections.append(
                {
                    "lang": lang,
                    "html": self.env.get_template(f"{lang.folder}/body.html.j2").render(**facts),
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
        html = self.env.get_template("_layout.html.j2").render(**common)
        text = self.env.get_template("_layout.txt.j2").render(**common)
        return subject, html, text


class LetterActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.library = LetterLibrary(deps.settings.templates_dir / "letters")

    def letter_data(self, req: LetterRequest, contact: Contact) -> dict:
        school = self.deps.directory.school(req.case.school_urn)
        pupil = req.case.pupil
        return {
            "school_name": school.name,
            "school_address": school.address,
            "school_phone": school.phone,
            "school_email": str(school.attendance_inbox),
            "parent_name": contact.name,
            "address_lines": [contact.name, *pupil.address.lines()],
            "child_name": pupil.full_name,
            "child_forename": pupil.forename,
            "first_day": req.case.first_day_absent,
            "calls": [c.at for c in req.calls],
            "deadline": req.deadline,
            "letter_date": datetime.now(UTC).astimezone(LONDON).date(),
            "sender_name": school.signatory.name,
            "case_id": req.ref.case_id,
        }

    @activity.defn(name="send_day3_letter")
    @metrics.letter_sent
    async def send_day3_letter(self, req: LetterRequest) -> LetterResult:
        school = self.deps.directory.school(req.case.school_urn)
        mails: list[Mail] = []
        printed: list[Attachment] = []
        interpreter: list[str] = []
        used: list[str] = []
        # The letter is for those with parental responsibility. If the MIS names none, a letter
        # silently not sent would leave the family unwritten to: the office gets a printed copy
        # for every contact on record and is asked to find who holds responsibility.
        no_holder = not any(c.parental_responsibility for c in req.case.contacts)
        for n, contact in enumerate(req.case.contacts, start=1):
            if not contact.parental_responsibility and not no_holder:
                continue
            lang = self.library.resolve(contact.language)
            if lang is None:
                interpreter.append(contact.language or "?")
                lang = self.library.english
            langs = [lang] if lang.folder == ENGLISH else [lang, self.library.english]
            for chosen in langs:
                if chosen.name not in used:
                    used.append(chosen.name)
            data = self.letter_data(req, contact)
            if contact.email and not no_holder:
                subject, html, text = self.library.render(langs, data, printable=False)
                mails.append(
                    Mail(
                        to=str(contact.email),
                        to_name=contact.name,
                        subject=subject,
                        text=text,
                        html=html,
                        language=lang.lang,
                        step=req.ref.step,
                    )
                )
            else:
                _, html, _ = self.library.render(langs, data, printable=True)
                printed.append(
                    Attachment(
                        filename=f"day3-letter-contact{n}-{lang.folder}.html",
                        content_type="text/html; charset=utf-8",
                        data=html.encode(),
                    )
                )
        if printed or interpreter:
            mails.append(self.office_mail(req, school, printed, interpreter, no_holder))
        ids = await send_all(self.deps.settings, req.ref.key, mails, step=req.ref.step)
        return LetterResult(
            emailed=sum(1 for m in mails if m.to != str(school.attendance_inbox)),
            printed=len(printed),
            languages=used,
            interpreter_needed=interpreter,
            message_ids=ids,
        )

    def office_mail(
        self,
        req: LetterRequest,
        school: School,
        printed: list[Attachment],
        interpreter: list[str],
        no_holder: bool = False,
    ) -> Mail:
        lines = [f"Day 3 letter for case {req.ref.case_id}: tasks for the attendance office.", ""]
        if no_holder:
            lines += [
                "No contact on record has parental responsibility, so no letter was e-mailed.",
                "Find out who holds parental responsibility and post them the letter today: a",
                f"print-ready copy for each of the {len(printed)} contact(s) on record is attached.",
                "Then correct the contacts in the MIS.",
                "",
            ]
        elif printed:
            lines += [
                f"{len(printed)} contact(s) have no e-mail address. Their letters are attached as",
                "print-ready pages (A4, address block filled in): print, sign and post today.",
                "",
            ]
        if interpreter:
            lines += [
                "We have no letter template for these preferred languages: " + ", ".join(interpreter) + ".",
                "The English letter was used. Please arrange an interpreter to phone the family",
                "and explain the letter. Do not rely on a machine translation.",
                "",
            ]
        lines.append(f"See the case: python admin.py show {req.ref.case_id}")
        return Mail(
            to=str(school.attendance_inbox),
            to_name=f"{school.name} attendance office",
            subject=f"Day 3 letter tasks: case {req.ref.case_id}",
            text="\n".join(lines) + "\n",
            attachments=printed,
            step=req.ref.step,
        )
