"""Summarise a channel's window into a Digest: map-reduce under the model's context.

messages -> drop noise -> conversations -> chunks that fit the context -> map: one model
call per chunk writes short notes citing numbered messages -> reduce: the notes become
bullets, topic lines are merged (recursively while they do not fit one prompt) into a
headline -> Digest.

The model is never trusted alone. Extractive candidates (``core/digests/extract.py``) give
every conversation a topic and find unanswered questions, decisions and action items by
their wording; the model's notes replace a candidate's wording, or add a bullet, only when
they pass the checks in ``core/digests/prompts.py``. With the weakest model the digest is
mostly extractive; with a better one, mostly written by the model. Every bullet links to
the messages it came from either way.

Every model call goes through the model worker, one call per map or reduce step, so a
question asked while a digest runs waits for at most one call. Notes of each chunk are
cached in the state store by content, model and prompt version, so a re-run or an
on-demand summary of the same window reuses them. When the time budget runs out the
remaining chunks are not sent to the model; the digest still lists them from their own
words and its coverage says how many messages the model read.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.config import DigestSettings
from core.digests.conversations import Conversation, group_conversations, meaningful
from core.digests.extract import centrality, name_words, topic, window_candidates, word_weights
from core.digests.judging import JUDGE_GRAMMAR, JUDGE_TOKENS, JUDGE_VERSION, judge_prompt, parse_judgement
from core.digests.labels import (
    is_placeholder,
    people,
    quotable_message,
    repeated_texts,
    says_again,
    topic_labels,
)
from core.digests.packing import Batch, Piece, pack
from core.digests.prompts import (
    NOTES_STOP,
    PROMPT_VERSION,
    ModelNote,
    normalized,
    notes_prompt,
    numbered_line,
    parse_notes,
)
from core.digests.speech import clean_text
from core.digests.wording import Candidate
from core.errors import ModelError
from core.model.worker import ModelWorker
from core.ports import Clock, Embedder, Generation, LanguageModel, OnQueued, Prompt
from core.runtime.state import StateStore
from core.text import content_words
from core.types import (
    ChannelMessage,
    ChannelRef,
    Coverage,
    Digest,
    DigestBullet,
    DigestSection,
    DigestStats,
    MessageLink,
)

log = logging.getLogger(__name__)

SECTION_TITLES = {"topic": "Topics", "decision": "Decisions", "action": "Action items", "question": "Open questions"}
MAX_SOURCES = 3
# A conversation can run for hours; one "conversation" for the digest is at most this many
# messages, so its topic bullet points somewhere specific.
MAX_CONVERSATION_MESSAGES = 40
# How much the whole window's frequent words count beside a segment's own, in choosing the
# segment's topic line (1.0: the window, spread over its segments, weighs as one segment).
BACKGROUND_WEIGHT = 1.0
# A model's line needs this many content words that are not participants' names...
MIN_MODEL_WORDS = 4
# ...and this share of the quoted line's centrality, to replace it.
MODEL_CENTRALITY = 0.8
# The headline names this many of the busiest topics...
HEADLINE_TOPICS = 3
# ...each after the first only when it took this share of the day's messages: two lines of
# condolences in a day of forty messages about builds are not what the day was about.
HEADLINE_MIN_SHARE = 0.1


@dataclass
class _Run:
    """Bookkeeping of one summarize() call."""

    started: float
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    out_of_time: bool = False
    read: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Segment:
    """The part of one conversation read in one chunk: the unit a topic bullet describes."""

    conversation: int
    messages: tuple[ChannelMessage, ...]


def _link(message: ChannelMessage) -> MessageLink:
    return MessageLink(message.id, message.author.name, message.timestamp, message.permalink)


def _links(messages: Sequence[ChannelMessage]) -> tuple[MessageLink, ...]:
    unique = list({m.id: m for m in messages}.values())
    return tuple(_link(m) for m in unique[:MAX_SOURCES])


def _about_the_conversation(line: str, names: frozenset[str], *, least: int = MIN_MODEL_WORDS) -> bool:
    """A model's line says something about what was said, not who said it: at least
    ``least`` content words besides participants' names, and names less than a third of
    its content words ("The project manager has a new remote control" fails)."""
    said = content_words(line, names=names)
    everything = content_words(line)
    return len(said) >= least and 3 * (len(everything) - len(said)) < len(everything)


def _split_evenly(conversation: Conversation, most: int) -> list[Conversation]:
    """A conversation longer than ``most`` messages as parts of nearly equal size (121
    messages: 31, 30, 30, 30, not 40, 40, 40 and a lone "Okay.")."""
    messages = conversation.messages
    parts = -(-len(messages) // most)
    if parts <= 1:
        return [conversation]
    size, extra = divmod(len(messages), parts)
    result: list[Conversation] = []
    start = 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        result.append(Conversation(messages[start:end]))
        start = end
    return result


class Summarizer:
    """Implements ``core.services.SummarizesChannels``."""

    def __init__(
        self,
        *,
        model: LanguageModel,
        worker: ModelWorker,
        state: StateStore | None,
        settings: DigestSettings,
        clock: Clock = time.monotonic,
        embedder: Embedder | None = None,
    ) -> None:
        """``embedder``: topic labels chosen by meaning as well as by their words' weight."""
        self.model = model
        self.embedder = embedder
        self.worker = worker
        self.state = state
        self.settings = settings
        self.clock = clock
        n_ctx = model.n_ctx
        # Small outputs keep a weak model from looping and keep the model's reading
        # (prompt + output) close to the size of the chat itself.
        self.notes_tokens = max(24, min(96, n_ctx // 12))

    # -- public -------------------------------------------------------------------------

    async def summarize(
        self,
        messages: Sequence[ChannelMessage],
        *,
        channel: ChannelRef | None = None,
        window: tuple[datetime, datetime] | None = None,
        on_queued: OnQueued | None = None,
    ) -> Digest:
        run = _Run(started=self.clock())
        # Placeholders ("[message text edited or deleted]") are not messages anyone wrote.
        kept = sorted((m for m in meaningful(messages) if not is_placeholder(m.text)), key=lambda m: (m.timestamp, m.id))
        if channel is None and messages:
            # Named even when nothing in it is kept (a day of joins): its messages share it.
            channel = messages[0].channel
        if window is None and kept:
            window = (kept[0].timestamp, kept[-1].timestamp)
        whole = group_conversations(kept, gap=timedelta(minutes=self.settings.gap_minutes), max_messages=len(kept))
        conversations = [part for conversation in whole for part in _split_evenly(conversation, MAX_CONVERSATION_MESSAGES)]
        if not conversations:
            return Digest(
                headline="No messages in this window.",
                sections=tuple(DigestSection(title) for title in SECTION_TITLES.values()),
                window_start=window[0] if window else None,
                window_end=window[1] if window else None,
                channel=channel,
            )

        batches = pack(conversations, fits=self._notes_fit, text_of=lambda m: clean_text(m.text))
        notes_by_batch: list[list[tuple[ModelNote, Batch]]] = []
        for batch in batches:
            notes = await self._notes(batch, run, on_queued)
            notes_by_batch.append([(note, batch) for note in notes])

        names = name_words(m.author.name for m in kept)
        background = word_weights(kept, names=names)
        repeated = repeated_texts(kept)
        quotable = frozenset(m.id for m in kept if quotable_message(m, repeated))
        other = await self._other_bullets(conversations, notes_by_batch, quotable=quotable, run=run, on_queued=on_queued)
        # A topic quotes a message the digest does not already list as an item, where it can:
        # the same open question under Topics and under Open questions says it twice.
        itemized = frozenset(b.sources[0].message_id for bullets in other.values() for b in bullets if b.sources)
        # Off the event loop: with an embedder, labelling embeds the day's messages.
        segments, topics, labels = await asyncio.to_thread(
            functools.partial(
                self._topics,
                batches,
                notes_by_batch,
                background=background,
                names=names,
                quotable=quotable,
                repeated=repeated,
                itemized=itemized,
            )
        )
        sizes = [len(segment.messages) for segment in segments]
        topic_bullets = self._cap(topics, "topic", segments_size=sizes)
        headline = self._headline(labels, sizes, kept, conversations)

        # No line repeats another: an item worded like a line above it is left out.
        seen = {normalized(headline)} | {normalized(b.text) for b in topic_bullets}
        item_sections: list[DigestSection] = []
        for kind in ("decision", "action", "question"):
            fresh = [b for b in other[kind] if normalized(b.text) not in seen]
            seen |= {normalized(b.text) for b in fresh}
            # Beyond max_bullets, the items most about what the day was about are shown.
            weights = [centrality(b.text, background, names=names) for b in fresh]
            item_sections.append(DigestSection(SECTION_TITLES[kind], self._cap(fresh, kind, segments_size=weights)))
        sections = (DigestSection(SECTION_TITLES["topic"], topic_bullets), *item_sections)
        covered = len({m.id for m in kept} & run.read) if run.out_of_time else len(kept)
        return Digest(
            headline=headline,
            sections=sections,
            coverage=Coverage(messages=len(kept), conversations=len(conversations), covered_messages=covered),
            stats=DigestStats(
                model_calls=run.calls,
                prompt_tokens=run.prompt_tokens,
                completion_tokens=run.completion_tokens,
                seconds=self.clock() - run.started,
            ),
            window_start=window[0] if window else None,
            window_end=window[1] if window else None,
            channel=channel,
        )

    # -- prompts that fit ---------------------------------------------------------------

    def notes_prompt_for(self, pieces: Sequence[Piece]) -> Prompt:
        groups: list[list[str]] = []
        last = None
        for number, piece in enumerate(pieces, start=1):
            if piece.conversation != last:
                groups.append([])
                last = piece.conversation
            groups[-1].append(numbered_line(number, piece.message.author.name, piece.text))
        return notes_prompt(groups)

    def prompt_tokens(self, prompt: Prompt) -> int:
        return self.model.count_tokens(self.model.render(prompt))

    def _fits(self, prompt: Prompt, max_tokens: int) -> bool:
        return self.prompt_tokens(prompt) + max_tokens <= self.model.n_ctx

    def _notes_fit(self, pieces: Sequence[Piece]) -> bool:
        return self._fits(self.notes_prompt_for(pieces), self.notes_tokens)

    # -- model calls --------------------------------------------------------------------

    def _time_left(self, run: _Run) -> float:
        return self.settings.time_budget_s - (self.clock() - run.started)

    async def _generate(
        self,
        prompt: Prompt,
        *,
        max_tokens: int,
        stop: Sequence[str],
        run: _Run,
        on_queued: OnQueued | None,
        grammar: str | None = None,
    ) -> Generation | None:
        left = self._time_left(run)
        if left <= 0:
            run.out_of_time = True
            return None
        try:
            generation = await self.worker.run(
                lambda: self.model.generate(prompt, max_tokens=max_tokens, stop=stop, timeout_s=left, grammar=grammar),
                on_queued=on_queued,
            )
        except ModelError as error:
            # A failed call costs this step its wording, not the digest: the extractive
            # candidates stand in for it. A model server that is down says so in one line a
            # step, not a traceback each.
            log.error("digest model call failed (%s); using extractive notes for this step", error)
            return None
        except Exception:
            log.exception("digest model call failed; using extractive notes for this step")
            return None
        run.calls += 1
        run.prompt_tokens += generation.prompt_tokens
        run.completion_tokens += generation.completion_tokens
        if generation.finish_reason == "timeout":
            run.out_of_time = True
        return generation

    def cache_key(self, prompt: Prompt) -> str:
        digest = hashlib.sha256()
        for part in (PROMPT_VERSION, self.model.name, str(self.notes_tokens), self.model.render(prompt)):
            digest.update(part.encode("utf-8"))
            digest.update(b"\0")
        return "digest-notes:" + digest.hexdigest()

    async def _notes(self, batch: Batch, run: _Run, on_queued: OnQueued | None) -> list[ModelNote]:
        prompt = self.notes_prompt_for(batch.pieces)
        key = self.cache_key(prompt)
        texts = [p.text for p in batch.pieces]
        if self.state is not None:
            cached = self.state.cached_notes(key)
            if isinstance(cached, list):
                run.read.update(m.id for m in batch.messages)
                return [ModelNote(str(n["kind"]), str(n["text"]), tuple(int(x) for x in n["numbers"])) for n in cached]
        generation = await self._generate(prompt, max_tokens=self.notes_tokens, stop=NOTES_STOP, run=run, on_queued=on_queued)
        if generation is None:
            return []
        run.read.update(m.id for m in batch.messages)
        notes = parse_notes(generation.text, texts=texts, truncated=generation.finish_reason == "length")
        if self.state is not None and generation.finish_reason != "timeout":
            self.state.cache_notes(key, [{"kind": n.kind, "text": n.text, "numbers": list(n.numbers)} for n in notes])
        return notes

    # -- reduce -------------------------------------------------------------------------

    def _topics(
        self,
        batches: Sequence[Batch],
        notes_by_batch: Sequence[Sequence[tuple[ModelNote, Batch]]],
        *,
        background: Counter[str],
        names: frozenset[str],
        quotable: frozenset[str],
        repeated: frozenset[str],
        itemized: frozenset[str],
    ) -> tuple[list[_Segment], list[DigestBullet], list[str]]:
        """One topic bullet per conversation: its label (``topic_labels``), its most
        informative sentence (or a model's topic line citing part of it when that line says
        as much, ``_model_says_enough``), and who took part. A conversation read in several
        chunks is still one bullet, so the tail of a chunk ("Okay.") never becomes a topic of
        its own; a conversation of nothing but small talk, placeholders and repeated texts
        gets no bullet at all. Returns the segments, the bullets and each bullet's label."""
        parts: dict[int, dict[str, ChannelMessage]] = defaultdict(dict)
        written: dict[int, list[tuple[str, list[ChannelMessage]]]] = defaultdict(list)
        for batch, notes in zip(batches, notes_by_batch, strict=True):
            for group in batch.conversations:
                conversation = group[0].conversation
                ids = {p.message.id for p in group}
                parts[conversation].update((p.message.id, p.message) for p in group)
                for note, _ in notes:
                    cited = [batch.pieces[n - 1].message for n in note.numbers]
                    if note.kind == "topic" and cited and all(m.id in ids and m.id in quotable for m in cited):
                        written[conversation].append((note.text, cited))
                        break
        # The whole window's frequent words break ties between a conversation's sentences,
        # so topic lines lean toward what the day was about rather than a side remark.
        scale = BACKGROUND_WEIGHT / max(1, len(parts))
        weighted = {word: count * scale for word, count in background.items()}
        # A label names what sets a conversation apart from the rest of the window.
        order = sorted(parts)
        named = dict(
            zip(
                order,
                topic_labels([tuple(parts[c].values()) for c in order], names=names, repeated=repeated, embedder=self.embedder),
                strict=True,
            )
        )
        segments: list[_Segment] = []
        bullets: list[DigestBullet] = []
        labels: list[str] = []
        seen: dict[str, int] = {}
        for conversation in order:
            messages = tuple(parts[conversation].values())
            said = tuple(m for m in messages if m.id in quotable)
            if not said:
                continue  # only greetings, thanks or a chorus: nothing to name
            quoted = topic(said, background=weighted, names=names, avoid=itemized)
            text, cited_messages = quoted.text, list(quoted.messages)
            quotes_an_item = quoted.messages[-1].id in itemized
            for line, cited in written[conversation]:
                if not quotes_an_item and all(m.id in itemized for m in cited):
                    continue  # it restates a listed item ("The code is a made from a struct ..." above that question)
                if self._model_says_enough(line, quoted.text, said, weighted, names):
                    text, cited_messages = line, cited
                    break
            label = named[conversation]
            if label and text == quoted.text and quotes_an_item:
                # Nothing but a listed item to quote: the label names the talk, and the item
                # below says it ("Kmd node — ann" above the open question, not the question twice).
                text = label
            sources = _links([messages[0], *cited_messages])
            key = normalized(text)
            if key in seen:
                # The same line for two conversations (a model that repeats itself): one
                # bullet, more sources.
                index = seen[key]
                merged = tuple({s.message_id: s for s in (*bullets[index].sources, *sources)}.values())
                bullets[index] = DigestBullet(bullets[index].text, merged[: MAX_SOURCES + 2])
                segments[index] = _Segment(segments[index].conversation, segments[index].messages + messages)
                continue
            line = f"{label}: {text}" if label and normalized(label) != key else text
            who = people(messages)
            if who:
                line = f"{line} — {who}"
            seen[key] = len(bullets)
            segments.append(_Segment(conversation, messages))
            bullets.append(DigestBullet(line, sources))
            labels.append(label)
        return segments, bullets, labels

    @staticmethod
    def _model_says_enough(
        written: str, quoted: str, messages: Sequence[ChannelMessage], background: Mapping[str, float], names: frozenset[str]
    ) -> bool:
        """A model's topic line replaces the quoted one only if it is about the conversation,
        not about who spoke ("The project manager is a good person"), and holds at least
        ``MODEL_CENTRALITY`` of the quoted line's share of the conversation's frequent words."""
        if not _about_the_conversation(written, names):
            return False
        local = word_weights(messages, names=names)
        weights = {w: n - 1 + background.get(w, 0.0) for w, n in local.items()}
        return centrality(written, weights, names=names) >= MODEL_CENTRALITY * centrality(quoted, weights, names=names)

    async def _other_bullets(
        self,
        conversations: Sequence[Conversation],
        notes_by_batch: Sequence[Sequence[tuple[ModelNote, Batch]]],
        *,
        quotable: frozenset[str],
        run: _Run,
        on_queued: OnQueued | None,
    ) -> dict[str, list[DigestBullet]]:
        """Decisions, action items and open questions: the wording rules' candidates, each
        then judged by the model under a grammar (``core/digests/judging.py``) when
        ``[digests] judge_items`` is on: a candidate the model calls a plain remark is left
        out. The model's wording replaces a candidate's where it wrote a valid note citing
        the same message. Small talk, placeholders and repeated texts are never items."""
        chosen: dict[str, dict[str, tuple[str, tuple[ChannelMessage, ...]]]] = defaultdict(dict)
        found: list[Candidate] = [c for c in window_candidates(conversations) if c.messages[0].id in quotable]
        if self.settings.judge_items:
            verdicts: dict[str, str | None] = {}
            for candidate in found:
                message = candidate.messages[0]
                if message.id not in verdicts:
                    verdicts[message.id] = await self.judge(clean_text(message.text), run=run, on_queued=on_queued)
            # A candidate the model could not judge (out of time, a failed call) stays: the
            # rules alone stand in, as they do for a model's notes.
            found = [c for c in found if verdicts[c.messages[0].id] != "none"]
        # One message is one item: a note of another kind citing a message the rules (or an
        # earlier note) already list would show the reader the same words twice.
        kind_of: dict[str, str] = {}
        for candidate in found:
            kind_of.setdefault(candidate.messages[0].id, candidate.kind)
            chosen[candidate.kind].setdefault(candidate.messages[0].id, (candidate.text, candidate.messages))
        for notes in notes_by_batch:
            for note, batch in notes:
                if note.kind == "topic":
                    continue
                cited = tuple({batch.pieces[n - 1].message.id: batch.pieces[n - 1].message for n in note.numbers}.values())
                if cited[0].id in quotable and kind_of.setdefault(cited[0].id, note.kind) == note.kind:
                    chosen[note.kind][cited[0].id] = (note.text, cited)
        result: dict[str, list[DigestBullet]] = {}
        for kind in ("decision", "action", "question"):
            entries = sorted(chosen[kind].values(), key=lambda entry: entry[1][0].timestamp)
            unique: dict[str, DigestBullet] = {}
            for text, messages in entries:
                unique.setdefault(kind + normalized(text), DigestBullet(text, _links(messages)))
            result[kind] = list(unique.values())
        return result

    async def judge(self, text: str, *, run: _Run | None = None, on_queued: OnQueued | None = None) -> str | None:
        """What the model calls the message ``text``: "decision", "action", "question" or
        "none"; None when it could not say (out of time, a failed call, a completion that
        is not a label). Cached in the state store like the notes."""
        prompt = judge_prompt(text)
        key = "digest-judge:" + hashlib.sha256(
            "\0".join((JUDGE_VERSION, self.model.name, self.model.render(prompt))).encode("utf-8")
        ).hexdigest()
        if self.state is not None:
            cached = self.state.cached_notes(key)
            if isinstance(cached, list) and cached and isinstance(cached[0], dict):
                return str(cached[0].get("kind")) or None
        generation = await self._generate(
            prompt,
            max_tokens=JUDGE_TOKENS,
            stop=("\n",),
            run=run or _Run(started=self.clock()),
            on_queued=on_queued,
            grammar=JUDGE_GRAMMAR,
        )
        kind = parse_judgement(generation.text) if generation is not None else None
        if kind is not None and self.state is not None:
            self.state.cache_notes(key, [{"kind": kind}])
        return kind

    def _cap(self, bullets: Sequence[DigestBullet], kind: str, *, segments_size: Sequence[float] | None = None) -> tuple[DigestBullet, ...]:
        """At most ``max_bullets`` bullets (those ranking highest in ``segments_size`` first:
        the largest conversations for topics, the most central items for the other sections),
        in time order, then one bullet that says how many more there were and links to them:
        nothing vanishes."""
        limit = max(1, self.settings.max_bullets)
        order = list(range(len(bullets)))
        if segments_size is not None:
            order.sort(key=lambda i: -segments_size[i])
        if len(bullets) <= limit:
            return tuple(bullets[i] for i in sorted(order[:limit]))
        shown = sorted(order[: limit - 1]) if limit > 1 else []
        rest = sorted(order[len(shown) :])
        noun = {"topic": "conversations", "decision": "decisions", "action": "action items", "question": "questions"}[kind]
        more = DigestBullet(
            f"{len(rest)} more {noun}, linked here",
            tuple(bullets[i].sources[0] for i in rest if bullets[i].sources),
        )
        return (*(bullets[i] for i in shown), more)

    @staticmethod
    def _headline(
        labels: Sequence[str], sizes: Sequence[int], messages: Sequence[ChannelMessage], conversations: Sequence[Conversation]
    ) -> str:
        """What the day was about: the labels of its busiest topics (at most
        ``HEADLINE_TOPICS``; after the first, only those holding ``HEADLINE_MIN_SHARE`` of the
        messages, and none that mostly repeats a label before it), never a quoted message.
        Without a label, the counts."""
        order = sorted(range(len(labels)), key=lambda i: (-sizes[i], i))
        total = sum(sizes)
        named: list[str] = []
        for index in order:
            if named and sizes[index] < HEADLINE_MIN_SHARE * total:
                break  # busiest first: every topic after this one is smaller still
            if labels[index] and not says_again(labels[index], named):
                named.append(labels[index])
            if len(named) >= HEADLINE_TOPICS:
                break
        if named:
            return "; ".join(named)
        plural = "s" if len(conversations) != 1 else ""
        return f"{len(messages)} messages in {len(conversations)} conversation{plural}"
