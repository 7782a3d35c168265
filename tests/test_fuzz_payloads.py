"""Hypothesis against the Slack and Discord payload converters.

Whatever arrives from a platform (missing keys, wrong types, odd Unicode, mention tokens,
broken markup, absurd lengths) the pure converters turn it into core types or Block Kit /
Discord messages without raising, and what they render never pings anyone and stays
within the platform's limits. The case counts go to ``docs/reliability.md``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import discord
import simcord
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from adapters.discord import convert as dc
from adapters.slack import convert as sc
from core.knowledge.loaders.slack_messages import attachment_text
from core.types import Answer, ChannelRef, Citation, Coverage, Digest, DigestBullet, DigestSection, MessageLink
from tests.reliability import record

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
CHEAP = settings(max_examples=800, deadline=None, database=None, suppress_health_check=list(HealthCheck))
"""For the properties of one text function, about 2 ms a case."""
FEWER = settings(max_examples=50, deadline=None, database=None, suppress_health_check=list(HealthCheck))
"""For the digest properties, whose every case renders dozens of bullets."""

# Text that looks like what chat platforms send: mention and link tokens, markup, entities,
# zero-width and right-to-left characters, emoji, control characters.
TOKENS = st.sampled_from(
    [
        "<@U0BOT>", "<@U12345|alice>", "<@W9>", "<#C123|general>", "<#C9>", "<!channel>", "<!here|here>",
        "<!everyone>", "<!subteam^S1|@devs>", "<!date^1392734382^{date}|Feb 18>", "<https://x.io|x>",
        "<mailto:a@b.c|a>", "<https://a.b/c?d=e&amp;f=g>", "&lt;", "&gt;", "&amp;", "&", "<", ">", "|",
        "@here", "@everyone", "@channel", "**", "*", "_", "~", "`", "```", "\n", "\n\n", "#", "# H", "[a](https://b.c)",
        "[x](javascript:alert(1))", "\u200b", "\u202e", "🙂", "👍🏽", "\x00", "\r\n", "<@", "<@U", "<!", "<#",
        "<@123456789012345678>", "<@!42>", "<@&7>", "<#999>", "```py\nx = 1\n", "ﷺ", "\ufeff", " " * 40,
    ]
)
CHAT_TEXT = st.lists(st.one_of(TOKENS, st.text(max_size=40)), max_size=30).map("".join)
LONG_TEXT = st.one_of(CHAT_TEXT, st.builds(lambda s, n: s * n, CHAT_TEXT, st.integers(1, 120)))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
SLACK_KEYS = (
    "type", "subtype", "text", "user", "bot_id", "ts", "thread_ts", "channel", "channel_type", "edited", "hidden",
    "attachments", "user_profile", "username", "bot_profile", "reply_count", "replies", "files", "blocks", "event_ts",
)
SLACK_TS = st.one_of(
    st.builds(lambda s, u: f"{s}.{u:06d}", st.integers(0, 4_102_444_800), st.integers(0, 999_999)),
    st.just("1700000000.000100"),
)
SLACK_VALUES: dict[str, Any] = {
    "text": CHAT_TEXT,
    "user": st.sampled_from(["U0ASKER", "U0BOT", "", "W1", "B0"]),
    "subtype": st.sampled_from(["", "bot_message", "channel_join", "message_changed", "thread_broadcast", "file_share", "weird"]),
    "ts": SLACK_TS,
    "thread_ts": SLACK_TS,
    "attachments": st.lists(st.dictionaries(st.sampled_from(["pretext", "title", "text", "fallback"]), st.one_of(CHAT_TEXT, JSON), max_size=3), max_size=3),
    "user_profile": st.dictionaries(st.sampled_from(["display_name", "real_name"]), st.text(max_size=20), max_size=2),
    "bot_profile": st.dictionaries(st.just("name"), st.text(max_size=20), max_size=1),
}


@st.composite
def slack_events(draw: st.DrawFn, *, wrong_types: bool = False) -> dict[str, Any]:
    """An event shaped like Slack's: ``ts`` always a Slack timestamp (as Slack guarantees),
    every other field present or not. With ``wrong_types`` any field may hold any JSON value
    (a corrupted export, a hand-written fixture)."""
    event: dict[str, Any] = {"ts": draw(SLACK_TS)}
    for key in draw(st.lists(st.sampled_from(SLACK_KEYS), max_size=len(SLACK_KEYS), unique=True)):
        if key == "ts":
            continue
        strategy = SLACK_VALUES.get(key, JSON)
        event[key] = draw(st.one_of(strategy, JSON) if wrong_types and key != "thread_ts" else strategy)
    return event


NAMES = st.dictionaries(st.sampled_from(["U0ASKER", "U12345", "W9"]), st.text(max_size=15), max_size=3)
CHANNEL = ChannelRef("slack", "T1", "C1", "general")
PING = re.compile(r"<!(channel|here|everyone|subteam)|<@[UW]|<#C")


def rendered_slack(messages: list[sc.SlackMessage]) -> str:
    return json.dumps([m.blocks for m in messages]) + " ".join(m.text for m in messages)


def assert_slack_limits(messages: list[sc.SlackMessage]) -> None:
    for message in messages:
        assert len(message.blocks) <= sc.BLOCKS_LIMIT
        assert len(message.text) <= sc.FALLBACK_LIMIT
        for block in message.blocks:
            if block["type"] == "section":
                assert 0 < len(block["text"]["text"]) <= sc.SECTION_LIMIT
            if block["type"] == "context":
                assert len(block["elements"]) <= sc.CONTEXT_ELEMENTS_LIMIT
                assert all(len(e["text"]) <= sc.SECTION_LIMIT for e in block["elements"])
            if block["type"] == "header":
                assert len(block["text"]["text"]) <= sc.HEADER_LIMIT


# -- Slack in --------------------------------------------------------------------------------


@FUZZ
@given(event=slack_events(), names=NAMES)
def test_slack_events_convert_without_raising(event: dict[str, Any], names: dict[str, str]) -> None:
    message = sc.to_channel_message(event, CHANNEL, names=names, workspace_url="https://acme.slack.com/")
    assert message.id == event["ts"] and message.channel.scope == CHANNEL.scope
    assert isinstance(message.text, str) and message.kind
    sc.is_from_person(event)
    attachment_text(event)


@FUZZ
@given(event=slack_events(wrong_types=True), names=NAMES)
def test_slack_events_with_wrongly_typed_fields_convert_without_raising(event: dict[str, Any], names: dict[str, str]) -> None:
    sc.to_channel_message(event, CHANNEL, names=names, workspace_url="https://acme.slack.com/")
    sc.thread_turns([event], before_ts="9999999999.000000", bot_user_id="U0BOT", names=names)


@FUZZ
@given(thread=st.lists(slack_events(), max_size=6), before=SLACK_TS, names=NAMES)
def test_slack_threads_become_turns_without_raising(thread: list[dict[str, Any]], before: str, names: dict[str, str]) -> None:
    turns = sc.thread_turns(thread, before_ts=before, bot_user_id="U0BOT", names=names, limit=5)
    assert len(turns) <= 5 and all(t.text for t in turns)


@CHEAP
@given(text=LONG_TEXT, names=NAMES)
def test_slack_question_text_never_raises_and_drops_the_bot(text: str, names: dict[str, str]) -> None:
    asked = sc.question_text(text, "U0BOT", names)
    assert "<@U0BOT>" not in asked
    sc.summarize_request(asked)


# -- Slack out -------------------------------------------------------------------------------


@FUZZ
@given(text=LONG_TEXT)
def test_slack_rendering_of_any_text_pings_nobody(text: str) -> None:
    assert not PING.search(sc.markdown_to_mrkdwn(text))
    assert not PING.search(sc.escape_mrkdwn(text))
    assert not PING.search(rendered_slack([sc.notice_message(text), sc.streaming_message(text)]))


@CHEAP
@given(text=LONG_TEXT, limit=st.integers(20, 3000))
def test_slack_split_keeps_every_character_within_the_limit(text: str, limit: int) -> None:
    pieces = sc.split_text(text, limit)
    assert all(0 < len(p) <= limit for p in pieces)
    assert "".join("".join(pieces).split()) == "".join(text.split())  # only whitespace at the cuts goes


CITATIONS = st.lists(
    st.builds(
        Citation,
        n=st.integers(1, 20),
        source=CHAT_TEXT,
        title=CHAT_TEXT,
        snippet=CHAT_TEXT,
        score=st.floats(0, 1),
        url=st.one_of(st.none(), st.just("https://docs.example.com/a b|c>d"), st.text(max_size=30), st.just("javascript:alert(1)")),
    ),
    max_size=15,
)
ANSWERS = st.builds(Answer, question=CHAT_TEXT, text=LONG_TEXT, grounded=st.booleans(), citations=CITATIONS.map(tuple))
WHEN = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
LINKS = st.builds(MessageLink, message_id=st.text(max_size=8), author=CHAT_TEXT, timestamp=st.just(WHEN), link=st.one_of(st.none(), st.text(max_size=30)))
DIGESTS = st.builds(
    Digest,
    headline=LONG_TEXT,
    sections=st.lists(
        st.builds(DigestSection, title=CHAT_TEXT, bullets=st.lists(st.builds(DigestBullet, text=CHAT_TEXT, sources=st.lists(LINKS, max_size=4).map(tuple)), max_size=8).map(tuple)),
        max_size=6,
    ).map(tuple),
    coverage=st.builds(Coverage, messages=st.integers(0, 10_000), conversations=st.integers(0, 500), covered_messages=st.integers(0, 10_000)),
    window_start=st.just(WHEN),
    window_end=st.just(WHEN),
    channel=st.just(CHANNEL),
)


@FUZZ
@given(answer=ANSWERS)
def test_slack_answers_stay_within_block_kit_limits_and_ping_nobody(answer: Answer) -> None:
    messages = sc.answer_messages(answer, actions=sc.feedback_buttons("a1"))
    assert_slack_limits(messages)
    assert not PING.search(rendered_slack(messages))
    assert sc.FEEDBACK_UP in json.dumps(messages[-1].blocks)


@FEWER
@given(digest=DIGESTS)
def test_slack_digests_stay_within_block_kit_limits_and_ping_nobody(digest: Digest) -> None:
    messages = sc.digest_messages(digest)
    assert_slack_limits(messages)
    assert not PING.search(rendered_slack(messages))


# -- Discord out -----------------------------------------------------------------------------


def assert_discord_limits(message: dc.OutgoingMessage) -> None:
    assert len(message.content) <= dc.MESSAGE_LIMIT
    assert len(message.embeds) <= dc.EMBEDS_PER_MESSAGE
    assert sum(len(e) for e in message.embeds) <= dc.EMBED_TOTAL_LIMIT
    for embed in message.embeds:
        assert len(embed.title or "") <= dc.EMBED_TITLE_LIMIT
        assert len(embed.description or "") <= dc.EMBED_DESCRIPTION_LIMIT
        assert len(embed.fields) <= dc.EMBED_FIELDS_LIMIT
        for f in embed.fields:
            assert len(f.name or "") <= dc.EMBED_FIELD_NAME_LIMIT and len(f.value or "") <= dc.EMBED_FIELD_VALUE_LIMIT


@FUZZ
@given(answer=ANSWERS)
def test_discord_answers_stay_within_limits(answer: Answer) -> None:
    for message in dc.answer_messages(answer):
        assert_discord_limits(message)


@FEWER
@given(digest=DIGESTS)
def test_discord_digests_stay_within_limits(digest: Digest) -> None:
    for message in dc.digest_messages(digest):
        assert_discord_limits(message)


@CHEAP
@given(text=LONG_TEXT, limit=st.integers(9, 2000))
def test_discord_split_and_preview_within_limits(text: str, limit: int) -> None:
    parts = dc.split_message(text, limit)
    assert all(len(p) <= limit for p in parts)
    assert len(dc.stream_preview(text)) <= dc.MESSAGE_LIMIT
    # Defused mentions read "@\u200beveryone": a live one has nothing between "@" and the word.
    assert not re.search(r"@(everyone|here)\b", dc.replace_mentions(text))


# -- Discord in: gateway payloads through discord.py's own parser ----------------------------

SNOWFLAKE = st.integers(1, 2**63 - 1)


@st.composite
def message_payloads(draw: st.DrawFn, channel_id: int, guild_id: int) -> dict[str, Any]:
    author = {
        "id": str(draw(SNOWFLAKE)),
        "username": draw(st.text(min_size=1, max_size=32)),
        "discriminator": "0",
        "global_name": draw(st.one_of(st.none(), st.text(max_size=32))),
        "avatar": None,
        "bot": draw(st.booleans()),
    }
    payload: dict[str, Any] = {
        "id": str(draw(SNOWFLAKE)),
        "channel_id": str(channel_id),
        "guild_id": str(guild_id),
        "author": author,
        "content": draw(LONG_TEXT),
        "timestamp": "2025-03-03T09:30:00.000000+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": draw(st.booleans()),
        "mentions": draw(st.lists(st.fixed_dictionaries({"id": SNOWFLAKE.map(str), "username": st.text(min_size=1, max_size=10), "discriminator": st.just("0"), "avatar": st.none()}), max_size=3)),
        "mention_roles": draw(st.lists(SNOWFLAKE.map(str), max_size=3)),
        "attachments": draw(st.lists(st.fixed_dictionaries({"id": SNOWFLAKE.map(str), "filename": st.text(max_size=40), "size": st.integers(0, 10**9), "url": st.just("https://cdn.example/a"), "proxy_url": st.just("https://cdn.example/a")}), max_size=3)),
        "embeds": draw(st.lists(st.fixed_dictionaries({}, optional={"title": CHAT_TEXT, "description": LONG_TEXT, "type": st.just("rich")}), max_size=3)),
        "pinned": False,
        "type": draw(st.sampled_from([0, 0, 0, 7, 6, 19, 20, 21, 3, 46, 999])),
    }
    if draw(st.booleans()):
        payload["webhook_id"] = str(draw(SNOWFLAKE))
    if draw(st.booleans()):
        payload["message_reference"] = {"message_id": str(draw(SNOWFLAKE)), "channel_id": str(channel_id)}
    return payload


async def test_discord_gateway_messages_convert_without_raising() -> None:
    """MESSAGE_CREATE payloads go through discord.py's parser exactly as the gateway's do;
    whatever it accepts, our converters turn into core types without raising."""
    client = discord.Client(intents=discord.Intents.default())
    converted = rejected = 0
    async with simcord.run(client, settle_timeout=30) as env:
        guild = env.create_guild(name="Fuzz")
        channel_handle = guild.create_text_channel("general")
        channel = client.get_channel(channel_handle.id)
        assert channel is not None

        @FUZZ
        @given(payload=message_payloads(channel_handle.id, guild.id), bot_id=SNOWFLAKE)
        def convert(payload: dict[str, Any], bot_id: int) -> None:
            nonlocal converted, rejected
            try:
                message = client._connection.create_message(channel=channel, data=payload)  # type: ignore[arg-type]
            except (KeyError, ValueError, TypeError):  # discord.py itself refuses it: never reaches us
                rejected += 1
                reject()
            core = dc.to_channel_message(message)
            assert core.id == payload["id"] and core.channel.platform == "discord"
            text = dc.message_text(message, without_mention_of=bot_id)
            assert f"<@{bot_id}>" not in text
            dc.to_turn(message, bot_id=bot_id)
            converted += 1

        convert()
    record("Fuzzing", converter="Discord gateway MESSAGE_CREATE -> ChannelMessage, Turn", cases=converted, rejected_by_discord_py=rejected)
    assert converted > 100
