"""A follow-up that names only what changes, asked again as the question it stands for."""

from __future__ import annotations

import asyncio

import pytest

from core.answers.follow_ups import asked_again, elliptical_subject, standalone
from core.types import Question, Turn


@pytest.mark.parametrize(
    ("text", "subject"),
    [
        ("and slack?", "slack"),
        ("What about cats?", "cats"),
        ("and on Windows?", "on Windows"),
        ("how about the public ones", "the public ones"),
        # A question of its own, a bare connective or a pronoun's follow-up names no new subject.
        ("and how do I invite the bot to a second server?", None),
        ("and?", None),
        ("how do I renew it?", None),
        ("How do I connect Slack?", None),
    ],
)
def test_what_names_only_a_new_subject(text: str, subject: str | None) -> None:
    assert elliptical_subject(text) == subject


@pytest.mark.parametrize(
    ("before", "follow_up", "alone"),
    [
        ("how do I connect discord?", "and slack?", "how do I connect slack?"),
        # "discord" is closer in meaning to "connect" than to "slack": a thing never stands in for the action.
        ("how do I connect slack?", "and discord?", "how do I connect discord?"),
        # An action does, with its particle: "update" for "back up".
        ("how do I stop tidings?", "and restart it?", "how do I restart tidings?"),
        ("how do I back up tidings?", "and update it?", "how do I update tidings?"),
        ("can pets spread covid?", "what about cats?", "can cats spread covid?"),
        ("how do I install it on linux?", "and on windows?", "how do I install it on windows?"),
        ("who can see private channel answers?", "what about public ones?", "who can see public channel answers?"),
        # A subject sharing a word with the question before replaces what modifies it there: "HTTP"
        # is closer in meaning to "URL" than to "socket", but it is the mode that changes.
        ("does socket mode need a public URL?", "and HTTP mode?", "does HTTP mode need a public URL?"),
        ("Can Tidings ingest a Slack export?", "and discord exports", "Can Tidings ingest a discord export?"),
        ("how do I set up a daily digest?", "and a weekly digest?", "how do I set up a weekly digest?"),
        # Only the word right before the shared one modifies it: "change" is no kind of log, so the
        # closest word in meaning stands in.
        ("how do I change the log level?", "and json logs?", "how do I change the json logs level?"),
        # A preposition is no subject: "under" is not replaced by "under docker".
        ("where do I find the logs under systemd?", "or under docker?", "where do I find the logs under systemd? under docker"),
        # No word of the question before is clearly the one the subject stands in for: both are searched.
        ("how do I schedule a digest?", "and on discord?", "how do I schedule a digest? on discord"),
    ],
)
def test_a_subject_stands_in_for_the_word_closest_in_meaning(embedder, before: str, follow_up: str, alone: str) -> None:  # type: ignore[no-untyped-def]
    subject = elliptical_subject(follow_up)
    assert subject is not None and asked_again(before, subject, embedder) == alone


def test_follow_ups_are_read_one_after_another(embedder) -> None:  # type: ignore[no-untyped-def]
    asked = ["how do I connect discord?", "and slack?", "and on windows?"]
    assert standalone(asked[:2], embedder) == "how do I connect slack?"
    # A new question starts again from itself.
    assert standalone([*asked[:2], "where are the logs?"], embedder) == "where are the logs?"


def test_an_answer_to_and_slack_is_about_what_was_asked_of_discord(services_reading) -> None:  # type: ignore[no-untyped-def]
    faq = (
        "# Common questions\n\n"
        "## How do I connect Tidings to Discord?\n\nCreate a Discord application, copy its bot token into DISCORD_TOKEN and invite it.\n\n"
        "## How do I connect Tidings to Slack?\n\nCreate a Slack app from the manifest, install it and put SLACK_BOT_TOKEN in .env.\n\n"
        "## Slack modes\n\nSlack in Socket Mode or in Slack's HTTP mode: both are Slack.\n"
    )
    services = services_reading({"faq.md": faq})
    thread = (
        Turn("ana", "how do I connect discord?"),
        Turn("Tidings", "Create a Discord application, copy its bot token into DISCORD_TOKEN and invite it. [1]", by_bot=True),
    )
    [source] = services.knowledge_base.sources()  # type: ignore[attr-defined]
    question = Question(text="and slack?", scopes=frozenset(source.scopes), conversation=thread)
    answer = asyncio.run(services.answerer.answer(question))  # type: ignore[attr-defined]
    assert answer.grounded and answer.question == "and slack?"
    assert "Create a Slack app from the manifest" in answer.text.split("\n")[0], answer.text
