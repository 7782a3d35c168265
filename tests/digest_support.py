"""Test helpers of the digest tests: message builders and real implementations of the ports
(a word-counting language model with scripted replies, an in-memory chat platform)."""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.ports import Generation, Prompt
from core.types import Author, ChannelMessage, ChannelRef, Digest

CHANNEL = ChannelRef("slack", "T1", "C1", name="general")
START = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
_TOKEN = re.compile(r"\w+|[^\w\s]")


def message(
    n: int,
    author: str,
    text: str,
    *,
    minute: int | None = None,
    at: datetime | None = None,
    channel: ChannelRef = CHANNEL,
    kind: str = "message",
    bot: bool = False,
    thread: str | None = None,
    reply_to: str | None = None,
) -> ChannelMessage:
    moment = at or START + timedelta(minutes=n if minute is None else minute)
    return ChannelMessage(
        id=f"m{n}",
        channel=channel,
        author=Author(id=author.lower(), name=author, is_bot=bot),
        text=text,
        timestamp=moment,
        thread_id=thread,
        reply_to=reply_to,
        permalink=f"https://example.slack.com/archives/{channel.channel}/p{n}",
        kind=kind,
    )


def release_day() -> list[ChannelMessage]:
    """A small day: a release thread with a decision and owners, an unanswered question,
    noise, and a second conversation after a long pause."""
    return [
        message(1, "alice", "When do we ship release 2.1? The changelog is not finished yet."),
        message(2, "bob", "We decided to ship release 2.1 on Friday after the changelog review."),
        message(3, "alice", "I'll finish the changelog for release 2.1 by Thursday."),
        message(4, "bob", "carol, can you update the download page for release 2.1?"),
        message(5, "carol", "Sure, on it."),
        message(6, "joiner", "has joined the channel", kind="join"),
        message(7, "ci-bot", "Build 812 passed", bot=True),
        message(8, "dave", "Does anyone know why the ARM nightly build fails with openssl errors?", minute=180),
        message(9, "dave", "The nightly ARM logs show a missing libssl symbol.", minute=181),
    ]


@dataclass
class WordModel:
    """A LanguageModel whose tokens are words and punctuation, replying from a script.

    ``reply`` gets each prompt and returns the completion; every rendered prompt is kept
    (``prompts``) with its token count, so tests can check that none overflowed.
    """

    n_ctx: int = 512
    reply: Callable[[Prompt], str] = lambda prompt: ""
    name: str = "word-model"
    on_call: Callable[[Prompt], None] | None = None
    prompts: list[tuple[Prompt, int, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def render(self, prompt: Prompt) -> str:
        return f"{prompt.instructions}\n\n{prompt.body}\n{prompt.answer_prefix}"

    def count_tokens(self, text: str) -> int:
        return len(_TOKEN.findall(text)) + 1

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
        tokens = self.count_tokens(self.render(prompt))
        with self._lock:
            self.prompts.append((prompt, tokens, max_tokens))
        if self.on_call is not None:
            self.on_call(prompt)
        text = self.reply(prompt)
        for marker in stop:
            if marker and marker in text:
                text = text[: text.index(marker)]
        words = _TOKEN.findall(text)
        finish = "length" if len(words) > max_tokens else "stop"
        return Generation(text=text, prompt_tokens=tokens, completion_tokens=min(len(words), max_tokens), seconds=0.0, finish_reason=finish)

    def overflowed(self) -> list[int]:
        return [tokens + answer for _, tokens, answer in self.prompts if tokens + answer > self.n_ctx]


@dataclass
class Post:
    channel: ChannelRef
    text: str
    digest: Digest | None
    id: str


class MemoryPlatform:
    """A ChatPlatform kept in memory: history per channel id, posts appended to it."""

    def __init__(self, platform: str = "slack", *, clock: Callable[[], datetime] | None = None) -> None:
        self.platform = platform
        self.clock = clock or (lambda: datetime.now(UTC))
        self.history: dict[str, list[ChannelMessage]] = {}
        self.posts: list[Post] = []
        self.fetches: list[tuple[str, datetime, datetime]] = []
        self.fail_next_post: BaseException | None = None
        self.crash_after_next_post: BaseException | None = None
        self.faults_fired: list[BaseException] = []  # the injected failures above that were raised
        self._ids = itertools.count(1)

    def add(self, *messages: ChannelMessage) -> None:
        for item in messages:
            self.history.setdefault(item.channel.channel, []).append(item)

    async def fetch_history(self, channel: ChannelRef, since: datetime, until: datetime) -> list[ChannelMessage]:
        self.fetches.append((channel.channel, since, until))
        found = [m for m in self.history.get(channel.channel, []) if since <= m.timestamp < until]
        return sorted(found, key=lambda m: m.timestamp)

    async def post(self, channel: ChannelRef, text: str, *, digest: Digest | None = None) -> str:
        if self.fail_next_post is not None:
            error, self.fail_next_post = self.fail_next_post, None
            self.faults_fired.append(error)
            raise error
        post_id = f"post-{next(self._ids)}"
        self.posts.append(Post(channel, text, digest, post_id))
        self.add(
            ChannelMessage(
                id=post_id,
                channel=channel,
                author=Author("tidings", "Tidings", is_bot=True),
                text=text,
                timestamp=self.clock(),
                kind="bot",
            )
        )
        if self.crash_after_next_post is not None:
            error, self.crash_after_next_post = self.crash_after_next_post, None
            self.faults_fired.append(error)
            raise error
        return post_id
