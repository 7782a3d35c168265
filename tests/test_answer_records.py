"""Questions in flight, remembered answers and feedback, kept once for every platform
(core.answers.records), on a real SQLite state file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.answers.records import (
    FEEDBACK_THANKS,
    RESTARTED,
    RESTARTED_COMMAND,
    AnswerRecords,
    PendingQuestion,
    answer_from_record,
    restart_note,
    unfinished_on,
)
from core.runtime.migrations import head_revision
from core.runtime.state import FEEDBACK_COLUMNS, StateStore
from core.types import Answer, ChannelRef, Citation

SLACK = ChannelRef("slack", "T0ACME", "C0GENERAL", "general", thread="1700000000.000100")
DISCORD = ChannelRef("discord", "111", "222", "support")
ANSWER = Answer(
    question="How do I deploy?",
    text="Run make deploy after two approvals [1].",
    grounded=True,
    citations=(
        Citation(n=1, source="handbook.md", title="Deploy handbook", snippet="run make deploy", score=0.8123456,
                 url="https://wiki.example/deploy", scope="slack:T0ACME:C0GENERAL"),
    ),
)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateStore]:
    store = StateStore(tmp_path / "state.sqlite3")
    yield store
    store.close()


async def test_questions_in_flight_are_listed_after_a_restart_until_finished(state: StateStore) -> None:
    records = AnswerRecords(state=state)
    slack = PendingQuestion(platform="slack", channel="C0GENERAL", thread="1.5", message="1.6", asker="U0ASKER")
    discord = PendingQuestion(platform="discord", channel="333", message=None, asker="42", asker_name="alice")
    await records.question_started("slack:message:C0GENERAL:1.6", slack)
    await records.question_started("discord-9", discord)
    await records.question_started("discord-10", discord)
    await records.question_finished("discord-10")

    entries = state.take_unfinished_questions()  # what the runner hands each platform after a restart
    assert unfinished_on("slack", entries) == [PendingQuestion(**{**slack.payload(), "key": "slack:message:C0GENERAL:1.6"})]
    assert [q.key for q in unfinished_on("discord", entries)] == ["discord-9"]
    assert unfinished_on("discord", entries)[0].asker_name == "alice"
    assert state.take_unfinished_questions() == []


def test_entries_written_before_the_shared_record_are_still_read() -> None:
    old_slack = {"key": "k", "platform": "slack", "channel": "C1", "thread_ts": "1.2", "user": "U1"}
    [question] = unfinished_on("slack", [old_slack, {"platform": "slack"}, {"platform": "discord", "channel": "9"}])
    assert (question.channel, question.thread, question.asker, question.key) == ("C1", "1.2", "U1", "k")


def test_the_restart_note_goes_under_the_question_or_names_the_asker() -> None:
    assert restart_note(PendingQuestion("slack", "C1", thread="1.2", message="1.3")) == RESTARTED
    assert restart_note(PendingQuestion("discord", "9", message="10")) == RESTARTED
    assert restart_note(PendingQuestion("discord", "9", asker_name="alice")) == f"{RESTARTED_COMMAND} (asked by alice)."
    assert restart_note(PendingQuestion("discord", "9")).endswith("(asked by someone).")


async def test_a_remembered_answer_comes_back_whole(state: StateStore) -> None:
    records = AnswerRecords(state=state)
    await records.remember("a1", ANSWER, platform="slack", channel=SLACK, asker="U0ASKER")
    recalled = await records.recall("a1")
    assert recalled is not None
    assert (recalled.question, recalled.text, recalled.grounded) == (ANSWER.question, ANSWER.text, True)
    [citation] = recalled.citations
    assert citation == Citation(n=1, source="handbook.md", title="Deploy handbook", snippet="run make deploy",
                                score=0.8123, url="https://wiki.example/deploy", scope="slack:T0ACME:C0GENERAL")
    assert await records.recall("never") is None
    assert answer_from_record({"answer": "x", "citations": [{"source": "s"}]}).citations[0].n == 1


async def test_feedback_rows_have_the_same_fields_whatever_the_platform(state: StateStore) -> None:
    records = AnswerRecords(state=state)
    await records.remember("slack-answer", ANSWER, platform="slack", channel=SLACK, asker="U0ASKER")
    await records.remember("discord-1", ANSWER, platform="discord", channel=DISCORD, asker="42")
    thanks_up = await records.record_feedback(answer_id="slack-answer", platform="slack", user="U0READER", rating=1,
                                               clicked_in="slack:T0ACME:C0ELSEWHERE")
    thanks_down = await records.record_feedback(answer_id="discord-1", platform="discord", user="43", rating=-1)
    # An answer no longer remembered still gets its vote, under the channel it was clicked in.
    await records.record_feedback(answer_id="gone", platform="discord", user="44", rating=1, clicked_in="discord:111:555")
    assert (thanks_up, thanks_down) == (FEEDBACK_THANKS[1], FEEDBACK_THANKS[-1])

    slack_row, discord_row, gone_row = state.feedback()
    assert tuple(slack_row) == tuple(discord_row) == tuple(gone_row) == FEEDBACK_COLUMNS
    assert {"asker", "grounded", "citations", "channel", "question", "answer"} <= set(FEEDBACK_COLUMNS)
    assert (slack_row["channel"], slack_row["asker"], slack_row["grounded"]) == ("slack:T0ACME:C0GENERAL", "U0ASKER", True)
    assert (discord_row["channel"], discord_row["asker"], discord_row["rating"]) == ("discord:111:222", "42", -1)
    assert slack_row["citations"] == discord_row["citations"]
    assert set(slack_row["citations"][0]) == {"n", "source", "title", "url", "scope", "score", "snippet"}
    assert (gone_row["channel"], gone_row["question"], gone_row["asker"], gone_row["grounded"]) == ("discord:111:555", "", "", None)


def test_a_state_file_from_before_the_shared_feedback_record_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        """CREATE TABLE feedback (
            id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, platform TEXT NOT NULL,
            channel TEXT NOT NULL, user TEXT NOT NULL, rating INTEGER NOT NULL, question TEXT NOT NULL,
            answer TEXT NOT NULL, citations TEXT NOT NULL, answer_id TEXT NOT NULL DEFAULT '', UNIQUE (answer_id, user));
        INSERT INTO feedback (created_at, platform, channel, user, rating, question, answer, citations, answer_id)
            VALUES ('2025-01-01T00:00:00+00:00', 'slack', 'slack:T:C', 'U1', 1, 'q?', 'a.', '[]', 'a1');"""
    )
    old.commit()
    old.close()

    for _ in range(2):  # a second opening finds nothing left to migrate
        state = StateStore(path)
        [row] = state.feedback()
        state.close()
        assert tuple(row) == FEEDBACK_COLUMNS
        assert (row["question"], row["asker"], row["grounded"]) == ("q?", "", None)
    state = StateStore(path)
    assert state.schema_revision() == head_revision(), "adopted by Alembic and migrated to head"
    state.close()
