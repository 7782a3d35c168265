"""Words, stems and sentences: how Tidings reads text, defined once.

An answer is checked by comparing its words with its sources' words, a digest finds what a
conversation is about by counting its words, and the evaluation asks which of a reference's
points a summary holds. All of them read words with ``WORD``, fold endings with one family of
suffix strippers, and ignore the words listed here. Where two callers need different word
sets (a question's "tell me" says nothing, a chat's "thanks" neither) they pass a parameter
rather than keep a copy.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection

# A word: letters and digits, with the marks a technical term keeps inside it ("node.js",
# "c++", "c#", "covid-19", "snake_case", "3.2"). A slash or an apostrophe separates words:
# "school/childcare" is two words a source may use alone, and "don't" is "don" and "t".
WORD = re.compile(r"[^\W_](?:[\w+#.-]*(?:[^\W_]|[+#]))?")
LINK = re.compile(r"https?://\S+")
# A Markdown table's rule line, under its header row: "|---|:--:|".
TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}")
# A Markdown list item's marker and the space after it: "- ", "* ", "• ", "3. ", "2) ".
LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
# How chat says thank you: for a message that only thanks the bot, and for an asker thanking
# whoever answered them.
THANKS_WORDS = r"thanks|many thanks|thank you|thank u|thx|thnx|tnx|ty|cheers"

# Words that say nothing about what a text is about, in any text. "ll", "re" and "ve" are
# what is left of "we'll", "you're" and "I've" once the apostrophe splits them.
_FUNCTION_WORD_TEXT = """
    a about also an and any are as at be been but by can could did do does for from had has have
    how i if in into is it its just ll me more most my no not of on or our re should so some such
    than that the their them then there these they this to too us ve was we were what when where
    which who why will with would yes you your"""
FUNCTION_WORDS = frozenset(_FUNCTION_WORD_TEXT.split())
# Words a question is asked with rather than about ("tell me how much ...").
_QUESTION_WORD_TEXT = "get got tell know want please need much many does did done really"
QUESTION_WORDS = frozenset(_QUESTION_WORD_TEXT.split())
# What chat and speech add around what they say: greetings, fillers, "I think", "use"; and
# what is left of "don't", "isn't" and the like once the apostrophe splits them ("don" is no
# topic).
_CHAT_WORD_TEXT = """
    above after again against all am because before being below between both doing down during each
    few further having he her here hers him his itself let nor now off once only other ours out over
    own same she theirs those through under until up very while whom yours yeah ok okay thanks thank
    please hi hello hey get got one like know think want need use using used still really well
    don doesn didn isn aren wasn weren haven hasn hadn won wouldn couldn shouldn mustn ain"""
STOPWORDS = FUNCTION_WORDS | frozenset(_CHAT_WORD_TEXT.split())

# Endings stripped by ``stem``, longest first; at least four letters stay, so "need" and "bus"
# stay whole.
_SUFFIXES = tuple((suffix, "") for suffix in ("ations", "ation", "ings", "ing", "ions", "ion", "ies", "ed", "es", "s"))
# Endings folded by ``fold_plural``: plurals only; at least three letters stay.
_PLURALS = (("ies", "y"), ("es", ""), ("s", ""))

# Where text may be cut between sentences when it must shrink: after ". ", "! " or "? ", or at
# a line break. A cut after "e.g." costs nothing there.
SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
# Where a chat message's sentence ends: the next one starts as a sentence does, with a capital,
# a digit, a mention, a quote or a bracket ("[code]" stands for a code block), or on a new line.
CHAT_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9@\"'(\[])|\n+")
# A line that ends in a letter or digit, without a stop: a title, a byline, a label, a list item.
UNFINISHED_LINE = re.compile(r"\w\s*$")
# Where a document's sentence ends: the next starts with a capital or a digit, perhaps after a
# quote or bracket; CJK full stops count. A bracket alone does not start one, so "PATH...
# [--json]" and "the review. (bob 09:02)" stay whole. A code span starts one whatever its case
# ("... with one there. `tidings doctor` checks ..."), unless it follows "e.g." or "i.e.".
DOCUMENT_SENTENCE_END = re.compile(
    r"(?<=[.!?。！？])\s+(?=[\"'(\[]?[A-Z0-9À-ÖØ-Þ])|(?<=[.!?])(?<!e\.g\.)(?<!i\.e\.)\s+(?=`)|\n+"
)


# An acronym in the plural: capitals (digits after the first allowed), then a lower-case "s".
_ACRONYM_PLURAL = re.compile(r"\b([A-Z][A-Z0-9]+)s\b")


def singular_acronyms(text: str) -> str:
    """Each acronym in the plural written as its singular: "DMs" and "PDFs" meet "DM" and
    "PDF", which no ending stripper can fold once the case is gone ("dms" would be too short
    to strip, like "bus")."""
    return _ACRONYM_PLURAL.sub(r"\1", text)


# A quotation that runs on this long is a stray mark (5" screens), not a quotation to keep whole.
MAX_QUOTATION_CHARS = 600


def _in_quotation(text: str) -> bool:
    """Whether ``text`` leaves a quotation open, code spans aside (their quote marks are code):
    'posts "It failed.' does."""
    outside_code = INLINE_CODE.sub(" ", text)
    return outside_code.count('"') % 2 == 1 or outside_code.count("“") > outside_code.count("”")


def document_sentences(text: str) -> list[str]:
    """A document's sentences (``DOCUMENT_SENTENCE_END``), each quotation kept whole with its
    own full stops and question marks: 'posts "It failed. The details are in the log.", then
    ...' is one sentence, and a chunk never opens at 'Or should I build it?") is listed'."""
    sentences: list[str] = []
    for piece in (s.strip() for s in DOCUMENT_SENTENCE_END.split(text) if s and s.strip()):
        if sentences and len(sentences[-1]) < MAX_QUOTATION_CHARS and _in_quotation(sentences[-1]):
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return sentences


def words(text: str) -> list[str]:
    """Every word of ``text``, lower-cased, in reading order."""
    return [word.lower() for word in WORD.findall(text)]


def _strip_ending(word: str, endings: tuple[tuple[str, str], ...], keep: int) -> str:
    for ending, replacement in endings:
        if word.endswith(ending) and len(word) - len(ending) >= keep:
            return word[: -len(ending)] + replacement
    return word


def stem(word: str) -> str:
    """A light suffix strip: "designs", "designed" and "design" meet, and so do "meetings" and
    "meeting"."""
    return _strip_ending(word, _SUFFIXES, 4)


def fold_plural(word: str) -> str:
    """Plurals folded, nothing else: "taxis" meets "taxi" and "policies" meets "policy", while
    "reimbursed" stays apart from "reimburse" (an answer's check must not let different words
    meet)."""
    return _strip_ending(word, _PLURALS, 3)


def meaningful_words(
    text: str,
    *,
    stopwords: Collection[str] = STOPWORDS,
    stemmer: Callable[[str], str] = stem,
    shortest: int = 3,
) -> list[str]:
    """The words of ``text`` that say something, stemmed, in reading order, repeats kept:
    what a share of words is counted over."""
    return [stemmer(word) for word in words(text) if len(word) >= shortest and word not in stopwords]


def answer_words(text: str) -> list[str]:
    """The words a question, an answer and a source are compared on: plurals folded and
    nothing else stemmed ("reimbursed" must not meet "reimburse"), two-letter words ("vm",
    "hr") kept, question phrasing ("tell me how much") ignored."""
    return meaningful_words(
        singular_acronyms(text), stopwords=FUNCTION_WORDS | QUESTION_WORDS, stemmer=fold_plural, shortest=2
    )


def one_typo_apart(a: str, b: str) -> bool:
    """Whether two different words differ by one letter added, dropped or changed, or two
    neighbours swapped: "emphyema" and "emphysema", "downlod" and "download"."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    start = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    if len(a) < len(b):
        return a[start:] == b[start + 1 :]
    swapped = start + 1 < len(a) and a[start] == b[start + 1] and a[start + 1] == b[start]
    return a[start + 1 :] == b[start + 1 :] or (swapped and a[start + 2 :] == b[start + 2 :])


# An emoji code (":wink:", ":+1::skin-tone-2:"; a clock's "10:30:00" is none) and an
# @-mention: chat markup, not words of what was said.
EMOJI_CODE = re.compile(r"(?<!\w):[a-z0-9_+'-]*[a-z][a-z0-9_+'-]*:(?!\w)", re.IGNORECASE)
MENTION = re.compile(r"(?<![\w.])@[\w.\-]+")


def _without_markup(text: str) -> str:
    """``text`` less its links and emoji codes: "Feel free to change this - <link> :wink:"
    says three things, not four. A mention stays: "@ann, can you tag the release?" asks ann
    for something."""
    return EMOJI_CODE.sub(" ", LINK.sub(" ", text))


def keywords(text: str) -> set[str]:
    """The words of ``text`` that say something, lower-cased but not stemmed (links and emoji
    codes left out)."""
    return set(meaningful_words(_without_markup(text), stemmer=str))


def content_words(text: str, *, names: Collection[str] = ()) -> set[str]:
    """The stemmed keywords of ``text``, without ``names`` (stemmed words of people's names:
    a line made of who spoke says nothing about what was said)."""
    return set(meaningful_words(_without_markup(text))) - set(names)


# A code span in a line of chat or a document: `(partition-by pos? (range))`, `WHERE start = ? OR end = ?`.
INLINE_CODE = re.compile(r"`[^`\n]+`")
_HIDDEN_CODE = re.compile("\x00(\\d+)\x00")


# A line quoting an earlier message ("> will VRSC on mainnet keep my KMD safe?"): its words are
# someone else's, said before.
QUOTED_LINE = re.compile(r"^[ \t]*>.*$", re.MULTILINE)


# Chat questions often go without their question mark ("Also, is this legit: <link>", "any
# advice please"): a sentence or line that opens as a question does (an auxiliary before its
# subject, "anyone know", "any help", "how do") asks too. Articles are no subject, so "is a
# lazy seq" or "`data` is the ultimate" tells rather than asks; "do" asks only before a person
# ("do this first" tells).
_ASKED_SUBJECT = r"(?:i|you|u|we|they|he|she|it|this|that|there|these|those|anyone|anybody|someone|somebody|my|your|our|the)"
_PERSON = r"(?:i|you|u|we|they|anyone|anybody|someone|somebody)"
_QUESTION_OPENING = re.compile(
    r"(?:^|[.!;:]\s+)\W*"
    r"(?:(?:also|so|but|and|or|hi|hello|hey|ok|okay|btw|guys|folks|everyone|sorry)\b[,:!]?\s+)*"
    r"(?:(?:is|are|was|were|can|could|would|will|should|does|did|may|might)\s+" + _ASKED_SUBJECT
    + r"|(?:do|has|have)\s+" + _PERSON
    + r"|(?:anyone|anybody|someone|somebody)\s+(?:know|knows|tried|seen|else)"
    r"|any\s+(?:advice|help|ideas?|suggestions?|thoughts|tips|clue|hints?)"
    r"|(?:how|what|why|where|who|when)\s+(?:do|does|did|can|could|should|would|is|are|was|were|to|long|much|many|come))\b",
    re.IGNORECASE | re.MULTILINE,
)


def asks(text: str) -> bool:
    """A chat message asks something: it holds a question mark outside its links, its code and
    the lines it quotes (a link's "https://example.org/claim?coin=kmd" or code's "(some? x)"
    asks nothing, nor does a reply quoting the question it answers), or a sentence of it opens
    as a question does (``_QUESTION_OPENING``)."""
    told = _links_and_code_as_words(QUOTED_LINE.sub(" ", text))
    return "?" in told or _QUESTION_OPENING.search(told) is not None


def opens_as_question(sentence: str) -> bool:
    """A sentence put as a question without its question mark: "any advice please", "can i ask
    for help please", "anyone know how to pin a transitive dependency"."""
    return _QUESTION_OPENING.match(_links_and_code_as_words(sentence)) is not None


def _links_and_code_as_words(text: str) -> str:
    # A link or a code span stands for a word, so the sentence it opens does not seem to start
    # after it, and its "?" asks nothing.
    return INLINE_CODE.sub(" code ", LINK.sub(" link ", text))


def split_outside_code(pattern: re.Pattern[str], text: str) -> list[str]:
    """``text`` split where ``pattern`` matches outside its code spans: a predicate's "?" or a
    constructor's "." inside backticks ends no sentence."""
    if "\x00" in text:  # the placeholder below could not be told from the text
        return pattern.split(text)
    spans: list[str] = []

    def hide(match: re.Match[str]) -> str:
        spans.append(match.group(0))
        return f"\x00{len(spans) - 1}\x00"

    parts = pattern.split(INLINE_CODE.sub(hide, text))
    return [_HIDDEN_CODE.sub(lambda m: spans[int(m.group(1))], part) for part in parts]


def sentences(text: str) -> list[str]:
    """The sentences of a chat message (``CHAT_SENTENCE_END``, never inside a code span)."""
    return [sentence.strip() for sentence in split_outside_code(CHAT_SENTENCE_END, text) if sentence.strip()]


# Emoji and pictographs, which the embedder's vocabulary lacks: each reads as an unknown token.
_PICTOGRAPH = re.compile("[\u2600-\u27bf\U0001f000-\U0001faff]")
# What joins or tints an emoji without being one: variation selectors, the zero-width joiner,
# skin tones.
_EMOJI_MARKS = re.compile("[\ufe0e\ufe0f\u200d\U0001f3fb-\U0001f3ff]")


def emoji_as_words(text: str) -> str:
    """``text`` with each emoji spelt as its Unicode name ("👎" -> "thumbs down"), for the
    embedder: its vocabulary has no emoji, so "what does 👎 do" and "click 👎" would both read
    as an unknown word, and "thumbs down" would never find "👎"."""
    if text.isascii():
        return text
    text = _EMOJI_MARKS.sub("", text)
    return _PICTOGRAPH.sub(_emoji_name, text)


def _emoji_name(match: re.Match[str]) -> str:
    name = unicodedata.name(match.group(), "")
    if not name:
        return match.group()
    words = name.lower().removesuffix(" sign").removesuffix(" symbol")
    return f" {words} "
