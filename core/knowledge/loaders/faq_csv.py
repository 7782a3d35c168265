"""An FAQ kept as a spreadsheet: one question and its answer per row.

Columns are found by header name, case-insensitively: a question column (``question``,
``q``, ...), an answer column (``answer``, ``a``, ...), and optionally a link column
(``link``, ``url``, ...). Each row with both a question and an answer becomes one
Document keyed ``row-N`` (N = 1-based data row, so keys survive edits to other rows);
rows missing either are skipped.
"""

from __future__ import annotations

from core.types import Document

QUESTION_COLUMNS = ("question", "questions", "q", "faq question", "query")
ANSWER_COLUMNS = ("answer", "answers", "a", "faq answer", "response", "reply")
LINK_COLUMNS = ("link", "url", "href", "source_url", "source url", "permalink")


def faq_columns(header: list[str]) -> tuple[int, int, int | None] | None:
    """(question, answer, link) column indexes, or None when the header is not an FAQ's."""
    question = _first(header, QUESTION_COLUMNS)
    answer = _first(header, ANSWER_COLUMNS)
    if question is None or answer is None:
        return None
    return question, answer, _first(header, LINK_COLUMNS)


def faq_documents(header: list[str], rows: list[list[str]], *, source: str, scope: str) -> tuple[Document, ...]:
    columns = faq_columns(header)
    assert columns is not None, "faq_documents needs an FAQ header; check with faq_columns first"
    question_at, answer_at, link_at = columns
    documents: list[Document] = []
    for number, row in enumerate(rows, start=1):
        question = _cell(row, question_at)
        answer = _cell(row, answer_at)
        if not question or not answer:
            continue
        link = _cell(row, link_at) if link_at is not None else ""
        documents.append(
            Document(
                source=source,
                title=question,
                text=answer,
                scope=scope,
                key=f"row-{number}",
                url=link if link.startswith(("http://", "https://")) else None,
                question=question,
                kind="faq",
            )
        )
    return tuple(documents)


def _first(header: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    return None


def _cell(row: list[str], index: int) -> str:
    return row[index].strip() if index < len(row) else ""
