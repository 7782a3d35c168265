"""The Discord bot answering with the real packaged model and the real answerer, over
simcord's in-memory Discord. Kept to a few questions: the model writes about 100 tokens a
second on the two shared cores."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import simcord

from bots.discord_bot import build_bot
from core.answers.answering import Answerer
from core.errors import GENERIC_APOLOGY, KnowledgeBaseError
from core.knowledge.ingesting import ingest
from core.services import Services

pytestmark = pytest.mark.slow

# simcord waits this long for the bot to finish reacting: it must cover a model answer.
SETTLE_S = 240.0

HANDBOOK = """# Backups

The Komodo node backs up its wallet every night at 02:00 UTC. Backups are kept for thirty days
in the folder /var/lib/komodo/backups. To restore one, stop the node, copy the backup file over
wallet.dat, and start the node again.
"""


class BrokenKnowledgeBase:
    def search(self, *args: Any, **kwargs: Any) -> list[Any]:
        raise KnowledgeBaseError("the LanceDB table could not be opened")

    def sources(self, scopes: Any = None) -> list[Any]:
        raise KnowledgeBaseError("the LanceDB table could not be opened")


@pytest.fixture
def services(make_services: Callable[..., Services], tmp_path: Path) -> Services:
    services = make_services()
    handbook = tmp_path / "docs" / "backups.md"
    handbook.parent.mkdir()
    handbook.write_text(HANDBOOK, encoding="utf-8")
    assert services.embedder is not None
    ingest([handbook], knowledge_base=services.knowledge_base, embedder=services.embedder)
    return services


def bot_for(services: Services, tmp_path: Path) -> Any:
    config = tmp_path / "tidings.toml"
    config.write_text("", encoding="utf-8")
    return build_bot(str(config), services=services, environ={"TIDINGS_HOME": str(tmp_path)})


async def test_ask_is_deferred_then_answered_with_quotes_of_its_source(services: Services, tmp_path: Path) -> None:
    bot = bot_for(services, tmp_path)
    async with simcord.run(bot, settle_timeout=SETTLE_S) as env:
        guild = env.create_guild()
        support = guild.create_text_channel("support")
        alice = guild.add_member(env.create_user("alice"))

        result = await alice.slash(support, "ask", question="Where are the wallet backups kept?")

        kinds = [e.json["type"] for e in env.http_requests if e.path.endswith("/callback") and isinstance(e.json, dict)]
        assert kinds == [5]  # deferred before the model was asked
        response = result.response
        assert response is not None and response.content.startswith("> ")
        assert "/var/lib/komodo/backups" in response.content and "[1]" in response.content
        # The sources embed shows the source with the very passage quoted from it.
        [embed] = response.embeds
        assert embed.title == "Sources"
        [field] = embed.fields
        assert "Backups" in (field.name or "") and "/var/lib/komodo/backups" in (field.value or "")
        flat = " ".join(HANDBOOK.split())
        quoted = [line[2:].removesuffix(" [1]") for line in response.content.splitlines()]
        assert all(q in flat for q in quoted), "every quote is the source's own words"
        assert [b["emoji"]["name"] for b in response.components[0]["components"]] == ["👍", "👎"]


async def test_the_real_answerer_failing_on_the_knowledge_base_tells_the_user_politely(
    services: Services, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    answerer = Answerer.from_settings(
        services.settings,
        knowledge_base=BrokenKnowledgeBase(),
        model=services.model,  # type: ignore[arg-type]
        worker=services.worker,
    )
    bot = bot_for(dataclasses.replace(services, answerer=answerer), tmp_path)
    async with simcord.run(bot, settle_timeout=SETTLE_S) as env:
        guild = env.create_guild()
        support = guild.create_text_channel("support")
        alice = guild.add_member(env.create_user("alice"))
        with caplog.at_level(logging.ERROR, logger="tidings.discord"):
            result = await alice.slash(support, "ask", question="Where are the backups?")
        assert [type(e).__name__ for e in env.errors] == ["CommandInvokeError"]
        # "thinking..." is edited to the apology (idempotent, unlike a follow-up): one message.
        assert result.followups == [] and result.response is not None
        assert result.response.content == GENERIC_APOLOGY and not result.response.embeds
        assert "could not be opened" in caplog.text and "Traceback" in caplog.text
