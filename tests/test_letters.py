"""The Day 3 letter: plain English, every shipped language in its own words and dates, the right
letter for each contact, and nothing a name or address can smuggle into the HTML or the headers.

Rendering is tested without SMTP (``LetterLibrary.render``, ``mail.build_message``); the
activity runs under ``ActivityEnvironment`` against the test SMTP server (``settings`` fixture).
"""

from __future__ import annotations

import email
import email.policy
import io
import re
import tomllib
import uuid
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import textstat
from babel.dates import format_date, get_day_names, get_month_names
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pypdf import PdfReader
from temporalio.testing import ActivityEnvironment

from tests.conftest import school_morning, until, until_waiting_for, walk_until
from tests.factories import case_id_of, make_case, sessions_for
from whereabouts.activities import letters as letters_module
from whereabouts.activities.deps import Deps
from whereabouts.activities.letter_pdf import PdfUnavailable, PrintedLetter
from whereabouts.activities.letters import LetterActivities, LetterLibrary
from whereabouts.activities.mail import Mail, build_message
from whereabouts.models import CallRecord, Contact
from whereabouts.settings import Settings
from whereabouts.steps import CallTried, CaseRef, LetterRequest
from whereabouts.times import LONDON
from whereabouts.workflows.case import CmeCaseWorkflow

LETTERS = Path(__file__).resolve().parent.parent / "templates" / "letters"
FOLDERS = sorted(p.parent.name for p in LETTERS.glob("*/meta.toml"))
RTL = {"ar", "ur"}
LIBRARY = LetterLibrary(LETTERS)

PARENT = "parent.one@family.example.net"
AUNT = "aunt@family.example.net"
OFFICE = "office@testhill.example.org"

FIRST_DAY = date(2027, 5, 24)  # a Monday
LETTER_DAY = date(2027, 5, 26)  # a Wednesday
DEADLINE = datetime(2027, 6, 1, 15, 0, tzinfo=UTC)  # a Tuesday, in June
VISIT_DAY = date(2027, 6, 2)  # a Wednesday: the school day after the deadline
ENGLISH_DATE_WORDS = ("Monday", "Tuesday", "Wednesday", "May", "June")


def letter_data(**changes) -> dict:
    """Realistic (fictional) data for one letter, as LetterActivities.letter_data builds it."""
    data = {
        "school_name": "Oakfield Primary School",
        "school_address": ["1 Oak Lane", "Exampleton", "EX1 1AA"],
        "school_phone": "01632 960001",
        "school_email": "office@oakfield.example.org",
        "parent_name": "Grace Testperson",
        "address_lines": ["Grace Testperson", "7 Imaginary Row", "Exampleton", "EX9 1ZZ"],
        "child_name": "Zoë Testperson",
        "child_forename": "Zoë",
        "first_day": FIRST_DAY,
        "calls": [
            datetime(2027, 5, 24, 8, 40, tzinfo=UTC),
            datetime(2027, 5, 24, 11, 5, tzinfo=UTC),
            datetime(2027, 5, 25, 9, 15, tzinfo=UTC),
        ],
        "deadline": DEADLINE,
        "visit_day": VISIT_DAY,
        "letter_date": LETTER_DAY,
        "sender_name": "Dana Lead",
        "case_id": "cme-990201-E928200126001",
    }
    return {**data, **changes}


def body(folder: str, kind: str, data: dict) -> str:
    """One language's letter body (no letterhead, no address block)."""
    lang = LIBRARY.languages[folder]
    return LIBRARY.env.get_template(f"{folder}/body.{kind}.j2").render(**LIBRARY.facts(lang, data))


class HtmlText(HTMLParser):
    """The text a reader sees, and every tag a browser would act on."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.tags: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.chunks.append(" ")

    def handle_endtag(self, tag):
        self.chunks.append(" ")

    def handle_data(self, data):
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return squash("".join(self.chunks))


def squash(text: str) -> str:
    return " ".join(text.split())


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


# --------------------------------------------------------------------------------------------
# Readability: the English letter is plain English
# --------------------------------------------------------------------------------------------
def sentences(text: str) -> list[str]:
    """Sentences, split on . ! ? followed by a space or line end, and on line breaks (so the
    date line, the list of call times and the sign-off count as their own short "sentences").
    A dot inside an e-mail address or a phone number is followed by no space, so it never splits."""
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [p.strip() for p in parts if p.strip()]


def test_english_letter_is_plain_english():
    text = body("en", "txt", letter_data())
    score = textstat.flesch_reading_ease(text)
    longest = max(sentences(text), key=lambda s: len(s.split()))
    print(
        f"\nEnglish Day 3 letter: Flesch reading ease {score}; longest sentence "
        f"{len(longest.split())} words: {longest!r}"
    )
    assert score >= 70, f"Flesch reading ease {score} < 70"
    assert len(longest.split()) <= 25, longest
    # the facts a parent must act on are all there
    for fact in ("Grace Testperson", "01632 960001", "office@oakfield.example.org", "Tuesday, 1 June 2027"):
        assert fact in text


def test_english_letter_without_calls_is_plain_english_too():
    text = body("en", "txt", letter_data(calls=[]))
    assert textstat.flesch_reading_ease(text) >= 70
    assert max(len(s.split()) for s in sentences(text)) <= 25
    assert "We have not been able to speak to you." in text


# --------------------------------------------------------------------------------------------
# Every shipped language: its own dates, status, README, direction; HTML and text agree
# --------------------------------------------------------------------------------------------
def test_the_shipped_languages():
    assert FOLDERS == sorted(LIBRARY.languages)
    assert {"en", "pl", "ur", "pa", "ar", "bn", "so", "ro", "pt", "es", "lt", "uk", "gu"} <= set(FOLDERS)
    # no code answers for two languages (a later folder would silently win)
    seen: dict[str, str] = {}
    for folder in FOLDERS:
        meta = tomllib.loads((LETTERS / folder / "meta.toml").read_text(encoding="utf-8"))
        for code in {folder, *(c.lower() for c in meta.get("codes", []))}:
            assert seen.setdefault(code, folder) == folder, f"{code!r}: {seen[code]} and {folder}"


@pytest.mark.parametrize("folder", FOLDERS)
def test_language_folder(folder):
    meta = tomllib.loads((LETTERS / folder / "meta.toml").read_text(encoding="utf-8"))
    lang = LIBRARY.languages[folder]
    assert {"name", "native", "lang", "locale", "dir", "codes", "subject", "status"} <= set(meta)

    # Status: only English has been checked; every translation is a draft, and says so.
    if folder == "en":
        assert meta["status"] == "checked" and not lang.draft
    else:
        assert meta["status"] == "draft" and lang.draft
        readme = (LETTERS / folder / "README.md").read_text(encoding="utf-8")
        assert re.search(r"\bdraft\b", readme, re.I), f"{folder}/README.md does not say it is a draft"
        language = meta["name"].split()[0]  # "Panjabi (Gurmukhi)" -> "Panjabi"
        assert re.search(rf"fluent {language} speaker", readme), (
            f"{folder}/README.md does not ask for a fluent {language} speaker to check it"
        )
        assert "not** been checked" in readme or "not been checked" in readme

    # Direction
    assert lang.dir == ("rtl" if folder in RTL else "ltr")

    # Dates in the language's own words, as Babel writes them for its locale.
    data = letter_data()
    text, html = body(folder, "txt", data), body(folder, "html", data)
    months = get_month_names("wide", context="format", locale=lang.locale)
    days = get_day_names("wide", context="format", locale=lang.locale)
    for part in (squash(text), HtmlText(html).text):
        assert months[5] in part and months[6] in part  # May (first day), June (deadline)
        assert days[0] in part and days[1] in part  # Monday (first day), Tuesday (deadline)
        assert squash(format_date(DEADLINE.date(), format="full", locale=lang.locale)).strip(".") in part
        if folder != "en":
            for english in ENGLISH_DATE_WORDS:
                assert not re.search(rf"\b{english}\b", part), f"{folder}: English {english!r} in letter"

    # Every fact the family needs is in both parts
    for fact in ("Grace Testperson", "Zoë", "01632 960001", "office@oakfield.example.org", "Dana Lead"):
        assert fact in text and fact in HtmlText(html).text, (folder, fact)
    for call in LIBRARY.facts(lang, data)["calls"]:
        assert squash(call) in squash(text) and squash(call) in HtmlText(html).text

    # The HTML and the text say the same words, in the same order
    assert words(HtmlText(html).text) == words(text), folder
    # ... and without any calls tried, still render (no call times, nothing undefined)
    quiet = body(folder, "txt", letter_data(calls=[]))
    assert LIBRARY.facts(lang, data)["calls"][0] not in quiet
    assert words(HtmlText(body(folder, "html", letter_data(calls=[]))).text) == words(quiet)

    # The whole letter: this language first, then English, each section marked up right.
    langs = [lang] if folder == "en" else [lang, LIBRARY.english]
    subject, full_html, full_text = LIBRARY.render(langs, data, printable=False)
    assert f'<html lang="{lang.lang}" dir="{lang.dir}">' in full_html
    assert f'<section class="letter" lang="{lang.lang}" dir="{lang.dir}">' in full_html
    assert '<section class="letter" lang="en-GB" dir="ltr">' in full_html
    assert "Zoë" in subject and "Oakfield Primary School" in subject
    if folder != "en":
        assert subject.endswith(" / Please contact Oakfield Primary School today about Zoë")
        assert full_text.index(text.splitlines()[2]) < full_text.index("Dear Grace Testperson")


@pytest.mark.parametrize("folder", FOLDERS)
def test_letter_names_the_day_of_the_home_visit(folder):
    lang = LIBRARY.languages[folder]
    visit = squash(format_date(VISIT_DAY, format="full", locale=lang.locale)).strip(".")
    for quiet in (False, True):
        data = letter_data(calls=[]) if quiet else letter_data()
        text, html = body(folder, "txt", data), body(folder, "html", data)
        for part in (squash(text), HtmlText(html).text):
            assert visit in part, (folder, visit)
            assert "If we do not hear from you" not in part, folder  # the old English sentence
            assert part.count(visit) == 1, folder  # named once, and not mistaken for the deadline
    if folder == "en":
        assert "If we have not heard from you by then, two of our staff will visit your home on " in text
        assert f"visit your home on {visit}." in squash(text)


# --------------------------------------------------------------------------------------------
# Which letter: ISO 639-1 and DfE census codes; regions fall back, scripts do not
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "folder"),
    [
        ("pl", "pl"),
        ("POL", "pl"),
        (" pol ", "pl"),
        ("URD", "ur"),
        ("ur", "ur"),
        ("PNJ", "pa"),
        ("PNJG", "pa"),
        ("pa", "pa"),
        ("pa-Guru", "pa"),  # the script the Panjabi letter is written in
        ("pa-Guru-IN", "pa"),
        ("pt-BR", "pt"),  # a region: the Portuguese letter will do
        ("pt_BR", "pt"),
        ("PORB", "pt"),
        ("es-419", "es"),  # a numeric region (Latin America)
        ("ARA", "ar"),
        ("BNG", "bn"),
        ("SOM", "so"),
        ("RMN", "ro"),
        ("UKR", "uk"),
        ("LIT", "lt"),
        ("GUJ", "gu"),
        ("ENG", "en"),
        ("en-GB", "en"),
        (None, "en"),
        ("", "en"),
        ("  ", "en"),
    ],
)
def test_codes_resolve(code, folder):
    lang = LIBRARY.resolve(code)
    assert lang is not None and lang.folder == folder


@pytest.mark.parametrize(
    "code",
    [
        "xx",
        "TIG",  # Tigrinya: no letter yet
        "pa-Arab",  # Panjabi in Shahmukhi script: must NOT get the Gurmukhi letter
        "pa-Arab-PK",
        "PNJM",  # Mirpuri: often reads Urdu script, deliberately not mapped
        "BNGS",  # Sylheti: deliberately not mapped
        "zh-Hant-TW",
        "sr-Latn",
    ],
)
def test_unknown_codes_resolve_to_none(code):
    assert LIBRARY.resolve(code) is None


# --------------------------------------------------------------------------------------------
# The activity: who gets which letter, and what the office is asked to do
# --------------------------------------------------------------------------------------------
def letter_request(case) -> LetterRequest:
    first = case.first_day_absent
    return LetterRequest(
        ref=CaseRef(case_id=case_id_of(case), run_id=f"run-{uuid.uuid4().hex[:8]}", step="day3_letter"),
        case=case,
        calls=[CallTried(at=datetime.combine(first, time(8, 40), tzinfo=UTC), label="Day 1 call")],
        deadline=datetime.combine(first + timedelta(days=7), time(15), tzinfo=UTC),
        sessions=sessions_for(first),
    )


async def send_letter(settings: Settings, case):
    acts = LetterActivities(Deps.from_settings(settings))
    return await ActivityEnvironment().run(acts.send_day3_letter, letter_request(case))


@pytest.mark.parametrize(
    ("code", "lang", "first_words"),
    [
        ("POL", "pl", "Dzień dobry, Grace Testperson"),
        ("URD", "ur", "محترم Grace Testperson"),
        ("PNJ", "pa-Guru", "ਸਤਿਕਾਰਯੋਗ Grace Testperson"),
        ("pt-BR", "pt-PT", "Bom dia, Grace Testperson"),
    ],
)
async def test_census_code_gets_that_language_and_english(settings, smtp, code, lang, first_words):
    result = await send_letter(settings, make_case(FIRST_DAY, language=code))
    [received] = smtp.received
    assert received.rcpt_tos == [PARENT]
    msg = received.message
    assert msg["Content-Language"] == lang
    text = msg.get_body(("plain",)).get_content()
    assert first_words in text and "Dear Grace Testperson" in text
    assert text.index(first_words) < text.index("Dear Grace Testperson")
    assert result.languages[-1] == "English" and len(result.languages) == 2
    assert not result.interpreter_needed


@pytest.mark.parametrize("code", ["TIG", "xx", "pa-Arab"])
async def test_unknown_language_gets_english_and_the_office_an_interpreter_task(settings, smtp, code):
    result = await send_letter(settings, make_case(FIRST_DAY, language=code))

    [letter] = smtp.to(PARENT)
    assert letter.message["Content-Language"] == "en-GB"
    assert " / " not in str(letter.message["Subject"])  # English only
    assert "Dear Grace Testperson" in letter.message.get_body(("plain",)).get_content()

    [task] = smtp.to(OFFICE)
    text = task.message.get_content()
    assert "interpreter" in text and code in text
    assert "machine translation" in text
    assert not list(task.message.iter_attachments())
    assert result.interpreter_needed == [code]
    assert result.languages == ["English"]
    assert result.emailed == 1 and result.printed == 0


async def test_a_letter_that_goes_late_never_names_a_deadline_already_past(settings, smtp):
    # The case was scheduled long ago (a mail outage, a worker down): its deadline has passed.
    case = make_case(date(2026, 1, 5))
    req = letter_request(case).model_copy(update={"deadline": datetime(2026, 1, 12, 16, tzinfo=UTC)})
    acts = LetterActivities(Deps.from_settings(settings))
    result = await ActivityEnvironment().run(acts.send_day3_letter, req)
    assert result.deadline is not None and result.deadline > datetime.now(UTC) + timedelta(days=2)
    text = smtp.to(PARENT)[0].message.get_body(("plain",)).get_content()
    named = format_date(result.deadline.astimezone(LONDON).date(), format="full", locale="en_GB")
    assert f"You need to contact us by {named} at the latest." in text


async def test_contact_without_email_gets_a_printable_letter_via_the_office(settings, smtp):
    result = await send_letter(settings, make_case(FIRST_DAY, language="pl", email=None))

    assert not smtp.to(PARENT)
    [task] = smtp.to(OFFICE)
    text = task.message.get_body(("plain",)).get_content()
    assert "print, sign and post today" in text
    assert "window envelope" in text and "actual size" in text
    [attachment] = list(task.message.iter_attachments())
    assert attachment.get_filename() == "day3-letter-contact1-pl.pdf"
    assert attachment.get_content_type() == "application/pdf"
    pdf = attachment.get_content()
    assert isinstance(pdf, bytes) and pdf.startswith(b"%PDF-")
    # The PDF itself is checked page by page in tests/test_letter_pdf.py; here, that it is this
    # family's letter: their address in the window, Polish on page 1, English on page 2.
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]
    assert len(pages) == 2
    assert "\n".join(["Grace Testperson", "7 Imaginary Row", "Exampleton", "EX9 1ZZ"]) in pages[0]
    assert "Dzień dobry, Grace Testperson" in pages[0] and "Dear Grace Testperson" not in pages[0]
    assert "Dear Grace Testperson" in pages[1] and "Dzień dobry" not in pages[1]
    from tests.test_letter_pdf import notdef_glyphs  # (that module imports this one)

    assert notdef_glyphs(pdf) == {}
    assert "Check before posting" not in text and "could not be made" not in text
    assert result.printed == 1 and result.emailed == 0
    assert result.languages == ["Polish", "English"]


async def test_an_english_letter_is_one_language_on_paper_too(settings, smtp):
    await send_letter(settings, make_case(FIRST_DAY, email=None))
    [task] = smtp.to(OFFICE)
    text = squash(task.message.get_body(("plain",)).get_content())
    assert "Each PDF is one letter, with the family's address placed for a window envelope" in text
    assert "same letter in English" not in text
    [attachment] = list(task.message.iter_attachments())
    assert attachment.get_filename() == "day3-letter-contact1-en.pdf"
    assert len(PdfReader(io.BytesIO(attachment.get_content())).pages) == 1


async def test_a_character_no_font_has_is_named_for_the_office(settings, smtp):
    case = make_case(FIRST_DAY, language="ur", email=None)
    odd = case.contacts[0].model_copy(update={"name": "Grace \U0010fffd Testperson"})
    result = await send_letter(settings, case.model_copy(update={"contacts": [odd]}))

    [task] = smtp.to(OFFICE)
    text = squash(task.message.get_body(("plain",)).get_content())
    assert "Check before posting: the letter to Grace \U0010fffd Testperson (mother) has characters" in text
    assert "(U+10FFFD \U0010fffd)" in text and "scripts/ensure-pdf.sh" in text
    [attachment] = list(task.message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"  # the letter still goes
    assert result.printed == 1


async def test_without_a_pdf_engine_the_office_still_gets_the_letter(settings, smtp, monkeypatch):
    """A server missing Pango or the fonts: the office gets the HTML page to print and is told
    why, rather than no letter (or a step retried for days)."""

    def broken(html: str) -> PrintedLetter:
        raise PdfUnavailable("WeasyPrint cannot load here (OSError: no library called pango); run it")

    monkeypatch.setattr(letters_module, "render_pdf", broken)
    result = await send_letter(settings, make_case(FIRST_DAY, language="pl", email=None))

    [task] = smtp.to(OFFICE)
    text = squash(task.message.get_body(("plain",)).get_content())
    assert "print, sign and post today" in text
    assert "The PDF of the letter to Grace Testperson (mother) could not be made on the server" in text
    assert "no library called pango" in text and "open it in a web browser and print it on A4" in text
    assert "window envelope (DL" not in text  # nothing said of a PDF that is not there
    [attachment] = list(task.message.iter_attachments())
    assert attachment.get_filename() == "day3-letter-contact1-pl.html"
    assert attachment.get_content_type() == "text/html"
    page = attachment.get_content()
    assert re.search(r"@page\s*\{[^}]*size:\s*A4", page), "no A4 page size for printing"
    assert "Dzień dobry, Grace Testperson" in page and "Dear Grace Testperson" in page
    assert result.printed == 1


async def test_contact_without_parental_responsibility_gets_no_letter(settings, smtp):
    case = make_case(FIRST_DAY, language="pl")
    aunt = case.contacts[1].model_copy(update={"language": "RMN"})
    assert not aunt.parental_responsibility and aunt.email
    case = case.model_copy(update={"contacts": [case.contacts[0], aunt]})

    result = await send_letter(settings, case)

    assert not smtp.to(AUNT)
    assert [r.rcpt_tos for r in smtp.received] == [[PARENT]]
    assert "Romanian" not in result.languages  # her language is not used either
    assert result.emailed == 1


async def test_no_contact_with_parental_responsibility_asks_the_office(settings, smtp):
    case = make_case(FIRST_DAY, language="pl")
    mother = case.contacts[0].model_copy(update={"parental_responsibility": False})
    case = case.model_copy(update={"contacts": [mother, case.contacts[1]]})

    result = await send_letter(settings, case)

    assert not smtp.to(PARENT) and not smtp.to(AUNT)  # nobody is written to by guesswork
    [task] = smtp.to(OFFICE)
    text = task.message.get_body(("plain",)).get_content()
    assert "No contact on record has parental responsibility" in text
    names = [a.get_filename() for a in task.message.iter_attachments()]
    assert names == ["day3-letter-contact1-pl.pdf", "day3-letter-contact2-en.pdf"]
    assert result.printed == 2 and result.emailed == 0


async def test_two_contacts_in_two_languages_each_get_their_own(settings, smtp):
    case = make_case(FIRST_DAY, language="SOM")
    other = Contact(name="Sam Testperson", email="sam@family.example.net", language="ARA")
    case = case.model_copy(update={"contacts": [case.contacts[0], other]})

    result = await send_letter(settings, case)

    assert smtp.to(PARENT)[0].message["Content-Language"] == "so"
    assert smtp.to("sam@family.example.net")[0].message["Content-Language"] == "ar"
    assert result.languages == ["Somali", "English", "Arabic"]
    assert result.emailed == 2 and len(set(result.message_ids)) == 2


# --------------------------------------------------------------------------------------------
# Escaping: whatever the MIS holds in a name or an address
# --------------------------------------------------------------------------------------------
PIECES = st.sampled_from(
    [
        "O'Brien",
        "Smith-Jones",
        "Zoë",
        "Núñez",
        "Łukasz",
        "Сергій",
        "محمد",
        "ਹਰਪ੍ਰੀਤ",
        "সুমি",
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "\r\n",
        "\nBcc: evil@example.com",
        "\r\nBcc: evil@example.com",
        '"',
        "&amp;",
        "{{ 7 * 7 }}",
        " ",
    ]
)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8)
NAME = st.lists(st.one_of(PIECES, TEXT), min_size=1, max_size=4).map("".join).filter(lambda s: s.strip())
ADDRESS_LINE = st.lists(st.one_of(PIECES, TEXT), min_size=1, max_size=3).map("".join)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=NAME,
    forename=NAME,
    address=st.lists(ADDRESS_LINE, min_size=1, max_size=3),
    folder=st.sampled_from(FOLDERS),
)
def test_names_and_addresses_cannot_break_the_letter(name, forename, address, folder):
    lang = LIBRARY.languages[folder]
    langs = [lang] if folder == "en" else [lang, LIBRARY.english]
    data = letter_data(
        parent_name=name,
        child_forename=forename,
        child_name=f"{forename} Testperson",
        address_lines=[name, *address],
    )
    subject, html, text = LIBRARY.render(langs, data, printable=True)

    # HTML: autoescaped, so a name is text, never markup
    page = HtmlText(html)
    assert "script" not in page.tags and "img" not in page.tags
    assert "<script>" not in html
    assert squash(name) in page.text and squash(forename) in page.text
    for line in address:
        assert squash(line) in page.text
    # text: the name as written
    assert squash(name) in squash(text) and squash(forename) in squash(text)

    # The message: the same, and no header injection from the name or the subject.
    mail = Mail(to=PARENT, to_name=name, subject=subject, text=text, html=html, language=lang.lang, step="s")
    raw = build_message(Settings(), mail, "<id@whereabouts.invalid>", datetime.now(UTC)).as_bytes()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Bcc"] is None and msg["Cc"] is None
    assert len(msg.get_all("To") or []) == 1
    assert [a.addr_spec for a in msg["To"].addresses] == [PARENT]
    assert len(msg.get_all("Subject") or []) == 1
    assert msg["Content-Language"] == lang.lang
    html_part, text_part = msg.get_body(("html",)), msg.get_body(("plain",))
    assert html_part is not None and text_part is not None
    assert "script" not in HtmlText(html_part.get_content()).tags
    assert squash(name) in squash(text_part.get_content())


async def test_hostile_contact_name_over_smtp(settings, smtp):
    """The whole path, from the MIS's contact record to the server: the envelope, the headers
    and the HTML stay intact whatever the name holds."""
    case = make_case(FIRST_DAY, language="pl")
    evil = case.contacts[0].model_copy(update={"name": "Grace <script>x</script>\r\nBcc: evil@example.com"})
    await send_letter(settings, case.model_copy(update={"contacts": [evil]}))

    [received] = smtp.received
    assert received.rcpt_tos == [PARENT]
    msg = received.message
    assert msg["Bcc"] is None and len(msg.get_all("To")) == 1
    assert [a.addr_spec for a in msg["To"].addresses] == [PARENT]
    html = msg.get_body(("html",)).get_content()
    assert "script" not in HtmlText(html).tags
    assert "Grace &lt;script&gt;x&lt;/script&gt;" in html
    text = squash(msg.get_body(("plain",)).get_content())
    assert "Dear Grace <script>x</script> Bcc: evil@example.com," in text  # as the MIS has it


# --------------------------------------------------------------------------------------------
# The workflow: a refused letter is written down, shown, and posted by the office instead
# --------------------------------------------------------------------------------------------
async def test_refused_letter_is_recorded_shown_and_posted_instead(env, settings, smtp, worker, start_case):
    case = make_case(await school_morning(env), language="pl")
    h = await start_case(env.client, case)
    await until_waiting_for(h, "Day 1 call outcome")
    await walk_until(env, h, lambda s: any(p.startswith("Day 2 call outcome") for p in s.pending), "Day 2")
    await h.execute_update(CmeCaseWorkflow.record_call, CallRecord(outcome="no_answer", by="T. Hale"))
    smtp.refuse[PARENT] = "550 5.1.1 mailbox unavailable"
    await walk_until(env, h, lambda s: s.letter_deadline is not None, "Day 3")

    status = await until(h, lambda s: any("Day 3 letter" in a for a in s.attention), "refusal shown")
    assert status.letter_deadline is not None and status.outcome is None  # the case carries on
    entries = await h.query(CmeCaseWorkflow.chronology_entries)
    whats = [e.what for e in entries]
    assert "NOT delivered: Day 3 letter to Grace Testperson (mother)" in whats
    assert "Day 3 letter: print-ready copy for posting sent to the office" in whats
    assert not any(w.startswith("Day 3 letter e-mailed") for w in whats)  # nothing untrue
    assert smtp.refused == [PARENT]  # refused once, not retried
    [task] = [r for r in smtp.to(OFFICE) if "Day 3 letter tasks" in str(r.message["Subject"])]
    assert (
        f"the mail server refused {PARENT}: 550 5.1.1 mailbox unavailable"
        in task.message.get_body(("plain",)).get_content()
    )
    assert [a.get_filename() for a in task.message.iter_attachments()] == ["day3-letter-contact1-pl.pdf"]
