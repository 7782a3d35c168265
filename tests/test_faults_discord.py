"""Faults: the Discord API answering 429 and 5xx, through discord.py's real HTTP client.

simcord replaces discord.py's ``HTTPClient.request``, so its retry loop never runs there.
Here discord.py talks real HTTP to a small local aiohttp server that imitates the few REST
routes Tidings uses (log in, read a channel, create and edit a message, react), the way
``tests/slack_mock_server.py`` imitates Slack. The server can answer the next calls to a
route with a 429 (Discord's body and headers, ``Via`` included: discord.py treats a 429
without it as a Cloudflare ban) or a 5xx, and can apply a request *before* failing it (the
case where Discord created the message but the answer was lost on the way back).

Like Discord, the server honours ``enforce_nonce``: a message created with the same nonce
(by the same bot, in the same channel) is returned instead of created again. discord.py
2.7 sends a nonce with ``enforce_nonce`` on every message it creates (a random one unless
given), so its own retries of one send cannot double a message; Tidings' digest posts use
a nonce derived from the digest's key, so a *second* post of the same digest (the caller
retrying after an error) is not doubled either.

``/ask`` answers through the interaction routes (the callback that defers, then edits of
the response and follow-ups), which discord.py sends through its webhook adapter, with a
retry loop of its own; the server imitates them too, Discord's 3 second window for the
first response and its refusal of a second one (40060) included.

The last test is the crash between posting a digest and recording it: the scheduler then
finds the post by its window in the channel history, which on Discord lives in an embed
footer (on simcord: history is not about HTTP).

What discord.py retries (``HTTPClient.request``): a 429 after the body's ``retry_after``;
500, 502, 504 and 524 after 1, 3, 5, 7 s; five tries in all. Other statuses (403, 404, 503)
raise at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import discord.http
import pytest
import simcord
from aiohttp import web

from adapters.discord.bot import TidingsDiscordBot
from adapters.discord.convert import digest_messages
from adapters.discord.platform import DiscordPlatform
from bots.discord_bot import build_bot
from core.digests.format import window_text
from core.errors import GENERIC_APOLOGY, KnowledgeBaseError
from core.services import Services
from core.types import Answer, ChannelRef, Citation, Digest, DigestBullet, DigestSection, Question
from tests.reliability import record
from tests.trust_support import with_handbook

pytestmark = pytest.mark.slow

GUILD = 880000000000000001
CHANNEL = 880000000000000002
BOT = {"id": "880000000000000003", "username": "tidings", "discriminator": "0", "global_name": None, "avatar": None, "bot": True}
ALICE = {"id": "880000000000000004", "username": "alice", "discriminator": "0", "global_name": None, "avatar": None}
DISCORD_EPOCH_MS = 1420070400000


@dataclass
class Planned:
    status: int
    applied: bool = False  # do the work, then fail (the response was lost, not the request)
    retry_after: float = 0.2
    when: Callable[[Any], bool] | None = None  # only a call whose JSON body passes (others go through)


@dataclass
class Slash:
    """One slash command as Discord holds it: the token answers for 15 minutes, but the
    callback (the first response, e.g. the defer) must come within 3 seconds and only once."""

    id: int
    created: float = field(default_factory=time.monotonic)
    acknowledged: bool = False
    original: int | None = None  # the response message ("thinking...", then the answer)
    followups: list[int] = field(default_factory=list)


@dataclass
class Call:
    method: str
    path: str
    body: Any
    status: int


@dataclass
class FakeDiscord:
    """The Discord REST API as far as Tidings uses it, with injectable failures."""

    channel: int = CHANNEL
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    plans: dict[tuple[str, str], list[Planned]] = field(default_factory=dict)
    by_nonce: dict[tuple[int, str, str], int] = field(default_factory=dict)
    slashes: dict[str, Slash] = field(default_factory=dict)  # by interaction token
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def fail_next(self, method: str, route: str, *plans: Planned) -> None:
        """The next calls to ``route`` (``messages`` or ``message``) answer these statuses."""
        self.plans.setdefault((method, route), []).extend(plans)

    def snowflake(self) -> int:
        return ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) + next(self._ids)

    def calls_to(self, method: str, route: str) -> list[Call]:
        pattern = ROUTES[route]
        return [c for c in self.calls if c.method == method and pattern.fullmatch(c.path)]

    def posted_by_bot(self) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if m["author"]["id"] == BOT["id"]]

    # -- payloads ---------------------------------------------------------------------

    def message(self, *, author: dict[str, Any], body: dict[str, Any], channel: int) -> dict[str, Any]:
        reference = body.get("message_reference")
        message = {
            "id": str(self.snowflake()),
            "channel_id": str(channel),
            "guild_id": str(GUILD),
            "author": author,
            "content": body.get("content") or "",
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "type": 19 if reference else 0,
            "flags": 0,
        }
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        if reference:
            ids = {key: str(value) for key, value in reference.items() if key.endswith("_id") and value is not None}
            message["message_reference"] = {**reference, **ids, "channel_id": str(channel), "guild_id": str(GUILD)}
        self.messages[int(message["id"])] = message
        return message

    def said_by_alice(self, content: str) -> dict[str, Any]:
        return self.message(author=ALICE, body={"content": content}, channel=self.channel)

    def alice_asks(self, question: str, *, private: bool = False) -> dict[str, Any]:
        """The gateway's INTERACTION_CREATE for alice's ``/ask question:...`` in the channel."""
        interaction = self.snowflake()
        token = f"aW50ZXJhY3Rpb24.{interaction}"
        self.slashes[token] = Slash(interaction)
        return {
            "id": str(interaction),
            "application_id": BOT["id"],
            "type": 2,
            "token": token,
            "version": 1,
            "guild_id": str(GUILD),
            "channel_id": str(self.channel),
            "channel": {"id": str(self.channel), "type": 0, "guild_id": str(GUILD), "name": "general", "position": 0,
                        "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None,
                        "last_message_id": None, "rate_limit_per_user": 0, "permissions": "2248473465835073"},
            "member": {"user": ALICE, "roles": [], "joined_at": datetime.now(UTC).isoformat(), "deaf": False, "mute": False,
                       "flags": 0, "pending": False, "nick": None, "avatar": None, "permissions": "2248473465835073"},
            "data": {"id": "880000000000000009", "name": "ask", "type": 1,
                     "options": [{"name": "question", "type": 3, "value": question}]
                     + ([{"name": "private", "type": 5, "value": True}] if private else [])},
            "app_permissions": "2248473465835073",
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(GUILD)},
            "context": 0,
            "attachment_size_limit": 10485760,
        }

    def answers_to(self, interaction: dict[str, Any]) -> list[dict[str, Any]]:
        """What the asker sees: the response message, then the follow-ups."""
        slash = self.slashes[interaction["token"]]
        ids = ([slash.original] if slash.original is not None else []) + slash.followups
        return [self.messages[i] for i in ids if i in self.messages]

    # -- the server ---------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path.removeprefix("/api/v10")
        body = await request.json() if request.can_read_body and request.content_type == "application/json" else None
        route = next((name for name, pattern in ROUTES.items() if pattern.fullmatch(path)), "")
        plans = self.plans.get((request.method, route)) or []
        plan = plans.pop(0) if plans and (plans[0].when is None or plans[0].when(body)) else None
        if plan is not None and plan.status < 300:
            plan = None  # this call goes through
        if plan is not None and not plan.applied:
            response = failure(plan)
        else:
            applied = self.apply(request.method, route, path, body)
            response = failure(plan) if plan is not None else applied
        self.calls.append(Call(request.method, path, body, response.status))
        return response

    def apply(self, method: str, route: str, path: str, body: Any) -> web.StreamResponse:
        match = ROUTES[route].fullmatch(path) if route else None
        if method == "GET" and route == "me":
            return ok(BOT)
        if method == "GET" and route == "app":
            return ok({"id": BOT["id"], "name": "Tidings", "description": "", "icon": None, "bot_public": False,
                       "bot_require_code_grant": False, "owner": ALICE, "verify_key": "00", "flags": 0})
        if method == "GET" and route == "channel" and match is not None:
            return ok({"id": match["channel"], "type": 0, "guild_id": str(GUILD), "name": "general", "position": 0,
                       "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None,
                       "last_message_id": None, "rate_limit_per_user": 0})
        if method == "POST" and route == "messages" and match is not None:
            channel = int(match["channel"])
            nonce = body.get("nonce") if body.get("enforce_nonce") else None
            key = (channel, BOT["id"], str(nonce))
            if nonce is not None and key in self.by_nonce:
                return ok(self.messages[self.by_nonce[key]])  # Discord's answer to a repeated nonce
            created = self.message(author=BOT, body=body, channel=channel)
            if nonce is not None:
                self.by_nonce[key] = int(created["id"])
            return ok(created)
        if method == "PATCH" and route == "message" and match is not None:
            return ok(edited(self.messages[int(match["message"])], body))
        if route == "reaction":
            return web.Response(status=204, headers=RATE_HEADERS)
        if route in {"callback", "original", "webhook"} and match is not None:
            return self.interaction(method, route, match["token"], body)
        return as_json({"message": "404: Not Found", "code": 0}, status=404)

    def interaction(self, method: str, route: str, token: str, body: Any) -> web.StreamResponse:
        """The interaction routes, served by discord.py's webhook adapter (not ``HTTPClient``)."""
        slash = self.slashes.get(token)
        if slash is None or (route == "callback" and not slash.acknowledged and time.monotonic() - slash.created > 3.0):
            return as_json({"message": "Unknown interaction", "code": 10062}, status=404)
        if route == "callback":
            if slash.acknowledged:
                return as_json({"message": "Interaction has already been acknowledged.", "code": 40060}, status=400)
            slash.acknowledged = True
            data = body.get("data") or {}
            loading = 128 if body["type"] == 5 else 0
            created = self.message(author=BOT, body=data, channel=self.channel)
            created["flags"] = (data.get("flags") or 0) | loading
            slash.original = int(created["id"])
            return ok({
                "interaction": {"id": str(slash.id), "type": 2, "response_message_id": created["id"],
                                "response_message_loading": bool(loading), "response_message_ephemeral": bool(created["flags"] & 64)},
                "resource": {"type": body["type"], "message": created},
            })
        original = self.messages.get(slash.original) if slash.original is not None else None
        if method == "POST" and route == "webhook" and slash.acknowledged:
            if original is not None and original["flags"] & 128:  # the first follow-up to "thinking..." becomes it
                original["flags"] &= ~128
                return ok(edited(original, body))
            created = self.message(author=BOT, body=body, channel=self.channel)
            created["flags"] = body.get("flags") or 0
            slash.followups.append(int(created["id"]))
            return ok(created)
        if original is None or route != "original":
            return as_json({"message": "Unknown Message", "code": 10008}, status=404)
        if method == "PATCH":
            original["flags"] &= ~128
            return ok(edited(original, body))
        if method == "DELETE":
            del self.messages[int(original["id"])]
            return web.Response(status=204, headers=RATE_HEADERS)
        return as_json({"message": "405: Method Not Allowed", "code": 0}, status=405)


def edited(message: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    for name in ("content", "embeds", "components"):
        if name in body:
            message[name] = body[name] if body[name] is not None else ("" if name == "content" else [])
    message["edited_timestamp"] = datetime.now(UTC).isoformat()
    return message


ROUTES = {
    "me": re.compile(r"/users/@me"),
    "app": re.compile(r"/oauth2/applications/@me"),
    "channel": re.compile(r"/channels/(?P<channel>\d+)"),
    "messages": re.compile(r"/channels/(?P<channel>\d+)/messages"),
    "message": re.compile(r"/channels/(?P<channel>\d+)/messages/(?P<message>\d+)"),
    "reaction": re.compile(r"/channels/\d+/messages/\d+/reactions/[^/]+/@me"),
    # discord.py's webhook adapter (discord/webhook/async_.py) sends these, also under Route.BASE.
    "callback": re.compile(r"/interactions/(?P<interaction>\d+)/(?P<token>[^/]+)/callback"),
    "original": re.compile(r"/webhooks/(?P<application>\d+)/(?P<token>[^/]+)/messages/@original"),
    "webhook": re.compile(r"/webhooks/(?P<application>\d+)/(?P<token>[^/]+)"),
}
RATE_HEADERS = {
    "X-RateLimit-Limit": "5",
    "X-RateLimit-Remaining": "4",
    "X-RateLimit-Reset-After": "1.000",
    "X-RateLimit-Bucket": "80c17d2f203122d936070c88c8d10f33",
}


def as_json(payload: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # Discord's exact content type: discord.py parses a body as JSON only for this one.
    return web.Response(status=status, body=json.dumps(payload).encode(), headers={**(headers or {}), "Content-Type": "application/json"})


def ok(payload: Any) -> web.Response:
    return as_json(payload, headers={**RATE_HEADERS, "X-RateLimit-Reset": f"{time.time() + 1:.3f}"})


def failure(plan: Planned) -> web.Response:
    if plan.status == 429:
        return as_json(
            {"message": "You are being rate limited.", "retry_after": plan.retry_after, "global": False},
            status=429,
            headers={
                **RATE_HEADERS,
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + plan.retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{plan.retry_after:.3f}",
                "X-RateLimit-Scope": "user",
                "Retry-After": str(max(1, round(plan.retry_after))),
                "Via": "1.1 google",
            },
        )
    if plan.status in {502, 503, 504}:  # what Cloudflare answers for Discord: an HTML page
        return web.Response(status=plan.status, text=f"<html><body>{plan.status} Bad Gateway</body></html>", content_type="text/html")
    return as_json({"message": f"{plan.status}: Internal Server Error", "code": 0}, status=plan.status)


@asynccontextmanager
async def fake_discord(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    """The fake Discord on a free local port; discord.py's routes point at it."""
    server = FakeDiscord()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{port}/api/v10")
    try:
        yield server
    finally:
        await runner.cleanup()


@asynccontextmanager
async def logged_in(client: discord.Client) -> AsyncIterator[discord.Client]:
    """``client`` logged in with a made-up token over real HTTP (no gateway: nothing here needs
    events); closed afterwards."""
    try:
        await client.login("fake-token.for.the-local-server")
        yield client
    finally:
        await client.close()


def window_digest(*, bullets: int = 2, long: bool = False) -> Digest:
    start = datetime(2024, 5, 1, 9, tzinfo=UTC)
    text = "The release train left on time and the dashboards stayed green all day long. " * (12 if long else 1)
    return Digest(
        headline="What happened in #general",
        sections=(DigestSection(title="Releases", bullets=tuple(DigestBullet(text=f"{n}. {text}") for n in range(bullets))),),
        window_start=start,
        window_end=start + timedelta(days=1),
        channel=ChannelRef("discord", str(GUILD), str(CHANNEL), "general"),
    )


TARGET = ChannelRef("discord", str(GUILD), str(CHANNEL), "general")


async def test_a_digest_post_rate_limited_then_failing_is_retried_and_posted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    async with fake_discord(monkeypatch) as server, logged_in(discord.Client(intents=discord.Intents.default())) as client:
        server.fail_next("POST", "messages", Planned(429, retry_after=0.2), Planned(500))
        started = time.monotonic()
        posted = await asyncio.wait_for(DiscordPlatform(client).post(TARGET, "fallback", digest=window_digest()), 30)
        took = time.monotonic() - started

    [message] = server.posted_by_bot()
    assert posted == message["id"]  # Tidings got the id of the message Discord kept
    assert message["embeds"][0]["title"] == "What happened in #general"
    attempts = server.calls_to("POST", "messages")
    assert [c.status for c in attempts] == [429, 500, 200]
    # The same request each time: one nonce, enforced, derived from the digest (not random).
    assert len({c.body["nonce"] for c in attempts}) == 1 and all(c.body["enforce_nonce"] for c in attempts)
    assert took >= 0.2 + 3.0  # discord.py waited as told: retry_after, then 1 + 2 s for the 500
    record(
        "Faults",
        fault="Discord answers 429 (retry_after 0.2 s, X-RateLimit-*, Retry-After) then 500 to a digest post (real discord.py HTTP client)",
        outcome=f"retried {len(attempts) - 1} times after {took:.1f} s; posted once, its id returned",
    )


async def test_a_5xx_after_discord_created_the_digest_leaves_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lost-response case: Discord created the message, then the answer was a 5xx.
    discord.py retries a 502 with the same nonce; a 503 it does not retry but raises, and the
    caller posting the digest again sends the same nonces (derived from the digest's key),
    so Discord returns what it already has: nothing is doubled."""
    digest = window_digest(bullets=12, long=True)
    parts = len(digest_messages(digest))
    assert parts >= 2  # several messages, each with its own nonce
    next_day = dataclasses.replace(digest, window_start=digest.window_end, window_end=digest.window_end + timedelta(days=1))  # type: ignore[operator]
    async with fake_discord(monkeypatch) as server, logged_in(discord.Client(intents=discord.Intents.default())) as client:
        platform = DiscordPlatform(client)
        server.fail_next("POST", "messages", Planned(502, applied=True))
        first = await asyncio.wait_for(platform.post(TARGET, "fallback", digest=digest), 30)
        assert len(server.posted_by_bot()) == parts
        assert [c.status for c in server.calls_to("POST", "messages")][:2] == [502, 200]

        # The next day's digest: its second part is created, but the answer is a 503, which
        # discord.py does not retry: the post fails after two messages went out.
        server.fail_next("POST", "messages", Planned(200), Planned(503, applied=True))
        with pytest.raises(discord.DiscordServerError):
            await asyncio.wait_for(platform.post(TARGET, "fallback", digest=next_day), 30)
        assert [c.status for c in server.calls_to("POST", "messages")][-2:] == [200, 503]  # the 503 fired
        assert len(server.posted_by_bot()) == parts + 2
        # Whoever posts that digest again gets the two messages back and adds the rest.
        second = await asyncio.wait_for(platform.post(TARGET, "fallback", digest=next_day), 30)

    bot_messages = server.posted_by_bot()
    assert len(bot_messages) == 2 * parts, [m["id"] for m in bot_messages]
    assert first == bot_messages[0]["id"] and second == bot_messages[parts]["id"]
    nonces = [c.body["nonce"] for c in server.calls_to("POST", "messages")]
    assert len(set(nonces)) == 2 * parts
    record(
        "Faults",
        fault="Discord creates a digest message but answers 502 (retried by discord.py) or 503 (raised; the digest is posted again)",
        outcome=f"{parts} messages, each once: the digest's nonces (enforce_nonce) make Discord return the existing message",
    )


async def test_an_answer_to_a_mention_survives_429_and_5xx_without_duplicates(
    make_services: Callable[..., Services], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer path: the real bot (real answerer and model) gets a mention as the gateway
    would deliver it and replies through discord.py's real HTTP client. The reply's POST is
    rate limited and then fails with a 502 after Discord created it; the edit fails once
    with a 500. One reply, edited to the full answer (a written one: it is streamed, then edited)."""
    services = with_handbook(make_services(config_text='[llm]\nmax_answer_tokens = 24\n[answers]\nstyle = "generate"\n'))
    config = tmp_path / "tidings.toml"
    config.write_text("[discord]\nsync_commands = false\n", encoding="utf-8")
    async with fake_discord(monkeypatch) as server:
        bot = build_bot(str(config), services=services, environ={"TIDINGS_HOME": str(tmp_path)})
        assert isinstance(bot, TidingsDiscordBot)
        async with logged_in(bot):
            channel = await bot.fetch_channel(CHANNEL)
            asked = server.said_by_alice(f"<@{BOT['id']}> How do I deploy?")
            message = discord.Message(state=bot._connection, channel=channel, data=asked)  # type: ignore[arg-type]
            server.fail_next("POST", "messages", Planned(429, retry_after=0.2), Planned(502, applied=True))
            server.fail_next("PATCH", "message", Planned(500))
            await asyncio.wait_for(bot.on_message(message), 60)

    [reply] = server.posted_by_bot()
    assert reply["message_reference"]["message_id"] == asked["id"]
    posts = server.calls_to("POST", "messages")
    assert [c.status for c in posts] == [429, 502, 200] and len({c.body["nonce"] for c in posts}) == 1
    edits = server.calls_to("PATCH", "message")
    assert edits and edits[0].status == 500 and edits[-1].status == 200
    assert all(c.path.endswith(f"/messages/{reply['id']}") for c in edits)  # the id came back to the bot
    final = str(edits[-1].body["content"])
    assert reply["content"] == final and not final.endswith("▌") and "deploy" in final.lower()
    assert reply["embeds"] and reply["embeds"][0]["title"] == "Sources"
    assert services.state.take_unfinished_questions() == []  # answered, not left for a restart
    record(
        "Faults",
        fault="Discord answers 429, then 502 after creating the reply, to a mention's answer; 500 to its edit",
        outcome=f"retried ({len(posts) - 1} + {len(edits) - 1} times); one reply, edited to the full answer",
    )


# -- /ask: the interaction callback and the response edits, through the webhook adapter --------
#
# The slash-command path does not go through ``HTTPClient.request`` but through discord.py's
# ``AsyncWebhookAdapter.request`` (discord/webhook/async_.py), with its own loop: a 429 (with
# ``Via``) after ``retry_after``; *any* status >= 500 (503 included) after 1, 3, 5, 7 s; five
# tries in all. Its URLs are built from ``Route.BASE`` too, so they reach the fake server.


def answering_bot(
    make_services: Callable[..., Services], tmp_path: Path, *, answerer: Any = None
) -> tuple[TidingsDiscordBot, Services]:
    """The real bot (real answerer, real model, 24 answer tokens; or ``answerer``) as
    ``tidings run`` builds it."""
    services = with_handbook(make_services(config_text="[llm]\nmax_answer_tokens = 24\n"))
    if answerer is not None:
        services = dataclasses.replace(services, answerer=answerer)
    config = tmp_path / "tidings.toml"
    config.write_text("[discord]\nsync_commands = false\n", encoding="utf-8")
    bot = build_bot(str(config), services=services, environ={"TIDINGS_HOME": str(tmp_path)})
    assert isinstance(bot, TidingsDiscordBot)
    return bot, services


async def slash_over_the_gateway(bot: discord.Client, payload: dict[str, Any]) -> None:
    """Hand ``payload`` to discord.py's INTERACTION_CREATE parser, as its gateway does, and wait
    for the command tree's task (the command and, on failure, the error hook) to end."""
    before = asyncio.all_tasks()
    bot._connection.parsers["INTERACTION_CREATE"](payload)
    [invoker] = [t for t in asyncio.all_tasks() - before if t.get_name() == "CommandTree-invoker"]
    await asyncio.wait_for(invoker, 60)


def final_answer(body: Any) -> bool:
    """The answer's last edit: the one that carries the sources embed."""
    return isinstance(body, dict) and bool(body.get("embeds"))


async def test_an_ask_answer_survives_429_and_a_5xx_after_discord_applied_the_edit(
    make_services: Callable[..., Services], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``/ask`` defers ("thinking..."), streams into the response and finally edits it to the
    answer with its sources. That final edit is rate limited, then applied by Discord but
    answered with a 500: discord.py's webhook adapter retries both, and an edit is idempotent,
    so the asker sees one response holding the whole answer once."""
    bot, services = answering_bot(make_services, tmp_path)
    async with fake_discord(monkeypatch) as server, logged_in(bot):
        asked = server.alice_asks("How do I deploy?")
        server.fail_next("PATCH", "original", Planned(429, retry_after=0.2, when=final_answer), Planned(500, applied=True, when=final_answer))
        started = time.monotonic()
        await slash_over_the_gateway(bot, asked)
        took = time.monotonic() - started

    assert [(c.status, c.body["type"]) for c in server.calls_to("POST", "callback")] == [(200, 5)]  # deferred once
    [response] = server.answers_to(asked)  # no follow-up: the answer is the response itself
    finals = [c for c in server.calls_to("PATCH", "original") if final_answer(c.body)]
    assert [c.status for c in finals] == [429, 500, 200]
    assert len({json.dumps(c.body, sort_keys=True) for c in finals}) == 1  # the same edit each time
    assert response["content"] == finals[-1].body["content"] and "deploy" in response["content"].lower()
    assert not response["content"].endswith("▌") and not response["flags"] & 128  # no longer "thinking..."
    assert response["embeds"][0]["title"] == "Sources" and "handbook" in json.dumps(response["embeds"]).lower()
    assert response["components"]  # the 👍/👎 buttons
    assert server.calls_to("POST", "webhook") == []  # nothing was sent twice as a follow-up
    assert services.state.take_unfinished_questions() == []
    assert took >= 0.2 + 1.0  # retry_after, then 1 s for the 500
    record(
        "Faults",
        fault="/ask: Discord answers 429 (Via, retry_after 0.2 s), then 500 after applying it, to the final edit of the response (discord.py webhook adapter)",
        outcome=f"retried {len(finals) - 1} times; one response, holding the answer and its sources once",
    )


LONG_ANSWER = ("Restore a snapshot from the admin console, then restart the node to pick it up. " * 55).strip()


class LongAnswerer:
    """The answerer port giving a 4,400 character answer with three cited sources (what
    ``max_answer_tokens = 1024`` allows at the default n_ctx; the real model here writes 24
    tokens), streamed once before the end as a model would."""

    async def answer(self, question: Question, *, on_text: Any = None, on_queued: Any = None) -> Answer:
        if on_text is not None:
            await on_text(LONG_ANSWER[:1500])
        citations = tuple(
            Citation(n=n, source=f"docs/restore-{n}.md", title=f"Restore guide {n}", snippet="Snapshots are kept for 30 days.",
                     score=0.8, url=f"https://docs.example.com/restore/{n}")
            for n in range(1, 4)
        )
        return Answer(question=question.text, text=LONG_ANSWER, grounded=True, citations=citations)


class FailingAnswerer:
    async def answer(self, question: Question, **kwargs: Any) -> Answer:
        raise KnowledgeBaseError("search failed")


@pytest.mark.parametrize("private", [False, True], ids=["public", "private"])
async def test_a_long_ask_answer_is_one_response_so_a_5xx_after_discord_applied_it_doubles_nothing(
    make_services: Callable[..., Services], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private: bool
) -> None:
    """An answer over 2,000 characters used to go out as the response plus follow-ups, and
    a follow-up (a webhook message: no nonce) that Discord created but answered with a 5xx
    was sent again by discord.py. Now it is one message, the edited response: the text,
    its continuation in embeds, the sources and the buttons. Discord applies that edit and
    answers 500; any follow-up would be created and answered 500 too. The asker ends with
    one message holding the whole answer once."""
    bot, services = answering_bot(make_services, tmp_path, answerer=LongAnswerer())
    async with fake_discord(monkeypatch) as server, logged_in(bot):
        asked = server.alice_asks("How do I restore?", private=private)
        server.fail_next("PATCH", "original", Planned(500, applied=True, when=final_answer))
        server.fail_next("POST", "webhook", Planned(500, applied=True))
        await slash_over_the_gateway(bot, asked)

    [response] = server.answers_to(asked)  # no follow-up
    assert server.calls_to("POST", "webhook") == []
    finals = [c for c in server.calls_to("PATCH", "original") if final_answer(c.body)]
    assert [c.status for c in finals] == [500, 200] and finals[0].body == finals[1].body
    assert bool(response["flags"] & 64) == private and not response["flags"] & 128
    *continued, sources = response["embeds"]
    assert len(response["content"]) <= 2000 and continued
    assert " ".join([response["content"], *(e["description"] for e in continued)]) == LONG_ANSWER
    assert sources["title"] == "Sources" and [f["name"] for f in sources["fields"]] == [f"[{n}] Restore guide {n}" for n in (1, 2, 3)]
    assert [b["custom_id"].split(":")[2] for b in response["components"][0]["components"]] == ["up", "down"]
    assert services.state.take_unfinished_questions() == []
    record(
        "Faults",
        fault=f"/ask ({'private' if private else 'public'}): a {len(LONG_ANSWER):,} character answer; Discord applies the final edit of the response but answers 500",
        outcome=f"retried once; one message: {len(response['content']):,} characters of content, {len(continued)} text embed(s), the sources and the buttons; no follow-up to double",
    )


async def test_an_ask_apology_is_an_edit_of_the_response_so_a_5xx_after_discord_applied_it_doubles_nothing(
    make_services: Callable[..., Services], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer fails after the defer: "thinking..." is edited to the apology (it used to
    be deleted and the apology sent as a private follow-up, which a 5xx after Discord
    created it doubled). Discord applies the edit and answers 500; any follow-up would be
    created and answered 500 too. One message, the apology, once."""
    bot, services = answering_bot(make_services, tmp_path, answerer=FailingAnswerer())
    async with fake_discord(monkeypatch) as server, logged_in(bot):
        asked = server.alice_asks("How do I restore?")
        server.fail_next("PATCH", "original", Planned(500, applied=True, when=lambda body: body.get("content") == GENERIC_APOLOGY))
        server.fail_next("POST", "webhook", Planned(500, applied=True))
        await slash_over_the_gateway(bot, asked)

    [response] = server.answers_to(asked)
    assert response["content"] == GENERIC_APOLOGY and not response["flags"] & 128
    assert response["embeds"] == [] and response["components"] == []
    assert [c.status for c in server.calls_to("PATCH", "original")] == [500, 200]
    assert server.calls_to("POST", "webhook") == [] and server.calls_to("DELETE", "original") == []
    assert services.state.take_unfinished_questions() == []
    record(
        "Faults",
        fault="/ask: the answer fails after the defer; Discord applies the apology's edit of the response but answers 500",
        outcome="retried once; one message, the apology, in place of \"thinking...\"; no follow-up to double",
    )


async def test_an_ask_whose_defer_fails_with_a_5xx_is_retried_and_answered(
    make_services: Callable[..., Services], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The defer itself gets a 502 (Cloudflare's HTML page) before Discord saw it: the webhook
    adapter retries it after 1 s, inside Discord's 3 second window, and the answer follows."""
    bot, services = answering_bot(make_services, tmp_path)
    async with fake_discord(monkeypatch) as server, logged_in(bot):
        asked = server.alice_asks("How do I deploy?")
        server.fail_next("POST", "callback", Planned(502))
        await slash_over_the_gateway(bot, asked)

    assert [c.status for c in server.calls_to("POST", "callback")] == [502, 200]
    [response] = server.answers_to(asked)
    assert "deploy" in response["content"].lower() and response["embeds"][0]["title"] == "Sources"
    assert services.state.take_unfinished_questions() == []
    record(
        "Faults",
        fault="/ask: the defer (interaction callback) answered 502 before Discord applied it",
        outcome="retried once after 1 s (inside the 3 s window); one response with the answer",
    )


async def test_an_ask_whose_defer_was_applied_but_answered_5xx_is_still_answered(
    make_services: Callable[..., Services], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lost-response case for the defer: Discord showed "thinking..." but answered 500.
    discord.py's retry is refused (400, 40060: already acknowledged). The bot goes on as
    deferred and edits the response to the answer (it used to treat the refusal as a failure,
    and its apology was refused the same way: the asker was left with "thinking...")."""
    bot, services = answering_bot(make_services, tmp_path)
    async with fake_discord(monkeypatch) as server, logged_in(bot):
        asked = server.alice_asks("How do I deploy?")
        server.fail_next("POST", "callback", Planned(500, applied=True))
        await slash_over_the_gateway(bot, asked)

    assert [c.status for c in server.calls_to("POST", "callback")] == [500, 400]  # one retry, refused
    [response] = server.answers_to(asked)
    assert "deploy" in response["content"].lower() and response["embeds"][0]["title"] == "Sources"
    assert not response["flags"] & 128
    assert server.calls_to("POST", "webhook") == []
    assert services.state.take_unfinished_questions() == []
    record(
        "Faults",
        fault="/ask: Discord applies the defer (\"thinking...\") but answers 500; discord.py's retry gets 400 already acknowledged",
        outcome="the bot goes on as deferred; one response with the answer (before the fix: \"thinking...\" forever)",
    )


async def test_an_ask_whose_defer_keeps_failing_past_the_3_second_window_does_not_crash_the_bot(
    make_services: Callable[..., Services], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Two 503s: discord.py's next try comes after 1 + 3 s, past Discord's 3 second window,
    and Discord no longer knows the interaction (404, 10062). Nothing can reach the asker
    through it any more (Discord shows them "The application did not respond"); the bot
    logs the failure, sends nothing else, and answers the next /ask."""
    bot, services = answering_bot(make_services, tmp_path)
    async with fake_discord(monkeypatch) as server, logged_in(bot):
        lost = server.alice_asks("How do I deploy?")
        server.fail_next("POST", "callback", Planned(503), Planned(503))
        await slash_over_the_gateway(bot, lost)
        statuses = [c.status for c in server.calls_to("POST", "callback")]
        assert server.answers_to(lost) == [] and not server.calls_to("PATCH", "original")
        assert "command ask failed" in caplog.text and "could not tell the user" in caplog.text
        assert services.state.take_unfinished_questions() == []  # nothing to tell after a restart either
        asked = server.alice_asks("How do I deploy?")
        await slash_over_the_gateway(bot, asked)

    assert statuses == [503, 503, 404, 404]  # the defer and its retries, then the apology, refused
    [response] = server.answers_to(asked)
    assert "deploy" in response["content"].lower() and response["embeds"][0]["title"] == "Sources"
    record(
        "Faults",
        fault="/ask: the defer answered 503 twice, so discord.py's next try is past Discord's 3 s window (404 unknown interaction)",
        outcome="logged; no message (Discord tells the asker the app did not respond); the bot answers the next /ask",
    )


def test_the_fake_discord_routes_match_only_what_they_name() -> None:
    """A route table mistake would let a test pass for the wrong reason."""
    assert ROUTES["messages"].fullmatch("/channels/1/messages") and not ROUTES["messages"].fullmatch("/channels/1/messages/2")
    assert ROUTES["message"].fullmatch("/channels/1/messages/2") and not ROUTES["channel"].fullmatch("/channels/1/messages")


async def test_a_posted_digest_is_recognised_in_the_channel_history_after_a_crash() -> None:
    """After a crash between posting a digest and recording it, the scheduler looks for the
    digest's window (``window_text``) in the target channel's history and records it instead
    of posting again (``Scheduler._find_post``). On Discord the digest is embeds, and the
    window is only in the last embed's footer: the history must carry it."""
    intents = discord.Intents.default()
    intents.message_content = True
    client = discord.Client(intents=intents)
    digest = window_digest(bullets=12, long=True)
    async with simcord.run(client, settle_timeout=30) as env:
        guild = env.create_guild(name="Acme")
        general = guild.create_text_channel("general")
        target = ChannelRef("discord", str(guild.id), str(general.id), "general")
        platform = DiscordPlatform(client)
        posted = await platform.post(target, "fallback", digest=dataclasses.replace(digest, channel=target))
        history = await platform.fetch_history(target, env.now() - timedelta(minutes=5), env.now() + timedelta(minutes=1))
    assert window_text(digest.window_start, digest.window_end) in "\n".join(m.text for m in history)  # type: ignore[arg-type]
    assert history[0].id == posted
    record(
        "Faults",
        fault="digest posted to Discord as embeds, then the process dies before recording it",
        outcome="the post's window is found in the channel history (the scheduler records it, does not post again)",
    )
