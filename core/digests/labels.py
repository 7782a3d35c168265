"""What never becomes a bullet, and the few words that name a conversation.

A chat day is full of lines that say nothing to someone who was not there: placeholders an
export leaves for a deleted message ("[message text edited or deleted]"), greetings and
thanks ("Thanks a lot @rauh!"), and the same text posted by many people (a "+1", a pasted
announcement, spam). They stay in the conversation the model reads, but no bullet and no
headline ever quotes them (``is_placeholder``, ``is_small_talk``, ``repeated_texts``).

A topic bullet starts with a label: the conversation's key phrase, a run of one to three
words the conversation uses often and the rest of the day does not (``topic_labels``); with an
embedder, the best of those phrases by how close each is in meaning to what was said. It is
chosen from the conversation's own words, so it can never say something nobody said.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

import numpy as np

from core.digests.open_questions import PLEASANTRY_WORDS
from core.digests.speech import (
    APOSTROPHES,
    BRACKETED_NOTE,
    UPLOAD_NOTICE,
    clean_text,
    lines_without_output,
    plain_words,
    said_sentences,
)
from core.digests.wording import CHOICE, tries_out
from core.ports import Embedder
from core.text import EMOJI_CODE, LINK, MENTION, STOPWORDS, WORD, stem
from core.types import ChannelMessage

# "[code]" is a code block, and a code block alone is no bullet either.
_PLACEHOLDER_TEXTS = frozenset(
    ["this message was deleted", "message deleted", "deleted", "message removed", "this message has been deleted"]
)
# A word stretched for effect ("Suuuuuper random", "sooo"): a tone of voice, no topic. An
# acronym ("AAA batteries") is upper case and stays.
_STRETCHED = re.compile(r"([a-z])\1\1")
# An ellipsis joins words without a space ("6gb...I clicked"); it ends a phrase all the same.
_ELLIPSIS = re.compile(r"\.{2,}|…")
# A link typed without its scheme ("github.com/KomodoPlatform/komodo"): an address, no topic.
# File names ("wallet.dat", "debug.log") are not addresses and stay.
_BARE_LINK = re.compile(r"\b(?:[\w-]+\.)+(?:com|org|net|io|dev|app|gg|co|me|info|edu|gov)\b(?:/\S*)?", re.IGNORECASE)
# Pleasantries and words of agreement: a message made of these (and function words) is small
# talk, however long.
_ASSENT_TEXT = """
    ok okay k kk alright right sure yes yeah yep yup no nope nah agreed indeed true fine got gotcha
    understood makes sense sounds exactly absolutely done works worked working +1 me too same here"""
_SMALL_TALK_WORDS = PLEASANTRY_WORDS | frozenset(_ASSENT_TEXT.split())
# Prepositions and hedges the stopwords leave in, which end a phrase in the middle of a thought
# ("official developer within", "populate props based" on ...): a topic label is made of the
# words around them.
_LINKING_TEXT = """
    within without across along around behind beyond inside outside toward towards upon via among
    amongst despite onto unless whether maybe perhaps probably actually basically based according
    regarding concerning"""
_LINKING_WORDS = frozenset(_LINKING_TEXT.split())
# Words that point at a topic without naming one ("Reward mech, something going wrong", "Chart
# library, something", "UI-related stuff"): spoken fillers and stand-ins. They end a phrase too.
_VAGUE_TEXT = """
    anything everything something nothing anybody everybody somebody nobody anyone someone stuff
    thing things sort kind kinda sorta lot bit gonna wanna gotta guess hope mean meant ahead
    happens happen happened shit crap"""
_VAGUE_WORDS = frozenset(_VAGUE_TEXT.split())
# When something happens is never what it is about ("I'll try it out later today!" was labelled
# "Today"). They end a phrase too.
_WHEN_WORDS = frozenset(["today", "tonight", "tomorrow", "yesterday", "soon", "earlier", "ago", "asap"])
# Modal verbs the stopwords leave in: "bidi.ring may hold some answers" names "bidi.ring", not
# "Bidi.ring may hold". "May" breaks a phrase only in lower case: capitalised, it is a month.
_MODAL_WORDS = frozenset(["might", "must", "shall"])
_LOWER_CASE_MODAL = "may"
# Every word a key phrase stops at.
_PHRASE_BREAKERS = STOPWORDS | _SMALL_TALK_WORDS | _LINKING_WORDS | _VAGUE_WORDS | _WHEN_WORDS | _MODAL_WORDS
# Everyday verbs, adverbs and adjectives: inside a phrase they belong to it ("try downloading
# params"), but alone they name nothing ("OSX, give", "Link, try", "Always, mined").
_NOT_ALONE_TEXT = """
    try tried trying give gave giving take took taking make made making check checked confirm
    confirmed ask asked asking look looked looking looks forgot forget read turn apply update
    updated wait waiting start started starting seem seems seemed work works worked anymore
    always never usually sometimes often already recently originally easily quite pretty little
    curious confused sad realized playing care sure new old newer older better best different whole
    add added adding hand second minute minutes hour hours day days week weeks weekend month
    months year years time"""
_NOT_ALONE_WORDS = frozenset(_NOT_ALONE_TEXT.split())
# A day alone is when something happens, not what: "Launch, 10th", "Monday, Friday releases".
# ("may" is left to the modals.)
_DAYS_TEXT = """
    monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun
    january february march april june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec"""
_DAY_WORDS = frozenset(_DAYS_TEXT.split())
_ORDINAL = re.compile(r"^\d+(?:st|nd|rd|th)$")
# Adverbs and modals, which qualify a topic without naming it, and "seems", which reports one:
# no label ends with one ("Functional design already", "Option technically", "Builds instead",
# "EventType NAVIGATE seems", "GNU sed either"). Modals that break a phrase (``_MODAL_WORDS``)
# never reach a label.
_HEDGE_TEXT = """
    already always never usually sometimes often recently originally easily quite pretty really real
    even rather somewhat simply totally definitely certainly obviously quickly slowly
    technically exactly finally eventually literally honestly seriously apparently hopefully
    currently properly correctly directly immediately mostly nearly especially generally normally
    instead anyway anyways though yet otherwise afterwards likely unfortunately seem seems seemed
    either neither too also should would could"""
_HEDGE_WORDS = frozenset(_HEDGE_TEXT.split())
# Of those, the ones that only grade what follows never start one either ("Real quick", "Quite
# complicated"), nor does "every" ("Every single react" reads "Single react element");
# "recently transacted datoms" is a topic.
_DEGREE_WORDS = frozenset(
    ["quite", "pretty", "really", "real", "even", "rather", "somewhat", "simply", "totally", "every"]
)
# A conversation's label: at most this many words per phrase, and two phrases at most.
MAX_PHRASE_WORDS = 3
MAX_LABEL_PHRASES = 2
# Two words that open with this many letters alike are one word in two forms, for a label's
# second phrase ("Transcription, transcribed" says one thing twice); "remote" and "remove" differ.
SAME_ROOT_LETTERS = 6
# A second phrase joins the label when it scores at least this share of the first.
SECOND_PHRASE_SHARE = 0.5
# With an embedder, the best phrases by their words' weight are scored again by their cosine
# similarity to the mean of the conversation's messages, plus this much of their weight as a
# share of the best one's: on the development days "Test locally" replaced "Test, client api"
# and "Datomic pricing model" "Assume system relates" (docs/quality-log.md, Change 28).
LABEL_CANDIDATES = 12
MEANING_WEIGHT_SHARE = 0.25
SECOND_PHRASE_SHARE_BY_MEANING = 0.75
# The messages a conversation's meaning is read from, at most.
MEANING_MESSAGES = 40
# Posted this many times in a window, the same text is a chorus ("+1", a pasted announcement),
# not a topic.
REPEATED_AT = 3


def is_placeholder(text: str) -> bool:
    """A message that stands for one that is not there: a bracketed note, a deletion notice,
    or nothing but a code block."""
    plain = text.strip()
    if not plain:
        return True
    if plain.lower().strip(" .!") in _PLACEHOLDER_TEXTS:
        return True
    if BRACKETED_NOTE.match(plain):
        return True
    return clean_text(plain).strip() in {"", "[code]"}


def is_small_talk(text: str) -> bool:
    """Greetings, thanks and agreement: no word beyond function words and the small-talk
    vocabulary, or a single such word ("Here's fine!", "Thanks a lot @rauh for the pointers!"),
    unless that word is a choice made ("Ok, let's go with Mailchimp then.")."""
    plain = clean_text(text)
    said = [w for w in plain_words(plain) if w not in STOPWORDS and w not in _SMALL_TALK_WORDS]
    said = [w for w in said if len(w) > 2 and not w.isdigit()]
    return not said or (len(said) == 1 and CHOICE.search(plain.translate(APOSTROPHES)) is None)


# A call's or a room's sound and screen check: whether people hear each other, whose
# microphone is which, testing and counting. A recorded meeting often opens with minutes of it
# ("As close to your mouth as you can get it", "Channel five, channel five", "Test, test"), and
# a call with "can you hear me?" and "you're on mute"; none of it is what the meeting was about.
# Only a short sentence counts: "on off channel five" in a long one is about a TV remote.
_SETUP_TALK = re.compile(
    r"\bchannel (?:one|two|three|four|five|six|seven|eight|nine|ten|zero|\d+|[a-h])\b"
    r"|\b(?:can|could|do|does) (?:you|everyone|everybody|y'?all|people|anyone) (?:still )?hear (?:me|us)\b"
    r"|\b(?:can'?t|cannot|can not|couldn'?t) hear (?:you|me|us)\b"
    r"|\b(?:you'?re|you are|i'?m|i am|you were|i was) (?:still )?(?:on )?mute(?:d)?\b|\bunmute\b"
    r"|\b(?:see|share|sharing) (?:my|your) screen\b"
    r"|\b(?:close|closer|near|away|distance) (?:to|from) (?:your|my) mouth\b|\bcorner of your mouth\b"
    r"|\b(?:your|my) (?:mic|mike|microphone|headset)\b"
    r"|\b(?:up|down) the gain\b|\bsound check\b|\bmic check\b"
    r"|\bone,? two,? three\b"
    r"|^\W*(?:test(?:ing)?\W*)+$",
    re.IGNORECASE,
)
# A sound check's sentence, or a promise to try something out, has at most this many words
# beyond function words.
SETUP_TALK_MAX_WORDS = 8


def _short(sentence: str) -> bool:
    return len([w for w in plain_words(sentence) if w not in STOPWORDS]) <= SETUP_TALK_MAX_WORDS


def _only_small_talk_and(text: str, says: Callable[[str], bool]) -> bool:
    """Every sentence of ``text`` is short and ``says`` it, or is small talk, and one says it."""
    said = said_sentences(text)
    marks = [_short(sentence) and says(sentence) for sentence in said]
    return any(marks) and all(mark or is_small_talk(sentence) for mark, sentence in zip(marks, said, strict=True))


def is_setup_talk(text: str) -> bool:
    """A sound or screen check: every sentence of the message either checks the set-up
    (``_SETUP_TALK``, in a short sentence) or is small talk, and one does. "Can you hear me?
    Let's start with the budget." says something after the check, and stays quotable."""
    return _only_small_talk_and(text, lambda sentence: _SETUP_TALK.search(sentence) is not None)


def is_trying_out(text: str) -> bool:
    """Thanks for a suggestion and a promise to try it ("Thanks! I'll try it out later today!",
    "ok, I'll give it a try"): to someone who was not there it says nothing, as thanks alone
    do. "I'll try it. Can you send the logs too?" says more, and stays quotable."""
    return _only_small_talk_and(text, tries_out)


def normalized_text(text: str) -> str:
    """What makes two messages the same message: their words, ignoring case and punctuation."""
    return " ".join(WORD.findall(text.lower()))


def repeated_texts(messages: Iterable[ChannelMessage]) -> frozenset[str]:
    """The normalized texts posted ``REPEATED_AT`` times or more in a window."""
    counts = Counter(normalized_text(m.text) for m in messages)
    return frozenset(text for text, count in counts.items() if text and count >= REPEATED_AT)


def quotable_message(message: ChannelMessage, repeated: Collection[str]) -> bool:
    """Whether a bullet or the headline may quote ``message``: not a placeholder, small talk, a
    sound check, a promise to try something out, a chorus or an old upload's own sentence
    ("@ann uploaded a file: Untitled")."""
    return not (
        is_placeholder(message.text)
        or is_small_talk(message.text)
        or is_setup_talk(message.text)
        or is_trying_out(message.text)
        or normalized_text(message.text) in repeated
        or UPLOAD_NOTICE.match(clean_text(message.text).strip()) is not None
    )


def _phrases(text: str) -> list[list[str]]:
    """Runs of words that are not stopwords, as written: the places a key phrase can come from.
    A line of pasted output names nothing (``lines_without_output``); a quoted line stays, as it
    says what a reply is about. Line ends, punctuation, links, mentions, emoji and stopwords
    break a run."""
    text = " . ".join(clean_text(line) for line in lines_without_output(text))
    text = _BARE_LINK.sub(" . ", LINK.sub(" . ", text))
    text = EMOJI_CODE.sub(" . ", text)
    text = MENTION.sub(" . ", text)
    text = _ELLIPSIS.sub(" . ", text)
    text = text.replace("[code]", " . ")
    runs: list[list[str]] = []
    current: list[str] = []
    position = 0
    for match in WORD.finditer(text):
        gap = text[position : match.start()]
        position = match.end()
        word = match.group(0).strip(".-")
        lowered = word.lower()
        breaks = any(ch in gap for ch in ",.;:!?()[]{}\"`'") or "\n" in gap
        if breaks and current:
            runs.append(current)
            current = []
        if (
            len(lowered) < 3
            or lowered in _PHRASE_BREAKERS
            or word == _LOWER_CASE_MODAL
            or lowered.isdigit()
            or (_STRETCHED.search(lowered) is not None and not word.isupper())
            or not word
        ):
            if current:
                runs.append(current)
            current = []
            continue
        if current and stem(current[-1].lower()) == stem(lowered):
            # Said twice ("trend trends"), as speech often is: the phrase holds it once, as last said.
            current.pop()
        current.append(word)
    if current:
        runs.append(current)
    return runs


def conversation_words(messages: Sequence[ChannelMessage], *, names: Collection[str] = ()) -> set[str]:
    """The stemmed words a conversation's phrases are made of (for document frequencies)."""
    return {stem(word.lower()) for m in messages for run in _phrases(m.text) for word in run} - set(names)


# Phrases best first, each with its score.
Ranked = list[tuple[float, list[str]]]


def weighted_phrases(
    messages: Sequence[ChannelMessage], *, document_frequency: Mapping[str, int], documents: int, names: Collection[str] = ()
) -> Ranked:
    """The phrases ``messages`` could be labelled with, best first. Each word scores by how
    many of the messages use it times how rare it is in the rest of the window
    (``document_frequency`` over ``documents`` conversations); a phrase (one to three adjacent
    words, as written) scores the sum of its words over the square root of its length, so
    "coin config" beats "config" when both words carry."""
    names = set(names)
    usage: Counter[str] = Counter()
    runs: list[list[str]] = []
    for message in messages:
        message_runs = _phrases(message.text)
        runs.extend(message_runs)
        usage.update({stem(w.lower()) for run in message_runs for w in run})

    def weight(word: str) -> float:
        key = stem(word.lower())
        if key in names or usage[key] == 0:
            return 0.0
        rarity = math.log((1 + documents) / (1 + document_frequency.get(key, 0))) + 1.0
        return usage[key] * rarity

    scored: dict[str, tuple[float, list[str]]] = {}
    for run in runs:
        for size in range(1, MAX_PHRASE_WORDS + 1):
            for start in range(0, len(run) - size + 1):
                phrase = run[start : start + size]
                weights = [weight(w) for w in phrase]
                if min(weights) <= 0:
                    continue
                score = sum(weights) / math.sqrt(size)
                key = " ".join(stem(w.lower()) for w in phrase)
                if key not in scored or score > scored[key][0]:
                    scored[key] = (score, phrase)
    naming = {key: value for key, value in scored.items() if _names_something(value[1])}
    scored = naming or scored  # an everyday word alone only when nothing else was said
    return sorted(scored.values(), key=lambda item: (-item[0], len(item[1])))


def label_of(ranked: Ranked, second_share: float) -> str:
    """The best phrase, and the next one that scores at least ``second_share`` of it and
    shares no word with it in any form (``_same_words``); "" when there is none."""
    if not ranked:
        return ""
    chosen: list[list[str]] = [ranked[0][1]]
    used = {w.lower() for w in ranked[0][1]}
    for score, phrase in ranked[1:]:
        if len(chosen) >= MAX_LABEL_PHRASES or score < ranked[0][0] * second_share:
            break
        keys = {w.lower() for w in phrase}
        # No word twice, in any form ("Transcription, transcribed"), nor one phrase inside
        # another's word ("0.5.0, 0.5.0-bf30f32").
        if _same_words(keys, used) or any(_inside(phrase, other) or _inside(other, phrase) for other in chosen):
            continue
        chosen.append(phrase)
        used |= keys
    label = ", ".join(" ".join(phrase) for phrase in chosen)
    return label[:1].upper() + label[1:]


def says_again(label: str, named: Sequence[str]) -> bool:
    """Whether at least half of ``label``'s words are, in some form, words of the ``named``
    labels: "Build, Clojure Clojurescript project" after "Builds, example project.clj" tells a
    reader of the headline nothing new."""
    words = _label_words(label)
    others = {w for other in named for w in _label_words(other)}
    return bool(words) and 2 * sum(_same_words([w], others) for w in words) >= len(words)


def _label_words(label: str) -> list[str]:
    return [w for w in label.lower().replace(",", " ").split() if w]


def _same_words(words: Collection[str], others: Collection[str]) -> bool:
    """Whether a word of ``words`` (lower case) is one of ``others`` in any form: the same stem,
    or the same first ``SAME_ROOT_LETTERS`` letters ("transcription" and "transcribers",
    "functions" and "functionalities"), which the light ``stem`` keeps apart."""
    return any(
        stem(a) == stem(b) or (len(a) >= SAME_ROOT_LETTERS and a[:SAME_ROOT_LETTERS] == b[:SAME_ROOT_LETTERS])
        for a in words
        for b in others
    )


def closest_in_meaning(
    rankeds: Sequence[Ranked], conversations: Sequence[Sequence[ChannelMessage]], embedder: Embedder
) -> list[Ranked]:
    """Each conversation's ``ranked`` phrases (by their words' weight, best first) scored
    again, best first: by their cosine similarity to the mean vector of its messages, plus
    ``MEANING_WEIGHT_SHARE`` times their weight as a share of the best one's. A rare word
    someone happened to use ("Assume system relates") weighs much and means little of what was
    talked about. One embedder call for them all: its cost is mostly per call."""
    texts: list[str] = []
    spans: list[tuple[int, int, int]] = []
    for ranked, messages in zip(rankeds, conversations, strict=True):
        meaning = [clean_text(m.text) for m in messages[:MEANING_MESSAGES]] if ranked else []
        spans.append((len(texts), len(ranked), len(meaning)))
        texts.extend(" ".join(phrase) for _, phrase in ranked)
        texts.extend(meaning)
    if not texts:
        return [list(ranked) for ranked in rankeds]
    vectors = np.asarray(embedder.embed(texts), dtype=np.float32)
    rescored: list[Ranked] = []
    for ranked, (start, count, said) in zip(rankeds, spans, strict=True):
        if not ranked or not said:
            rescored.append(list(ranked))
            continue
        phrases = vectors[start : start + count]
        centre = vectors[start + count : start + count + said].mean(axis=0)
        length = float(np.linalg.norm(centre))
        if length > 0:
            centre = centre / length
        best = ranked[0][0] or 1.0
        scored = [
            (float(phrases[i] @ centre) + MEANING_WEIGHT_SHARE * weight / best, i, phrase)
            for i, (weight, phrase) in enumerate(ranked)
        ]
        scored.sort(key=lambda item: (-item[0], item[1]))
        rescored.append([(score, phrase) for score, _, phrase in scored])
    return rescored


def _inside(phrase: Sequence[str], other: Sequence[str]) -> bool:
    return " ".join(phrase).lower() in " ".join(other).lower()


def _names_something(phrase: Sequence[str]) -> bool:
    """Whether a phrase can name a topic: not an everyday word or a day alone, not ending in an
    adverb, not starting with one that only grades."""
    first, last = phrase[0].lower(), phrase[-1].lower()
    if len(phrase) == 1 and (first in _NOT_ALONE_WORDS or first in _DAY_WORDS or _ORDINAL.match(first)):
        return False
    return first not in _DEGREE_WORDS and last not in _HEDGE_WORDS


def people(messages: Sequence[ChannelMessage], *, most: int = 3) -> str:
    """Who took part, the most active first: "alice, bob and carol", "alice, bob, carol and 2 more"."""
    counts = Counter(m.author.name for m in messages if m.author.name)
    order = [name for name, _ in counts.most_common()]
    if not order:
        return ""
    if len(order) <= most:
        return order[0] if len(order) == 1 else ", ".join(order[:-1]) + " and " + order[-1]
    return ", ".join(order[:most]) + f" and {len(order) - most} more"


def topic_labels(
    conversations: Sequence[Sequence[ChannelMessage]],
    *,
    names: Collection[str] = (),
    repeated: Collection[str] = (),
    embedder: Embedder | None = None,
) -> list[str]:
    """A few words that name what each conversation was about, "" for one nobody said anything
    quotable in: the best phrase by weight (``weighted_phrases``, rarity counted over
    ``conversations``), and a second one sharing no word with it when it scores at least half as
    much. With an ``embedder`` the best phrases are ranked again by meaning
    (``closest_in_meaning``), for every conversation in one call (blocking)."""
    frequency: Counter[str] = Counter()
    for messages in conversations:
        frequency.update(conversation_words(messages, names=names))
    quoted: list[list[ChannelMessage]] = []
    ranked: list[Ranked] = []
    for messages in conversations:
        # A promise to try something is never quoted, but it names what was tried ("I'll try
        # the Ledger Live app"): its words still count for the label.
        said = [m for m in messages if quotable_message(m, repeated) or is_trying_out(m.text)]
        quoted.append(said)
        ranked.append(weighted_phrases(said, document_frequency=frequency, documents=len(conversations), names=names))
    if embedder is None:
        return [label_of(r, SECOND_PHRASE_SHARE) for r in ranked]
    rescored = closest_in_meaning([r[:LABEL_CANDIDATES] for r in ranked], quoted, embedder)
    return [label_of(r, SECOND_PHRASE_SHARE_BY_MEANING) for r in rescored]
