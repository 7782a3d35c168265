"""HTML pages: the readable text, headings turned into Markdown headings for chunking.

Scripts, styles, navigation and other chrome are dropped; the title comes from ``<title>``,
else the first ``<h1>``, else the file name.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from core.errors import LoaderError

if TYPE_CHECKING:
    from bs4 import BeautifulSoup
    from bs4.element import PageElement

_DROPPED_TAGS = frozenset(("script", "style", "nav", "noscript", "template", "svg", "iframe", "object", "head"))
_BLOCK_TAGS = frozenset((
    "p", "div", "section", "article", "main", "aside", "header", "footer", "ul", "ol", "li", "dl", "dt", "dd",
    "table", "tr", "pre", "blockquote", "figure", "figcaption", "form", "hr", "address", "details", "summary",
))  # fmt: skip
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def decode_html(data: bytes, name: str) -> str:
    """Decode by byte-order mark, then the page's declared charset, then UTF-8 / Windows-1252."""
    # bs4 (and lxml behind it) load on first use, keeping `tidings --help` quick.
    import codecs

    from bs4.dammit import UnicodeDammit

    # NUL bytes without a UTF-16/32 byte-order mark mean binary data; left to the encoding
    # detector, they can pass for UTF-16 and come out as CJK-looking noise.
    boms = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
    if b"\x00" in data and not data.startswith(boms):
        raise LoaderError(f"{name} looks like a binary file, not HTML (it contains NUL bytes).")
    dammit = UnicodeDammit(data, is_html=True)
    text = dammit.unicode_markup
    if text is None:
        text = data.decode("latin-1")
    if "\x00" in text:
        raise LoaderError(f"{name} looks like a binary file, not HTML (it contains NUL bytes).")
    return text


def html_title_and_text(markup: str, fallback_title: str, name: str = "page") -> tuple[str, str]:
    from bs4 import BeautifulSoup
    from bs4.exceptions import ParserRejectedMarkup

    # lxml, not the standard library's html.parser: the latter takes quadratic time on
    # malformed markup such as a long run of unclosed "<p" (minutes for a few hundred KB).
    try:
        soup = BeautifulSoup(markup, "lxml")
    except ParserRejectedMarkup as exc:
        raise LoaderError(f"{name} could not be parsed as HTML ({exc}).") from exc
    title = _title(soup) or fallback_title
    lines = (_SPACES.sub(" ", line).strip() for line in _readable_text(soup).split("\n"))
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    return title, text


def _readable_text(soup: BeautifulSoup) -> str:
    """The page's text in one pass over the tree, with line breaks around blocks and
    headings written as Markdown headings.

    An explicit stack instead of recursion or tree edits: hostile pages nest tens of
    thousands of elements deep, and bs4's insert/decompose walk the tree each time.
    """
    from bs4.element import CData, NavigableString, Tag

    out: list[str] = []
    heading_depth = 0
    stack: list[tuple[PageElement, bool]] = [(soup, False)]
    while stack:
        node, leaving = stack.pop()
        if isinstance(node, Tag):
            name = node.name
            level = _HEADINGS.get(name)
            if leaving:
                if level:
                    heading_depth -= 1
                    out.append("\n\n")
                elif name in _BLOCK_TAGS and not heading_depth:
                    out.append("\n")
                continue
            if name in _DROPPED_TAGS:
                continue
            if name == "br":
                out.append(" " if heading_depth else "\n")
                continue
            if level:
                out.append(f"\n\n{'#' * level} " if not heading_depth else " ")
                heading_depth += 1
            elif name in _BLOCK_TAGS and not heading_depth:
                out.append("\n")
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.contents))
        elif type(node) is NavigableString or isinstance(node, CData):
            # Comments, doctypes and processing instructions are strings too, but not content.
            out.append(node.replace("\n", " ") if heading_depth else str(node))
    return "".join(out)


def _title(soup: BeautifulSoup) -> str | None:
    from bs4.element import Tag

    for candidate in (soup.find("title"), soup.find("h1")):
        if isinstance(candidate, Tag):
            text = " ".join(candidate.get_text(" ").split())
            if text:
                return text
    return None
