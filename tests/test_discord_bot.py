"""The real Discord bot (built by ``bots.discord_bot.build_bot``) driven through simcord's
in-memory Discord: slash commands, mentions, threads, buttons, errors and history.

Answers here come from ``ScriptedAnswerer``, a real implementation of the answerer port
that runs through the real model worker: it lets these tests pin the text (a 4,000
character answer, a slow stream) and see what the adapter passed in (scopes, thread
context). Everything else is real: knowledge base, state, gatekeeper, worker.
``tests/test_discord_answers.py`` asks the real model.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest
import simcord

from adapters.discord.bot import TidingsDiscordBot
from adapters.discord.convert import MESSAGE_LIMIT
from bots.discord_bot import build_bot, check_discord
from core.answers.access import Gatekeeper
from core.answers.questions import EMPTY_MENTION
from core.answers.records import FEEDBACK_THANKS, RESTARTED_COMMAND
from core.config import AccessSettings
from core.errors import GENERIC_APOLOGY, KnowledgeBaseError
from core.services import OnQueued, OnText, Services
from core.types import (
    Answer,
    ChannelMessage,
    ChannelRef,
    Citation,
    Coverage,
    Digest,
    DigestBullet,
    DigestSection,
    Question,
)
from tests.trust_support import hold_model

SETTLE_S = 60.0


class ScriptedAnswerer:
    """Answers every question with ``text``, written through the real model worker in
    ``pieces`` (as a model streams), optionally slowly; remembers each question."""

    def __init__(self, services: Services, text: str, *, pieces: int = 1, delay_s: float = 0.0, citations: int = 1) -> None:
        self.worker = services.worker
        self.text = text
        self.pieces = pieces
        self.delay_s = delay_s
        self.citations = tuple(
            Citation(n=n, source=f"docs/guide-{n}.md", title=f"Guide {n}", snippet="How backups work.", score=0.8, url=f"https://docs.example.com/{n}")
            for n in range(1, citations + 1)
        )
        self.questions: list[Question] = []

    async def answer(self, question: Question, *, on_text: OnText | None = None, on_queued: OnQueued | None = None) -> Answer:
        self.questions.append(question)
        loop = asyncio.get_running_loop()
        size = max(1, len(self.text) // self.pieces)

        def generate() -> str:
            for end in range(size, len(self.text) + size, size):
                if self.delay_s:
                    threading.Event().wait(self.delay_s)
                if on_text is not None:
                    asyncio.run_coroutine_threadsafe(on_text(self.text[:end]), loop).result()
            return self.text

        text = await self.worker.run(generate, on_queued=on_queued)
        return Answer(question=question.text, text=text, grounded=True, citations=self.citations)


class RecordingSummarizer:
    """The summarizer port: one bullet per message it was given, linked to that message."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[ChannelMessage], tuple[datetime, datetime] | None]] = []

    async def summarize(
        self,
        messages: Sequence[ChannelMessage],
        *,
        channel: ChannelRef | None = None,
        window: tuple[datetime, datetime] | None = None,
        on_queued: OnQueued | None = None,
    ) -> Digest:
        from core.types import MessageLink

        self.calls.append((list(messages), window))
        bullets = tuple(
            DigestBullet(text=m.text, sources=(MessageLink(message_id=m.id, author=m.author.name, timestamp=m.timestamp, link=m.permalink),))
            for m in messages
        )
        return Digest(
            headline=f"{len(messages)} messages",
            sections=(DigestSection(title="Everything", bullets=bullets),),
            coverage=Coverage(messages=len(messages), conversations=1, covered_messages=len(messages)),
            window_start=window[0] if window else None,
            window_end=window[1] if window else None,
            channel=channel,
        )


class BrokenKnowledgeBase:
    """A knowledge base whose storage has failed."""

    def sources(self, scopes: Any = None) -> list[Any]:
        raise KnowledgeBaseError("the LanceDB table could not be opened")

    def search(self, *args: Any, **kwargs: Any) -> list[Any]:
        raise KnowledgeBaseError("the LanceDB table could not be opened")


@pytest.fixture
def services(make_services: Callable[..., Services]) -> Services:
    """Real services (LanceDB in a temp folder, the session's models and model worker)."""
    return make_services()


def bot_for(services: Services, tmp_path: Path, toml: str = "", **replace: Any) -> TidingsDiscordBot:
    """The bot exactly as ``tidings run`` builds it from a config file, on these services."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "tidings.toml"
    config.write_text(toml, encoding="utf-8")
    bot = build_bot(str(config), services=dataclasses.replace(services, **replace) if replace else services, environ={"TIDINGS_HOME": str(tmp_path)})
    return bot


@asynccontextmanager
async def discord_world(bot: discord.Client) -> AsyncIterator[tuple[simcord.Env, Any, Any, Any]]:
    """A running simulated Discord with one server, #support and a member, alice."""
    async with simcord.run(bot, settle_timeout=SETTLE_S) as env:
        guild = env.create_guild(name="Komodo")
        support = guild.create_text_channel("support")
        alice = guild.add_member(env.create_user("alice"))
        yield env, guild, support, alice


def callbacks(env: simcord.Env) -> list[int]:
    """The interaction response types the bot sent, in order (5 = deferred "thinking...")."""
    return [entry.json["type"] for entry in env.http_requests if entry.path.endswith("/callback") and isinstance(entry.json, dict)]


def original_edits(env: simcord.Env) -> list[str]:
    return [
        (entry.json or {}).get("content") or ""
        for entry in env.http_requests
        if entry.method == "PATCH" and entry.path.endswith("/messages/@original")
    ]


# -- /ask ------------------------------------------------------------------------------------


async def test_ask_defers_then_answers_with_sources_and_feedback_buttons(services: Services, tmp_path: Path) -> None:
    answerer = ScriptedAnswerer(services, "Backups run nightly at 02:00 [1].", citations=2)
    bot = bot_for(services, tmp_path, answerer=answerer)
    async with discord_world(bot) as (env, guild, support, alice):
        result = await alice.slash(support, "ask", question="When do backups run?")

        assert callbacks(env) == [5]  # deferred first, then edited
        response = result.response
        assert response is not None and not result.ephemeral
        assert response.content == "Backups run nightly at 02:00 [1]."
        [embed] = response.embeds
        assert embed.title == "Sources" and [f.name for f in embed.fields] == ["[1] Guide 1", "[2] Guide 2"]
        buttons = response.components[0]["components"]
        assert [b["emoji"]["name"] for b in buttons] == ["👍", "👎"]

        [question] = answerer.questions
        assert question.scopes == {"public", f"discord:{guild.id}:{support.id}"}
        assert question.asker == str(alice.id) and question.request_id.startswith("discord-")

        click = await alice.click(response, custom_id=buttons[1]["custom_id"])
        assert click.ephemeral and click.response is not None
        assert click.response.content == FEEDBACK_THANKS[-1]
        [stored] = services.state.feedback()
        assert stored["rating"] == -1 and stored["platform"] == "discord"
        assert stored["question"] == "When do backups run?" and stored["answer"].startswith("Backups run nightly")
        assert stored["channel"] == f"discord:{guild.id}:{support.id}"


async def test_feedback_buttons_survive_a_restart(services: Services, tmp_path: Path) -> None:
    bot = bot_for(services, tmp_path, answerer=ScriptedAnswerer(services, "Yes [1]."))
    async with discord_world(bot) as (env, _guild, support, alice):
        result = await alice.slash(support, "ask", question="Is it on?")
        assert result.response is not None
        up = result.response.components[0]["components"][0]["custom_id"]
        await env.restart_bot(bot_for(services, tmp_path / "again", answerer=ScriptedAnswerer(services, "Yes.")))
        click = await alice.click(result.response, custom_id=up)
        assert click.response is not None and click.response.content == FEEDBACK_THANKS[1]
        assert [f["rating"] for f in services.state.feedback()] == [1]


async def test_private_ask_answers_ephemerally(services: Services, tmp_path: Path) -> None:
    bot = bot_for(services, tmp_path, answerer=ScriptedAnswerer(services, "Only you see this."))
    async with discord_world(bot) as (_env, _guild, support, alice):
        result = await alice.slash(support, "ask", question="secret?", private=True)
        assert result.ephemeral
        assert result.response is not None and result.response.ephemeral
        assert result.response.content == "Only you see this."
        assert support.history() == []  # nothing visible to the channel


@pytest.mark.parametrize("private", [False, True], ids=["public", "private"])
async def test_a_long_answer_is_one_response_with_the_rest_in_embeds(services: Services, tmp_path: Path, private: bool) -> None:
    """An answer over 2,000 characters is still one message, the edited response: part one
    in its content, the rest in embeds, then the sources and the buttons. No follow-up (a
    webhook message, which discord.py may send twice after a 5xx)."""
    sentence = "Restore a snapshot from the admin console, then restart the node to pick it up. "
    text = (sentence * 55).strip()  # about 4,500 characters
    bot = bot_for(services, tmp_path, answerer=ScriptedAnswerer(services, text, citations=3))
    async with discord_world(bot) as (env, _guild, support, alice):
        result = await alice.slash(support, "ask", question="How do I restore?", private=private)
        response = result.response
        assert response is not None and result.followups == []
        assert response.ephemeral == private and bool(support.history()) == (not private)
        assert not [e for e in env.http_requests if e.method == "POST" and "/webhooks/" in e.path]
        assert 0 < len(response.content) <= MESSAGE_LIMIT and response.content.endswith("pick it up.")
        *rest, sources = response.embeds
        assert rest and all(embed.description and embed.description.endswith("pick it up.") for embed in rest)
        assert " ".join([response.content, *(embed.description or "" for embed in rest)]) == text
        assert sources.title == "Sources" and [f.name for f in sources.fields] == ["[1] Guide 1", "[2] Guide 2", "[3] Guide 3"]
        assert [b["emoji"]["name"] for b in response.components[0]["components"]] == ["👍", "👎"]


async def test_answer_streams_with_throttled_edits(services: Services, tmp_path: Path) -> None:
    text = "One. Two. Three. Four. Five. Six. Seven. Eight."
    answerer = ScriptedAnswerer(services, text, pieces=8, delay_s=0.3)  # about 2.4 s of "generation"
    bot = bot_for(services, tmp_path, "[discord]\nstream_interval_s = 1.0\n", answerer=answerer)
    async with discord_world(bot) as (env, _guild, support, alice):
        result = await alice.slash(support, "ask", question="Count?")
        edits = original_edits(env)
        streaming, final = edits[:-1], edits[-1]
        assert final == text
        assert 1 <= len(streaming) <= 4  # at most about one a second, never one per piece
        assert all(edit.endswith("▌") for edit in streaming)
        assert result.response is not None and result.response.content == text


async def test_busy_model_shows_the_queue_position_then_the_answer(services: Services, tmp_path: Path) -> None:
    bot = bot_for(services, tmp_path, answerer=ScriptedAnswerer(services, "Answered after the wait."))
    async with discord_world(bot) as (env, _guild, support, alice):
        # Something else (a digest, another question) holds the model.
        release, busy = hold_model(services, most_s=30)
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        loop.call_later(1.0, release.set)
        result = await alice.slash(support, "ask", question="Anyone there?")
        await busy
        edits = original_edits(env)
        assert "number" in edits[0] or "next" in edits[0]  # the queue notice came first
        assert result.response is not None and result.response.content == "Answered after the wait."


# -- @mentions and threads ------------------------------------------------------------------------


async def test_mention_replies_to_the_message_without_pinging(services: Services, tmp_path: Path) -> None:
    answerer = ScriptedAnswerer(services, "Ask @everyone? No: the docs say X [1].")
    bot = bot_for(services, tmp_path, answerer=answerer)
    async with discord_world(bot) as (env, _guild, support, alice):
        asked = await alice.send(support, f"{bot.user.mention} how do backups work?")  # type: ignore[union-attr]
        reply = support.last_message
        assert reply is not None and reply.author.id == bot.user.id  # type: ignore[union-attr]
        assert reply.reference is not None and reply.reference.message_id == asked.id
        assert reply.content == "Ask @everyone? No: the docs say X [1]."
        assert reply.embeds and reply.embeds[0].title == "Sources"
        [question] = answerer.questions
        assert question.text == "how do backups work?" and question.conversation == ()
        # Seen at once with 👀, which goes away when the answer is there.
        reactions = [(e.method, e.path) for e in env.http_requests if "/reactions/" in e.path]
        assert [method for method, _path in reactions] == ["PUT", "DELETE"]
        refreshed = next(m for m in support.history() if m.id == asked.id)
        assert refreshed.reactions == []
        # No answer may ping anyone: every send and edit carried allowed_mentions none.
        for entry in env.http_requests:
            if entry.method in {"POST", "PATCH"} and isinstance(entry.json, dict) and "content" in entry.json:
                allowed = entry.json.get("allowed_mentions") or {}
                assert allowed.get("parse") == [] and not allowed.get("users") and not allowed.get("roles"), entry.path


async def test_mention_inside_a_thread_reads_the_thread_as_context(services: Services, tmp_path: Path) -> None:
    answerer = ScriptedAnswerer(services, "Then restart the agent.")
    bot = bot_for(services, tmp_path, answerer=answerer)
    async with discord_world(bot) as (env, guild, support, alice):
        bob = guild.add_member(env.create_user("bob"))
        starter = await alice.send(support, "My node stopped syncing after the update")
        thread_channel = env.backend.create_thread(support.id, "node sync", alice.id, message_id=starter.id)
        thread = next(t for t in support.threads if t.id == thread_channel.id)
        await bob.send(thread, "Which version are you on?")
        await alice.send(thread, "0.5.9, on Ubuntu")
        await alice.send(thread, f"{bot.user.mention} what should I do?")  # type: ignore[union-attr]

        [question] = answerer.questions
        assert question.text == "what should I do?"
        assert [(t.author, t.text) for t in question.conversation] == [
            ("alice", "My node stopped syncing after the update"),
            ("bob", "Which version are you on?"),
            ("alice", "0.5.9, on Ubuntu"),
        ]
        # The thread's scope is its parent channel's.
        assert f"discord:{guild.id}:{support.id}" in question.scopes
        assert thread.last_message is not None and thread.last_message.content == "Then restart the agent."
        # The bot's own answer is context too, marked as the bot's (a follow-up is searched with people's words).
        await alice.send(thread, f"{bot.user.mention} and if that fails?")  # type: ignore[union-attr]
        follow_up = answerer.questions[-1]
        assert [(t.text, t.by_bot) for t in follow_up.conversation[-2:]] == [
            ("what should I do?", False),
            ("Then restart the agent.", True),
        ]


async def test_empty_mention_and_refused_user_get_one_polite_sentence(services: Services, tmp_path: Path) -> None:
    gatekeeper = Gatekeeper(settings=AccessSettings(allowed_roles=("Members",)))
    bot = bot_for(services, tmp_path, answerer=ScriptedAnswerer(services, "never"), gatekeeper=gatekeeper)
    async with discord_world(bot) as (env, guild, support, alice):
        members = guild.create_role("Members")
        bob = guild.add_member(env.create_user("bob"), roles=[members])
        await bob.send(support, bot.user.mention)  # type: ignore[union-attr]
        assert support.last_message is not None and support.last_message.content == EMPTY_MENTION

        result = await alice.slash(support, "ask", question="Can I?")
        assert result.ephemeral and result.response is not None
        assert "role" in result.response.content
        assert callbacks(env) == [4]  # refused straight away, nothing deferred


# -- errors ------------------------------------------------------------------------------------


async def test_a_failing_knowledge_base_gives_one_polite_ephemeral_sentence(
    services: Services, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot = bot_for(services, tmp_path, knowledge_base=BrokenKnowledgeBase())
    async with discord_world(bot) as (env, _guild, support, alice):
        with caplog.at_level(logging.ERROR, logger="tidings.discord"):
            result = await alice.slash(support, "sources")
        assert [type(e).__name__ for e in env.errors] == ["CommandInvokeError"]  # reading them acknowledges them
        assert callbacks(env) == [5]
        assert result.ephemeral and result.response is not None
        assert result.response.content == GENERIC_APOLOGY and not result.response.embeds
        assert "could not be opened" in caplog.text and "Traceback" in caplog.text


async def test_an_answer_failing_after_defer_is_replaced_by_an_apology(services: Services, tmp_path: Path) -> None:
    """The "thinking..." response is edited to the apology (an edit discord.py may retry
    safely): no follow-up, nothing left saying "thinking..."."""

    class FailingAnswerer:
        async def answer(self, question: Question, **kwargs: Any) -> Answer:
            raise KnowledgeBaseError("search failed")

    bot = bot_for(services, tmp_path, answerer=FailingAnswerer())
    async with discord_world(bot) as (env, _guild, support, alice):
        result = await alice.slash(support, "ask", question="Anything?")
        env.errors  # noqa: B018 - reading errors acknowledges the one we caused
        assert callbacks(env) == [5]
        assert result.followups == [] and result.response is not None
        assert result.response.content == GENERIC_APOLOGY
        assert not result.response.embeds and not result.response.components
        assert original_edits(env) == [GENERIC_APOLOGY]
        private = await alice.slash(support, "ask", question="Anything?", private=True)
        env.errors  # noqa: B018
        assert private.followups == [] and private.response is not None and private.response.ephemeral
        assert private.response.content == GENERIC_APOLOGY


# -- /sources and /summarize ----------------------------------------------------------------------


async def test_sources_lists_what_this_channel_can_see(services: Services, tmp_path: Path) -> None:
    from core.types import Chunk

    bot = bot_for(services, tmp_path)
    async with discord_world(bot) as (_env, guild, support, alice):
        here = f"discord:{guild.id}:{support.id}"
        kb = services.knowledge_base
        kb.replace_source("docs/backups.md", [Chunk(id="b1", source="docs/backups.md", title="Backups", text="Backups run nightly.")])
        kb.replace_source("secret.md", [Chunk(id="s1", source="secret.md", title="Secret", text="x", scope="discord:9:9")])
        kb.replace_source("support-chat", [Chunk(id="c1", source="support-chat", title="Support chat", text="y", scope=here)])
        result = await alice.slash(support, "sources")
        assert result.ephemeral and result.response is not None
        text = "\n".join(e.description or "" for e in result.response.embeds)
        assert "**Backups** — 1 chunks (public)" in text
        assert "**Support chat** — 1 chunks (this channel)" in text
        assert "Secret" not in text


async def test_summarize_is_registered_only_with_a_summarizer(services: Services, tmp_path: Path) -> None:
    without = bot_for(dataclasses.replace(services, summarizer=None), tmp_path)
    assert sorted(c.name for c in without.tree.get_commands()) == ["ask", "sources", "tidings"]
    summarizer = RecordingSummarizer()
    bot = bot_for(services, tmp_path / "with", summarizer=summarizer)
    assert sorted(c.name for c in bot.tree.get_commands()) == ["ask", "sources", "summarize", "tidings"]
    async with discord_world(bot) as (env, _guild, support, alice):
        await alice.send(support, "old news")
        await env.advance_time(7 * 3600)
        await alice.send(support, "the deploy is stuck")
        await env.advance_time(60)
        result = await alice.slash(support, "summarize", since="6h")
        [(messages, window)] = summarizer.calls
        assert [m.text for m in messages] == ["the deploy is stuck"]
        assert window is not None and window[1] - window[0] == timedelta(hours=6)
        assert result.response is not None
        [embed] = result.response.embeds
        assert embed.title == "1 messages" and "the deploy is stuck" in (embed.description or "")
        assert messages[0].permalink and messages[0].permalink in (embed.description or "")

        bad = await alice.slash(support, "summarize", since="last tuesday")
        assert bad.ephemeral and bad.response is not None and "6h" in bad.response.content


# -- history and posting (the ChatPlatform port) -----------------------------------------------------


async def test_history_between_two_times_includes_threads_links_and_names(services: Services, tmp_path: Path) -> None:
    bot = bot_for(services, tmp_path)
    async with discord_world(bot) as (env, guild, support, alice):
        bob = guild.add_member(env.create_user("bob"))
        await alice.send(support, "before the window")
        await env.advance_time(3600)
        start = env.now()
        first = await alice.send(support, "in the window")
        thread_channel = env.backend.create_thread(support.id, "follow-up", alice.id, message_id=first.id)
        thread = next(t for t in support.threads if t.id == thread_channel.id)
        await env.advance_time(60)
        await bob.send(thread, "reply in the thread")
        await bob.send(support, f"<@{alice.id}> thanks")
        await env.advance_time(3600)
        end = env.now()
        await alice.send(support, "after the window")

        ref = ChannelRef(platform="discord", workspace=str(guild.id), channel=str(support.id), name="support")
        history = await bot.platform.fetch_history(ref, start, end)
        spoken = [m for m in history if m.kind == "message"]
        assert [(m.author.name, m.text) for m in spoken] == [
            ("alice", "in the window"),
            ("bob", "reply in the thread"),
            ("bob", "@alice thanks"),
        ]
        assert all(start <= m.timestamp < end for m in history)
        assert [m.timestamp for m in history] == sorted(m.timestamp for m in history)
        in_thread = spoken[1]
        assert in_thread.thread_id == str(first.id) and in_thread.channel.thread == str(thread.id)
        assert in_thread.channel.scope == ref.scope
        assert spoken[0].thread_id == str(first.id)  # the message that started the thread is its root
        for message in spoken:
            assert message.permalink == f"https://discord.com/channels/{guild.id}/{message.channel.thread or support.id}/{message.id}"
        only_thread = await bot.platform.fetch_history(dataclasses.replace(ref, thread=str(thread.id)), start, end)
        assert [m.text for m in only_thread] == ["reply in the thread"]
        assert await bot.platform.fetch_history(ref, end, start) == []


async def test_post_digest_as_embeds_without_pings(services: Services, tmp_path: Path) -> None:
    bot = bot_for(services, tmp_path)
    async with discord_world(bot) as (_env, guild, support, _alice):
        digest = Digest(
            headline="Two things happened @everyone",
            sections=(DigestSection(title="Ops", bullets=(DigestBullet(text="Deploy fixed"),)),),
        )
        ref = ChannelRef(platform="discord", workspace=str(guild.id), channel=str(support.id), name="support")
        posted = await bot.platform.post(ref, "fallback text", digest=digest)
        message = support.last_message
        assert message is not None and str(message.id) == posted
        assert message.embeds[0].title == "Two things happened @everyone"
        assert "Deploy fixed" in (message.embeds[0].description or "")
        assert not message.mention_everyone
        long_id = await bot.platform.post(ref, "word " * 900)
        assert [len(m.content) <= MESSAGE_LIMIT for m in support.history()[-3:]] == [True, True, True]
        assert str(support.history()[-3].id) == long_id


# -- replaying a real support channel -----------------------------------------------------------


@pytest.mark.shared_data
async def test_replayed_komodo_support_channel_comes_back_as_history(
    services: Services, tmp_path: Path, shared_data: Path
) -> None:
    files = sorted((shared_data / "discord").glob("komodo-support-*.csv"))[:4]
    original = [m for path in files for m in read_komodo_csv(path)]
    assert len(original) > 50
    bot = bot_for(services, tmp_path)
    async with simcord.run(bot, settle_timeout=SETTLE_S) as env:
        guild = env.create_guild(name="Komodo")
        support = guild.create_text_channel("support")
        people: dict[str, Any] = {}
        start = env.now()
        previous = original[0].timestamp
        for message in original:
            # Keep the real gaps between messages on simcord's virtual clock.
            env.backend.advance_clock(max(0.0, (message.timestamp - previous).total_seconds()))
            previous = message.timestamp
            if message.author.id not in people:
                people[message.author.id] = guild.add_member(env.create_user(message.author.name.split("#")[0][:32] or "someone"))
            await people[message.author.id].send(support, message.text[:MESSAGE_LIMIT])
        end = env.now() + timedelta(seconds=1)
        ref = ChannelRef(platform="discord", workspace=str(guild.id), channel=str(support.id), name="support")
        history = await bot.platform.fetch_history(ref, start, end)

    assert [m.text for m in history] == [m.text[:MESSAGE_LIMIT] for m in original]
    assert [m.author.name for m in history] == [people[m.author.id].name for m in original]
    gaps = [(b.timestamp - a.timestamp) for a, b in itertools.pairwise(original)]
    replayed_gaps = [(b.timestamp - a.timestamp) for a, b in itertools.pairwise(history)]
    assert all(abs((x - y).total_seconds()) < 1 for x, y in zip(gaps, replayed_gaps, strict=True))
    assert all(m.permalink and m.permalink.startswith("https://discord.com/channels/") for m in history)


def read_komodo_csv(path: Path) -> list[ChannelMessage]:
    """The day's messages as the project's own DiscordChatExporter CSV loader reads them."""
    from core.knowledge.loaders.discord_csv import read_discord_csv

    text = path.read_text(encoding="utf-8")
    messages = read_discord_csv(path, text) if text.strip() else []
    return [m for m in messages if m.text.strip()]


# -- set-up helpers ------------------------------------------------------------------------------


async def test_check_discord_without_a_token_says_how_to_set_it() -> None:
    [problem] = await check_discord("")
    assert "DISCORD_TOKEN" in problem and ".env" in problem


def test_build_bot_reads_the_discord_section_and_token(services: Services, tmp_path: Path) -> None:
    config = tmp_path / "tidings.toml"
    config.write_text('[discord]\nsync_guild = "123456789012345678"\nmentions = false\n', encoding="utf-8")
    bot = build_bot(str(config), services=services, environ={"DISCORD_TOKEN": "t0ken", "TIDINGS_HOME": str(tmp_path)})
    assert bot.discord_settings.sync_guild == 123456789012345678
    assert bot.discord_settings.token == "t0ken"
    assert not bot.discord_settings.mentions
    assert bot.intents.message_content and bot.allowed_mentions is not None
    assert bot.allowed_mentions.to_dict() == {"parse": []}


async def test_commands_sync_to_one_server_when_configured(services: Services, tmp_path: Path) -> None:
    server_id = 123456789012345678
    bot = bot_for(services, tmp_path, f'[discord]\nsync_guild = "{server_id}"\n')
    env = simcord.Env(bot, settle_timeout=SETTLE_S)
    testing = env.create_guild(name="Testing", id=server_id)  # the server must exist when the bot starts
    await env.start()
    try:
        other = env.create_guild(name="Elsewhere")
        tester = testing.add_member(env.create_user("tester"))
        stranger = other.add_member(env.create_user("stranger"))
        assert set(tester.available_commands(testing.create_text_channel("dev"))) >= {"ask", "sources"}
        assert stranger.available_commands(other.create_text_channel("general")) == ()
    finally:
        await env.shutdown()


async def test_questions_cut_off_by_a_restart_get_a_note_afterwards(services: Services, tmp_path: Path) -> None:
    seen_pending: list[list[dict[str, Any]]] = []

    class PeekingAnswerer(ScriptedAnswerer):
        async def answer(self, question: Question, **kwargs: Any) -> Answer:
            # While answering, the question is on record (taken here to look at it).
            seen_pending.append(services.state.take_unfinished_questions())
            return await super().answer(question, **kwargs)

    bot = bot_for(services, tmp_path, answerer=PeekingAnswerer(services, "Done."))
    async with discord_world(bot) as (env, _guild, support, alice):
        asked = await alice.send(support, f"{bot.user.mention} is it done?")  # type: ignore[union-attr]
        [[pending]] = seen_pending
        assert pending["platform"] == "discord" and pending["message"] == str(asked.id)
        assert pending["channel"] == str(support.id) and pending["asker_name"] == "alice"
        assert services.state.take_unfinished_questions() == []  # finished once answered

        # After a restart, the runner hands the bot what the old process left unanswered.
        lost = await alice.send(support, "a question whose answer was lost")
        restarted = bot_for(services, tmp_path / "restarted")
        restarted.tell_unfinished(
            [
                {"platform": "discord", "channel": str(support.id), "message": str(lost.id), "asker": str(alice.id)},
                {"platform": "discord", "channel": str(support.id), "message": None, "asker": str(alice.id), "asker_name": "alice"},
                {"platform": "slack", "channel": "C1", "message": "1.2"},
            ]
        )
        await env.restart_bot(restarted)
        notes = support.history()[-2:]
        assert notes[0].reference is not None and notes[0].reference.message_id == lost.id
        assert "restarted" in notes[0].content
        assert notes[1].content.endswith("(asked by alice).") and not notes[1].mentions  # named, never pinged


# -- late and interrupted answers --------------------------------------------------------------


class LateAnswerer(ScriptedAnswerer):
    """Answers only after Discord's 15 minute interaction window: while it works, simcord's
    clock is moved past the token's expiry (the queue was that long)."""

    env: simcord.Env | None = None

    async def answer(self, question: Question, **kwargs: Any) -> Answer:
        assert self.env is not None
        self.env.backend.advance_clock(16 * 60)
        return await super().answer(question, **kwargs)


async def test_an_answer_finished_after_the_token_expired_is_posted_in_the_channel_for_the_asker(
    services: Services, tmp_path: Path
) -> None:
    answerer = LateAnswerer(services, "Backups run nightly at 02:00 [1].", pieces=3)
    bot = bot_for(services, tmp_path, answerer=answerer)
    async with discord_world(bot) as (env, _guild, support, alice):
        answerer.env = env
        result = await alice.slash(support, "ask", question="When do backups run?")
        assert callbacks(env) == [5]
        # The response could not be edited any more (Discord: Unknown Webhook); nothing was lost.
        [late] = [m for m in support.history() if m.author.id == bot.user.id and "02:00" in m.content]  # type: ignore[union-attr]
        assert late.content.startswith(f"<@{alice.id}>") and "Backups run nightly at 02:00" in late.content
        assert [u.id for u in late.mentions] == [alice.id]
        assert late.embeds and late.embeds[0].title == "Sources"
        assert [b["emoji"]["name"] for b in late.components[0].to_dict()["components"]] == ["👍", "👎"]
        assert env.errors == [] and services.state.take_unfinished_questions() == []
        assert result.response is None or "02:00" not in (result.response.content or "")


async def test_a_private_answer_after_the_token_expired_goes_to_the_asker_not_the_channel(
    services: Services, tmp_path: Path
) -> None:
    answerer = LateAnswerer(services, "Your salary review is in May.")
    bot = bot_for(services, tmp_path, answerer=answerer)
    async with discord_world(bot) as (env, _guild, support, alice):
        answerer.env = env
        await alice.slash(support, "ask", question="When is my review?", private=True)
        assert not any("May" in m.content for m in support.history())
        [late] = [m for m in alice.user.dm_channel.history() if "May" in m.content]
        assert late.content.startswith(f"<@{alice.id}>")
        assert env.errors == []


@pytest.mark.parametrize("minutes_ago", [2, 90])
async def test_a_half_written_mention_reply_is_answered_again_or_becomes_the_restart_note(
    services: Services, tmp_path: Path, minutes_ago: int
) -> None:
    import time as clock

    seen_pending: list[list[dict[str, Any]]] = []

    class CutOffAnswerer(ScriptedAnswerer):
        async def answer(self, question: Question, *, on_text: OnText | None = None, **kwargs: Any) -> Answer:
            assert on_text is not None
            await on_text("Backups run nightly")  # shown: the reply is posted half-written
            await asyncio.sleep(0.2)  # the edit in flight lands
            seen_pending.append(services.state.take_unfinished_questions())  # what a crash here leaves
            return await super().answer(question, on_text=on_text, **kwargs)

    bot = bot_for(services, tmp_path, answerer=CutOffAnswerer(services, "Backups run nightly at 02:00."))
    async with discord_world(bot) as (env, _guild, support, alice):
        asked = await alice.send(support, f"{bot.user.mention} when do backups run?")  # type: ignore[union-attr]
        [[pending]] = seen_pending
        half = next(m for m in support.history() if m.reference is not None and m.reference.message_id == asked.id)
        assert pending["reply"] == str(half.id) and pending["message"] == str(asked.id)
        assert pending["question"] == "when do backups run?"
        # Pretend the process died with the reply half-written: show it so, then restart.
        await half.edit(content="Backups run nightly")
        again = ScriptedAnswerer(services, "Backups run every night at 02:00 UTC.")
        restarted = bot_for(services, tmp_path / "restarted", answerer=again)
        restarted.tell_unfinished([{**pending, "asked_at": clock.time() - minutes_ago * 60}])
        await env.restart_bot(restarted)
        edited = next(m for m in support.history() if m.id == half.id)
        replies = [m for m in support.history() if m.reference is not None and m.reference.message_id == asked.id]
        assert [m.id for m in replies] == [half.id]  # edited, never a second reply
        if minutes_ago < 60:  # recent: answered again, in the same message
            assert edited.content.startswith("Backups run every night at 02:00 UTC.")
            assert [q.text for q in again.questions] == ["when do backups run?"]
            assert services.state.take_unfinished_questions() == []
        else:  # too old to answer now: the note, in place of the half-written text
            assert "restarted" in edited.content and "Backups run nightly" not in edited.content
            assert again.questions == []
        assert env.errors == []


async def test_a_half_written_ask_response_is_answered_again_in_place_after_a_restart(services: Services, tmp_path: Path) -> None:
    """A /ask response cut off by a restart: the interaction's token died with the process, so
    the restarted bot edits the response as its own message, first into the note, then into
    the answer; a private /ask keeps no message id (the bot could not edit it) and gets the note."""
    seen_pending: list[list[dict[str, Any]]] = []

    class CutOffAnswerer(ScriptedAnswerer):
        async def answer(self, question: Question, *, on_text: OnText | None = None, **kwargs: Any) -> Answer:
            assert on_text is not None
            await on_text("Backups run nightly")
            await asyncio.sleep(0.2)
            seen_pending.append(services.state.take_unfinished_questions())  # what a crash here leaves
            return await super().answer(question, on_text=on_text, **kwargs)

    bot = bot_for(services, tmp_path, answerer=CutOffAnswerer(services, "Backups run nightly at 02:00."))
    async with discord_world(bot) as (env, _guild, support, alice):
        result = await alice.slash(support, "ask", question="When do backups run?")
        await alice.slash(support, "ask", question="When is my review?", private=True)
        [[pending], [private]] = seen_pending
        response = result.response
        assert response is not None and pending["reply"] == str(response.id) and pending["message"] is None
        assert private["reply"] is None
        half = next(m for m in support.history() if m.id == response.id)
        await half.edit(content="Backups run nightly")  # as the crash left it
        before = len(support.history())
        again = ScriptedAnswerer(services, "Backups run every night at 02:00 UTC.")
        restarted = bot_for(services, tmp_path / "restarted", answerer=again)
        restarted.tell_unfinished([pending, private])
        await env.restart_bot(restarted)
        edited = next(m for m in support.history() if m.id == response.id)
        assert edited.content.startswith("Backups run every night at 02:00 UTC.")
        assert edited.embeds and [q.text for q in again.questions] == ["When do backups run?"]
        added = support.history()[before:]
        assert [m.content for m in added] == [f"{RESTARTED_COMMAND} (asked by alice)."]  # the private one: a note
        assert services.state.take_unfinished_questions() == [] and env.errors == []


# -- /tidings ------------------------------------------------------------------------------------


async def test_tidings_group_digest_on_list_off_sources_and_forget(services: Services, tmp_path: Path) -> None:
    from core.digests.scheduling import DigestScheduler

    bot = bot_for(services, tmp_path)
    assert services.summarizer is not None
    async with discord_world(bot) as (env, guild, support, alice):
        scheduler = DigestScheduler(
            settings=services.settings, state=services.state, summarizer=services.summarizer, platforms={"discord": bot.platform}
        )
        await scheduler.start()
        services.digest_listeners.append(scheduler.reload)
        try:
            moderators = guild.create_role("moderators", permissions=discord.Permissions(manage_channels=True))
            mod = guild.add_member(env.create_user("mod"), roles=[moderators])
            job = f"digest:discord:{guild.id}:{support.id}"

            refused = await alice.slash(support, "tidings digest", action="on")
            assert "Only workspace admins" in (refused.response.content or "")  # type: ignore[union-attr]
            assert services.state.digest_subscriptions() == []

            bad = await mod.slash(support, "tidings digest", action="on", time="25:99", timezone="Mars/Olympus")
            assert "25:99 is not a time of day" in (bad.response.content or "")  # type: ignore[union-attr]
            assert services.state.digest_subscriptions() == []

            on = await mod.slash(support, "tidings digest", action="on", time="08:30", timezone="Asia/Tokyo")
            assert on.response is not None and on.response.flags.ephemeral
            assert "on, at 08:30 Asia/Tokyo" in on.response.content
            assert scheduler._scheduler.get_job(job) is not None

            listed = await alice.slash(support, "tidings digest", action="list")
            assert "#support" in (listed.response.content or "") and "from the chat" in (listed.response.content or "")  # type: ignore[union-attr]

            off = await mod.slash(support, "tidings digest", action="off")
            assert "switched off" in (off.response.content or "")  # type: ignore[union-attr]
            assert scheduler._scheduler.get_job(job) is None

            hidden = guild.create_text_channel(
                "hidden", overwrites={bot.user: discord.PermissionOverwrite(read_message_history=False)}  # type: ignore[dict-item]
            )
            blind = await mod.slash(hidden, "tidings digest", action="on")
            assert "`Read Message History`" in (blind.response.content or "")  # type: ignore[union-attr]
            assert services.state.digest_subscriptions() == []

            assert "/tidings digest on" in ((await alice.slash(support, "tidings help")).response.content or "")  # type: ignore[union-attr]
            assert "`public`" in ((await alice.slash(support, "tidings sources")).response.content or "")  # type: ignore[union-attr]
            here = f"discord:{guild.id}:{support.id}"
            services.state.remember_answer("n1", {"question": "Where is the VPN guide?", "answer": "…", "channel": here, "grounded": False})
            not_yours = await alice.slash(support, "tidings unanswered")
            assert "Only workspace admins" in (not_yours.response.content or "")  # type: ignore[union-attr]
            unanswered = await mod.slash(support, "tidings unanswered")
            assert unanswered.response is not None and unanswered.response.flags.ephemeral
            assert "• Where is the VPN guide? (asked " in unanswered.response.content
            for n in range(12):  # long questions, more than the reply shows: it stays within Discord's limit
                long_one = f"Question {n}: " + "why does the nightly export stop halfway " * 40
                services.state.remember_answer(f"n{n + 2}", {"question": long_one, "answer": "…", "channel": here, "grounded": False})
            crowded = await mod.slash(support, "tidings unanswered")
            assert crowded.response is not None and len(crowded.response.content) <= 2000
            assert "… and 3 more (`tidings feedback unanswered` lists them all)." in crowded.response.content
            services.state.remember_answer("x1", {"asker": str(alice.id), "question": "q", "answer": "a"})
            ask_first = await alice.slash(support, "tidings forget")
            assert "/tidings forget me confirm" in (ask_first.response.content or "")  # type: ignore[union-attr]
            assert services.state.recall_answer("x1") is not None
            await alice.slash(support, "tidings forget", confirm=True)
            assert services.state.recall_answer("x1") is None
            assert env.errors == []
        finally:
            await scheduler.stop()
