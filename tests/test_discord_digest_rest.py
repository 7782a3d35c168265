"""``tidings digest run`` for a Discord channel outside the running bot.

The bot token logs in over Discord's REST API only (``bots.discord_bot.discord_over_rest``):
no gateway, so no cache of channels or threads. The channel, its history and its active
threads come from the API, and the digest is posted through it. Simcord's in-memory Discord
serves that REST API (its transport stands in for Discord's servers); the Discord bot that
``tidings run`` would start is connected to the same world, and the REST-only client sees
what it sees.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import discord
import pytest
import simcord
from simcord.http.client import FakeHTTPClient

from bots.discord_bot import build_bot, discord_over_rest
from core.config import DigestChannel
from core.digests.scheduling import DigestScheduler
from core.errors import UserFacingError
from core.services import Services

pytestmark = pytest.mark.slow


async def test_a_digest_run_outside_the_bot_reads_threads_and_posts_over_rest(
    make_services: Callable[..., Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = make_services(config_text="[llm]\nmax_answer_tokens = 24\n")
    bot = build_bot(services=services, environ={})
    async with simcord.run(bot, settle_timeout=30) as env:
        guild = env.create_guild(name="Komodo")
        support = guild.create_text_channel("support")
        alice = guild.add_member(env.create_user("alice"))
        bob = guild.add_member(env.create_user("bob"))
        await alice.send(support, "Yesterday's chatter, before the window.")
        await env.advance_time(3600)
        start = env.now()
        first = await alice.send(support, "The nightly build fails on ARM since the openssl upgrade. Anyone know why?")
        thread_channel = env.backend.create_thread(support.id, "arm build", alice.id, message_id=first.id)
        thread = next(t for t in support.threads if t.id == thread_channel.id)
        await env.advance_time(60)
        reply = await bob.send(thread, "We decided to pin openssl to 3.0 in the Dockerfile until the fix ships.")
        await env.advance_time(60)
        await bob.send(support, "I'll open a PR to pin openssl to 3.0 today.")
        await env.advance_time(3600)
        end = env.now()

        # What ``discord.Client`` builds as its HTTP client goes to simcord's REST API.
        loop = asyncio.get_running_loop()
        monkeypatch.setattr(discord.client, "HTTPClient", lambda *args, **kwargs: FakeHTTPClient(env.backend, loop))
        channel = DigestChannel(platform="discord", workspace=str(guild.id), channel=str(support.id), name="support", min_messages=2)
        settings = replace(services.settings, digests=replace(services.settings.digests, channels=(channel,)))
        assert services.summarizer is not None
        async with discord_over_rest(settings, environ={"DISCORD_TOKEN": "rest-only-token"}) as platform:
            assert not platform.client.is_ready()  # REST only: no gateway session
            scheduler = DigestScheduler(settings=settings, state=services.state, summarizer=services.summarizer, platforms={"discord": platform})
            digest = await scheduler.run_digest(channel, since=start, until=end)
        assert platform.client.is_closed()

        assert digest is not None and digest.coverage.messages == 3
        cited = {link.message_id for section in digest.sections for bullet in section.bullets for link in bullet.sources}
        assert str(reply.id) in cited  # the reply inside the thread was read, from the API
        posted = support.last_message
        assert posted is not None and posted.author.id == env.backend.bot_user.id and posted.embeds
        assert [r.status for r in services.state.digests()] == ["posted"]


async def test_without_a_token_digest_run_says_how_to_set_it(make_services: Callable[..., Services], tmp_path: Path) -> None:
    services = make_services()
    with pytest.raises(UserFacingError, match="DISCORD_TOKEN is not set"):
        async with discord_over_rest(services.settings, environ={}):
            pass
