"""Slack payload <-> core types, escaping, mention neutralising, Block Kit limits."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.slack.convert import (
    BLOCKS_LIMIT,
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    SECTION_LIMIT,
    answer_messages,
    datetime_to_ts,
    digest_messages,
    escape_mrkdwn,
    feedback_buttons,
    is_from_person,
    markdown_to_mrkdwn,
    plain_text,
    question_text,
    split_text,
    summarize_request,
    thread_turns,
    to_channel_message,
)
from core.knowledge.loaders.slack_messages import message_kind, permalink, slack_time
from core.types import (
    Answer,
    ChannelRef,
    Citation,
    Coverage,
    Digest,
    DigestBullet,
    DigestSection,
    MessageLink,
)

CHANNEL = ChannelRef("slack", "T1", "C1", "general")
PINGS = re.compile(r"<!(channel|here|everyone)|<@[UW]|<!subteam")


def all_texts(blocks: object) -> list[str]:
    """Every text string anywhere in a Block Kit structure."""
    found: list[str] = []
    if isinstance(blocks, dict):
        for key, value in blocks.items():
            if key == "text" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(all_texts(value))
    elif isinstance(blocks, list | tuple):
        for item in blocks:
            found.extend(all_texts(item))
    return found


def check_limits(messages: list) -> None:
    for message in messages:
        assert 0 < len(message.blocks) <= BLOCKS_LIMIT
        for block in message.blocks:
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= SECTION_LIMIT
            if block["type"] == "context":
                assert len(block["elements"]) <= 10
                assert all(len(e["text"]) <= SECTION_LIMIT for e in block["elements"])
        json.dumps(message.blocks)  # plain JSON, as the Web API needs


# -- escaping and mentions ------------------------------------------------------------------


def test_escape_neutralises_every_kind_of_ping() -> None:
    hostile = "Hi <!channel> <!here|here> <!everyone> <@U123ABC> <!subteam^S1|@team> @here @channel & <b>"
    escaped = escape_mrkdwn(hostile)
    assert not PINGS.search(escaped)
    assert "&lt;!channel&gt;" in escaped and "&amp;" in escaped
    assert "@here" not in escaped and "@\u200bhere" in escaped
    assert "@channel" not in escaped


def test_answer_blocks_never_ping_even_when_sources_and_model_try() -> None:
    answer = Answer(
        question="q",
        text="**Note** <!channel> please read, cc <@U999> and @everyone. See [docs](https://x.example/a?b=1&c=2).",
        grounded=True,
        citations=(Citation(1, "handbook.md", "<!here> Handbook", "…", 0.9, url="https://x.example/h"),),
    )
    (message,) = answer_messages(answer, actions=feedback_buttons("a1"))
    texts = [*all_texts(list(message.blocks)), message.text]
    assert texts
    for text in texts:
        assert not PINGS.search(text), text
        assert "@everyone" not in text
    body = message.blocks[0]["text"]["text"]
    assert body.startswith("*Note*")
    assert "<https://x.example/a?b=1&amp;c=2|docs>" in body
    sources = message.blocks[1]["elements"]
    assert sources[1]["text"] == "[1] <https://x.example/h|&lt;!here&gt; Handbook>"


def test_markdown_links_only_for_web_urls_and_labels_cannot_break_out() -> None:
    converted = markdown_to_mrkdwn("[click](javascript:alert(1)) and [a|b>c](https://ok.example/p>q)")
    assert "javascript:alert(1)" in converted and "<javascript" not in converted
    assert "<https://ok.example/p%3Eq|a\u2758b&gt;c>" in converted


def test_plain_text_reads_like_a_person_and_question_drops_the_bot_mention() -> None:
    wire = "<@UBOT> what does <@U2> mean in <#C9|general> by <https://ex.com/x|this> &amp; <!here>?"
    assert plain_text(wire, {"U2": "alice"}) == "@UBOT what does @alice mean in #general by this (https://ex.com/x) & @here?"
    assert question_text(wire, "UBOT", {"U2": "alice"}) == (
        "what does @alice mean in #general by this (https://ex.com/x) & @here?"
    )
    assert question_text("<@UBOT>   ", "UBOT") == ""


@pytest.mark.parametrize(
    ("text", "window"),
    [("summarize", ""), ("Summarise yesterday", "yesterday"), ("tl;dr 6h", "6h"), ("please summarize: today", "today")],
)
def test_summarize_requests_are_recognised(text: str, window: str) -> None:
    assert summarize_request(text) == window


def test_questions_are_not_summarize_requests() -> None:
    assert summarize_request("how do I summarize a table?") is None
    assert summarize_request("summaries of what?") is None


# -- splitting ------------------------------------------------------------------------------


def test_long_answer_is_split_into_sections_and_messages_under_the_limits() -> None:
    paragraph = "Deploys run from the main branch & need two reviews <see below>. " * 40
    text = "\n\n".join(f"Step {i}. {paragraph}" for i in range(80))  # ~200 KB
    citations = tuple(Citation(i, f"doc{i}.md", f"Doc {i}", "", 0.5, url=f"https://d.example/{i}") for i in range(1, 13))
    answer = Answer(question="q", text=text, grounded=True, citations=citations)
    messages = answer_messages(answer, actions=feedback_buttons("a1"))
    assert len(messages) > 1
    check_limits(messages)
    last = messages[-1].blocks
    assert last[-1]["type"] == "actions"
    assert {e["action_id"] for e in last[-1]["elements"]} == {FEEDBACK_UP, FEEDBACK_DOWN}
    assert sum(1 for m in messages for b in m.blocks if b["type"] == "actions") == 1
    shown = "".join(b["text"]["text"] for m in messages for b in m.blocks if b["type"] == "section")
    assert re.sub(r"\s", "", shown) == re.sub(r"\s", "", escape_mrkdwn(text))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["word", "&", "<", ">", " ", "\n", "\n\n", ". ", "<https://e.x/a b|label>", "x" * 50]), max_size=400))
def test_split_never_exceeds_the_limit_nor_cuts_an_entity(parts: list[str]) -> None:
    text = escape_mrkdwn("".join(parts))
    pieces = split_text(text, limit=120)
    assert all(0 < len(p) <= 120 for p in pieces)
    for piece in pieces:
        assert not re.search(r"&[a-z]{0,3}$", piece), piece
        assert not re.match(r"^[a-z]{1,3};", piece), piece
    assert re.sub(r"\s", "", "".join(pieces)) == re.sub(r"\s", "", text)


# -- events -> core types -------------------------------------------------------------------


def test_kinds_of_real_subtypes() -> None:
    assert message_kind({"text": "hi", "user": "U1"}) == "message"
    assert message_kind({"subtype": "channel_join"}) == "join"
    assert message_kind({"subtype": "bot_message", "bot_id": "B1"}) == "bot"
    assert message_kind({"subtype": "message_changed"}) == "edit"
    assert message_kind({"subtype": "message_deleted"}) == "delete"
    assert message_kind({"subtype": "file_share", "user": "U1", "bot_id": None}) == "message"
    assert message_kind({"subtype": "something_new"}) == "system"
    assert is_from_person({"text": "hi", "user": "U1", "subtype": "thread_broadcast"})
    assert not is_from_person({"text": "hi", "bot_id": "B1"})


def test_thread_reply_becomes_a_channel_message_with_thread_and_permalink() -> None:
    event = {"type": "message", "user": "U2", "text": "yes <@U3>", "ts": "1517436495.000136", "thread_ts": "1517436000.000100"}
    message = to_channel_message(event, CHANNEL, names={"U2": "bob", "U3": "carol"}, workspace_url="https://acme.slack.com/")
    assert message.id == "1517436495.000136"
    assert message.thread_id == message.reply_to == "1517436000.000100"
    assert message.author.name == "bob" and message.text == "yes @carol"
    assert message.timestamp == datetime(2018, 1, 31, 22, 8, 15, 136, tzinfo=UTC)
    assert message.permalink == (
        "https://acme.slack.com/archives/C1/p1517436495000136?thread_ts=1517436000.000100&cid=C1"
    )


def test_bot_attachment_text_is_kept_for_bot_messages() -> None:
    event = {"subtype": "bot_message", "bot_id": "B1", "username": "github", "text": "", "ts": "1.000001",
             "attachments": [{"pretext": "[repo] New issue", "text": "Body"}]}
    message = to_channel_message(event, CHANNEL)
    assert message.kind == "bot" and message.author.is_bot and message.text == "[repo] New issue\nBody"


def test_an_old_upload_reads_as_its_comment_and_file_not_slacks_sentence_about_it() -> None:
    file = {"title": "if-let map destructuring", "initial_comment": {"comment": "hello, why is `b` nil here?"}}
    text = "<@U1|yvan> uploaded a file: <https://acme.slack.com/files/U1/F1/x.clj|if-let map destructuring> and commented: hello, why is `b` nil here?"
    event = {"type": "message", "subtype": "file_share", "user": "U1", "ts": "1.000001", "text": text, "file": file}
    message = to_channel_message(event, CHANNEL)
    assert message.kind == "message" and message.text == "hello, why is `b` nil here?\n[file: if-let map destructuring]"
    # Without a comment Slack's sentence is what the upload says; a person's own words stay as written.
    bare = {**event, "text": text.split(" and commented:")[0], "file": {"title": "notes"}}
    assert to_channel_message(bare, CHANNEL).text == "@yvan uploaded a file: if-let map destructuring (https://acme.slack.com/files/U1/F1/x.clj)"
    said = {**event, "text": "I uploaded a file: the notes, see above"}
    assert to_channel_message(said, CHANNEL).text == "I uploaded a file: the notes, see above"


def test_timestamps_round_trip_to_the_microsecond() -> None:
    moment = datetime(2024, 5, 1, 9, 30, 0, 1, tzinfo=UTC)
    assert datetime_to_ts(moment) == "1714555800.000001"
    assert slack_time(datetime_to_ts(moment)) == moment
    assert permalink("https://a.slack.com", "C1", "1.000002") == "https://a.slack.com/archives/C1/p1000002"


def test_thread_turns_keep_people_and_the_bot_and_drop_noise() -> None:
    thread = [
        {"ts": "1.0", "user": "U1", "text": "<@UBOT> how do I deploy?"},
        {"ts": "2.0", "user": "UBOT", "bot_id": "B1", "text": "Run make deploy."},
        {"ts": "3.0", "subtype": "channel_join", "user": "U5", "text": "<@U5> has joined"},
        {"ts": "4.0", "bot_id": "B9", "subtype": "bot_message", "text": "CI passed"},
        {"ts": "5.0", "user": "U1", "text": "<@UBOT> and on staging?"},
        {"ts": "6.0", "user": "U1", "text": "later message"},
    ]
    turns = thread_turns(thread, before_ts="5.0", bot_user_id="UBOT", names={"U1": "ann"})
    assert [(t.author, t.text, t.by_bot) for t in turns] == [("ann", "how do I deploy?", False), ("Tidings", "Run make deploy.", True)]


def test_digest_blocks_link_each_bullet_to_its_messages() -> None:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    digest = Digest(
        headline="Release week <!channel>",
        sections=(
            DigestSection(
                "Releases",
                (DigestBullet("v2 shipped", (MessageLink("1.1", "ann", start, "https://a.slack.com/archives/C1/p11"),)),),
            ),
            DigestSection("Empty"),
        ),
        coverage=Coverage(messages=100, conversations=10, covered_messages=60),
        window_start=start,
        window_end=start + timedelta(days=1),
        channel=CHANNEL,
    )
    (message,) = digest_messages(digest)
    check_limits([message])
    blocks = message.blocks
    assert blocks[0]["type"] == "header" and blocks[0]["text"]["text"].startswith("Digest of #general")
    assert "&lt;!channel&gt;" in blocks[1]["text"]["text"]
    assert "<https://a.slack.com/archives/C1/p11|ann 00:00>" in blocks[2]["text"]["text"]
    assert "Empty" not in json.dumps(blocks)
    assert blocks[-1]["type"] == "context" and "60 of 100" in blocks[-1]["elements"][0]["text"]


# -- real data and fuzzing ------------------------------------------------------------------


@pytest.mark.shared_data
def test_every_real_clojurians_event_converts(shared_data) -> None:  # type: ignore[no-untyped-def]
    kinds: dict[str, int] = {}
    for path in sorted((shared_data / "slack").glob("clojurians-events-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            ref = ChannelRef("slack", str(event.get("team") or "T"), str(event.get("channel") or "C"))
            message = to_channel_message(event, ref, workspace_url="https://clojurians.slack.com/")
            kinds[message.kind] = kinds.get(message.kind, 0) + 1
            assert "&amp;" not in message.text and "<@" not in message.text
            if message.kind == "message":
                assert is_from_person(event) == bool(event.get("user"))
    assert kinds["join"] > 100 and kinds["leave"] > 10 and kinds["bot"] > 10
    assert kinds["edit"] > 100 and kinds["delete"] > 10 and kinds["message"] > 1000


payload = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "text": st.text(max_size=300),
            "user": st.text(max_size=12),
            "subtype": st.sampled_from(["bot_message", "channel_join", "message_changed", "thread_broadcast", "zzz"]),
            "thread_ts": st.sampled_from(["1.000001", "2.5", "3"]),
            "bot_id": st.none() | st.text(max_size=5),
            "attachments": st.lists(payload, max_size=3),
            "user_profile": payload,
            "hidden": st.booleans(),
            "reply_count": st.integers(0, 3),
        },
    ).map(lambda d: {"ts": "1.000001", **d})
)
def test_converter_survives_arbitrary_payloads(event: dict) -> None:
    message = to_channel_message(event, CHANNEL, workspace_url="https://a.slack.com/")
    assert message.id == "1.000001"
    turns = thread_turns([event], before_ts="9", bot_user_id="UBOT")
    assert all(t.text for t in turns)
    (shown,) = answer_messages(Answer("q", message.text or "x", True))[:1]
    assert not any(PINGS.search(t) for t in all_texts(list(shown.blocks)))
