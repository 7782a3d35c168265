"""A local stand-in for Slack's Web API (and its Socket Mode WebSocket), owned by the tests.

The bot talks to it over real HTTP exactly as it talks to slack.com: the bot's
``AsyncWebClient`` simply gets this server's URL as its ``base_url`` (the way bolt-python's
own ``tests/mock_web_api_server`` works). It keeps a small in-memory workspace (channels,
messages, threads, users), records every call, and can be told to answer the next calls of a
method with HTTP 429 + ``Retry-After`` or a 5xx, to prove retries post nothing twice. A call it
failed on purpose is recorded apart (``failed``, with its status), so a test can show that the
fault it injected fired.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

BOT_USER_ID = "UTIDINGS"
BOT_ID = "BTIDINGS"
TEAM_ID = "T0TEST"
WORKSPACE_URL = "https://tidings-test.slack.com/"
FULL_SCOPES = (
    "app_mentions:read,channels:history,channels:read,chat:write,commands,"
    "groups:history,groups:read,im:history,reactions:write,users:read"
)


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str
    at: float
    status: int = 200  # what the mock answered (a failed call's status)


@dataclass
class Fault:
    status: int
    retry_after: int | None = None
    times: int = 1


@dataclass
class SlackWorkspace:
    """What the fake Slack knows: messages by channel (threads included), users, channel names."""

    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    home_tabs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The Home tab each user was last shown (``views.publish``)."""
    not_member: set[str] = field(default_factory=set)
    """Channels the bot is not in: reading their history answers ``not_in_channel``."""
    needs_scope: dict[str, str] = field(default_factory=dict)
    """Channels whose history needs a scope the token lacks: ``missing_scope`` naming it."""

    def add_message(self, channel: str, message: dict[str, Any]) -> dict[str, Any]:
        stored = {"type": "message", **message}
        self.messages.setdefault(channel, []).append(stored)
        self.messages[channel].sort(key=lambda m: float(m["ts"]))
        parent_ts = stored.get("thread_ts")
        parent = self.find(channel, str(parent_ts)) if parent_ts and parent_ts != stored["ts"] else None
        if parent is not None and parent.get("thread_ts") in (None, parent["ts"]):
            # Like Slack, a thread's parent knows its replies' count and latest.
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = max(int(parent.get("reply_count") or 0), sum(
                1 for m in self.messages[channel] if m.get("thread_ts") == parent["ts"] and m["ts"] != parent["ts"]
            ))
            parent["latest_reply"] = max(str(parent.get("latest_reply") or "0"), str(stored["ts"]), key=float)
        return stored

    def find(self, channel: str, ts: str) -> dict[str, Any] | None:
        return next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)


def block_kit_problem(view: dict[str, Any]) -> str | None:
    """Why Slack would refuse ``view``: more than 100 blocks, a header over 150 characters,
    section or context text over 3,000, more than 10 context elements; None when it is fine."""
    blocks = view.get("blocks") or []
    if view.get("type") not in {"home", "modal"}:
        return f"view type {view.get('type')!r}"
    if len(blocks) > 100:
        return f"{len(blocks)} blocks (at most 100)"
    for n, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "header" and len(block["text"]["text"]) > 150:
            return f"block {n}: header over 150 characters"
        if kind == "section" and not 0 < len(block["text"]["text"]) <= 3000:
            return f"block {n}: section text of {len(block['text']['text'])} characters"
        if kind == "context":
            elements = block.get("elements") or []
            if not 0 < len(elements) <= 10 or any(len(e.get("text", "")) > 3000 for e in elements):
                return f"block {n}: context elements"
    return None


class MockSlack:
    """Start with ``await MockSlack().start()``; ``api_url`` is what the bot's client uses."""

    def __init__(self, *, scopes: str = FULL_SCOPES) -> None:
        self.workspace = SlackWorkspace()
        self.calls: list[Call] = []  # the calls it served
        self.failed: list[Call] = []  # the calls it failed on purpose (``fail_next``)
        self.responses: list[dict[str, Any]] = []  # what bolt's respond() sent to response_url
        self.socket_acks: list[dict[str, Any]] = []
        self.scopes = scopes
        self.page_size = 100  # the most items one history/replies page returns
        self.oauth_grants: dict[str, dict[str, Any]] = {}  # oauth.v2.access answers by code
        self.teams_by_token: dict[str, dict[str, str]] = {}  # auth.test for another workspace's bot token
        self.current_token = ""
        self.current_authorization = ""
        self.oauth_client: tuple[str, str] = ("", "")  # the app's client id and secret oauth.v2.access accepts
        self.workspace_url = WORKSPACE_URL  # "" makes the bot fall back to chat.getPermalink
        self._faults: dict[str, list[Fault]] = {}
        self._ts = itertools.count(1)
        self._changed = asyncio.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> MockSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response_url/{key}", self._response_url)
        app.router.add_get("/socket", self._socket)
        # Slack's side of the network needs no graceful close: a client's idle keep-alive
        # connection must not hold the test's teardown for aiohttp's default 60 s.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, key: str = "1") -> str:
        return f"{self.base_url}/response_url/{key}"

    # -- test controls ----------------------------------------------------------------------

    def fail_next(self, method: str, *, status: int = 429, retry_after: int | None = 1, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` get ``status`` (429 comes with Retry-After)."""
        self._faults.setdefault(method, []).append(Fault(status, retry_after if status == 429 else None, times))

    def calls_to(self, method: str) -> list[Call]:
        """The calls of ``method`` the mock served (not those it failed on purpose)."""
        return [c for c in self.calls if c.method == method]

    def failed_calls_to(self, method: str) -> list[Call]:
        """The calls of ``method`` answered with an injected fault (``fail_next``), in order."""
        return [c for c in self.failed if c.method == method]

    def faults_pending(self) -> dict[str, int]:
        """Injected failures that have not fired yet, by method."""
        return {method: sum(f.times for f in faults) for method, faults in self._faults.items() if faults}

    def posts_in_thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Messages the bot posted into a thread (chat.postMessage calls that reached the workspace)."""
        return [
            m
            for m in self.workspace.messages.get(channel, [])
            if m.get("user") == BOT_USER_ID and m.get("thread_ts") == thread_ts
        ]

    async def wait_for(self, method: str, count: int = 1, *, timeout: float = 30.0) -> list[Call]:
        """Wait until ``method`` was called successfully at least ``count`` times."""

        def done() -> bool:
            return len(self.calls_to(method)) >= count

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(done), timeout)
        return self.calls_to(method)

    async def wait_until(self, predicate: Any, *, timeout: float = 30.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def push_envelope(self, envelope: Mapping[str, Any]) -> None:
        """Send a Socket Mode envelope to every connected client, as Slack does."""
        for socket in list(self._sockets):
            await socket.send_str(json.dumps(envelope))

    async def wait_for_socket(self, *, timeout: float = 10.0) -> None:
        await self.wait_until(lambda: bool(self._sockets), timeout=timeout)

    # -- HTTP -------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            raw = await request.read()
            if request.content_type == "application/json":
                params.update(json.loads(raw or b"{}"))
            else:
                params.update(dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True)))
        for key in ("blocks", "attachments", "metadata"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        faults = self._faults.get(method)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if faults:
            fault = faults[0]
            fault.times -= 1
            if fault.times <= 0:
                faults.pop(0)
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            body = {"ok": False, "error": "ratelimited" if fault.status == 429 else "internal_error"}
            async with self._changed:
                self.failed.append(Call(method, params, token, time.monotonic(), fault.status))
                self._changed.notify_all()
            return web.json_response(body, status=fault.status, headers=headers)
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        self.current_token = token
        self.current_authorization = request.headers.get("Authorization", "")
        body = handler(params) if handler else {"ok": True}
        headers = {"x-oauth-scopes": self.scopes} if method == "auth.test" else {}
        async with self._changed:
            self.calls.append(Call(method, params, token, time.monotonic()))
            self._changed.notify_all()
        return web.json_response(body, headers=headers)

    async def _response_url(self, request: web.Request) -> web.Response:
        body = await request.json()
        async with self._changed:
            self.responses.append({"key": request.match_info["key"], **body})
            self._changed.notify_all()
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        async with self._changed:
            self._sockets.append(socket)
            self._changed.notify_all()
        await socket.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        try:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    async with self._changed:
                        self.socket_acks.append(json.loads(message.data))
                        self._changed.notify_all()
        finally:
            self._sockets.remove(socket)
        return socket

    # -- methods ----------------------------------------------------------------------------

    def _next_ts(self) -> str:
        # The upper half of the fraction: never the ts of an event the tests make (slack_requests.next_ts).
        return f"{int(time.time())}.{500000 + next(self._ts):06d}"

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        answer = {
            "ok": True,
            "url": self.workspace_url,
            "team": "Tidings Test",
            "user": "tidings",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }
        token = str(params.get("token") or self.current_token)
        return {**answer, **self.teams_by_token.get(token, {})}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params["channel"])
        message = {
            "ts": self._next_ts(),
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "text": params.get("text", ""),
            "blocks": params.get("blocks", []),
        }
        if params.get("thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
        stored = self.workspace.add_message(channel, message)
        return {"ok": True, "channel": channel, "ts": stored["ts"], "message": stored}

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(params["channel"]), str(params["ts"])
        message = self.workspace.find(channel, ts)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        message["text"] = params.get("text", message.get("text", ""))
        message["blocks"] = params.get("blocks", message.get("blocks", []))
        return {"ok": True, "channel": channel, "ts": ts, "text": message["text"]}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        """Like Slack, a view over Block Kit's limits is refused (``invalid_blocks``), so a
        test sees what a real workspace would; a good one becomes the user's Home tab."""
        view = params.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        problem = block_kit_problem(view or {})
        if problem:
            return {"ok": False, "error": "invalid_blocks", "response_metadata": {"messages": [problem]}}
        self.workspace.home_tabs[str(params.get("user_id"))] = view
        return {"ok": True, "view": {"id": "V1", **view}}

    def _oauth_v2_access(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.oauth_answer(params)

    def oauth_answer(self, params: dict[str, Any]) -> dict[str, Any]:
        """Like Slack: the app authenticates with HTTP Basic (client id and secret), and each
        code works once."""
        import base64

        expected = "Basic " + base64.b64encode(":".join(self.oauth_client).encode()).decode()
        if not self.oauth_client[0] or self.current_authorization != expected:
            return {"ok": False, "error": "invalid_client_id"}
        grant = self.oauth_grants.pop(str(params.get("code")), None)
        if grant is None:
            return {"ok": False, "error": "invalid_code"}
        return {"ok": True, **grant}

    def _reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    def _chat_getPermalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(params["channel"]), str(params["message_ts"])
        return {"ok": True, "channel": channel, "permalink": f"{WORKSPACE_URL}archives/{channel}/p{ts.replace('.', '')}"}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.workspace.users.get(str(params.get("user")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel"))
        info = self.workspace.channels.get(channel, {"id": channel, "name": ""})
        return {"ok": True, "channel": info}

    def _page(self, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        limit = min(int(params.get("limit") or self.page_size), self.page_size)
        start = int(params.get("cursor") or 0)
        page = items[start : start + limit]
        more = start + limit < len(items)
        return {
            "ok": True,
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    @staticmethod
    def _in_range(message: dict[str, Any], params: dict[str, Any]) -> bool:
        ts = float(message["ts"])
        inclusive = str(params.get("inclusive", "")).lower() in {"1", "true"}
        if params.get("oldest"):
            oldest = float(params["oldest"])
            if ts < oldest or (ts == oldest and not inclusive):
                return False
        if params.get("latest"):
            latest = float(params["latest"])
            if ts > latest or (ts == latest and not inclusive):
                return False
        return True

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params["channel"])
        if channel in self.workspace.not_member:
            return {"ok": False, "error": "not_in_channel"}
        if channel in self.workspace.needs_scope:
            return {"ok": False, "error": "missing_scope", "needed": self.workspace.needs_scope[channel], "provided": self.scopes}
        # Like Slack: newest first, thread replies left out (unless broadcast to the channel).
        roots = [
            m
            for m in self.workspace.messages.get(channel, [])
            if (not m.get("thread_ts") or m["thread_ts"] == m["ts"] or m.get("subtype") == "thread_broadcast")
            and self._in_range(m, params)
        ]
        return self._page(sorted(roots, key=lambda m: float(m["ts"]), reverse=True), params)

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, thread_ts = str(params["channel"]), str(params["ts"])
        thread = [
            m
            for m in self.workspace.messages.get(channel, [])
            if (m["ts"] == thread_ts or m.get("thread_ts") == thread_ts) and self._in_range(m, params)
        ]
        root = self.workspace.find(channel, thread_ts)
        if root is not None and root not in thread:
            thread.insert(0, root)  # Slack always returns the parent first
        return self._page(thread, params)
