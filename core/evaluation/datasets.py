"""Readers for the evaluation sets, in the formats of ``../shared/data``.

- An FAQ spreadsheet (CSV with question and answer columns), read with the same loader
  ``tidings ingest`` uses, so an entry's key is the key its chunks carry in the knowledge base.
- Reworded FAQ questions (a development split we write ourselves): CSV ``variant,question``,
  ``question`` being the FAQ entry's own question.
- A SQuAD v1 JSON file: articles with questions and gold answer spans.
- QMSum JSON meetings: speaker turns and the reference answer to "Summarize the whole meeting",
  split into a tuning half and a checking half (``meeting_half``).
- Off-topic questions: a text file, one question a line.

A data folder is searched recursively, so any folder laid out like ``../shared/data`` (or
holding just some of the sets) can be evaluated.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from core.errors import TidingsError
from core.evaluation.metrics import normalize_answer
from core.knowledge.loaders import load_file
from core.knowledge.loaders.faq_csv import faq_columns
from core.types import Author, ChannelMessage, ChannelRef

WHOLE_MEETING_QUERY = "summarize the whole meeting"
# QMSum's transcription marks ({vocalsound}, {disfmarker}, {gap} ...; the committee records'
# "[Laughter.]", "[Inaudible.]") are not words anyone typed; a chat channel has none, so
# neither does a meeting read as one.
_TRANSCRIPT_MARK = re.compile(r"\{\s*[A-Za-z_]+\s*\}|\[[A-Z][a-z]+\.\]")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.?!;:'])")
# Seconds between two turns of a meeting turned into chat messages: close enough that the
# whole meeting is one conversation, the way a busy channel looks.
TURN_SECONDS = 20


class EvaluationDataError(TidingsError):
    """An evaluation set is missing or unreadable; the message says which and where."""


@dataclass(frozen=True)
class FaqEntry:
    key: str  # the document key its chunks carry ("row-12")
    question: str
    answer: str


@dataclass(frozen=True)
class FaqQuery:
    """A question asked of the FAQ, and the entries that answer it."""

    text: str
    keys: frozenset[str]
    reworded: bool


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class QaQuestion:
    id: str
    question: str
    answers: tuple[str, ...]
    article_id: str


@dataclass(frozen=True)
class Meeting:
    name: str
    turns: tuple[tuple[str, str], ...]  # (speaker, what they said)
    reference: str

    @property
    def text(self) -> str:
        return " ".join(content for _, content in self.turns)


# -- finding the sets ------------------------------------------------------------------------


def _csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        first = next(csv.reader(handle), [])
    return [cell.strip().lower() for cell in first]


def find_faq_files(folder: Path) -> list[Path]:
    """CSV files with question and answer columns (reworded-question files excluded)."""
    found = []
    for path in sorted(folder.rglob("*.csv")):
        header = _csv_header(path)
        if "variant" not in header and faq_columns(header) is not None:
            found.append(path)
    return found


def _json_files(folder: Path) -> list[tuple[Path, Any]]:
    out = []
    for path in sorted(folder.rglob("*.json")):
        try:
            out.append((path, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
    return out


def _is_squad(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("data"), list) and all(
        isinstance(a, dict) and "paragraphs" in a for a in data["data"][:3]
    )


def _is_qmsum(data: Any) -> bool:
    return isinstance(data, dict) and "meeting_transcripts" in data and "general_query_list" in data


def find_squad_files(folder: Path) -> list[Path]:
    return [path for path, data in _json_files(folder) if _is_squad(data)]


def find_meeting_files(folder: Path) -> list[Path]:
    return [path for path, data in _json_files(folder) if _is_qmsum(data)]


def require(paths: Sequence[Path], what: str, folder: Path) -> Path:
    if not paths:
        raise EvaluationDataError(f"No {what} found under {folder}.")
    return paths[0]


# -- FAQ -------------------------------------------------------------------------------------


def read_faq(path: Path) -> list[FaqEntry]:
    loaded = load_file(path)
    return [
        FaqEntry(key=d.key, question=d.question or d.title, answer=d.text)
        for d in loaded.documents
        if d.kind == "faq"
    ]


def faq_queries(entries: Sequence[FaqEntry], variants: Sequence[tuple[str, str]] = ()) -> list[FaqQuery]:
    """Each entry's own question, then each reworded variant, against every entry asked the
    same way (an FAQ may repeat a question; any of its entries answers it)."""
    by_question: dict[str, set[str]] = {}
    for entry in entries:
        by_question.setdefault(normalize_answer(entry.question), set()).add(entry.key)
    queries: list[FaqQuery] = []
    seen: set[str] = set()
    for entry in entries:
        norm = normalize_answer(entry.question)
        if norm in seen:
            continue
        seen.add(norm)
        queries.append(FaqQuery(entry.question, frozenset(by_question[norm]), reworded=False))
    for variant, question in variants:
        keys = by_question.get(normalize_answer(question))
        if keys:
            queries.append(FaqQuery(variant, frozenset(keys), reworded=True))
    return queries


def read_variants(path: Path) -> list[tuple[str, str]]:
    """Reworded questions: (variant, the FAQ entry's question)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    pairs = [(row.get("variant", "").strip(), row.get("question", "").strip()) for row in rows]
    return [(v, q) for v, q in pairs if v and q]


def held_out_set(path: Path | None) -> bool:
    """Whether a set is one of the held-out ones: by the house rule, a ``*_check`` file in
    ``bench/data`` was written blind to the tuning and nothing is tuned on it."""
    return path is not None and path.stem.endswith("_check")


def read_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


# -- SQuAD -----------------------------------------------------------------------------------


def read_squad(path: Path) -> tuple[list[Article], list[QaQuestion]]:
    """Articles (first line: the title) and their answerable questions."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not _is_squad(data):
        raise EvaluationDataError(f"{path} is not a SQuAD v1 JSON file.")
    articles: list[Article] = []
    questions: list[QaQuestion] = []
    for index, item in enumerate(data["data"]):
        for number, paragraph in enumerate(item["paragraphs"]):
            context = str(paragraph.get("context", ""))
            if not context.strip():
                continue
            article_id = str(paragraph.get("document_id", f"{index}-{number}"))
            # Without a "title" field the first line is the article's title; the text stays
            # whole so every gold span is still inside it.
            title = item.get("title") or context.strip().partition("\n")[0]
            articles.append(Article(article_id, " ".join(str(title).split())[:200], context.strip()))
            for qa in paragraph.get("qas", []):
                answers = tuple(dict.fromkeys(a["text"].strip() for a in qa.get("answers", []) if a.get("text", "").strip()))
                if qa.get("is_impossible") or not answers:
                    continue
                questions.append(QaQuestion(str(qa.get("id", len(questions))), qa["question"].strip(), answers, article_id))
    return articles, questions


# -- QMSum -----------------------------------------------------------------------------------

MeetingSplit = Literal["tune", "check", "all"]
MEETING_SPLITS: tuple[MeetingSplit, ...] = ("tune", "check", "all")


def meeting_half(path: Path) -> Literal["tune", "check"]:
    """The half a meeting file belongs to, from the SHA-256 of its file name (first byte odd:
    checking half). The rule reads nothing but the name, so adding or removing meetings never
    moves another one, and a new meeting lands in a fixed half."""
    return "check" if hashlib.sha256(path.name.encode("utf-8")).digest()[0] % 2 else "tune"


def split_meetings(paths: Sequence[Path], split: MeetingSplit) -> list[Path]:
    """The meeting files of one half (``all``: every file)."""
    if split not in MEETING_SPLITS:
        raise EvaluationDataError(f"Unknown meeting split {split!r}; choose from {', '.join(MEETING_SPLITS)}.")
    return [path for path in paths if split == "all" or meeting_half(path) == split]



def read_meeting(path: Path) -> Meeting:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not _is_qmsum(data):
        raise EvaluationDataError(f"{path} is not a QMSum meeting.")
    reference = next(
        (q["answer"] for q in data["general_query_list"] if q.get("query", "").strip().lower() == WHOLE_MEETING_QUERY),
        None,
    )
    if reference is None:
        reference = data["general_query_list"][0]["answer"] if data["general_query_list"] else ""
    turns = tuple(
        (str(t.get("speaker", "")), text)
        for t in data["meeting_transcripts"]
        if (text := spoken_text(str(t.get("content", ""))))
    )
    return Meeting(path.stem, turns, str(reference).strip())


def spoken_text(content: str) -> str:
    """A transcript turn as someone would type it: marks removed, spacing normalised."""
    text = _TRANSCRIPT_MARK.sub(" ", content)
    text = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join(text.split()))
    return text if any(ch.isalnum() for ch in text) else ""


def meeting_messages(meeting: Meeting, *, start: datetime | None = None) -> list[ChannelMessage]:
    """The meeting as a chat channel: one message per turn, a turn every few seconds."""
    began = start or datetime(2024, 1, 1, 9, tzinfo=UTC)
    channel = ChannelRef("export", "qmsum", meeting.name, name=meeting.name)
    return [
        ChannelMessage(
            id=f"{meeting.name}-{number}",
            channel=channel,
            author=Author(speaker or "speaker", speaker or "speaker"),
            text=content,
            timestamp=began + timedelta(seconds=TURN_SECONDS * number),
        )
        for number, (speaker, content) in enumerate(meeting.turns)
    ]
