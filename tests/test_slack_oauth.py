"""Several Slack workspaces from one deployment: bolt's OAuth flow (``/slack/install``,
``/slack/oauth_redirect``) against the mock Slack Web API's ``oauth.v2.access``, installations
kept in the real state database, and each workspace answered with its own bot token and its
own channels' scopes. The single-workspace bot token keeps working beside it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import pytest_asyncio

from adapters.slack.bot import SlackBot
from adapters.slack.settings import parse_slack_settings
from core.errors import ConfigError
from core.services import OnQueued, OnText, Services
from core.types import Answer, ChannelRef, Question
from tests.slack_mock_server import FULL_SCOPES, TEAM_ID, MockSlack
from tests.slack_requests import event_callback, mention, send_event
from tests.trust_support import http_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

CLIENT = ("1111.2222", "oauth-client-secret")
SECOND = "T0SECOND"


@dataclass
class RecordingAnswerer:
    """The answering port: answers at once and keeps each question (its scopes included)."""

    questions: list[Question] = field(default_factory=list)

    async def answer(self, question: Question, *, on_text: OnText | None = None, on_queued: OnQueued | None = None) -> Answer:
        self.questions.append(question)
        return Answer(question=question.text, text="Deploys go out from main.", grounded=True)


@pytest_asyncio.fixture(loop_scope="session")
async def slack() -> AsyncIterator[MockSlack]:
    server = await MockSlack().start()
    server.oauth_client = CLIENT
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def oauth_bot(slack: MockSlack, make_services: Callable[..., Services]) -> AsyncIterator[tuple[SlackBot, RecordingAnswerer]]:
    services = make_services()
    answerer = RecordingAnswerer()
    services.answerer = answerer
    settings = http_settings(slack, bot_token="xoxb-test-token", client_id=CLIENT[0], client_secret=CLIENT[1])
    bot = SlackBot(settings=settings, services=services)
    await bot.start()
    yield bot, answerer
    await bot.stop()


def base(bot: SlackBot) -> str:
    return f"http://127.0.0.1:{bot.port}"


async def install(http: aiohttp.ClientSession, slack: MockSlack, bot: SlackBot, *, code: str, team: str, token: str) -> aiohttp.ClientResponse:
    slack.oauth_grants[code] = {
        "app_id": "A0TIDINGS",
        "access_token": token,
        "token_type": "bot",
        "scope": FULL_SCOPES,
        "bot_user_id": f"U{team}",
        "team": {"id": team, "name": f"Team {team}"},
        "authed_user": {"id": "U0INSTALLER"},
        "is_enterprise_install": False,
    }
    slack.teams_by_token[token] = {"team_id": team, "user_id": f"U{team}", "bot_id": f"B{team}"}
    async with http.get(base(bot) + "/slack/install", allow_redirects=False) as started:
        assert started.status == 302
        location = started.headers["Location"]
        cookie = started.headers["Set-Cookie"].split(";")[0]
    assert location.startswith("https://slack.com/oauth/v2/authorize?")
    query = parse_qs(urlsplit(location).query)
    assert query["client_id"] == [CLIENT[0]] and "chat:write" in query["scope"][0] and "commands" in query["scope"][0]
    state = query["state"][0]
    async with http.get(
        base(bot) + f"/slack/oauth_redirect?code={code}&state={state}", headers={"Cookie": cookie}, allow_redirects=False
    ) as finished:
        await finished.read()
        finished.state_used = state  # type: ignore[attr-defined]
        finished.cookie_used = cookie  # type: ignore[attr-defined]
        return finished


async def ask_in(http: aiohttp.ClientSession, bot: SlackBot, team: str, text: str) -> dict[str, Any]:
    event = mention(text)
    payload = event_callback(event)
    payload["team_id"] = team
    payload["authorizations"] = [{"team_id": team, "user_id": f"U{team}", "is_bot": True}]
    reply = await send_event(http, base(bot) + bot.settings.path, payload)
    assert reply.status == 200, reply.text
    return event


async def test_a_second_workspace_installs_and_is_answered_with_its_own_token_and_scopes(
    slack: MockSlack, oauth_bot: tuple[SlackBot, RecordingAnswerer]
) -> None:
    bot, answerer = oauth_bot
    async with aiohttp.ClientSession() as http:
        finished = await install(http, slack, bot, code="code-2", team=SECOND, token="xoxb-second")
        assert finished.status == 200
        [exchange] = slack.calls_to("oauth.v2.access")
        assert exchange.params["code"] == "code-2"
        stored = bot.services.state.slack_installation(team_id=SECOND)
        assert stored is not None and stored["bot_token"] == "xoxb-second" and stored["bot_id"] == f"B{SECOND}"

        # The redirect again (a replay): the state was used up, nothing is exchanged or stored twice.
        async with http.get(
            base(bot) + f"/slack/oauth_redirect?code=code-2&state={finished.state_used}",  # type: ignore[attr-defined]
            headers={"Cookie": finished.cookie_used},  # type: ignore[attr-defined]
            allow_redirects=False,
        ) as replayed:
            assert replayed.status >= 400
        assert len(slack.calls_to("oauth.v2.access")) == 1

        second = await ask_in(http, bot, SECOND, "<@UT0SECOND> how do deploys work?")
        first = await ask_in(http, bot, TEAM_ID, "<@UTIDINGS> how do deploys work?")
        await slack.wait_until(lambda: len(slack.posts_in_thread("C0GENERAL", second["ts"])) >= 1 and len(slack.posts_in_thread("C0GENERAL", first["ts"])) >= 1)

    posts = {c.params.get("thread_ts"): c.token for c in slack.calls_to("chat.postMessage")}
    assert posts[second["ts"]] == "xoxb-second" and posts[first["ts"]] == "xoxb-test-token"
    scopes = {q.request_id: q.scopes for q in answerer.questions}
    assert f"slack:{SECOND}:C0GENERAL" in scopes[f"slack-C0GENERAL-{second['ts']}"]
    assert f"slack:{TEAM_ID}:C0GENERAL" not in scopes[f"slack-C0GENERAL-{second['ts']}"]
    assert f"slack:{TEAM_ID}:C0GENERAL" in scopes[f"slack-C0GENERAL-{first['ts']}"]

    # Digests of the installed workspace post with its token too.
    await bot.chat_platform.post(ChannelRef("slack", SECOND, "C0DIGEST"), "A quiet day.")
    assert slack.calls_to("chat.postMessage")[-1].token == "xoxb-second"


async def test_a_workspace_that_never_installed_is_not_answered(
    slack: MockSlack, oauth_bot: tuple[SlackBot, RecordingAnswerer]
) -> None:
    bot, answerer = oauth_bot
    before = len(slack.calls_to("chat.postMessage"))
    async with aiohttp.ClientSession() as http:
        event = mention("<@UNOPE> hello?")
        payload = event_callback(event)
        payload["team_id"] = "T0NOPE"
        payload["authorizations"] = [{"team_id": "T0NOPE", "user_id": "UNOPE", "is_bot": True}]
        reply = await send_event(http, base(bot) + bot.settings.path, payload)
    assert reply.status in {200, 401}
    assert len(slack.calls_to("chat.postMessage")) == before and not any(q.text == "hello?" for q in answerer.questions)


async def test_an_uninstalled_workspace_is_forgotten(slack: MockSlack, oauth_bot: tuple[SlackBot, RecordingAnswerer]) -> None:
    bot, answerer = oauth_bot
    async with aiohttp.ClientSession() as http:
        finished = await install(http, slack, bot, code="code-3", team="T0THIRD", token="xoxb-third")
        assert finished.status == 200 and bot.services.state.slack_installation(team_id="T0THIRD") is not None
        await ask_in(http, bot, "T0THIRD", "<@UT0THIRD> first question")
        await slack.wait_until(lambda: any(c.token == "xoxb-third" for c in slack.calls_to("chat.postMessage")))
        payload = event_callback({"type": "app_uninstalled", "event_ts": "1.1"})
        payload["team_id"] = "T0THIRD"
        payload["authorizations"] = [{"team_id": "T0THIRD", "user_id": "UT0THIRD", "is_bot": True}]
        assert (await send_event(http, base(bot) + bot.settings.path, payload)).status == 200
        for _ in range(100):
            if bot.services.state.slack_installation(team_id="T0THIRD") is None:
                break
            await asyncio.sleep(0.02)
        assert bot.services.state.slack_installation(team_id="T0THIRD") is None
        assert "T0THIRD" not in bot.workspaces.responders
        before = len(slack.calls_to("chat.postMessage"))
        await ask_in_unauthorised(http, bot, "T0THIRD", "<@UT0THIRD> still there?")
    assert len(slack.calls_to("chat.postMessage")) == before
    assert not any(q.text.endswith("still there?") for q in answerer.questions)


async def ask_in_unauthorised(http: aiohttp.ClientSession, bot: SlackBot, team: str, text: str) -> None:
    payload = event_callback(mention(text))
    payload["team_id"] = team
    payload["authorizations"] = [{"team_id": team, "user_id": f"U{team}", "is_bot": True}]
    reply = await send_event(http, base(bot) + bot.settings.path, payload)
    assert reply.status in {200, 401}
    await asyncio.sleep(0.3)


async def test_oauth_needs_both_credentials_and_http_mode() -> None:
    with pytest.raises(ConfigError, match="both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET"):
        parse_slack_settings({}, {"SLACK_CLIENT_ID": "1.2"})
    with pytest.raises(ConfigError, match='mode = "http"'):
        parse_slack_settings({"mode": "socket"}, {"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s", "SLACK_APP_TOKEN": "xapp-1"})
    environ = {"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "sekrit-value", "SLACK_SIGNING_SECRET": "x"}
    settings = parse_slack_settings({}, environ)
    assert settings is not None and settings.oauth and settings.mode == "http" and settings.bot_token == ""
    assert "sekrit-value" in settings.secrets and "sekrit-value" not in repr(settings)
