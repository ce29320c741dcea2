"""The print-ready Day 3 letter as an A4 PDF, with its fonts embedded.

The office prints, signs and posts the letter for a parent it could not be e-mailed to. An HTML
page printed from an office PC depends on that PC's fonts and its browser's page breaks (an Urdu
letter printed as boxes; a Polish + English letter came out as three pages, the second holding
only the signature), so the copy is a PDF made here, where the fonts are known.

The engine is WeasyPrint: HTML and CSS paged media (``@page``, page breaks, running footers) laid
out with Pango and shaped with HarfBuzz, so Arabic, Urdu (Nastaliq), Bengali, Gujarati and
Gurmukhi are joined and reordered as a reader expects; every font used is subset and embedded.
Its OS libraries and Debian's Noto fonts come from ``scripts/ensure-pdf.sh`` (``make test``,
``make run``) and the Dockerfile. The page itself is ``templates/letters/_layout_print.html.j2``.

A character that no installed font has would print as an empty box. WeasyPrint says so for each
one; ``render_pdf`` collects those, so the letter still goes and the office is told which
characters to check. Rendering fetches nothing: the page is self-contained, and a URL in it (none
is, since every value from the MIS is escaped) would not be followed.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field

from whereabouts.errors import first_line

PDF_TYPE = "application/pdf"

_NOTDEF = re.compile(r"\.notdef glyph rendered.*\(U\+([0-9A-F]{4,6})\)")


class PdfUnavailable(Exception):
    """The PDF could not be made here (WeasyPrint or its OS libraries are missing, or it failed);
    the message says what, naming no one."""


@dataclass(frozen=True)
class Placed:
    """Where an element landed: its page (1-based) and its box in mm from the sheet's top left."""

    page: int
    left: float
    top: float
    right: float
    bottom: float


@dataclass(frozen=True)
class PrintedLetter:
    pdf: bytes
    pages: int
    # Characters no installed font has: they print as boxes, so the office is asked to check them.
    missing: tuple[str, ...] = ()
    # Where each element with an id landed (the layout marks the family's address, each
    # language's section, and its last paragraph, sign-off and signatory).
    placed: dict[str, Placed] = field(default_factory=dict)
    seconds: float = 0.0


class _Missing(logging.Handler):
    """WeasyPrint's warning for each character no font has, from this thread's render only
    (letters for different cases may be rendered at the same time in other threads)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.chars: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        found = _NOTDEF.search(record.getMessage())
        if found:
            char = chr(int(found.group(1), 16))
            if char not in self.chars:
                self.chars.append(char)


_PX_PER_MM = 96 / 25.4  # CSS pixels, as WeasyPrint measures a page


def render_pdf(html: str) -> PrintedLetter:
    """The page as an A4 PDF. Blocking (about a tenth of a second per letter): call it from a
    thread in async code. Raises ``PdfUnavailable`` if no PDF can be made here."""
    try:
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher
    except (ImportError, OSError) as exc:  # OSError: Pango or another library is not installed
        raise PdfUnavailable(
            f"WeasyPrint cannot load here ({type(exc).__name__}: {first_line(exc, 200)}); "
            "run scripts/ensure-pdf.sh as root"
        ) from None
    missing = _Missing()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(missing)
    started = time.perf_counter()
    try:
        document = HTML(string=html, url_fetcher=URLFetcher(allowed_protocols=())).render()
        pdf = document.write_pdf()
    except Exception as exc:  # a failure inside the engine: the caller still sends a letter
        raise PdfUnavailable(f"the PDF engine failed ({type(exc).__name__}: {first_line(exc, 200)})") from exc
    finally:
        logger.removeHandler(missing)
    placed: dict[str, Placed] = {}
    for number, page in enumerate(document.pages, start=1):
        for name, box in page.anchors.items():  # an element across pages: where it starts
            placed.setdefault(name, Placed(number, *(round(v / _PX_PER_MM, 1) for v in box)))
    return PrintedLetter(
        pdf=pdf,
        pages=len(document.pages),
        missing=tuple(missing.chars),
        placed=placed,
        seconds=time.perf_counter() - started,
    )


def describe(chars: tuple[str, ...]) -> str:
    """'U+738B 王, U+1F600 😀': characters for a person to check on the printed page."""
    return ", ".join(f"U+{ord(c):04X} {c}" for c in chars)
