"""PDF files: one Document per page that has text, so answers can cite the page.

pypdf parses structures written by thousands of different programs and raises a wide
range of exceptions on damaged input; every one of them is reported as a LoaderError
naming the file, because one broken PDF must never stop an ingest.

A page's running header and footer ("ACME Employee Handbook, confidential", "Page 3 of 12")
are not its text: quoted after a page's last sentence, they read as part of the answer.
"""

from __future__ import annotations

import io
import logging
import math
import re
from collections import Counter

from core.errors import LoaderError

_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n{3,}")
# "3", "- 3 -", "(3)", "Page 3", "page 3 of 12", "3 / 12": a line that only numbers its page
# (and is short: the pattern is tried on no longer line, where its runs of spaces would backtrack).
_PAGE_NUMBER_CHARS = 24
_PAGE_NUMBER = re.compile(r"^(?:page\s*)?[-–—(\[]?\s*\d{1,4}\s*[-–—)\]]?(?:\s*(?:of|/)\s*\d{1,4})?$", re.IGNORECASE)
# "page 3", "page 3 of 12", "3 of 12", "3/12" inside a longer line (the words around are already
# single-spaced, so no run of spaces backtracks).
_PAGE_REFERENCE = re.compile(r"\b(?:page ?\d{1,4}(?: ?(?:of|/) ?\d{1,4})?|\d{1,4} ?(?:of|/) ?\d{1,4})\b")
# A header or footer is among a page's first or last lines...
EDGE_LINES = 2
# ...and, worded alike but for its page number, on at least this share of the pages, and this many.
RUNNING_SHARE = 0.5
RUNNING_MIN_PAGES = 3
_GENERATED_TITLE = re.compile(r"^Microsoft \w+ - |\.(docx?|odt|rtf|pptx?|xlsx?|tex|pdf)$", re.IGNORECASE)


def pdf_pages(data: bytes, name: str) -> tuple[str | None, list[tuple[int, str]]]:
    """(the PDF's own title if set, [(page number, text)] for pages with text)."""
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError

    # pypdf logs a warning for every oddity it repairs; one line per damaged file is enough.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # Many PDFs are "encrypted" only to restrict printing, with an empty user password.
            try:
                opened = bool(reader.decrypt(""))
            except FileNotDecryptedError:
                opened = False
            if not opened:
                raise LoaderError(f"{name} is a password-protected PDF; save an unprotected copy to ingest it.")
        title = _metadata_title(reader)
        pages: list[tuple[int, str]] = []
        for number, page in enumerate(reader.pages, start=1):
            text = _tidy(page.extract_text() or "")
            if text:
                pages.append((number, text))
    except LoaderError:
        raise
    except Exception as exc:  # pypdf's error surface is open-ended; see the module docstring.
        raise LoaderError(f"{name} is not a readable PDF ({type(exc).__name__}: {exc}).") from exc
    pages = without_running_lines(pages)
    if not pages:
        raise LoaderError(f"{name} has no extractable text (it may be scanned images; run OCR on it first).")
    return title, pages


def without_running_lines(pages: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """``pages`` without the lines that only number a page, nor the header and footer that
    run over most of them, at each page's top and bottom; a page left empty is dropped."""
    counts: Counter[str] = Counter()
    for _, text in pages:
        lines = text.split("\n")
        counts.update({_shape(line) for line in (*lines[:EDGE_LINES], *lines[-EDGE_LINES:])})
    least = max(RUNNING_MIN_PAGES, math.ceil(RUNNING_SHARE * len(pages)))
    running = {shape for shape, count in counts.items() if count >= least}
    kept = ((number, _trimmed(text, running)) for number, text in pages)
    return [(number, text) for number, text in kept if text]


def _shape(line: str) -> str:
    # "ACME Handbook | Page 3 of 12" and "... Page 4 of 12" are one footer; "Q3 results" and "Q4
    # results" are two slides' titles.
    return _PAGE_REFERENCE.sub("page #", " ".join(line.lower().split()))


def _trimmed(text: str, running: set[str]) -> str:
    lines = text.split("\n")

    def chrome(line: str) -> bool:
        bare = line.strip()
        numbers_page = len(bare) <= _PAGE_NUMBER_CHARS and _PAGE_NUMBER.match(bare) is not None
        return not bare or numbers_page or _shape(line) in running

    start, end = 0, len(lines)
    while start < min(EDGE_LINES, end) and chrome(lines[start]):
        start += 1
    while end > max(start, len(lines) - EDGE_LINES) and chrome(lines[end - 1]):
        end -= 1
    return "\n".join(lines[start:end]).strip()


def _metadata_title(reader: object) -> str | None:
    """The title the PDF declares, unless it is a generated one like "Microsoft Word - draft3.docx"."""
    metadata = getattr(reader, "metadata", None)
    title = getattr(metadata, "title", None) if metadata is not None else None
    if not isinstance(title, str) or not title.strip():
        return None
    title = " ".join(title.split())
    if _GENERATED_TITLE.search(title):
        return None
    return title


def _tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.replace("\x00", "").split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
