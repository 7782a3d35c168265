"""What people said, made readable: chat markup, spoken hesitations and pasted output out, and
messages cut into the lines and sentences a digest quotes.

Every digest rule reads text through here (``core/digests/wording.py`` for items,
``core/digests/labels.py`` for topic labels), so a message reads the same to all of them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from core.text import EMOJI_CODE, INLINE_CODE, LINK, MENTION, WORD, sentences

_SLACK_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
_SLACK_BARE = re.compile(r"<(https?://[^>]+)>")
_SLACK_MENTION = re.compile(r"<[@#!]([A-Z0-9]+)(?:\|([^>]+))?>")
_CODE_BLOCK = re.compile(r"```.*?```", re.DOTALL)
# A code block ends the sentence that shows it when what follows starts as a sentence does
# ("I tried your command: [code] I was able to run it" is two).
_AFTER_A_CODE_BLOCK = re.compile(r"(?<=\[code\])\s+(?=[A-Z0-9@\"'(])")
_SPACES = re.compile(r"\s+")
# Text wholly in brackets is a note an export or a client left, not words anyone said:
# "[message text edited or deleted]", "[image]", "(attachment)", "[file: if-let map destructuring]".
BRACKETED_NOTE = re.compile(r"^\s*[\[(<{][^\[\]()<>{}]{0,80}[\])>}]\s*$")
# Slack's uploads until 2018 said so in a sentence of their own: "@ann uploaded a file: Typing
# tab results in... (https://...)". It names the file, as "[file: title]" does, and says no more.
UPLOAD_NOTICE = re.compile(r"^\s*@\S+ (?:uploaded|shared) an? (?:file|image|snippet|post)\b[^\n]*$", re.IGNORECASE)
# A line of pasted output has fewer than this share of plain words among at least this many
# tokens, mentions and links aside (``looks_like_output``): a log pasted line by line is many
# short lines ("nMaxConnections 384", "EXCEPTION: 15dbwrapper_error").
OUTPUT_MIN_TOKENS = 2
OUTPUT_WORD_SHARE = 0.5
# Neither words nor output: a mention, an emoji code, punctuation alone ("...", "|", "->").
_NEUTRAL_TOKEN = re.compile(r"^(?:@\S+|:[\w+-]+:|[^\w]+)$")
# A line of ``git log --decorate`` is output, however many of its words are plain: "ef700c2a1
# (HEAD -> dev, origin/dev) Merge branch 'jl777'".
_GIT_LOG_LINE = re.compile(r"^[0-9a-f]{7,40} \((?:HEAD\b|tag: |origin/)|\(HEAD -> ")
_EDGE_PUNCTUATION = ".,;:!?\"'()[]…-"
_LEADING_PUNCTUATION = re.compile(r"^[,;:.…\s-]+")
# Spoken hesitations, as speech-to-text and people typing the way they talk write them.
_FILLERS = frozenset(["um", "umm", "uhm", "uh", "uhh", "erm", "mm", "mmm", "hmm", "hm", "mm-hmm", "uh-huh"])
# Short lowercase words that are words, not false starts.
_SHORT_WORDS = frozenset(
    ["a", "i", "x", "ah", "am", "an", "as", "at", "be", "by", "do", "go", "he", "hi", "if", "in", "is", "it", "me", "my", "no", "of", "oh", "ok", "on", "or", "so", "to", "up", "us", "we", "ad", "ai", "ci", "cd", "db", "id", "js", "os", "pc", "pr", "qa", "tv", "ui", "ux", "vm", "vs"]
)
# Articles: one left before an abandoned start goes with it ("The b, uh, we will" -> "We will").
_ARTICLES = frozenset(["the", "a", "an"])
# Openers that carry nothing in a quoted line: "Okay, so um we'll ..." is quoted as "We'll ...".
_OPENERS = frozenset(["okay", "ok", "so", "well", "yeah", "yes", "right", "alright", "and", "but", "oh", "then", "anyway", "now"])
# An acknowledgement set off by a comma or a stop before what is said: "great, I'll ...",
# "agreed, let's ...", "ah that makes sense, I'll ...". "Great work on the release" keeps its word.
_ACKNOWLEDGING = (
    r"(?:ah|oh|great|agreed|sure|cool|perfect|nice|thanks|thank you|got it|(?:that )?makes sense|sounds good|"
    r"fine by me|good (?:idea|point|call)|\+1)"
)
_ACKNOWLEDGEMENT = re.compile(rf"^(?:{_ACKNOWLEDGING}[\s,]*)*{_ACKNOWLEDGING}\s*[,.!;:]+\s+", re.IGNORECASE)
# Typographic apostrophes ("I’ll", "we’re", as phones and Slack write them) read as plain ones.
APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'"})


# A digest reads each message's text many times (weights, topics, labels, later answers to a
# question), and cleaning it is the costly part.
@functools.lru_cache(maxsize=8192)
def clean_text(text: str) -> str:
    """Chat markup made readable: link labels, mention names, code blocks shown as [code];
    spoken hesitations removed (see ``tidy_speech``)."""
    text = _SLACK_LINK.sub(r"\2", text)
    text = _SLACK_BARE.sub(r"\1", text)
    text = _SLACK_MENTION.sub(lambda m: "@" + (m.group(2) or m.group(1)), text)
    text = _CODE_BLOCK.sub(" [code] ", text)
    return tidy_speech(_SPACES.sub(" ", text).strip())


def plain_words(text: str) -> list[str]:
    """The words of ``text`` without links, emoji codes and mentions, lower-cased."""
    text = LINK.sub(" ", text)
    text = EMOJI_CODE.sub(" ", text.lower())
    text = MENTION.sub(" ", text)
    return [word.lower() for word in WORD.findall(text)]


def bare_word(token: str) -> str:
    """A token as the word it is: edge punctuation off, lower-cased ("Okay," -> "okay")."""
    return token.strip(_EDGE_PUNCTUATION).lower()


def tidy_speech(text: str) -> str:
    """Hesitations out of a line of speech or chat: fillers ("um", "uh"), a word said twice
    ("the the"), and false starts ("th that", "the b we will"). Transcribed meetings and
    voice notes are full of them and they are noise in a quote; the model reads fewer
    tokens too. Conservative on purpose: only lowercase fragments count as false starts,
    so abbreviations typed in chat ("db", "C", "ui") stay."""
    tokens = text.split(" ")
    kept: list[str] = []
    capitalize = False
    for index, token in enumerate(tokens):
        core = bare_word(token)
        if not token:
            continue
        if core in _FILLERS:
            tail = token.rstrip(_EDGE_PUNCTUATION.replace(",", ""))
            ending = token[len(tail):] if tail != token else ""
            if ending.strip(",") and kept and not kept[-1].endswith(tuple(".!?")):
                kept[-1] = kept[-1].rstrip(",;:") + ending.strip(",")[:1]
            continue
        if kept and core and bare_word(kept[-1]) == core and not kept[-1].endswith(tuple(",;:.!?")):
            kept[-1] = token  # "the the": say it once
            continue
        following = next((bare_word(t) for t in tokens[index + 1 :] if bare_word(t) not in _FILLERS and t), "")
        fragment = token.isalpha() and token.islower() and len(token) <= 2 and token not in _SHORT_WORDS
        if fragment and following.isalpha() and (len(token) == 1 or following.startswith(token)) and following != token:
            # A false start: "th that", "the b we will". An article before a one-letter start
            # of something else began the abandoned phrase, so it goes too ("The b we will" ->
            # "We will"); before a restart of the same word it stays ("the b build" -> "the build").
            if len(token) == 1 and not following.startswith(token) and kept and bare_word(kept[-1]) in _ARTICLES:
                capitalize = capitalize or (len(kept) == 1 and kept[0][:1].isupper())
                kept.pop()
            continue
        if capitalize and not kept:
            token = token[:1].upper() + token[1:]
        capitalize = False
        kept.append(token)
    tidy = " ".join(_said_once(kept)).strip()
    tidy = _LEADING_PUNCTUATION.sub("", tidy)
    return tidy if tidy else text


def _said_once(tokens: list[str]) -> list[str]:
    """A two- or three-word phrase said twice in a row is said once: "you can you can ask"
    -> "you can ask" (a restart, which also made "can you" out of "you can"). The second
    saying's closing punctuation stays ("We can we can." -> "We can.")."""
    result: list[str] = []
    for token in tokens:
        result.append(token)
        for size in (3, 2):
            if len(result) >= 2 * size:
                first = result[-2 * size : -size]
                second = result[-size:]
                if [bare_word(t) for t in first] == [bare_word(t) for t in second] and not first[-1].endswith(tuple(",;:.!?")):
                    closing = second[-1][len(second[-1].rstrip(",;:.!?…")) :]
                    del result[-size:]
                    result[-1] += closing
                    break
    return result


def shorten(text: str, *, words: int = 24, chars: int = 180) -> str:
    """At most ``words`` words and about ``chars`` characters, with an ellipsis when cut
    (display only: what the model reads is never cut). A pasted error line has few spaces,
    so the character limit is what keeps it a bullet and not a wall."""
    parts = text.split()
    short = " ".join(parts[:words])
    if len(short) > chars:
        cut = short.rfind(" ", 0, chars)
        short = short[: cut if cut > chars // 2 else chars]
    if short == " ".join(parts):
        return text
    return short.rstrip(",;: ") + "…"


def quotable(sentence: str) -> str:
    """A sentence as a bullet quotes it: openers ("Okay, so ...") and an acknowledgement set off
    before what is said ("great, I'll write the changelog entry", "ah that makes sense, I'll
    rotate them") dropped, and then the new first word capitalised (what the writer
    capitalised, or not, is left alone)."""
    text = sentence
    while True:
        words = text.split()
        if len(words) > 1 and bare_word(words[0]) in _OPENERS:
            text = " ".join(words[1:]).lstrip(",;: ")
            continue
        acknowledged = _ACKNOWLEDGEMENT.match(text)
        if acknowledged and len(text) > acknowledged.end():
            text = text[acknowledged.end() :]
            continue
        break
    if text == sentence or not text:
        return sentence
    return text[:1].upper() + text[1:]


def looks_like_output(line: str) -> bool:
    """A pasted log, command or code line outside a code block: "chainparams_commandline called
    call komodo_args.(/home/wallet/komodo/src/komodod) NOTARY_PUBKEY.() initialized at
    1576835974 ...". Fewer than half its tokens are plain words."""
    if _GIT_LOG_LINE.search(line):
        return True
    line = INLINE_CODE.sub(" `code` ", line)  # a code span is one thing said, however long
    tokens = [token for token in line.split() if not _NEUTRAL_TOKEN.match(token) and not LINK.match(token)]
    if len(tokens) < OUTPUT_MIN_TOKENS:
        return False
    return sum(1 for token in tokens if _plain_word(token)) < OUTPUT_WORD_SHARE * len(tokens)


def _plain_word(token: str) -> bool:
    """A word as people write it, in any alphabet: "Database", "don't", "EXCEPTION", "кложуре";
    not "nMaxConnections", "15dbwrapper_error" or "komodo_args.(/home/wallet)"."""
    word = token.strip(_EDGE_PUNCTUATION + "“”‘’").replace("'", "").replace("’", "")
    return word.isalpha() and (word[1:].islower() or word.isupper() or len(word) == 1)


def lines_without_output(text: str) -> list[str]:
    """A message's lines as written, a code block as "[code]", without its lines of pasted
    output (``looks_like_output``)."""
    lines = _CODE_BLOCK.sub(" [code] ", text).splitlines()
    return [line for line in lines if not looks_like_output(clean_text(line))]


def said_lines(text: str) -> list[str]:
    """A message's own lines, cleaned (``clean_text``): a code block is "[code]"; a line quoted
    with ">" is someone else's words and a pasted log line nobody's, so both are left out."""
    said = (clean_text(line) for line in lines_without_output(text) if not line.lstrip().startswith(">"))
    return [line for line in said if line]


def said_sentences(text: str) -> list[str]:
    """A message's own sentences (``said_lines``). A line break ends one: chat writes a link,
    then "I will notify our host" on the next line, with no full stop between; a code block
    ends one before a capital (``_AFTER_A_CODE_BLOCK``)."""
    return [
        part
        for line in said_lines(text)
        for sentence in sentences(line)
        for part in _AFTER_A_CODE_BLOCK.split(sentence)
    ]


# Words in quotation marks are someone else's, reported: "they keep saying, 'Please can we have
# this offer?'", "somebody can say, 'Well, I'm going to go back into work'". An apostrophe
# inside a word ("I'm") does not end a single-quoted span, nor does a mark after a number open
# one (a 12" screen).
_QUOTED = re.compile(r"(?<!\w)[\"“„«][^\"“”„«»]*[\"”»](?!\w)|(?<!\w)'(?:[^']|(?<=\w)'(?=\w))*'(?!\w)")


# A quotation a sentence break cut in two: a double mark that opens with no close runs to the
# sentence's end ('Quote: "Also: what if ... stop working?'), and one that closes with no open
# runs from its start ('Seems like a time bomb." could be warned at build time'). A mark after
# a number closes nothing (a 12" screen).
_OPENS = re.compile(r"(?<!\w)[\"“„«](?=\S)")
_CLOSES = re.compile(r"(?<=[^\W\d_]|[.!?,])[\"”»](?!\w)")


Span = tuple[int, int]


def _whole_quotations(sentence: str) -> list[Span]:
    return [(span.start(), span.end()) for span in _QUOTED.finditer(sentence)]


def _cut_spans(sentence: str, whole: Sequence[Span]) -> list[Span]:
    """The halves of quotations a sentence break cut in two, outside the ``whole`` ones."""
    outside = list(sentence)
    for start, end in whole:
        outside[start:end] = " " * (end - start)
    blanked = "".join(outside)
    opening, closing = _OPENS.search(blanked), _CLOSES.search(blanked)
    spans = []
    if opening and not (closing and closing.start() > opening.start()):
        spans.append((opening.start(), len(sentence)))
    if closing and not (opening and opening.start() < closing.start()):
        spans.append((-1, closing.end()))
    return spans


def quoted_spans(sentence: str) -> list[Span]:
    """Every span of a sentence in quotation marks, whole or cut by a sentence break."""
    whole = _whole_quotations(sentence)
    return whole + _cut_spans(sentence, whole)


def inside(spans: Sequence[Span], position: int) -> bool:
    return any(start < position < end for start, end in spans)


def cuts_a_quotation(sentence: str) -> bool:
    """Whether a sentence holds half of a quotation a sentence break cut in two."""
    return bool(_cut_spans(sentence, _whole_quotations(sentence)))
