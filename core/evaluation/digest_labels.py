"""Digest labels against a hand-labelled development set of real chat days.

``bench/data/digest_labels_dev.jsonl`` holds one chat day a line: where its messages are
(``source``, a file under the evaluation data folder, its ``channel`` and its UTC ``date``;
an empty date takes the whole file), every message's true label (``decision``, ``action``,
``question`` for a question nobody answered, or ``none``) and every conversation's topic (a
few words; "" for a conversation with nothing worth a bullet). Conversations are keyed by
their first message, grouped as the digest groups them.

Measured, per label: precision and recall of the wording rules alone, the model alone (the
judge of ``core/digests/judging.py`` on every message), and both (a rule candidate the model
does not call a plain remark: what a digest does with ``[digests] judge_items``), and, as a
variant, both where the model must name the rule's own kind. Topic labels: the share of
conversations whose label shares a content word with the true topic, and their mean
content-word F1. Lines: every digest line of every day checked for placeholders, small talk
and duplicates. The set was labelled by the people tuning the digest: every figure is in-sample.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from core.digests.conversations import group_conversations, meaningful
from core.digests.extract import name_words, window_candidates
from core.digests.labels import is_placeholder, is_small_talk, quotable_message, repeated_texts, topic_labels
from core.digests.prompts import normalized
from core.digests.speech import clean_text
from core.digests.summarizing import SECTION_TITLES, Summarizer
from core.evaluation.datasets import EvaluationDataError, held_out_set
from core.knowledge.loaders import read_messages
from core.text import MENTION, content_words
from core.types import ChannelMessage, Digest, DigestBullet

KINDS = ("decision", "action", "question")
LABELS = (*KINDS, "none")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class LabelledDay:
    source: str
    channel: str
    date: str
    labels: dict[str, str]
    topics: dict[str, str]

    @property
    def name(self) -> str:
        return f"{self.channel} {self.date or Path(self.source).stem}"


def read_labelled_days(path: Path) -> list[LabelledDay]:
    """The days of a labels file; a clear error for a line that is not one."""
    days: list[LabelledDay] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            labels = {str(m["id"]): str(m["label"]) for m in raw["messages"]}
            topics = {str(c["first"]): str(c["topic"]) for c in raw["conversations"]}
            day = LabelledDay(str(raw["source"]), str(raw.get("channel", "")), str(raw.get("date", "")), labels, topics)
        except (ValueError, KeyError, TypeError) as error:
            raise EvaluationDataError(f"{path.name} line {number} is not a labelled day: {error}") from error
        wrong = sorted({label for label in labels.values() if label not in LABELS})
        if wrong:
            raise EvaluationDataError(f"{path.name} line {number}: unknown labels {wrong}; use {', '.join(LABELS)}.")
        days.append(day)
    return days


def sources_present(path: Path, folder: Path) -> bool:
    """Whether every labelled day's file is under ``folder`` (a tiny test folder has none)."""
    try:
        return all((folder / day.source).is_file() for day in read_labelled_days(path))
    except (OSError, EvaluationDataError):
        return False


def day_messages(day: LabelledDay, folder: Path) -> list[ChannelMessage]:
    path = folder / day.source
    if not path.is_file():
        raise EvaluationDataError(f"{day.source}, a labelled day's file, is not under {folder}.")
    return sorted(
        (
            m
            for m in meaningful(read_messages(path))
            if (not day.channel or day.channel in (m.channel.name, m.channel.channel))
            and (not day.date or f"{m.timestamp:%Y-%m-%d}" == day.date)
            and not is_placeholder(m.text)
        ),
        key=lambda m: (m.timestamp, m.id),
    )


def precision_recall(predicted: dict[str, set[str]], truth: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per kind: precision, recall, and the counts behind them (precision is None when
    nothing was predicted, recall None when nothing is true)."""
    result: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        said = {i for i, kinds in predicted.items() if kind in kinds}
        true = {i for i, label in truth.items() if label == kind}
        hits = len(said & true)
        result[kind] = {
            "precision": round(hits / len(said), 3) if said else None,
            "recall": round(hits / len(true), 3) if true else None,
            "predicted": len(said),
            "true": len(true),
            "correct": hits,
        }
    return result


def word_f1(ours: str, theirs: str) -> float:
    a, b = content_words(ours), content_words(theirs)
    same = len(a & b)
    if not same:
        return 0.0
    precision, recall = same / len(a), same / len(b)
    return 2 * precision * recall / (precision + recall)


def bad_lines(digest: Digest) -> list[str]:
    """Lines a reader should never see: a placeholder, small talk, or a repeat of another line
    (an item counts as a repeat when it quotes the same message's same words as another item,
    under another owner or without an @-name)."""
    lines: list[tuple[str, DigestBullet | None]] = [(digest.headline, None)]
    lines += [(b.text, b if s.title != SECTION_TITLES["topic"] else None) for s in digest.sections for b in s.bullets]
    found: list[str] = []
    seen: set[str] = set()
    items: set[tuple[str, str]] = set()
    for line, item in lines:
        quote = line.split(": ", 1)[-1].rsplit(" — ", 1)[0]
        key = normalized(line)
        said = (item.sources[0].message_id, normalized(MENTION.sub(" ", quote))) if item and item.sources else None
        if is_placeholder(line) or is_placeholder(quote) or is_small_talk(quote) or key in seen or said in items:
            found.append(line)
        seen.add(key)
        if said:
            items.add(said)
    return found


def labels_split(path: Path) -> dict[str, Any]:
    """A ``*_check`` file was labelled by someone who never saw the rules, and nothing is tuned
    on it; any other labels file is a development set."""
    if held_out_set(path):
        return {"name": "held out (never tuned on)", "held_out": True,
                "note": f"{path.name}: chat days labelled blind to the rules, never tuned on"}
    return {"name": "dev (tuned on)", "held_out": False,
            "note": f"{path.name}: chat days labelled by the people tuning the digest"}


async def evaluate_labelled_days(
    summarizer: Summarizer, labels_path: Path, folder: Path, progress: Progress, *, gap_minutes: int = 30
) -> dict[str, Any]:
    days = read_labelled_days(labels_path)
    truth: dict[str, str] = {}
    rules: dict[str, set[str]] = {}
    model: dict[str, set[str]] = {}
    topic_rows: list[dict[str, Any]] = []
    line_problems: list[dict[str, Any]] = []
    day_rows: list[dict[str, Any]] = []
    for number, day in enumerate(days, start=1):
        messages = day_messages(day, folder)
        progress(f"digest labels: {day.name} ({number}/{len(days)}, {len(messages)} messages)")
        missing = set(day.labels) - {m.id for m in messages}
        if missing:
            raise EvaluationDataError(f"{labels_path.name}, {day.name}: {len(missing)} labelled messages are not in {day.source}.")
        repeated = repeated_texts(messages)
        names = name_words(m.author.name for m in messages)
        conversations = group_conversations(messages, gap=timedelta(minutes=gap_minutes), max_messages=len(messages))
        for candidate in window_candidates(conversations):
            message = candidate.messages[0]
            if message.id in day.labels and quotable_message(message, repeated):
                rules.setdefault(f"{day.name}/{message.id}", set()).add(candidate.kind)
        for message in messages:
            if message.id not in day.labels:
                continue
            key = f"{day.name}/{message.id}"
            truth[key] = day.labels[message.id]
            kind = await summarizer.judge(clean_text(message.text)) if quotable_message(message, repeated) else "none"
            model[key] = {kind} if kind in KINDS else set()
        ours = topic_labels([c.messages for c in conversations], names=names, repeated=repeated, embedder=summarizer.embedder)
        # A labelled conversation is scored by the label of ours that holds its first message:
        # grouping that joins two conversations still answers for both.
        label_of = {m.id: label for conversation, label in zip(conversations, ours, strict=True) for m in conversation.messages}
        starts = {conversation.messages[0].id for conversation in conversations}
        for first, gold in day.topics.items():
            if first not in label_of:
                raise EvaluationDataError(f"{labels_path.name}, {day.name}: conversation {first} is not in any conversation of {day.source}.")
            label = label_of[first]
            topic_rows.append({"day": day.name, "first": first, "topic": gold, "label": label, "joined": first not in starts,
                               "f1": round(word_f1(label, gold), 3) if gold else None,
                               "agrees": bool(content_words(label) & content_words(gold)) if gold else label == ""})
        digest = await summarizer.summarize(messages)
        problems = bad_lines(digest)
        line_problems.extend({"day": day.name, "line": line} for line in problems)
        day_rows.append({"day": day.name, "messages": len(messages), "conversations": len(conversations),
                         "headline": digest.headline, "bad_lines": len(problems)})
    # "both": rule candidates the model did not call a plain remark (an unjudged one stays).
    both = {key: kinds for key, kinds in rules.items() if key not in model or model[key]}
    agree = {key: kinds & model.get(key, set()) for key, kinds in rules.items()}
    named = [row for row in topic_rows if row["topic"]]
    return {
        "split": labels_split(labels_path),
        "days": day_rows,
        "messages": len(truth),
        "true_labels": dict(Counter(truth.values())),
        "labels": {
            "rules": precision_recall(rules, truth),
            "model": precision_recall(model, truth),
            "both": precision_recall(both, truth),
            "both, model names the rule's kind": precision_recall(agree, truth),
        },
        "topics": {
            "conversations": len(named),
            "agreement": round(sum(r["agrees"] for r in named) / len(named), 3) if named else None,
            "mean_f1": round(sum(r["f1"] for r in named) / len(named), 3) if named else None,
            # Labelled conversations that ours joined to an earlier one: scored by its label.
            "joined_to_another": sum(1 for r in topic_rows if r["joined"]),
            "no_bullet_expected": sum(1 for r in topic_rows if not r["topic"]),
            "no_bullet_given": sum(1 for r in topic_rows if not r["topic"] and r["agrees"]),
            "rows": topic_rows,
        },
        "bad_lines": line_problems,
    }


def label_table_rows(result: dict[str, Any]) -> Iterable[Sequence[Any]]:
    for method, kinds in result["labels"].items():
        for kind in KINDS:
            row = kinds[kind]
            yield [method, kind, row["precision"], row["recall"], row["predicted"], row["correct"], row["true"]]
