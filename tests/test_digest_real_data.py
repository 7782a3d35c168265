"""Digests of real chat through the real packaged model, at n_ctx 512 and 2048.

Each case checks what must hold whatever the model writes: no prompt exceeds the context,
every bullet links to messages that exist in the input, the four sections are there, and
every message is covered. A few days are enough: each costs model time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.config import DigestSettings
from core.digests.conversations import meaningful
from core.digests.labels import is_placeholder
from core.digests.summarizing import Summarizer
from core.knowledge.loaders import read_messages
from core.ports import Generation, LanguageModel, Prompt
from core.types import Author, ChannelMessage, ChannelRef, Digest

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]


@dataclass
class RecordingModel:
    """The real model, with every prompt it is given counted by its own tokenizer."""

    inner: LanguageModel
    calls: list[tuple[int, int]] = field(default_factory=list)

    @property
    def n_ctx(self) -> int:
        return self.inner.n_ctx

    @property
    def name(self) -> str:
        return self.inner.name

    def render(self, prompt: Prompt) -> str:
        return self.inner.render(prompt)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def generate(
        self,
        prompt: Prompt,
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        on_text: Callable[[str], None] | None = None,
        timeout_s: float | None = None,
        grammar: str | None = None,
    ) -> Generation:
        self.calls.append((self.inner.count_tokens(self.inner.render(prompt)), max_tokens))
        return self.inner.generate(
            prompt, max_tokens=max_tokens, stop=stop, on_text=on_text, timeout_s=timeout_s, grammar=grammar
        )


def meeting(path: Path, turns: int) -> list[ChannelMessage]:
    """A QMSum meeting transcript as one long conversation (a turn every 20 seconds)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    ref = ChannelRef("export", "qmsum", path.stem, name=path.stem)
    start = datetime(2024, 1, 1, 10, tzinfo=UTC)
    return [
        ChannelMessage(
            id=f"{path.stem}-{i}",
            channel=ref,
            author=Author(turn["speaker"], turn["speaker"]),
            text=turn["content"],
            timestamp=start + timedelta(seconds=20 * i),
        )
        for i, turn in enumerate(data["meeting_transcripts"][:turns])
    ]


def channel_day(shared_data: Path, name: str) -> list[ChannelMessage]:
    messages = read_messages(shared_data / "slack" / "clojurians-events-2018-02-01.jsonl")
    return [m for m in messages if m.channel.name == name]


def check(digest: Digest, model: RecordingModel, messages: Sequence[ChannelMessage]) -> None:
    assert model.calls, "the model was never asked"
    for prompt_tokens, max_tokens in model.calls:
        assert prompt_tokens <= model.n_ctx - max_tokens
    ids = {m.id for m in meaningful(messages) if not is_placeholder(m.text)}  # "[message text edited or deleted]"
    assert [s.title for s in digest.sections] == ["Topics", "Decisions", "Action items", "Open questions"]
    assert digest.headline.strip()
    assert digest.sections[0].bullets, "no topics"
    for section in digest.sections:
        for bullet in section.bullets:
            assert bullet.text.strip() and bullet.sources, bullet
            assert {link.message_id for link in bullet.sources} <= ids
    assert digest.coverage.messages == len(ids) == digest.coverage.covered_messages
    assert digest.stats.model_calls == len(model.calls)


async def summarize(model: LanguageModel, worker, messages: Sequence[ChannelMessage]) -> tuple[Digest, RecordingModel]:  # type: ignore[no-untyped-def]
    recording = RecordingModel(model)
    digest = await Summarizer(model=recording, worker=worker, state=None, settings=DigestSettings()).summarize(messages)
    return digest, recording


async def test_discord_support_day_at_512(shared_data: Path, small_language_model, model_worker) -> None:  # type: ignore[no-untyped-def]
    messages = read_messages(shared_data / "discord" / "komodo-support-2019-Dec-14.csv")
    digest, model = await summarize(small_language_model, model_worker, messages)
    check(digest, model, messages)
    assert len(model.calls) >= 2  # a small day, yet more than one call of this context holds


async def test_discord_support_day_at_2048(shared_data: Path, language_model, model_worker) -> None:  # type: ignore[no-untyped-def]
    messages = read_messages(shared_data / "discord" / "komodo-support-2019-Dec-10.csv")
    digest, model = await summarize(language_model, model_worker, messages)
    check(digest, model, messages)
    assert len(model.calls) < len(meaningful(messages)) / 4  # whole conversations share a call


async def test_clojurians_channel_day_at_512(shared_data: Path, small_language_model, model_worker) -> None:  # type: ignore[no-untyped-def]
    messages = channel_day(shared_data, "clojure-spec")
    assert len(meaningful(messages)) > 20
    digest, model = await summarize(small_language_model, model_worker, messages)
    check(digest, model, messages)


# Turns enough for two conversations (40 turns at most each) that no one call of that context holds.
@pytest.mark.parametrize(("fixture", "turns"), [("small_language_model", 50), ("language_model", 70)])
async def test_a_meeting_is_one_long_conversation_split_to_fit(
    shared_data: Path, fixture: str, turns: int, request: pytest.FixtureRequest, model_worker  # type: ignore[no-untyped-def]
) -> None:
    model = request.getfixturevalue(fixture)
    messages = meeting(sorted((shared_data / "summaries" / "qmsum-val").glob("*.json"))[0], turns)
    digest, recording = await summarize(model, model_worker, messages)
    check(digest, recording, messages)
    assert digest.coverage.conversations == 2
    assert len(recording.calls) >= 2
