"""Build the Slack bot exactly as ``tidings run`` does: config file + environment -> SlackBot.

The runner calls ``build_slack_bot(config_path, services=services)`` when ``slack_settings``
finds a bot token, then ``await bot.start()`` and, on shutdown, ``await bot.stop()``.
"""

from __future__ import annotations

from collections.abc import Mapping

from adapters.slack.bot import SlackBot
from adapters.slack.doctor import check_slack
from adapters.slack.settings import SlackSettings, slack_settings
from core.config import load_settings
from core.errors import ConfigError
from core.services import Services

__all__ = ["SlackBot", "SlackSettings", "build_slack_bot", "check_slack", "slack_settings"]


def build_slack_bot(
    config_path: str | None = None,
    *,
    services: Services | None = None,
    environ: Mapping[str, str] | None = None,
) -> SlackBot:
    """The Slack bot for a config file (or ``services.settings`` when services are given and
    no path is) and the Slack tokens in the environment."""
    settings = services.settings if services is not None and config_path is None else load_settings(config_path)
    slack = slack_settings(settings, environ)
    if slack is None:
        raise ConfigError(
            "Slack is not configured: set SLACK_BOT_TOKEN (and SLACK_APP_TOKEN for Socket Mode or "
            "SLACK_SIGNING_SECRET for HTTP mode); see docs/slack.md."
        )
    if services is None:
        from bots.wiring import build_services  # heavy: loads the models lazily

        services = build_services(settings)
    return SlackBot(settings=slack, services=services)
