"""The ``[slack]`` section of the config plus the Slack secrets from the environment.

Secrets never come from the TOML file: ``SLACK_BOT_TOKEN`` (``xoxb-``), ``SLACK_APP_TOKEN``
(``xapp-``, Socket Mode) and ``SLACK_SIGNING_SECRET`` (HTTP mode) are read from the
environment (or ``.env``, loaded by the CLI). Slack is configured exactly when a bot token
is set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.answers.questions import THREAD_MESSAGES
from core.config import Settings
from core.errors import ConfigError

DEFAULT_API_URL = "https://slack.com/api/"
MODES = ("socket", "http")


@dataclass(frozen=True)
class SlackSettings:
    bot_token: str = field(repr=False)
    app_token: str = field(default="", repr=False)
    signing_secret: str = field(default="", repr=False)
    mode: str = "socket"
    host: str = "0.0.0.0"
    port: int = 3000
    path: str = "/slack/events"
    api_url: str = DEFAULT_API_URL
    stream_interval_s: float = 1.0
    """Seconds between two edits of an answer while it streams (Slack allows about one a second)."""
    thread_context_messages: int = THREAD_MESSAGES
    """Earlier thread messages read as conversation context; the turns and characters kept
    of them are the same on every platform (``core.answers.questions.ThreadContext``)."""
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    """``SLACK_CLIENT_ID`` / ``SLACK_CLIENT_SECRET``: with both, workspaces install Tidings
    through the OAuth flow (``install_path``, ``redirect_path``), several from one deployment."""
    install_path: str = "/slack/install"
    redirect_path: str = "/slack/oauth_redirect"
    redirect_uri: str = ""
    """The full redirect URL registered with Slack (needed when the app lists several)."""

    @property
    def oauth(self) -> bool:
        return bool(self.client_id and self.client_secret)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for scanning logs in tests and redacting."""
        return tuple(s for s in (self.bot_token, self.app_token, self.signing_secret, self.client_secret) if s)

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> SlackSettings | None:
        """Slack's settings for a loaded config; None when Slack is not configured (no bot token)."""
        return slack_settings(settings, environ)


_KEYS = {
    "mode", "host", "port", "path", "api_url", "stream_interval_s", "thread_context_messages",
    "install_path", "redirect_path", "redirect_uri",
}


def _number(table: Mapping[str, Any], key: str, default: float, kind: type) -> Any:
    value = table.get(key, default)
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"Setting [slack] {key} must be a number, not {value!r}.") from None
    if number < 0:
        raise ConfigError(f"Setting [slack] {key} must not be negative.")
    return number


def parse_slack_settings(table: Mapping[str, Any], environ: Mapping[str, str]) -> SlackSettings | None:
    """Settings from a raw ``[slack]`` table and the environment; None when neither a bot token
    nor OAuth credentials (``SLACK_CLIENT_ID`` and ``SLACK_CLIENT_SECRET``) are set."""
    bot_token = environ.get("SLACK_BOT_TOKEN", "").strip()
    app_token = environ.get("SLACK_APP_TOKEN", "").strip()
    signing_secret = environ.get("SLACK_SIGNING_SECRET", "").strip()
    client_id = environ.get("SLACK_CLIENT_ID", "").strip()
    client_secret = environ.get("SLACK_CLIENT_SECRET", "").strip()
    if bool(client_id) != bool(client_secret):
        raise ConfigError(
            "Slack OAuth needs both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (Basic Information > App Credentials); "
            "only one is set."
        )
    oauth = bool(client_id)
    unknown = set(table) - _KEYS
    if unknown:
        raise ConfigError(
            f"Unknown setting [slack] {sorted(unknown)[0]}; known settings are: {', '.join(sorted(_KEYS))}. "
            "Tokens are not settings: put them in the environment or .env as SLACK_BOT_TOKEN, "
            "SLACK_APP_TOKEN and SLACK_SIGNING_SECRET."
        )
    if not bot_token and not oauth:
        if app_token or signing_secret:
            raise ConfigError(
                "SLACK_APP_TOKEN or SLACK_SIGNING_SECRET is set but SLACK_BOT_TOKEN is not; "
                "copy the Bot User OAuth Token (xoxb-...) from your Slack app's OAuth & Permissions page."
            )
        return None
    mode = str(table.get("mode") or ("socket" if app_token and not oauth else "http")).lower()
    if mode not in MODES:
        raise ConfigError(f"Setting [slack] mode must be socket or http, not {mode!r}.")
    if oauth and mode != "http":
        raise ConfigError(
            "Slack OAuth installs (SLACK_CLIENT_ID / SLACK_CLIENT_SECRET) need [slack] mode = \"http\": "
            "Slack redirects each installing workspace to this server's /slack/oauth_redirect."
        )
    for key in ("install_path", "redirect_path"):
        if not str(table.get(key) or "/").startswith("/"):
            raise ConfigError(f"Setting [slack] {key} must start with /, not {table.get(key)!r}.")
    if mode == "socket" and not app_token:
        raise ConfigError(
            "Slack Socket Mode needs SLACK_APP_TOKEN (an app-level token, xapp-..., with the "
            "connections:write scope); or set [slack] mode = \"http\" and SLACK_SIGNING_SECRET."
        )
    if mode == "http" and not signing_secret:
        raise ConfigError(
            "Slack HTTP mode needs SLACK_SIGNING_SECRET (Basic Information > App Credentials) to "
            "verify that requests come from Slack."
        )
    path = str(table.get("path") or "/slack/events")
    if not path.startswith("/"):
        raise ConfigError(f"Setting [slack] path must start with /, not {path!r}.")
    port = _number(table, "port", 3000, int)
    if not 0 <= port < 65536:
        raise ConfigError(f"Setting [slack] port must be between 1 and 65535 (0: any free port), not {port}.")
    api_url = str(table.get("api_url") or DEFAULT_API_URL)
    if not api_url.startswith(("https://", "http://")):
        raise ConfigError(f"Setting [slack] api_url must be an http(s) URL, not {api_url!r}.")
    return SlackSettings(
        bot_token=bot_token,
        app_token=app_token,
        signing_secret=signing_secret,
        mode=mode,
        host=str(table.get("host") or "0.0.0.0"),
        port=port,
        path=path,
        api_url=api_url if api_url.endswith("/") else api_url + "/",
        stream_interval_s=_number(table, "stream_interval_s", 1.0, float),
        thread_context_messages=_number(table, "thread_context_messages", THREAD_MESSAGES, int),
        client_id=client_id,
        client_secret=client_secret,
        install_path=str(table.get("install_path") or "/slack/install"),
        redirect_path=str(table.get("redirect_path") or "/slack/oauth_redirect"),
        redirect_uri=str(table.get("redirect_uri") or ""),
    )


def slack_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> SlackSettings | None:
    """Slack's settings for a loaded config; None when Slack is not configured (no bot token,
    no OAuth credentials)."""
    return parse_slack_settings(settings.section("slack"), os.environ if environ is None else environ)
