"""Setting Slack up: the manifest, `tidings doctor`'s checks, and building the bot from config."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from adapters.slack.doctor import BOT_EVENTS, REQUIRED_SCOPES, check_slack
from adapters.slack.settings import SlackSettings
from bots.slack_bot import build_slack_bot
from core.errors import ConfigError
from core.services import Services
from tests.slack_mock_server import FULL_SCOPES, MockSlack

pytestmark = pytest.mark.asyncio(loop_scope="session")

REPO = Path(__file__).resolve().parent.parent


@pytest_asyncio.fixture(loop_scope="session")
async def slack() -> AsyncIterator[MockSlack]:
    server = await MockSlack().start()
    yield server
    await server.stop()


async def test_manifest_asks_for_exactly_the_scopes_and_events_the_bot_needs() -> None:
    yaml = pytest.importorskip("yaml")
    manifest = yaml.safe_load((REPO / "config" / "slack-app-manifest.yml").read_text(encoding="utf-8"))
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(REQUIRED_SCOPES)
    assert sorted(manifest["settings"]["event_subscriptions"]["bot_events"]) == sorted(BOT_EVENTS)
    assert {c["command"] for c in manifest["features"]["slash_commands"]} == {"/ask", "/summarize", "/tidings"}
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert sorted(FULL_SCOPES.split(",")) == sorted(REQUIRED_SCOPES)
    guide = (REPO / "docs" / "slack.md").read_text(encoding="utf-8")
    for name in [*REQUIRED_SCOPES, *BOT_EVENTS]:
        assert f"`{name}`" in guide, f"docs/slack.md does not explain {name}"


def settings_for(slack: MockSlack, **overrides: Any) -> SlackSettings:
    values: dict[str, Any] = {"bot_token": "xoxb-doctor", "app_token": "xapp-doctor", "mode": "socket", "api_url": slack.api_url}
    return SlackSettings(**{**values, **overrides})


async def test_doctor_is_quiet_when_everything_is_granted(slack: MockSlack) -> None:
    assert await check_slack(settings_for(slack)) == []
    assert slack.calls_to("auth.test")[0].token == "xoxb-doctor"
    assert slack.calls_to("apps.connections.open")[0].token == "xapp-doctor"


async def test_doctor_names_each_missing_scope_and_why(slack: MockSlack) -> None:
    slack.scopes = "app_mentions:read,chat:write,commands"
    (problem,) = await check_slack(settings_for(slack))
    assert "reactions:write (" in problem and "users:read (" in problem and "im:history" in problem
    assert "chat:write," not in problem and "xoxb-doctor" not in problem


async def test_doctor_reports_a_rejected_token_without_showing_it(slack: MockSlack) -> None:
    slack.fail_next("auth.test", status=200, retry_after=None)  # a 200 with ok=false, as Slack answers invalid_auth
    problems = await check_slack(settings_for(slack, bot_token="xoxb-wrong"))
    assert len(problems) == 1 and "SLACK_BOT_TOKEN" in problems[0] and "xoxb-wrong" not in problems[0]


async def test_doctor_reports_an_unreachable_slack() -> None:
    problems = await check_slack(SlackSettings(bot_token="xoxb-x", mode="http", signing_secret="s", api_url="http://127.0.0.1:9/api/"))
    assert len(problems) == 1 and "Could not reach Slack" in problems[0]


async def test_build_slack_bot_from_config_and_environment(
    tmp_path: Path, make_services: Callable[..., Services], slack: MockSlack
) -> None:
    config = tmp_path / "tidings.toml"
    config.write_text(f'[slack]\nmode = "http"\nport = 0\nhost = "127.0.0.1"\napi_url = "{slack.api_url}"\n', encoding="utf-8")
    env = {"SLACK_BOT_TOKEN": "xoxb-built", "SLACK_SIGNING_SECRET": "sig"}
    bot = build_slack_bot(str(config), services=make_services(), environ=env)
    assert bot.settings.mode == "http" and bot.platform.platform == "slack"
    assert bot.app.client.base_url == slack.api_url and bot.app.client.token == "xoxb-built"
    await bot.start()
    try:
        assert bot.port and bot.platform.bot_user_id == "UTIDINGS"
    finally:
        await bot.stop()
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        build_slack_bot(str(config), services=make_services(), environ={})


async def test_a_bad_token_stops_start_with_a_clear_error(slack: MockSlack, make_services: Callable[..., Services]) -> None:
    from adapters.slack.bot import SlackBot

    slack.fail_next("auth.test", status=200, retry_after=None)
    bot = SlackBot(settings=settings_for(slack, bot_token="xoxb-revoked"), services=make_services())
    with pytest.raises(ConfigError, match="rejected the bot token") as raised:
        await bot.start()
    assert "xoxb-revoked" not in str(raised.value)
    await bot.stop()

