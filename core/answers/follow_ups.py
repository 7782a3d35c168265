"""A follow-up that names only what changes ("and slack?" after "how do I connect discord?")
asked again as the question it stands for ("how do I connect slack?").

Searched with the question before it, such a follow-up finds both subjects, and ranked alone it
asks nothing but "slack": the answer was about Slack's HTTP mode, not about connecting it. The
word of the question before that the new subject stands in for is the one the embedder finds
closest in meaning to it; when none is close, the subject is added to that question instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from core.ports import Embedder
from core.text import FUNCTION_WORDS, QUESTION_WORDS, STOPWORDS, WORD, fold_plural

# "and slack?", "what about cats?", "how about on Windows?", "or the PDF ones?": a connective,
# then only the new subject.
_ELLIPTICAL = re.compile(r"^\W*(?:and|or|also|what about|how about)\b\W*(?P<subject>[^?]*?)\W*\??\s*$", re.IGNORECASE)
# A subject of more words than this is a question of its own, not a stand-in for one word.
MAX_SUBJECT_WORDS = 4
# Closest in meaning means at least this cosine similarity ("slack" to "discord" 0.45, "windows"
# to "linux" 0.58, "cats" to "pets" 0.67) and this much closer than the next word ("windows" is
# 0.48 to "install").
LEAST_SIMILARITY = 0.35
LEAST_LEAD = 0.08


def elliptical_subject(text: str) -> str | None:
    """The new subject of a follow-up that names only it ("and on Windows?" -> "on Windows"),
    None for any other question."""
    match = _ELLIPTICAL.match(text)
    if match is None:
        return None
    subject = match.group("subject").strip()
    said = WORD.findall(subject)
    if not said or len(said) > MAX_SUBJECT_WORDS or not _content(subject):
        return None
    return subject


# "the public ones": the word a subject stands in with says nothing of its own.
_STAND_INS = frozenset({"one", "ones"})


def _content(text: str) -> list[str]:
    """The words of ``text`` that say what it is about, as written, each once ("under" and
    "up" say nothing of their own: "or under docker?" stands in for "systemd")."""
    skipped = FUNCTION_WORDS | QUESTION_WORDS | STOPWORDS | _STAND_INS
    return list(dict.fromkeys(word for word in WORD.findall(text) if word.lower() not in skipped and len(word) > 1))


def standalone(asked: Sequence[str], embedder: Embedder) -> str:
    """The last of a thread's questions ``asked`` (oldest first) as it would be asked alone:
    each follow-up that names only what changes is read against the question before it, itself
    read the same way ("how do I connect discord?", "and slack?", "and teams?")."""
    question = asked[0] if asked else ""
    for text in asked[1:]:
        subject = elliptical_subject(text)
        question = asked_again(question, subject, embedder) if subject is not None and question.strip() else text
    return question


def _same(word: str, other: str) -> bool:
    return fold_plural(word.lower()) == fold_plural(other.lower())


def _modifier_swapped(before: str, words: Sequence[str], said: Sequence[str]) -> str | None:
    """``before`` with its modifier of a word the subject shares replaced by the subject's own:
    "HTTP mode" after "does socket mode need a public URL?" stands in for "socket", "discord
    exports" after "can it ingest a slack export?" for "slack". None when the subject shares no
    word, or only modifies nothing."""
    for k, word in enumerate(said):
        held = next((i for i, w in enumerate(words) if _same(w, word)), None)
        if held is None:
            continue
        new = " ".join(said[:k])
        if not new or held == 0 or any(_same(w, x) for w in said[:k] for x in words):
            return None
        # Only the word right before it modifies it: in "change the log level" the verb does not.
        modified = re.compile(rf"(?<!\w){re.escape(words[held - 1])}(?=\s+{re.escape(words[held])}(?!\w))")
        if modified.search(before) is None:
            return None
        return modified.sub(new, before.strip(), count=1)
    return None


# The action a question asks about: the word after "how do I", "can we", "how to" ("connect").
_ACTION = re.compile(
    r"\b(?:i|we|you|to)\s+(?P<action>[\w-]+)(?P<particle>\s+(?:up|out|down|off|over|back)\b)?", re.IGNORECASE
)
# A subject that is itself an action on something ("restart it", "remove a document").
_ACTION_SUBJECT = re.compile(
    r"^\s*[\w-]+\s+(?:it|them|this|that|these|those|a|an|the|my|our|your|its|their)\b", re.IGNORECASE
)


def asked_again(before: str, subject: str, embedder: Embedder) -> str:
    """``before`` with the word ``subject`` stands in for replaced by the subject's own words,
    or, when no word of it is clearly that one, ``before`` and the subject together. A subject
    that shares a word with ``before`` ("HTTP mode" after "socket mode") replaces what
    modifies that word there."""
    words = _content(before)
    said = _content(subject)
    swapped = _modifier_swapped(before, words, said)
    if swapped is not None:
        return swapped
    new = " ".join(said)
    action = _ACTION.search(before)
    if action is not None and _ACTION_SUBJECT.match(subject) is None:
        # A thing stands in for a thing, never for the action: "discord" is closer in meaning to
        # "connect" than to "slack", yet "and discord?" after "how do I connect slack?" asks
        # to connect discord.
        words = [word for word in words if word != action.group("action")]
    if words and new:
        vectors = np.asarray(embedder.embed([new, *words]), dtype=np.float32)
        similarities = vectors[1:] @ vectors[0]
        order = np.argsort(-similarities)
        best = float(similarities[order[0]])
        runner_up = float(similarities[order[1]]) if len(order) > 1 else -1.0
        if best >= LEAST_SIMILARITY and best - runner_up >= LEAST_LEAD:
            replaced = words[int(order[0])]
            if action is not None and replaced == action.group("action") and action.group("particle"):
                # An action replaces its particle too: "back up" -> "update", not "update up".
                start, end = action.span("action")[0], action.end()
                return f"{before[:start]}{new}{before[end:]}".strip()
            return re.sub(rf"(?<!\w){re.escape(replaced)}(?!\w)", new, before.strip(), count=1)
    return f"{before.strip()} {subject}"
