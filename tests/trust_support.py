"""Shared by the trust suites: the real Slack bot served over HTTP against the mock Slack,
and what it posted where."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp

from adapters.slack.bot import SlackBot
from adapters.slack.settings import SlackSettings
from core.services import Services
from core.types import Chunk
from tests.slack_mock_server import BOT_USER_ID, MockSlack
from tests.slack_requests import SIGNING_SECRET, Reply, event_callback, mention, send_event

BOT_TOKEN = "xoxb-1111111111-2222222222222-TrustSuiteBotToken"
HANDBOOK = (
    "How to deploy: deploys go out from the main branch. To deploy, run make deploy after two approvals. "
    "A deploy takes about ten minutes. Rollbacks use make rollback."
)


def with_handbook(services: Services) -> Services:
    services.knowledge_base.replace_source(
        "handbook.md",
        [Chunk(id="handbook-1", source="handbook.md", title="Deploy handbook", text=HANDBOOK, url="https://wiki.example/deploy")],
    )
    return services


def slack_queue_notices(world: SlackWorld) -> list[str]:
    """The "Queued, position N" notices Slack askers were shown."""
    texts = (str(c.params.get("text", "")) for c in world.slack.calls if c.method in {"chat.postMessage", "chat.update"})
    return [t for t in texts if t.startswith("Queued, position")]


def hold_model(services: Services, *, most_s: float = 120) -> tuple[threading.Event, asyncio.Future[Any]]:
    """Occupy the model worker, as a digest step or another question would, until the event is
    set (or ``most_s`` passed): askers queue however fast answers are."""
    released = threading.Event()
    return released, asyncio.ensure_future(services.worker.run(functools.partial(released.wait, most_s)))


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except OSError:
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class SlackWorld:
    slack: MockSlack
    bot: SlackBot
    http: aiohttp.ClientSession
    asked: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.bot.port}{self.bot.settings.path}"

    async def ask(self, text: str, *, channel: str = "C0GENERAL", user: str = "U0ASKER", thread_ts: str | None = None) -> Reply:
        event = mention(text, channel=channel, user=user, thread_ts=thread_ts)
        self.asked.append(event)
        return await send_event(self.http, self.url, event_callback(event))

    def replies_to(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """What the bot has in the question's thread (each message as last edited)."""
        return self.slack.posts_in_thread(event["channel"], event.get("thread_ts") or event["ts"])

    def text_of(self, event: dict[str, Any]) -> str:
        return " ".join(json.dumps(m.get("blocks")) + str(m.get("text")) for m in self.replies_to(event))

    def finished(self, event: dict[str, Any]) -> bool:
        """The bot's reply in this thread is final: the answer with its buttons, or a notice."""
        posts = self.replies_to(event)
        if not posts:
            return False
        last = posts[-1]
        text = str(last.get("text") or "")
        return "▍" not in json.dumps(last.get("blocks"), ensure_ascii=False) and not text.startswith("Queued")

    async def wait_all_finished(self, events: Sequence[dict[str, Any]], *, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(self.finished(e) for e in events):
            if time.monotonic() > deadline:
                missing = [e["text"][:40] for e in events if not self.finished(e)]
                raise AssertionError(f"{len(missing)} questions never got a final reply: {missing[:5]}")
            await asyncio.sleep(0.1)
        await self.idle()

    async def idle(self) -> None:
        """Wait until the bot has no answer in progress."""
        while self.bot.responder.active:
            await asyncio.sleep(0.05)


def http_settings(slack: MockSlack, *, bot_token: str = BOT_TOKEN, **overrides: Any) -> SlackSettings:
    """The Slack settings of a bot in HTTP mode on a free local port, talking to ``slack``."""
    settings = SlackSettings(
        bot_token=bot_token,
        signing_secret=SIGNING_SECRET,
        mode="http",
        host="127.0.0.1",
        port=0,
        api_url=slack.api_url,
        stream_interval_s=1.0,
    )
    return replace(settings, **overrides)


@asynccontextmanager
async def slack_world(services: Services, **overrides: Any) -> AsyncIterator[SlackWorld]:
    """The bot as ``tidings run`` builds it in HTTP mode, talking to a fresh mock Slack."""
    slack = await MockSlack().start()
    bot = SlackBot(settings=http_settings(slack, **overrides), services=services)
    await bot.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield SlackWorld(slack, bot, http)
    finally:
        await bot.stop()
        await slack.stop()


__all__ = ["BOT_TOKEN", "BOT_USER_ID", "SlackWorld", "http_settings", "percentile", "rss_mb", "slack_world", "with_handbook"]
