"""Requests as Slack sends them to an app in HTTP mode: signed bodies for events, slash
commands and button clicks (``v0=`` HMAC-SHA256 of ``v0:<timestamp>:<body>`` with the
signing secret, as ``slack_sdk.signature.SignatureVerifier`` checks it)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from tests.slack_mock_server import BOT_USER_ID, TEAM_ID

SIGNING_SECRET = "test-signing-secret-8f2a"
_ids = itertools.count(1)


def sign(body: str, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return f"v0={digest}"


def next_ts() -> str:
    """A fresh message timestamp, increasing like Slack's."""
    return f"{int(time.time())}.{next(_ids):06d}"  # truncated like the mock's, so a reply's ts is always later


def event_callback(event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "api_app_id": "A0TIDINGS",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_ids):08d}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
    }


def mention(text: str, *, channel: str = "C0GENERAL", user: str = "U0ASKER", thread_ts: str | None = None) -> dict[str, Any]:
    event = {
        "type": "app_mention",
        "user": user,
        "text": f"<@{BOT_USER_ID}> {text}",
        "ts": next_ts(),
        "channel": channel,
        "team": TEAM_ID,
        "event_ts": "",
    }
    event["event_ts"] = event["ts"]
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


@dataclass
class Reply:
    status: int
    seconds: float
    body: str


async def post_signed(
    session: aiohttp.ClientSession,
    url: str,
    body: str,
    *,
    content_type: str = "application/json",
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    retry_num: int | None = None,
) -> Reply:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign(body, stamp, secret),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    started = time.perf_counter()
    async with session.post(url, data=body.encode(), headers=headers) as response:
        text = await response.text()
        return Reply(response.status, time.perf_counter() - started, text)


async def send_event(session: aiohttp.ClientSession, url: str, payload: dict[str, Any], **kwargs: Any) -> Reply:
    return await post_signed(session, url, json.dumps(payload), **kwargs)


async def send_command(
    session: aiohttp.ClientSession, url: str, command: str, text: str, *, response_url: str,
    channel: str = "C0GENERAL", user: str = "U0ASKER",
) -> Reply:
    form = {
        "token": "legacy",
        "team_id": TEAM_ID,
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": "asker",
        "command": command,
        "text": text,
        "api_app_id": "A0TIDINGS",
        "response_url": response_url,
        "trigger_id": f"trig.{next(_ids)}",
    }
    return await post_signed(session, url, urlencode(form), content_type="application/x-www-form-urlencoded")


async def click(
    session: aiohttp.ClientSession, url: str, action_id: str, value: str, *, response_url: str,
    channel: str = "C0GENERAL", user: str = "U0ASKER", message_ts: str = "1.000001",
) -> Reply:
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "tidings-test"},
        "user": {"id": user, "username": "asker", "team_id": TEAM_ID},
        "api_app_id": "A0TIDINGS",
        "token": "legacy",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
        "trigger_id": f"trig.{next(_ids)}",
        "channel": {"id": channel, "name": "general"},
        "message": {"ts": message_ts, "text": "answer"},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "b", "value": value, "type": "button", "action_ts": "1"}],
    }
    body = urlencode({"payload": json.dumps(payload)})
    return await post_signed(session, url, body, content_type="application/x-www-form-urlencoded")
