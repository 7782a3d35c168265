"""The Discord bot as ``tidings run`` builds it, plus the set-up helpers an admin needs.

``build_bot`` is the one factory: the runner and the tests both call it, so the bot under
test is the bot that runs. ``invite_url`` prints the link a server admin opens to add the
bot; ``check_discord`` is what ``tidings doctor`` asks about the token.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import aiohttp
import discord

from adapters.discord.bot import TidingsDiscordBot
from adapters.discord.platform import DiscordPlatform
from adapters.discord.settings import TOKEN_ENV, DiscordSettings, load_discord_settings
from core.config import Settings, load_settings
from core.errors import UserFacingError
from core.services import Services

SCOPES = ("bot", "applications.commands")
NO_TOKEN = f"{TOKEN_ENV} is not set: copy the bot token from the Developer Portal (Bot > Reset Token) into .env."
TOKEN_REJECTED = f"Discord rejected {TOKEN_ENV}: reset the token in the Developer Portal and update .env."


def bot_permissions() -> discord.Permissions:
    """Exactly what the bot uses: see channels, read their history (digests, thread
    context), send messages in channels and threads, embed links (sources and digests are
    embeds) and add reactions."""
    return discord.Permissions(
        view_channel=True,
        send_messages=True,
        send_messages_in_threads=True,
        embed_links=True,
        read_message_history=True,
        add_reactions=True,
    )


def invite_url(application_id: str) -> str:
    """The OAuth2 URL that adds the bot to a server with its slash commands."""
    application_id = str(application_id).strip()
    if not application_id.isdigit():
        raise ValueError(
            "The application id is the number under General Information > Application ID in the Discord Developer Portal."
        )
    return discord.utils.oauth_url(application_id, permissions=bot_permissions(), scopes=SCOPES)


def discord_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> DiscordSettings | None:
    """The ``[discord]`` settings when ``DISCORD_TOKEN`` is set; None when Discord is not configured."""
    parsed = load_discord_settings(settings.section("discord"), environ)
    return parsed if parsed.configured else None


def build_bot(
    config_path: str | None = None,
    *,
    services: Services | None = None,
    environ: Mapping[str, str] | None = None,
) -> TidingsDiscordBot:
    """Build the Discord bot from the config file and the environment, exactly as
    ``tidings run`` does. The token (``DISCORD_TOKEN``) is not needed to build, only to
    ``await bot.start(bot.discord_settings.token)``. ``services`` lets the runner and the
    tests share services already built (their settings are used when no path is given);
    otherwise they are built here from the same settings."""
    env = os.environ if environ is None else environ
    if services is not None and config_path is None:
        settings = services.settings
    else:
        settings = load_settings(config_path, environ=env)
    parsed = load_discord_settings(settings.section("discord"), env)
    if services is None:
        from bots.wiring import build_services  # heavy: loads the models

        services = build_services(settings)
    return TidingsDiscordBot(services=services, settings=parsed)


async def check_discord(token: str | None) -> list[str]:
    """Problems with the Discord set-up, one sentence each; an empty list means the token
    logs in and the Message Content intent is enabled. The token itself never appears in
    what this returns."""
    if not token:
        return [NO_TOKEN]
    client = discord.Client(intents=discord.Intents.none())
    problems: list[str] = []
    try:
        await client.login(token)
        info = await client.application_info()
        flags = info.flags
        if not (flags.gateway_message_content or flags.gateway_message_content_limited):
            problems.append(
                "The Message Content intent is off: Developer Portal > your application > Bot > "
                "Privileged Gateway Intents > Message Content Intent. Without it @mentions and digests see no text."
            )
    except discord.LoginFailure:
        problems.append(TOKEN_REJECTED)
    except discord.HTTPException as error:
        problems.append(f"Discord answered with an error ({error.status}) while checking the token.")
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        problems.append(f"Could not reach Discord to check the token ({type(error).__name__}).")
    finally:
        await client.close()
    return problems


@asynccontextmanager
async def discord_over_rest(settings: Settings, environ: Mapping[str, str] | None = None) -> AsyncIterator[DiscordPlatform]:
    """Discord's history and posting for ``tidings digest run`` outside the running bot: the
    bot token logs in over the REST API only (no gateway connection, so nothing else of the
    bot starts), and the session is closed afterwards."""
    parsed = load_discord_settings(settings.section("discord"), os.environ if environ is None else environ)
    if not parsed.token:
        raise UserFacingError(NO_TOKEN)
    client = discord.Client(intents=discord.Intents.none())
    try:
        try:
            await client.login(parsed.token)
        except discord.LoginFailure:
            raise UserFacingError(TOKEN_REJECTED) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise UserFacingError(f"Could not reach Discord ({type(error).__name__}).") from None
        yield DiscordPlatform(client)
    finally:
        await client.close()
