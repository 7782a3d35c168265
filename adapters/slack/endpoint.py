"""The HTTP endpoint Slack posts to (HTTP mode): nothing reaches bolt before its signature is checked.

bolt checks signatures in a middleware, with ``slack_sdk``'s ``SignatureVerifier``, which
raises on a timestamp that is not a number (``int("abc")``) or a signature that is not ASCII
(``hmac.compare_digest``); bolt hands that exception, with the unverified body, to the app's
error hook, which would then act on it. So this endpoint checks every request itself, strictly,
before bolt parses or dispatches anything:

1. exactly one ``X-Slack-Request-Timestamp`` of ASCII digits, within five minutes of now;
2. exactly one ``X-Slack-Signature`` of the form ``v0=<64 hex>``, equal (in constant time) to
   the HMAC-SHA256 of ``v0:<timestamp>:<raw body bytes>`` under the signing secret;
3. a body that is UTF-8 and that bolt parses into an object of the shape Slack sends
   (``malformed`` says what is wrong otherwise).

A request failing 1 or 2 gets 401, one failing 3 gets 400, each with one log line and nothing
else: no listener, no error hook, no Web API call, no ``response_url``. A verified request is
marked (``VERIFIED`` in its bolt context) so the error hook can refuse to act on any other.
Bolt's own check still runs after ours (it can no longer raise); Socket Mode does not come
through here at all (the app token authenticates its WebSocket).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from adapters.slack.convert import FEEDBACK_DOWN, FEEDBACK_UP, SHARE_ANSWER

log = logging.getLogger(__name__)

MAX_AGE_S = 5 * 60
"""How far a request's timestamp may be from now (Slack's rule, against replays)."""

MAX_BODY_BYTES = 1024**2
"""Larger bodies get 413 before anything looks at them (aiohttp's default limit, made explicit)."""

VERIFIED = "tidings_signature_verified"
"""Key in a bolt request's context, set only by this endpoint after the signature matched."""

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


class Refused(Exception):
    """A request that must not go further; ``status`` is the HTTP answer, ``reason`` one log line."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# -- 1 and 2: the signature -------------------------------------------------------------------


def check_signature(
    body: bytes, *, timestamps: list[str], signatures: list[str], secret: str, now: float
) -> None:
    """Raise ``Refused(401, ...)`` unless the request carries exactly one valid, fresh signature."""
    if len(timestamps) != 1 or len(signatures) != 1:
        raise Refused(401, "missing or repeated X-Slack-Request-Timestamp / X-Slack-Signature header")
    timestamp, signature = timestamps[0], signatures[0]
    if not _TIMESTAMP.fullmatch(timestamp):
        raise Refused(401, "X-Slack-Request-Timestamp is not a plain number")
    if abs(now - int(timestamp)) > MAX_AGE_S:
        raise Refused(401, "X-Slack-Request-Timestamp is more than five minutes away from now")
    if not _SIGNATURE.fullmatch(signature):
        raise Refused(401, "X-Slack-Signature is not of the form v0=<64 hex digits>")
    expected = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature[3:]):
        raise Refused(401, "X-Slack-Signature does not match the body")


def is_ssl_check(body: bytes, content_type: str) -> bool:
    """Slack's certificate check on a slash command URL (``ssl_check=1``), which Slack does
    not sign: it is answered 200 and nothing else happens (bolt answers it the same way)."""
    if content_type != "application/x-www-form-urlencoded" or len(body) > 4096:
        return False
    try:
        form = parse_qs(body.decode("ascii"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return False
    return form.get("ssl_check") == ["1"]


# -- 3: the body's shape ---------------------------------------------------------------------

TEXT = "text"  # a string (or null)
REQUIRED = "required"  # a string, present
REFERENCE = "reference"  # a string id, or an object whose "id" is a string (or null)
Rule = str | tuple[str, "Shape"]
Shape = Mapping[str, Rule]


def one(shape: Shape) -> tuple[str, Shape]:
    """An object (or null) of this shape."""
    return ("object", shape)


def many(shape: Shape) -> tuple[str, Shape]:
    """A non-empty list of objects of this shape (or null)."""
    return ("objects", shape)


_MESSAGE_FIELDS: dict[str, Rule] = {
    name: TEXT
    for name in ("type", "subtype", "text", "ts", "thread_ts", "event_ts", "channel_type", "bot_id", "user", "channel", "team")
}
_MESSAGE_FIELDS["edited"] = one({"user": TEXT, "ts": TEXT})
MESSAGE: Shape = {**_MESSAGE_FIELDS, "message": one(_MESSAGE_FIELDS), "previous_message": one(_MESSAGE_FIELDS)}
"""``message`` and ``app_mention`` events: the fields the listeners read, and edits' inner messages."""

OTHER_EVENT: Shape = {"type": REQUIRED, "user": REFERENCE, "channel": REFERENCE, "team": REFERENCE, "thread_ts": TEXT}

BODY: Shape = {
    **{
        name: TEXT
        for name in (
            "type", "token", "team_id", "api_app_id", "enterprise_id", "event_id", "challenge", "command", "text",
            "user_id", "channel_id", "response_url", "trigger_id", "callback_id", "thread_ts",
        )
    },
    "user": REFERENCE,
    "team": REFERENCE,
    "channel": REFERENCE,
    "enterprise": REFERENCE,
    "authorizations": many({"team_id": TEXT, "user_id": TEXT, "enterprise_id": TEXT}),
    "container": one({"type": TEXT, "message_ts": TEXT, "channel_id": TEXT, "thread_ts": TEXT}),
    "message": one(_MESSAGE_FIELDS),
    "view": one({"id": TEXT, "team_id": TEXT, "app_installed_team_id": TEXT, "callback_id": TEXT}),
}
"""What bolt (its context and listener matching) and the listeners read from any body."""

ACTIONS = many({"action_id": REQUIRED, "block_id": TEXT, "value": TEXT, "type": TEXT})
OUR_BUTTONS = frozenset({FEEDBACK_UP, FEEDBACK_DOWN, SHARE_ANSWER})
"""Tidings' own buttons: each carries its answer's id as ``value``, which the listeners read."""
CLICK: Shape = {
    "actions": ACTIONS,
    "user": one({"id": TEXT, "team_id": TEXT}),
    "channel": one({"id": TEXT}),
    "team": one({"id": TEXT}),
}
"""A click on a message's button: the clicker, channel and team come as objects (the listeners read their ids)."""


def malformed(body: Any) -> str | None:
    """What is wrong with a parsed request body, or None when it has the shape Slack sends.

    Only what bolt or a listener reads is checked (types, and the few fields bolt indexes
    without looking); everything else in a payload is left as it is."""
    if not isinstance(body, dict):
        return f"the body is a JSON {type(body).__name__}, not an object"
    if not body:
        return "the body holds nothing (empty, or a form bolt reads as empty)"
    problem = _check(body, BODY, "")
    if problem:
        return problem
    response_url = body.get("response_url")
    if response_url is not None and not is_web_url(response_url):
        return "response_url is not an http(s) URL"
    kind = body.get("type")
    if ("command" in body or kind == "block_actions") and response_url is None:
        # Slack sends a response_url with every slash command and every click on a message's
        # button (the only buttons Tidings shows); the listeners answer through it.
        return "response_url is missing"
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict):
            return "event is not an object"
        shape = MESSAGE if event.get("type") in ("message", "app_mention") else OTHER_EVENT
        return _check(event, {**shape, "type": REQUIRED}, "event.")
    if kind == "block_actions":
        problem = _check(body, CLICK, "")
        if problem:
            return problem
        if not body.get("actions"):
            return "actions is missing"
        first = body["actions"][0]
        if first["action_id"] in OUR_BUTTONS and not isinstance(first.get("value"), str):
            return "actions.value is missing from a Tidings button"
    return None


def is_web_url(value: str) -> bool:
    """An absolute http(s) URL with a host (where a ``response_url`` can point)."""
    try:
        parts = urlsplit(value)
        return parts.scheme in {"http", "https"} and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number, a broken IPv6 address
        return False


def _check(value: Mapping[str, Any], shape: Shape, where: str) -> str | None:
    for name, rule in shape.items():
        field = value.get(name)
        path = where + name
        if rule == REQUIRED:
            if not isinstance(field, str):
                return f"{path} is missing or not a string"
        elif field is None:
            continue
        elif rule == TEXT:
            if not isinstance(field, str):
                return f"{path} is not a string"
        elif rule == REFERENCE:
            if isinstance(field, dict):
                if not isinstance(field.get("id"), str | None):
                    return f"{path}.id is not a string"
            elif not isinstance(field, str):
                return f"{path} is neither an id nor an object"
        elif isinstance(rule, tuple):
            kind, inner = rule
            items = [field] if kind == "object" else field
            if kind == "objects" and (not isinstance(field, list) or not field):
                return f"{path} is not a list of objects"
            for item in items:
                if not isinstance(item, dict):
                    return f"{path} is not an object" if kind == "object" else f"{path} holds something not an object"
                problem = _check(item, inner, path + ".")
                if problem:
                    return problem
    return None


# -- the endpoint ------------------------------------------------------------------------------


class SlackEndpoint:
    """The aiohttp handler in front of bolt: verify, parse, check the shape, then dispatch."""

    def __init__(self, app: AsyncApp, *, signing_secret: str, clock: Callable[[], float] = time.time) -> None:
        if not signing_secret:
            raise ValueError("the Slack HTTP endpoint needs the signing secret")
        self.app = app
        self.signing_secret = signing_secret
        self.clock = clock

    def web_app(self, path: str) -> web.Application:
        application = web.Application(client_max_size=MAX_BODY_BYTES)
        application.router.add_post(path, self.handle)
        return application

    def add_oauth_routes(self, application: web.Application, *, install_path: str, redirect_path: str) -> None:
        """``GET install_path`` starts bolt's OAuth flow (a redirect to Slack with a one-time
        state); ``GET redirect_path`` is where Slack sends the installer back with a code.
        Browser requests, unsigned by nature: the flow's state (issued once, consumed once,
        bound to a cookie) is what authenticates them, and bolt checks it."""
        flow = self.app.oauth_flow
        if flow is None:
            raise ValueError("the Slack app has no OAuth flow")

        async def install(request: web.Request) -> web.StreamResponse:
            bolt_request = AsyncBoltRequest(body="", query=request.query_string, headers=dict(request.headers))
            return await to_aiohttp_response(await flow.handle_installation(bolt_request))

        async def redirect(request: web.Request) -> web.StreamResponse:
            bolt_request = AsyncBoltRequest(body="", query=request.query_string, headers=dict(request.headers))
            return await to_aiohttp_response(await flow.handle_callback(bolt_request))

        application.router.add_get(install_path, install)
        application.router.add_get(redirect_path, redirect)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            log.warning("Refused a Slack request from %s: the body is over %d bytes (HTTP 413)", request.remote, MAX_BODY_BYTES)
            return web.json_response({"error": "request body too large"}, status=413)
        if is_ssl_check(body, request.content_type):
            return web.Response(status=200)
        try:
            bolt_request = self.verified(request, body)
        except Refused as refusal:
            # One line, no traceback, nothing of the body: the request may be anyone's.
            log.warning("Refused a Slack request from %s: %s (HTTP %d)", request.remote, refusal.reason, refusal.status)
            error = "invalid request" if refusal.status == 401 else "malformed request"
            return web.json_response({"error": error}, status=refusal.status)
        bolt_response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    def verified(self, request: web.Request, body: bytes) -> AsyncBoltRequest:
        """The bolt request for ``body``, or ``Refused`` (401 before 400: an unsigned body is never parsed)."""
        check_signature(
            body,
            timestamps=request.headers.getall("X-Slack-Request-Timestamp", []),
            signatures=request.headers.getall("X-Slack-Signature", []),
            secret=self.signing_secret,
            now=self.clock(),
        )
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, "the body is not UTF-8") from None
        try:
            # bolt parses the body (JSON, a form, or a form's payload= JSON) and reads ids from it here.
            bolt_request = AsyncBoltRequest(
                body=text, query=request.query_string, headers=dict(request.headers), context={VERIFIED: True}
            )
        except Exception as error:  # whatever bolt's parser trips on in a body Slack never sends
            raise Refused(400, f"the body could not be parsed ({type(error).__name__})") from None
        problem = malformed(bolt_request.body)
        if problem:
            raise Refused(400, f"the body is not shaped as Slack sends it: {problem}")
        return bolt_request


def is_verified(request: Any) -> bool:
    """True for a request this endpoint verified, or one that came over Socket Mode."""
    if request is None:
        return False
    if getattr(request, "mode", None) == "socket_mode":
        return True
    context = getattr(request, "context", None)
    return bool(context is not None and context.get(VERIFIED) is True)
