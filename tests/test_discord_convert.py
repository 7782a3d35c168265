"""Pure Discord conversions: splitting, embeds within Discord's limits, mentions, settings."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import discord
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.discord.convert import (
    EMBED_DESCRIPTION_LIMIT,
    EMBED_FIELD_NAME_LIMIT,
    EMBED_FIELD_VALUE_LIMIT,
    EMBED_FIELDS_LIMIT,
    EMBED_TITLE_LIMIT,
    EMBED_TOTAL_LIMIT,
    EMBEDS_PER_MESSAGE,
    MESSAGE_LIMIT,
    OutgoingMessage,
    answer_messages,
    answer_response,
    digest_messages,
    queued_text,
    replace_mentions,
    sources_embed,
    sources_list_embeds,
    split_message,
    stream_preview,
    strip_bot_mention,
    truncate,
)
from adapters.discord.settings import DiscordSettings, load_discord_settings
from bots.discord_bot import bot_permissions, invite_url
from core.errors import ConfigError
from core.ports import SourceInfo
from core.types import (
    Answer,
    ChannelRef,
    Citation,
    Coverage,
    Digest,
    DigestBullet,
    DigestSection,
    MessageLink,
    Quote,
)


def assert_within_limits(message: OutgoingMessage) -> None:
    assert len(message.content) <= MESSAGE_LIMIT
    assert len(message.embeds) <= EMBEDS_PER_MESSAGE
    assert sum(len(embed) for embed in message.embeds) <= EMBED_TOTAL_LIMIT
    for embed in message.embeds:
        assert len(embed.title or "") <= EMBED_TITLE_LIMIT
        assert len(embed.description or "") <= EMBED_DESCRIPTION_LIMIT
        assert len(embed.fields) <= EMBED_FIELDS_LIMIT
        for embed_field in embed.fields:
            assert 0 < len(embed_field.name or "") <= EMBED_FIELD_NAME_LIMIT
            assert 0 < len(embed_field.value or "") <= EMBED_FIELD_VALUE_LIMIT


# -- splitting -----------------------------------------------------------------------------


def test_short_text_is_one_part() -> None:
    assert split_message("Hello there.") == ["Hello there."]
    assert split_message("   ") == []


def test_long_answer_splits_at_sentence_boundaries() -> None:
    sentence = "The backup runs every night at two and keeps thirty days of snapshots. "
    text = sentence * 60  # about 4,300 characters, no line breaks
    parts = split_message(text)
    assert len(parts) == 3
    assert all(len(part) <= MESSAGE_LIMIT for part in parts)
    assert all(part.endswith("snapshots.") for part in parts)
    assert " ".join(parts) == text.strip()


def test_split_prefers_paragraphs_then_lines() -> None:
    paragraph = ("word " * 150).strip()  # 749 characters
    text = "\n\n".join([paragraph] * 4)
    parts = split_message(text)
    assert parts == ["\n\n".join([paragraph] * 2)] * 2


def test_split_hard_cuts_only_a_word_longer_than_a_message() -> None:
    text = "x" * 4500
    parts = split_message(text)
    assert [len(p) for p in parts] == [1996, 1996, 508]
    assert "".join(parts) == text


def test_split_keeps_code_blocks_rendering() -> None:
    code = "\n".join(f"    line_{i} = {i}" for i in range(200))
    text = f"Run this:\n```python\n{code}\n```\nThen restart."
    parts = split_message(text)
    assert len(parts) > 1
    for part in parts:
        assert len(part) <= MESSAGE_LIMIT
        assert part.count("```") % 2 == 0, part[:80]
    assert parts[1].startswith("```\n    line_")  # reopened, indentation kept


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab .!?\n`é🙂")), max_size=9000), st.integers(min_value=40, max_value=2000))
def test_split_never_exceeds_the_limit_and_loses_no_words(text: str, limit: int) -> None:
    parts = split_message(text, limit)
    assert all(0 < len(part) <= limit for part in parts)
    assert "".join("".join(parts).split()).replace("`", "") == "".join(text.split()).replace("`", "")


def test_stream_preview_stays_in_one_message() -> None:
    assert stream_preview("") == "…"
    assert stream_preview("Hello") == "Hello ▌"
    long = "A sentence that goes on. " * 200
    preview = stream_preview(long)
    assert len(preview) <= MESSAGE_LIMIT and preview.endswith("▌")


def test_truncate_adds_an_ellipsis_at_a_word() -> None:
    assert truncate("short", 10) == "short"
    cut = truncate("one two three four five six", 12)
    assert cut == "one two…" or cut == "one two thr…"
    assert len(cut) <= 12


def test_queued_text_says_the_position() -> None:
    assert "next" in queued_text(1)
    assert "number 3" in queued_text(3)


# -- mentions ------------------------------------------------------------------------------


def test_mentions_become_names_and_never_ping() -> None:
    text = "<@1> and <@!2> ask <@&3> in <#4>; @everyone @here <@99>"
    clean = replace_mentions(text, users={1: "Ann", 2: "Bo"}, roles={3: "Mods"}, channels={4: "support"})
    assert clean.startswith("@Ann and @Bo ask @Mods in #support;")
    assert "@everyone" not in clean and "@here" not in clean
    assert "<@" not in clean and "@someone" in clean


def test_strip_bot_mention_leaves_the_question() -> None:
    assert strip_bot_mention("<@42> how do I reset?", 42) == "how do I reset?"
    assert strip_bot_mention("hey <@!42>, what is X", 42) == "hey , what is X"
    assert strip_bot_mention("<@43> hi", 42) == "<@43> hi"


# -- answers -------------------------------------------------------------------------------


def citation(n: int, *, title: str = "Guide", url: str | None = "https://docs.example.com/guide", snippet: str = "Some text.") -> Citation:
    return Citation(n=n, source=f"docs/guide-{n}.md", title=title, snippet=snippet, score=0.8, url=url)


def test_answer_with_sources_has_an_embed_on_the_last_part() -> None:
    answer = Answer(question="q", text="Use the reset link [1].", grounded=True, citations=(citation(1), citation(2, url=None)))
    [message] = answer_messages(answer)
    assert message.content == "Use the reset link [1]."
    [embed] = message.embeds
    assert embed.title == "Sources"
    assert embed.fields[0].name == "[1] Guide"
    assert "(https://docs.example.com/guide)" in (embed.fields[0].value or "")
    assert "`docs/guide-2.md`" in (embed.fields[1].value or "")


def test_a_quoted_code_block_is_closed_before_its_citation_number() -> None:
    """"``` [1]" closes nothing: the citation would render as code with everything after it."""
    quotes = (Quote(text="Run:\n```\nmake run\n```", n=1), Quote(text="It starts.", n=2))
    answer = Answer(question="q", text="", grounded=True, citations=(citation(1), citation(2)), style="quote", quotes=quotes)
    [message] = answer_messages(answer)
    assert message.content.startswith("> Run:\n> ```\n> make run\n> ```\n> [1]\n> It starts. [2]")


def test_ungrounded_answer_says_its_sources_are_only_close() -> None:
    answer = Answer(question="q", text="I don't know.", grounded=False, citations=(citation(1),))
    assert answer_messages(answer)[0].embeds[0].title == "Closest sources I found"
    assert answer_messages(Answer(question="q", text="I don't know.", grounded=False))[0].embeds == ()


def test_huge_citations_stay_within_embed_limits() -> None:
    citations = tuple(
        citation(i, title="T" * 400, url="https://example.com/" + "p" * 300, snippet="s" * 5000) for i in range(1, 40)
    )
    answer = Answer(question="q", text="word " * 1200, grounded=True, citations=citations)
    messages = answer_messages(answer)
    assert len(messages) == 4
    for message in messages:
        assert_within_limits(message)
    assert messages[-1].embeds and not messages[0].embeds


def response_text(messages: list[OutgoingMessage]) -> str:
    """The answer text as a reader sees it: each message's content, then its text embeds."""
    pieces = [piece for m in messages for piece in (m.content, *(e.description or "" for e in m.embeds if not e.fields))]
    return " ".join(piece for piece in pieces if piece)


def test_an_ask_answer_up_to_about_6500_characters_is_one_message_with_sources_last() -> None:
    """``/ask`` edits one response (retried safely after a 5xx) instead of sending
    follow-ups: the text fills the content, goes on in embeds, the sources come last."""
    citations = tuple(citation(n, title=f"Guide {n}", snippet="How backups work. " * 30) for n in range(1, 5))
    sentence = "Restore a snapshot from the admin console, then restart the node to pick it up. "
    for repeats in (1, 30, 80):  # 80, 2,400, 6,400 characters
        text = (sentence * repeats).strip()
        [message] = answer_response(Answer(question="q", text=text, grounded=True, citations=citations))
        assert_within_limits(message)
        *parts, sources = message.embeds
        assert sources.title == "Sources" and len(sources.fields) == 4 and "backups" in (sources.fields[0].value or "")
        assert message.content.endswith("pick it up.") and all((e.description or "").endswith("pick it up.") for e in parts)
        assert response_text([message]) == text
        assert bool(parts) == (len(text) > MESSAGE_LIMIT)


def test_a_longer_ask_answer_drops_the_snippets_before_spilling_into_a_second_message() -> None:
    citations = tuple(citation(n, snippet="How backups work. " * 30) for n in range(1, 5))
    full = sources_embed(Answer(question="q", text="x", grounded=True, citations=citations))
    assert full is not None
    text = ("A sentence about restoring backups from the console. " * 140).strip()  # about 7,400 characters
    assert len(text) > MESSAGE_LIMIT + EMBED_TOTAL_LIMIT - len(full)
    [message] = answer_response(Answer(question="q", text=text, grounded=True, citations=citations))
    assert_within_limits(message)
    sources = message.embeds[-1]
    assert [f.name for f in sources.fields] == [f"[{n}] Guide" for n in range(1, 5)] and all("backups" not in (f.value or "") for f in sources.fields)
    assert all("(https://docs.example.com/guide)" in (f.value or "") for f in sources.fields)
    assert response_text([message]) == text


def test_an_ask_answer_beyond_one_message_goes_on_in_more_with_the_sources_on_the_last() -> None:
    text = ("Restore a snapshot from the admin console, then restart the node to pick it up. " * 250).strip()
    messages = answer_response(Answer(question="q", text=text, grounded=True, citations=(citation(1),)))
    assert len(messages) == 3  # 20,000 characters; one message holds about 7,900
    for message in messages:
        assert_within_limits(message)
        assert message.content
    assert messages[-1].embeds[-1].title == "Sources" and not any(e.fields for m in messages[:-1] for e in m.embeds)
    assert response_text(messages) == text


def test_an_ask_answer_without_sources_or_text_still_says_something() -> None:
    assert answer_response(Answer(question="q", text="  ", grounded=False)) == [OutgoingMessage(content="(no answer)")]
    [message] = answer_response(Answer(question="q", text="word " * 1000, grounded=False))
    assert len(message.embeds) == 1 and not message.embeds[0].title  # the text goes on, no sources embed


# -- digests and source lists ---------------------------------------------------------------


def digest(sections: int, bullets: int, text: str = "Something happened") -> Digest:
    when = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    link = MessageLink(message_id="1", author="ann", timestamp=when, link="https://discord.com/channels/1/2/3")
    return Digest(
        headline="A busy day in #support",
        sections=tuple(
            DigestSection(title=f"Topic {s}", bullets=tuple(DigestBullet(text=f"{text} {b}", sources=(link,)) for b in range(bullets)))
            for s in range(sections)
        ),
        coverage=Coverage(messages=120, conversations=9, covered_messages=100),
        window_start=when,
        window_end=datetime(2024, 5, 2, 9, 0, tzinfo=UTC),
        channel=ChannelRef(platform="discord", workspace="1", channel="2", name="support"),
    )


def test_digest_renders_headline_sections_links_and_coverage() -> None:
    [message] = digest_messages(digest(2, 2))
    [embed] = message.embeds
    assert embed.title == "A busy day in #support"
    assert "**Topic 0**" in (embed.description or "")
    assert "[ann 09:00](https://discord.com/channels/1/2/3)" in (embed.description or "")
    footer = embed.footer.text or ""
    assert "120 messages" in footer and "#support" in footer and "Covers 100 of 120" in footer


def test_huge_digest_is_packed_into_several_messages_within_limits() -> None:
    messages = digest_messages(digest(30, 20, text="A long bullet " * 20))
    assert len(messages) > 1
    for message in messages:
        assert_within_limits(message)
    assert messages[0].embeds[0].title


def test_empty_digest_still_says_so() -> None:
    empty = Digest(headline="Quiet day")
    [message] = digest_messages(empty)
    assert "Nothing worth summarizing" in (message.embeds[0].description or "")


def test_sources_list_names_each_source_and_scope() -> None:
    here = "discord:1:2"
    infos = [
        SourceInfo(source="docs/b.md", chunks=4, scopes=("public",), title="Billing"),
        SourceInfo(source="chat", chunks=2, scopes=(here,), title=""),
    ]
    [embed] = sources_list_embeds(infos, scopes={"public", here}, here=here)
    assert embed.title == "Knowledge base: 2 sources, 6 chunks"
    assert (embed.description or "").splitlines() == ["• **Billing** — 4 chunks (public)", "• **chat** — 2 chunks (this channel)"]
    many = [SourceInfo(source=f"docs/{i}.md", chunks=1, scopes=("public",), title="x" * 150) for i in range(400)]
    embeds = sources_list_embeds(many, scopes={"public"}, here=here)
    assert_within_limits(OutgoingMessage(embeds=tuple(embeds)))
    assert "more sources" in (embeds[-1].description or "")
    assert "don't hold any" in (sources_list_embeds([], scopes={"public"}, here=here)[0].description or "")


# -- settings and set-up -----------------------------------------------------------------------


def test_settings_parse_and_token_comes_from_the_environment() -> None:
    parsed = load_discord_settings({"sync_guild": "123456789012345678", "stream_interval_s": 2}, {"DISCORD_TOKEN": " abc "})
    assert parsed == DiscordSettings(token="abc", sync_guild=123456789012345678, stream_interval_s=2.0)
    assert parsed.configured
    assert not load_discord_settings({}, {}).configured
    assert load_discord_settings({"sync_guild": ""}, {}).sync_guild is None


@pytest.mark.parametrize(
    ("section", "wanted"),
    [
        ({"token": "x"}, "secret"),
        ({"sync_guild": "general"}, "server id"),
        ({"colour": "red"}, r"Unknown setting \[discord\] colour"),
        ({"mentions": "perhaps"}, "true or false"),
        ({"stream_interval_s": 0}, "at least"),
    ],
)
def test_bad_settings_name_the_setting(section: dict[str, object], wanted: str) -> None:
    with pytest.raises(ConfigError, match=wanted):
        load_discord_settings(section, {})


def test_invite_url_has_exactly_the_scopes_and_permissions_needed() -> None:
    url = invite_url("123456789012345678")
    query = parse_qs(urlparse(url).query)
    assert query["client_id"] == ["123456789012345678"]
    assert query["scope"] == ["bot applications.commands"]
    permissions = discord.Permissions(int(query["permissions"][0]))
    assert permissions == bot_permissions()
    # Discord's documented bits: add reactions, view channel, send messages, embed links,
    # read message history, send messages in threads.
    assert permissions.value == (1 << 6) | (1 << 10) | (1 << 11) | (1 << 14) | (1 << 16) | (1 << 38)
    with pytest.raises(ValueError, match="Application ID"):
        invite_url("not-a-number")


_any_text = st.text(max_size=6000)


@settings(max_examples=100, deadline=None)
@given(
    text=_any_text,
    titles=st.lists(st.text(max_size=600), max_size=30),
    snippet=st.text(max_size=3000),
    url=st.one_of(st.none(), st.text(min_size=1, max_size=500)),
)
def test_any_answer_fits_discord(text: str, titles: list[str], snippet: str, url: str | None) -> None:
    citations = tuple(
        Citation(n=i, source=f"s{i}", title=title, snippet=snippet, score=0.5, url=url) for i, title in enumerate(titles, 1)
    )
    answer = Answer(question="q", text=text, grounded=bool(titles), citations=citations)
    for message in [*answer_messages(answer), *answer_response(answer)]:
        assert_within_limits(message)
        assert message.content or message.embeds
    response = answer_response(answer)
    if text.strip():  # no word lost (code fences may be closed and reopened)
        assert "".join(response_text(response).split()).replace("`", "") == "".join(text.split()).replace("`", "")
    if len(text.strip()) <= MESSAGE_LIMIT:
        assert len(response) == 1


@settings(max_examples=60, deadline=None)
@given(headline=_any_text, bullets=st.lists(st.text(max_size=2500), max_size=40), title=st.text(max_size=400))
def test_any_digest_fits_discord(headline: str, bullets: list[str], title: str) -> None:
    digest = Digest(headline=headline, sections=(DigestSection(title=title, bullets=tuple(DigestBullet(text=b) for b in bullets)),))
    for message in digest_messages(digest):
        assert_within_limits(message)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000))
def test_mentions_never_survive_cleaning(text: str) -> None:
    clean = replace_mentions(text)
    assert "@everyone" not in clean and "@here" not in clean
    assert not re.search(r"<@[!&]?\d+>", clean)
