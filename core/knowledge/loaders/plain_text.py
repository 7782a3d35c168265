"""Plain text and reStructuredText: one Document titled by its first section title or file name;
reStructuredText is read as Markdown (``restructured``)."""

from __future__ import annotations

from core.knowledge.loaders.restructured import rst_as_markdown, rst_title


def text_title_and_text(text: str, fallback_title: str, *, restructured: bool) -> tuple[str, str]:
    if not restructured:
        return fallback_title, text.strip()
    return rst_title(text) or fallback_title, rst_as_markdown(text)
