"""Slack and Discord do what they both do the same way: one set of services, the real Slack
bot over HTTP against the mock Slack Web API and the real Discord bot on simcord.

A question over ``[access] max_question_chars`` is refused with the same sentence on both
(as an @mention and as ``/ask``), and a 👍 on each platform lands in ``tidings feedback
export`` as rows with the same columns and the same kind of values.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import simcord

from adapters.slack.convert import FEEDBACK_UP
from bots.cli import main
from bots.discord_bot import build_bot
from core.answers.questions import too_long
from core.runtime.state import FEEDBACK_COLUMNS
from core.services import OnQueued, OnText, Services
from core.types import Answer, Citation, Question
from tests.slack_requests import click, send_command
from tests.trust_support import slack_world

pytestmark = pytest.mark.slow

SETTLE_S = 60.0
LIMIT = 200
TOO_LONG = "How do I deploy the service to production without downtime? " * 6


class CannedAnswerer:
    """The answerer port: one grounded answer with one source; remembers what it was asked."""

    def __init__(self) -> None:
        self.questions: list[Question] = []

    async def answer(self, question: Question, *, on_text: OnText | None = None, on_queued: OnQueued | None = None) -> Answer:
        self.questions.append(question)
        citation = Citation(n=1, source="handbook.md", title="Deploy handbook", snippet="run make deploy", score=0.8,
                            url="https://wiki.example/deploy")
        return Answer(question=question.text, text="Run make deploy after two approvals [1].", grounded=True, citations=(citation,))


def services_for(make_services: Callable[..., Services], home: Path) -> tuple[Services, CannedAnswerer]:
    answerer = CannedAnswerer()
    services = make_services(config_text=f"[access]\nmax_question_chars = {LIMIT}\nquestions_per_minute = 0\n", home=home)
    return dataclasses.replace(services, answerer=answerer), answerer


def discord_bot(services: Services, tmp_path: Path) -> Any:
    config = tmp_path / "discord.toml"
    config.write_text("", encoding="utf-8")
    return build_bot(str(config), services=services, environ={"TIDINGS_HOME": str(tmp_path / "discord")})


async def test_a_question_over_the_length_limit_gets_the_same_sentence_on_slack_and_discord(
    make_services: Callable[..., Services], tmp_path: Path
) -> None:
    services, answerer = services_for(make_services, tmp_path / "home")
    expected = too_long(len(TOO_LONG.strip()), LIMIT)

    async with slack_world(services) as world:
        reply = await world.ask(TOO_LONG)
        assert reply.status == 200
        event = world.asked[-1]
        await world.slack.wait_until(lambda: world.finished(event))
        await world.idle()
        slack_mention = [str(m.get("text")) for m in world.replies_to(event)]
        await send_command(world.http, world.url, "/ask", TOO_LONG, response_url=world.slack.response_url("ask"))
        await world.slack.wait_until(lambda: any(r["key"] == "ask" for r in world.slack.responses))
        await world.idle()
        slack_command = [str(r.get("text")) for r in world.slack.responses if r["key"] == "ask"]

    bot = discord_bot(services, tmp_path)
    async with simcord.run(bot, settle_timeout=SETTLE_S) as env:
        guild = env.create_guild(name="Acme")
        support = guild.create_text_channel("support")
        alice = guild.add_member(env.create_user("alice"))
        await alice.send(support, f"{bot.user.mention} {TOO_LONG}")
        assert support.last_message is not None
        discord_mention = support.last_message.content
        result = await alice.slash(support, "ask", question=TOO_LONG)
        assert result.response is not None and result.ephemeral
        discord_command = result.response.content

    assert slack_mention == [expected] and slack_command == [expected]
    assert discord_mention == expected and discord_command == expected
    assert answerer.questions == []  # refused before any answering


async def test_feedback_export_rows_have_the_same_columns_on_slack_and_discord(
    make_services: Callable[..., Services], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    services, _answerer = services_for(make_services, home)

    async with slack_world(services) as world:
        await world.ask("How do I deploy?")
        event = world.asked[-1]
        await world.slack.wait_until(lambda: world.finished(event))
        await world.idle()
        [answer] = world.replies_to(event)
        answer_id = next(e["value"] for b in answer["blocks"] if b["type"] == "actions" for e in b["elements"])
        await click(world.http, world.url, FEEDBACK_UP, answer_id, response_url=world.slack.response_url("fb"), user="U0READER")
        await world.slack.wait_until(lambda: any(r["key"] == "fb" for r in world.slack.responses))

    async with simcord.run(discord_bot(services, tmp_path), settle_timeout=SETTLE_S) as env:
        guild = env.create_guild(name="Acme")
        support = guild.create_text_channel("support")
        alice = guild.add_member(env.create_user("alice"))
        bob = guild.add_member(env.create_user("bob"))
        result = await alice.slash(support, "ask", question="How do I deploy?")
        assert result.response is not None
        up = result.response.components[0]["components"][0]["custom_id"]
        await bob.click(result.response, custom_id=up)

    config = tmp_path / "cli.toml"
    config.write_text("", encoding="utf-8")
    capsys.readouterr()
    assert main(["--home", str(home), "--config", str(config), "feedback", "export"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    slack_row, discord_row = sorted(rows, key=lambda row: row["platform"], reverse=True)
    assert (slack_row["platform"], discord_row["platform"]) == ("slack", "discord")
    assert list(slack_row) == list(discord_row) == list(FEEDBACK_COLUMNS)
    for row, asker, scope in ((slack_row, "U0ASKER", "slack:"), (discord_row, str(alice.id), "discord:")):
        assert row["question"] == "How do I deploy?" and row["answer"].startswith("Run make deploy")
        assert row["asker"] == asker and row["grounded"] is True and row["rating"] == 1
        assert row["channel"].startswith(scope)
    assert slack_row["citations"] == discord_row["citations"]
    assert set(slack_row["citations"][0]) == {"n", "source", "title", "url", "scope", "score", "snippet"}
