"""The print-ready Day 3 letter as a PDF, read back as a printer and a reader would get it.

Each language is rendered once and checked from the PDF's own bytes (pypdf, fontTools), not from
what the engine says it did: A4 pages, how many, the text on each page, every font embedded, no
glyph missing (no .notdef drawn), the family's address where a window envelope shows it, the
signature on the page of the text it signs, and English starting on a page of its own.

Text extracted from a PDF comes back exactly for Latin and Cyrillic scripts. For Arabic, Urdu,
Bengali, Gujarati and Gurmukhi it does not, in any engine: a shaped glyph stands for a cluster of
characters, and a pre-base vowel sign is drawn before the consonant it follows in the text. For
those the test checks that every character of the letter is in the PDF's text layer and every
name, number and address comes back exactly, and it checks the shaping itself by the fonts used.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from fontTools.ttLib import TTFont
from PIL import Image
from pypdf import PdfReader
from pypdf.generic import ContentStream

from tests.test_letters import FOLDERS, LIBRARY, body, letter_data, squash
from whereabouts.activities.letter_pdf import PrintedLetter, render_pdf

A4 = (595.28, 841.89)  # points
COMPLEX = {"ar", "ur", "bn", "gu", "pa"}  # scripts whose extracted text is not the text
# The Noto family each letter's own script must be set in (Debian's fonts-noto-core).
FONT_FOR = {
    "ar": "Noto-Naskh-Arabic",
    "ur": "Noto-Nastaliq-Urdu",
    "bn": "Noto-Sans-Bengali",
    "gu": "Noto-Sans-Gujarati",
    "pa": "Noto-Sans-Gurmukhi",
}


def langs_for(folder: str) -> list:
    lang = LIBRARY.languages[folder]
    return [lang] if folder == "en" else [lang, LIBRARY.english]


def print_letter(folder: str, **changes) -> tuple[PrintedLetter, str]:
    _, html, _ = LIBRARY.render(langs_for(folder), letter_data(**changes), printable=True)
    return render_pdf(html), html


@cache
def printed(folder: str) -> PrintedLetter:
    return print_letter(folder)[0]


# --------------------------------------------------------------------------------------------
# Reading a PDF back
# --------------------------------------------------------------------------------------------
def page_texts(pdf: bytes) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]


def _raw(item) -> bytes:
    return bytes(item.original_bytes if hasattr(item, "original_bytes") else item)


def _code_to_cid(font) -> dict[int, int] | None:
    """None for Identity-H (a code is its glyph). WeasyPrint writes a CMap of its own instead when
    a glyph is missing: codes it lists map to glyphs, a missing one to 0 (.notdef), as does any
    code it does not list."""
    encoding = font["/Encoding"]
    if encoding == "/Identity-H":
        return None
    cmap = encoding.get_object().get_data().decode("latin-1")
    mapping: dict[int, int] = {}
    for block in re.findall(r"begincidchar(.*?)endcidchar", cmap, re.S):
        for code, cid in re.findall(r"<([0-9a-fA-F]+)>\s+(\d+)", block):
            mapping[int(code, 16)] = int(cid)
    for block in re.findall(r"begincidrange(.*?)endcidrange", cmap, re.S):
        for low, high, cid in re.findall(r"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s+(\d+)", block):
            for offset, code in enumerate(range(int(low, 16), int(high, 16) + 1)):
                mapping[code] = int(cid) + offset
    return mapping


def fonts_and_glyphs(pdf: bytes) -> dict[str, dict]:
    """Every font the pages use: whether it is embedded, its glyph count, and the glyphs the text
    draws with it (two-byte codes, through the font's CMap; CIDToGIDMap is Identity)."""
    reader = PdfReader(io.BytesIO(pdf))
    found: dict[str, dict] = {}
    for page in reader.pages:
        resources: Any = page["/Resources"].get_object()
        fonts = {name: ref.get_object() for name, ref in resources.get("/Font", {}).items()}
        cmaps = {}
        for key, font in fonts.items():
            base = str(font["/BaseFont"]).split("+", 1)[-1]
            assert font["/Subtype"] == "/Type0", base
            cmaps[key] = _code_to_cid(font)
            if base in found:
                continue
            descendant = font["/DescendantFonts"][0].get_object()
            assert descendant.get("/CIDToGIDMap", "/Identity") == "/Identity", base
            descriptor = descendant["/FontDescriptor"].get_object()
            files = [k for k in ("/FontFile", "/FontFile2", "/FontFile3") if k in descriptor]
            glyph_count = 0
            if files:
                data = descriptor[files[0]].get_object().get_data()
                glyph_count = TTFont(io.BytesIO(data))["maxp"].numGlyphs
            found[base] = {"embedded": bool(files), "glyph_count": glyph_count, "used": set()}
        current, cmap = None, None
        for operands, op in ContentStream(page.get_contents(), reader).operations:
            if op == b"Tf":
                current = str(fonts[operands[0]]["/BaseFont"]).split("+", 1)[-1]
                cmap = cmaps[operands[0]]
            elif op in (b"Tj", b"TJ"):
                items = operands[0] if op == b"TJ" else [operands[0]]
                for item in items:
                    if isinstance(item, (int, float)) or not hasattr(item, "__len__"):
                        continue
                    raw = _raw(item)
                    assert current is not None
                    codes = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
                    found[current]["used"].update(codes if cmap is None else (cmap.get(c, 0) for c in codes))
    return found


def notdef_glyphs(pdf: bytes) -> dict[str, list[int]]:
    """Per font, the glyphs drawn that the embedded font does not have (.notdef: a box)."""
    bad: dict[str, list[int]] = {}
    for name, font in fonts_and_glyphs(pdf).items():
        wrong = sorted(g for g in font["used"] if g == 0 or g >= font["glyph_count"])
        if wrong:
            bad[name] = wrong
    return bad


def destinations(pdf: bytes) -> dict[str, int]:
    """Each named place in the PDF (an element with an id) and its page, 1-based."""
    reader = PdfReader(io.BytesIO(pdf))
    return {
        str(name): (reader.get_destination_page_number(dest) or 0) + 1
        for name, dest in reader.named_destinations.items()
    }


def images(pdf: bytes) -> dict:
    resources: Any = PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]
    return dict(resources.get_object().get("/XObject", {}))


def letters_of(text: str) -> list[str]:
    return [c for c in text if c.isalpha() or c.isdigit()]


# --------------------------------------------------------------------------------------------
# Every language
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("folder", FOLDERS)
def test_every_language_prints_as_an_a4_pdf(folder):
    letter = printed(folder)
    reader = PdfReader(io.BytesIO(letter.pdf))
    assert letter.pdf.startswith(b"%PDF-")
    assert len(reader.pages) == letter.pages
    for page in reader.pages:
        assert (round(float(page.mediabox.width), 2), round(float(page.mediabox.height), 2)) == A4

    # One page per language for this letter (three calls listed): the family's and English.
    assert letter.pages == (1 if folder == "en" else 2)
    texts = page_texts(letter.pdf)
    data = letter_data()

    # Page 1: the school's address block and the family's address, then the family's letter.
    first = squash(texts[0])
    for fact in ("Oakfield Primary School", "1 Oak Lane", "EX1 1AA", "01632 960001"):
        assert fact in first, (folder, fact)
    assert "office@oakfield.example.org" in first
    assert "Our reference: cme-990201-E928200126001" in first
    for line in data["address_lines"]:
        assert line in texts[0].splitlines(), (folder, line)
    for fact in ("Grace Testperson", "Zoë", "Dana Lead", "01632 960001"):
        assert fact in first, (folder, fact)

    own = body(folder, "txt", data)
    if folder in COMPLEX:
        # Every letter and digit of the letter is in the page's text layer (see the docstring),
        # but for Urdu: Noto Nastaliq Urdu draws a letter's dots as glyphs of their own, so the
        # one glyph for the body of ح, خ and چ maps back to whichever it first stood for.
        wanted, got = Counter(letters_of(own)), Counter(letters_of(texts[0]))
        share = sum((wanted & got).values()) / sum(wanted.values())
        if folder != "ur":
            assert set(wanted) <= set(got), sorted(set(wanted) - set(got))
        assert share >= (0.9 if folder == "ur" else 0.99), (folder, share, sorted(set(wanted) - set(got)))
    else:
        for line in own.splitlines():
            sentence = squash(line).removeprefix("- ")
            if sentence:
                assert sentence in first, (folder, sentence)

    # Page 2: the same letter in English, on a page of its own.
    if folder != "en":
        english = squash(texts[1])
        assert english.startswith("Oakfield Primary School · 01632 960001 · office@oakfield.example.org")
        for line in body("en", "txt", data).splitlines():
            sentence = squash(line).removeprefix("- ")
            if sentence:
                assert sentence in english, sentence
                if folder not in COMPLEX and sentence not in squash(own):  # a name, the school
                    assert sentence not in first, f"{folder}: English on the translation's page"
        assert "Dear Grace Testperson" not in first


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_font_is_embedded_and_no_glyph_is_missing(folder):
    letter = printed(folder)
    fonts = fonts_and_glyphs(letter.pdf)
    assert fonts and all(f["embedded"] for f in fonts.values()), fonts.keys()
    assert all(f["glyph_count"] > 1 for f in fonts.values())
    assert notdef_glyphs(letter.pdf) == {}
    assert letter.missing == ()
    # Shaped in the script's own Noto font (Nastaliq for Urdu), Latin and Cyrillic in Noto Sans.
    assert any(name.startswith(FONT_FOR.get(folder, "Noto-Sans")) for name in fonts), sorted(fonts)
    assert {name.split("-Bold")[0] for name in fonts} <= {"Noto-Sans", FONT_FOR.get(folder, "Noto-Sans")}


@pytest.mark.parametrize("folder", FOLDERS)
def test_address_window_signature_and_page_breaks(folder):
    letter = printed(folder)
    placed = letter.placed
    # The family's address: 20 mm from the left edge, 50 mm from the top, 85 x 35 mm.
    window = placed["window"]
    assert window.page == 1
    assert (window.left, window.top, window.right, window.bottom) == (20.0, 50.0, 105.0, 85.0)
    # The letter itself starts below the window, and nothing of the school's block is in it.
    assert placed["letter1"].page == 1 and placed["letter1"].top >= window.bottom

    sections = 1 if folder == "en" else 2
    for n in range(1, sections + 1):
        text_end, sign_off, signatory = (
            placed[f"letter{n}-{p}"] for p in ("text-end", "sign-off", "signatory")
        )
        # The signature on the page of the text it signs, with room to sign.
        assert text_end.page == sign_off.page == signatory.page, folder
        assert signatory.top - sign_off.bottom >= 15, (folder, sign_off, signatory)
        assert signatory.bottom <= 297 - 16  # above the bottom margin
    if sections == 2:
        # English starts at the top of a page of its own.
        assert placed["letter2"].page == placed["letter1-signatory"].page + 1
        assert placed["letter2"].top == 12.0
    # The PDF's own named destinations say the same pages.
    assert destinations(letter.pdf) == {name: p.page for name, p in placed.items()}


@pytest.mark.parametrize("folder", ["pl", "ur", "bn"])
@pytest.mark.parametrize("calls", [6, 12, 24])
def test_a_long_letter_keeps_the_signature_with_its_text(folder, calls):
    """Many unanswered calls push the letter onto a second page: the signature goes with the
    last paragraph, never alone on a page, and English still starts on a page of its own."""
    tried = [datetime(2027, 5, 24, 8, 40, tzinfo=UTC) + timedelta(minutes=35 * i) for i in range(calls)]
    letter, _ = print_letter(folder, calls=tried)
    placed = letter.placed
    for n in (1, 2):
        pages = {placed[f"letter{n}-{p}"].page for p in ("text-end", "sign-off", "signatory")}
        assert len(pages) == 1, (folder, calls, n, placed)
    assert placed["letter2"].page == placed["letter1-signatory"].page + 1
    assert letter.pages == placed["letter2-signatory"].page
    assert notdef_glyphs(letter.pdf) == {}
    texts = page_texts(letter.pdf)
    signature_page = texts[placed["letter1-signatory"].page - 1]
    assert "Dana Lead" in signature_page and squash(signature_page) != "Dana Lead"


def test_names_in_other_scripts_print_too():
    """A parent's name in a script other than the letter's (Arabic in the Polish letter, Bengali
    and Gurmukhi in the English one) is set in a font that has it."""
    for folder, name in (("pl", "محمد Łukasz"), ("en", "সুমি ਹਰਪ੍ਰੀਤ"), ("uk", "Сергій ગીતા")):
        letter, _ = print_letter(folder, parent_name=name, address_lines=[name, "7 Imaginary Row"])
        assert letter.missing == () and notdef_glyphs(letter.pdf) == {}, (folder, name)


def test_a_character_no_font_has_is_reported_not_hidden(caplog):
    """A character no installed font has prints as a box. The check on the PDF finds it, and the
    renderer names it, so the office can be told to check the page."""
    caplog.set_level(logging.WARNING, logger="weasyprint")
    odd = "\U0010fffd"  # a private-use character: no font has it
    letter, _ = print_letter("pl", parent_name=f"Grace {odd} Testperson")
    assert letter.missing == (odd,)
    assert notdef_glyphs(letter.pdf), "the PDF check did not see the missing glyph"


def test_rendering_fetches_nothing(tmp_path):
    """The page is self-contained; a URL in it (the layout has none, and every value from the MIS
    is escaped) is not followed: no file is read and no request is made."""
    picture = tmp_path / "x.png"
    Image.new("RGB", (4, 4), "red").save(picture)
    page = f'<p>before</p><img src="{picture.as_uri()}"><img src="http://127.0.0.1:9/x.png"><p>after</p>'
    letter = render_pdf(page)
    assert not images(letter.pdf), "an image was fetched"
    assert "before" in page_texts(letter.pdf)[0]
    # (WeasyPrint left to itself would have read the file: the refusal is ours.)
    from weasyprint import HTML

    assert images(HTML(string=f'<img src="{picture.as_uri()}">').write_pdf())


def test_the_layout_gives_weasyprint_nothing_to_warn_about(caplog):
    """No CSS the engine ignores, no resource it could not load: every rule in the print layout
    does what it says."""
    caplog.set_level(logging.WARNING, logger="weasyprint")
    for folder in ("en", "ur"):
        print_letter(folder)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("weasyprint")] == []


def test_figures():
    """Size, time and pages for each language (shown with ``pytest -s``)."""
    lines = []
    for folder in FOLDERS:
        started = datetime.now(UTC)
        letter, _ = print_letter(folder)
        took = (datetime.now(UTC) - started).total_seconds()
        lines.append(f"{folder}: {letter.pages} pages, {len(letter.pdf) / 1024:.0f} KB, {took:.2f} s")
        assert len(letter.pdf) < 150_000, lines[-1]  # the fonts are subset, not whole
        assert took < 10, lines[-1]
    print("\n" + "\n".join(lines))
    assert re.search(r"^ur: 2 pages", "\n".join(lines), re.M)
