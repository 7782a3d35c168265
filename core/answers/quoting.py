"""Quote-first answers: the answer is made of the sources' own sentences.

A small base model reads well and writes badly: asked to write, Gemma 3 270M turned "there is
no evidence that pets transmit the virus" into "Yes, pets can transmit the virus". Asked to
*choose*, under a grammar that only lets it write a sentence number or ``none``, it cannot
reverse or invent anything. So the packed sources are split into passages (a sentence, or a
list with the line that introduces it), ranked by the embedder, and the model picks the one
that answers; the answer is that passage verbatim, cleaned of markup and cited.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

import numpy as np

from core.answers.checks import is_negative
from core.digests.conversations import RENDERED_MESSAGE
from core.knowledge.chunking import own_line, rejoin_cuts
from core.ports import Embedder, LanguageModel, Prompt
from core.text import (
    FUNCTION_WORDS,
    INLINE_CODE,
    LIST_ITEM,
    QUESTION_WORDS,
    TABLE_RULE,
    answer_words,
    asks,
    document_sentences,
    singular_acronyms,
    stem,
    words,
)
from core.types import Hit

CHOICE_INSTRUCTIONS = (
    "Pick the sentence that answers the question. Reply with its number, "
    "or none if no sentence answers it."
)
# A worked example: a base model copies a shape it is shown far better than it follows a rule.
CHOICE_EXAMPLE = (
    "Sentences:\n"
    "1. Staff park in the north garage.\n"
    "2. Visitors use bays 1 to 4 at reception.\n"
    "3. The garage closes at 22:00.\n"
    "Question: Where do visitors park?\n"
    "Answer: 2"
)
CHOICE_PREFIX = "Answer:"
NONE = "none"
# How much the share of the question's words a passage holds (``word_shares``) adds to its
# similarity: 0.3 was best of 0.1 to 0.5 on the development sets (docs/quality-log.md, Change 23).
WORDS_WEIGHT = 0.3
# A passage this much of whose words the answer already holds says nothing new.
REPEATED_SHARE = 0.8
# A passage that says this many words in a row as the answer already does restates it: the same
# sentence copied into a second page and carried on differently there.
REPEATED_RUN = 8
# A section heading asks the asker's question from this cosine similarity on: 0.7 and 0.75 gave
# the same development answers, 0.8 missed "a #digests channel" for "a different channel".
HEADING_MATCH = 0.75
# A table quoted whole after the sentence that introduces it, or a list read on past its
# chunk, of at most this many rows or items; a longer one is a reference to look things up in,
# not an answer.
MAX_TABLE_ROWS = 12
# A list of bullets this long is a reference (commands, settings): the items that answer the
# question are quoted, not every item. Items within ``ITEM_MARGIN`` of the best one answer too.
LONG_LIST = 4
ITEM_MARGIN = 0.1
# A chat message leads to its author's question only a few messages on: further, it is another matter.
ASKER_RUN = 2

_HEADING = re.compile(r"^\s*#{1,6}\s")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1|(?<![\w*])\*(?!\s)([^*\n]+?)\*(?![\w*])")
_TAG = re.compile(r"</?[A-Za-z][^<>]{0,200}>")
# An autolink, "<https://api.slack.com/apps>", is an address to show, not a tag to drop.
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^<>\s]+)>")
# A code span as ``INLINE_CODE`` reads it, in a group so that ``split`` keeps the spans.
_CODE_SPAN = re.compile(f"({INLINE_CODE.pattern})")
# A list line as quoted: a bullet, or a step's own number ("3. "), since steps are followed in order.
_ITEM_LINE = re.compile(r"^(?:• |\d{1,3}\. )")
_YES_OR_NO_WORDS = r"(?:yes|no|not yet)"
# A sentence that is only a yes or a no ("No. The symptoms are similar in children.") answers
# the question its source was written for: quoted only at the head of its own paragraph.
_BARE_YES_OR_NO = re.compile(rf"^{_YES_OR_NO_WORDS}[.!]$", re.IGNORECASE)
# How many sentences a bare yes or no is quoted with to reach the chosen sentence of its paragraph.
MAX_AFTER_BARE_YES_OR_NO = 2
# A paragraph that opens with a yes or a no answers a yes-or-no question outright.
_OPENS_YES_OR_NO = re.compile(rf"^{_YES_OR_NO_WORDS}[,.!:;]", re.IGNORECASE)
# A yes or a no that opens a sentence with more after it: "Yes: ...", "No, ...".
_YES_OR_NO_OPENER = re.compile(r"^(?:yes|no)\s*[,:;]\s+", re.IGNORECASE)
# A sentence that opens in lower case or with a bracket goes on from what is above it.
_GOES_ON = re.compile(r"^[(a-z]")
# A sentence that opens by pointing back at the one before it reads as nonsense alone.
# "In the table, `cron` sets ..." points back at the table the sentence before names.
_POINTS_BACK = re.compile(
    r"^(?:This|That|These|Those|It|Its|They|Their|Them|Such|Both|Otherwise|Instead|However|Also|Then|"
    r"In (?:this|that|these|those|such|the same|the (?:table|list|file|section|example))\b)"
)
# So does one that ends by pointing back: "Developers may ask for a MacBook Pro instead." (of
# what?), "Contractors get one too.", "Interns do not get one either."
_POINTS_BACK_AT_END = re.compile(r"\b(?:instead|too|as well|either)\s*(?:\([^()]*\)\s*)?[.!]?$", re.IGNORECASE)
# A table cell that is only a figure: a number, a date or a time ("2", "2024-05-01", "10:00").
_BARE_FIGURE = re.compile(r"^[#\d][\d.,:/\-]*$")
# A sentence that only sends the reader elsewhere answers nothing by itself: "See CDC's website
# about what to do if you get sick.", "More information is available here.", "See docs/ingesting.md."
# The citation links the source already. "See a doctor if you have a fever" does answer.
_SENDS_TO = re.compile(
    r"^(?:please |also |you can |for (?:more|further|additional|the latest) (?:information|details|info|guidance)"
    r"(?: (?:on|about) [^,]{1,80})?,? )?(?:see|visit|read|check(?: out)?|refer to|go to|consult|click|view)\b"
    r"(?=.{0,120}?(?:\b(?:website|web site|site|page|webpage|link|section|guide|guidance|docs?|documentation|article|"
    r"faq|fact ?sheets?|resources|here|below|above)\b|https?://|www\.|\.md\b))"
    r"|^(?:more|further|additional) (?:information|details|info|guidance)\b|^(?:learn|find out|read) more\b",
    re.IGNORECASE,
)

# A page's sentence about itself ("This page walks an admin through the set-up"): it says what
# the page is for, which a question asked in chat never needs.
_ABOUT_ITSELF = re.compile(
    r"^(?:this|the following) (?:page|section|guide|document|chapter|article|tutorial|manual|handbook)\b"
    r"[^.]{0,60}?\b(?:says|explains|describes|shows|covers|lists|walks|tells|gives|introduces|outlines|is about)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Passage:
    """A sentence, a list or a table row of one packed source, in reading order."""

    source: int  # the source's citation number (1 = the first packed hit)
    order: int  # position within the source
    text: str  # cleaned, as the user will read it
    block: int = -1  # the paragraph, list, table row or code block it is part of (-1: not known)
    table: int = -1  # the table a row belongs to (-1: not a table row)


def clean(text: str) -> str:
    """Markdown and HTML markup removed, the words kept: links become their text, emphasis and
    heading marks go, an autolink keeps its address, inline code keeps its backticks (both
    platforms show it as code)."""
    text = _HEADING.sub("", _LINK.sub(lambda m: m.group(1), text))
    # Code spans stay as written: `TIDINGS_<SECTION>__<KEY>` is neither a tag nor emphasis.
    parts = _CODE_SPAN.split(text)
    for i in range(0, len(parts), 2):
        parts[i] = _TAG.sub("", _EMPHASIS.sub(lambda m: m.group(2) or m.group(3) or "", _AUTOLINK.sub(r"\1", parts[i])))
    return " ".join("".join(parts).split())


def _split_paragraph(lines: list[str]) -> list[str]:
    return document_sentences(" ".join(line.strip() for line in lines))


def _runs_into(paragraph: Sequence[str], line: str) -> bool:
    """Whether ``line`` starts a unit of its own in a paragraph that is no chat message: a title,
    byline or label (lines without a stop) is never the start of the sentence after it."""
    return RENDERED_MESSAGE.match(paragraph[0]) is None and own_line(paragraph[-1], line)


def passages_of(text: str, source: int) -> list[Passage]:
    """The passages of one source: sentences of its paragraphs; a list with the sentence that
    introduces it (a list item alone rarely answers "which ..."), a table row, a code block."""
    text = rejoin_cuts(text)  # a long sentence's pieces that share this chunk read as one again
    units: list[str] = []
    blocks: list[int] = []  # each unit's block: a paragraph's sentences share one
    paragraph: list[str] = []
    items: list[str] = []
    markers: list[str] = []  # each item's marker as shown: "• ", or a step's "3. "
    lists: set[int] = set()  # the units that are lists
    code: list[str] | None = None
    code_in_item = False  # "4. Put both in `.env`:" and the block under it are one step
    # A table's first row is held until the next line says whether it names the columns.
    table: list[list[str]] = []
    header: list[str] = []
    row_table: dict[int, int] = {}  # each table row's table, by its unit
    tables = 0  # tables ended so far: the number of the one being read

    def add(unit: str, block: int | None = None) -> None:
        units.append(unit)
        blocks.append(block if block is not None else (blocks[-1] + 1 if blocks else 0))

    def end_paragraph() -> None:
        if paragraph:
            # A chat message is quoted whole, with who said it when: its sentences alone ("Correct?")
            # would lose both, and run on into the next message where a line ends without a stop.
            chat = RENDERED_MESSAGE.match(paragraph[0]) is not None
            sentences = [" ".join(paragraph)] if chat else _split_paragraph(paragraph)
            block = blocks[-1] + 1 if blocks else 0
            for sentence in sentences:
                add(sentence, block)
            paragraph.clear()
        end_table()

    def add_row(cells: list[str]) -> None:
        row_table[len(units)] = tables
        add(_table_row(cells, header))

    def end_table() -> None:
        nonlocal header, tables
        for row in table:
            add_row(row)
        if table or header:
            tables += 1
        table.clear()
        header = []

    def end_list() -> None:
        if items:
            intro = ""
            if units and units[-1].rstrip().endswith(":"):
                intro = units.pop()
                blocks.pop()
            body = "\n".join(f"{marker}{_clean_item(item)}" for marker, item in zip(markers, items, strict=True))
            add(f"{intro}\n{body}" if intro else body)
            lists.add(len(units) - 1)
            items.clear()
            markers.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if code is not None:
            if stripped.startswith("```"):
                if code and code_in_item:
                    items[-1] += "\n" + _fenced(code)
                elif code:
                    add(_fenced(code))
                code, code_in_item = None, False
            else:
                code.append(line.rstrip())
            continue
        if stripped.startswith("```"):
            end_paragraph()
            code_in_item = bool(items) and items[-1].rstrip().endswith(":")
            if not code_in_item:
                end_list()
            code = []
            continue
        if not stripped or _HEADING.match(stripped):
            end_paragraph()
            if not stripped and items:
                continue  # a blank line inside a loose list keeps the list going
            end_list()
            continue
        if item := LIST_ITEM.match(line):
            end_paragraph()
            marker = item.group().strip()  # "-", "•", "3." or "2)"
            markers.append(f"{marker[:-1]}. " if marker[0].isdigit() else "• ")
            items.append(line[item.end() :])
            continue
        if items and line[:1].isspace():
            # An item's continuation line; after the item's code block, its next paragraph.
            items[-1] += ("\n" if items[-1].endswith("```") else " ") + stripped
            continue
        end_list()
        if stripped.startswith("|"):
            if paragraph:
                end_paragraph()
            cells = [clean(cell) for cell in stripped.strip("|").split("|")]
            if TABLE_RULE.match(stripped):
                if len(table) == 1 and not header:
                    header = table.pop()  # the row above the rule names the columns
            elif header:
                add_row(cells)
            else:
                table.append(cells)
            continue
        end_table()
        if RENDERED_MESSAGE.match(stripped):
            end_paragraph()  # each message of a chat history is a paragraph of its own
        elif paragraph and _runs_into(paragraph, stripped):
            end_paragraph()  # "Severity" above "The complete clinical picture ..." is not its start
        paragraph.append(stripped)
    end_paragraph()
    if code and code_in_item:
        items[-1] += "\n" + _fenced(code)
    end_list()
    if code and not code_in_item:
        add(_fenced(code))
    passages = []
    for order, (unit, block) in enumerate(zip(units, blocks, strict=True)):
        if order in lists:
            shown = _clean_list(unit)
        elif unit.startswith("```"):
            shown = unit
        else:
            shown = clean(unit)
        if len(shown.strip()) > 3 or _BARE_YES_OR_NO.match(shown.strip()):
            passages.append(Passage(source=source, order=order, text=shown.strip(), block=block, table=row_table.get(order, -1)))
    return passages


def _fenced(lines: Sequence[str]) -> str:
    return "```\n" + "\n".join(lines) + "\n```"


def _clean_item(item: str) -> str:
    """A list item cleaned of markup, the code block under it (if any) kept as written."""
    lines: list[str] = []
    in_code = False
    for line in item.split("\n"):
        if line.startswith("```"):
            in_code = not in_code
            lines.append(line)
        else:
            lines.append(line if in_code else clean(line))
    return "\n".join(lines)


def _clean_list(text: str) -> str:
    """A list's lines: its introduction cleaned, its items (already clean) and code as they are."""
    lines: list[str] = []
    in_code = False
    for line in text.split("\n"):
        if line.startswith("```"):
            in_code = not in_code
        lines.append(line if in_code or line.startswith("```") or _ITEM_LINE.match(line) else clean(line))
    return "\n".join(lines)


def _table_row(cells: list[str], header: list[str]) -> str:
    """A table row as a sentence. Beyond two columns each cell is named by its column ("Needs
    a public URL — Socket Mode: no; HTTP mode: yes"): bare cells side by side read as nonsense.
    A first cell that is only a number or a date is named too ("Week 2 — Primary: Tom"): "2"
    alone says nothing, and "who is on call in week 2?" could not find it."""
    if cells and header and header[0] and _BARE_FIGURE.match(cells[0]):
        cells = [f"{header[0]} {cells[0]}", *cells[1:]]
    if len(header) <= 2 or len(cells) <= 2:
        return ": ".join(cell for cell in cells if cell)
    named = "; ".join(f"{name}: {cell}" if name else cell for name, cell in zip(header[1:], cells[1:], strict=False) if cell)
    return f"{cells[0]} — {named}" if cells[0] else named


def passages_for(hits: Sequence[Hit]) -> list[Passage]:
    return [p for n, hit in enumerate(hits, start=1) for p in passages_of(hit.chunk.text, n)]


def _words(text: str) -> set[str]:
    return set(answer_words(text))


_JOINED = re.compile(r"[-_]")


def _stems(text: str) -> set[str]:
    # Ranking only, so endings may meet ("ingest" finds "re-ingesting", "installed" finds
    # "install"); the checks compare unstemmed words, where different words must not meet.
    # A name joined by hyphens or underscores is read as its words: "log level" finds
    # `log_level`, as "re-ingesting" finds "ingest".
    return {
        stem(part)
        for word in words(singular_acronyms(text))
        for part in _JOINED.split(word)
        if len(part) >= 2 and part not in FUNCTION_WORDS and part not in QUESTION_WORDS
    }


def similarities(question: str, passages: Sequence[Passage], embedder: Embedder) -> list[float]:
    """The question's cosine similarity with each passage read alone."""
    if not passages:
        return []
    vectors = np.asarray(embedder.embed([question, *(without_examples(p.text) for p in passages)]))
    return [float(value) for value in vectors[1:] @ vectors[0]]


def rank(
    question: str,
    passages: Sequence[Passage],
    embedder: Embedder | None,
    titles: Sequence[str] = (),
    *,
    alone: Sequence[float] | None = None,
) -> list[tuple[float, Passage]]:
    """Passages best first. With an embedder: the question's cosine similarity with the passage
    read under its source's title ("Tokens never go in the configuration file" says little
    alone) and with the passage alone (a title can outshout a passage that answers), averaged,
    plus a share of the question's words the passage holds, the rarer among the passages the
    more each counts (``word_shares``). Without an embedder, by that share alone. Chosen on the
    development questions (docs/quality-log.md, Changes 8 and 23).
    ``alone``: the similarities with the passages alone, when already measured (``similarities``)."""
    if not passages:
        return []

    def titled(p: Passage, text: str) -> str:
        title = titles[p.source - 1] if p.source <= len(titles) else ""
        return f"{title}: {text}" if title else text

    plain_texts = [without_examples(p.text) for p in passages]
    read = [titled(p, text) for p, text in zip(passages, plain_texts, strict=True)]
    overlap = word_shares(question, read)
    if embedder is not None:
        measured = alone is not None and len(alone) == len(passages)
        # One batch: the question, the titled passages and, unless measured, the plain ones.
        texts = [question, *read] if measured else [question, *read, *plain_texts]
        vectors = np.asarray(embedder.embed(texts))
        similar = vectors[1:] @ vectors[0]
        plain = np.asarray(alone) if measured else similar[len(passages):]
        mixed = (similar[: len(passages)] + plain) / 2
        scores = [float(mixed[i]) + WORDS_WEIGHT * overlap[i] for i in range(len(passages))]
    else:
        scores = overlap
    scored = [(score, -i, p) for i, (score, p) in enumerate(zip(scores, passages, strict=True))]
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [(score, passage) for score, _, passage in scored]


def asked_by_heading(question: str, titles: Sequence[str], embedder: Embedder | None, *, least: float) -> int | None:
    """The source (numbered from 1) whose section heading is a question that asks what
    ``question`` asks ("How do I connect Tidings to Slack?" for "how do I connect Slack?"),
    the closest if several do; None when no heading does. A page of common questions answers
    each under its question; a passage elsewhere that shares the question's words ("For HTTP
    mode, set ...") answers a narrower one."""
    if embedder is None:
        return None
    asked = [(n, title.split(" > ")[-1].strip()) for n, title in enumerate(titles, start=1)]
    asked = [(n, heading) for n, heading in asked if heading.endswith("?")]
    if not asked:
        return None
    vectors = np.asarray(embedder.embed([question, *(heading for _, heading in asked)]))
    similar = vectors[1:] @ vectors[0]
    best = int(np.argmax(similar))
    return asked[best][0] if float(similar[best]) >= least else None


# A question quoted as an example of what a rule does ("how do I reset the router?"): its words are
# the example's, not the passage's subject.
_EXAMPLE = re.compile(r"[\"“][^\"“”]{0,200}?\?[^\"“”]{0,80}[\"”]")


def without_examples(text: str) -> str:
    """The text without the questions it quotes as examples, unless little else is left."""
    rest = _EXAMPLE.sub(" ", text)
    return rest if len(rest.split()) >= 4 else text


def word_shares(question: str, texts: Sequence[str]) -> list[float]:
    """The share of the question's words each text holds, each word weighted by how few of the
    texts hold it: "Out of the box Tidings runs Gemma 3 270M" holds "box", which one passage
    says, and should outweigh one that holds only "language" and "model", which many say.
    Words meet by their stems (``_stems``)."""
    wanted = _stems(question)
    if not wanted:
        return [0.0] * len(texts)
    held = [wanted & _stems(without_examples(text)) for text in texts]
    count = len(texts)
    # Smoothed inverse document frequency, as full-text search weighs a word, over these texts.
    weight = {word: math.log((count + 1) / (sum(word in h for h in held) + 1)) + 1 for word in wanted}
    total = sum(weight.values())
    return [sum(weight[word] for word in h) / total for h in held]


def _chat_author(passage: Passage) -> str | None:
    """Who wrote a chat history's message, None for any other passage."""
    said = RENDERED_MESSAGE.match(passage.text)
    return said.group(1) if said else None


def _reply(asked: Passage, passages: Sequence[Passage]) -> Passage | None:
    """The first message after a chat message that asks, in its source, by someone else: the
    first that says something rather than asks back ("did you claim to a new address?" only
    narrows the question down), else the first."""
    author = _chat_author(asked)
    replies = [
        p for p in passages
        if p.source == asked.source and p.order > asked.order and _chat_author(p) not in {None, author}
    ]
    return next((p for p in replies if not _asks_in_chat(p)), replies[0] if replies else None)


def _asks_in_chat(passage: Passage) -> bool:
    if _chat_author(passage) is None:
        return False  # most passages: no chat message, nothing more to read
    return asks(RENDERED_MESSAGE.sub("", passage.text))


def _asked_after(chosen: Passage, passages: Sequence[Passage]) -> list[Passage]:
    """``chosen`` and its author's next messages up to the one that asks, when one does before
    anyone else speaks: a problem told first and asked about after ("fatal: destination path
    'komodo' already exists" / "Do I have to delete the folder?") is answered by the reply to
    the question. Nothing when the author asks nothing before someone else speaks."""
    author = _chat_author(chosen)
    if author is None:
        return []
    run = [chosen]
    for p in sorted((p for p in passages if p.source == chosen.source and p.order > chosen.order), key=lambda p: p.order):
        if _asks_in_chat(run[-1]) or len(run) > ASKER_RUN or _chat_author(p) != author:
            break
        run.append(p)
    while run and not _asks_in_chat(run[-1]):
        run.pop()
    return run


def _asked_before(chosen: Passage, passages: Sequence[Passage]) -> Passage | None:
    """The question ``chosen``'s author asked a message or two before it, nobody else speaking
    in between: what an asker tells after asking ("Any way to deal with this?" / "User:
    FazeBit News#6275") belongs to that question, and the reply to it answers both."""
    author = _chat_author(chosen)
    if author is None:
        return None
    earlier = sorted((p for p in passages if p.source == chosen.source and p.order < chosen.order), key=lambda p: p.order)
    for p in reversed(earlier[-ASKER_RUN:]):
        if _chat_author(p) != author:
            return None
        if _asks_in_chat(p):
            return p
    return None


def asked_unanswered(passage: Passage, passages: Sequence[Passage]) -> bool:
    """A chat message that asks and that nobody else answered in its source: someone asking
    what you asked ("my wallet is stuck syncing at 99.9% too, any advice?") answers nothing."""
    return _asks_in_chat(passage) and _reply(passage, passages) is None


def excerpt(chosen: Passage, passages: Sequence[Passage]) -> list[Passage]:
    """The chosen passage and the one after it in its source: a sentence alone often leaves out
    what the next one says ("Slash commands are registered when the bot starts." / "The first
    time, Discord can take up to an hour to show them."), with what either cannot be read
    without: the sentence a passage points back to ("That file lists every setting."), the line
    that introduces a code block, the code block a line ending in a colon introduces. After a
    chat message that asks, or a problem its author asks about in the next message or two, the
    one after it is the first reply by someone else that answers (``_reply``); a message its
    author wrote just after asking comes with that question and its reply (``_asked_before``)."""
    asking = _asked_after(chosen, passages)
    reply = _reply(asking[-1], passages) if asking else None
    asked = None if asking else _asked_before(chosen, passages)
    answered = _reply(asked, passages) if asked is not None else None
    if asked is not None and answered is not None:
        return [asked, chosen, answered, *introduced(answered, passages)]
    following = [*asking[1:], reply] if reply is not None else [
        p
        for p in passages
        if p.source == chosen.source and p.order == chosen.order + 1
        and not says_only_yes_or_no(p) and not describes_its_page(p)
    ][:1]
    if following:
        following = table_after(chosen, passages) or following
    return [*pointed_at(chosen, passages), chosen, *following, *introduced([chosen, *following][-1], passages)]


def yes_or_no(chosen: Passage, passages: Sequence[Passage]) -> list[Passage]:
    """The sentence that opens ``chosen``'s paragraph when it says yes or no ("Yes, your
    employer will continue to pay your salary."): what a yes-or-no question asks first, which
    a sentence further on may leave out or seem to turn around ("Should your employer not pay,
    ..."). A bare "Yes." or "No." comes with the sentences between it and ``chosen``, at most
    ``MAX_AFTER_BARE_YES_OR_NO`` (else the one after it). Nothing when ``chosen`` opens its
    paragraph itself."""
    first = _paragraph_opening(chosen, passages)
    if first is None or not opening_yes_or_no(first.text):
        return []
    if not says_only_yes_or_no(first):
        return [first]
    # A bare "Yes." says nothing of how: the sentences up to the chosen one come with it ("Yes.
    # Go to Settings > Profile and enter the new address. Until you confirm, ..."), or, further
    # on, the one after it.
    between = sorted(
        (p for p in passages if p.source == chosen.source and p.block == chosen.block and first.order < p.order < chosen.order),
        key=lambda p: p.order,
    )
    return [first, *(between if len(between) <= MAX_AFTER_BARE_YES_OR_NO else between[:1])]


def _paragraph_opening(chosen: Passage, passages: Sequence[Passage]) -> Passage | None:
    """The passage that opens ``chosen``'s paragraph; None when ``chosen`` opens it itself or
    its paragraph is not known."""
    if chosen.block < 0:
        return None
    paragraph = [p for p in passages if p.source == chosen.source and p.block == chosen.block]
    first = min(paragraph, key=lambda p: p.order, default=chosen)
    return first if first.order < chosen.order else None


def answer_opening(question: str, chosen: Passage, passages: Sequence[Passage], title: str) -> list[Passage]:
    """The sentence that opens ``chosen``'s paragraph when its section's heading is a question
    (a page of common questions, an FAQ entry) and it holds a word of ``question`` that the
    heading does not: the entry's own answer, which a sentence further on narrows or qualifies
    ("Word documents ... are not read" after "Tidings reads Markdown, ... and PDF" for "can I
    ingest a pdf"). Nothing in any other section, when ``chosen`` opens its paragraph, when
    the opening says yes or no (that answers the entry's own question, ``yes_or_no``), or when
    it shares no word with the question beyond the heading's: "Not all diseases ... require
    treatment" answers "What are the treatment options?", not "is there a cure yet", and "This
    virus was first detected in Wuhan" holds only the "virus" of "How does the virus spread?"."""
    heading = title.split(" > ")[-1].strip()
    first = _paragraph_opening(chosen, passages) if heading.endswith("?") else None
    if first is None or opening_yes_or_no(first.text) is not None:
        return []
    return [first] if (_stems(question) - _stems(heading)) & _stems(first.text) else []


def opening_yes_or_no(text: str) -> str | None:
    """"yes" or "no" when ``text`` opens with one ("No. Antibiotics do not work against
    viruses.", "Not yet, ..."), else None."""
    opening = _OPENS_YES_OR_NO.match(text)
    if opening is None:
        return None
    return "yes" if opening.group().lower().startswith("yes") else "no"


def says_only_yes_or_no(passage: Passage) -> bool:
    """A passage that is a bare "Yes." or "No.": never quoted for itself (``yes_or_no``)."""
    return _BARE_YES_OR_NO.match(passage.text) is not None


def without_yes_or_no(passage: Passage) -> Passage:
    """``passage`` without the yes or no it opens with ("Yes: `docker build ...` builds an
    image"), for a question that is not a yes-or-no one ("how do I run it with docker?"): the
    yes answers the source's own question ("Can I run Tidings in Docker?"), and the rest of the
    sentence answers this one. A sentence that would keep fewer than three words stays whole."""
    rest = _YES_OR_NO_OPENER.sub("", passage.text, count=1)
    if rest == passage.text or len(words(rest)) < 3:
        return passage
    return replace(passage, text=rest[0].upper() + rest[1:])


def describes_its_page(passage: Passage) -> bool:
    """A sentence that says what its own page or section is about ("This page says how to watch
    it."): never quoted, neither for itself nor after the sentence it follows."""
    return _ABOUT_ITSELF.match(passage.text) is not None


def only_describes_its_page(text: str) -> bool:
    """A chunk whose every sentence says what its page is about (a page's introduction alone in
    its chunk): nothing in it answers a question."""
    passages = passages_of(text, 1)
    return bool(passages) and all(describes_its_page(p) for p in passages)


def only_points_elsewhere(passage: Passage) -> bool:
    """A passage that only sends the reader to another page or section: quoted only after the
    passage it follows (``excerpt``), never for itself."""
    return _SENDS_TO.match(passage.text) is not None


_ENDS_SENTENCE = re.compile(r"[.!?][\"'”’)\]]*\s*$")


def opens_document(passage: Passage, hits: Sequence[Hit], passages: Sequence[Passage]) -> bool:
    """A document's opening lines before its first sentence (a title, a byline, a date: lines
    without a stop), which answer nothing themselves: a paper's "Functional Genetic Variants ...
    https://... License: cc-by" was quoted for "what is the main cause of HIV-1 infection in
    children?" instead of the abstract's first sentence after it."""
    chunk = hits[passage.source - 1].chunk
    if chunk.position != 0 or chunk.kind != "document" or _ENDS_SENTENCE.search(passage.text):
        return False
    own = [p for p in passages if p.source == passage.source]
    before = [p for p in own if p.order < passage.order]
    return not any(_ENDS_SENTENCE.search(p.text) for p in before) and any(
        _ENDS_SENTENCE.search(p.text) for p in own if p.order > passage.order
    )


def tabled(passage: Passage, after: Passage, passages: Sequence[Passage]) -> list[Passage]:
    """The rows of the table that starts with ``after``, the passage right after ``passage``,
    which introduces it ("The bot's permissions are these scopes" above a table of scopes): a
    row alone answers "which ..." as little as a list item does. Nothing when ``after`` is no
    table row, when ``passage`` is a row itself, or for a table of more than ``MAX_TABLE_ROWS`` rows."""
    if passage.table >= 0 or after.table < 0:
        return []
    rows = [p for p in passages if p.source == passage.source and p.table == after.table]
    return rows if len(rows) <= MAX_TABLE_ROWS else []


def table_after(passage: Passage, passages: Sequence[Passage]) -> list[Passage]:
    """The rows of the table right after ``passage``, when it introduces one (``tabled``)."""
    after = [p for p in passages if p.source == passage.source and p.order == passage.order + 1][:1]
    return tabled(passage, after[0], passages) if after else []


def cut_off(lead: Sequence[Passage], passages: Sequence[Passage]) -> Passage | None:
    """``lead``'s last passage when it may go on in the section's next chunk: a list quoted
    with the sentence that introduces it, numbered steps, the last row of a table quoted
    whole after the sentence that introduces it (``tabled``), or a sentence that introduces
    what follows it ("... writes one JSON object per line:"), that also ends its chunk. Else
    None. A bare list of bullets is a reference (a page's settings, say): its other items would
    only add to an answer about one of them."""
    if not lead:
        return None
    last = lead[-1]
    if any(p.order > last.order for p in passages if p.source == last.source):
        return None
    if last.table >= 0:
        first_row = min(p.order for p in lead if p.source == last.source and p.table == last.table)
        introduced = any(p.source == last.source and p.table < 0 and p.order == first_row - 1 for p in lead)
        return last if introduced else None
    items = items_of(last)
    introduced = bool(items) and not _ITEM_LINE.match(last.text)
    steps = bool(items) and items[0][:1].isdigit()
    return last if introduced or steps or _introduces_what_follows(last) else None


def going_on(text: str, last: Passage, quoted: Collection[str]) -> tuple[list[Passage], bool]:
    """What goes on with ``last`` (a table row or a list) at the start of the next chunk's
    ``text``, less what is already ``quoted`` (chunks overlap by a row or an item), numbered on
    from ``last`` as part of its source; and whether it runs to the end of this chunk too."""
    passages = passages_of(text, last.source)
    if _introduces_what_follows(last):
        return _introduced_in(passages, last), False
    if last.table >= 0:
        leading = list(itertools.takewhile(lambda p: p.table == 0, passages))
        new = [p for p in leading if p.text not in quoted]
        rows = [
            replace(p, order=last.order + i, block=last.block + i, table=last.table) for i, p in enumerate(new, start=1)
        ]
        return rows, bool(leading) and len(leading) == len(passages)
    if not passages or not _ITEM_LINE.match(passages[0].text):
        return [], False  # the list ended at the chunk boundary
    items = [item for item in items_of(passages[0]) if item not in quoted]
    more = [replace(passages[0], text="\n".join(items), order=last.order + 1, block=last.block + 1)] if items else []
    return more, len(passages) == 1


def _introduced_in(passages: Sequence[Passage], last: Passage) -> list[Passage]:
    """The code block or list that the sentence ``last`` introduces, at the start of the next
    chunk's ``passages`` (after the sentence itself, which chunks overlap by), numbered on
    from it; nothing when the chunk goes on with anything else."""
    texts = [p.text for p in passages]
    after = texts.index(last.text) + 1 if last.text in texts else 0
    if after >= len(passages):
        return []
    following = passages[after]
    if not (following.text.startswith("```") or _ITEM_LINE.match(following.text)):
        return []
    return [replace(following, order=last.order + 1, block=last.block + 1)]


def items_of(passage: Passage) -> list[str]:
    """A list passage's items, each with the lines under it (its code, its note), without the
    sentence that introduces them; nothing for any other passage."""
    if passage.table >= 0 or passage.text.startswith("```"):
        return []
    items: list[str] = []
    for line in passage.text.split("\n"):
        if _ITEM_LINE.match(line):
            items.append(line)
        elif items:
            items[-1] += "\n" + line
    return items


def answering_items(question: str, passage: Passage, embedder: Embedder) -> Passage:
    """A long list of bullets cut to its items that answer ``question``, after the sentence that
    introduces it: "how do I add the bot to Discord?" wants the one command that prints the
    invite link, not every command. The list as it is when it is short, numbered (steps are followed
    in order), or answered by more than half its items ("which formats ...")."""
    items = items_of(passage)
    if len(items) < LONG_LIST or not items[0].startswith("• "):
        return passage
    scores = similarities(question, [replace(passage, text=item) for item in items], embedder)
    best = max(scores)
    answering = [item for item, score in zip(items, scores, strict=True) if score >= best - ITEM_MARGIN]
    if 2 * len(answering) > len(items):
        return passage
    introduction = passage.text.split("\n", 1)[0] if not _ITEM_LINE.match(passage.text) else ""
    return replace(passage, text="\n".join([introduction, *answering] if introduction else answering))


def quoted_texts(passages: Sequence[Passage]) -> set[str]:
    """What ``passages`` quote, as ``going_on`` compares it: each passage and each list item."""
    return {p.text for p in passages} | {item for p in passages for item in items_of(p)}


def size(passage: Passage) -> int:
    """How many rows or items a passage quotes: what ``MAX_TABLE_ROWS`` counts."""
    return 1 if passage.table >= 0 else len(items_of(passage))


def pointed_at(passage: Passage, passages: Sequence[Passage]) -> list[Passage]:
    """What ``passage`` cannot be read without: the sentence before it in its paragraph when it
    opens by pointing back ("It still shares the state ..."), and the one before that when it
    points back too; the line that introduces a code block ("Clone the repository and run:");
    the code block a sentence goes on from ("```make run```" before "which installs everything
    ..."); else nothing."""
    before = [p for p in passages if p.source == passage.source and p.order == passage.order - 1][:1]
    if not before or passage.block < 0:
        return []
    if passage.text.startswith("```"):
        return before if _introduces(before[0]) else []
    if _GOES_ON.match(passage.text) and before[0].text.startswith("```"):
        return [*pointed_at(before[0], passages), before[0]]
    if points_back(passage.text) and before[0].block == passage.block:
        # "However, it can be serious." points back in turn: the chain goes to where it starts.
        return [*pointed_at(before[0], passages), before[0]]
    return []


def points_back(sentence: str) -> bool:
    """Whether a sentence opens or ends by pointing back at the one before it."""
    return bool(_POINTS_BACK.match(sentence) or _POINTS_BACK_AT_END.search(sentence.rstrip()))


def introduced(passage: Passage, passages: Sequence[Passage]) -> list[Passage]:
    """The code block ``passage`` introduces ("... the exact line to add:"), else nothing."""
    if not _introduces(passage):
        return []
    return [
        p for p in passages
        if p.source == passage.source and p.order == passage.order + 1 and p.text.startswith("```")
    ][:1]


def dangles(passage: Passage, quoted: Sequence[Passage]) -> bool:
    """A sentence that introduces what ``quoted`` does not show: it ends in a colon, and
    nothing of its source follows it there."""
    return _introduces_what_follows(passage) and not any(
        p.source == passage.source and p.order == passage.order + 1 for p in quoted
    )


def _introduces_what_follows(passage: Passage) -> bool:
    # A sentence, not a list, that ends in a colon: what it introduces is another passage.
    return _introduces(passage) and not items_of(passage)


def _introduces(passage: Passage) -> bool:
    # A sentence, or a list whose last step, ends in a colon: "4. Put both in `.env`:".
    return passage.text.endswith(":") and not passage.text.startswith("```")


def runners_up(scored: Sequence[tuple[float, Passage]], chosen: Sequence[Passage], best: float, margin: float) -> set[Passage]:
    """The passages that may join the chosen ones in an answer: any of a source already
    quoted, and those of other sources that match the question within ``margin`` of the
    chosen passage's score ``best``. A source that matches far worse is mostly cited without
    answering (docs/quality-log.md, Change 27). Never one of another source that opens with
    a yes or a no: it answers the question its own source was written for ("Yes, many schools
    use e-learning" after an answer about masks reads as a yes to the asker's question)."""
    quoted = {p.source for p in chosen}
    return {
        p for score, p in scored
        if p.source in quoted or (score >= best - margin and opening_yes_or_no(p.text) is None)
    }


def adding(
    ranked: Sequence[Passage], chosen: Sequence[Passage], count: int, *, allowed: Collection[Passage] | None = None
) -> list[Passage]:
    """The next ``count`` passages of ``ranked`` after ``chosen`` (of those ``allowed``, if
    given), less those whose words the answer already holds (the same step worded twice, in a
    guide and in its common questions): a repeat is dropped, not replaced by a passage ranked
    lower, which would cite one more source that answers less well."""
    following = [p for p in ranked if p not in chosen and (allowed is None or p in allowed)][:count]
    kept = list(chosen)
    added: list[Passage] = []
    for passage in following:
        if not _repeats(passage, kept):
            # A runner-up comes with what it cannot be read without, as the lead does: "The
            # bot's permissions are these scopes" alone names none of them.
            unit = [
                p for p in (*pointed_at(passage, ranked), passage, *introduced(passage, ranked), *table_after(passage, ranked))
                if p not in kept
            ]
            added.extend(unit)
            kept.extend(unit)
    return added


def _repeats(passage: Passage, said: Sequence[Passage]) -> bool:
    # A "no" is news however few words it adds: "has not been detected in drinking water"
    # after a sentence on water treatment says what the question asked.
    if is_negative(passage.text) and not any(is_negative(p.text) for p in said):
        return False
    words = _words(passage.text)
    known = set().union(*(_words(p.text) for p in said))
    if words and len(words & known) >= REPEATED_SHARE * len(words):
        return True
    runs = _runs(passage.text, REPEATED_RUN)
    return any(not runs.isdisjoint(_runs(p.text, REPEATED_RUN)) for p in said)


def shares_run(text: str, other: str, length: int) -> bool:
    """Whether the two texts say ``length`` words in a row alike (case, markup and
    punctuation aside)."""
    return not _runs(text, length).isdisjoint(_runs(other, length))


def _runs(text: str, length: int) -> set[tuple[str, ...]]:
    said = words(text)
    return {tuple(said[i : i + length]) for i in range(len(said) - length + 1)}


def in_answer_order(passages: Sequence[Passage]) -> list[Passage]:
    """Passages (given best first) each once, the best passage's source first and each
    source's passages by position, neighbours of one source joined into one quote (an excerpt
    reads as a paragraph, not as two quotes of the same source). An answer opens with what
    answers best: not with a runner-up from a source the search ranked higher, nor with a
    runner-up of its own source that comes earlier in the page ("Full-time employees get 25
    days ..." before "Up to 5 unused days carry over ..." for "can I carry over vacation?"),
    which follows it. A chat history stays in the order it was written: a reply read before
    its question reads as nonsense."""
    first_seen: dict[int, int] = {}
    for place, passage in enumerate(passages):
        first_seen.setdefault(passage.source, place)
    # A sentence in two overlapping chunks is quoted once.
    unique = {p.text: p for p in sorted(passages, key=lambda p: (p.source, p.order), reverse=True)}
    # The best passage's run of neighbours (its excerpt) leads its source; a chat history has
    # no such run, as its order is the conversation's.
    best = passages[0] if passages and _chat_author(passages[0]) is None else None
    start = end = best.order if best is not None else 0
    if best is not None:
        orders = {p.order for p in unique.values() if p.source == best.source}
        while start - 1 in orders:
            start -= 1
        while end + 1 in orders:
            end += 1

    def leads(p: Passage) -> bool:
        return best is not None and p.source == best.source and start <= p.order <= end

    ordered = sorted(unique.values(), key=lambda p: (first_seen[p.source], not leads(p), p.order))
    joined: list[Passage] = []
    last = Passage(-1, -2, "")
    for passage in ordered:
        previous = joined[-1] if joined else None
        if previous is not None and previous.source == passage.source and passage.order == last.order + 1:
            # Sentences of one paragraph run on; a table row and the paragraph after it do not.
            # The passage before is read alone: the quote joined so far holds a line break once
            # it spans two paragraphs, and the second paragraph's sentences still run on.
            apart = _is_block(last.text) or _is_block(passage.text) or passage.block != last.block
            separator = "\n" if apart else " "
            joined[-1] = Passage(previous.source, previous.order, f"{previous.text}{separator}{passage.text}", previous.block)
        else:
            joined.append(passage)
        last = passage
    return joined


def cited(text: str, number: int) -> str:
    """A quote followed by its citation number, on a line of its own after a code block: a
    closing fence with text after it closes nothing, and the rest renders as code."""
    return f"{text}\n[{number}]" if text.endswith("```") else f"{text} [{number}]"


def _is_block(text: str) -> bool:
    return text.startswith("```") or bool(_ITEM_LINE.match(text)) or "\n" in text


def _shown(passage: Passage, limit: int = 400) -> str:
    text = " ".join(passage.text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def choice_prompt(question: str, candidates: Sequence[Passage]) -> Prompt:
    listed = "\n".join(f"{n}. {_shown(p)}" for n, p in enumerate(candidates, start=1))
    body = f"Sentences:\n{listed}\nQuestion: {' '.join(question.split())}"
    return Prompt(f"{CHOICE_INSTRUCTIONS}\n\n{CHOICE_EXAMPLE}", body, CHOICE_PREFIX)


def choice_grammar(count: int, *, allow_none: bool = True) -> str:
    """GBNF that lets the model write one of ``1..count`` (or ``none``) and nothing else."""
    options = [f'"{n}"' for n in range(1, count + 1)]
    if allow_none:
        options.append(f'"{NONE}"')
    return f'root ::= " "? ({" | ".join(options)})'


def read_choice(text: str, count: int) -> int | None:
    """The chosen candidate's index (0-based), or None for ``none``. Anything else (a server
    that ignored the grammar and wrote freely) falls back to the ranking: the first candidate."""
    picked = text.strip().lower()
    if picked == NONE:
        return None
    if picked.isdigit() and 1 <= int(picked) <= count:
        return int(picked) - 1
    return 0


def choose(model: LanguageModel, question: str, candidates: Sequence[Passage], *, allow_none: bool = True) -> int | None:
    """Ask the model which candidate answers (blocking: run it on the model worker)."""
    generation = model.generate(
        choice_prompt(question, candidates),
        max_tokens=3,
        grammar=choice_grammar(len(candidates), allow_none=allow_none),
    )
    return read_choice(generation.text, len(candidates))
