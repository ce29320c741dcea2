"""The Day 3 letter: to each parent, e-mailed, or printed for the office to post.

The letter goes to everyone with parental responsibility, each on their own: one parent's bounced
address must not leave the other parent (or the office's printed copies) without a letter. A
parent the letter cannot be e-mailed to (no address, or the mail server refused it) gets a
print-ready copy in the office's task, with the refused address named so the MIS can be
corrected; if the office's own inbox refuses the task, the DSL gets it. The family's 3 working
days run from when the letter actually goes, so a letter held up by a mail outage never names a
deadline already past.

The office's copies are print-ready A4 PDFs (``letter_pdf``): the family's address where a window
envelope shows it, the letter in the family's language, then the same letter in English on a page
of its own, fonts embedded. If no PDF can be made on this server the office still gets the letter,
as the HTML page to print from a browser, and is told why; a character no font here has is named
in the task so a person checks it on the printed page.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from temporalio import activity

from whereabouts import metrics
from whereabouts.activities.deps import Deps
from whereabouts.activities.letter_library import ENGLISH, LetterLanguage, LetterLibrary
from whereabouts.activities.letter_pdf import PDF_TYPE, PdfUnavailable, describe, render_pdf
from whereabouts.activities.mail import Attachment, Mail, Outbox
from whereabouts.directory import School
from whereabouts.models import Contact
from whereabouts.school_time import SchoolTime
from whereabouts.steps import LetterRequest, LetterResult
from whereabouts.times import LONDON

__all__ = ["LetterActivities", "LetterLibrary"]

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Due:
    """What the letter promises: contact by ``deadline``, or a visit on ``visit_day``."""

    deadline: datetime
    visit_day: date


@dataclass
class _Copy:
    """A letter for the office to print, sign and post, and why it is not e-mailed."""

    label: str
    why: str
    attachment: Attachment
    languages: int = 1  # the family's language and English: 2
    missing: tuple[str, ...] = ()  # characters no font here has: printed as boxes
    no_pdf: str | None = None  # why no PDF could be made (the HTML page is attached instead)


class LetterActivities:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.library = LetterLibrary(deps.settings.templates_dir / "letters")

    def letter_data(self, req: LetterRequest, contact: Contact, due: Due) -> dict[str, Any]:
        school = self.deps.directory.school(req.case.school_urn)
        pupil = req.case.pupil
        return {
            "school_name": school.name,
            "school_address": school.address,
            "school_phone": school.phone,
            "school_email": str(school.attendance_inbox),
            "parent_name": contact.name,
            "address_lines": [contact.name, *(contact.address or pupil.address).lines()],
            "child_name": pupil.full_name,
            "child_forename": pupil.forename,
            "first_day": req.case.first_day_absent,
            "calls": [c.at for c in req.calls],
            "deadline": due.deadline,
            "visit_day": due.visit_day,
            "letter_date": datetime.now(UTC).astimezone(LONDON).date(),
            "sender_name": school.signatory.name,
            "case_id": req.ref.case_id,
        }

    def languages(self, contact: Contact) -> tuple[list[LetterLanguage], bool]:
        """The family's language then English (or English alone); True if we have no letter in
        the family's language, so an interpreter is needed."""
        lang = self.library.resolve(contact.language)
        if lang is None:
            return [self.library.english], True
        return ([lang] if lang.folder == ENGLISH else [lang, self.library.english]), False

    @activity.defn(name="send_day3_letter")
    @metrics.letter_sent
    async def send_day3_letter(self, req: LetterRequest) -> LetterResult:
        school = self.deps.directory.school(req.case.school_urn)
        settings = self.deps.settings
        outbox = Outbox(settings, req.ref.key)
        times = SchoolTime(req.sessions)
        deadline = max(req.deadline, times.letter_deadline(datetime.now(UTC)))
        due = Due(deadline, times.visit_after(deadline)[2])
        # The letter is for those with parental responsibility. If the MIS names none, a letter
        # silently not sent would leave the family unwritten to: the office gets a printed copy
        # for every contact on record and is asked to find who holds responsibility.
        contactable = [c for c in req.case.contacts if c.may_be_contacted]
        no_holder = not any(c.parental_responsibility for c in contactable)
        # A contact the school must not contact (a court order) gets no letter, e-mailed or posted.
        readers = [
            (n, c)
            for n, c in enumerate(req.case.contacts, start=1)
            if c.may_be_contacted and (c.parental_responsibility or no_holder)
        ]
        barred = [c for c in req.case.contacts if not c.may_be_contacted and c.parental_responsibility]
        used: list[str] = []
        interpreter: list[str] = []
        for _, contact in readers:
            langs, unknown = self.languages(contact)
            used += [x.name for x in langs if x.name not in used]
            if unknown:
                interpreter.append(contact.language or "?")

        emailed = [(n, c) for n, c in readers if c.email and not no_holder]
        sent = await outbox.send([self._email(req, c, due, school) for _, c in emailed])
        to_post = [
            (n, c, f"the mail server refused {s.address}: {s.refused}")
            for (n, c), s in zip(emailed, sent, strict=True)
            if not s.accepted
        ]
        to_post += [(n, c, "no e-mail address on record") for n, c in readers if (n, c) not in emailed]
        copies = [await self._copy(req, n, c, due, why) for n, c, why in to_post]
        if copies or interpreter or barred:
            task = self.office_mail(req, school, copies, interpreter, no_holder, barred)
            [to_office] = await outbox.send([task])
            sent.append(to_office)
            if not to_office.accepted:
                dsl = task.model_copy(
                    update={"to": str(school.dsl.email), "to_name": school.dsl.name, "role": "dsl"}
                )
                dsl.label = f"the DSL, {school.dsl.name}"
                dsl.text = (
                    f"The attendance office inbox refused this ({to_office.refused}), so it comes to "
                    "you: please pass it to the office today.\n\n" + dsl.text
                )
                sent += await outbox.send([dsl])
        return LetterResult(
            emailed=sum(1 for s in sent if s.role == "parent" and s.accepted),
            printed=len(copies),
            languages=used,
            interpreter_needed=interpreter,
            message_ids=[s.message_id for s in sent],
            sent=sent,
            posted=[f"{c.label} ({c.why})" for c in copies],
            deadline=due.deadline,
            visit_day=due.visit_day,
        )

    def _email(self, req: LetterRequest, contact: Contact, due: Due, school: School) -> Mail:
        langs, _ = self.languages(contact)
        subject, html, text = self.library.render(langs, self.letter_data(req, contact, due), False)
        return Mail(
            to=str(contact.email),
            to_name=contact.name,
            role="parent",
            label=f"{contact.name} ({contact.relationship})",
            # The family sees the school as the sender, and a reply reaches the school.
            from_name=school.name,
            reply_to=str(school.attendance_inbox),
            subject=subject,
            text=text,
            html=html,
            language=langs[0].lang,
            step=req.ref.step,
        )

    async def _copy(self, req: LetterRequest, n: int, contact: Contact, due: Due, why: str) -> _Copy:
        """The print-ready A4 PDF for one contact (rendered in a thread: it takes a tenth of a
        second or so, which the worker's event loop must not wait for)."""
        langs, _ = self.languages(contact)
        _, html, _ = self.library.render(langs, self.letter_data(req, contact, due), True)
        name = f"day3-letter-contact{n}-{langs[0].folder}"
        label = f"{contact.name} ({contact.relationship})"
        try:
            printed = await asyncio.to_thread(render_pdf, html)
        except PdfUnavailable as exc:
            # The letter must still go: the office gets the page to print from a browser.
            LOG.error("case %s: Day 3 letter PDF not made, HTML copy sent instead: %s", req.ref.case_id, exc)
            page = Attachment(
                filename=f"{name}.html", content_type="text/html; charset=utf-8", data=html.encode()
            )
            return _Copy(label, why, page, len(langs), no_pdf=str(exc))
        if printed.missing:
            LOG.warning(
                "case %s: Day 3 letter has %d character(s) no installed font has (scripts/ensure-pdf.sh)",
                req.ref.case_id,
                len(printed.missing),
            )
        pdf = Attachment(filename=f"{name}.pdf", content_type=PDF_TYPE, data=printed.pdf)
        return _Copy(label, why, pdf, len(langs), missing=printed.missing)

    def office_mail(
        self,
        req: LetterRequest,
        school: School,
        copies: list[_Copy],
        interpreter: list[str],
        no_holder: bool = False,
        barred: list[Contact] | None = None,
    ) -> Mail:
        lines = [f"Day 3 letter for case {req.ref.case_id}: tasks for the attendance office.", ""]
        for c in barred or []:
            restriction = c.restriction.words if c.restriction else "no contact"
            lines += [
                f"NOT written to: {c.name} ({c.relationship}) is marked {restriction}. Do not send them",
                "this letter or a copy.",
                "",
            ]
        if no_holder:
            lines += [
                "No contact on record has parental responsibility, so no letter was e-mailed.",
                "Find out who holds parental responsibility and post them the letter today: a",
                f"print-ready copy for each of the {len(copies)} contact(s) on record is attached.",
                "Then correct the contacts in the MIS.",
                "",
            ]
        elif copies:
            lines += [
                f"{len(copies)} letter(s) could not be e-mailed. Their print-ready pages (A4, address",
                "block filled in) are attached: print, sign and post today.",
                *(f"  - {c.label}: {c.why}" for c in copies),
                "Where the mail server refused an address, correct it in the MIS.",
                "",
            ]
        pdfs = [c for c in copies if c.attachment.content_type == PDF_TYPE]
        if any(c.languages > 1 for c in pdfs):
            lines += [
                "Each PDF is one letter: the family's language first, with their address placed for a",
                "window envelope (DL folded in three, or C5 folded once), then the same letter in English",
                "on a page of its own. Print at actual size (100%, not 'fit to page'), and sign each",
                "language's letter above the printed name.",
                "",
            ]
        elif pdfs:
            lines += [
                "Each PDF is one letter, with the family's address placed for a window envelope (DL",
                "folded in three, or C5 folded once). Print at actual size (100%, not 'fit to page'),",
                "and sign above the printed name.",
                "",
            ]
        for copy in copies:
            if copy.missing:
                lines += [
                    f"Check before posting: the letter to {copy.label} has characters no font on the server",
                    f"could print ({describe(copy.missing)}): they show as empty boxes. Write them in by",
                    "hand, and ask IT to install the fonts (scripts/ensure-pdf.sh).",
                    "",
                ]
            if copy.no_pdf:
                lines += [
                    f"The PDF of the letter to {copy.label} could not be made on the server ({copy.no_pdf}).",
                    "Its page is attached as HTML instead: open it in a web browser and print it on A4.",
                    "Ask IT to fix the server (scripts/ensure-pdf.sh).",
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
            role="office",
            label=f"{school.name} attendance office",
            subject=f"Day 3 letter tasks: case {req.ref.case_id}",
            text="\n".join(lines) + "\n",
            attachments=[c.attachment for c in copies],
            step=req.ref.step,
        )
