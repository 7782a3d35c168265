"""Split documents into chunks the embedder reads whole.

Chunks follow the document's structure: Markdown headings start new sections (the heading
trail travels with every chunk of the section), paragraphs and sentences are never cut in
the middle unless a single sentence is itself longer than a chunk. Sizes are counted in the
embedding model's own word pieces, including the title line that is embedded with the chunk,
so no chunk is silently truncated by the embedder.

Work and memory are linear in the text whatever it holds: a document is read up to
``MAX_DOCUMENT_CHARS``, encoded data (``data:`` URIs, base64 blobs) is left out, and a long
sentence or unbroken run is cut with a handful of token counts per piece, never by counting
the whole remainder again. What is left out is said in ``left_out`` sentences for the ingest
report.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial

from core.text import LIST_ITEM, TABLE_RULE, UNFINISHED_LINE, document_sentences
from core.types import Chunk, Document

log = logging.getLogger(__name__)

TokenCounter = Callable[[str], int]
"""Counts the embedder's tokens of a text, special tokens included."""

SPECIAL_TOKENS = 2  # [CLS] and [SEP]

MAX_DOCUMENT_CHARS = 10_000_000
"""Characters of one document that are chunked (about 12,000 chunks); the rest is left out
and reported. Bounds the memory and the embedding time one file can take."""

# Titles and headings longer than this are not titles; cut, they cannot make every chunk's
# title (hashed and counted once per chunk) as long as the document.
_MAX_TITLE_CHARS = 1_000
# A sentence longer than this goes straight to the splitter instead of being counted whole
# (the tokenizer's output for a 50 MB string alone takes gigabytes); none that long fits a chunk.
_COUNT_WHOLE_CHARS = 100_000
# An unbroken "word" up to this long is cut exactly as it always was (ids stay stable for
# long URLs); longer ones are cut piece by piece with a bounded search.
_LONG_WORD_CHARS = 2_048
# Encoded data: a data URI with a long payload, or a long run of the base64 alphabet (the
# lookbehind starts a match only where a run starts, so a short run is scanned once).
_DATA_URI = re.compile(r"data:(?:[\w.+-]+/[\w.+-]+)?(?:;[\w.+-]+(?:=[\w.+-]*)?)*,[^\s)\"'<>\]]{1024,}")
_BASE64_RUN = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{1024,}={0,2}")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Section:
    heading: str
    text: str


def split_sections(text: str) -> list[Section]:
    """Markdown headings open sections; the heading trail ("Setup > Slack") names each."""
    sections: list[Section] = []
    trail: list[str] = []
    lines: list[str] = []
    in_code = False

    def flush() -> None:
        # Blank lines go, not the first line's indent: it may open an indented code block.
        body = "\n".join(lines).strip("\n").rstrip()
        if body.strip():
            sections.append(Section(" > ".join(trail), body))
        lines.clear()

    for line in text.splitlines():
        if _is_fence(line):
            in_code = not in_code
        heading = None if in_code else _heading(line)
        if heading is not None:
            flush()
            level, title = heading
            trail[:] = [*trail[: level - 1], title[:_MAX_TITLE_CHARS]]
            continue
        lines.append(line)
    flush()
    return sections


def _heading(line: str) -> tuple[int, str] | None:
    """(level, title) of an ATX heading line, else None.

    What ``^(#{1,6})\\s+(.+?)\\s*#*\\s*$`` matched (title stripped), found without it: that
    pattern backtracks cubically on a heading followed by a long run of spaces (a 4,000-space
    line took minutes). The title is the shortest non-empty text before trailing spaces and
    closing hashes.
    """
    level = len(line) - len(line.lstrip("#"))
    if not 1 <= level <= 6 or level == len(line) or not line[level].isspace():
        return None
    rest = line[level:]
    text = rest.lstrip()
    if not text:
        # The pattern's lazy group needs one character: it takes the last space, if there are two.
        return (level, "") if len(rest) >= 2 else None
    end = len(text.rstrip().rstrip("#").rstrip())
    return level, text[: max(end, 1)].strip()


def split_sentences(text: str, *, unwrap: bool = False, paragraph_starts: set[int] | None = None) -> list[str]:
    """Paragraphs, then sentences; list items and code lines stay whole lines.

    With ``unwrap`` (Markdown and prose, not chat lines), hard-wrapped lines are joined first,
    as Markdown reads them: a docs line cut at 100 characters is not a sentence, and a quote
    of "compiled once during installation)." answers nothing. ``paragraph_starts`` gets the
    index of each paragraph's first sentence after the first paragraph (code aside).
    """
    sentences: list[str] = []
    # How far in a paragraph must be to be code: four spaces, or four past the text of the list
    # item above it (less is the item's next paragraph).
    code_indent = 4
    in_code = False  # a blank line inside an indented code block keeps it one block
    fenced = False  # nor does one inside a ``` block
    fence_indent = 0  # the open fence's indent, which its lines share (a block inside a list item)
    for paragraph in re.split(r"\n\s*\n", text):
        if unwrap and fenced:
            code, closed, paragraph = _to_closing_fence(paragraph, fence_indent)
            sentences.extend(code)
            fenced = not closed
            if fenced:
                continue
        if unwrap and _is_indented_code(paragraph, code_indent):
            if in_code:
                sentences.pop()  # the block's closing fence: it goes on
            sentences.extend(_as_fenced_code(paragraph, opened=in_code))
            in_code = True
            continue
        in_code = False
        if not paragraph.strip():
            continue
        lines = paragraph.strip("\n").splitlines()
        items = [match for match in map(LIST_ITEM.match, lines) if match]
        # An item's next paragraph keeps an indent, so the quoter reads it as part of the item
        # and the list goes on after it (step 3's note, then step 4).
        in_item = unwrap and code_indent > 4 and lines[0][:1].isspace() and not LIST_ITEM.match(lines[0])
        if items:
            code_indent = len(items[-1].group().expandtabs(4)) + 4
        elif not lines[0][:1].isspace():
            code_indent = 4  # back at the margin: the list is over
        if paragraph_starts is not None and sentences and not in_item and not (unwrap and _BLOCK_LINE.match(lines[0])):
            paragraph_starts.add(len(sentences))  # not code: a block stays beside what introduces it
        for line in _unwrapped(paragraph.strip("\n")) if unwrap else [paragraph.strip()]:
            in_item = in_item and not LIST_ITEM.match(line)  # up to the next item
            if unwrap and (fenced or _BLOCK_LINE.match(line)):
                # Code keeps its lines and their indent (YAML and TOML mean it).
                if _is_fence(line):
                    fence_indent = len(line) - len(line.lstrip())
                    sentences.append(line.strip())
                    fenced = not fenced
                else:
                    sentences.append(_outdented(line, fence_indent) if fenced else line)
                continue
            for piece in document_sentences(line):
                sentences.append(f"{_ITEM_PARAGRAPH_INDENT}{piece}" if in_item else piece)
    return sentences


# A later numbered step ("2. Copy the token", "3. `make run`"), not the rest of a sentence cut
# after "Fig." ("4) was fitted with ...").
_STEP = re.compile(r"^\s*\d{1,3}[.)]\s+[A-Z`*\[]")
# What a list item's next paragraph is indented by in a chunk's text.
_ITEM_PARAGRAPH_INDENT = "   "
# What a sentence that opens a paragraph carries before it into a chunk's text: a blank line.
PARAGRAPH_BREAK = "\n\n"

# A line that opens its own block: a list item, a table row, a code fence, a quote, a heading.
_BLOCK_LINE = re.compile(r"^\s*(?:[-*+•]\s|\d{1,3}[.)]\s|\||```|>|#)")


def _to_closing_fence(paragraph: str, indent: int) -> tuple[list[str], bool, str]:
    """The code lines of a ``` block that a blank line split, up to and with its closing fence;
    whether the fence came; and what follows it in the paragraph. ``indent``: the opening fence's."""
    lines = paragraph.strip("\n").splitlines()
    end = next((i for i, line in enumerate(lines) if _is_fence(line)), None)
    code = [_outdented(line.rstrip(), indent) for line in lines[: None if end is None else end] if line.strip()]
    if end is None:
        return code, False, ""
    return [*code, lines[end].strip()], True, "\n".join(lines[end + 1 :])


def _is_fence(line: str) -> bool:
    return line.lstrip().startswith("```")


def _outdented(line: str, indent: int) -> str:
    """A code line less the indent of its fence (up to that many spaces)."""
    return line[min(indent, len(line) - len(line.lstrip(" "))) :]


def _is_indented_code(paragraph: str, indent: int) -> bool:
    """A Markdown indented code block: every line indented by at least ``indent`` columns."""
    lines = [line.expandtabs(4) for line in paragraph.splitlines() if line.strip()]
    return bool(lines) and all(len(line) - len(line.lstrip()) >= indent for line in lines)


def _as_fenced_code(paragraph: str, *, opened: bool) -> list[str]:
    """An indented code block as the lines of a fenced one, so it stays code. Unwrapped as
    prose, its commands ran into the sentence after them ("make run # start make test You
    need ..."). ``opened``: the block continues one whose fence is already open."""
    lines = [line.rstrip().expandtabs(4) for line in paragraph.splitlines() if line.strip()]
    indent = min(len(line) - len(line.lstrip()) for line in lines)
    return [*([] if opened else ["```"]), *(line[indent:] for line in lines), "```"]


def _unwrapped(paragraph: str) -> list[str]:
    """The paragraph's lines with hard wraps undone: a line that opens no block continues the
    line before it (Markdown's lazy continuation); code and table rows stay line by line."""
    lines: list[list[str]] = []  # each line's pieces, joined once (linear in the paragraph)
    in_code = False
    for line in paragraph.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        fence = _is_fence(stripped)
        joinable = lines and not in_code and not fence and not _BLOCK_LINE.match(stripped)
        if joinable and not lines[-1][0].lstrip().startswith(("```", "|")):
            lines[-1].append(stripped)
        else:
            # Code and its fences keep their indent; the fence's says how much of it is the list's.
            lines.append([line.rstrip() if in_code or fence else stripped])
        if fence:
            in_code = not in_code
    return [" ".join(pieces) for pieces in lines]


def _largest_fitting(upper: int, fits: Callable[[int], bool], guess: int) -> int:
    """The largest n in 1..upper with ``fits(n)``, searched from ``guess``: probe the guess and
    its neighbour, gallop away from it, then bisect. For ``fits`` monotone (a longer prefix
    never has fewer tokens) that is what growing the piece one unit at a time finds, in a few
    calls instead of one per unit. 1 is taken even when it does not fit: a piece holds at
    least one unit. Whatever ``fits`` does, the answer (other than 1) was seen to fit."""
    lo, hi = 1, upper + 1  # fits(lo) holds (or lo == 1); fits(hi) fails (or hi is past upper)
    probe = min(max(guess, 1), upper)
    step = 1
    if probe > 1 and not fits(probe):
        hi = probe
        while True:
            probe = max(1, hi - step)
            if probe == 1 or fits(probe):
                lo = probe
                break
            hi, step = probe, step * 2
    else:
        lo = probe
        while lo < upper:
            probe = min(upper, lo + step)
            if not fits(probe):
                hi = probe
                break
            lo, step = probe, step * 2
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if fits(middle):
            lo = middle
        else:
            hi = middle
    return lo


class _Counted:
    """Token counts of the prefixes of one piece being sized, so no prefix is counted twice."""

    def __init__(self, count: TokenCounter, limit: int, text_of: Callable[[int], str]) -> None:
        self.count, self.limit, self.text_of = count, limit, text_of
        self.sizes: dict[int, int] = {}

    def size(self, n: int) -> int:
        if n not in self.sizes:
            self.sizes[n] = self.count(self.text_of(n)) - SPECIAL_TOKENS
        return self.sizes[n]

    def fits(self, n: int) -> bool:
        return self.size(n) <= self.limit


def _split_long(sentence: str, limit: int, count: TokenCounter, notes: _Notes) -> Iterator[tuple[str, int]]:
    """A sentence longer than a chunk, split at word boundaries into pieces that fit, with
    their token counts.

    Each piece is the longest run of words that fits, as when words were added one at a
    time, but found with a few counts of about a piece's length (see ``_largest_fitting``),
    so the work is linear in the sentence; words are read lazily, a piece's worth at a time.
    """
    words = _WORD.finditer(sentence)
    ahead: list[str] = []
    # No piece can hold more words than it has tokens, bar words the tokenizer drops entirely.
    most_words = 4 * limit + 64
    guess = 1
    while True:
        # Reading stops after a word too long to be a word: it is cut on its own (below), and
        # never joins a piece, where a tokenizer that makes one unknown token of it would let
        # a megabyte through as "one token".
        while len(ahead) <= most_words and not (ahead and len(ahead[-1]) > _LONG_WORD_CHARS):
            match = next(words, None)
            if match is None:
                break
            ahead.append(match.group())
        if not ahead:
            return
        if len(ahead[0]) > _LONG_WORD_CHARS:
            yield from _cut_word(ahead.pop(0), limit, count, notes)
            continue
        usable = len(ahead) - 1 if len(ahead[-1]) > _LONG_WORD_CHARS else len(ahead)
        sized = _Counted(count, limit, partial(_joined, ahead))
        taken = _largest_fitting(min(usable, most_words), sized.fits, guess)
        guess = taken
        if taken == 1 and not sized.fits(1):
            yield from _cut_word(ahead[0], limit, count, notes)
        else:
            yield " ".join(ahead[:taken]), sized.size(taken)
        del ahead[:taken]


CUT_MARK = "…"
"""Ends a piece of a sentence that a chunk boundary cuts and starts the next piece, so a quote of
either reads as the excerpt it is ("… asks, or a problem ..."), never as a whole sentence."""

_REJOINED_CUT = re.compile(r"\s…\s+…\s")


def _cut_marked(sentence: str, budget: int, count: TokenCounter, notes: _Notes) -> list[tuple[str, int]]:
    """``sentence``, longer than a chunk, cut into pieces that fit, each cut marked with
    ``CUT_MARK`` on both sides; the later pieces of a list item indented as the item's own
    lines, so that the quoter reads them as the item's, where they share a chunk."""
    if len(_WORD.findall(sentence[:_COUNT_WHOLE_CHARS])) < 2:
        return list(_split_long(sentence, budget, count, notes))  # one unbroken run: cut, not an excerpt
    mark = max(1, count(CUT_MARK) - SPECIAL_TOKENS)
    pieces = list(_split_long(sentence, max(1, budget - 2 * mark), count, notes))
    indented = sentence.startswith(_ITEM_PARAGRAPH_INDENT)
    indent = _ITEM_PARAGRAPH_INDENT if indented or LIST_ITEM.match(sentence) else ""
    marked: list[tuple[str, int]] = []
    for index, (text, size) in enumerate(pieces):
        if index:
            text, size = f"{CUT_MARK} {text}", size + mark
        if index < len(pieces) - 1:
            text, size = f"{text} {CUT_MARK}", size + mark
        marked.append((f"{indent}{text}" if index or indented else text, size))
    return marked


def rejoin_cuts(text: str) -> str:
    """``text`` with the cuts that ``_cut_marked`` marked, where both pieces are in it, joined again."""
    return _REJOINED_CUT.sub(" ", text) if CUT_MARK in text else text


def _joined(words: list[str], n: int) -> str:
    return " ".join(words[:n])


def _sliced(text: str, start: int, n: int) -> str:
    return text[start : start + n]


def _cut_word(word: str, limit: int, count: TokenCounter, notes: _Notes) -> Iterator[tuple[str, int]]:
    """A single "word" (a URL, a hash) longer than the limit, or longer than any word, cut
    by characters."""
    if len(word) <= _LONG_WORD_CHARS:
        # As it always was, so the chunks of an ordinary long URL keep their ids; the loop
        # recounts the rest of the word per cut, which stays cheap at this length.
        piece = word
        while (tokens := count(piece)) - SPECIAL_TOKENS > limit and len(piece) > 1:
            cut = max(1, len(piece) * limit // max(1, tokens))
            yield piece[:cut], count(piece[:cut]) - SPECIAL_TOKENS
            piece = piece[cut:]
        yield piece, tokens - SPECIAL_TOKENS
        return
    # Longer runs (minified code, "a,a,a,..." by the megabyte) are cut into the longest
    # prefixes that fit, each found by a bounded search: linear, and no piece is an absurd
    # number of characters even where the tokenizer makes one unknown token of a long run.
    # One token under the budget, since _pack counts one more per sentence: a piece that
    # fills the whole budget makes a chunk one token over (kept above for stable ids).
    notes.add("cut", len(word))
    most_chars = 16 * limit + 64
    start, guess = 0, 4 * limit
    while start < len(word):
        sized = _Counted(count, max(1, limit - 1), partial(_sliced, word, start))
        taken = _largest_fitting(min(len(word) - start, most_chars), sized.fits, guess)
        yield word[start : start + taken], sized.size(taken)
        start, guess = start + taken, taken


def embedding_text(title: str, text: str, question: str | None = None) -> str:
    """What the embedder reads for a chunk: its title line (or FAQ question) and its text."""
    head = question or title
    return f"{head}\n{text}" if head else text


def content_hash(*parts: str | None) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update((part or "").encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


@dataclass
class _Notes:
    """What chunking one document left out or cut, added up by kind for one report line each."""

    counts: dict[str, int] = field(default_factory=dict)
    chars: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, chars: int) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.chars[kind] = self.chars.get(kind, 0) + chars

    def sentences(self, title: str, max_chars: int) -> list[str]:
        name = title if len(title) <= 80 else title[:77] + "..."
        said = {
            "data URI": "embedded data URI(s) ({chars}) left out: encoded files, not text",
            "base64": "run(s) of base64 or other letters and digits without a space ({chars}) left out: encoded data, not text",
            "cut": "unbroken run(s) without a space ({chars}) cut into chunk-sized pieces",
            "beyond": "only the first {limit} characters indexed; the remaining {chars} were left out",
        }
        out = []
        for kind, template in said.items():
            if kind in self.counts:
                chars = f"{self.chars[kind]:,} characters"
                what = template.format(chars=chars, limit=f"{max_chars:,}")
                number = "" if kind == "beyond" else f"{self.counts[kind]:,} "
                out.append(f"{name}: {number}{what}.")
        return out


def _drop_encoded_data(text: str, notes: _Notes) -> str:
    """The text without data URIs and base64 blobs: thousands of chunks of noise otherwise."""

    def drop(kind: str) -> Callable[[re.Match[str]], str]:
        def replace(match: re.Match[str]) -> str:
            notes.add(kind, len(match.group()))
            return ""

        return replace

    if "data:" in text:
        text = _DATA_URI.sub(drop("data URI"), text)
    return _BASE64_RUN.sub(drop("base64"), text)


def chunk_document(
    document: Document,
    *,
    count_tokens: TokenCounter,
    max_tokens: int = 200,
    overlap_sentences: int = 1,
    max_chars: int = MAX_DOCUMENT_CHARS,
    left_out: list[str] | None = None,
) -> list[Chunk]:
    """Chunks of one document; ids are stable for unchanged content (see ``chunk_id``).

    What was left out (encoded data, text past ``max_chars``) or cut (runs without a space)
    is appended to ``left_out`` as one sentence per kind, or logged when it is None.
    """
    notes = _Notes()
    body = document.text
    if len(body) > max_chars:
        notes.add("beyond", len(body) - max_chars)
        body = body[:max_chars]
    body = _drop_encoded_data(body, notes)
    document_title = document.title[:_MAX_TITLE_CHARS]
    question = document.question[:_MAX_TITLE_CHARS] if document.question else document.question
    pieces: list[tuple[str, str]] = []  # (title, text)
    if document.kind in {"faq", "conversation"}:
        sections = [Section("", body.strip())]
    else:
        sections = split_sections(body) or [Section("", body.strip())]
    for section in sections:
        title = _section_title(document_title, section.heading)[:_MAX_TITLE_CHARS]
        head = question or title
        budget = max_tokens - (count_tokens(head) - SPECIAL_TOKENS) - 1
        budget = max(16, budget)
        sentences: list[tuple[str, int]] = []
        # Prose keeps its paragraph breaks, which the quoter reads: "No." opening one paragraph
        # is not the answer of a sentence in the next. A chat's lines are its messages.
        starts: set[int] | None = None if document.kind == "conversation" else set()
        split = split_sentences(section.text, unwrap=document.kind not in {"faq", "conversation"}, paragraph_starts=starts)
        for index, sentence in enumerate(split):
            # Each sentence fits with one token to spare: ``_pack`` counts a separator after it.
            fits = budget - 1
            size = _size(sentence, fits, count_tokens)
            parts = [(sentence, size)] if size <= fits else [(p, _size(p, fits, count_tokens)) for p in _item_sentences(sentence)]
            first = len(sentences)
            for piece, piece_size in parts:
                if piece_size > fits:
                    sentences.extend(_cut_marked(piece, fits, count_tokens, notes))
                else:
                    sentences.append((piece, piece_size))
            if starts and index in starts and len(sentences) > first:
                sentences[first] = (PARAGRAPH_BREAK + sentences[first][0], sentences[first][1])
        fence = ("```", count_tokens("```") - SPECIAL_TOKENS)
        pieces.extend((title, text) for text in _pack(sentences, budget, overlap_sentences, fence))
    chunks: list[Chunk] = []
    for position, (title, text) in enumerate(pieces):
        if not text.strip():
            continue
        digest = content_hash(document.scope, title, text, document.url, question)
        chunks.append(
            Chunk(
                id="",
                source=document.source,
                title=title,
                text=text,
                scope=document.scope,
                url=document.url,
                position=position,
                doc_key=document.key,
                content_hash=digest,
                kind=document.kind,
            )
        )
    for sentence in notes.sentences(document_title, max_chars):
        if left_out is None:
            log.warning("%s: %s", document.source, sentence)
        else:
            left_out.append(sentence)
    return chunks


def _size(text: str, budget: int, count_tokens: TokenCounter) -> int:
    """``text``'s tokens without the special ones; past ``budget`` unread for a very long text,
    which goes to the splitter anyway."""
    return count_tokens(text) - SPECIAL_TOKENS if len(text) <= _COUNT_WHOLE_CHARS else budget + 1


def _item_sentences(line: str) -> list[str]:
    """A list item too long for a chunk, by its sentences, the later ones indented as the
    item's own lines: cut between words, the next chunk began mid-sentence ("user ids in
    `[access] admins`, may switch ..."), a fragment quoted as it stood. Any other line whole."""
    if not LIST_ITEM.match(line):
        return [line]
    first, *rest = document_sentences(line)
    return [first, *(f"{_ITEM_PARAGRAPH_INDENT}{piece}" for piece in rest)]


def _section_title(document_title: str, heading: str) -> str:
    parts = [part for part in heading.split(" > ") if part]
    if parts and parts[0] == document_title:
        parts = parts[1:]
    return " > ".join([document_title, *parts]) if parts else document_title


def _pack(sentences: Sequence[tuple[str, int]], budget: int, overlap: int, fence: tuple[str, int]) -> list[str]:
    """Sentences packed into chunks of at most ``budget`` tokens; ``fence``: a code fence line
    and its token count, to close and reopen a code block a chunk boundary cuts."""
    chunks: list[str] = []
    current: list[tuple[str, int]] = []
    size = 0
    header: list[tuple[str, int]] = []  # the header row and rule of the table being packed
    fenced = False  # inside a ``` code block
    blocks = _code_block_sizes(sentences)
    for index, (sentence, tokens) in enumerate(sentences):
        row = sentence.lstrip().startswith("|")
        if not row:
            header = []
        elif index and TABLE_RULE.match(sentence) and sentences[index - 1][0].lstrip().startswith("|"):
            header = [sentences[index - 1], (sentence, tokens)]
        is_fence = _is_fence(sentence)
        block = blocks.get(index, 0) if not fenced else 0
        if current and block and size + block > budget and block + fence[1] + 1 <= budget:
            # A code block that fits a chunk whole starts the next one rather than being cut in
            # two: "SLACK_SIGNING_SECRET=..." quoted alone, without the lines it belongs with.
            chunks.append(_joined_sentences(current))
            kept = list(current[-overlap:]) if overlap else []
            if any(_is_fence(s) for s, _ in kept):
                kept = []  # as below: a fence carried over would open a code block around the prose
            while kept and sum(t for _, t in kept) + len(kept) + block > budget:
                kept.pop(0)
            current, size = kept, sum(t for _, t in kept) + len(kept)
        # A code block cut between chunks is closed at the end of one and opened again at the
        # start of the next (else the next chunk's closing fence opens a block around its prose),
        # when both fences fit beside the line.
        refence = fenced and not is_fence and tokens + 2 * (fence[1] + 1) < budget
        reserve = fence[1] + 1 if refence or (is_fence and not fenced) else 0  # room to close it
        if current and size + tokens + 1 + reserve > budget:
            chunks.append(_joined_sentences([*current, fence] if refence else current))
            kept = list(current[-overlap:]) if overlap else []
            if fenced or any(_is_fence(s) for s, _ in kept):
                kept = []  # a fence carried over would open a code block around the prose after it
            while kept and sum(t for _, t in kept) + tokens + len(kept) > budget // 2:
                kept.pop(0)
            if refence:
                kept = [fence]
            # A table split across chunks: its later rows come with its column names again,
            # without which a row reads as bare cells ("Slack: Socket Mode: HTTP mode ...").
            if row and header:
                with_header = [*header, *(k for k in kept if k not in header)]
                if sum(t for _, t in with_header) + len(with_header) + tokens + 1 <= budget:
                    kept = with_header
            current, size = kept, sum(t for _, t in kept) + len(kept)
        current.append((sentence, tokens))
        size += tokens + 1
        fenced ^= is_fence
    if current:
        chunks.append(_joined_sentences(current))
    return chunks


def _code_block_sizes(sentences: Sequence[tuple[str, int]]) -> dict[int, int]:
    """Each opening fence's index mapped to the tokens of its whole code block, both fences
    and a separator per line counted; a block never closed is left out (it runs to the end)."""
    sizes: dict[int, int] = {}
    opened: int | None = None
    for index, (sentence, _) in enumerate(sentences):
        if not _is_fence(sentence):
            continue
        if opened is None:
            opened = index
        else:
            sizes[opened] = sum(tokens + 1 for _, tokens in sentences[opened : index + 1])
            opened = None
    return sizes


def _joined_sentences(sentences: Sequence[tuple[str, int]]) -> str:
    """A chunk's text; a sentence that opens a paragraph brings its blank line (``PARAGRAPH_BREAK``)."""
    listy = _is_listy(sentences)
    joined = [sentences[0][0]] if sentences else []
    for (before, _), (sentence, _) in itertools.pairwise(sentences):
        if sentence.startswith(PARAGRAPH_BREAK):
            joined.append(sentence)
        else:
            # A line that ends without a stop (a title, a byline, a label such as "Severity") keeps a
            # line of its own: run into the sentence after it, it would be quoted as that sentence's start.
            joined.append(("\n" if listy or own_line(before, sentence) else " ") + sentence)
    return "".join(joined).lstrip("\n")


def own_line(before: str, line: str) -> bool:
    """Whether ``line`` starts a unit of its own after ``before``: where one of them ends without
    a stop and the other with one (a title above a sentence, a sentence above a label), unless
    ``before`` introduces it ("Symptoms may include:" above "Fever")."""
    unfinished = UNFINISHED_LINE.search(before) is not None
    return unfinished != (UNFINISHED_LINE.search(line) is not None) and not before.rstrip().endswith(":")


def _is_listy(sentences: Sequence[tuple[str, int]]) -> bool:
    """Keep line breaks for lists, tables and chat lines; join prose with spaces."""
    return any(s.lstrip().startswith(("-", "*", "|", "[", "1.", "`")) or _STEP.match(s) for s, _ in sentences)


def assign_ids(chunks: Iterable[Chunk]) -> list[Chunk]:
    """Stable ids: source + document key + content hash + occurrence, so an unchanged chunk
    keeps its id when chunks around it change."""
    seen: dict[tuple[str, str, str], int] = {}
    out: list[Chunk] = []
    for chunk in chunks:
        key = (chunk.source, chunk.doc_key, chunk.content_hash)
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        identifier = content_hash(chunk.source, chunk.doc_key, chunk.content_hash, str(occurrence))[:32]
        out.append(
            Chunk(
                id=identifier,
                source=chunk.source,
                title=chunk.title,
                text=chunk.text,
                scope=chunk.scope,
                url=chunk.url,
                position=chunk.position,
                doc_key=chunk.doc_key,
                content_hash=chunk.content_hash,
                kind=chunk.kind,
            )
        )
    return out
