"""Extractive digest candidates: picked from what people wrote, with no model at all.

A 270M-parameter base model cannot be trusted to find the decisions in a day of chat, but
plain patterns can (``core/digests/wording.py``): a decision says "we'll" or "agreed", an
action item says "I'll" or "can you", and a question nobody answered ends with "?"
(``core/digests/open_questions.py``). Here each conversation's topic, decisions and action
items are picked, and ``candidates`` gathers them with its open questions. These candidates
are always available; the model's notes replace their wording when they are valid (see
``core/digests/summarizing.py``), so a better model simply makes better digests.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence

from core.digests.conversations import Conversation
from core.digests.open_questions import open_questions
from core.digests.speech import (
    APOSTROPHES,
    BRACKETED_NOTE,
    clean_text,
    cuts_a_quotation,
    quotable,
    said_sentences,
    shorten,
)
from core.digests.wording import (
    ASKED_ACTION,
    ASKED_IF_WILLING,
    ASKED_STEP,
    ASKED_TO_EXPLAIN,
    CHOICE,
    DECISION,
    HEDGE,
    LEANING_OPENERS,
    LOOKING,
    MIN_CHOICE_WORDS,
    MIN_COMMITMENT_WORDS,
    MIN_TOPIC_WORDS,
    PROMISED,
    SAID_OF_ONESELF,
    SELF_ACTION,
    SOMEDAY,
    TAKES_EFFECT,
    THANKS,
    TRYING_OUT,
    Candidate,
    first_sentence_with,
)
from core.text import INLINE_CODE, MENTION, THANKS_WORDS, content_words, keywords
from core.types import ChannelMessage

# A sentence opening, in lowercase, with one of these words finishes something said before it
# (a leading "and" or "but" is an opener, which ``quotable`` has already dropped).
TAIL_OF_A_THOUGHT = re.compile(rf"(?:by|since|which|{LEANING_OPENERS})\b")
# Thanks for something ("Thanks @levitanong for pointing out this interop problem") echoes what
# was said; what was said says it better.
THANKING = re.compile(rf"(?:{THANKS_WORDS})\b", re.IGNORECASE)
# Centrality divides a line's summed word weights by its number of words to this power:
# 0 would always pick the longest line, 1 the line with the heaviest average word.
LENGTH_DAMPING = 0.7


def name_words(names: Iterable[str]) -> frozenset[str]:
    """The content words of participants' names ("Project Manager" -> project, manag)."""
    return frozenset(word for name in names for word in content_words(name))


def word_weights(messages: Sequence[ChannelMessage], *, names: Collection[str] = ()) -> Counter[str]:
    """How many of ``messages`` use each content word: what a run of messages is about. A line
    quoted with ">" repeats someone's words (often a pasted error), so it does not count again."""
    return Counter(word for m in messages for word in content_words(" ".join(said_sentences(m.text)), names=names))


def centrality(text: str, weights: Mapping[str, float], *, names: Collection[str] = ()) -> float:
    """How much of what a run of messages is about ``text`` says: the weights of its content
    words, summed, over their number to the power ``LENGTH_DAMPING`` (a long line scores by
    holding more of the frequent words, not by being long)."""
    words = content_words(text, names=names)
    if not words:
        return 0.0
    total: float = sum(weights.get(w, 0.0) for w in words)
    damping: float = len(words) ** LENGTH_DAMPING
    return total / damping


def central_message(messages: Sequence[ChannelMessage]) -> ChannelMessage:
    """The message sharing the most keywords with the rest of the conversation: the one a
    reader would quote to say what it was about. Ties go to the earlier message."""
    bags = [keywords(clean_text(m.text)) for m in messages]
    if len(messages) == 1:
        return messages[0]
    totals: Counter[str] = Counter(word for bag in bags for word in bag)

    def score(index: int) -> float:
        bag = bags[index]
        if len(bag) < 2:
            return -1.0
        shared = sum(totals[word] - 1 for word in bag)
        # Questions that open a conversation are usually what it is about.
        bonus = 1.5 if index == 0 and "?" in messages[0].text else 1.0
        return float(bonus * shared / (len(bag) ** 0.5))

    best = max(range(len(messages)), key=lambda i: (score(i), -i))
    return messages[best]


def topic(
    messages: Sequence[ChannelMessage],
    *,
    background: Mapping[str, float] | None = None,
    names: Collection[str] = (),
    avoid: Collection[str] = (),
) -> Candidate:
    """What a run of messages was about: its most central informative sentence, from a
    message outside ``avoid`` (ids of messages the digest lists as items) where another says
    something.

    Every sentence of at least ``MIN_TOPIC_WORDS`` content words (names not counted) is a
    candidate, as a bullet would show it; it scores by how many of the run's frequent words
    it holds (``centrality``), with ``background`` (the whole window's word weights, scaled
    by the caller) breaking ties toward what the day was about. "Okay." and "Big buttons,
    positive." are never a topic while a run has a real sentence. A run without one falls
    back to its central message's first sentence."""
    local = word_weights(messages, names=names)
    weights: dict[str, float] = {w: float(n - 1) for w, n in local.items()}
    for word, weight in (background or {}).items():
        weights[word] = weights.get(word, 0.0) + weight
    best: tuple[tuple[int, float, float], str, ChannelMessage] | None = None
    for index, message in enumerate(messages):
        said = said_sentences(message.text)
        for sentence in said or [clean_text(message.text)]:
            text = shorten(quotable(sentence))
            count = len(content_words(text, names=names))
            # An upload's "[file: title]" holds the conversation's words, but says nothing; nor
            # does a message of nothing but pasted output, or a sentence that is only a code
            # span (`ssh://github.com/user/project.git`).
            note = BRACKETED_NOTE.match(text) is not None or not said or _only_code(text)
            informative = count >= MIN_TOPIC_WORDS and not note
            # Below the minimum, the sentence saying most stands in ("Okay." never does
            # while anything longer was said). A listed item's sentence ranks below any other
            # that says something ("The changelog is not finished yet.").
            says_something = count >= 2 and not note
            fresh = message.id not in avoid
            # The tail of a thought ("by detecting a manifest file like deps.edn") is read only
            # after what it finishes, and thanks after what they thank for: any sentence that
            # stands alone ranks above them, and so does any above half a quotation.
            whole = TAIL_OF_A_THOUGHT.match(text) is None and THANKING.match(text) is None and not cuts_a_quotation(text)
            tier = (4 if whole else 3) if informative and fresh else 2 if fresh and says_something else 1 if informative else 0
            score = (tier, centrality(text, weights, names=names) if informative else float(count), -index)
            if best is None or score > best[0]:
                best = (score, text, message)
    if best is None:  # no text at all: meaningful() keeps no such message, but be safe
        best = ((0, 0.0, 0.0), shorten(clean_text(messages[0].text)), messages[0])
    _, text, center = best
    sources = tuple(dict.fromkeys((messages[0], center)))
    return Candidate("topic", text, sources)


def _only_code(sentence: str) -> bool:
    return INLINE_CODE.search(sentence) is not None and not INLINE_CODE.sub("", sentence).strip(" .,;:!?()-")


def decisions(conversation: Conversation) -> list[Candidate]:
    found: list[Candidate] = []
    for message in conversation.messages:
        sentence = (
            first_sentence_with(message.text, DECISION, statement=True)
            or first_sentence_with(message.text, CHOICE, statement=True, min_words=MIN_CHOICE_WORDS)
            or first_sentence_with(message.text, TAKES_EFFECT, statement=True, skipping=(SAID_OF_ONESELF,))
        )
        if sentence:
            found.append(Candidate("decision", shorten(sentence), (message,), sentence))
    return found


def _named_participant(text: str, participants: Iterable[str], speaker: str) -> str | None:
    lowered = text.lower()
    for name in participants:
        if name and name != speaker and re.search(rf"(?<![\w]){re.escape(name.lower())}(?![\w])", lowered):
            return name
    return None


def action_items(conversation: Conversation) -> list[Candidate]:
    """"I'll ..." is owned by the speaker; "can you ..." by whoever is named or replied to;
    with nobody named the item has no owner rather than a guessed one."""
    found: list[Candidate] = []
    by_id = {m.id: m for m in conversation.messages}
    participants = sorted({m.author.name for m in conversation.messages}, key=len, reverse=True)
    for message in conversation.messages:
        text = message.text
        owner: str | None = None
        own_steps = (TRYING_OUT, SOMEDAY, LOOKING) if THANKS.search(text) else (TRYING_OUT, SOMEDAY)
        sentence = first_sentence_with(
            text, SELF_ACTION, statement=True, skipping=own_steps, min_words=MIN_COMMITMENT_WORDS
        ) or first_sentence_with(text, PROMISED, statement=True)
        if sentence:
            owner = message.author.name
        else:
            sentence = first_sentence_with(text, ASKED_ACTION)
            if sentence is None or any(p.search(sentence) for p in (ASKED_TO_EXPLAIN, ASKED_IF_WILLING, ASKED_STEP)):
                continue
            owner = _named_participant(sentence, participants, message.author.name)
            if owner is None and message.reply_to in by_id:
                replied = by_id[message.reply_to].author.name
                owner = replied if replied != message.author.name else None
            if owner is None and (sentence.endswith("?") or HEDGE.search(sentence.translate(APOSTROPHES))):
                continue  # asked of nobody: a question about the world, or a passing idea
        sentence = _unaddressed(sentence, owner) if owner else sentence
        found.append(Candidate("action", f"{owner}: {shorten(sentence)}" if owner else shorten(sentence), (message,), sentence))
    return found


def _unaddressed(sentence: str, owner: str) -> str:
    """``sentence`` without the @-name of the ``owner`` the item line already opens with: "ann:
    Could you open an issue?", not "ann: @ann could you open an issue?" (or "... issue @ann?")."""
    name = rf"@{re.escape(owner)}(?![\w-])"
    # "ok"/"okay" need no place here: the sentence comes through ``quotable``, which drops them.
    text = re.sub(rf"^(?:(?:hey|hi|hello)\b[,!]?\s*)?{name}[,:]?\s*", "", sentence, flags=re.IGNORECASE)
    if text != sentence:
        text = text[:1].upper() + text[1:]
    text = re.sub(rf"[,\s]+{name}(?=[.!?]*$)", "", text, flags=re.IGNORECASE)
    return text if content_words(text) else sentence


def candidates(conversation: Conversation, following: Sequence[ChannelMessage] = ()) -> list[Candidate]:
    """Every extractive candidate of a conversation except its topic (``following``: the
    messages after it on its line, where a late answer to its questions may be)."""
    # A sentence is listed once: a decision that also commits someone ("we'll ship it Friday and
    # I'll write the notes") stays a decision; a request put to someone ("Could you add a
    # column ... @grzm?") is their action item, not an open question too.
    found: list[Candidate] = []
    listed: set[tuple[str, frozenset[str]]] = set()
    for candidate in (*decisions(conversation), *action_items(conversation), *open_questions(conversation, following)):
        said = (candidate.messages[0].id, _said(candidate.sentence))
        if said not in listed:
            listed.add(said)
            found.append(candidate)
    return found


def _said(sentence: str) -> frozenset[str]:
    """What a quoted sentence says, whoever it is addressed to."""
    return frozenset(content_words(MENTION.sub(" ", sentence)))


def window_candidates(conversations: Sequence[Conversation]) -> list[Candidate]:
    """The candidates of a window's conversations, in order. Each conversation sees the
    messages that followed it on its line: its channel's own messages, or its thread's
    (chatter elsewhere answers nobody's question)."""
    lines: dict[tuple[str, str | None], list[ChannelMessage]] = defaultdict(list)
    for conversation in conversations:
        for message in conversation.messages:
            lines[(message.channel.scope, message.thread_id)].append(message)
    for line in lines.values():
        line.sort(key=lambda m: m.timestamp)
    found: list[Candidate] = []
    for conversation in conversations:
        last = conversation.messages[-1]
        line = lines[(last.channel.scope, last.thread_id)]
        start = bisect.bisect_right(line, last.timestamp, key=lambda m: m.timestamp)
        own = {m.id for m in conversation.messages}
        found.extend(candidates(conversation, [m for m in line[start:] if m.id not in own]))
    return found
