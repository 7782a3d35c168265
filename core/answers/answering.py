"""Grounded answers: retrieve, decide whether the knowledge base covers the question, pack
the best chunks under the token budget, let the model read and write, then check what it
wrote against the sources.

The model is a reader, not an encyclopedia: when retrieval finds nothing relevant enough
(``retrieval.min_relevance``, calibrated by ``tidings eval refusals``) the answer says the
knowledge base does not cover the question and lists the nearest sources; the model is not
asked. When the model's words are not supported by the sources it read (a small model
drifting into its own memory, or looping), the answer falls back to the sentences of the best
source that match the question (extractive), cited.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from core.answers import checks, follow_ups, introduction, quoting
from core.answers.budget import shorten_to_fit
from core.answers.prompts import STOP_SEQUENCES, PackedPrompt, build_answer_prompt
from core.answers.questions import asks_nothing, asks_yes_or_no, naming_the_bot, reads_as_follow_up, too_long
from core.config import AnswerSettings, LLMSettings, RetrievalSettings, Settings
from core.errors import EmptyQuestion, ModelError, QuestionTooLong
from core.knowledge.embedding_cache import RememberingEmbedder
from core.model.worker import ModelWorker
from core.ports import Embedder, Generation, KnowledgeBase, LanguageModel, OnQueued, OnText, SearchMode
from core.text import FUNCTION_WORDS, SENTENCE_BREAK, answer_words, emoji_as_words, one_typo_apart
from core.types import Answer, Chunk, Citation, Hit, Question, Quote, Timings

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 16_000
NOT_COVERED = "I couldn't find this in the knowledge base, so I won't guess."
EMPTY_KNOWLEDGE_BASE = (
    "My knowledge base is empty, so I have nothing to answer from yet. Add documents with "
    "`tidings ingest PATH` (files, folders, an FAQ spreadsheet, Slack or Discord exports), then ask again."
)
NOTHING_READABLE_HERE = (
    "Nothing in my knowledge base is open to this conversation yet, so I have nothing to answer from. "
    "Add documents with `tidings ingest PATH` (they are public unless given a `--scope`), or grant this "
    "channel a scope in `[access.grants]`, then ask again."
)
_CITATION = re.compile(r"\[(\d{1,2})\]")
_CITED_AGAIN = re.compile(r"(\[\d{1,2}\])(?:\s*\1)+")  # "[1][1]" once two sources are one section
# A passage's place in a section quoted from two of its chunks: the chunk's place, then its own.
_CHUNK_SPAN = 100_000
_DONT_KNOW = re.compile(r"\b(i (do not|don't|dont) know|not (mentioned|covered|provided|stated) in the sources)\b", re.I)
_NUMBER = re.compile(r"\b(\d+(?:[.,:]\d+)*)(?:\s+([A-Za-z]+))?")


def _sections(used: Sequence[Hit]) -> dict[int, int]:
    """Each source's number (1 = the first packed hit) mapped to the first number of its
    section: two chunks of one section (the same document, heading and link) are one source
    to a reader, not two entries of the same title."""
    first: dict[tuple[str, str, str | None, str], int] = {}
    return {n: first.setdefault(_section_of(hit), n) for n, hit in enumerate(used, start=1)}


def _section_of(hit: Hit) -> tuple[str, str, str | None, str]:
    chunk = hit.chunk
    return (chunk.source, chunk.title, chunk.url, chunk.scope)


def _shown_numbers(cited: Sequence[int]) -> dict[int, int]:
    """The numbers a reader sees for the cited sources (their places among the sources
    searched), in the order given: 1, 2, ... with no gaps, so an answer from the second and
    third source cites [1] and [2], not [2] and [3] beside a list with no [1]."""
    return {n: shown for shown, n in enumerate(cited, start=1)}


# A table or list cut by a chunk boundary is read on over at most this many chunks.
MAX_FOLLOWING_CHUNKS = 3
# A thread's questions a follow-up is read against: "and slack?", "and teams?" go back this far.
MAX_FOLLOW_UPS = 4

# A word this long that a chunk holds with one typo counts as held: a shorter one would meet
# other words ("cat" and "car").
TYPO_MIN_LETTERS = 6


def coverage(query: str, hits: Sequence[Hit]) -> float:
    """The largest share of the query's content words that one retrieved chunk contains (its
    emoji read as their names, as the embedder reads them: "thumbs down" is in "click 👎";
    a long word misspelt by one letter, "emphyema", as the word it misspells)."""
    words = set(answer_words(emoji_as_words(query)))
    if not words:
        return 0.0
    return max((_held(words, set(answer_words(emoji_as_words(f"{h.chunk.title} {h.chunk.text}")))) / len(words) for h in hits), default=0.0)


def _held(words: set[str], vocabulary: set[str]) -> int:
    """How many of ``words`` the ``vocabulary`` holds, as written or, for a long word, with one typo."""
    exact = words & vocabulary
    missing = [w for w in words - exact if len(w) >= TYPO_MIN_LETTERS]
    if not missing:
        return len(exact)
    long_words = [v for v in vocabulary if len(v) >= TYPO_MIN_LETTERS - 1]
    return len(exact) + sum(any(one_typo_apart(w, v) for v in long_words) for w in missing)


def support(answer: str, sources: Sequence[str]) -> float:
    """Share of the answer's content words found in the sources (1.0 = fully supported)."""
    words = answer_words(_CITATION.sub(" ", answer))
    if not words:
        return 0.0
    vocabulary = set(answer_words(" ".join(sources)))
    return sum(1 for w in words if w in vocabulary) / len(words)


def numbers_check_out(answer: str, sources: Sequence[str]) -> bool:
    """Every number the answer states must appear in the sources, with the word that follows
    it when there is one ("10 days" must be in a source, not just "10" and "days")."""
    haystack = " ".join(" ".join(sources).lower().split())
    for match in _NUMBER.finditer(_CITATION.sub(" ", answer)):
        number, unit = match.group(1), match.group(2)
        if number not in haystack:
            return False
        if unit and unit.lower() not in FUNCTION_WORDS and f"{number} {unit.lower()}" not in haystack:
            return False
    return True


def best_sentences(text: str, question: str, *, limit: int = 2) -> str:
    """The sentences of ``text`` sharing the most words with the question, in reading order."""
    sentences = [s.strip() for s in SENTENCE_BREAK.split(text) if len(s.strip()) > 3]
    if not sentences:
        return text.strip()
    wanted = set(answer_words(question))
    scored = [(len(wanted & set(answer_words(s))), -i, s) for i, s in enumerate(sentences)]
    top = sorted(scored, reverse=True)[:limit]
    if top[0][0] == 0:
        return " ".join(sentences[:limit])
    chosen = sorted(top, key=lambda item: -item[1])
    return " ".join(s for _, _, s in chosen)


def snippet(text: str, focus: str, length: int = 220) -> str:
    picked = best_sentences(text, focus, limit=1)
    picked = " ".join(picked.split())
    return picked if len(picked) <= length else picked[: length - 1].rstrip() + "…"


def clean_generation(text: str) -> str:
    """Trim what small models add around an answer: a repeated 'Answer:' label, trailing
    fragments, and lines repeating earlier ones."""
    text = text.strip()
    text = re.sub(r"^(answer|a)\s*:\s*", "", text, flags=re.I)
    lines: list[str] = []
    seen: set[str] = set()
    for line in text.splitlines():
        key = " ".join(line.split()).lower()
        if key in seen:
            continue
        seen.add(key)
        lines.append(line.rstrip())
    text = "\n".join(lines).strip()
    # Drop an unfinished last sentence when a finished one precedes it.
    ends = [m.end() for m in re.finditer(r"[.!?](\s*\[\d{1,2}\])*(?=\s)", text)]
    if text and text[-1] not in ".!?)]`\"'" and ends:
        text = text[: ends[-1]]
    return text.strip()


@dataclass(frozen=True)
class Draft:
    packed: PackedPrompt
    generation: Generation


@dataclass(frozen=True)
class Quoted:
    """The passages a quote answer is made of; empty when the model said ``none``."""

    passages: tuple[quoting.Passage, ...]
    seconds: float
    prompt_tokens: int = 0
    # Chunks quoted beyond the hits, by the hit whose passages they go on (a table's or list's rest).
    continued: tuple[tuple[int, str], ...] = ()


def drop_repeated_sentences(text: str) -> str:
    """The text with every sentence it already said removed (citations aside)."""
    kept: list[str] = []
    seen: set[str] = set()
    for line in text.split("\n"):
        parts = []
        for sentence in re.split(r"(?<=[.!?])\s+", line):
            key = " ".join(_CITATION.sub(" ", sentence).lower().split()).rstrip(".!? ")
            if key and key in seen:
                continue
            seen.add(key)
            parts.append(sentence)
        if parts:
            kept.append(" ".join(parts))
    return "\n".join(kept).strip()


class _Preview:
    """The answer as the model writes it, shown to the asker: pieces arrive on the model
    thread and are shown on the event loop, cleaned the way the final answer will be."""

    def __init__(self, on_text: OnText) -> None:
        self._on_text = on_text
        self._loop = asyncio.get_running_loop()
        self._pieces: asyncio.Queue[str | None] = asyncio.Queue()

    def emit(self, piece: str) -> None:
        """Called on the model thread for every piece generated."""
        self._loop.call_soon_threadsafe(self._pieces.put_nowait, piece)

    def close(self) -> None:
        self._pieces.put_nowait(None)

    async def relay(self) -> None:
        written = ""
        while (piece := await self._pieces.get()) is not None:
            written += piece
            shown = clean_generation(written)
            if not shown:
                continue
            try:
                await self._on_text(shown)
            except Exception:  # a failed preview must not lose the answer
                log.warning("could not show the answer in progress", exc_info=True)


@dataclass(frozen=True)
class Relevance:
    """How well the knowledge base covers a question: the mean of the best chunk's cosine
    similarity, the best similarity of one passage an answer would quote, and the largest
    share of the question's words one chunk holds. Each alone misjudges: a chunk on a near
    subject matches an off-topic question's topic, a research chunk holds the everyday words
    of "How far is the moon?", and words alone miss paraphrases; a question the knowledge
    base answers is matched by one of its sentences (docs/quality.md, Refusals)."""

    chunk: float
    passage: float
    words: float
    passage_similarities: tuple[float, ...] = ()

    @property
    def score(self) -> float:
        return (self.chunk + self.passage + self.words) / 3

    @classmethod
    def of(cls, query: str, hits: Sequence[Hit], passage_similarities: Sequence[float] | None) -> Relevance:
        chunk = max((h.similarity for h in hits if h.similarity is not None), default=0.0)
        # Without an embedder of its own the answerer has only the chunks' similarity to go on.
        passage = max(passage_similarities, default=0.0) if passage_similarities is not None else chunk
        return cls(chunk, passage, coverage(query, hits), tuple(passage_similarities or ()))


class Answerer:
    """The ``answer_question`` use case; implements :class:`core.services.AnswersQuestions`."""

    def __init__(
        self,
        *,
        knowledge_base: KnowledgeBase,
        model: LanguageModel,
        worker: ModelWorker,
        retrieval: RetrievalSettings,
        answers: AnswerSettings,
        llm: LLMSettings,
        embedder: Embedder | None = None,
    ) -> None:
        self.knowledge_base = knowledge_base
        self.model = model
        self.worker = worker
        self.retrieval = retrieval
        self.settings = answers
        self.llm = llm
        # The chunks found come back question after question: their passages are embedded once.
        self.embedder = RememberingEmbedder(embedder) if embedder is not None else None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        knowledge_base: KnowledgeBase,
        model: LanguageModel,
        worker: ModelWorker,
        embedder: Embedder | None = None,
    ) -> Answerer:
        """An answerer reading ``settings``' retrieval, answer and model sections."""
        return cls(
            knowledge_base=knowledge_base,
            model=model,
            worker=worker,
            retrieval=settings.retrieval,
            answers=settings.answers,
            llm=settings.llm,
            embedder=embedder,
        )

    @property
    def style(self) -> str:
        """How answers are made: ``quote`` or ``generate`` (``auto`` asks the model whether it
        writes well; the packaged 270M base model does not)."""
        if self.settings.style != "auto":
            return self.settings.style
        return "generate" if getattr(self.model, "writes_well", False) else "quote"

    # -- retrieval --------------------------------------------------------------------------

    @staticmethod
    def search_query(question: Question) -> str:
        # A follow-up ("and on Windows?") needs the thread's last message to find anything: the
        # last one a person wrote, not the bot's answer (a verbatim quote, it would match its
        # own source whatever was asked after it).
        said = [turn.text for turn in question.conversation if not turn.by_bot][-1:]
        return "\n".join([*said, question.text])

    def standalone(self, question: Question) -> str:
        """The question as it would be asked alone (blocking: it may embed a few words): a
        follow-up that names only what changes is read against the thread's questions before it
        (``core.answers.follow_ups``). Any other question is itself."""
        if self.embedder is None or not question.conversation or follow_ups.elliptical_subject(question.text) is None:
            return question.text
        asked = [turn.text for turn in question.conversation if not turn.by_bot][-MAX_FOLLOW_UPS:]
        return follow_ups.standalone([*asked, question.text], self.embedder)

    def retrieve(self, question: Question) -> list[Hit]:
        query = self.search_query(question)
        mode: SearchMode = "hybrid"
        if self.retrieval.mode in {"vector", "text"}:
            mode = "vector" if self.retrieval.mode == "vector" else "text"
        return self.knowledge_base.search(query, scopes=question.scopes, k=self.retrieval.k, mode=mode)

    def find(self, question: Question) -> tuple[list[Hit], str, Relevance]:
        """The hits that answer a question, the words that found them and how well they cover
        it (blocking). A question the knowledge base covers on its own is searched on its own:
        in a thread, and the console chat is one, the answer before would otherwise drown a new
        question in the last topic. A follow-up that is not covered alone ("and on Windows?")
        is searched with the thread's last words; a new question that is not covered is refused,
        not answered from the thread's topic."""
        hits = self.retrieve(replace(question, conversation=()))
        relevance = self.relevance(question.text, hits)
        if not question.conversation or self.is_covered(relevance) or not reads_as_follow_up(question.text):
            return hits, question.text, relevance
        query = self.search_query(question)
        hits = self.retrieve(question)
        return hits, query, self.relevance(query, hits)

    def quoted_from(self, hits: Sequence[Hit]) -> list[Hit]:
        """The hits an answer quotes from: the focused hits, as many as ``max_chunks``, less any
        that only says what its page is about."""
        useful = [h for h in hits if not quoting.only_describes_its_page(h.chunk.text)]
        return self.focus(useful)[: self.settings.max_chunks]

    def relevance(self, query: str, hits: Sequence[Hit]) -> Relevance:
        """How well the knowledge base covers a query (blocking: it embeds the passages)."""
        passages = quoting.passages_for(self.quoted_from(hits))
        alone = quoting.similarities(query, passages, self.embedder) if self.embedder is not None else None
        return Relevance.of(query, hits, alone)

    def is_covered(self, relevance: Relevance) -> bool:
        return relevance.score >= self.retrieval.min_relevance

    def focus(self, hits: Sequence[Hit]) -> list[Hit]:
        """The hits to pack, in the search's order: only the first when its meaning stands out
        clearly from every other's. The order is the fused one, not the cosine similarity's: a
        research question's answer is often found by its rare words alone, far down in meaning."""
        if len(hits) >= 2:
            others = max(h.similarity or 0.0 for h in hits[1:])
            if (hits[0].similarity or 0.0) - others >= self.settings.focus_margin:
                return [hits[0]]
        return list(hits)

    # -- answering --------------------------------------------------------------------------

    async def answer(
        self,
        question: Question,
        *,
        on_text: OnText | None = None,
        on_queued: OnQueued | None = None,
    ) -> Answer:
        question = self._admit(question)
        reply = introduction.reply_to(question.text)
        if reply is not None:
            return Answer(question=question.text, text=reply, grounded=False, style=introduction.STYLE)
        started = time.perf_counter()
        # Searched and ranked as it would be asked alone ("and slack?" after "how do I connect
        # discord?" is "how do I connect slack?") and with the bot called by its name; answered as asked.
        # Only a question in a thread can lean on the one before: the rest skip the thread hop.
        asked = await asyncio.to_thread(self.standalone, question) if question.conversation else question.text
        searched = naming_the_bot(asked)
        hits, query, relevance = await asyncio.to_thread(self.find, replace(question, text=searched))
        retrieve_ms = (time.perf_counter() - started) * 1000
        if not hits and await asyncio.to_thread(self.knowledge_base.count, question.scopes) == 0:
            # Nothing found because nothing may be read here: a new team's channel, before its
            # documents are ingested, sees none of the terminal's guide. Saying "I couldn't find
            # this" would send the asker looking for better words.
            empty = await asyncio.to_thread(self.knowledge_base.count) == 0
            text = EMPTY_KNOWLEDGE_BASE if empty else NOTHING_READABLE_HERE
            return Answer(question=question.text, text=text, grounded=False, timings=Timings(retrieve_ms=retrieve_ms))
        if not self.is_covered(relevance):
            return self._not_covered(question, hits, retrieve_ms)
        # The quote ranking reuses the passages' similarities when it ranks for the same words.
        alone = relevance.passage_similarities if query == searched else None
        if self.style == "quote":
            return await self._quote_answer(question, hits, retrieve_ms, on_queued=on_queued, alone=alone, ranked_by=searched)
        queued_at = time.perf_counter()
        try:
            draft = await self._draft(question, self.focus(hits), on_text=on_text, on_queued=on_queued)
        except ModelError as error:
            # A model server that is down, or a model file that will not load, costs the written
            # answer, not the answer: the sources are quoted, ranked without the model. Logged as
            # an error, so that `tidings_errors_total` and an alert on it see the model is down.
            log.error("the model could not write the answer, so the sources are quoted instead: %s", error)
            return await self._quote_answer(
                question, hits, retrieve_ms, on_queued=None, alone=alone, ranked_by=searched, by_model=False
            )
        generate_ms = draft.generation.seconds * 1000
        timings = Timings(
            retrieve_ms=retrieve_ms,
            generate_ms=generate_ms,
            prompt_tokens=draft.generation.prompt_tokens,
            completion_tokens=draft.generation.completion_tokens,
            queued_ms=max(0.0, (time.perf_counter() - queued_at) * 1000 - generate_ms),
        )
        answer = self._finish(question, draft, timings)
        if answer is None:
            # The model's words failed a check: the answer is what the sources say, quoted.
            return await self._quote_answer(
                question, hits, retrieve_ms, on_queued=on_queued, spent=timings, alone=alone, ranked_by=searched
            )
        return answer

    # -- quote answers ----------------------------------------------------------------------

    async def _quote_answer(
        self,
        question: Question,
        hits: Sequence[Hit],
        retrieve_ms: float,
        *,
        on_queued: OnQueued | None,
        spent: Timings | None = None,
        alone: Sequence[float] | None = None,
        ranked_by: str,
        by_model: bool = True,
    ) -> Answer:
        """``ranked_by``: the words the passages are ranked for, the question as it would be
        asked alone (``standalone``) with the bot called by its name. ``by_model=False``: the
        ranking picks, whatever ``quote_selector`` says (the model has just failed)."""
        used = self.quoted_from(hits)
        queued_at = time.perf_counter()
        by_model = by_model and self.settings.quote_selector == "model"
        quote = functools.partial(self.quote, ranked_by, used, alone=alone, by_model=by_model)
        if by_model:
            quoted = await self.worker.run(quote, on_queued=on_queued)
        else:
            # The embedder's ranking asks no model: it need not wait behind a digest's model call.
            quoted = await asyncio.to_thread(quote)
        waited = max(0.0, (time.perf_counter() - queued_at) - quoted.seconds) * 1000
        before = spent or Timings()
        timings = Timings(
            retrieve_ms=retrieve_ms,
            generate_ms=before.generate_ms + quoted.seconds * 1000,
            prompt_tokens=before.prompt_tokens + quoted.prompt_tokens,
            completion_tokens=before.completion_tokens + (1 if quoted.prompt_tokens else 0),
            queued_ms=before.queued_ms + waited,
        )
        if not quoted.passages:
            return replace(self._not_covered(question, hits, retrieve_ms), timings=timings)
        section = _sections(used)
        # The chunks of one section are quoted as one source, in their reading order.
        chunks_of: dict[int, list[str]] = {}
        for p in quoted.passages:
            ids = chunks_of.setdefault(section[p.source], [])
            if used[p.source - 1].chunk.id not in ids:
                ids.append(used[p.source - 1].chunk.id)
        for n, chunk_id in quoted.continued:
            if chunk_id not in chunks_of[section[n]]:
                chunks_of[section[n]].append(chunk_id)
        passages = quoting.in_answer_order(
            [
                replace(p, source=section[p.source], order=used[p.source - 1].chunk.position * _CHUNK_SPAN + p.order)
                for p in quoted.passages
            ]
        )
        cited = list(dict.fromkeys(p.source for p in passages))  # as quoted: the best passage's source is [1]
        shown = _shown_numbers(cited)
        text = "\n".join(quoting.cited(p.text, shown[p.source]) for p in passages)
        # Each source's snippet is what was quoted from it, so a platform can show the quote with its source.
        citations = tuple(
            replace(
                self._citation(shown[n], used[n - 1], text, chunk_ids=tuple(chunks_of[n])),
                snippet=" … ".join(" ".join(p.text.split()) for p in passages if p.source == n),
            )
            for n in cited
        )
        return Answer(
            question=question.text,
            text=text,
            grounded=True,
            citations=citations,
            timings=timings,
            style="quote",
            quotes=tuple(Quote(text=p.text, n=shown[p.source]) for p in passages),
        )

    def quote(
        self, question: str, hits: Sequence[Hit], *, alone: Sequence[float] | None = None, by_model: bool = False
    ) -> Quoted:
        """The passages that answer ``question``, best first (blocking; on the model thread when
        the model picks): ranked by the embedder, the best passage of a section whose heading
        asks the question first, the best few shown to the model, which picks one under a
        grammar or says none (with ``quote_selector = "embedding"`` the best ranked is the
        pick). The pick comes with the passage after it in its source, and for a yes-or-no
        question with the yes or no its paragraph opens with; the runners-up by
        rank fill ``quote_passages``, less those that repeat what is quoted, and those of
        another source only within ``quote_margin`` of the pick; a long list is cut to the items
        that answer (``quoting.answering_items``). ``alone``: the passages' similarities, if
        measured. ``by_model``: whether the model picks (``quote_selector = "model"``, and the
        model has not just failed); when it fails, the ranking does."""
        started = time.perf_counter()
        passages = quoting.passages_for(hits)
        # Replies past a chat chunk's end are read to tell an answered question, and quoted with it.
        replies, reply_chunks = self.replies_read_on(hits, passages)
        with_replies = [*passages, *replies]
        titles = [h.chunk.title for h in hits]
        scored = quoting.rank(question, passages, self.embedder, titles, alone=alone)
        # A bare "Yes." answers its source's own question, not this one (``quoting.yes_or_no``);
        # "See the website for more" answers nothing, nor does "This page explains ...", nor a
        # paper's title and byline, nor someone in a chat history asking what nobody answered there.
        scored = [
            (score, p)
            for score, p in scored
            if not quoting.says_only_yes_or_no(p)
            and not quoting.only_points_elsewhere(p)
            and not quoting.describes_its_page(p)
            and not quoting.asked_unanswered(p, with_replies)
            and not quoting.opens_document(p, hits, passages)
        ]
        heading = quoting.asked_by_heading(question, titles, self.embedder, least=quoting.HEADING_MATCH)
        if heading is not None:
            # The section that asks the question leads with its best passage.
            first = next((i for i, (_, p) in enumerate(scored) if p.source == heading), 0)
            scored.insert(0, scored.pop(first))
        ranked = [p for _, p in scored]
        candidates = ranked[: self.settings.quote_candidates]
        if not candidates:
            return Quoted((), time.perf_counter() - started)
        prompt_tokens = 0
        pick: int | None = 0
        if by_model:
            try:
                pick, prompt_tokens = self._model_pick(question, candidates)
            except ModelError as error:
                log.error("the model could not pick the quote, so the ranking's best is quoted: %s", error)
        if pick is None:
            return Quoted((), time.perf_counter() - started, prompt_tokens)
        lead = quoting.excerpt(candidates[pick], with_replies)
        continued = tuple((n, chunk_id) for n, chunk_id in reply_chunks if any(p.source == n and p in replies for p in lead))
        # A section headed by a question answers it first: its paragraph's opening sentence
        # leads, and for a yes-or-no question the yes or no it opens with.
        opening = quoting.yes_or_no(candidates[pick], passages) if asks_yes_or_no(question) else []
        opening = opening or quoting.answer_opening(question, candidates[pick], passages, titles[candidates[pick].source - 1])
        lead = [*(p for p in opening if p not in lead), *lead]
        rest, cut_off = self.rest_cut_off(lead, passages, hits)
        continued = (*continued, *cut_off)
        allowed = quoting.runners_up(scored, lead, scored[pick][0], self.settings.quote_margin)
        others = quoting.adding(ranked, [*lead, *rest], self.settings.quote_passages - 1, allowed=allowed)
        read_on: set[int] = set()
        for source in dict.fromkeys(p.source for p in others):
            # A runner-up's table or list is read on into the next chunks, as the lead's is.
            unit = sorted((p for p in others if p.source == source), key=lambda p: p.order)
            more, more_chunks = self.rest_cut_off(unit, passages, hits)
            if more:
                read_on.add(source)
            others, continued = [*others, *more], (*continued, *more_chunks)
        if self.embedder is not None:
            # A list read on into the next chunks is the answer whole; any other long one is cut
            # to the items that answer.
            cut = functools.partial(quoting.answering_items, question, embedder=self.embedder)
            lead = lead if rest else [cut(p) for p in lead]
            others = [p if p.source in read_on else cut(p) for p in others]
        quoted = (*lead, *rest, *others)
        # "The bot then serves two paths on that port:" with neither path quoted ends on nothing.
        quoted = tuple(p for p in quoted if not quoting.dangles(p, quoted)) or quoted
        if not asks_yes_or_no(question):
            quoted = tuple(quoting.without_yes_or_no(p) for p in quoted)
        return Quoted(quoted, time.perf_counter() - started, prompt_tokens, continued)

    def _model_pick(self, question: str, candidates: Sequence[quoting.Passage]) -> tuple[int | None, int]:
        """The candidate the model picks under a grammar (None: none answers), and the prompt's
        tokens; the ranking's best, and 0, when the prompt cannot be shown whole."""
        # A question longer than a third of the context is shown by its start.
        shown = shorten_to_fit(question, self.model.n_ctx // 3, self.model.count_tokens, keep_end=False).text
        prompt = quoting.choice_prompt(shown, candidates)
        prompt_tokens = self.model.count_tokens(self.model.render(prompt))
        if prompt_tokens + 4 > self.model.n_ctx:
            return 0, 0
        return quoting.choose(self.model, shown, candidates), prompt_tokens

    def replies_read_on(
        self, hits: Sequence[Hit], passages: Sequence[quoting.Passage]
    ) -> tuple[list[quoting.Passage], tuple[tuple[int, str], ...]]:
        """The messages of the next chunk of each chat conversation whose chunk leaves a question
        unanswered, numbered on as part of its source, and those chunks (blocking): a
        conversation's chunk holds a few messages, and the reply ("@CoinKing88 activate developer
        mode first") often falls past its end."""
        more: list[quoting.Passage] = []
        chunks: list[tuple[int, str]] = []
        for number, hit in enumerate(hits, start=1):
            if hit.chunk.kind != "conversation":
                continue  # most hits: no chat, nothing to read on
            own = [p for p in passages if p.source == number]
            if not any(quoting.asked_unanswered(p, own) for p in own):
                continue
            following = self.knowledge_base.next_in_section(hit.chunk)
            if following is None:
                continue
            said = {p.text for p in own}
            last = max(p.order for p in own)
            new = [p for p in quoting.passages_of(following.text, number) if p.text not in said]  # chunks overlap
            more.extend(replace(p, order=last + i, block=last + i) for i, p in enumerate(new, start=1))
            chunks.append((number, following.id))
        return more, tuple(chunks)

    def rest_cut_off(
        self, lead: Sequence[quoting.Passage], passages: Sequence[quoting.Passage], hits: Sequence[Hit]
    ) -> tuple[list[quoting.Passage], tuple[tuple[int, str], ...]]:
        """The rows of a table ``lead`` quotes whole, or the items of a list it ends with, that
        its chunk cut off, read from the section's next chunks, and those chunks (blocking):
        "which permissions does the bot need?" wants every scope, not the four its chunk
        holds. Nothing when the whole is longer than ``quoting.MAX_TABLE_ROWS``: a reference to
        look things up in, not an answer."""
        last = quoting.cut_off(lead, passages)
        if last is None:
            return [], ()
        count = sum(p.source == last.source and p.table == last.table for p in lead) if last.table >= 0 else quoting.size(last)
        quoted = quoting.quoted_texts(lead)
        more: list[quoting.Passage] = []
        chunks: list[tuple[int, str]] = []
        chunk: Chunk | None = hits[last.source - 1].chunk
        for _ in range(MAX_FOLLOWING_CHUNKS):
            chunk = self.knowledge_base.next_in_section(chunk) if chunk is not None else None
            if chunk is None:
                break
            found, goes_on = quoting.going_on(chunk.text, last, quoted)
            if found:
                more.extend(found)
                chunks.append((last.source, chunk.id))
                quoted |= quoting.quoted_texts(found)
                last = found[-1]
                count += sum(quoting.size(p) for p in found)
            if count > quoting.MAX_TABLE_ROWS:
                return [], ()
            if not goes_on:
                break
        return more, tuple(chunks)

    def _admit(self, question: Question) -> Question:
        """The question as it will be answered: spaces collapsed, the thread cut to the turns
        the prompt keeps; an empty or oversized question is refused with a reason."""
        text = " ".join(question.text.split())
        if asks_nothing(text):
            raise EmptyQuestion("Ask me a question after the mention, for example: how do I connect Slack?")
        if len(text) > MAX_QUESTION_CHARS:
            # The platforms refuse at [access] max_question_chars first; this guards every other caller.
            raise QuestionTooLong(too_long(len(text), MAX_QUESTION_CHARS))
        return Question(
            text=text,
            scopes=question.scopes,
            conversation=question.conversation[-self.settings.max_conversation_turns :],
            asker=question.asker,
            request_id=question.request_id,
        )

    async def _draft(
        self, question: Question, hits: Sequence[Hit], *, on_text: OnText | None, on_queued: OnQueued | None
    ) -> Draft:
        """The model's draft, written on the model worker; with ``on_text`` the asker sees it
        as it is written."""
        if on_text is None:
            return await self.worker.run(functools.partial(self._write, question, hits, None), on_queued=on_queued)
        preview = _Preview(on_text)
        relay = asyncio.create_task(preview.relay())
        try:
            return await self.worker.run(functools.partial(self._write, question, hits, preview.emit), on_queued=on_queued)
        finally:
            preview.close()
            await relay

    def _write(self, question: Question, hits: Sequence[Hit], on_piece: Callable[[str], None] | None) -> Draft:
        """Pack the prompt and generate (on the model thread: both call the model)."""
        packed = build_answer_prompt(
            self.model,
            question=question.text,
            hits=hits,
            conversation=question.conversation,
            max_answer_tokens=self.llm.max_answer_tokens,
            max_sources=self.settings.max_chunks,
        )
        generation = self.model.generate(
            packed.prompt,
            max_tokens=packed.max_answer_tokens,
            stop=(*STOP_SEQUENCES, *self.llm.stop),
            on_text=on_piece,
            timeout_s=self.llm.timeout_s,
        )
        return Draft(packed, generation)

    def _not_covered(self, question: Question, hits: Sequence[Hit], retrieve_ms: float) -> Answer:
        section = _sections(hits)
        distinct = [hit for n, hit in enumerate(hits, start=1) if section[n] == n][:3]
        nearest = tuple(self._citation(i, hit, question.text) for i, hit in enumerate(distinct, start=1))
        text = NOT_COVERED
        if nearest:
            text += " The nearest sources I have are listed below."
        return Answer(
            question=question.text,
            text=text,
            grounded=False,
            citations=nearest,
            timings=Timings(retrieve_ms=retrieve_ms),
        )

    def _citation(self, n: int, hit: Hit, focus: str, *, chunk_ids: tuple[str, ...] = ()) -> Citation:
        return Citation(
            n=n,
            chunk_ids=chunk_ids or (hit.chunk.id,),
            source=hit.chunk.source,
            title=hit.chunk.title,
            snippet=snippet(hit.chunk.text, focus),
            score=round(hit.similarity if hit.similarity is not None else hit.score, 4),
            url=hit.chunk.url,
            scope=hit.chunk.scope,
        )

    def _finish(self, question: Question, draft: Draft, timings: Timings) -> Answer | None:
        """The written answer, cited; None when it failed a check (the caller quotes instead)."""
        used = draft.packed.hits
        text = clean_generation(draft.generation.text)
        if _DONT_KNOW.search(text) and len(answer_words(text)) < 12:
            return self._not_covered(question, used, timings.retrieve_ms)
        if self.settings.extractive_fallback and not self._trustworthy(text, question, used):
            return None
        text, cited = self._cite(drop_repeated_sentences(text), used)
        section = _sections(used)
        sections = list(dict.fromkeys(section[n] for n in cited))
        shown = _shown_numbers(sections)
        text = _CITATION.sub(lambda m: f"[{shown[section[int(m.group(1))]]}]", text)
        text = _CITED_AGAIN.sub(r"\1", text)
        citations = tuple(
            self._citation(shown[s], used[s - 1], text, chunk_ids=tuple(used[n - 1].chunk.id for n in cited if section[n] == s))
            for s in sections
        )
        return Answer(
            question=question.text, text=text.strip(), grounded=True, citations=citations, timings=timings, style="generate"
        )

    @staticmethod
    def _trustworthy(text: str, question: Question, used: Sequence[Hit]) -> bool:
        """The model's words are the sources' words, its numbers are theirs, it says yes or no
        where they do, it states something the question did not, and none of the prompt's
        scaffolding shows."""
        source_texts = [h.chunk.text + " " + h.chunk.title for h in used]
        return (
            bool(text)
            and not checks.echoes_prompt(text)
            and support(text, source_texts) >= 0.6
            and numbers_check_out(text, source_texts)
            and checks.states_something(text, question.text, source_texts)
            and checks.keeps_polarity(text, source_texts)
        )

    @classmethod
    def _cite(cls, text: str, used: Sequence[Hit]) -> tuple[str, list[int]]:
        """The text with only citations that point at a source it used, and those sources'
        numbers; a text citing nothing cites where its words came from."""
        cited = sorted({int(n) for n in _CITATION.findall(text)})
        valid = [n for n in cited if 1 <= n <= len(used)]
        text = _CITATION.sub(lambda m: m.group(0) if 1 <= int(m.group(1)) <= len(used) else "", text).strip()
        if not valid:
            valid = cls._attribute(text, used)
            text = f"{text} " + "".join(f"[{n}]" for n in valid)
        return text, valid

    @staticmethod
    def _attribute(text: str, used: Sequence[Hit]) -> list[int]:
        """When the model cited nothing, cite the sources its words came from (best first)."""
        words = set(answer_words(text))
        scored = []
        for n, hit in enumerate(used, start=1):
            overlap = len(words & set(answer_words(hit.chunk.text + " " + hit.chunk.title)))
            scored.append((overlap, -n))
        scored.sort(reverse=True)
        best = scored[0][0] if scored else 0
        chosen = [-n for overlap, n in scored if best and overlap >= max(1, 0.6 * best)][:2]
        return sorted(chosen) or [1]
