"""Checks that read meaning, not only words, before model-written text reaches a user.

Word overlap passed "Yes, pets can transmit the virus" against a source saying there is no
evidence they do (every word is in the source), "The answer is the same as in docs/x.md"
(says nothing), and an answer that began with the prompt's own "Conversation so far:". Each
check here catches one of those; a rejected line falls back to the quoted sources.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.text import LINK, answer_words, document_sentences

# Words that turn a statement around. "no evidence", "not known" and "never" all say no.
_NEGATION = re.compile(
    r"\b(no|not|never|none|nobody|nothing|neither|nor|cannot|can't|cant|won't|don't|doesn't|didn't|isn't|"
    r"aren't|wasn't|weren't|shouldn't|couldn't|wouldn't|haven't|hasn't|without|unlikely|n't)\b|n't\b",
    re.IGNORECASE,
)
# Lines a prompt template is made of: a label at the start of a line, as the prompts write them.
# tests/test_answer_checks.py renders every prompt template and fails if one of its labels is
# missing here.
SCAFFOLDING_LABELS = (
    "Conversation so far",
    "Question",
    "Questions",
    "Sources",
    "Source",
    "Context",
    "Answer",
    "Sentences",
    "Example",
    "Instructions",
    "Messages",
    "Conversation",
    "Transcript",
    "Notes",
    "Summary",
    "Candidates",
    "Chat",
    "Chat message",
    "Kind",
    "Topics",
    "Labels",
    "Label",
    "Topic",
    "user",
    "assistant",
    "system",
    "Tidings",
)
_SCAFFOLDING = re.compile(
    r"(^|\n)\s*(" + "|".join(re.escape(label) for label in SCAFFOLDING_LABELS) + r")\s*:"
    r"|</?source\b|<start_of_turn>|<end_of_turn>|<\|im_(start|end)\|>",
    re.IGNORECASE,
)
# Phrasings that point somewhere instead of saying anything.
_EMPTY_PHRASES = re.compile(
    r"\b(the answer is (the same|in|as|found|given|provided|described)|"
    r"(is|are) (a|the) (better|best|good|right|preferred) (choice|option|way|idea)|"
    r"(see|refer to|check|read) (the )?(docs?|documentation|sources?|section)|"
    r"as (described|mentioned|explained|stated|shown) (in|above|below))\b",
    re.IGNORECASE,
)
# Words that only talk about answers and sources, never about the subject.
_META_WORD_TEXT = """
    answer answers question questions source sources document documents docs doc documentation same
    different section page file information detail details mentioned described above below following
    better best good choice option way case may might"""
_META_WORDS = frozenset(_META_WORD_TEXT.split())
def _words(text: str) -> set[str]:
    return set(answer_words(LINK.sub(" ", text)))


def _sentences(text: str) -> list[str]:
    return [s for s in document_sentences(text) if len(s) > 3]


def is_negative(text: str) -> bool:
    """Whether ``text`` says no. "There has been no report ... so there is no evidence" says
    no twice, which is still no: any negation counts, not their parity."""
    return bool(_NEGATION.search(text))


def resting_sentences(claim: str, sources: Sequence[str]) -> list[str]:
    """The source sentences a claim may rest on: those sharing at least 60% as many of its
    words as the closest one does."""
    wanted = _words(claim)
    scored = [
        (len(wanted & _words(sentence)), sentence) for source in sources for sentence in _sentences(source)
    ]
    best = max((shared for shared, _ in scored), default=0)
    if not best:
        return []
    return [sentence for shared, sentence in scored if shared >= max(1, 0.6 * best)]


def keeps_polarity(answer: str, sources: Sequence[str]) -> bool:
    """Each sentence of the answer says no where a sentence it may rest on says no, and says
    no only where one does. Strict on purpose: a rejected answer is replaced by quotes, which
    cannot turn a source around ("Yes, you can catch it from frozen food" beside "there is no
    evidence of transmission through food" is rejected even when another sentence about
    frozen food says yes)."""
    for claim in _sentences(answer):
        resting = resting_sentences(claim, sources)
        if not resting:
            continue
        negative = [is_negative(sentence) for sentence in resting]
        if is_negative(claim) and not any(negative):
            return False
        if not is_negative(claim) and any(negative):
            return False
    return True


def states_something(answer: str, question: str, sources: Sequence[str]) -> bool:
    """The answer states something from one source sentence that the question does not
    already say: at least two subject words, not the question's, found together in one
    sentence. Pointers ("the answer is the same as in ...") never count."""
    if _EMPTY_PHRASES.search(answer):
        return False
    new = _words(answer) - _words(question) - _META_WORDS
    if not new:
        # "Do small expenses need a receipt?" - "Small expenses need no receipt." says no.
        return is_negative(answer) != is_negative(question)
    needed = min(2, len(new))
    return any(len(new & _words(sentence)) >= needed for source in sources for sentence in _sentences(source))


def echoes_prompt(text: str) -> bool:
    """Whether the text carries the prompt's own scaffolding (a label line, a source tag, a turn marker)."""
    return bool(_SCAFFOLDING.search(text))
