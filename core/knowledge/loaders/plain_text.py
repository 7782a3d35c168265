"""Plain text and reStructuredText: one Document titled by its first section title or file name;
reStructuredText is read as Markdown (``restructured``)."""

from __future__ import annotations

import re

from core.knowledge.loaders.restructured import rst_as_markdown

_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+:.])\1{2,}[ \t]*$")


def rst_title(text: str) -> str | None:
    """The first reStructuredText section title: a line underlined (and maybe overlined) with punctuation."""
    lines = text.split("\n")
    for index in range(len(lines) - 1):
        line = lines[index].strip()
        underline = lines[index + 1].strip()
        if line and not _RST_UNDERLINE.match(line) and _RST_UNDERLINE.match(underline) and len(underline) >= len(line):
            return line
    return None


def text_title_and_text(text: str, fallback_title: str, *, restructured: bool) -> tuple[str, str]:
    if not restructured:
        return fallback_title, text.strip()
    return rst_title(text) or fallback_title, rst_as_markdown(text)
