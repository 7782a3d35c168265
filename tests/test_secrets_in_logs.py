"""Secrets never reach the logs: a full Slack run at DEBUG level, error paths included
(a rejected token at start-up, forged requests, API errors, a crashing answer), with every
line scanned for the bot token and the signing secret."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import replace

import pytest

from adapters.slack.bot import SlackBot
from core.errors import ConfigError
from core.runtime.logs import RedactingFilter, configure, redact
from core.services import OnQueued, OnText, Services
from core.types import Answer, Question
from tests.reliability import record
from tests.slack_requests import SIGNING_SECRET, event_callback, mention, send_event
from tests.trust_support import BOT_TOKEN, slack_world, with_handbook

pytestmark = pytest.mark.slow

DISCORD_TOKEN = "MTA5OTk5OTk5OTk5OTk5OTk5.GabcDE.abcdefghijklmnopqrstuvwxyz0123456789AB"
APP_TOKEN = "xapp-1-A0TIDINGS-1234567890-abcdef0123456789"
SECRETS = (BOT_TOKEN, SIGNING_SECRET, DISCORD_TOKEN, APP_TOKEN)


class CrashingAnswerer:
    """The answer fails with the token in the exception text (a library error quoting a request)."""

    async def answer(self, question: Question, *, on_text: OnText | None = None, on_queued: OnQueued | None = None) -> Answer:
        raise RuntimeError(f"upstream refused Authorization: Bearer {BOT_TOKEN} (signing secret {SIGNING_SECRET})")


def test_redaction_covers_values_and_token_shapes() -> None:
    assert redact(f"token={BOT_TOKEN}", [BOT_TOKEN]) == "token=[redacted]"
    assert BOT_TOKEN not in redact(f"x {BOT_TOKEN} y")  # by shape, without being told the value
    assert APP_TOKEN not in redact(APP_TOKEN) and DISCORD_TOKEN not in redact(DISCORD_TOKEN)
    assert redact("short", ["abc"]) == "short"  # tiny values are not secrets worth a blind replace


async def test_a_full_run_with_errors_writes_no_secret(
    make_services: Callable[..., Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    monkeypatch.setenv("DISCORD_TOKEN", DISCORD_TOKEN)
    stream = io.StringIO()
    handler = configure(level="DEBUG", stream=stream)
    errors: list[str] = []
    try:
        services = with_handbook(make_services(config_text="[llm]\nmax_answer_tokens = 24\n"))
        async with slack_world(services) as world:
            # the happy path, with retries
            world.slack.fail_next("chat.postMessage", status=429, retry_after=1)
            await world.ask("How do I deploy?")
            await world.wait_all_finished(world.asked, timeout=60)
            # forged and stale requests
            forged = await send_event(world.http, world.url, event_callback(mention("hi")), secret="wrong-secret")
            assert forged.status == 401
            # an answer that crashes with the token in its message: the error hook logs the traceback
            world.bot.responder.services = replace(services, answerer=CrashingAnswerer())
            await world.ask("Will this crash?", user="U0CRASH")
            await world.wait_all_finished(world.asked, timeout=60)
            assert "went wrong" in world.text_of(world.asked[-1])
            # a token Slack rejects at start-up
            world.slack.fail_next("auth.test", status=200, retry_after=None)
            rejected = SlackBot(settings=world.bot.settings, services=services)
            with pytest.raises(ConfigError) as refused:
                await rejected.start()
            errors.append(str(refused.value))
            await rejected.stop()
            # the 429 and the rejected token were really answered (their retries and errors are logged)
            assert [(c.method, c.status) for c in world.slack.failed] == [("chat.postMessage", 429), ("auth.test", 200)]
        logging.getLogger("tests.secrets").error("a library logs a header: Authorization: Bearer %s", BOT_TOKEN)
        logging.getLogger("tests.secrets").exception("with a traceback", exc_info=RuntimeError(f"token {DISCORD_TOKEN}"))
    finally:
        logging.getLogger().removeHandler(handler)
    text = stream.getvalue()
    lines = text.splitlines()
    assert len(lines) > 50 and "Traceback" in text and "[redacted]" in text
    found = [s[:10] for s in SECRETS if any(s in line for line in lines)] + [s[:10] for s in SECRETS if any(s in e for e in errors)]
    record(
        "Secrets",
        run="Slack over HTTP at DEBUG: answer with 429 retry, forged request, crashing answer, rejected token at start-up",
        log_lines_scanned=len(lines),
        secrets_looked_for=len(SECRETS),
        secrets_found=len(found),
    )
    assert not found, f"secrets in the logs: {found}"
    assert any(f.__class__ is RedactingFilter for f in handler.filters)
