"""SlackPlatform (the core's ChatPlatform) against the local mock Slack Web API over HTTP."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from adapters.slack.bot import make_client
from adapters.slack.convert import datetime_to_ts
from adapters.slack.platform import SlackPlatform
from adapters.slack.settings import SlackSettings
from core.digests.conversations import group_conversations, is_noise
from core.ports import ChatPlatform
from core.types import ChannelRef, Coverage, Digest, DigestBullet, DigestSection, MessageLink
from tests.slack_mock_server import TEAM_ID, WORKSPACE_URL, MockSlack

pytestmark = pytest.mark.asyncio(loop_scope="session")

START = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
CHANNEL = ChannelRef("slack", TEAM_ID, "C1", "general")


@pytest_asyncio.fixture(loop_scope="session")
async def slack() -> AsyncIterator[MockSlack]:
    server = await MockSlack().start()
    yield server
    await server.stop()


def platform_for(slack: MockSlack) -> SlackPlatform:
    settings = SlackSettings(bot_token="xoxb-test", api_url=slack.api_url, mode="http", signing_secret="s")
    return SlackPlatform(make_client(settings))


def ts(minutes: float) -> str:
    return datetime_to_ts(START + timedelta(minutes=minutes))


def fill_channel(slack: MockSlack) -> None:
    """250 top-level messages a minute apart; every 50th starts a 130-reply thread; a join and
    a bot post; one message before and one after the window."""
    ws = slack.workspace
    ws.users.update(
        {
            "U1": {"id": "U1", "name": "ann", "tz": "Europe/Berlin", "profile": {"display_name": "Ann"}},
            "U2": {"id": "U2", "name": "bob", "profile": {"display_name": "", "real_name": "Bob B"}},
        }
    )
    ws.add_message("C1", {"ts": ts(-5), "user": "U1", "text": "before the window"})
    for i in range(250):
        message = {"ts": ts(i), "user": "U1" if i % 2 else "U2", "text": f"message {i} for <@U2>"}
        if i % 50 == 0:
            message.update(thread_ts=message["ts"], reply_count=130)
            for r in range(130):
                ws.add_message("C1", {"ts": ts(i + 0.001 * (r + 1)), "user": "U2", "text": f"reply {r}", "thread_ts": message["ts"]})
        ws.add_message("C1", message)
    ws.add_message("C1", {"ts": ts(250.5), "user": "U2", "subtype": "channel_join", "text": "<@U2> has joined the channel"})
    ws.add_message("C1", {"ts": ts(251), "bot_id": "B9", "subtype": "bot_message", "username": "ci", "text": "build green"})
    ws.add_message("C1", {"ts": ts(24 * 60 + 1), "user": "U1", "text": "after the window"})


async def test_history_pages_through_channel_and_threads(slack: MockSlack) -> None:
    fill_channel(slack)
    platform = platform_for(slack)
    assert isinstance(platform, ChatPlatform)
    messages = await platform.fetch_history(CHANNEL, START, START + timedelta(days=1))

    assert len(messages) == 250 + 5 * 130 + 2
    assert [m.timestamp for m in messages] == sorted(m.timestamp for m in messages)
    assert all(START <= m.timestamp < START + timedelta(days=1) for m in messages)
    # 253 roots in pages of 100, then the week before the window for older threads.
    assert len(slack.calls_to("conversations.history")) == 3 + 1
    assert len(slack.calls_to("conversations.replies")) == 5 * 2  # 131 messages a thread, pages of 100

    replies = [m for m in messages if m.reply_to]
    assert len(replies) == 650 and all(m.thread_id == m.reply_to for m in replies)
    root = next(m for m in messages if m.text == "message 50 for @Bob B")
    assert root.thread_id == root.id and root.author.name == "Bob B"
    assert root.permalink == f"{WORKSPACE_URL}archives/C1/p{root.id.replace('.', '')}"
    reply = replies[0]
    assert reply.permalink == f"{WORKSPACE_URL}archives/C1/p{reply.id.replace('.', '')}?thread_ts={reply.reply_to}&cid=C1"

    kinds = Counter(m.kind for m in messages)
    assert kinds == {"message": 900, "join": 1, "bot": 1}
    assert sorted(c.params["user"] for c in slack.calls_to("users.info")) == ["U1", "U2"]  # cached
    conversations = group_conversations(messages)
    assert sum(len(c.messages) for c in conversations) == 900
    assert await platform.user_timezone("U1") != UTC


async def test_replies_in_the_window_to_an_older_thread_are_included(slack: MockSlack) -> None:
    ws = slack.workspace
    old_parent = ws.add_message("C1", {"ts": ts(-3 * 24 * 60), "user": "U1", "text": "three days ago: is the ARM build broken?"})
    ws.add_message("C1", {"ts": ts(-3 * 24 * 60 + 5), "user": "U2", "text": "looking into it", "thread_ts": old_parent["ts"]})
    ws.add_message("C1", {"ts": ts(30), "user": "U2", "text": "fixed today: pinned openssl", "thread_ts": old_parent["ts"]})
    quiet_parent = ws.add_message("C1", {"ts": ts(-2 * 24 * 60), "user": "U1", "text": "an old thread nobody answered today"})
    ws.add_message("C1", {"ts": ts(-2 * 24 * 60 + 1), "user": "U2", "text": "old reply", "thread_ts": quiet_parent["ts"]})
    ws.add_message("C1", {"ts": ts(10), "user": "U1", "text": "good morning"})
    platform = platform_for(slack)
    messages = await platform.fetch_history(CHANNEL, START, START + timedelta(days=1))
    assert [m.text for m in messages] == ["good morning", "fixed today: pinned openssl"]
    assert messages[1].thread_id == old_parent["ts"]  # still known as part of its thread
    assert [c.params["ts"] for c in slack.calls_to("conversations.replies")] == [old_parent["ts"]]


async def test_history_survives_a_rate_limit_without_duplicates(slack: MockSlack) -> None:
    fill_channel(slack)
    platform = platform_for(slack)
    slack.fail_next("conversations.history", status=429, retry_after=1)
    slack.fail_next("conversations.replies", status=503)
    messages = await platform.fetch_history(CHANNEL, START, START + timedelta(days=1))
    assert len(messages) == len({m.id for m in messages}) == 902
    # Both faults fired, and each call was then served.
    assert [c.status for c in slack.failed_calls_to("conversations.history")] == [429]
    assert [c.status for c in slack.failed_calls_to("conversations.replies")] == [503]
    assert slack.faults_pending() == {}


async def test_permalinks_come_from_the_api_when_the_workspace_url_is_unknown(slack: MockSlack) -> None:
    slack.workspace_url = ""
    slack.workspace.add_message("C1", {"ts": ts(1), "user": "U1", "text": "hi"})
    platform = platform_for(slack)
    (message,) = await platform.fetch_history(CHANNEL, START, START + timedelta(hours=1))
    assert message.permalink == f"{WORKSPACE_URL}archives/C1/p{message.id.replace('.', '')}"
    assert len(slack.calls_to("chat.getPermalink")) == 1


async def test_posting_a_digest_sends_blocks_and_returns_the_message_id(slack: MockSlack) -> None:
    platform = platform_for(slack)
    link = MessageLink("1.000001", "Ann", START, f"{WORKSPACE_URL}archives/C1/p1000001")
    digest = Digest(
        headline="A quiet day",
        sections=(DigestSection("Decisions", (DigestBullet("Ship on Friday", (link,)),)),),
        coverage=Coverage(10, 2, 10),
        window_start=START,
        window_end=START + timedelta(days=1),
        channel=CHANNEL,
    )
    message_id = await platform.post(CHANNEL, "A quiet day", digest=digest)
    (call,) = slack.calls_to("chat.postMessage")
    assert call.params["channel"] == "C1" and call.token == "xoxb-test"
    assert message_id == slack.workspace.messages["C1"][-1]["ts"]
    blocks = call.params["blocks"]
    assert blocks[0]["type"] == "header"
    assert "Ship on Friday" in json.dumps(blocks)
    plain_id = await platform.post(ChannelRef("slack", TEAM_ID, "C1", thread="1.000001"), "<!here> no digest")
    posted = slack.workspace.find("C1", plain_id)
    assert posted is not None and posted["thread_ts"] == "1.000001"
    assert "&lt;!here&gt;" in posted["text"]


@pytest.mark.shared_data
async def test_real_clojurians_channel_through_history(slack: MockSlack, shared_data) -> None:  # type: ignore[no-untyped-def]
    """Real messages of the busiest real channel served as its history: joins and bot posts
    marked as noise, thread replies attached to their threads, nothing lost."""
    events = [
        json.loads(line)
        for path in sorted((shared_data / "slack").glob("clojurians-events-*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    stored = [e for e in events if e.get("subtype") not in {"message_changed", "message_deleted", "message_replied"}]
    busiest, _ = Counter(e["channel"] for e in stored).most_common(1)[0]
    for event in stored:
        if event["channel"] == busiest:
            slack.workspace.add_message(busiest, dict(event))
    chosen = [e for e in stored if e["channel"] == busiest]
    for event in chosen:  # like Slack, mark thread parents that are present
        if event.get("thread_ts") and event["thread_ts"] != event["ts"]:
            parent = slack.workspace.find(busiest, event["thread_ts"])
            if parent is not None:
                parent["thread_ts"] = parent["ts"]
                parent["reply_count"] = parent.get("reply_count", 0) + 1
    first = min(float(e["ts"]) for e in chosen)
    since = datetime.fromtimestamp(first, UTC)
    platform = platform_for(slack)
    messages = await platform.fetch_history(ChannelRef("slack", "T03RZGPFR", busiest), since, since + timedelta(days=3))

    reachable = [
        e for e in chosen
        if not (e.get("thread_ts") and e["thread_ts"] != e["ts"] and slack.workspace.find(busiest, e["thread_ts"]) is None)
    ]
    assert len(messages) == len(reachable)
    by_id = {m.id: m for m in messages}
    for event in reachable:
        message = by_id[event["ts"]]
        if event.get("subtype") in {"channel_join", "channel_leave", "bot_message"}:
            assert is_noise(message)
        if event.get("thread_ts") and event["thread_ts"] != event["ts"]:
            assert message.thread_id == event["thread_ts"]
    assert any(m.kind == "join" for m in messages)
    assert group_conversations(messages)


async def test_a_channel_mention_without_a_label_reads_as_the_channel_name_it_knows(slack: MockSlack) -> None:
    slack.workspace.channels["C2"] = {"id": "C2", "name": "releases"}
    slack.workspace.add_message("C1", {"ts": ts(1), "user": "U1", "text": "moved to <#C2|>"})
    platform = platform_for(slack)
    assert await platform.channel_name("C2") == "releases"
    (message,) = await platform.fetch_history(CHANNEL, START, START + timedelta(hours=1))
    assert message.text == "moved to #releases"
