"""The ``[discord]`` section of the config, and the token from the environment.

The token is a secret, so it never lives in the TOML file: it comes from ``DISCORD_TOKEN``
(the environment or ``.env``). Every other setting can be overridden from the environment
as ``TIDINGS_DISCORD__<KEY>`` like the rest of the config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from core.answers.questions import THREAD_CHARS, THREAD_MESSAGES
from core.errors import ConfigError

TOKEN_ENV = "DISCORD_TOKEN"


@dataclass(frozen=True)
class DiscordSettings:
    token: str = ""
    """From ``DISCORD_TOKEN``; empty means Discord is not configured (``tidings run`` skips it)."""
    sync_commands: bool = True
    """Register the slash commands with Discord at start-up."""
    sync_guild: int | None = None
    """Sync the commands to this one server (instant, for testing) instead of globally
    (global commands can take up to an hour to appear the first time)."""
    mentions: bool = True
    """Answer ``@Tidings <question>`` messages (needs the Message Content intent)."""
    stream_interval_s: float = 1.0
    """Least time between two edits of a streaming answer (Discord rate-limits edits)."""
    context_messages: int = THREAD_MESSAGES
    """How many earlier thread messages are read as conversation context."""
    context_chars: int = THREAD_CHARS
    """Character budget for that context before the answerer's own token budget applies
    (``core.answers.questions.ThreadContext``)."""

    @property
    def configured(self) -> bool:
        return bool(self.token)


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false", "1", "0", "yes", "no"}:
        return value.lower() in {"true", "1", "yes"}
    raise ConfigError(f"Setting [discord] {key} must be true or false, not {value!r}.")


def _as_number(key: str, value: Any, kind: type[int] | type[float], minimum: float) -> Any:
    if isinstance(value, bool):
        raise ConfigError(f"Setting [discord] {key} must be a number, not {value!r}.")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"Setting [discord] {key} must be a number, not {value!r}.") from None
    if number < minimum:
        raise ConfigError(f"Setting [discord] {key} must be at least {minimum}.")
    return number


def _as_guild(value: Any) -> int | None:
    # Snowflakes exceed what some TOML writers keep exact as numbers, so text is accepted too.
    if value in (None, "", 0, "0"):
        return None
    if isinstance(value, bool):
        raise ConfigError("Setting [discord] sync_guild must be a server id (a number), not a boolean.")
    text = str(value).strip()
    if not text.isdigit():
        raise ConfigError(
            f"Setting [discord] sync_guild must be a server id (Developer Mode > right-click the server > Copy Server ID), not {value!r}."
        )
    return int(text)


def load_discord_settings(section: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> DiscordSettings:
    """Parse ``settings.section("discord")`` and read the token from ``environ``."""
    env = os.environ if environ is None else environ
    if "token" in section:
        raise ConfigError(f"The Discord token is a secret: set {TOKEN_ENV} in the environment or .env, not in the config file.")
    known = {f.name for f in fields(DiscordSettings)} - {"token"}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"Unknown setting [discord] {unknown[0]}; known settings are: {', '.join(sorted(known))}.")
    defaults = DiscordSettings()
    return DiscordSettings(
        token=env.get(TOKEN_ENV, "").strip(),
        sync_commands=_as_bool("sync_commands", section.get("sync_commands", defaults.sync_commands)),
        sync_guild=_as_guild(section.get("sync_guild")),
        mentions=_as_bool("mentions", section.get("mentions", defaults.mentions)),
        stream_interval_s=_as_number("stream_interval_s", section.get("stream_interval_s", defaults.stream_interval_s), float, 0.2),
        context_messages=_as_number("context_messages", section.get("context_messages", defaults.context_messages), int, 0),
        context_chars=_as_number("context_chars", section.get("context_chars", defaults.context_chars), int, 0),
    )
