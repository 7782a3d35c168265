"""The Slack bot end to end: real slack-bolt served over real HTTP on localhost, requests
signed as Slack signs them, the bot's Web API calls going to the local mock Slack.

Transport tests never reach the model (refusals, ignored events, errors); the few that need
an answer use the real services and models from tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from slack_sdk.signature import SignatureVerifier

from adapters.slack.bot import SlackBot
from adapters.slack.convert import FEEDBACK_UP, SHARE_ANSWER
from core.answers.questions import EMPTY_MENTION
from core.errors import GENERIC_APOLOGY
from core.runtime.state import StateStore
from core.services import Services
from core.types import Chunk
from tests.slack_mock_server import BOT_ID, BOT_USER_ID, TEAM_ID, MockSlack
from tests.slack_requests import (
    SIGNING_SECRET,
    click,
    event_callback,
    mention,
    next_ts,
    send_command,
    send_event,
    sign,
)
from tests.trust_support import hold_model, http_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

PINGS = re.compile(r"<!(channel|here|everyone)|<@[UW]|<!subteam")
HANDBOOK = (
    "How to deploy: deploys go out from the main branch. To deploy, run make deploy after two approvals. "
    "A deploy takes about ten minutes. Tell <!here> before a rollback."
)

StartBot = Callable[..., Awaitable[SlackBot]]


@pytest_asyncio.fixture(loop_scope="session")
async def slack() -> AsyncIterator[MockSlack]:
    server = await MockSlack().start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def with_handbook(built: Services) -> Services:
    built.knowledge_base.replace_source(
        "handbook.md",
        [Chunk(id="handbook-1", source="handbook.md", title="<!channel> Deploy handbook", text=HANDBOOK, url="https://wiki.example/deploy")],
    )
    return built


@pytest.fixture
def services(make_services: Callable[..., Services]) -> Services:
    return with_handbook(make_services())


@pytest_asyncio.fixture(loop_scope="session")
async def start_bot(slack: MockSlack) -> AsyncIterator[StartBot]:
    bots: list[SlackBot] = []

    async def start(services: Services, **overrides: Any) -> SlackBot:
        bot = SlackBot(settings=http_settings(slack, bot_token="xoxb-test-token", **overrides), services=services)
        await bot.start()
        bots.append(bot)
        return bot

    yield start
    for bot in bots:
        await bot.stop()


def events_url(bot: SlackBot) -> str:
    return f"http://127.0.0.1:{bot.port}{bot.settings.path}"


def bot_posts(slack: MockSlack, channel: str) -> list[dict[str, Any]]:
    return [m for m in slack.workspace.messages.get(channel, []) if m.get("user") == BOT_USER_ID]


def has_buttons(message: dict[str, Any]) -> bool:
    return any(block.get("type") == "actions" for block in message.get("blocks") or ())


def texts_of(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks")) + str(message.get("text"))


# -- signatures -------------------------------------------------------------------------------


async def test_requests_are_signed_exactly_as_slack_signs_them() -> None:
    body, stamp = '{"type":"event_callback"}', str(int(time.time()))
    verifier = SignatureVerifier(SIGNING_SECRET)
    assert verifier.generate_signature(timestamp=stamp, body=body) == sign(body, stamp)
    assert verifier.is_valid(body=body, timestamp=stamp, signature=sign(body, stamp))


async def test_bad_or_stale_signatures_get_401_and_nothing_runs(
    slack: MockSlack, http: aiohttp.ClientSession, services: Services, start_bot: StartBot
) -> None:
    bot = await start_bot(services)
    payload = event_callback(mention("how do I deploy?"))
    forged = await send_event(http, events_url(bot), payload, secret="not-the-secret")
    stale = await send_event(http, events_url(bot), payload, timestamp=int(time.time()) - 6 * 60)
    assert (forged.status, stale.status) == (401, 401)
    await asyncio.sleep(0.3)
    assert not slack.calls_to("reactions.add") and not slack.calls_to("chat.postMessage")
    # The event was never seen by the handler: its id is still new to the state store.
    assert services.state.first_time(f"slack:event:{payload['event_id']}")


# -- events that must be ignored ------------------------------------------------------------


async def test_bots_own_messages_edits_and_deletions_are_ignored(
    slack: MockSlack, http: aiohttp.ClientSession, services: Services, start_bot: StartBot
) -> None:
    bot = await start_bot(services)
    dm = {"type": "message", "channel": "D0DM", "channel_type": "im", "team": TEAM_ID}
    ignored = [
        {**dm, "user": "U0ASKER", "text": "", "ts": next_ts(), "subtype": "message_changed",
         "message": {"user": "U0ASKER", "text": "edited question?", "ts": "1.000001"}},
        {**dm, "ts": next_ts(), "subtype": "message_deleted", "hidden": True, "deleted_ts": "1.000001"},
        {**dm, "ts": next_ts(), "subtype": "bot_message", "bot_id": "B0OTHER", "text": "I am another bot"},
        {**dm, "ts": next_ts(), "user": "U0OTHERBOT", "bot_id": "B0OTHER", "text": "bot with a user id"},
        {**dm, "ts": next_ts(), "user": BOT_USER_ID, "bot_id": BOT_ID, "text": "my own answer"},
        {**dm, "ts": next_ts(), "user": "U0NEW", "subtype": "channel_join", "text": "<@U0NEW> has joined"},
        {**mention("question from a bot"), "bot_id": "B0OTHER"},
        {**mention("an edited mention"), "edited": {"user": "U0ASKER", "ts": "2.0"}},
        {"type": "message", "channel": "C0GENERAL", "channel_type": "channel", "user": "U0ASKER", "text": "chat", "ts": next_ts()},
    ]
    replies = [await send_event(http, events_url(bot), event_callback(e)) for e in ignored]
    assert [r.status for r in replies] == [200] * len(ignored)
    assert max(r.seconds for r in replies) < 3
    await asyncio.sleep(0.5)
    assert [c.method for c in slack.calls if c.method not in {"auth.test"}] == []


@pytest.mark.shared_data
async def test_real_clojurians_events_replayed_through_the_app(
    slack: MockSlack, http: aiohttp.ClientSession, services: Services, start_bot: StartBot, shared_data: Any, caplog: Any
) -> None:
    """A few hundred real Events API messages (chat, thread replies, joins, bot posts, edits,
    deletions), delivered as Slack delivers them; once as channel messages, once as DMs of
    the noise kinds. None is answered, none fails."""
    bot = await start_bot(services)
    lines = (shared_data / "slack" / "clojurians-events-2018-02-01.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines[:300]]
    noise = [
        {**e, "channel": "D0DM", "channel_type": "im"}
        for e in events
        if e.get("subtype") in {"bot_message", "channel_join", "channel_leave", "message_changed", "message_deleted"}
        or e.get("bot_id")
    ]
    assert len(noise) > 30 and any(e.get("thread_ts") for e in events)
    caplog.set_level(logging.WARNING)

    async def deliver(event: dict[str, Any]) -> int:
        return (await send_event(http, events_url(bot), event_callback(event))).status

    statuses = await asyncio.gather(*(deliver(e) for e in events + noise))
    assert set(statuses) == {200}
    await asyncio.sleep(0.5)
    assert [c.method for c in slack.calls if c.method != "auth.test"] == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- polite refusals, retries of the Web API, the error hook ---------------------------------


async def test_empty_mention_gets_a_hint_even_through_a_rate_limit(
    slack: MockSlack, http: aiohttp.ClientSession, services: Services, start_bot: StartBot
) -> None:
    bot = await start_bot(services)
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    slack.fail_next("reactions.add", status=429, retry_after=1)
    event = mention("")
    reply = await send_event(http, events_url(bot), event_callback(event))
    assert reply.status == 200 and reply.seconds < 3
    await slack.wait_for("chat.postMessage")
    await asyncio.sleep(0.3)
    (posted,) = slack.posts_in_thread("C0GENERAL", event["ts"])
    assert "Ask me a question after the mention" in posted["text"]
    assert len(slack.calls_to("chat.postMessage")) == 1  # the 429 was retried, not doubled
    assert [c.status for c in slack.failed_calls_to("chat.postMessage")] == [429]  # the fault fired
    assert [c.status for c in slack.failed_calls_to("reactions.add")] == [429]
    assert slack.faults_pending() == {}
    (reaction,) = slack.calls_to("reactions.add")
    assert reaction.params == {"channel": "C0GENERAL", "timestamp": event["ts"], "name": "eyes"}
    assert EMPTY_MENTION.startswith("Ask me")


async def test_channels_off_the_allow_list_get_a_polite_no(
    slack: MockSlack, http: aiohttp.ClientSession, make_services: Callable[..., Services], start_bot: StartBot
) -> None:
    bot = await start_bot(make_services(config_text='[access]\nallowed_channels = ["C0SUPPORT"]\n'))
    event = mention("how do I deploy?")
    assert (await send_event(http, events_url(bot), event_callback(event))).status == 200
    await slack.wait_for("chat.postMessage")
    (posted,) = slack.posts_in_thread("C0GENERAL", event["ts"])
    assert "not enabled in this channel" in posted["text"]


async def test_an_unexpected_failure_is_logged_and_the_user_gets_one_polite_sentence(
    slack: MockSlack, http: aiohttp.ClientSession, services: Services, start_bot: StartBot, caplog: Any
) -> None:
    bot = await start_bot(services)
    caplog.set_level(logging.ERROR)
    slack.fail_next("conversations.replies", status=500, times=10)  # the thread cannot be read
    root = next_ts()
    event = mention("what did we decide above?", thread_ts=root)
    assert (await send_event(http, events_url(bot), event_callback(event))).status == 200
    await slack.wait_for("chat.postMessage")
    (posted,) = slack.posts_in_thread("C0GENERAL", root)
    assert posted["text"] == GENERIC_APOLOGY
    assert slack.failed_calls_to("conversations.replies")  # the thread really could not be read
    failures = [r for r in caplog.records if r.name == "adapters.slack.app"]
    assert failures and failures[0].exc_info is not None
    assert "xoxb-test-token" not in caplog.text and SIGNING_SECRET not in caplog.text


async def test_long_answers_are_shared_across_several_messages(
    slack: MockSlack, http: aiohttp.ClientSession, services: Services, start_bot: StartBot
) -> None:
    """The share button posts a remembered answer; one far over Slack's limits arrives as
    several valid messages, sources and buttons on the last, and pings nobody."""
    bot = await start_bot(services)
    text = "\n\n".join(f"Step {i}: <!channel> run the job & check <@U0BOSS>. " * 30 for i in range(120))
    services.state.remember_answer(
        "long-1",
        {"question": "how?", "answer": text, "grounded": True,
         "citations": [{"n": 1, "source": "a.md", "title": "A", "url": "https://a.example", "score": 1.0}]},
    )
    reply = await click(http, events_url(bot), SHARE_ANSWER, "long-1", response_url=slack.response_url("share"))
    assert reply.status == 200
    await slack.wait_until(lambda: any(r.get("delete_original") for r in slack.responses))
    posts = [c.params for c in slack.calls_to("chat.postMessage")]
    assert len(posts) >= 3
    for post in posts:
        assert len(post["blocks"]) <= 50
        assert all(len(b["text"]["text"]) <= 3000 for b in post["blocks"] if b["type"] == "section")
        assert not PINGS.search(json.dumps(post["blocks"]) + post["text"])
    assert has_buttons(posts[-1]) and not any(has_buttons(p) for p in posts[:-1])


async def test_summarize_is_only_offered_when_summaries_are_available(
    slack: MockSlack, http: aiohttp.ClientSession, services: Services, start_bot: StartBot
) -> None:
    bot = await start_bot(replace(services, summarizer=None))
    reply = await send_command(http, events_url(bot), "/summarize", "today", response_url=slack.response_url())
    assert reply.status == 404


# -- Socket Mode ------------------------------------------------------------------------------


async def test_socket_mode_connects_acks_envelopes_and_answers(
    slack: MockSlack, services: Services, start_bot: StartBot
) -> None:
    """Socket Mode end to end on localhost: apps.connections.open hands out the mock's
    WebSocket URL, the envelope is acknowledged with its id, and the reply is posted."""
    await start_bot(services, mode="socket", app_token="xapp-test-token", signing_secret="")
    await slack.wait_for_socket()
    assert slack.calls_to("apps.connections.open")[0].token == "xapp-test-token"
    event = mention("   ")
    await slack.push_envelope(
        {"envelope_id": "env-1", "type": "events_api", "accepts_response_payload": False, "payload": event_callback(event)}
    )
    await slack.wait_until(lambda: any(a.get("envelope_id") == "env-1" for a in slack.socket_acks), timeout=3)
    await slack.wait_for("chat.postMessage")
    (posted,) = slack.posts_in_thread("C0GENERAL", event["ts"])
    assert "Ask me a question" in posted["text"]


# -- answers from the real model (kept few: the model writes ~100 tokens/s) -------------------


@pytest.mark.slow
async def test_mention_is_acked_queued_streamed_and_answered_once_in_thread(
    slack: MockSlack, http: aiohttp.ClientSession, make_services: Callable[..., Services], start_bot: StartBot
) -> None:
    # The model picks the passage to quote, so the answer waits for the model a digest holds.
    services = with_handbook(make_services(config_text='[answers]\nquote_selector = "model"\n'))
    bot = await start_bot(services)
    release, busy = hold_model(services, most_s=30)
    await asyncio.sleep(0.05)
    event = mention("How do I deploy? <!here>")
    payload = event_callback(event)
    first = await send_event(http, events_url(bot), payload)
    assert first.status == 200 and first.seconds < 3

    # Queued: the eyes, then a "queued, position 1" reply in the thread.
    await slack.wait_for("chat.postMessage")
    (placeholder,) = slack.posts_in_thread("C0GENERAL", event["ts"])
    assert "position 1" in placeholder["text"]
    assert slack.calls_to("reactions.add")[0].params["timestamp"] == event["ts"]
    release.set()
    await busy

    # The answer replaces the queued notice in place, and ends with sources and buttons.
    await slack.wait_until(lambda: has_buttons(slack.workspace.find("C0GENERAL", placeholder["ts"]) or {}), timeout=120)
    answer = slack.workspace.find("C0GENERAL", placeholder["ts"])
    assert answer is not None and answer["thread_ts"] == event["ts"]
    assert not PINGS.search(texts_of(answer))
    assert "Deploy handbook" in texts_of(answer) and "https://wiki.example/deploy" in texts_of(answer)
    updates = [c for c in slack.calls_to("chat.update") if c.params["ts"] == placeholder["ts"]]
    gaps = [b.at - a.at for a, b in itertools.pairwise(updates[:-1])]  # the last edit is the final answer
    assert all(gap >= 0.9 for gap in gaps), gaps  # streaming edits at most ~1/s

    # Slack's retry of the same event, and the same event after a restart: no second answer.
    calls_before = len(slack.calls)
    retry = await send_event(http, events_url(bot), payload, retry_num=1)
    await bot.stop()
    restarted = await start_bot(replace(services, state=StateStore(services.state.path)))
    again = await send_event(http, events_url(restarted), payload, retry_num=2)
    await asyncio.sleep(0.5)
    assert (retry.status, again.status) == (200, 200)
    assert [c.method for c in slack.calls[calls_before:] if c.method != "auth.test"] == []
    assert len(slack.posts_in_thread("C0GENERAL", event["ts"])) == 1


@pytest.mark.slow
async def test_stopping_lets_an_answer_being_written_finish(
    slack: MockSlack, http: aiohttp.ClientSession, make_services: Callable[..., Services], start_bot: StartBot
) -> None:
    """Ctrl-C or SIGTERM while a mention is answered: the answer is finished and posted before
    the connections close (docs/install.md, "Stop and restart")."""
    services = with_handbook(make_services(config_text='[answers]\nquote_selector = "model"\n'))
    bot = await start_bot(services)
    release, busy = hold_model(services, most_s=30)
    await asyncio.sleep(0.05)
    event = mention("How long does a deploy take?")
    assert (await send_event(http, events_url(bot), event_callback(event))).status == 200
    await slack.wait_for("chat.postMessage")
    (placeholder,) = slack.posts_in_thread("C0GENERAL", event["ts"])

    stopping = asyncio.create_task(bot.stop())
    await asyncio.sleep(0.3)
    assert not stopping.done()  # waiting for the answer, not cutting it off
    release.set()
    await busy
    await asyncio.wait_for(stopping, timeout=bot.shutdown_grace_s + 5)
    answer = slack.workspace.find("C0GENERAL", placeholder["ts"])
    assert answer is not None and has_buttons(answer), answer
    assert "ten minutes" in texts_of(answer)


@pytest.mark.slow
async def test_ask_command_answers_privately_then_share_and_feedback(
    slack: MockSlack, http: aiohttp.ClientSession, services: Services, start_bot: StartBot
) -> None:
    bot = await start_bot(services)
    ack = await send_command(http, events_url(bot), "/ask", "how long does a deploy take?", response_url=slack.response_url("ask"))
    assert ack.status == 200 and ack.seconds < 3
    await slack.wait_until(lambda: any(r.get("blocks") for r in slack.responses), timeout=120)
    ephemeral = next(r for r in slack.responses if r.get("blocks"))
    assert ephemeral["response_type"] == "ephemeral"
    share = next(e for b in ephemeral["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert share["action_id"] == SHARE_ANSWER
    assert not slack.calls_to("chat.postMessage")  # nothing public yet

    await click(http, events_url(bot), SHARE_ANSWER, share["value"], response_url=slack.response_url("share"))
    await slack.wait_for("chat.postMessage", 2)
    shared = slack.calls_to("chat.postMessage")[-1].params
    assert has_buttons(shared)
    answer_id = next(e["value"] for b in shared["blocks"] if b["type"] == "actions" for e in b["elements"])

    await click(http, events_url(bot), FEEDBACK_UP, answer_id, response_url=slack.response_url("fb"), user="U0READER")
    await slack.wait_until(lambda: any(r["key"] == "fb" for r in slack.responses))
    (feedback,) = services.state.feedback()
    assert feedback["rating"] == 1 and feedback["user"] == "U0READER"
    assert feedback["question"] == "how long does a deploy take?" and feedback["answer"]
    assert feedback["citations"] and feedback["channel"] == f"slack:{TEAM_ID}:C0GENERAL"


@pytest.mark.slow
async def test_mention_in_a_thread_uses_the_thread_as_conversation(
    slack: MockSlack, http: aiohttp.ClientSession, services: Services, start_bot: StartBot
) -> None:
    bot = await start_bot(services)
    root = next_ts()
    slack.workspace.users["U0ASKER"] = {"id": "U0ASKER", "name": "asker", "profile": {"display_name": "Asker"}}
    slack.workspace.add_message("C0GENERAL", {"ts": root, "user": "U0ASKER", "text": "We need to ship the fix today.", "thread_ts": root})
    slack.workspace.add_message("C0GENERAL", {"ts": next_ts(), "user": "U0ASKER", "text": "It is on main already.", "thread_ts": root})
    event = mention("so how do I deploy it?", thread_ts=root)
    slack.workspace.add_message("C0GENERAL", {**event, "thread_ts": root})
    assert (await send_event(http, events_url(bot), event_callback(event))).status == 200
    await slack.wait_until(lambda: any(has_buttons(m) for m in slack.posts_in_thread("C0GENERAL", root)), timeout=120)
    (replies_call, *_) = slack.calls_to("conversations.replies")
    assert replies_call.params["ts"] == root
    (answer,) = slack.posts_in_thread("C0GENERAL", root)
    assert answer["text"].strip()


def is_digest(message: dict[str, Any]) -> bool:
    return any(block.get("type") == "header" for block in message.get("blocks") or ())


@pytest.mark.slow
async def test_summarize_in_a_thread_and_the_summarize_command(
    slack: MockSlack, http: aiohttp.ClientSession, services: Services, start_bot: StartBot
) -> None:
    assert services.summarizer is not None
    bot = await start_bot(services)
    slack.workspace.users.update(
        {"U0ANN": {"id": "U0ANN", "name": "ann"}, "U0BOB": {"id": "U0BOB", "name": "bob"}}
    )
    root = next_ts()
    lines = [
        ("U0ANN", "The release is blocked: the payment tests fail on the new card form."),
        ("U0BOB", "I found it, the test uses an expired card number. Fixing it now."),
        ("U0ANN", "Thanks. Then we ship version 2.4 on Thursday instead of today."),
        ("U0BOB", "Agreed, Thursday it is. I will tell support."),
    ]
    for i, (user, text) in enumerate(lines):
        ts = root if i == 0 else next_ts()
        slack.workspace.add_message("C0GENERAL", {"ts": ts, "user": user, "text": text, "thread_ts": root})

    event = mention("summarize", thread_ts=root)
    assert (await send_event(http, events_url(bot), event_callback(event))).status == 200
    await slack.wait_until(lambda: any(is_digest(m) for m in slack.posts_in_thread("C0GENERAL", root)), timeout=240)
    assert slack.calls_to("conversations.replies")[0].params["ts"] == root

    reply = await send_command(http, events_url(bot), "/summarize", "6h", response_url=slack.response_url("sum"))
    assert reply.status == 200 and reply.seconds < 3 and "Summarizing" in reply.body
    channel_posts = lambda: [m for m in bot_posts(slack, "C0GENERAL") if not m.get("thread_ts")]  # noqa: E731
    await slack.wait_until(lambda: any(is_digest(m) for m in channel_posts()), timeout=240)
    window, week_before = slack.calls_to("conversations.history")  # the window, then older threads
    assert float(window.params["oldest"]) <= float(root) <= float(window.params["latest"])
    assert week_before.params["latest"] == window.params["oldest"]
    (digest,) = channel_posts()
    assert not PINGS.search(texts_of(digest))


async def test_a_quote_answer_shows_its_sentences_as_a_quote_block_with_the_source_link(
    slack: MockSlack, http: aiohttp.ClientSession, services: Services, start_bot: StartBot
) -> None:
    bot = await start_bot(services)
    event = mention("How long does a deploy take?")
    response = await send_event(http, events_url(bot), event_callback(event))
    assert response.status == 200
    await slack.wait_until(lambda: any(has_buttons(m) for m in slack.posts_in_thread("C0GENERAL", event["ts"])), timeout=120)
    (answer,) = slack.posts_in_thread("C0GENERAL", event["ts"])
    quotes = [b["text"]["text"] for b in answer["blocks"] if b["type"] == "section" and b["text"]["text"].startswith(">")]
    assert quotes, texts_of(answer)
    assert any("A deploy takes about ten minutes." in q for q in quotes)
    assert all("<https://wiki.example/deploy|[1] " in q for q in quotes), quotes
    assert not PINGS.search(texts_of(answer))
