"""Nothing from an unverified request acts; nothing malformed crashes the Slack endpoint.

The real Slack bot (real slack-bolt, real services) listens in HTTP mode on localhost, in a
thread and event loop of its own, and talks to the mock Slack Web API; a second local server
records anything sent to a ``response_url``. Requests go out as raw HTTP (``http.client``), so
a header can be anything a client can put on the wire: missing, doubled, not a number, not
ASCII. Hypothesis drives the properties; their case counts go to ``docs/reliability.md``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.client
import json
import logging
import threading
import time
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_bolt.request.async_request import AsyncBoltRequest

from adapters.slack.bot import SlackBot
from adapters.slack.endpoint import VERIFIED, is_verified
from core.services import Services
from tests.slack_mock_server import BOT_USER_ID, TEAM_ID, MockSlack
from tests.slack_requests import SIGNING_SECRET, event_callback, mention
from tests.trust_support import http_settings

T = TypeVar("T")
Headers = Sequence[tuple[str, str | bytes]]

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
FEWER = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))

# The request of issue 17, byte for byte: a timestamp that is not a number made bolt's
# signature check raise, and its error hook then posted into the body's channel.
CURL_BODY = (
    b'{"type":"event_callback","event":{"type":"app_mention","channel":"C_ANY","ts":"1.0","user":"U1","text":"x"}}'
)
CURL_HEADERS: Headers = (
    ("Content-Type", "application/json"),
    ("X-Slack-Request-Timestamp", "abc"),
    ("X-Slack-Signature", "v0=00"),
)


# -- the world: bot, mock Slack and a response_url recorder in a loop of their own ------------


class Recorder:
    """A local server that records every request it gets, whatever its path or method."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> Recorder:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._record)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _record(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path, await request.read()))
        return web.Response(text="ok")

    def url(self, key: str) -> str:
        return f"http://127.0.0.1:{self.port}/respond/{key}"


class Records(logging.Handler):
    """Every log record written while the module runs, from any thread."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def since(self, start: int) -> list[logging.LogRecord]:
        return self.records[start:]


@dataclass
class Endpoint:
    loop: asyncio.AbstractEventLoop
    slack: MockSlack
    recorder: Recorder
    bot: SlackBot
    logs: Records
    baseline_calls: int = 0

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    @property
    def path(self) -> str:
        return self.bot.settings.path

    def post(self, body: bytes, headers: Headers) -> tuple[int, bytes]:
        """POST ``body`` with exactly these headers (values as given, bytes sent unchanged)."""
        assert self.bot.port is not None
        connection = http.client.HTTPConnection("127.0.0.1", self.bot.port, timeout=30)
        try:
            connection.putrequest("POST", self.path, skip_accept_encoding=True)
            for name, value in headers:  # text as UTF-8 (http.client would insist on Latin-1)
                connection.putheader(name, value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def effects(self) -> list[str]:
        """Everything the bot did outside itself since the last ``reset``: Web API calls, posts
        to the mock's response_url, requests to the recorder."""
        calls = [f"Web API {c.method} {c.params}" for c in self.slack.calls[self.baseline_calls :]]
        responses = [f"response_url {r}" for r in self.slack.responses]
        recorded = [f"{method} {path} {body[:200]!r}" for method, path, body in self.recorder.requests]
        return calls + responses + recorded

    def settle(self, seconds: float = 0.5) -> None:
        """Give anything the bot might still do in the background (a listener, an error hook) time to do it."""
        time.sleep(seconds)
        deadline = time.monotonic() + 10
        while self.bot.responder.active and time.monotonic() < deadline:
            time.sleep(0.05)

    def reset(self) -> None:
        self.baseline_calls = len(self.slack.calls)
        self.slack.responses.clear()
        self.recorder.requests.clear()


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory, embedder: Any, language_model: Any, model_worker: Any) -> Iterator[Endpoint]:
    from bots.wiring import build_services
    from core.config import load_settings

    home = tmp_path_factory.mktemp("slack-http-home")
    config = home / "tidings.toml"
    config.write_text("", encoding="utf-8")
    services: Services = build_services(
        load_settings(config, home=home, environ={}), embedder=embedder, model=language_model, worker=model_worker
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="slack-http-endpoint", daemon=True)
    thread.start()

    async def start() -> tuple[MockSlack, Recorder, SlackBot]:
        slack = await MockSlack().start()
        recorder = await Recorder().start()
        bot = SlackBot(settings=http_settings(slack, bot_token="xoxb-fuzz-token"), services=services)
        await bot.start()
        return slack, recorder, bot

    slack, recorder, bot = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    logs = Records()
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(logs)
    root.setLevel(logging.INFO)
    world = Endpoint(loop, slack, recorder, bot, logs)
    world.reset()
    try:
        yield world
    finally:
        root.removeHandler(logs)
        root.setLevel(previous_level)

        async def stop() -> None:
            await bot.stop()
            await recorder.stop()
            await slack.stop()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        services.state.close()


def sign_bytes(body: bytes, stamp: str, secret: str = SIGNING_SECRET) -> str:
    """``tests.slack_requests.sign`` over raw bytes (what Slack signs), for bodies that are not UTF-8."""
    return "v0=" + hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, *, content_type: str = "application/json", timestamp: int | None = None) -> Headers:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return (
        ("Content-Type", content_type),
        ("X-Slack-Request-Timestamp", stamp),
        ("X-Slack-Signature", sign_bytes(body, stamp)),
    )


def warnings_and_worse(records: Sequence[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.levelno >= logging.WARNING]


def tracebacks(records: Sequence[logging.LogRecord]) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in records if r.exc_info or r.stack_info]


def assert_alive(world: Endpoint) -> None:
    """The endpoint still answers a signed request (Slack's URL check) after whatever came before."""
    body = json.dumps({"type": "url_verification", "token": "t", "challenge": "still-here"}).encode()
    status, answer = world.post(body, signed_headers(body))
    assert (status, json.loads(answer)) == (200, {"challenge": "still-here"})


@pytest.fixture
def nothing_happens(endpoint: Endpoint) -> Iterator[Endpoint]:
    """For requests that must do nothing: afterwards (and after a moment for anything in the
    background) no Web API call, no response_url post, no traceback, and the endpoint still works."""
    endpoint.reset()
    start = len(endpoint.logs.records)
    yield endpoint
    endpoint.settle()
    assert endpoint.effects() == []
    assert tracebacks(endpoint.logs.since(start)) == []
    assert_alive(endpoint)


def refused_in_one_line(world: Endpoint, body: bytes, headers: Headers, *, status: int) -> None:
    """Send; check the answer is ``status``, nothing was done and one line was logged. A header
    aiohttp's HTTP parser refuses (a control byte) never reaches the endpoint: that is
    aiohttp's own 400, logged in one line as well."""
    start = len(world.logs.records)
    answered, _ = world.post(body, headers)
    logged = world.logs.since(start)
    lines = warnings_and_worse(logged)
    refused_by_parser = [r for r in lines if r.name == "aiohttp.server" and "(HTTP 400)" in r.getMessage()]
    assert answered == (400 if refused_by_parser else status), (answered, body[:300], headers)
    assert world.effects() == [], (body[:300], headers, world.effects())
    assert tracebacks(logged) == []
    assert len(lines) == 1, [r.getMessage() for r in logged]
    assert lines[0].name in {"adapters.slack.endpoint", "aiohttp.server"}


# -- the defect, as reported ------------------------------------------------------------------


def test_the_reported_request_is_refused_and_nothing_is_posted(nothing_happens: Endpoint) -> None:
    """Issue 17, defect 1: the curl request, sent as it is, must get 401 and do nothing at all.
    (Before the fix: 500, and the error hook posted an apology into C_ANY.)"""
    refused_in_one_line(nothing_happens, CURL_BODY, CURL_HEADERS, status=401)
    nothing_happens.settle()
    assert not nothing_happens.slack.workspace.messages.get("C_ANY")


def test_the_error_hook_never_acts_on_an_unverified_request(nothing_happens: Endpoint) -> None:
    """Defence in depth: the same request handed straight to bolt (past our endpoint) makes
    bolt's own signature check raise; the error hook must still not act on its body."""
    request = AsyncBoltRequest(
        body=CURL_BODY.decode(),
        headers={"content-type": "application/json", "x-slack-request-timestamp": "abc", "x-slack-signature": "v0=00"},
    )
    response = nothing_happens.run(nothing_happens.bot.app.async_dispatch(request))
    assert response.status >= 400


def test_the_error_hook_trusts_socket_mode_and_verified_requests_only() -> None:
    """Socket Mode requests come over the app-token WebSocket (no signature by design): the
    error hook may act on them; an HTTP request only with the endpoint's mark."""
    body = json.loads(CURL_BODY)
    assert is_verified(AsyncBoltRequest(body=body, mode="socket_mode"))
    assert not is_verified(AsyncBoltRequest(body=CURL_BODY.decode()))
    assert not is_verified(AsyncBoltRequest(body=CURL_BODY.decode(), context={VERIFIED: "yes"}))
    assert is_verified(AsyncBoltRequest(body=CURL_BODY.decode(), context={VERIFIED: True}))
    assert not is_verified(None)


def test_an_unsigned_ssl_check_is_answered_and_nothing_else(nothing_happens: Endpoint) -> None:
    """Slack does not sign its certificate check (ssl_check=1): 200, nothing dispatched. Any
    other ssl_check value is an ordinary request and must be signed (an old bolt skipped it)."""
    form = ("application/x-www-form-urlencoded",)
    status, _ = nothing_happens.post(b"ssl_check=1&token=legacy", [("Content-Type", form[0])])
    assert status == 200
    smuggled = urlencode({"ssl_check": "0", "payload": json.dumps(block_actions(nothing_happens.recorder.url("ssl")))})
    refused_in_one_line(nothing_happens, smuggled.encode(), [("Content-Type", form[0])], status=401)


def test_a_5_mb_body_is_refused_before_anything_runs(nothing_happens: Endpoint) -> None:
    payload = event_callback(mention("", channel="C_ANY"))
    payload["padding"] = "x" * (5 * 1024 * 1024)
    body = json.dumps(payload).encode()
    start = len(nothing_happens.logs.records)
    try:
        status, _ = nothing_happens.post(body, signed_headers(body))
    except (BrokenPipeError, ConnectionResetError):  # the server answered and closed before the upload ended
        status = 413
    assert status == 413
    assert len(warnings_and_worse(nothing_happens.logs.since(start))) == 1


def test_200_concurrent_url_verifications_are_all_answered(nothing_happens: Endpoint) -> None:
    url = f"http://127.0.0.1:{nothing_happens.bot.port}{nothing_happens.path}"

    async def verify(session: aiohttp.ClientSession, n: int) -> tuple[int, Any]:
        body = json.dumps({"type": "url_verification", "token": "t", "challenge": f"challenge-{n}"}).encode()
        async with session.post(url, data=body, headers=dict(signed_headers(body))) as response:  # type: ignore[arg-type]
            return response.status, await response.json()

    async def all_at_once() -> list[tuple[int, Any]]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            return await asyncio.gather(*(verify(session, n) for n in range(200)))

    started = time.perf_counter()
    answers = nothing_happens.run(all_at_once())
    assert answers == [(200, {"challenge": f"challenge-{n}"}) for n in range(200)]
    assert time.perf_counter() - started < 30


# -- strategies -------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
NOT_TEXT = st.one_of(
    st.booleans(), st.integers(), st.floats(allow_nan=False), st.lists(JSON, max_size=3),
    st.dictionaries(st.text(max_size=8), JSON, max_size=3),
)
"""Any JSON value that is neither a string nor null."""
NOT_OBJECT = st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20), st.lists(JSON, max_size=3))
NOT_A_LIST_OF_OBJECTS = st.one_of(
    NOT_OBJECT, st.just([]), st.lists(NOT_OBJECT, min_size=1, max_size=2), st.dictionaries(st.text(max_size=8), JSON, max_size=2)
).filter(lambda v: not (isinstance(v, list) and v and all(isinstance(item, dict) for item in v)))
"""Anything but a non-empty list of objects (which is what authorizations and actions are)."""
HEADER_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40)
"""What a header value can carry as text (no control characters: those cannot be sent)."""
HEADER_BYTES = st.binary(max_size=40).filter(lambda b: not set(b) & {0, 10, 13})


def block_actions(response_url: str, *, channel: str = "C_ANY", action_id: str = "tidings_feedback_up") -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "tidings-test"},
        "user": {"id": "U1", "username": "someone", "team_id": TEAM_ID},
        "api_app_id": "A0TIDINGS",
        "token": "legacy",
        "container": {"type": "message", "message_ts": "1.0", "channel_id": channel, "is_ephemeral": False},
        "trigger_id": "trig.1",
        "channel": {"id": channel, "name": "general"},
        "message": {"ts": "1.0", "text": "answer", "user": BOT_USER_ID},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "b", "value": "a1", "type": "button", "action_ts": "1"}],
    }


def command_form(response_url: str, *, command: str = "/ask", text: str = "") -> dict[str, str]:
    return {
        "token": "legacy", "team_id": TEAM_ID, "channel_id": "C_ANY", "channel_name": "general", "user_id": "U1",
        "user_name": "someone", "command": command, "text": text, "api_app_id": "A0TIDINGS",
        "response_url": response_url, "trigger_id": "trig.1",
    }


@st.composite
def any_bodies(draw: st.DrawFn, response_url: str) -> tuple[bytes, str]:
    """(body, content type): what Slack sends (events, commands, button clicks, each with a
    response_url where one fits) and what it never would (random bytes, any JSON, any form)."""
    kind = draw(st.sampled_from(["curl", "mention", "command", "payload", "json", "form", "bytes"]))
    if kind == "curl":
        return CURL_BODY, "application/json"
    if kind == "mention":
        event = mention(draw(st.text(max_size=30)), channel="C_ANY")
        payload = event_callback(event)
        payload["response_url"] = response_url
        return json.dumps(payload).encode(), "application/json"
    if kind == "command":
        form = command_form(response_url, command=draw(st.sampled_from(["/ask", "/summarize", "/other"])), text=draw(st.text(max_size=30)))
        return urlencode(form).encode(), "application/x-www-form-urlencoded"
    if kind == "payload":
        action = draw(st.sampled_from(["tidings_feedback_up", "tidings_feedback_down", "tidings_share_answer", "other"]))
        return urlencode({"payload": json.dumps(block_actions(response_url, action_id=action))}).encode(), "application/x-www-form-urlencoded"
    if kind == "json":
        return json.dumps(draw(JSON)).encode(), draw(st.sampled_from(["application/json", "text/plain"]))
    if kind == "form":
        keys = st.text(max_size=10).filter(lambda k: k != "ssl_check")
        form = draw(st.dictionaries(keys, st.text(max_size=30), max_size=5))
        return urlencode(form).encode(), "application/x-www-form-urlencoded"
    return draw(st.binary(max_size=300)), draw(st.sampled_from(["application/json", "application/x-www-form-urlencoded", ""]))


def really_signed(body: bytes, stamp: str, signature: str) -> bool:
    """An independent check of a (timestamp, signature) pair, as generous as can be (the server
    strips whitespace around header values), so that no generated pair it rejects is valid."""
    stamp, signature = stamp.strip(), signature.strip()
    if not (stamp.isascii() and stamp.isdigit()) or abs(time.time() - int(stamp)) > 60 * 5 - 1:
        return False
    expected = sign_bytes(body, stamp)
    return signature.lower() in {expected, expected[3:]}


@st.composite
def unverified_headers(draw: st.DrawFn, body: bytes, content_type: str) -> list[tuple[str, str | bytes]]:
    """Headers that do not prove Slack sent ``body``: a timestamp and a signature each missing,
    repeated, malformed, not ASCII, stale, or right for another body or another secret."""
    now = int(time.time())
    variant = draw(st.sampled_from(["stale but signed", "future but signed", "free"]))
    if variant == "stale but signed":
        stamp = str(now - draw(st.integers(60 * 5 + 1, 10**9)))
        signature = sign_bytes(body, stamp)
    elif variant == "future but signed":
        stamp = str(now + draw(st.integers(60 * 6, 10**6)))
        signature = sign_bytes(body, stamp)
    else:
        stamp = draw(
            st.one_of(
                st.just(str(now)),
                st.sampled_from(["abc", "", "1e9", f"{now}.0", f"+{now}", f"-{now}", f"{now:_}", "9" * 40, "NaN", "١٧٠٠٠٠٠٠٠٠"]),
                HEADER_TEXT,
            )
        )
        right = sign_bytes(body, str(now))
        signature = draw(
            st.one_of(
                st.just(sign_bytes(body, str(now), secret="not-the-signing-secret")),
                st.just(sign_bytes(body + b" ", str(now))),  # another body
                st.just(sign_bytes(body, str(now - 1))),  # another timestamp
                st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: "v0=" + h),
                st.sampled_from(["v0=00", "", "v0=", "v1=" + right[3:], right[3:], right.upper(), right[:-1]]),
                HEADER_TEXT,
            )
        )
        if really_signed(body, stamp, signature):
            stamp = str(now - 3600)  # keep the signature right, but for a stale timestamp
            signature = sign_bytes(body, stamp)
    headers: list[tuple[str, str | bytes]] = []
    if content_type or draw(st.booleans()):
        headers.append(("Content-Type", content_type))
    layout = draw(st.sampled_from(["both", "both", "no timestamp", "no signature", "neither", "doubled", "raw bytes"]))
    if layout in {"both", "no signature", "doubled"}:
        headers.append(("X-Slack-Request-Timestamp", stamp))
    if layout in {"both", "no timestamp", "doubled"}:
        headers.append(("X-Slack-Signature", signature))
    if layout == "doubled":  # a right pair beside the wrong one: ambiguous, so refused
        headers += [("X-Slack-Request-Timestamp", str(now)), ("X-Slack-Signature", sign_bytes(body, str(now)))]
    if layout == "raw bytes":  # not ASCII, perhaps not even UTF-8
        headers += [("X-Slack-Request-Timestamp", draw(HEADER_BYTES)), ("X-Slack-Signature", draw(HEADER_BYTES))]
    return headers


# -- unverified requests do nothing ---------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_unverified_requests_get_401_and_do_nothing(nothing_happens: Endpoint, data: st.DataObject) -> None:
    """Whatever the body (events, commands and button clicks with a response_url, any JSON, any
    form, any bytes) and whatever is wrong with the headers: 401 (or aiohttp's own 400 for a
    header byte it cannot parse), one log line, no listener, no error hook, no Web API call,
    nothing at any URL."""
    body, content_type = data.draw(any_bodies(nothing_happens.recorder.url("unverified")), label="body")
    headers = data.draw(unverified_headers(body, content_type), label="headers")
    refused_in_one_line(nothing_happens, body, headers, status=401)


# -- signed, but not what Slack sends ---------------------------------------------------------------


def _mention_with(field_name: str, value: Any) -> dict[str, Any]:
    event = mention("", channel="C_ANY")
    event[field_name] = value
    return event_callback(event)


@st.composite
def malformed_bodies(draw: st.DrawFn, response_url: str) -> tuple[bytes, str]:
    """(body, content type) Slack never sends, in the ways a body can be wrong: not UTF-8, not
    JSON, JSON that is not an object, an event that is not an object, a field of the wrong
    type where bolt or a listener reads it, a payload= form whose payload is broken."""
    json_type = draw(st.sampled_from(["application/json", "application/json; charset=utf-8"]))
    form_type = "application/x-www-form-urlencoded"
    kind = draw(
        st.sampled_from(
            ["not utf-8", "broken json", "not an object", "event not an object", "event field", "top field",
             "authorizations", "actions", "action field", "payload field", "payload broken", "empty"]
        )
    )
    if kind == "not utf-8":
        return b'{"type":"event_callback","event":{"text":"\xff\xfe"}}', json_type
    if kind == "broken json":
        whole = json.dumps(_mention_with("text", "x"))
        return whole[: draw(st.integers(1, len(whole) - 1))].encode(), json_type
    if kind == "not an object":
        value = draw(st.one_of(st.lists(JSON, max_size=3), st.text(max_size=20), st.integers(), st.booleans(), st.none()))
        return json.dumps(value).encode(), json_type
    if kind == "event not an object":
        payload = event_callback(mention(""))
        payload["event"] = draw(st.one_of(NOT_OBJECT, st.none(), st.just("type")))
        if draw(st.booleans()):
            del payload["event"]
        return json.dumps(payload).encode(), json_type
    if kind == "event field":
        name = draw(st.sampled_from(["type", "user", "channel", "ts", "thread_ts", "text", "subtype", "channel_type", "team", "bot_id"]))
        return json.dumps(_mention_with(name, draw(NOT_TEXT))).encode(), json_type
    if kind == "top field":
        payload = event_callback(mention(""))
        name = draw(st.sampled_from(["team_id", "event_id", "type", "api_app_id", "token", "enterprise_id", "response_url"]))
        payload[name] = draw(NOT_TEXT)
        return json.dumps(payload).encode(), json_type
    if kind == "authorizations":
        payload = event_callback(mention(""))
        payload["authorizations"] = draw(NOT_A_LIST_OF_OBJECTS)
        return json.dumps(payload).encode(), json_type
    if kind in {"actions", "action field", "payload field"}:
        payload = block_actions(response_url, action_id=draw(st.sampled_from(["tidings_feedback_up", "tidings_share_answer"])))
        if kind == "actions":
            payload["actions"] = draw(NOT_A_LIST_OF_OBJECTS)
        elif kind == "action field":
            name = draw(st.sampled_from(["action_id", "value", "block_id"]))
            payload["actions"][0][name] = draw(NOT_TEXT)
        else:
            name = draw(st.sampled_from(["user", "channel", "team", "response_url", "container", "message", "trigger_id"]))
            # An object is right for container and message, and for user, channel and team as long
            # as its id (if any) is a string: only the wrong ones are drawn.
            payload[name] = draw(NOT_TEXT.filter(lambda v: not isinstance(v, dict)) if name != "response_url" else NOT_TEXT)
            if name in {"user", "channel", "team"} and draw(st.booleans()):
                payload[name] = {"id": draw(NOT_TEXT)}
        return urlencode({"payload": json.dumps(payload)}).encode(), form_type
    if kind == "payload broken":
        broken = draw(st.one_of(st.text(max_size=30).filter(lambda t: not _is_json_object(t)), JSON.map(json.dumps).filter(lambda t: not _is_json_object(t))))
        return urlencode({"payload": broken}).encode(), form_type
    return b"", draw(st.sampled_from([json_type, form_type]))


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


@FUZZ
@given(data=st.data())
def test_signed_but_malformed_bodies_get_400_in_one_line(nothing_happens: Endpoint, data: st.DataObject) -> None:
    """A properly signed body that is not what Slack sends (event as a string, user as a
    number, a JSON array, ...): 400, one log line without a traceback, nothing done; and the
    bot still answers afterwards (checked once the property has run)."""
    body, content_type = data.draw(malformed_bodies(nothing_happens.recorder.url("malformed")), label="body")
    refused_in_one_line(nothing_happens, body, signed_headers(body, content_type=content_type), status=400)


# -- signed, one field of any type: never a 5xx, never a crash ---------------------------------------


def signed_templates(response_url: str) -> dict[str, tuple[Any, str]]:
    """Real payloads of each kind the bot handles, fresh (new event ids), none of which asks the
    model anything: an empty mention, channel chat, Slack's URL check, an empty /ask, button clicks."""
    chat = {"type": "message", "channel": "C_ANY", "channel_type": "channel", "user": "U1", "text": "chat", "ts": "1.000001"}
    return {
        "mention": (event_callback(mention("", channel="C_ANY")), "application/json"),
        "chat": (event_callback(chat), "application/json"),
        "url_verification": ({"type": "url_verification", "token": "t", "challenge": "c"}, "application/json"),
        "command": (command_form(response_url), "application/x-www-form-urlencoded"),
        "feedback": (block_actions(response_url, action_id="tidings_feedback_up"), "payload"),
        "share": (block_actions(response_url, action_id="tidings_share_answer"), "payload"),
    }


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value, except the question texts (a text would ask the model)."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        if key == "text":
            continue
        yield (*prefix, key)
        yield from paths(inner, (*prefix, key))


def with_replaced(value: Any, path: tuple[Any, ...], new: Any) -> None:
    """Put ``new`` at ``path`` (a ``DELETE`` removes the key or item instead)."""
    *parents, last = path
    for key in parents:
        value = value[key]
    if new is DELETE:
        del value[last]
    else:
        value[last] = new


DELETE = object()


@FEWER
@given(data=st.data())
def test_signed_payloads_with_any_field_of_any_type_never_fail(endpoint: Endpoint, data: st.DataObject) -> None:
    """Each kind of real payload, properly signed, with one field (anywhere, at any depth)
    removed or replaced by any JSON value: either refused in one line (400) or handled; never
    a 5xx, never a traceback, and the bot stays up."""
    start = len(endpoint.logs.records)
    name = data.draw(st.sampled_from(sorted(signed_templates(""))), label="kind")
    payload, content_type = signed_templates(endpoint.recorder.url("signed"))[name]
    if content_type == "application/x-www-form-urlencoded":  # a form holds strings only
        field_name = data.draw(st.sampled_from(sorted(k for k in payload if k != "text")), label="field")
        with_replaced(payload, (field_name,), data.draw(st.one_of(st.text(max_size=20), st.just(DELETE)), label="value"))
        body = urlencode(payload).encode()
    else:
        path = data.draw(st.sampled_from(list(paths(payload))), label="path")
        with_replaced(payload, path, data.draw(st.one_of(JSON, st.just(DELETE)), label="value"))
        if content_type == "payload":
            body, content_type = urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded"
        else:
            body = json.dumps(payload).encode()
    status, _ = endpoint.post(body, signed_headers(body, content_type=content_type))
    assert status < 500, (status, body[:300])
    assert status in {200, 400, 404}, (status, body[:300])
    assert tracebacks(endpoint.logs.since(start)) == []
    if status == 400:
        assert len(warnings_and_worse(endpoint.logs.since(start))) == 1


def test_nothing_failed_later_and_the_bot_is_still_up(endpoint: Endpoint) -> None:
    """What the signed payloads above set going in the background (answers, button clicks) has
    finished without a traceback, and the bot still answers Slack's URL check."""
    endpoint.settle(1.0)
    assert tracebacks(endpoint.logs.records) == []
    assert_alive(endpoint)
