"""Load on both platforms at once: one set of services, one model worker, answering Slack and
Discord together.

The Slack bot is real slack-bolt served over real HTTP against the mock Slack Web API; the
Discord bot is the real discord.py bot on simcord's in-memory Discord. Both share one
``Services`` (the real answerer and the packaged model, each answer one short model call, the
model picking the passage to quote: the shared queue is what is under test). Each wave asks on both platforms at the same instant.
Every Slack request is acknowledged within Slack's 3 seconds and every Discord interaction is
deferred within Discord's 3 seconds, every question is answered exactly once on its own
platform, askers who wait are told their place in the queue on both, and memory stays flat
from one wave to the next.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import simcord

from bots.discord_bot import build_bot
from core.services import Services
from tests.reliability import record
from tests.slack_requests import Reply
from tests.trust_support import hold_model, percentile, rss_mb, slack_queue_notices, slack_world, with_handbook

pytestmark = pytest.mark.slow

PER_PLATFORM = 8
WAVES = 3  # the first warms up; memory is compared between the last two
ACK_LIMIT_S = 3.0  # Slack retries an event not acked in 3 s; Discord drops an interaction not answered in 3 s
SETTLE_S = 300.0
QUESTIONS = (
    "How do I deploy?",
    "How long does a deploy take?",
    "Which branch do deploys go out from?",
    "How do I roll back a deploy?",
)
DISCORD_QUEUED = ("in the queue", "you're next")


@contextmanager
def asking_at_once(env: simcord.Env) -> Iterator[None]:
    """simcord waits after every user action until the bot has finished reacting to it, which
    would make the Discord users ask one after another. Here each /ask is only dispatched
    (through simcord's own slash-command path) and nobody waits; ``env.settle()`` afterwards
    joins the bot's work."""

    async def dispatched_only(**_kwargs: Any) -> None:
        return None

    env._settle_internal = dispatched_only  # type: ignore[method-assign]
    try:
        yield
    finally:
        del env._settle_internal


def discord_position(text: str) -> int:
    """The queue position a Discord "busy" notice names ("you're next" is 1)."""
    return int(text.split("number ", 1)[1].split(" ", 1)[0]) if "number " in text else 1


def discord_edits(env: simcord.Env) -> list[str]:
    return [
        (entry.json or {}).get("content") or ""
        for entry in env.http_requests
        if entry.method == "PATCH" and entry.path.endswith("/messages/@original")
    ]


def discord_queue_notices(env: simcord.Env) -> list[str]:
    """The queue notices Discord askers were shown."""
    return [e for e in discord_edits(env) if any(q in e for q in DISCORD_QUEUED)]


async def test_slack_and_discord_questions_at_once_share_one_model_worker(
    make_services: Callable[..., Services], tmp_path: Path
) -> None:
    services = with_handbook(
        make_services(config_text='[answers]\nquote_selector = "model"\n[access]\nquestions_per_minute = 0\n')
    )
    config = tmp_path / "discord.toml"
    config.write_text("", encoding="utf-8")
    discord_bot = build_bot(str(config), services=services, environ={"TIDINGS_HOME": str(tmp_path / "discord")})
    slack_acks: list[float] = []
    discord_acks: list[float] = []
    memory: list[float] = []
    positions: set[int] = set()
    started = time.perf_counter()
    async with slack_world(services) as world, simcord.run(discord_bot, settle_timeout=SETTLE_S) as env:
        guild = env.create_guild(name="Acme")
        channels = [guild.create_text_channel("support"), guild.create_text_channel("platform")]
        members = [guild.add_member(env.create_user(f"asker{i}")) for i in range(PER_PLATFORM)]
        results: list[tuple[Any, Any]] = []  # (Discord interaction result, its channel)
        for wave in range(WAVES):
            # In the first wave a digest step holds the model, so askers queue however fast answers are.
            held = hold_model(services) if wave == 0 else None
            slack_asks: list[asyncio.Task[Reply]] = []
            wave_results: list[tuple[Any, float, Any]] = []
            with asking_at_once(env):
                for i in range(PER_PLATFORM):
                    slack_asks.append(
                        asyncio.create_task(
                            world.ask(QUESTIONS[i % len(QUESTIONS)], user=f"U0BOTH{i:02d}", channel=f"C0BOTH{i % 2}")
                        )
                    )
                    channel = channels[i % len(channels)]
                    dispatched = time.perf_counter()
                    result = await members[i].slash(channel, "ask", question=QUESTIONS[(i + 1) % len(QUESTIONS)])
                    wave_results.append((result, dispatched, channel))
            # Discord must see the "thinking..." acknowledgement within 3 s of each /ask.
            deadline = time.perf_counter() + 30
            acked: dict[int, float] = {}
            while len(acked) < PER_PLATFORM and time.perf_counter() < deadline:
                for n, (result, dispatched, _channel) in enumerate(wave_results):
                    if n not in acked and result.acknowledged:
                        acked[n] = time.perf_counter() - dispatched
                await asyncio.sleep(0.005)
            assert len(acked) == PER_PLATFORM, f"{PER_PLATFORM - len(acked)} Discord interactions never acknowledged"
            assert all(result.deferred for result, _d, _c in wave_results), "each /ask deferred first"
            discord_acks += acked.values()
            replies = await asyncio.gather(*slack_asks)
            assert all(r.status == 200 for r in replies)
            slack_acks += [r.seconds for r in replies]

            if held is not None:
                released, busy = held
                for _ in range(1200):
                    slack_told, discord_told = slack_queue_notices(world), discord_queue_notices(env)
                    if slack_told and discord_told and len(slack_told) + len(discord_told) >= PER_PLATFORM:
                        break
                    await asyncio.sleep(0.05)
                released.set()
                await busy

            events = world.asked[-PER_PLATFORM:]
            await world.wait_all_finished(events, timeout=240)
            await env.settle(timeout=SETTLE_S)
            memory.append(rss_mb())

            for event in events:
                posts = world.replies_to(event)
                assert len(posts) == 1, f"{len(posts)} Slack replies to one question"  # one message, edited in place
                final = posts[0]
                assert any(b.get("type") == "actions" for b in final.get("blocks") or ()), final  # the answer, 👍/👎
                assert "deploy" in json.dumps(final["blocks"]).lower()
            for result, _dispatched, channel in wave_results:
                response = result.response
                assert response is not None and response.content.strip(), "every /ask answered"
                assert [b["emoji"]["name"] for b in response.components[0]["components"]] == ["👍", "👎"]
                [embed] = response.embeds
                assert any("Deploy handbook" in (f.name or "") for f in embed.fields), embed.fields
                assert result.followups == [], "one answer per /ask, no second message"
                results.append((result, channel))
            if wave == 0:
                queued = slack_queue_notices(world)
                discord_queued = discord_queue_notices(env)
                positions = {int(t.split("position ", 1)[1].split(":", 1)[0]) for t in queued}
                positions |= {discord_position(e) for e in discord_queued}
                assert queued, "waiting Slack askers are told their place in the queue"
                assert discord_queued, "waiting Discord askers are told their place in the queue"
                assert len(queued) + len(discord_queued) >= PER_PLATFORM, "most of the waiting askers are told"

        # Exactly one message per question, on its own platform, across every wave.
        posted = len(world.slack.calls_to("chat.postMessage"))
        bot_user = discord_bot.user
        assert bot_user is not None
        on_discord = sum(1 for channel in channels for m in channel.history() if m.author.id == bot_user.id)
        answered_ids = {result.response.id for result, _channel in results}
    seconds = time.perf_counter() - started
    per_platform = PER_PLATFORM * WAVES
    assert posted == per_platform, f"{posted} Slack messages for {per_platform} questions"
    assert on_discord == per_platform and len(answered_ids) == per_platform, (
        f"{on_discord} Discord messages, {len(answered_ids)} distinct answers for {per_platform} questions"
    )
    assert max(slack_acks) < ACK_LIMIT_S and max(discord_acks) < ACK_LIMIT_S
    growth = memory[-1] - memory[-2]
    assert growth < 60, f"memory grew {growth:.0f} MiB between the last two waves"
    acks = slack_acks + discord_acks
    questions = 2 * per_platform
    record(
        "Load",
        platform="Slack + Discord at once",
        questions=questions,
        concurrency=2 * PER_PLATFORM,
        model_workers=1,
        p50_ack_s=round(percentile(acks, 0.5), 3),
        p99_ack_s=round(percentile(acks, 0.99), 3),
        max_ack_s=round(max(acks), 3),
        answered_exactly_once=f"{questions}/{questions}",
        queue_positions_seen=f"{min(positions)}..{max(positions)}",
        rss_growth_mib=round(growth, 1),
        seconds=round(seconds, 1),
    )
