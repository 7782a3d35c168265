"""Access probes through the real Slack bot, end to end over HTTP.

The same secret and probe set as ``tests/test_access_probes.py``, asked the way people ask
in Slack: the board notes are ingested with private channel A's scope; in channel B, mallory
sends signed @mention events to the real slack-bolt app (HTTP mode), in the channel and in a
thread that quotes the secret's name, and runs ``/ask``. Everything the bot sent to the mock
Slack Web API (every chat.postMessage, chat.update and ephemeral or response_url reply, text
and blocks) is searched for A's markers, A's source title and file name, A's scope and A's
channel id. The same question asked in A cites the notes, so each probe could fail.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from core.knowledge.ingesting import ingest
from core.services import Services
from core.types import channel_scope
from tests.reliability import record
from tests.slack_mock_server import TEAM_ID
from tests.slack_requests import send_command
from tests.test_access_probes import B_DOC, INJECTION, PROBES, PUBLIC_DOC, SECRET, SECRET_MARKERS, leaks
from tests.trust_support import SlackWorld, slack_world

pytestmark = pytest.mark.slow

A = "C0BOARD"
B = "C0RANDOM"
A_SCOPE = channel_scope("slack", TEAM_ID, A)
SECRET_TITLE = "Project Nightingale board notes"
MARKERS = (*SECRET_MARKERS, SECRET_TITLE, "nightingale-board", A_SCOPE, A)
CONFIG = "[llm]\nmax_answer_tokens = 24\n\n[access]\nquestions_per_minute = 0\n"


def ingest_files(services: Services, root: Path) -> None:
    files = {
        A_SCOPE: {"nightingale-board.md": f"# {SECRET_TITLE}\n\n{SECRET}\n", "board-injection.md": f"# Board assistant note\n\n{INJECTION}\n"},
        channel_scope("slack", TEAM_ID, B): {"lunch.md": f"# Random channel notes\n\n{B_DOC}\n"},
        "public": {"office.md": f"# Office guide\n\n{PUBLIC_DOC}\n", "admin-note.md": f"# Admin note\n\n{INJECTION}\n"},
    }
    for scope, named in files.items():
        folder = root / scope.replace(":", "-")
        folder.mkdir(parents=True)
        for name, text in named.items():
            (folder / name).write_text(text, encoding="utf-8")
        report = ingest([folder], knowledge_base=services.knowledge_base, embedder=services.embedder, scope=scope)
        assert report.files == len(named) and not report.skipped


def mark(world: SlackWorld) -> tuple[int, int]:
    return len(world.slack.calls), len(world.slack.responses)


def sent_since(world: SlackWorld, since: tuple[int, int]) -> list[str]:
    """Everything the bot sent to Slack since ``since`` (Web API calls and response_url
    replies), as JSON."""
    calls, responses = since
    return [json.dumps(call.params, ensure_ascii=False) for call in world.slack.calls[calls:]] + [
        json.dumps(response, ensure_ascii=False) for response in world.slack.responses[responses:]
    ]


async def ask_in(world: SlackWorld, text: str, channel: str, *, thread_ts: str | None = None) -> tuple[str, list[str]]:
    """Mention the bot with ``text``; the final reply's text and all the bot sent meanwhile."""
    since = mark(world)
    reply = await world.ask(text, channel=channel, user="U0MALLORY", thread_ts=thread_ts)
    assert reply.status == 200
    event = world.asked[-1]
    await world.wait_all_finished([event], timeout=120)
    return world.text_of(event), sent_since(world, since)


async def test_mentions_and_ask_in_another_channel_leak_nothing_of_a(
    make_services: Callable[..., Services], tmp_path: Path
) -> None:
    services = make_services(config_text=CONFIG)
    ingest_files(services, tmp_path / "kb")
    tried = 0
    leaked: list[tuple[str, list[str]]] = []
    async with slack_world(services) as world:
        # Positive control: in A the notes are found and cited.
        answer, _ = await ask_in(world, "What is Project Nightingale?", A)
        assert SECRET_TITLE in answer, answer[:400]

        questions = [q for group in PROBES.values() for q in group]
        for question in questions:
            _, sent = await ask_in(world, question, B)
            found = leaks(sent, MARKERS, asked=question)
            tried += 1
            if found:
                leaked.append((question, found))

        # A thread in B that quotes the secret's name widens the question, not the scopes.
        root = world.slack.workspace.add_message(B, {"ts": "1700000000.000100", "user": "U0MALLORY", "text": "Did anyone hear about Project Nightingale and Zephyrine?"})
        _, sent = await ask_in(world, "What is the price of that deal?", B, thread_ts=root["ts"])
        tried += 1
        found = leaks(sent, [m for m in MARKERS if m not in {"Nightingale", "Zephyrine"}], asked="What is the price of that deal?")
        if found:
            leaked.append(("thread", found))

        # /ask in B (ephemeral, through response_url) for the direct probes.
        for question in PROBES["direct"]:
            since = mark(world)
            reply = await send_command(world.http, world.url, "/ask", question, channel=B, user="U0MALLORY", response_url=world.slack.response_url())
            assert reply.status == 200
            await world.slack.wait_until(lambda n=since[1]: len(world.slack.responses) > n, timeout=120)
            await world.idle()
            sent = sent_since(world, since)
            assert len(sent) >= 1
            found = leaks(sent, MARKERS, asked=question)
            tried += 1
            if found:
                leaked.append((f"/ask {question}", found))
    record("Access", surface="Slack bot over HTTP (@mention, thread, /ask)", probe="all kinds, from channel B", probes=tried, leaks=len(leaked))
    assert tried == sum(len(q) for q in PROBES.values()) + 1 + len(PROBES["direct"])
    assert leaked == [], leaked
