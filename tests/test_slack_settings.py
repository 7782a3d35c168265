"""[slack] settings and Slack secrets from the environment."""

from __future__ import annotations

import pytest

from adapters.slack.settings import SlackSettings, parse_slack_settings, slack_settings
from core.config import load_settings
from core.errors import ConfigError

SOCKET_ENV = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}
HTTP_ENV = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "shh"}


def test_no_bot_token_means_slack_is_off() -> None:
    assert parse_slack_settings({}, {}) is None


def test_mode_follows_the_tokens_given() -> None:
    socket = parse_slack_settings({}, SOCKET_ENV)
    http = parse_slack_settings({}, HTTP_ENV)
    assert socket is not None and socket.mode == "socket"
    assert http is not None and http.mode == "http" and http.path == "/slack/events" and http.port == 3000


def test_config_section_is_read_and_api_url_gets_a_slash() -> None:
    parsed = parse_slack_settings(
        {"mode": "http", "port": "8080", "path": "/hooks/slack", "api_url": "https://slack-gov.com/api"}, HTTP_ENV
    )
    assert parsed == SlackSettings(
        bot_token="xoxb-1", signing_secret="shh", mode="http", port=8080, path="/hooks/slack", api_url="https://slack-gov.com/api/"
    )


def test_secrets_never_show_in_repr() -> None:
    parsed = parse_slack_settings({}, {**SOCKET_ENV, "SLACK_SIGNING_SECRET": "sig-secret"})
    assert parsed is not None
    assert "xoxb-1" not in repr(parsed) and "xapp-1" not in repr(parsed) and "sig-secret" not in repr(parsed)
    assert set(parsed.secrets) == {"xoxb-1", "xapp-1", "sig-secret"}


@pytest.mark.parametrize(
    ("table", "env", "words"),
    [
        ({"mode": "socket"}, HTTP_ENV, "SLACK_APP_TOKEN"),
        ({"mode": "http"}, SOCKET_ENV, "SLACK_SIGNING_SECRET"),
        ({"mode": "carrier-pigeon"}, SOCKET_ENV, "socket or http"),
        ({"bot_token": "xoxb-in-toml"}, SOCKET_ENV, "Tokens are not settings"),
        ({"port": 70000}, HTTP_ENV, "port"),
        ({"path": "events"}, HTTP_ENV, "start with /"),
        ({}, {"SLACK_APP_TOKEN": "xapp-1"}, "SLACK_BOT_TOKEN"),
    ],
)
def test_mistakes_are_explained(table: dict, env: dict, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_slack_settings(table, env)


def test_from_a_config_file_with_env_overrides(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "tidings.toml"
    config.write_text('[slack]\nmode = "http"\nport = 4000\n', encoding="utf-8")
    env = {**HTTP_ENV, "TIDINGS_SLACK__PORT": "4100"}
    settings = load_settings(config, home=tmp_path, environ=env)
    parsed = slack_settings(settings, env)
    assert parsed is not None and parsed.port == 4100 and parsed.mode == "http"
    assert SlackSettings.from_settings(settings, env) == parsed
    assert SlackSettings.from_settings(settings, {}) is None
