"""The missing-child advice: every language renders from the same data, carries the school's
phone number and the child's name, and comes first with the English below; a language we have no
advice for gets the English alone, flagged. Pure rendering: no Temporal server, no SMTP.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import jinja2
import jinja2.meta
import pytest

from whereabouts.activities.advice import SEPARATOR, Advice, AdviceLibrary
from whereabouts.activities.letter_library import LetterLibrary

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
ADVICE = TEMPLATES / "advice"
LETTERS = LetterLibrary(TEMPLATES / "letters")
LIBRARY = AdviceLibrary(ADVICE, LETTERS)
FOLDERS = sorted(p.parent.name for p in ADVICE.glob("*/meta.toml"))
TRANSLATED = [f for f in FOLDERS if f != "en"]
RTL = {"ar", "ur"}
VARIABLES = {"child_forename", "school_name", "school_phone", "school_address", "parent_name"}
LRM = "\u200e"
PHONE = "01632 960001"
ENGLISH_GREETING = "Dear parent or carer,"

# Words each family-language section must hold: the numbers to call, and the English names of
# the services (GP, A&E) the family will see on the signs and hear on the phone.
MUST_HOLD = ("101", "999", "(GP)", "(A&E)", PHONE, "Zoë")


def advice_data(**changes) -> dict:
    data = {
        "child_forename": "Zoë",
        "school_name": "Oakfield Primary School",
        "school_phone": PHONE,
        "school_address": ["1 Oak Lane", "Exampleton", "EX1 1AA"],
        "parent_name": "Grace Testperson",
    }
    return {**data, **changes}


def sections(advice: Advice) -> list[str]:
    """The advice split at the separator lines into its language sections."""
    return [s.strip() for s in re.split(rf"^{SEPARATOR}\n.*\n{SEPARATOR}$", advice.text, flags=re.M)]


def meta(folder: str, kind: str = "advice") -> dict:
    return tomllib.loads((TEMPLATES / kind / folder / "meta.toml").read_text(encoding="utf-8"))


def test_a_folder_for_every_letter_language():
    assert FOLDERS == sorted(LETTERS.languages)
    assert len(FOLDERS) == 13
    assert LIBRARY.env.undefined is jinja2.StrictUndefined


@pytest.mark.parametrize("folder", FOLDERS)
def test_meta_matches_the_letter(folder):
    m, letter = meta(folder), meta(folder, "letters")
    for key in ("name", "native", "lang", "dir"):
        assert m[key] == letter[key], key
    assert m["status"] == ("checked" if folder == "en" else "draft")
    assert "{{ child_forename }}" in m["subject"] and "{{ school_name }}" in m["subject"]


@pytest.mark.parametrize("folder", FOLDERS)
def test_templates_use_only_the_advice_data(folder):
    for source in ((ADVICE / folder / "body.txt.j2").read_text(encoding="utf-8"), meta(folder)["subject"]):
        used = jinja2.meta.find_undeclared_variables(LIBRARY.env.parse(source))
        assert used <= VARIABLES, used - VARIABLES


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_language_renders(folder):
    advice = LIBRARY.render(folder, advice_data())
    lang = LIBRARY.languages[folder]
    assert advice.lang == lang.lang and not advice.unknown
    assert advice.draft is (folder != "en")
    assert "{" not in advice.text + advice.subject and "Undefined" not in advice.text
    assert "\n" not in advice.subject and advice.subject.count("Zoë") >= 1
    family = sections(advice)[0]
    for word in MUST_HOLD:
        assert word in family, word
    assert "Oakfield Primary School" in family and "1 Oak Lane, Exampleton, EX1 1AA" in family
    assert [n for n in range(1, 6) if re.search(rf"^{n}\. ", family, re.M)] == [1, 2, 3, 4]
    assert family.count(PHONE) >= 2  # the report-back step and "call us at any time"


@pytest.mark.parametrize("folder", TRANSLATED)
def test_family_language_first_then_english(folder):
    advice = LIBRARY.render(folder, advice_data())
    lang = LIBRARY.languages[folder]
    family, english = sections(advice)
    assert advice.languages == [lang.name, "English"]
    assert advice.subject.endswith(" / Zoë is missing - what to do now (Oakfield Primary School)")
    assert ENGLISH_GREETING not in family and "Please do these things now" not in family
    assert english.startswith(ENGLISH_GREETING)
    heading = f"{SEPARATOR}\nEnglish\n{SEPARATOR}"
    assert advice.text.index(family) < advice.text.index(heading) < advice.text.index(ENGLISH_GREETING)
    assert english == LIBRARY.render("en", advice_data()).text.strip()


def test_english_has_the_four_actions():
    advice = LIBRARY.render("en", advice_data())
    text = " ".join(advice.text.split())
    assert advice.languages == ["English"] and advice.lang == "en-GB" and SEPARATOR not in advice.text
    assert advice.subject == "Zoë is missing - what to do now (Oakfield Primary School)"
    assert "1. Call the police on 101, or 999 if you think Zoë is in danger." in text
    assert "2. Contact everyone Zoë talks to and the places Zoë goes." in text
    assert "3. Call your family doctor (GP) and the Accident and Emergency (A&E) departments" in text
    assert "near your home and near the school" in text
    assert f"4. Call the school on {PHONE} as soon as Zoë is found, or if Zoë is still missing." in text
    assert f"Please call us at any time on {PHONE}." in text


@pytest.mark.parametrize("code", [None, "", "  ", "en", "ENG", "en-GB", "en_US"])
def test_english_or_blank_gives_english_alone(code):
    advice = LIBRARY.render(code, advice_data())
    assert advice.languages == ["English"] and not advice.unknown and not advice.draft
    assert advice.text.startswith(ENGLISH_GREETING)


@pytest.mark.parametrize("code", ["fr", "FRN", "xx", "pa-Arab", "BNGS"])
def test_unknown_code_gives_english_flagged(code):
    advice = LIBRARY.render(code, advice_data())
    assert advice.unknown and advice.languages == ["English"] and advice.lang == "en-GB"
    assert advice.text.startswith(ENGLISH_GREETING) and SEPARATOR not in advice.text


@pytest.mark.parametrize("code", ["pl", "POL", "pol", "pl-PL", "PL"])
def test_polish_by_iso_or_dfe_code(code):
    advice = LIBRARY.render(code, advice_data())
    assert advice.languages == ["Polish", "English"] and advice.lang == "pl" and not advice.unknown
    assert advice.text.startswith("Dzień dobry,")
    assert f"{SEPARATOR}\nEnglish\n{SEPARATOR}" in advice.text


def test_same_family_gets_the_same_advice_by_any_code():
    assert LIBRARY.render("POL", advice_data()) == LIBRARY.render("pl", advice_data())
    assert LIBRARY.render("URD", advice_data()).languages == ["Urdu", "English"]
    assert LIBRARY.render("PNJG", advice_data()).lang == "pa-Guru"


@pytest.mark.parametrize("folder", sorted(RTL))
def test_right_to_left_languages_are_fine_as_text(folder):
    advice = LIBRARY.render(folder, advice_data())
    family = sections(advice)[0]
    assert LIBRARY.languages[folder].dir == "rtl"
    # Written in Arabic script, and the first letter of every line of prose is right-to-left,
    # so a mail client lays each paragraph out from the right.
    assert len(re.findall(r"[\u0600-\u06ff]", family)) > 200
    prose = [
        line for line in family.splitlines() if line and "Oakfield" not in line and "Oak Lane" not in line
    ]
    for line in prose:
        first = re.search(r"[A-Za-z\u0600-\u06ff]", line)
        assert first and "\u0600" <= first.group() <= "\u06ff", line
    # The phone number stays in one piece, with a left-to-right mark so it is not shown reversed.
    assert family.count(LRM + PHONE) == family.count(PHONE) >= 2
    assert LRM not in sections(advice)[1]
    assert advice.subject.encode("utf-8").decode("utf-8") == advice.subject
    assert re.match(r"[\u0600-\u06ff]", advice.subject)  # the subject starts right-to-left, too


def test_missing_data_is_an_error_not_a_gap():
    data = advice_data()
    del data["school_phone"]
    for folder in FOLDERS:
        with pytest.raises(jinja2.UndefinedError):
            LIBRARY.render(folder, data)


def test_names_with_markup_are_kept_as_written():
    advice = LIBRARY.render("es", advice_data(child_forename="Zoë <b>&", school_name="St Mary's & St John's"))
    assert "Zoë <b>&" in advice.text and "St Mary's & St John's" in advice.subject
    assert "&amp;" not in advice.text


def test_readme_says_every_translation_is_a_draft():
    readme = (ADVICE / "README.md").read_text(encoding="utf-8")
    assert "draft" in readme.lower() and "fluent speaker" in readme
    for folder in FOLDERS:
        assert f"`{folder}`" in readme, folder
