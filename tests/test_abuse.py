"""Hostile and odd questions through the real Slack bot over HTTP: huge, empty, only
mentions, only emoji, and one user sending 50 questions in a second. Each gets one clear
reply in its thread; the flood gets the polite rate-limit sentence, and someone else asking
meanwhile is still answered."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

import pytest

from core.answers.answering import NOT_COVERED
from core.answers.questions import EMPTY_MENTION
from core.services import Services
from tests.reliability import record
from tests.trust_support import slack_world, with_handbook

pytestmark = pytest.mark.slow

PINGS = re.compile(r"<!(channel|here|everyone)|<@[UW]")
PER_MINUTE = 6
FLOOD = 50


@pytest.fixture
def services(make_services: Callable[..., Services]) -> Services:
    return with_handbook(
        make_services(config_text=f"[llm]\nmax_answer_tokens = 24\n[access]\nquestions_per_minute = {PER_MINUTE}\n")
    )


async def test_odd_questions_get_one_clear_reply_each(services: Services) -> None:
    cases = {
        "huge": ("how do I deploy? " * 2000, "characters long"),
        "empty": ("", EMPTY_MENTION.split(",")[0]),
        "whitespace": (" \n\t  ", EMPTY_MENTION.split(",")[0]),
        "only mentions": ("<@U0ALICE> <@U0BOB|bob> <!channel> <!here>", NOT_COVERED.split(",")[0]),
        "only emoji": ("🙂🙂🎉🔥 👍🏽", EMPTY_MENTION.split(",")[0]),  # not a word in it: nothing asked
        "control characters": ("\x00\x01\x02 \u202e\u200b", EMPTY_MENTION.split(",")[0]),
    }
    async with slack_world(services) as world:
        replies = {}
        for i, (name, (text, _)) in enumerate(cases.items()):
            replies[name] = await world.ask(text, user=f"U0ODD{i}")
        events = dict(zip(cases, world.asked, strict=True))
        await world.wait_all_finished(list(events.values()), timeout=120)
        for name, (_, expected) in cases.items():
            assert replies[name].status == 200 and replies[name].seconds < 3
            posts = world.replies_to(events[name])
            assert len(posts) == 1, name
            text = world.text_of(events[name])
            if expected is not None:
                assert expected in text, (name, text[:300])
            assert not PINGS.search(text), name
            assert "went wrong" not in text, name  # a clear sentence, not the generic apology
            record("Hostile input", input=name, reply=" ".join(str(posts[0].get("text", "")).split())[:90], replies=len(posts))


async def test_a_flood_from_one_user_is_rate_limited_and_others_are_still_answered(services: Services) -> None:
    async with slack_world(services) as world:
        started = time.perf_counter()
        flood = [asyncio.ensure_future(world.ask(f"How do I deploy? ({n})", user="U0FLOOD")) for n in range(FLOOD)]
        await asyncio.sleep(0.2)
        other = await world.ask("How long does a deploy take?", user="U0CALM")
        replies = await asyncio.gather(*flood)
        sent_in = time.perf_counter() - started
        await world.wait_all_finished(world.asked, timeout=180)

        flood_events = [e for e in world.asked if e["user"] == "U0FLOOD"]
        calm_event = next(e for e in world.asked if e["user"] == "U0CALM")
        limited = [e for e in flood_events if "asking faster than I can keep up" in world.text_of(e)]
        answered = [e for e in flood_events if e not in limited]
        assert len(answered) == PER_MINUTE and len(limited) == FLOOD - PER_MINUTE
        assert all(len(world.replies_to(e)) == 1 for e in flood_events)
        assert all(r.status == 200 and r.seconds < 3 for r in [*replies, other])
        calm = world.text_of(calm_event)
        assert "tidings_feedback" in calm and "deploy" in calm.lower() and "faster than" not in calm  # a real answer
    record(
        "Hostile input",
        input=f"{FLOOD} questions in {sent_in:.1f} s from one user (limit {PER_MINUTE}/min)",
        reply=f"{len(answered)} answered, {len(limited)} told the polite limit; another user answered meanwhile",
        replies=len(flood_events) + 1,
    )
