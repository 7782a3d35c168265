"""PDF files: one Document per page that has text, so answers can cite the page.

pypdf parses structures written by thousands of different programs and raises a wide
range of exceptions on damaged input; every one of them is reported as a LoaderError
naming the file, because one broken PDF must never stop an ingest.
"""

from __future__ import annotations

import io
import logging
import re

from core.errors import LoaderError

_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n{3,}")
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
    if not pages:
        raise LoaderError(f"{name} has no extractable text (it may be scanned images; run OCR on it first).")
    return title, pages


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
