"""Slack workspaces installed through bolt's OAuth flow, kept in Tidings' state database.

``StateInstallationStore`` is bolt's ``AsyncInstallationStore`` (``async_save``,
``async_find_bot``, ``async_find_installation``, ``async_delete_*``) over
``StateStore.save_slack_installation`` and friends; ``StateOAuthStateStore`` is its
``AsyncOAuthStateStore`` (the one-time ``state`` of ``/slack/install`` -> ``/slack/oauth_redirect``).
Both only translate between bolt's objects and the state store's records; the state store's
calls are short blocking transactions, run off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime
from typing import Any

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from core.runtime.state import StateStore

log = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    """An installation's values as JSON can hold them (times as Unix timestamps)."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def installation_record(installation: Installation) -> dict[str, Any]:
    return dict(_plain(installation.to_dict_for_copying()))


def installation_from_record(record: dict[str, Any]) -> Installation:
    return Installation(**record)


class StateInstallationStore(AsyncInstallationStore):
    def __init__(self, state: StateStore) -> None:
        self.state = state

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        await asyncio.to_thread(
            self.state.save_slack_installation,
            team_id=installation.team_id or "",
            enterprise_id=installation.enterprise_id or "" if installation.is_enterprise_install else "",
            payload=installation_record(installation),
        )
        log.info("Slack workspace %s (%s) installed Tidings", installation.team_id, installation.team_name)

    async def async_save_bot(self, bot: Bot) -> None:
        # Bots are saved as part of their installation (``installation_store_bot_only`` is off).
        return None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        record = await asyncio.to_thread(
            self.state.slack_installation,
            team_id="" if is_enterprise_install else team_id or "",
            enterprise_id=enterprise_id or "" if is_enterprise_install else "",
        )
        return None if record is None else installation_from_record(record)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        installation = await self.async_find_installation(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
        )
        return installation.to_bot() if installation is not None and installation.bot_token else None

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await asyncio.to_thread(self.state.delete_slack_installation, team_id=team_id or "", enterprise_id="")

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id)


class StateOAuthStateStore(AsyncOAuthStateStore):
    def __init__(self, state: StateStore, *, expiration_seconds: int = 600) -> None:
        self.state = state
        self.expiration_seconds = expiration_seconds

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        value = secrets.token_urlsafe(24)
        await asyncio.to_thread(self.state.issue_oauth_state, value, ttl_s=self.expiration_seconds)
        return value

    async def async_consume(self, state: str) -> bool:
        return bool(state) and await asyncio.to_thread(self.state.consume_oauth_state, state)
